// Saving and loading a sharded checkpoint, as the Hugging Face Hub stores large models: shard
// files of at most max_shard_size tensor bytes each, plus model.safetensors.index.json, which
// maps every tensor to its shard. checkpoint::open reads the whole set as one model.
//
//   safetensors-sharded-checkpoint DIR    writes DIR/model-0000{1,2,3}-of-00003.safetensors + index
//
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include <iostream>
#include <numeric>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: safetensors-sharded-checkpoint DIR\n";
    return 2;
  }
  std::vector<float> embed(64 * 32), layer0(32 * 32), layer1(32 * 32), head(64 * 32);
  for (auto* v : {&embed, &layer0, &layer1, &head}) std::iota(v->begin(), v->end(), 0.0f);
  const auto F32 = safetensors::dtype::F32;
  const std::vector<safetensors::tensor_spec> tensors{
      {"embed.weight", F32, {64, 32}, safetensors::as_bytes(embed), {}},      // 8 KiB
      {"layers.0.weight", F32, {32, 32}, safetensors::as_bytes(layer0), {}},  // 4 KiB
      {"layers.1.weight", F32, {32, 32}, safetensors::as_bytes(layer1), {}},  // 4 KiB
      {"lm_head.weight", F32, {64, 32}, safetensors::as_bytes(head), {}}};    // 8 KiB
  safetensors::sharded_write_options options;
  options.max_shard_size = 8 * 1024;  // tiny, to get several shards (the default is 5 GB)
  // Creates DIR if needed, writes the shards, then the index; removes shards of an older save.
  auto layout = safetensors::save_sharded(argv[1], tensors, options);
  if (!layout) return fail(layout.error());
  for (const std::string& shard : layout->shards()) std::cout << "wrote " << shard << "\n";

  // Open the directory (it finds the index), check every shard against it, read a tensor.
  auto model = safetensors::checkpoint::open(argv[1]);
  if (!model) return fail(model.error());
  const safetensors::verify_report report = model->verify();
  for (const safetensors::error& problem : report.problems) std::cerr << problem << "\n";
  if (!report.ok()) return 1;
  std::cout << "verified " << report.tensor_count << " tensors in " << model->shard_count()
            << " shards\n";
  auto w = model->tensor("layers.1.weight");  // opens only the shard that holds it
  if (!w) return fail(w.error());
  auto values = w->as<float>();
  if (!values) return fail(values.error());
  std::cout << w->name() << " from " << model->shard_name(*model->shard_of(w->name()))
            << ": element 33 is " << (*values)[33] << "\n";
  return 0;
}
