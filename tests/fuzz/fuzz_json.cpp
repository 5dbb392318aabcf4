// libFuzzer target 5: the library's JSON reader against nlohmann's parser (verdict and every
// token), then the same text as a safetensors header against the reference checker
// (st_fuzz::check_json).
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  st_fuzz::check_json(data, size);
  return 0;
}
