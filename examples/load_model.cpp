// Loading a whole model in one call: load_tensors() reads every tensor of a file or a sharded
// checkpoint into memory it allocates, on worker threads, converting to float as it reads.
// That memory is never zero-filled, and each page is first touched by the thread that reads
// into it: faster than filling buffers you allocated yourself. Copies are read with pread even
// from a mapped file or checkpoint. See docs/loading.md#the-one-call-load.
//
//   safetensors-load-model PATH     a .safetensors file, an index (*.json) or a model directory
//
// e.g. on the model that `safetensors-cli demo DIR` writes. Prints each tensor as floats. Exits 0
// on success, 1 on an error (printed), 2 on a usage error.
#include <algorithm>
#include <cstddef>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

namespace st = safetensors;

static int fail(const st::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: safetensors-load-model PATH\n";
    return 2;
  }
  auto model = st::checkpoint::open(argv[1]);  // one file, an index or a directory
  if (!model) return fail(model.error());

  // One request per tensor: floats, whatever the file holds (C64 as it is).
  std::vector<st::load_request> requests;
  for (const st::index_entry& e : model->entries()) {
    auto info = model->at(e.name);  // opens the tensor's shard
    if (!info) return fail(info.error());
    st::load_request r;
    r.name = e.name;
    if (st::can_convert(info->dtype(), st::dtype::F32)) r.to = st::dtype::F32;
    requests.push_back(std::move(r));
  }
  auto weights = st::load_tensors(*model, requests);  // result<loaded_tensors>
  if (!weights) return fail(weights.error());

  for (const st::loaded_tensor& t : *weights) {  // in request order; find(name) looks one up
    std::cout << t.name() << ": " << t.dtype() << " [";
    for (std::size_t d = 0; d < t.shape().size(); ++d) std::cout << (d ? ", " : "") << t.shape()[d];
    std::cout << "]";
    if (auto values = t.as<float>()) {  // in place: the buffer is aligned for float
      const std::size_t shown = std::min<std::size_t>(values->size(), 6);
      for (std::size_t i = 0; i < shown; ++i) std::cout << " " << (*values)[i];
    }
    std::cout << "\n";
  }
  const st::load_report& report = weights->report();
  std::cout << "loaded " << report.tensors << " tensors: " << report.bytes_read << " bytes read, "
            << report.bytes_written << " bytes delivered\n";
  return 0;
}
