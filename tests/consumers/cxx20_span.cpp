// C++20: safetensors::span is std::span, so std::span flows in and out of the API unchanged, and
// as_bytes takes any contiguous range. Built with C++20 whatever the project's standard; run on
// the demo model.
#include <algorithm>
#include <array>
#include <cstddef>
#include <iostream>
#include <ranges>
#include <safetensors/safetensors.hpp>
#include <span>
#include <type_traits>
#include <vector>

#if !SAFETENSORS_HAS_STD_SPAN
#error "SAFETENSORS_HAS_STD_SPAN must be 1 in C++20 with <span>"
#endif

static_assert(std::is_same_v<safetensors::span<const std::byte>, std::span<const std::byte>>);
static_assert(std::ranges::borrowed_range<safetensors::span<const std::byte>>);

int main(int argc, char** argv) {
  if (argc != 2) {
    return 2;
  }
  auto model = safetensors::mapped_file::open(argv[1]);
  if (!model) {
    std::cerr << model.error().to_string() << "\n";
    return 1;
  }
  auto w = model->tensor("encoder.layer.0.weight");
  if (!w) {
    return 1;
  }
  const std::span<const std::byte> bytes = w->bytes();  // no conversion: the same type
  if (bytes.size() != 24) {
    std::cerr << "unexpected size\n";
    return 1;
  }
  // A std::span destination for a typed copy.
  std::vector<float> values(6);
  auto floats = w->as<float>();
  if (!floats || !floats->copy_to(std::span<float>(values))) {
    return 1;
  }
  if (values[0] != (*floats)[0] ||
      *std::ranges::max_element(std::span<float>(values)) != std::ranges::max(values)) {
    return 1;
  }
  // as_bytes of a std::span, a std::vector and a std::array, and a tensor_spec from each.
  const std::array<float, 6> fixed{1, 2, 3, 4, 5, 6};
  std::vector<safetensors::tensor_spec> specs{
      {"a",
       safetensors::dtype::F32,
       {6},
       safetensors::as_bytes(std::span<const float>(values)),
       {}},
      {"b", safetensors::dtype::F32, {6}, safetensors::as_bytes(values), {}},
      {"c", safetensors::dtype::F32, {2, 3}, safetensors::as_bytes(fixed), {}},
  };
  auto file = safetensors::serialize(specs);
  if (!file) {
    std::cerr << file.error() << "\n";  // operator<< for safetensors::error
    return 1;
  }
  auto back = safetensors::parse(*file);
  if (!back || back->size() != 3 || !back->contains("c")) {
    return 1;
  }
  std::cout << "std::span interop ok, first value " << values[0] << "\n";
  return 0;
}
