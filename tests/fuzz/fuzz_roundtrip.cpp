// libFuzzer target 2: parse, rewrite with the writer, parse again: the same table and bytes; a
// second rewrite is byte-identical to the first.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  st_fuzz::check_roundtrip(data, size);
  return 0;
}
