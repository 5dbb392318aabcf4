// libFuzzer target 4: the sharded-checkpoint index parser (parse_index) and formatter
// (format_index) against nlohmann's DOM and the index's invariants (st_fuzz::check_index).
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  st_fuzz::check_index(data, size);
  return 0;
}
