// The consumer program every integration test builds: open a file, list its tensors.
#include <iostream>
#include <safetensors/safetensors.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: list_tensors FILE\n";
    return 2;
  }
  auto model = safetensors::mapped_file::open(argv[1]);
  if (!model) {
    std::cerr << model.error().to_string() << "\n";
    return 1;
  }
  for (const safetensors::tensor_info t : model->tensors()) {
    std::cout << t.name() << " " << safetensors::to_string(t.dtype()) << " " << t.byte_size()
              << "\n";
  }
  return 0;
}
