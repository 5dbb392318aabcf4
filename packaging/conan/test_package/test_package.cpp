// Serializes one tensor in memory, parses it back, prints the table.
#include <cstddef>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

int main() {
  const std::vector<std::byte> data(8, std::byte{0});
  std::vector<safetensors::tensor_spec> specs(1);
  specs[0].name = "w";
  specs[0].dtype = safetensors::dtype::F32;
  specs[0].shape = {2};
  specs[0].bytes = safetensors::span<const std::byte>(data.data(), data.size());
  auto bytes = safetensors::serialize(specs);
  if (!bytes) {
    return 1;
  }
  auto file = safetensors::parse(*bytes);
  if (!file) {
    return 1;
  }
  for (const safetensors::tensor_info t : file->tensors()) {
    std::cout << t.name() << " " << safetensors::to_string(t.dtype()) << "\n";
  }
  return 0;
}
