// LibTorch (docs/torch.md): prints every tensor of a file or checkpoint as LibTorch loads it,
// one line each in name order: `name dtype shape sum` (the sum of all elements as a double; of
// the real parts for complex tensors). With `--save OUT`, writes the state dict of a small demo
// module (a Linear and a BatchNorm1d, fixed values) to OUT instead.
#include <torch/torch.h>

#include <iostream>
#include <safetensors/torch.hpp>
#include <string>

namespace st = safetensors;

namespace {

int save_demo(const std::string& out) {
  torch::nn::Sequential demo(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3));
  {
    torch::NoGradGuard no_grad;
    auto* linear = demo[0]->as<torch::nn::Linear>();
    linear->weight.copy_(torch::arange(12, torch::kFloat).reshape({3, 4}) / 4);
    linear->bias.copy_(torch::tensor({1.0f, 2.0f, 3.0f}));
    auto* norm = demo[1]->as<torch::nn::BatchNorm1d>();
    norm->running_mean.fill_(0.5);
    norm->num_batches_tracked.fill_(7);
  }
  if (auto r = st::libtorch::save_state_dict(demo, out); !r) {
    std::cerr << r.error() << "\n";
    return 1;
  }
  std::cout << "wrote " << out << " (" << st::libtorch::state_dict(*demo).size() << " tensors)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--save") return save_demo(argv[2]);
  if (argc != 2) {
    std::cerr << "usage: safetensors-libtorch-state-dict FILE | --save OUT\n";
    return 2;
  }
  auto tensors = st::libtorch::load(std::string(argv[1]));  // zero-copy where it can
  if (!tensors) {
    std::cerr << tensors.error() << "\n";
    return 1;
  }
  for (const auto& [name, t] : *tensors) {  // a std::map: in name order
    const at::Tensor values = t.is_complex() ? at::real(t) : t;
    std::cout << name << " " << *st::libtorch::to_dtype(t.scalar_type()) << " [";
    for (std::int64_t d = 0; d < t.dim(); ++d) std::cout << (d ? "," : "") << t.size(d);
    std::cout << "] " << values.sum(at::kDouble).item<double>() << "\n";
  }
  return 0;
}
