// safetensors-cli stats (docs/cli.md#stats): min, max, mean, population standard deviation of the
// finite values, and counts of NaN, infinities and zeros, per tensor of every dtype family,
// checked against values computed here; the table, --json, --filter, checkpoints and errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

namespace st = safetensors;
using st_test::cli_output;
using st_test::first_line;

cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

/// Little-endian bytes of `values` (independent of the host's byte order).
template <class T>
std::vector<std::uint8_t> le_bytes(const std::vector<T>& values) {
  std::vector<std::uint8_t> out;
  for (const T v : values) {
    std::uint64_t bits = 0;
    if constexpr (std::is_floating_point<T>::value) {
      if constexpr (sizeof(T) == 4) {
        std::uint32_t b = 0;
        std::memcpy(&b, &v, 4);
        bits = b;
      } else {
        std::memcpy(&bits, &v, 8);
      }
    } else {
      bits = static_cast<std::uint64_t>(v);
    }
    for (std::size_t k = 0; k < sizeof(T); ++k) {
      out.push_back(static_cast<std::uint8_t>(bits >> (8 * k)));
    }
  }
  return out;
}

/// The mean and population standard deviation of `v`, two passes in long double.
struct expected {
  double mean;
  double std;
};
expected mean_std(const std::vector<double>& v) {
  long double sum = 0;
  for (const double x : v) sum += x;
  const long double mean = sum / static_cast<long double>(v.size());
  long double m2 = 0;
  for (const double x : v) m2 += (x - mean) * (x - mean);
  return {static_cast<double>(mean),
          static_cast<double>(std::sqrt(m2 / static_cast<long double>(v.size())))};
}

double bf16_value(std::uint16_t bits) {
  const std::uint32_t b = std::uint32_t{bits} << 16;
  float f = 0;
  std::memcpy(&f, &b, 4);
  return f;
}

constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float nan = std::numeric_limits<float>::quiet_NaN();

/// A file with a tensor of each dtype family.
std::vector<st_test::tensor_spec> family_tensors() {
  const double tiny = std::ldexp(1.0, -40);
  return {
      {"bf16", "BF16", {5}, le_bytes<std::uint16_t>({0x3f80, 0xc000, 0x3f00, 0x7fc0, 0x7f80})},
      {"bool", "BOOL", {4}, {1, 0, 2, 0}},
      {"c64", "C64", {1}, le_bytes<float>({1, 2})},
      {"empty", "U8", {0}, {}},
      {"f16", "F16", {4}, le_bytes<std::uint16_t>({0x3c00, 0x7bff, 0xfc00, 0x0000})},
      {"f32",
       "F32",
       {9},
       le_bytes<float>({1.5f, -2.25f, 0.0f, -0.0f, nan, inf, -inf, 3.0f, 1e-3f})},
      {"f4", "F4", {2, 2}, {0x21, 0x43}},
      {"f64", "F64", {3}, le_bytes<double>({1 + tiny, 1 + 3 * tiny, 1 + tiny})},
      {"i64",
       "I64",
       {3},
       le_bytes<std::int64_t>({-(std::int64_t{1} << 62), (std::int64_t{1} << 62) + 1, 7})},
      {"i8", "I8", {4}, le_bytes<std::int8_t>({-128, 127, 0, 0})},
      {"u64", "U64", {3}, le_bytes<std::uint64_t>({~std::uint64_t{0}, 0, 5})},
  };
}

/// The JSON row of tensor `name`.
const nlohmann::json& row(const nlohmann::json& doc, const std::string& name) {
  for (const auto& t : doc["tensors"]) {
    if (t["name"] == name) return t;
  }
  FAIL("no row " << name);
  return doc;
}

void check_counts(const nlohmann::json& r, std::uint64_t count, std::uint64_t finite,
                  std::uint64_t nans, std::uint64_t pos_inf, std::uint64_t neg_inf,
                  std::uint64_t zeros) {
  CHECK(r["count"] == count);
  CHECK(r["finite"] == finite);
  CHECK(r["nan"] == nans);
  CHECK(r["pos_inf"] == pos_inf);
  CHECK(r["neg_inf"] == neg_inf);
  CHECK(r["zeros"] == zeros);
}

void check_moments(const nlohmann::json& r, const std::vector<double>& finite, double eps) {
  const expected e = mean_std(finite);
  CHECK(r["mean"].get<double>() == doctest::Approx(e.mean).epsilon(eps));
  CHECK(r["std"].get<double>() == doctest::Approx(e.std).epsilon(eps));
}

}  // namespace

TEST_SUITE("cli stats") {
  TEST_CASE("--json: every dtype family against values computed here") {
    st_test::temp_dir dir;
    const auto file = dir.file("m.safetensors");
    st_test::write_file(file, st_test::make_file(family_tensors()));
    const auto r = run(dir, {"stats", file.string(), "--json"});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    CHECK(st_test::line_count(r.out) == 1);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["path"] == file.string());
    REQUIRE(j["tensors"].size() == 11);
    CHECK(j["tensors"][0]["name"] == "bf16");  // name order

    const auto& f32 = row(j, "f32");
    CHECK(f32["dtype"] == "F32");
    CHECK(f32["shape"] == nlohmann::json::array({9}));
    check_counts(f32, 9, 6, 1, 1, 1, 2);
    CHECK(f32["min"] == -2.25);
    CHECK(f32["max"] == 3.0);
    check_moments(f32, {1.5, -2.25, 0, 0, 3, static_cast<double>(1e-3f)}, 1e-12);

    const auto& bf16 = row(j, "bf16");
    check_counts(bf16, 5, 3, 1, 1, 0, 0);
    CHECK(bf16["min"] == -2.0);
    CHECK(bf16["max"] == 1.0);
    check_moments(bf16, {1, -2, 0.5}, 1e-12);

    const auto& f16 = row(j, "f16");
    check_counts(f16, 4, 3, 0, 0, 1, 1);
    CHECK(f16["min"] == 0.0);
    CHECK(f16["max"] == 65504.0);
    check_moments(f16, {1, 65504, 0}, 1e-12);

    const auto& f4 = row(j, "f4");
    check_counts(f4, 4, 4, 0, 0, 0, 0);
    CHECK(f4["min"] == 0.5);
    CHECK(f4["max"] == 2.0);
    check_moments(f4, {0.5, 1, 1.5, 2}, 1e-12);

    // F64 values 2^-40 apart: through float they would all be 1 (std 0).
    const double tiny = std::ldexp(1.0, -40);
    const auto& f64 = row(j, "f64");
    check_counts(f64, 3, 3, 0, 0, 0, 0);
    CHECK(f64["min"].get<double>() == 1 + tiny);
    CHECK(f64["max"].get<double>() == 1 + 3 * tiny);
    CHECK(f64["mean"].get<double>() == doctest::Approx(1 + 5 * tiny / 3).epsilon(1e-15));
    CHECK(f64["std"].get<double>() == doctest::Approx(std::sqrt(8.0) / 3 * tiny).epsilon(1e-9));

    // Integers: exact extremes, beyond 2^53 too.
    const auto& i64 = row(j, "i64");
    check_counts(i64, 3, 3, 0, 0, 0, 0);
    CHECK(i64["min"].get<std::int64_t>() == -(std::int64_t{1} << 62));
    CHECK(i64["max"].get<std::int64_t>() == (std::int64_t{1} << 62) + 1);
    const auto& u64 = row(j, "u64");
    check_counts(u64, 3, 3, 0, 0, 0, 1);
    CHECK(u64["min"].get<std::uint64_t>() == 0);
    CHECK(u64["max"].get<std::uint64_t>() == ~std::uint64_t{0});
    const auto& i8 = row(j, "i8");
    check_counts(i8, 4, 4, 0, 0, 0, 2);
    CHECK(i8["min"] == -128);
    CHECK(i8["max"] == 127);
    check_moments(i8, {-128, 127, 0, 0}, 1e-12);

    // BOOL: any non-zero byte is 1.
    const auto& flags = row(j, "bool");
    check_counts(flags, 4, 4, 0, 0, 0, 2);
    CHECK(flags["min"] == 0);
    CHECK(flags["max"] == 1);
    CHECK(flags["mean"] == 0.5);
    CHECK(flags["std"] == 0.5);

    const auto& empty = row(j, "empty");
    check_counts(empty, 0, 0, 0, 0, 0, 0);
    for (const char* key : {"min", "max", "mean", "std"}) CHECK(empty[key].is_null());

    const auto& c64 = row(j, "c64");
    CHECK(c64["count"] == 1);
    CHECK(c64["skipped"] == "C64");
    for (const char* key : {"finite", "min", "max", "mean", "std", "nan", "zeros"}) {
      CHECK(c64[key].is_null());
    }
  }

  TEST_CASE("tensors of several chunks: the chunks' stats combined") {
    // 300,000 BF16 (several 256 KiB chunks of conversion) and 1,300,000 F32 (two 4 MiB chunks).
    st_test::temp_dir dir;
    std::vector<std::uint16_t> bf16;
    std::vector<double> bf16_values;
    for (std::uint32_t i = 0; i < 300000; ++i) {
      const auto bits = static_cast<std::uint16_t>(0x3f80 + i % 200 + (i % 7 == 0 ? 0x8000 : 0));
      bf16.push_back(bits);
      bf16_values.push_back(bf16_value(bits));
    }
    std::vector<float> f32;
    std::vector<double> f32_values;
    for (std::uint32_t i = 0; i < 1300000; ++i) {
      const float v = 1000.0f + static_cast<float>(i % 1000) * 0.25f - static_cast<float>(i / 1000);
      f32.push_back(v);
      f32_values.push_back(v);
    }
    const auto file = dir.file("big.safetensors");
    st_test::write_file(file, st_test::make_file({
                                  {"a", "BF16", {300, 1000}, le_bytes(bf16)},
                                  {"b", "F32", {1300, 1000}, le_bytes(f32)},
                              }));
    const auto r = run(dir, {"stats", file.string(), "--json"});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& a = row(j, "a");
    check_counts(a, 300000, 300000, 0, 0, 0, 0);
    check_moments(a, bf16_values, 1e-12);
    CHECK(a["min"] == *std::min_element(bf16_values.begin(), bf16_values.end()));
    CHECK(a["max"] == *std::max_element(bf16_values.begin(), bf16_values.end()));
    const auto& b = row(j, "b");
    const auto zeros =
        static_cast<std::uint64_t>(std::count(f32_values.begin(), f32_values.end(), 0.0));
    CHECK(zeros == 250);  // 1000 + 0.25 k - m = 0 for m = 1000 + k / 4, k = 0, 4, ..., 996
    check_counts(b, 1300000, 1300000, 0, 0, 0, zeros);
    check_moments(b, f32_values, 1e-12);
    CHECK(b["min"] == *std::min_element(f32_values.begin(), f32_values.end()));
    CHECK(b["max"] == *std::max_element(f32_values.begin(), f32_values.end()));
  }

  TEST_CASE("the table: one aligned row per tensor, '-' where there is nothing to show") {
    st_test::temp_dir dir;
    const auto file = dir.file("t.safetensors");
    st_test::write_file(file, st_test::make_file({
                                  {"a", "F32", {2}, le_bytes<float>({1, 3})},
                                  {"bb", "I8", {3}, le_bytes<std::int8_t>({-1, 0, 1})},
                                  {"c", "C64", {1}, le_bytes<float>({1, 2})},
                                  {"e", "F16", {0}, {}},
                              }));
    const auto r = run(dir, {"stats", file.string()});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == file.string() +
                       ": 4 tensors\n"
                       "\n"
                       "name  dtype  shape  min  max  mean  std       nan  +inf  -inf  zeros\n"
                       "a     F32    [2]    1    3    2     1         0    0     0     0\n"
                       "bb    I8     [3]    -1   1    0     0.816497  0    0     0     1\n"
                       "c     C64    [1]    -    -    -     -         -    -     -     -\n"
                       "e     F16    [0]    -    -    -     -         0    0     0     0\n"
                       "\n"
                       "C64 tensors are not summarized (complex values have no order).\n");
  }

  TEST_CASE("--filter, a sharded checkpoint, errors") {
    st_test::temp_dir dir;
    const auto file = dir.file("m.safetensors");
    st_test::write_file(file, st_test::make_file(family_tensors()));
    auto r = run(dir, {"stats", file.string(), "--json", "--filter", "^f[0-9]"});
    REQUIRE(r.code == 0);
    auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["tensors"].size() == 4);
    CHECK(j["tensors"][0]["name"] == "f16");
    CHECK(j["tensors"][3]["name"] == "f64");
    r = run(dir, {"stats", file.string(), "--filter=64$"});
    CHECK(r.code == 0);
    CHECK(first_line(r.out) == file.string() + ": 4 tensors matching the filter");

    // A checkpoint in shards gives the same rows as the file.
    const auto whole = nlohmann::json::parse(run(dir, {"stats", file.string(), "--json"}).out);
    auto ckpt = st::checkpoint::open(file.string()).value();
    st::sharded_write_options options;
    options.max_shard_size = 24;
    std::filesystem::create_directories(dir.path() / "sharded");
    REQUIRE(st::save_sharded(dir.path() / "sharded", ckpt.specs().value(), options));
    r = run(dir, {"stats", (dir.path() / "sharded").string(), "--json"});
    REQUIRE(r.code == 0);
    j = nlohmann::json::parse(r.out);
    CHECK(j["tensors"] == whole["tensors"]);

    r = run(dir, {"stats", file.string(), "--filter", "x("});
    CHECK(r.code == 2);
    CHECK(first_line(r.err).rfind("error: usage: stats: --filter: 'x(' is not a regular", 0) == 0);
    r = run(dir, {"stats", dir.file("missing.safetensors").string()});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(first_line(r.err).rfind("error: IoError: ", 0) == 0);
    st_test::write_file(dir.file("bad.safetensors"), {1, 2, 3});
    r = run(dir, {"stats", dir.file("bad.safetensors").string()});
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(first_line(r.err).rfind("error: HeaderTooSmall: ", 0) == 0);

    r = run(dir, {"stats", "--help"});
    CHECK(r.code == 0);
    CHECK(first_line(r.out) == "usage: safetensors-cli stats FILE [options]");
    CHECK(r.out.find("  --filter REGEX ") != std::string::npos);
    CHECK(run(dir, {"--help"}).out.find("\n  stats FILE ") != std::string::npos);
  }
}
