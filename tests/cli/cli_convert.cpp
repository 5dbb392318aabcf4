// safetensors-cli convert (docs/cli.md#convert): casts checked on every bit pattern each target
// dtype has, against a decoder written here from the formats' definitions (sign, exponent,
// mantissa, bias, special values) and against the library's encoder (load()'s values); the output
// read by an independent reader (tests/support/reference_checker.hpp) and equal, byte for byte,
// to the canonical file the independent test writer makes; selection, renames, metadata,
// sharded output, pieces, errors and exit codes. Also the slicing of examples/
// convert_checkpoint.hpp and the globs of examples/cli_convert.hpp, directly.
#include "cli_convert.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "convert_checkpoint.hpp"
#include "reference_checker.hpp"
#include "test_writer.hpp"

namespace {

namespace st = safetensors;
using st_test::first_line;

st_test::cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

// ---- An independent decoder -------------------------------------------------------------------

/// A float format: exponent and mantissa bits, bias, and how it spells infinities and NaNs.
struct float_format {
  const char* dtype;
  unsigned bits;
  unsigned exponent;
  unsigned mantissa;
  int bias;
  enum {
    ieee,
    fn,
    fnuz
  } special;  // ieee: all-ones exponent is inf/NaN; fn: S.1111.111 is
              // NaN, no inf; fnuz: 0x80 is the NaN, no inf, no -0
};

const float_format formats[] = {
    {"F16", 16, 5, 10, 15, float_format::ieee},
    {"BF16", 16, 8, 7, 127, float_format::ieee},
    {"F8_E5M2", 8, 5, 2, 15, float_format::ieee},
    {"F8_E4M3", 8, 4, 3, 7, float_format::fn},
    {"F8_E4M3FNUZ", 8, 4, 3, 8, float_format::fnuz},
    {"F8_E5M2FNUZ", 8, 5, 2, 16, float_format::fnuz},
};

/// The value of pattern `code` of format `f`, in double (NaN for a NaN).
double value_of(const float_format& f, std::uint32_t code) {
  const bool negative = (code >> (f.bits - 1)) & 1;
  const std::uint32_t e = (code >> f.mantissa) & ((1u << f.exponent) - 1);
  const std::uint32_t m = code & ((1u << f.mantissa) - 1);
  const std::uint32_t all_ones = (1u << f.exponent) - 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  switch (f.special) {
    case float_format::ieee:
      if (e == all_ones) {
        if (m != 0) return nan;
        return negative ? -std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::infinity();
      }
      break;
    case float_format::fn:
      if (e == all_ones && m == (1u << f.mantissa) - 1) return nan;
      break;
    case float_format::fnuz:
      if (code == 1u << (f.bits - 1)) return nan;
      break;
  }
  const double magnitude =
      e == 0 ? std::ldexp(static_cast<double>(m), 1 - f.bias - static_cast<int>(f.mantissa))
             : std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -static_cast<int>(f.mantissa)),
                          static_cast<int>(e) - f.bias);
  return negative ? -magnitude : magnitude;
}

std::uint32_t f32_bits(float v) {
  std::uint32_t b = 0;
  std::memcpy(&b, &v, 4);
  return b;
}

float f32_of(std::uint32_t b) {
  float v = 0;
  std::memcpy(&v, &b, 4);
  return v;
}

std::vector<std::uint8_t> f32_bytes(const std::vector<float>& values) {
  std::vector<std::uint8_t> out;
  for (const float v : values) {
    const std::uint32_t b = f32_bits(v);
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<std::uint8_t>(b >> (8 * k)));
  }
  return out;
}

/// Element `i` of a tensor of `bits`-bit little-endian elements.
std::uint32_t element(const std::uint8_t* p, unsigned bits, std::size_t i) {
  std::uint32_t v = 0;
  for (unsigned k = bits / 8; k-- > 0;) v = (v << 8) | p[i * (bits / 8) + k];
  return v;
}

/// A file read by the independent reader: tensor name -> (dtype, shape, bytes).
struct read_tensor {
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> bytes;
};
std::map<std::string, read_tensor> read_independently(const std::filesystem::path& path) {
  const auto file = st_test::read_file(path);
  const st_ref::verdict v = st_ref::check(file.data(), file.size());
  REQUIRE_MESSAGE(v.ok, v.error);
  std::map<std::string, read_tensor> out;
  const std::size_t data = 8 + static_cast<std::size_t>(v.header_size);
  for (const auto& t : v.tensors) {
    out[t.name] = {
        t.dtype, t.shape,
        std::vector<std::uint8_t>(file.begin() + static_cast<std::ptrdiff_t>(data + t.begin),
                                  file.begin() + static_cast<std::ptrdiff_t>(data + t.end))};
  }
  return out;
}

std::vector<std::string> listing(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// A small model: F32, F16 and BF16 weights, an I64, a BOOL, an F4 and an empty tensor.
std::vector<st_test::tensor_spec> mixed_tensors() {
  return {
      {"model.layers.0.mlp.weight",
       "F32",
       {2, 3},
       f32_bytes({1.0f, -2.5f, 0.1f, 3.0f, 1e-8f, 65520.0f})},
      {"model.layers.1.mlp.weight",
       "F32",
       {2, 3},
       f32_bytes({0.5f, 7.0f, -0.0f, 2.0f, 9.0f, 1.1f})},
      {"model.layers.0.norm", "F16", {2}, {0x00, 0x3c, 0x00, 0xc0}},
      {"model.embed", "BF16", {2}, {0x80, 0x3f, 0x00, 0x40}},
      {"step", "I64", {}, {7, 0, 0, 0, 0, 0, 0, 0}},
      {"mask", "BOOL", {3}, {1, 0, 1}},
      {"packed", "F4", {2, 2}, {0x21, 0x43}},
      {"empty", "U8", {0}, {}},
  };
}

}  // namespace

TEST_SUITE("cli convert") {
  TEST_CASE("every pattern of each target dtype: F32 -> D gives it back, read alike by both") {
    st_test::temp_dir dir;
    for (const float_format& f : formats) {
      const std::string name = f.dtype;
      CAPTURE(name);
      const std::uint32_t count = 1u << f.bits;
      std::vector<float> values(count);
      for (std::uint32_t c = 0; c < count; ++c) {
        const double v = value_of(f, c);
        REQUIRE((std::isnan(v) || static_cast<double>(static_cast<float>(v)) == v));
        values[c] = std::isnan(v) ? std::copysign(std::numeric_limits<float>::quiet_NaN(),
                                                  (c >> (f.bits - 1)) ? -1.0f : 1.0f)
                                  : static_cast<float>(v);
      }
      const auto in = dir.file("in.safetensors");
      const auto out = dir.file(std::string(f.dtype) + ".safetensors");
      st_test::write_file(in, st_test::make_file({{"p", "F32", {count}, f32_bytes(values)}}));
      const auto r = run(dir, {"convert", in.string(), out.string(), "--dtype", f.dtype});
      REQUIRE(r.code == 0);
      CHECK(r.err.empty());

      // The independent reader and decoder.
      const auto tensors = read_independently(out);
      REQUIRE(tensors.size() == 1);
      const read_tensor& t = tensors.at("p");
      CHECK(t.dtype == f.dtype);
      CHECK(t.shape == std::vector<std::uint64_t>{count});
      REQUIRE(t.bytes.size() == count * f.bits / 8);
      // The library's reader, decoding to float.
      auto mapped = st::mapped_file::open(out);
      REQUIRE(mapped.has_value());
      auto ours = st::to_float(*mapped->tensor("p"));
      REQUIRE(ours.has_value());
      std::size_t mismatches = 0;
      for (std::uint32_t c = 0; c < count; ++c) {
        const std::uint32_t got = element(t.bytes.data(), f.bits, c);
        const double theirs = value_of(f, got);
        const double want = value_of(f, c);
        bool ok = true;
        if (std::isnan(want)) {
          ok = std::isnan(theirs) && std::isnan((*ours)[c]);  // a NaN stays a NaN
        } else {
          ok = got == c &&                                                     // the same pattern
               f32_bits(static_cast<float>(theirs)) == f32_bits(values[c]) &&  // -0 included
               f32_bits((*ours)[c]) == f32_bits(values[c]);
        }
        if (!ok && ++mismatches <= 5) {
          FAIL_CHECK("pattern " << c << " came back as " << got << " (" << theirs << ", ours "
                                << (*ours)[c] << ")");
        }
      }
      CHECK(mismatches == 0);
    }
  }

  TEST_CASE("rounding and overflow: the bytes of the library's encoder (load()'s values)") {
    st_test::temp_dir dir;
    // Ties and neighbours of every BF16 and F16 value step near 1, overflow, subnormals, NaNs,
    // then random bit patterns.
    std::vector<float> values;
    for (std::uint32_t b = 0x3f800000; b < 0x3f800000 + 0x20000; b += 0x2001) {
      for (std::uint32_t d : {0u, 1u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu})
        values.push_back(f32_of(b + d));
    }
    for (float v :
         {65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f, 3.4e38f, 448.0f, 464.0f, 480.0f, 57344.0f,
          61440.0f, 240.0f, 248.0f, 1e-7f, 5.96e-8f, 2.98e-8f, 1e-40f, -1e-40f}) {
      values.push_back(v);
    }
    values.push_back(std::numeric_limits<float>::infinity());
    values.push_back(-std::numeric_limits<float>::infinity());
    values.push_back(f32_of(0x7fc00001));
    values.push_back(f32_of(0xff800001));
    std::mt19937 rng(21);
    for (int i = 0; i < 20000; ++i) values.push_back(f32_of(static_cast<std::uint32_t>(rng())));
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, st_test::make_file({{"x", "F32", {values.size()}, f32_bytes(values)}}));
    for (const float_format& f : formats) {
      const std::string name = f.dtype;
      CAPTURE(name);
      const auto out = dir.file("out.safetensors");
      // Small pieces: the tensor is read and cast in many slices.
      REQUIRE(run(dir, {"convert", in.string(), out.string(), "--dtype", f.dtype, "--chunk-size",
                        "1000"})
                  .code == 0);
      const auto tensors = read_independently(out);
      const auto to = *st::dtype_from_string(f.dtype);
      std::vector<std::byte> want(values.size() * f.bits / 8);
      REQUIRE(st::encode_from_float(values, to, want).has_value());
      const auto& got = tensors.at("x").bytes;
      REQUIRE(got.size() == want.size());
      CHECK(std::memcmp(got.data(), want.data(), got.size()) == 0);
      // Back to F32: the exact decoded values.
      const auto back = dir.file("back.safetensors");
      REQUIRE(run(dir, {"convert", out.string(), back.string(), "--dtype", "F32"}).code == 0);
      const auto read_back = read_independently(back);
      const auto& again = read_back.at("x").bytes;
      REQUIRE(again.size() == values.size() * 4);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const double decoded = value_of(f, element(got.data(), f.bits, i));
        const float v = f32_of(element(again.data(), 32, i));
        if (std::isnan(decoded)) {
          CHECK(std::isnan(v));
        } else if (f32_bits(v) != f32_bits(static_cast<float>(decoded))) {
          FAIL_CHECK("element " << i << ": " << v << " vs " << decoded);
          break;
        }
      }
    }
  }

  TEST_CASE("the output: canonical, the metadata kept, what is not cast copied, one summary line") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(
        in, st_test::make_file(mixed_tensors(), std::vector<std::pair<std::string, std::string>>{
                                                    {"format", "pt"}, {"origin", "test"}}));
    const auto out = dir.file("out.safetensors");
    const auto r =
        run(dir, {"convert", in.string(), out.string(), "--dtype", "BF16", "--dtype-from", "F32",
                  "--metadata", "origin=converted", "--metadata", "dtype=bfloat16"});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "wrote " + out.string() +
                       ": 8 tensors (2 cast to BF16), 69 -> 45 bytes (69 B -> 45 B)\n");
    // The expected file, from the independent writer: dtype rank descending (I64, BF16, F16, U8,
    // F4, BOOL: docs/format.md#dtypes), then name; metadata keys sorted; header padded to 8.
    std::vector<std::uint8_t> w0, w1;
    std::vector<float> a{1.0f, -2.5f, 0.1f, 3.0f, 1e-8f, 65520.0f};
    std::vector<float> b{0.5f, 7.0f, -0.0f, 2.0f, 9.0f, 1.1f};
    for (auto [values, bytes] : {std::pair{&a, &w0}, std::pair{&b, &w1}}) {
      std::vector<std::byte> e(values->size() * 2);
      REQUIRE(st::encode_from_float(*values, st::dtype::BF16, e).has_value());
      for (std::byte x : e) bytes->push_back(std::to_integer<std::uint8_t>(x));
    }
    const std::vector<st_test::tensor_spec> canonical{
        {"step", "I64", {}, {7, 0, 0, 0, 0, 0, 0, 0}},
        {"model.embed", "BF16", {2}, {0x80, 0x3f, 0x00, 0x40}},
        {"model.layers.0.mlp.weight", "BF16", {2, 3}, w0},
        {"model.layers.1.mlp.weight", "BF16", {2, 3}, w1},
        {"model.layers.0.norm", "F16", {2}, {0x00, 0x3c, 0x00, 0xc0}},
        {"empty", "U8", {0}, {}},
        {"packed", "F4", {2, 2}, {0x21, 0x43}},
        {"mask", "BOOL", {3}, {1, 0, 1}},
    };
    const auto expected = st_test::make_file(
        canonical, std::vector<std::pair<std::string, std::string>>{
                       {"dtype", "bfloat16"}, {"format", "pt"}, {"origin", "converted"}});
    CHECK(st_test::read_file(out) == expected);
    // Without --metadata, the input's is kept as it is.
    REQUIRE(run(dir, {"convert", in.string(), out.string()}).code == 0);
    auto kept = st::source_reader::open(out);
    REQUIRE(kept.has_value());
    REQUIRE(kept->header().metadata().has_value());
    CHECK(*kept->header().metadata() == st::metadata_map{{"format", "pt"}, {"origin", "test"}});
    // Without --dtype, a copy: the same bytes as rewrite.
    REQUIRE(run(dir, {"rewrite", in.string(), dir.file("rewritten.safetensors").string()}).code ==
            0);
    CHECK(st_test::read_file(out) == st_test::read_file(dir.file("rewritten.safetensors")));
  }

  TEST_CASE("pieces: any --chunk-size gives the same bytes; F4 rows too") {
    st_test::temp_dir dir;
    std::vector<float> big(3 * 5 * 7);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.37f - 11.0f;
    // F4 rows of 8 elements are cut into pieces; rows of 6 are not (they start mid-byte).
    std::vector<std::uint8_t> f4(16 * 8 / 2);
    for (std::size_t i = 0; i < f4.size(); ++i) f4[i] = static_cast<std::uint8_t>(i * 37 + 5);
    const std::vector<std::uint8_t> f4_rows6(f4.begin(), f4.begin() + 16 * 6 / 2);
    const auto in = dir.file("in.safetensors");
    st_test::write_file(
        in, st_test::make_file({{"big", "F32", {3, 5, 7}, f32_bytes(big)},
                                {"f4", "F4", {16, 8}, f4},
                                {"f4b", "F4", {16, 6}, f4_rows6},
                                {"v", "F32", {9}, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8, 9})}}));
    REQUIRE(run(dir, {"convert", in.string(), dir.file("whole.safetensors").string(), "--dtype",
                      "F16", "--dtype-from", "F32"})
                .code == 0);
    REQUIRE(run(dir, {"convert", in.string(), dir.file("whole32.safetensors").string(), "--dtype",
                      "F32"})
                .code == 0);
    const auto whole = st_test::read_file(dir.file("whole.safetensors"));
    const auto whole32 = st_test::read_file(dir.file("whole32.safetensors"));
    for (const char* size : {"1", "2", "3", "5", "13", "14", "70", "100", "1000"}) {
      CAPTURE(size);
      const auto out = dir.file("p.safetensors");
      REQUIRE(run(dir, {"convert", in.string(), out.string(), "--dtype", "F16", "--dtype-from",
                        "F32", "--chunk-size", size})
                  .code == 0);
      CHECK(st_test::read_file(out) == whole);
      // F4 -> F32 cast in pieces of whole rows (8-element steps, whole bytes).
      REQUIRE(
          run(dir, {"convert", in.string(), out.string(), "--dtype", "F32", "--chunk-size", size})
              .code == 0);
      CHECK(st_test::read_file(out) == whole32);
    }
    // The F4 tensor read as floats equals the decoder's values.
    auto f = st::mapped_file::open(dir.file("whole32.safetensors"));
    REQUIRE(f.has_value());
    auto floats = f->tensor("f4")->as<float>();
    REQUIRE(floats.has_value());
    for (std::size_t i = 0; i < 128; ++i) {
      const std::uint32_t code = (f4[i / 2] >> (4 * (i % 2))) & 0xf;
      const double want = (code & 8 ? -1 : 1) *
                          ((code & 6) == 0 ? (code & 1) * 0.5
                                           : std::ldexp(1.0 + (code & 1) * 0.5,
                                                        static_cast<int>((code >> 1) & 3) - 1));
      CHECK(static_cast<double>((*floats)[i]) == want);
    }
  }

  TEST_CASE("--include, --exclude, --rename; a rename collision writes nothing") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, st_test::make_file(mixed_tensors()));
    const auto out = dir.file("out.safetensors");
    const auto names_of = [&out]() {
      std::vector<std::string> names;
      for (const auto& [name, t] : read_independently(out)) names.push_back(name);
      return names;
    };
    REQUIRE(run(dir, {"convert", in.string(), out.string(), "--include", "model.*"}).code == 0);
    CHECK(names_of() == std::vector<std::string>{"model.embed", "model.layers.0.mlp.weight",
                                                 "model.layers.0.norm",
                                                 "model.layers.1.mlp.weight"});
    REQUIRE(run(dir, {"convert", in.string(), out.string(), "--include", "model.layers.?.*",
                      "--include", "s[a-u]e[!x]", "--exclude", "*norm"})
                .code == 0);
    CHECK(names_of() == std::vector<std::string>{"model.layers.0.mlp.weight",
                                                 "model.layers.1.mlp.weight", "step"});
    // Renames: the first rule that applies, once.
    auto r = run(dir, {"convert", in.string(), out.string(), "--rename", "model.layers.=blocks.",
                       "--rename", "model.=", "--rename", "blocks.=x."});
    REQUIRE(r.code == 0);
    CHECK(names_of() == std::vector<std::string>{"blocks.0.mlp.weight", "blocks.0.norm",
                                                 "blocks.1.mlp.weight", "embed", "empty", "mask",
                                                 "packed", "step"});
    // A collision: exit 2, one line naming both tensors, and the existing OUT left alone.
    const auto before = st_test::read_file(out);
    r = run(dir, {"convert", in.string(), out.string(), "--rename", "model.layers.0.=", "--rename",
                  "model.layers.1.="});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "error: usage: convert: --rename: 'model.layers.0.mlp.weight' and "
          "'model.layers.1.mlp.weight' would both be named 'mlp.weight' (see 'safetensors-cli "
          "convert --help')\n");
    CHECK(st_test::read_file(out) == before);
    CHECK(listing(dir.path()).size() == 4);  // in, out, stdout.txt, stderr.txt: no temporary
    // Nothing selected.
    r = run(dir, {"convert", in.string(), out.string(), "--include", "nothing*"});
    CHECK(r.code == 2);
    CHECK(first_line(r.err) ==
          "error: usage: convert: --include and --exclude leave none of the 8 tensors (see "
          "'safetensors-cli convert --help')");
  }

  TEST_CASE("a cast load() cannot make is a usage error naming the pair; --dtype-from narrows") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, st_test::make_file(mixed_tensors()));
    const auto out = dir.file("out.safetensors");
    // C64 converts to nothing (can_convert), even when named.
    auto tensors = mixed_tensors();
    tensors.push_back({"c", "C64", {1}, f32_bytes({1.0f, 2.0f})});
    tensors.push_back({"d", "C64", {1}, f32_bytes({3.0f, 4.0f})});
    st_test::write_file(in, st_test::make_file(tensors));
    auto r = run(dir, {"convert", in.string(), out.string(), "--dtype", "F32", "--dtype-from",
                       "F16", "--dtype-from", "C64"});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "error: usage: convert: --dtype: cannot cast C64 to F32 (tensor 'c' and 1 other); "
          "--dtype-from chooses the dtypes that are cast (see 'safetensors-cli convert --help')\n");
    CHECK_FALSE(std::filesystem::exists(out));
    // F4 -> BF16: named with its tensor.
    if (!st::can_convert(st::dtype::F4, st::dtype::BF16)) {
      r = run(dir, {"convert", in.string(), out.string(), "--dtype", "bf16", "--include", "p*"});
      CHECK(r.code == 2);
      CAPTURE(r.err);
      CHECK(first_line(r.err).find("cannot cast F4 to BF16 (tensor 'packed')") !=
            std::string::npos);
    }
    // Integer dtypes are cast only when named; then I64 -> F32 is a conversion load() makes.
    r = run(dir,
            {"convert", in.string(), out.string(), "--dtype", "F32", "--dtype-from", "I64,BOOL"});
    REQUIRE(r.code == 0);
    const auto t = read_independently(out);
    CHECK(t.at("step").dtype == "F32");
    CHECK(t.at("step").bytes == f32_bytes({7.0f}));
    CHECK(t.at("mask").bytes == f32_bytes({1.0f, 0.0f, 1.0f}));
    CHECK(t.at("model.embed").dtype == "BF16");  // not named: copied
    CHECK(t.at("packed").dtype == "F4");
  }

  TEST_CASE("--max-shard-size writes a checkpoint that merges back to the single file") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(
        in, st_test::make_file(mixed_tensors(),
                               std::vector<std::pair<std::string, std::string>>{{"format", "pt"}}));
    const auto single = dir.file("single.safetensors");
    REQUIRE(
        run(dir, {"convert", in.string(), single.string(), "--dtype", "F16", "--dtype-from", "F32"})
            .code == 0);
    const auto shards = dir.path() / "shards";
    const auto r =
        run(dir, {"convert", in.string(), shards.string(), "--dtype", "F16", "--dtype-from", "F32",
                  "--max-shard-size", "20B", "--chunk-size", "4"});
    REQUIRE(r.code == 0);
    CHECK(first_line(r.out) == "wrote " + shards.string() +
                                   " (3 shards): 8 tensors (2 cast to F16), 69 -> 45 bytes (69 B "
                                   "-> 45 B)");
    CHECK(r.out.find("\n  model-00003-of-00003.safetensors\n  model.safetensors.index.json\n") !=
          std::string::npos);
    REQUIRE(run(dir, {"validate", shards.string()}).code == 0);
    const auto merged = dir.file("merged.safetensors");
    REQUIRE(run(dir, {"merge", shards.string(), merged.string()}).code == 0);
    CHECK(st_test::read_file(merged) == st_test::read_file(single));
    // A checkpoint as the input, converted again into one file: the same bytes.
    REQUIRE(run(dir, {"convert", shards.string(), dir.file("again.safetensors").string()}).code ==
            0);
    CHECK(st_test::read_file(dir.file("again.safetensors")) == st_test::read_file(single));
  }

  TEST_CASE("usage errors: exit 2, one line, before anything is read or written") {
    st_test::temp_dir dir;
    const std::string in = dir.file("in.safetensors").string();
    st_test::write_file(in, st_test::make_file(mixed_tensors()));
    const std::string out = dir.file("out.safetensors").string();
    const std::string see = " (see 'safetensors-cli convert --help')\n";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--dtype", "F17"}, "--dtype: unknown dtype 'F17' (one of BOOL, F4, "},
        {{"--dtype-from", "F32"}, "--dtype-from needs --dtype, the dtype to cast to"},
        {{"--dtype", "F16", "--dtype-from", "F32,"}, "--dtype-from: unknown dtype ''"},
        {{"--include", "a[b"}, "--include: the pattern 'a[b' has a '[' without ']'"},
        {{"--exclude", "a\\"}, "--exclude: the pattern 'a\\' ends with a lone '\\'"},
        {{"--rename", "ab"}, "--rename needs FROM=TO, got 'ab'"},
        {{"--metadata", "=x"}, "--metadata needs KEY=VALUE, got '=x'"},
        {{"--max-shard-size", "0"}, "--max-shard-size must be at least 1 byte, got '0'"},
        {{"--chunk-size", "0"}, "--chunk-size: the size '0' is not from 1 byte to 1TiB"},
        {{"--align", "7"}, "--align is 7; it must be a power of two from 8 to 65536"},
    };
    for (const auto& c : cases) {
      const std::vector<std::string>& options = c.first;
      const std::string& message = c.second;
      std::vector<std::string> args{"convert", in, out};
      args.insert(args.end(), options.begin(), options.end());
      CAPTURE(message);
      const auto r = run(dir, args);
      CHECK(r.code == 2);
      CHECK(r.out.empty());
      CHECK(r.err.rfind("error: usage: convert: " + message, 0) == 0);
      CHECK(st_test::line_count(r.err) == 1);
      CHECK_FALSE(std::filesystem::exists(out));
    }
    // An invalid input: 1; a missing one: 2.
    st_test::write_file(dir.file("bad.safetensors"), {1, 2, 3});
    auto r = run(dir, {"convert", dir.file("bad.safetensors").string(), out});
    CHECK(r.code == 1);
    CHECK(first_line(r.err).rfind("error: HeaderTooSmall: ", 0) == 0);
    r = run(dir, {"convert", dir.file("missing.safetensors").string(), out});
    CHECK(r.code == 2);
    CHECK(first_line(r.err).rfind("error: IoError: ", 0) == 0);
    // An output that cannot be written: 2 (a name the writer refuses, a missing directory).
    r = run(dir, {"convert", in, out, "--rename", "step=__metadata__"});
    CHECK(r.code == 2);
    CHECK(first_line(r.err).rfind("error: InvalidTensorName: ", 0) == 0);
    r = run(dir, {"convert", in, (dir.path() / "no" / "x.safetensors").string()});
    CHECK(r.code == 2);
    CHECK(first_line(r.err).rfind("error: IoError: cannot write ", 0) == 0);
    CHECK_FALSE(std::filesystem::exists(out));
  }
}

TEST_SUITE("convert pieces and globs") {
  TEST_CASE("pieces() covers a tensor in order, once, each piece one run within the budget") {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 3000; ++trial) {
      const std::size_t rank = rng() % 4;
      std::vector<std::uint64_t> shape;
      for (std::size_t d = 0; d < rank; ++d) shape.push_back(1 + rng() % 9);
      const bool sub_byte = trial % 3 == 0;
      std::uint64_t count = 1;
      for (auto d : shape) count *= d;
      if (sub_byte && count % 8 != 0) shape.push_back(8), count *= 8;
      const std::uint64_t budget = 1 + rng() % 40;
      const auto pieces = safetensors_examples::detail::pieces(shape, budget, sub_byte);
      // Walk the pieces: each slice's elements, as flat indices, must continue the last one.
      std::uint64_t next = 0;
      bool whole = false;
      for (const auto& slice : pieces) {
        if (slice.empty()) {  // the whole tensor
          CHECK(pieces.size() == 1);
          whole = true;
          next = count;
          continue;
        }
        REQUIRE(slice.size() <= shape.size());
        std::uint64_t first = 0, stride = count, elements = 1;
        for (std::size_t d = 0; d < shape.size(); ++d) {
          stride /= shape[d];
          const st::dim_range r = d < slice.size() ? slice[d] : st::dim_range{0, shape[d]};
          REQUIRE(r.start < r.stop);
          REQUIRE(r.stop <= shape[d]);
          first += r.start * stride;
          elements *= r.stop - r.start;
          if (d + 1 < slice.size()) CHECK(r.stop - r.start == 1);  // fixed indices before
        }
        CHECK(first == next);
        next = first + elements;
        if (sub_byte) {
          CHECK(first % 8 == 0);
          CHECK(elements % 8 == 0);
        } else {
          CHECK(elements <= budget);
        }
      }
      CHECK(next == count);
      if (!sub_byte && count > budget) CHECK_FALSE(whole);
    }
  }

  TEST_CASE("glob_match: *, ?, sets, escapes, UTF-8 characters") {
    using safetensors_cli::glob_match;
    CHECK(glob_match("*", ""));
    CHECK(glob_match("*", "a.b.c"));
    CHECK(glob_match("model.*.weight", "model.layers.0.mlp.weight"));
    CHECK_FALSE(glob_match("model.*.weight", "model.layers.0.mlp.bias"));
    CHECK(glob_match("*.0.*", "a.0.b"));
    CHECK_FALSE(glob_match("*.0.*", "a.10.b"));
    CHECK(glob_match("a?c", "abc"));
    CHECK(glob_match("a?c",
                     "a\xc3\xa9"
                     "c"));  // one character, two bytes
    CHECK_FALSE(glob_match("a?c", "ac"));
    CHECK(glob_match("layer[0-3]", "layer2"));
    CHECK_FALSE(glob_match("layer[0-3]", "layer4"));
    CHECK(glob_match("layer[!0-3]", "layer4"));
    CHECK(glob_match("x[]]", "x]"));
    CHECK(glob_match("a\\*", "a*"));
    CHECK_FALSE(glob_match("a\\*", "ab"));
    CHECK(glob_match("**a", "bba"));
    CHECK(glob_match("*a*b*c*", "xaybzc"));
    CHECK_FALSE(glob_match("*a*b*c*", "xaybz"));
    CHECK(safetensors_cli::check_glob("a[b").has_value() == false);
    CHECK(safetensors_cli::check_glob("a[b]*?").has_value());
  }
}
