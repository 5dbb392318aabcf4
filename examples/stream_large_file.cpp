// Streaming a file larger than memory: declare the tensors (name, dtype, shape) first, which
// fixes the header, then send each tensor's bytes in chunks as you produce them, then commit().
// Memory stays at one chunk plus the writer's buffer, whatever the file's size. The file appears
// only when commit() succeeds; a writer destroyed before that leaves nothing behind.
//
//   safetensors-stream-large-file DIR [MIB]     writes DIR/large.safetensors, MIB MiB (64)
//
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  const long mib = argc == 3 ? std::strtol(argv[2], nullptr, 10) : 64;
  if ((argc != 2 && argc != 3) || mib <= 0) {
    std::cerr << "usage: safetensors-stream-large-file DIR [MIB]\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);  // a failure shows as create()'s IoError
  const auto path = std::filesystem::path(argv[1]) / "large.safetensors";
  const std::uint64_t cols = 1024, rows = static_cast<std::uint64_t>(mib) * 256;  // 4 KiB rows
  auto writer = safetensors::stream_writer::create(
      path, {{"embedding", safetensors::dtype::F32, {rows, cols}, {}, {}}});  // no bytes yet
  if (!writer) return fail(writer.error());

  // The generator: element i is i % 4096, computed one 1 MiB chunk at a time.
  std::vector<float> chunk(256 * cols);
  for (std::uint64_t i = 0; i < rows * cols; i += chunk.size()) {
    for (std::size_t k = 0; k < chunk.size(); ++k) chunk[k] = static_cast<float>((i + k) % 4096);
    if (auto r = writer->write("embedding", safetensors::as_bytes(chunk)); !r) {
      return fail(r.error());
    }
  }
  if (auto r = writer->commit(); !r) return fail(r.error());  // flush, sync, rename into place

  // Verify by reopening: the mapping pages the file in as the loop reads it.
  auto file = safetensors::mapped_file::open(path);
  if (!file) return fail(file.error());
  auto tensor = file->tensor("embedding");
  if (!tensor) return fail(tensor.error());
  auto values = tensor->as<float>();  // DtypeMismatch unless F32
  if (!values) return fail(values.error());
  for (std::size_t i = 0; i < values->size(); ++i) {
    if ((*values)[i] != static_cast<float>(i % 4096)) {
      std::cerr << "element " << i << " is " << (*values)[i] << "\n";
      return 1;
    }
  }
  std::cout << "wrote and verified " << path.string() << ": " << values->size() << " floats, "
            << file->mapping().byte_size() << " bytes\n";
  return 0;
}
