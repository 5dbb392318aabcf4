// safetensors-cli's size arguments (examples/cli_size.hpp; docs/cli.md#split).
#include "cli_size.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>

namespace {
template <class R>
std::string outcome(const R& r) {
  return r ? std::string("value") : std::string(r.error().name());
}
}  // namespace

TEST_CASE("parse_size") {
  const std::pair<const char*, std::uint64_t> good[] = {
      {"5GB", 5'000'000'000},
      {"500MB", 500'000'000},
      {"10GiB", 10ull << 30},
      {"1048576", 1048576},
      {"0", 0},
      {"512B", 512},
      {"2kb", 2000},
      {"3 KiB", 3072},
      {" 1.5GB ", 1'500'000'000},
      {"2TB", 2'000'000'000'000},
      {"1TiB", 1ull << 40},
      {"0.5MiB", 524288},
      {"1.", 1},
      {".5KB", 500},
      {"0.0001KB", 0},
      {"18446744073709551615", 18446744073709551615ull},
  };
  for (const auto& entry : good) {
    const char* text = entry.first;
    CAPTURE(text);
    auto r = safetensors_cli::parse_size(text);
    REQUIRE(outcome(r) == "value");
    CHECK(*r == entry.second);
  }
  for (const char* bad : {"", "GB", "5XB", "5 G B", "-5GB", "5GBs", "1.2.3MB",
                          "18446744073709551616", "20000000TB", "5e9", "0x10", "."}) {
    CAPTURE(bad);
    CHECK(outcome(safetensors_cli::parse_size(bad)) == "InvalidArgument");
  }
}
