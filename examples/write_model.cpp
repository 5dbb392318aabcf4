// The README's writing example: writes model.safetensors (or argv[1]) with one F32 tensor.
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "model.safetensors";
  std::vector<float> weight(6, 0.5f);
  std::vector<safetensors::tensor_spec> tensors{
      // name, dtype, shape, little-endian bytes (referenced, never copied), producer (none: {})
      {"layer.0.weight", safetensors::dtype::F32, {2, 3}, safetensors::as_bytes(weight), {}},
  };
  safetensors::metadata_map metadata{{"format", "pt"}};
  if (auto r = safetensors::save_file(path, tensors, metadata); !r) {
    std::cerr << r.error().to_string() << "\n";  // e.g. "TensorInvalidInfo: tensor ..."
    return 1;
  }
  std::cout << "wrote " << path << "\n";
  return 0;
}
