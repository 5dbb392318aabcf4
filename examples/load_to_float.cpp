// Loading a BF16 checkpoint into float buffers in one pass: load() reads every tensor on worker
// threads and converts BF16 to float while reading (load_request::to), with a progress callback
// that could also cancel. The same call takes a single file or a mapped file, and any dtype that
// can_convert() to F32 (F16, the 8-bit floats, integers...).
//
//   safetensors-load-to-float DIR    writes a BF16 checkpoint in two shards into DIR, then loads it
//
// To load your own model, call load_as_float() below on its directory, its index or its file.
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <map>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

/// Every tensor of the checkpoint at `path` that converts to float, as std::vector<float>.
static safetensors::result<std::map<std::string, std::vector<float>>> load_as_float(
    const std::filesystem::path& path) {
  namespace st = safetensors;
  auto model = st::checkpoint::open(path);  // a directory, an index or one file
  if (!model) return model.error();
  std::map<std::string, std::vector<float>> out;
  std::vector<st::load_request> requests;
  for (const auto& entry : model->entries()) {
    auto info = model->at(entry.name);
    if (!info) return info.error();
    if (!st::can_convert(info->dtype(), st::dtype::F32)) continue;  // C64
    std::vector<float>& buffer = out[entry.name];
    buffer.resize(static_cast<std::size_t>(info->element_count()));
    st::load_request r;
    r.name = entry.name;
    r.dst = st::as_writable_bytes(buffer);  // load_size(): element_count() floats
    r.to = st::dtype::F32;                  // converted while reading
    requests.push_back(std::move(r));
  }
  st::load_options options;
  options.chunk_bytes = 4 * 1024;  // small, so that this small model shows some progress
  int shown = 0;
  options.progress = [&shown](const st::load_progress& p) {  // never two calls at once
    const auto percent = static_cast<int>(p.bytes_done * 100 / p.bytes_total);
    for (; shown + 25 <= percent; shown += 25) std::cout << "loaded " << shown + 25 << "%\n";
    return true;  // false would cancel the load (errc::cancelled)
  };
  auto report = st::load(*model, requests, options);
  if (!report) return report.error();  // "load: tensor 'x': ..." names the tensor
  std::cout << "loaded " << report->tensors << " tensors: " << report->bytes_read << " bytes read, "
            << report->bytes_written << " bytes of float written, " << report->chunks
            << " chunks\n";
  return out;
}

int main(int argc, char** argv) {
  namespace st = safetensors;
  if (argc != 2) {
    std::cerr << "usage: safetensors-load-to-float DIR\n";
    return 2;
  }
  // A BF16 checkpoint: four 64 x 128 weights, value i / 1000 at element i, rounded to BF16.
  std::vector<std::vector<std::byte>> data;
  std::vector<st::tensor_spec> tensors;
  for (int layer = 0; layer < 4; ++layer) {
    std::vector<float> values(64 * 128);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) / 1000.0f;
    data.emplace_back(values.size() * 2);
    if (auto r = st::encode_from_float(values, st::dtype::BF16, data.back()); !r) {
      return fail(r.error());
    }
    tensors.push_back({"layers." + std::to_string(layer) + ".weight",
                       st::dtype::BF16,
                       {64, 128},
                       data.back(),
                       {}});
  }
  st::sharded_write_options options;
  options.max_shard_size = 2 * 64 * 128 * 2;  // two weights per shard
  auto layout = st::save_sharded(argv[1], tensors, options);
  if (!layout) return fail(layout.error());
  std::cout << "wrote " << layout->shard_count() << " shards of BF16\n";

  auto floats = load_as_float(argv[1]);
  if (!floats) return fail(floats.error());
  const std::vector<float>& w = floats->at("layers.3.weight");
  // 0.1 is not a BF16 value: element 100 reads as the BF16 value nearest to it.
  std::cout << "layers.3.weight[100] = " << w[100] << " (0.1 in BF16), [8191] = " << w[8191]
            << "\n";
  return std::fabs(w[100] - 0.1f) < 1e-3f ? 0 : 1;
}
