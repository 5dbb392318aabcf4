// safetensors-cli diff --atol / --rtol (docs/cli.md#diff-with-tolerances): floating-point tensors
// compared by value, across dtypes (an F32 file against its BF16 conversion, F64 against F32),
// with the largest errors and the count of elements beyond the tolerances computed here from the
// values (BF16 rounding done here with integer arithmetic); NaN and infinity rules; integer
// tensors still compared bit for bit; exit codes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::cli_output;
using st_test::first_line;

cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

std::uint32_t bits_of(float v) {
  std::uint32_t b = 0;
  std::memcpy(&b, &v, 4);
  return b;
}

float float_of(std::uint32_t b) {
  float v = 0;
  std::memcpy(&v, &b, 4);
  return v;
}

template <class T>
std::vector<std::uint8_t> le_bytes(const std::vector<T>& values) {
  std::vector<std::uint8_t> out;
  for (const T v : values) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    for (std::size_t k = 0; k < sizeof(T); ++k)
      out.push_back(static_cast<std::uint8_t>(b >> (8 * k)));
  }
  return out;
}

/// BF16 of a finite float, rounded to nearest, ties to even (integer arithmetic on the bits).
std::uint16_t bf16_of(float v) {
  const std::uint32_t b = bits_of(v);
  return static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
float bf16_value(std::uint16_t h) { return float_of(std::uint32_t{h} << 16); }

/// The JSON entry of `name` in the report's "values".
const nlohmann::json& entry(const nlohmann::json& report, const std::string& name) {
  for (const auto& v : report["values"]) {
    if (v["name"] == name) return v;
  }
  FAIL("no values entry " << name);
  return report;
}

}  // namespace

TEST_SUITE("cli diff tolerance") {
  TEST_CASE("an F32 file against its BF16 rounding: the errors and the count computed here") {
    st_test::temp_dir dir;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    // 1.5 M elements: several 4 MiB chunks of A.
    std::vector<float> a(1'500'000);
    for (float& v : a) v = normal(rng);
    std::vector<std::uint16_t> b(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) b[i] = bf16_of(a[i]);
    b[1'234'567] = bf16_of(a[1'234'567] + 0.5f);  // one element far off, late in the tensor
    double max_abs = 0;
    double max_rel = 0;
    const double atol = 1e-3;
    const double rtol = 1e-3;
    std::uint64_t exceeding = 0;
    std::uint64_t first = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = a[i];
      const double y = bf16_value(b[i]);
      const double err = std::fabs(x - y);
      max_abs = std::max(max_abs, err);
      max_rel = std::max(max_rel, y == 0 ? (err == 0 ? 0 : INFINITY) : err / std::fabs(y));
      if (err > atol + rtol * std::fabs(y) && exceeding++ == 0) first = i;
    }
    REQUIRE(exceeding > 1);  // rounding alone exceeds these tolerances somewhere, too
    const auto fa = dir.file("a.safetensors");
    const auto fb = dir.file("b.safetensors");
    st_test::write_file(fa, st_test::make_file({{"w", "F32", {1500, 1000}, le_bytes(a)},
                                                {"step", "I64", {}, le_bytes<std::int64_t>({3})}}));
    st_test::write_file(fb, st_test::make_file({{"w", "BF16", {1500, 1000}, le_bytes(b)},
                                                {"step", "I64", {}, le_bytes<std::int64_t>({3})}}));

    auto r =
        run(dir, {"diff", fa.string(), fb.string(), "--atol", "1e-3", "--rtol", "1e-3", "--json"});
    CHECK(r.code == 1);
    CHECK(r.err.empty());
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["identical"] == false);
    CHECK(j["atol"] == 1e-3);
    CHECK(j["rtol"] == 1e-3);
    CHECK(j["mismatched"].empty());
    CHECK(j["data"].empty());  // step: the same bits
    REQUIRE(j["values"].size() == 1);
    const auto& w = entry(j, "w");
    CHECK(w["a"]["dtype"] == "F32");
    CHECK(w["b"]["dtype"] == "BF16");
    CHECK(w["shape"] == nlohmann::json::array({1500, 1000}));
    CHECK(w["elements"] == 1'500'000);
    CHECK(w["exceeding"] == exceeding);
    CHECK(w["max_abs"].get<double>() == max_abs);
    CHECK(w["max_rel"].get<double>() == max_rel);
    CHECK(w["first"]["index"] == first);
    CHECK(w["first"]["position"] == nlohmann::json::array({first / 1000, first % 1000}));
    // Values as in docs/cli.md#decoded-values: the fewest digits that read back as the float.
    CHECK(static_cast<float>(w["first"]["a"].get<double>()) == a[first]);
    CHECK(static_cast<float>(w["first"]["b"].get<double>()) == bf16_value(b[first]));

    // Tolerances above every error: exit 0, one "close" line per tensor and the summary.
    r = run(dir, {"diff", fa.string(), fb.string(), "--atol", "0.6"});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    char errors[128];
    std::snprintf(errors, sizeof errors, "max abs %.6g, max rel %.6g", max_abs, max_rel);
    CHECK(r.out == "close: 'w' F32 vs BF16 [1500, 1000]: " + std::string(errors) +
                       "; 0 of 1500000 elements exceed the tolerances\n"
                       "identical within the tolerances (atol 0.6, rtol 0): 2 tensors (1 compared "
                       "by value: " +
                       std::string(errors) + "), 6000008 bytes, 0 metadata keys\n");
    // Without tolerances, the dtypes differ.
    r = run(dir, {"diff", fa.string(), fb.string()});
    CHECK(r.code == 1);
    CHECK(first_line(r.out) == "dtype: 'w': F32 vs BF16");
    // Only the one element far off: the text names it.
    std::size_t beyond = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::fabs(static_cast<double>(a[i]) - bf16_value(b[i])) > 0.1) ++beyond;
    }
    REQUIRE(beyond == 1);
    r = run(dir, {"diff", fa.string(), fb.string(), "--atol", "0.1"});
    CHECK(r.code == 1);
    CAPTURE(r.out);
    CHECK(r.out.rfind("values: 'w' F32 vs BF16 [1500, 1000]: 1 of 1500000 elements exceed the "
                      "tolerances, the first at 1234567 [1234, 567]: ",
                      0) == 0);
    CHECK(r.out.find("different: 0 tensors only in A, 0 only in B, 1 of 2 in both differ; 0 "
                     "metadata keys differ\n") != std::string::npos);
    // --quiet: the exit code only.
    r = run(dir, {"diff", fa.string(), fb.string(), "--atol", "0.1", "-q"});
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    r = run(dir, {"diff", fa.string(), fb.string(), "--atol", "0.6", "--quiet"});
    CHECK(r.code == 0);
    CHECK(r.out.empty());
  }

  TEST_CASE("NaN, infinities, zeros; F64 against F32 in double precision; integers bitwise") {
    st_test::temp_dir dir;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const double tiny = std::ldexp(1.0, -40);
    const auto fa = dir.file("a.safetensors");
    const auto fb = dir.file("b.safetensors");
    st_test::write_file(
        fa, st_test::make_file({{"same", "F32", {5}, le_bytes<float>({nan, inf, -inf, 0.0f, 2.0f})},
                                {"nan", "F32", {2}, le_bytes<float>({nan, 1.0f})},
                                {"inf", "F32", {1}, le_bytes<float>({inf})},
                                {"f64", "F64", {2}, le_bytes<double>({1.0 + tiny, 4.0})},
                                {"int", "I32", {2}, le_bytes<std::int32_t>({1, 2})},
                                {"kind", "I32", {1}, le_bytes<std::int32_t>({1})}}));
    st_test::write_file(
        fb, st_test::make_file({{"same",
                                 "F16",
                                 {5},
                                 le_bytes<std::uint16_t>({0x7e00, 0x7c00, 0xfc00, 0x8000, 0x4000})},
                                {"nan", "F32", {2}, le_bytes<float>({1.0f, nan})},
                                {"inf", "BF16", {1}, le_bytes<std::uint16_t>({0xff80})},
                                {"f64", "F32", {2}, le_bytes<float>({1.0f, 4.0f})},
                                {"int", "I32", {2}, le_bytes<std::int32_t>({1, 3})},
                                {"kind", "F32", {1}, le_bytes<float>({1.0f})}}));
    const auto r = run(dir, {"diff", fa.string(), fb.string(), "--atol", "1e-9", "--json"});
    CHECK(r.code == 1);
    const auto j = nlohmann::json::parse(r.out);
    // NaN = NaN, inf = inf, -0 = +0, across F32 and F16.
    CHECK(entry(j, "same")["exceeding"] == 0);
    CHECK(entry(j, "same")["max_abs"] == 0.0);
    // A NaN against a number, either way, and an infinity against the other one: inf errors.
    CHECK(entry(j, "nan")["exceeding"] == 2);
    CHECK(entry(j, "nan")["max_abs"] == "inf");
    CHECK(entry(j, "nan")["first"]["a"] == "nan");
    CHECK(entry(j, "nan")["first"]["b"] == 1.0);
    CHECK(entry(j, "inf")["exceeding"] == 1);
    CHECK(entry(j, "inf")["first"]["b"] == "-inf");
    // F64 kept in double precision: the error is 2^-40, not 0, and within 1e-9.
    CHECK(entry(j, "f64")["max_abs"].get<double>() == tiny);
    CHECK(entry(j, "f64")["exceeding"] == 0);
    // Integers: bit for bit; an integer against a float: a dtype difference.
    REQUIRE(j["data"].size() == 1);
    CHECK(j["data"][0]["name"] == "int");
    REQUIRE(j["mismatched"].size() == 1);
    CHECK(j["mismatched"][0]["name"] == "kind");
    CHECK(j["values"].size() == 4);
  }

  TEST_CASE("a sharded copy in BF16 made by convert is within its rounding; usage errors") {
    st_test::temp_dir dir;
    std::vector<float> a(4096);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)) * 3.0f;
    const auto fa = dir.file("a.safetensors");
    st_test::write_file(fa, st_test::make_file({{"x", "F32", {64, 64}, le_bytes(a)},
                                                {"y", "F32", {4096}, le_bytes(a)}}));
    const auto shards = dir.path() / "bf16";
    REQUIRE(run(dir, {"convert", fa.string(), shards.string(), "--dtype", "BF16",
                      "--max-shard-size", "8KiB"})
                .code == 0);
    // BF16 keeps 7 bits of mantissa: rounding to nearest errs by at most 2^-8 of the result.
    auto r = run(dir, {"diff", fa.string(), shards.string(), "--rtol", "0.00390625"});
    CHECK(r.code == 0);
    r = run(dir, {"diff", fa.string(), shards.string(), "--rtol", "0.0001"});
    CHECK(r.code == 1);
    for (const std::vector<std::string>& bad : {std::vector<std::string>{"--atol", "-1"},
                                                {"--rtol", "nan"},
                                                {"--atol", "1x"},
                                                {"--atol", ""},
                                                {"--rtol", "inf"}}) {
      CAPTURE(bad[1]);
      std::vector<std::string> args{"diff", fa.string(), shards.string()};
      args.insert(args.end(), bad.begin(), bad.end());
      r = run(dir, args);
      CHECK(r.code == 2);
      CHECK(r.out.empty());
      CHECK(r.err == "error: usage: diff: " + bad[0] +
                         " needs a number from 0 up (such as 1e-3), got '" + bad[1] +
                         "' (see 'safetensors-cli diff --help')\n");
    }
  }
}
