// libFuzzer target 1: parse from a buffer; compare with the reference checker (verdict, error
// name, table); check every invariant and touch every tensor byte through the views.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  st_fuzz::check_parse(data, size);
  return 0;
}
