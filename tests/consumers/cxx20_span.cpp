// C++20 interop: safetensors::span <-> std::span both ways, and std::ranges on our spans.
// Built with C++20 whatever the project's standard; run on the demo model.
#include <algorithm>
#include <cstddef>
#include <iostream>
#include <ranges>
#include <safetensors/safetensors.hpp>
#include <span>
#include <vector>

#if !SAFETENSORS_HAS_STD_SPAN
#error "SAFETENSORS_HAS_STD_SPAN must be 1 in C++20 with <span>"
#endif

static_assert(std::ranges::borrowed_range<safetensors::span<const std::byte>>);
static_assert(std::ranges::contiguous_range<safetensors::span<float>>);

int main(int argc, char** argv) {
  if (argc != 2) {
    return 2;
  }
  auto model = safetensors::mapped_file::open(argv[1]);
  if (!model) {
    std::cerr << model.error().to_string() << "\n";
    return 1;
  }
  auto w = model->find("encoder.layer.0.weight");
  if (!w) {
    return 1;
  }
  const safetensors::span<const std::byte> ours = w->bytes();
  const std::span<const std::byte> theirs = ours;          // ours -> std::span
  const safetensors::span<const std::byte> back = theirs;  // std::span -> ours
  if (theirs.data() != ours.data() || theirs.size() != ours.size() || back.data() != ours.data() ||
      back.size() != ours.size() || ours.size() != 24) {
    std::cerr << "span conversions changed the view\n";
    return 1;
  }
  // A std::span destination for a typed copy.
  std::vector<float> values(6);
  auto floats = w->as<float>();
  if (!floats) {
    return 1;
  }
  if (!floats->copy_to(std::span<float>(values))) {
    return 1;
  }
  // std::ranges algorithms on our span (a borrowed range: the iterator outlives the temporary).
  float* const top = std::ranges::max_element(safetensors::span<float>(values));
  if (*top != std::ranges::max(values)) {
    return 1;
  }
  if (values[0] != (*floats)[0]) {
    return 1;
  }
  std::cout << "std::span interop ok, first value " << values[0] << "\n";
  return 0;
}
