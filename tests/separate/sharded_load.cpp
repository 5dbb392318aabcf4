// Sharded checkpoints, the loader and the conversions in the separate-compilation mode (see
// main.cpp): the whole header with SAFETENSORS_HEADER_ONLY=0, without nlohmann/json.hpp.
#include <cstring>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#if SAFETENSORS_HEADER_ONLY || SAFETENSORS_DEFINITIONS
#error "tests/separate/sharded_load.cpp is compiled with SAFETENSORS_HEADER_ONLY=0"
#endif
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "the declarations include nlohmann/json.hpp"
#endif

namespace st = safetensors;

// "" on success, else what failed.
std::string separate_sharded_and_load(const std::string& dir) {
  const std::vector<float> a = {1, 2, 3, 4};
  const std::vector<float> b = {0.5f, -2};
  // The files' little-endian bytes, on any host.
  std::vector<std::byte> a_le(16);
  std::vector<std::byte> b_le(8);
  if (!st::encode_from_float(a, st::dtype::F32, a_le) ||
      !st::encode_from_float(b, st::dtype::F32, b_le)) {
    return "encode_from_float to F32";
  }
  std::vector<st::tensor_spec> specs(2);
  specs[0].name = "a";
  specs[0].dtype = st::dtype::F32;
  specs[0].shape = {2, 2};
  specs[0].bytes = a_le;
  specs[1].name = "b";
  specs[1].dtype = st::dtype::F32;
  specs[1].shape = {2};
  specs[1].bytes = b_le;

  // save_sharded: two shards (16 bytes at most each) and the index.
  st::sharded_write_options o;
  o.max_shard_size = 16;
  o.write.sync = false;
  const std::string root = dir + "/separate_sharded";
  auto layout = st::save_sharded(root, specs, o);
  if (!layout) return "save_sharded: " + layout.error().to_string();
  if (layout->shard_count() != 2 || !layout->sharded()) return "the layout";

  // checkpoint: lazily opened shards, verify, views.
  auto ckpt = st::checkpoint::open(root);
  if (!ckpt) return "checkpoint::open: " + ckpt.error().to_string();
  if (ckpt->size() != 2 || ckpt->index().total_size() != std::optional<std::uint64_t>(24)) {
    return "the checkpoint's index";
  }
  if (!ckpt->verify().ok()) return "verify";
  auto view = ckpt->tensor("a");
  if (!view) return "checkpoint::tensor: " + view.error().to_string();
  auto floats = st::to_float(*view);
  if (!floats || *floats != a) return "to_float of a";

  // load: into the caller's buffer, converted to F16 while loading; then decoded back.
  std::vector<std::byte> f16(4 * 2);
  const std::vector<st::load_request> requests = {
      {"a", st::span<std::byte>(f16), {}, st::dtype::F16}};
  auto report = st::load(*ckpt, requests);
  if (!report) return "load: " + report.error().to_string();
  std::vector<float> back(4);
  if (!st::decode_to_float(st::dtype::F16, f16, back) || back != a) return "load to F16";
  std::vector<std::byte> encoded(8);
  if (!st::encode_from_float(a, st::dtype::F16, encoded) || encoded != f16) {
    return "encode_from_float";
  }

  // load_tensors: memory the library allocates.
  auto all = st::load_tensors(*ckpt);
  if (!all) return "load_tensors: " + all.error().to_string();
  const st::loaded_tensor* lb = all->find("b");
  if (lb == nullptr) return "load_tensors: no b";
  auto bs = st::to_float(lb->view());
  if (!bs || *bs != b) return "load_tensors: b";

  // sharded_stream_writer, then merge_checkpoint into one file.
  const std::string streamed = dir + "/separate_sharded_stream";
  auto w = st::sharded_stream_writer::create(streamed, specs, o);
  if (!w) return "sharded_stream_writer::create: " + w.error().to_string();
  if (!w->write("a", a_le) || !w->write("b", b_le) || !w->commit()) {
    return "sharded_stream_writer";
  }
  const std::string merged = dir + "/separate_merged.safetensors";
  if (!st::merge_checkpoint(*ckpt, merged)) return "merge_checkpoint";
  auto single = st::mapped_file::open(merged);
  if (!single || single->size() != 2) return "the merged file";
  return "";
}
