// The README's first example, built and run by CTest on the CLI's demo model.
#include <iostream>
#include <safetensors/safetensors.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: safetensors-quickstart FILE\n";
    return 2;
  }
  auto model = safetensors::mapped_file::open(argv[1]);  // map + parse + validate
  if (!model) {
    std::cerr << model.error().to_string() << "\n";
    return 1;
  }
  for (const safetensors::tensor_info t : model->tensors()) {  // in offset order
    std::cout << t.name() << " " << safetensors::to_string(t.dtype()) << " " << t.byte_size()
              << " bytes\n";
  }
  if (auto w = model->tensor("encoder.layer.0.weight")) {  // TensorNotFound if absent
    auto floats = w->as<float>();                          // DtypeMismatch unless F32
    if (floats) std::cout << "first value: " << (*floats)[0] << "\n";
  }
  return 0;
}
