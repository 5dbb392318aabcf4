#include <iostream>
#include <safetensors/safetensors.hpp>
#include <string>

std::string dtype_name_a(safetensors::dtype d);

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = safetensors::mapped_file::open(argv[1]);
  if (!model) {
    std::cerr << model.error().to_string() << "\n";
    return 1;
  }
  for (const safetensors::tensor_info t : model->tensors()) {
    // Both translation units' copies of the inline functions agree.
    if (dtype_name_a(t.dtype()) != safetensors::to_string(t.dtype())) return 1;
    std::cout << t.name() << " " << dtype_name_a(t.dtype()) << "\n";
  }
  return 0;
}
