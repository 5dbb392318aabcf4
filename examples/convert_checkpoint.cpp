// Converting a checkpoint's F32 tensors to BF16 (or another float dtype) in a stream: the input (a
// file, a model directory or an index) is read with load() in pieces of at most 16 MiB, each
// converted while it is read, and written by a stream_writer, so memory holds one piece whatever
// the model's size. The other tensors are copied; the metadata is kept. The output appears,
// atomically, only when everything is written. (safetensors-cli convert does the same with more
// options: docs/cli.md#convert.)
//
//   safetensors-convert-checkpoint IN OUT [DTYPE]    DTYPE: BF16 (default), F16, F8_E4M3, ...
//
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include "convert_checkpoint.hpp"

#include <iostream>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  namespace st = safetensors;
  namespace ex = safetensors_examples;
  const auto to = st::dtype_from_string(argc == 4 ? argv[3] : "BF16");
  if ((argc != 3 && argc != 4) || !to) {
    std::cerr << "usage: safetensors-convert-checkpoint IN OUT [DTYPE]\n";
    return 2;
  }
  st::checkpoint_options read;
  read.access = st::shard_access::reader;  // pread: memory does not grow with what is read
  auto in = st::checkpoint::open(argv[1], read);
  if (!in) return fail(in.error());

  // 1. What to write: every tensor under its own name, F32 ones as `to`.
  std::vector<ex::converted_tensor> tensors;
  for (const auto& entry : in->entries()) {
    auto info = in->at(entry.name);
    if (!info) return fail(info.error());
    tensors.push_back(
        {entry.name, entry.name, info->dtype() == st::dtype::F32 ? *to : info->dtype()});
  }
  auto specs = ex::declare(*in, tensors);  // InvalidArgument if `to` is not a float dtype
  if (!specs) return fail(specs.error());
  auto metadata = in->merged_metadata();  // the shards' __metadata__
  if (!metadata) return fail(metadata.error());

  // 2. The writer fixes the header from the specs, then takes each tensor's bytes in order.
  auto writer = st::stream_writer::create(argv[2], *specs, *metadata);
  if (!writer) return fail(writer.error());
  std::vector<std::size_t> all(tensors.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto report = ex::write_tensors(*in, tensors, {all}, *writer);
  if (!report) return fail(report.error());

  // 3. Flush, sync, rename: the file appears.
  if (auto r = writer->commit(); !r) return fail(r.error());
  std::cout << "converted " << tensors.size() << " tensors to " << argv[2] << ": "
            << report->bytes_read << " -> " << report->bytes_written << " tensor bytes in "
            << report->loads << (report->loads == 1 ? " load\n" : " loads\n");
  return 0;
}
