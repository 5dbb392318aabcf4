// Reading without mapping: source_reader reads only the header when it opens a file, then copies
// the tensors you ask for into buffers you own (pread; ReadFile on Windows). The way to read from
// network filesystems, and files that may change while you read them.
//
//   safetensors-read-into-buffers FILE [NAME]
//
// e.g. on the model that `safetensors-cli demo DIR` writes, whose F32 tensor
// encoder.layer.0.weight is the default NAME. Exits 0 on success, 1 on an error (printed), 2 on
// a usage error.
#include <cstddef>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::cerr << "usage: safetensors-read-into-buffers FILE [NAME]\n";
    return 2;
  }
  auto reader = safetensors::source_reader::open(argv[1]);  // reads the 8 + N header bytes
  if (!reader) return fail(reader.error());

  // Every tensor, each read into the same buffer.
  std::vector<std::byte> buffer;
  for (const safetensors::tensor_info t : reader->header().tensors()) {
    buffer.resize(static_cast<std::size_t>(t.byte_size()));
    if (auto r = reader->read_into(t, buffer); !r) return fail(r.error());
    std::cout << t.name() << ": read " << t.byte_size() << " bytes\n";
  }

  // One F32 tensor straight into a std::vector<float>. The file holds little-endian bytes; on a
  // big-endian host, decode them with decode_to_float(dtype, bytes, out) instead.
  auto info = reader->at(argc == 3 ? argv[2] : "encoder.layer.0.weight");  // or TensorNotFound
  if (!info) return fail(info.error());
  if (info->dtype() != safetensors::dtype::F32) {
    std::cerr << info->name() << " is " << info->dtype() << ", not F32\n";
    return 1;
  }
  std::vector<float> values(static_cast<std::size_t>(info->element_count()));
  if (auto r = reader->read_into(*info, safetensors::as_writable_bytes(values)); !r) {
    return fail(r.error());
  }
  std::cout << info->name() << " as float:";
  for (const float x : values) std::cout << " " << x;
  std::cout << "\n";
  return 0;
}
