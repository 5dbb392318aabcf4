// Dtype conversions: element types, exact decoding of every bit pattern of every float dtype,
// encoding float to F16 / BF16 / 8-bit floats, sub-byte unpacking, tensor-level conversion.
//
// The expected values come from an independent formula written here (sign, exponent, mantissa,
// bias, with the special-value rules of each format, computed in double with std::ldexp), from
// brute-force nearest-value searches, or from hand-written constants of the OCP / IEEE specs;
// never from the library's own decoder.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;

namespace {

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%X", static_cast<unsigned>(v));
  return buf;
}

std::uint32_t bits_of(float f) {
  std::uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(std::uint32_t u) {
  float f = 0;
  std::memcpy(&f, &u, 4);
  return f;
}

enum class rule { ieee, fn, fnuz, none };

// A small float format as the specs describe it.
struct format {
  const char* name;
  int e;     // exponent bits
  int m;     // mantissa bits
  int bias;  // exponent bias
  rule r;
};

constexpr format f16_fmt{"F16", 5, 10, 15, rule::ieee};
constexpr format bf16_fmt{"BF16", 8, 7, 127, rule::ieee};
constexpr format e4m3_fmt{"F8_E4M3", 4, 3, 7, rule::fn};
constexpr format e5m2_fmt{"F8_E5M2", 5, 2, 15, rule::ieee};
constexpr format e4m3fnuz_fmt{"F8_E4M3FNUZ", 4, 3, 8, rule::fnuz};
constexpr format e5m2fnuz_fmt{"F8_E5M2FNUZ", 5, 2, 16, rule::fnuz};
constexpr format f4_fmt{"F4", 2, 1, 1, rule::none};
constexpr format f6_e2m3_fmt{"F6_E2M3", 2, 3, 1, rule::none};
constexpr format f6_e3m2_fmt{"F6_E3M2", 3, 2, 3, rule::none};

// The value of `code` in format f, by the textbook formula. NaN is returned as a double NaN with
// the pattern's sign (fnuz: positive).
double reference_value(const format& f, std::uint32_t code) {
  const int width = 1 + f.e + f.m;
  const bool neg = ((code >> (width - 1)) & 1u) != 0;
  const int exp = static_cast<int>((code >> f.m) & ((1u << f.e) - 1));
  const int man = static_cast<int>(code & ((1u << f.m) - 1));
  const int exp_all_ones = (1 << f.e) - 1;
  const int man_all_ones = (1 << f.m) - 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  switch (f.r) {
    case rule::ieee:
      if (exp == exp_all_ones) {
        if (man == 0) return neg ? -inf : inf;
        return neg ? -nan : nan;
      }
      break;
    case rule::fn:
      if (exp == exp_all_ones && man == man_all_ones) return neg ? -nan : nan;
      break;
    case rule::fnuz:
      if (neg && exp == 0 && man == 0) return nan;
      break;
    case rule::none:
      break;
  }
  double magnitude = 0;
  if (exp == 0) {
    magnitude = std::ldexp(static_cast<double>(man), 1 - f.bias - f.m);
  } else {
    magnitude = std::ldexp(1.0 + std::ldexp(static_cast<double>(man), -f.m), exp - f.bias);
  }
  return neg ? -magnitude : magnitude;
}

// The decoded float must be the reference value exactly: same bits for numbers (so -0 != +0),
// NaN with the same sign for NaNs.
void check_decoded(const format& f, std::uint32_t code, float got) {
  const double want = reference_value(f, code);
  INFO(std::string(f.name) << " pattern " << hex(code));
  if (std::isnan(want)) {
    CHECK(std::isnan(got));
    CHECK(std::signbit(got) == std::signbit(want));
  } else {
    REQUIRE(static_cast<double>(static_cast<float>(want)) == want);  // every value fits a float
    CHECK(bits_of(got) == bits_of(static_cast<float>(want)));
  }
}

// An aligned little-endian byte buffer holding values written byte by byte.
std::vector<std::byte> le_bytes(const std::vector<std::uint32_t>& values, std::size_t width) {
  std::vector<std::byte> out;
  for (std::uint32_t v : values) {
    for (std::size_t k = 0; k < width; ++k)
      out.push_back(static_cast<std::byte>((v >> (8 * k)) & 0xFFu));
  }
  return out;
}

// A tensor_view over `bytes` with a 1-D shape of `count` elements.
struct owned_view {
  std::vector<std::byte> bytes;
  std::vector<std::uint64_t> shape;
  st::tensor_view view(st::dtype t) const {
    std::uint64_t count = 1;
    for (std::uint64_t d : shape) count *= d;
    return st::tensor_view(st::tensor_info("t", t, st::span<const std::uint64_t>(shape),
                                           st::data_offsets{0, bytes.size()}, count),
                           st::span<const std::byte>(bytes));
  }
};

template <class T>
std::string outcome(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}

}  // namespace

TEST_CASE("decode: all 65,536 F16 patterns against the IEEE binary16 formula") {
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const float got = st::f16_bits_to_float(static_cast<std::uint16_t>(c));
    const double want = reference_value(f16_fmt, c);
    if (std::isnan(want) || bits_of(got) != bits_of(static_cast<float>(want))) {
      check_decoded(f16_fmt, c, got);  // reports the failure (or checks NaN)
    }
    if (std::isnan(want)) {  // NaN payload kept: the 10 mantissa bits move to the top of float's 23
      CHECK(((bits_of(got) >> 13) & 0x3FFu) == (c & 0x3FFu));
    }
  }
  // Hand-written anchors: 1.0, -2.0, 65504 (max), 2^-14 (min normal), 2^-24 (min subnormal), inf.
  CHECK(st::f16_bits_to_float(0x3C00) == 1.0f);
  CHECK(st::f16_bits_to_float(0xC000) == -2.0f);
  CHECK(st::f16_bits_to_float(0x7BFF) == 65504.0f);
  CHECK(st::f16_bits_to_float(0x0400) == std::ldexp(1.0f, -14));
  CHECK(st::f16_bits_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(st::f16_bits_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(bits_of(st::f16_bits_to_float(0x8000)) == 0x80000000u);
}

TEST_CASE("decode: all 65,536 BF16 patterns against the bfloat16 formula") {
  for (std::uint32_t c = 0; c < 65536; ++c) {
    const float got = st::bf16_bits_to_float(static_cast<std::uint16_t>(c));
    const double want = reference_value(bf16_fmt, c);
    if (std::isnan(want) || bits_of(got) != bits_of(static_cast<float>(want))) {
      check_decoded(bf16_fmt, c, got);
    }
  }
  CHECK(st::bf16_bits_to_float(0x3F80) == 1.0f);
  CHECK(st::bf16_bits_to_float(0xBF00) == -0.5f);
  CHECK(st::bf16_bits_to_float(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
}

TEST_CASE("decode: every pattern of every 8-bit and sub-byte float dtype") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    const auto b = static_cast<std::uint8_t>(c);
    check_decoded(e4m3_fmt, c, st::f8_e4m3_bits_to_float(b));
    check_decoded(e5m2_fmt, c, st::f8_e5m2_bits_to_float(b));
    check_decoded(e4m3fnuz_fmt, c, st::f8_e4m3fnuz_bits_to_float(b));
    check_decoded(e5m2fnuz_fmt, c, st::f8_e5m2fnuz_bits_to_float(b));
    // E8M0: 2^(c - 127), 0xFF is NaN.
    const float e8 = st::f8_e8m0_bits_to_float(b);
    if (c == 0xFF) {
      CHECK(std::isnan(e8));
    } else {
      CHECK(static_cast<double>(e8) == std::ldexp(1.0, static_cast<int>(c) - 127));
    }
  }
  for (std::uint32_t c = 0; c < 16; ++c)
    check_decoded(f4_fmt, c, st::f4_bits_to_float(static_cast<std::uint8_t>(c)));
  for (std::uint32_t c = 0; c < 64; ++c) {
    check_decoded(f6_e2m3_fmt, c, st::f6_e2m3_bits_to_float(static_cast<std::uint8_t>(c)));
    check_decoded(f6_e3m2_fmt, c, st::f6_e3m2_bits_to_float(static_cast<std::uint8_t>(c)));
  }
  // Only the low bits count for the sub-byte decoders.
  CHECK(st::f4_bits_to_float(0xF2) == st::f4_bits_to_float(0x02));
  CHECK(st::f6_e3m2_bits_to_float(0xC5) == st::f6_e3m2_bits_to_float(0x05));

  // Hand-written anchors from the OCP specs.
  CHECK(st::f8_e4m3_bits_to_float(0x7E) == 448.0f);
  CHECK(std::isnan(st::f8_e4m3_bits_to_float(0x7F)));
  CHECK(std::isnan(st::f8_e4m3_bits_to_float(0xFF)));
  CHECK(st::f8_e4m3_bits_to_float(0x78) == 256.0f);  // S.1111.000 is a number in E4M3FN
  CHECK(st::f8_e4m3_bits_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(st::f8_e5m2_bits_to_float(0x7B) == 57344.0f);
  CHECK(st::f8_e5m2_bits_to_float(0x7C) == std::numeric_limits<float>::infinity());
  CHECK(st::f8_e5m2_bits_to_float(0xFC) == -std::numeric_limits<float>::infinity());
  CHECK(st::f8_e5m2_bits_to_float(0x01) == std::ldexp(1.0f, -16));
  CHECK(st::f8_e4m3fnuz_bits_to_float(0x7F) == 240.0f);
  CHECK(std::isnan(st::f8_e4m3fnuz_bits_to_float(0x80)));
  CHECK(st::f8_e4m3fnuz_bits_to_float(0xFF) == -240.0f);
  CHECK(st::f8_e5m2fnuz_bits_to_float(0x7F) == 57344.0f);
  CHECK(st::f8_e5m2fnuz_bits_to_float(0x7C) == 32768.0f);  // no infinity in FNUZ
  CHECK(st::f8_e8m0_bits_to_float(0x7F) == 1.0f);
  CHECK(st::f8_e8m0_bits_to_float(0x00) == std::ldexp(1.0f, -127));
  const float f4_values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (std::uint8_t i = 0; i < 8; ++i) {
    CHECK(st::f4_bits_to_float(i) == f4_values[i]);
    CHECK(st::f4_bits_to_float(static_cast<std::uint8_t>(i | 8)) == -f4_values[i]);
  }
  CHECK(st::f6_e2m3_bits_to_float(0x1F) == 7.5f);
  CHECK(st::f6_e2m3_bits_to_float(0x01) == 0.125f);
  CHECK(st::f6_e3m2_bits_to_float(0x1F) == 28.0f);
  CHECK(st::f6_e3m2_bits_to_float(0x01) == 0.0625f);
}

namespace {

// One encodable format: its spec, its decoder and its encoder with an overflow mode.
struct codec {
  format f;
  float (*decode)(std::uint32_t);
  std::uint32_t (*encode)(float, st::overflow_mode);
  std::uint32_t max_code;  // the largest finite positive pattern
  bool has_inf;
  bool has_modes;  // F16/BF16 have no saturating mode
};

std::vector<codec> codecs() {
  return {
      {f16_fmt,
       [](std::uint32_t c) { return st::f16_bits_to_float(static_cast<std::uint16_t>(c)); },
       [](float x, st::overflow_mode) -> std::uint32_t { return st::float_to_f16_bits(x); }, 0x7BFF,
       true, false},
      {bf16_fmt,
       [](std::uint32_t c) { return st::bf16_bits_to_float(static_cast<std::uint16_t>(c)); },
       [](float x, st::overflow_mode) -> std::uint32_t { return st::float_to_bf16_bits(x); },
       0x7F7F, true, false},
      {e4m3_fmt,
       [](std::uint32_t c) { return st::f8_e4m3_bits_to_float(static_cast<std::uint8_t>(c)); },
       [](float x, st::overflow_mode m) -> std::uint32_t {
         return st::float_to_f8_e4m3_bits(x, m);
       },
       0x7E, false, true},
      {e5m2_fmt,
       [](std::uint32_t c) { return st::f8_e5m2_bits_to_float(static_cast<std::uint8_t>(c)); },
       [](float x, st::overflow_mode m) -> std::uint32_t {
         return st::float_to_f8_e5m2_bits(x, m);
       },
       0x7B, true, true},
      {e4m3fnuz_fmt,
       [](std::uint32_t c) { return st::f8_e4m3fnuz_bits_to_float(static_cast<std::uint8_t>(c)); },
       [](float x, st::overflow_mode m) -> std::uint32_t {
         return st::float_to_f8_e4m3fnuz_bits(x, m);
       },
       0x7F, false, true},
      {e5m2fnuz_fmt,
       [](std::uint32_t c) { return st::f8_e5m2fnuz_bits_to_float(static_cast<std::uint8_t>(c)); },
       [](float x, st::overflow_mode m) -> std::uint32_t {
         return st::float_to_f8_e5m2fnuz_bits(x, m);
       },
       0x7F, false, true},
  };
}

constexpr st::overflow_mode non_sat = st::overflow_mode::non_saturating;
constexpr st::overflow_mode sat = st::overflow_mode::saturating;

std::uint32_t sign_bit_of(const format& f) { return 1u << (f.e + f.m); }

bool is_nan_code(const codec& c, std::uint32_t code) {
  return std::isnan(reference_value(c.f, code));
}

}  // namespace

TEST_CASE("encode: decode(encode(x)) == x for every representable value, both modes") {
  for (const codec& c : codecs()) {
    INFO(std::string(c.f.name));
    const std::uint32_t count = 1u << (1 + c.f.e + c.f.m);
    for (std::uint32_t code = 0; code < count; ++code) {
      const double v = reference_value(c.f, code);
      if (std::isnan(v)) continue;
      const float x = static_cast<float>(v);
      for (st::overflow_mode mode : {non_sat, sat}) {
        if (std::isinf(v) && mode == sat) continue;  // infinities saturate (tested below)
        const std::uint32_t got = c.encode(x, mode);
        if (got != code) {
          INFO("pattern " << hex(code) << " value " << v << " encoded as " << hex(got));
          CHECK(got == code);
        }
      }
    }
  }
}

TEST_CASE("encode: midpoints round to even, one float either side rounds to the nearer value") {
  for (const codec& c : codecs()) {
    INFO(std::string(c.f.name));
    const float inf = std::numeric_limits<float>::infinity();
    // Consecutive positive finite patterns a < b (a pattern's successor is the next magnitude).
    for (std::uint32_t a = 0; a < c.max_code; ++a) {
      const std::uint32_t b = a + 1;
      const double va = reference_value(c.f, a);
      const double vb = reference_value(c.f, b);
      const auto mid = static_cast<float>((va + vb) / 2);
      if (static_cast<double>(mid) != (va + vb) / 2) {  // midpoints are floats in these formats
        FAIL("midpoint above " << hex(a) << " is not a float");
      }
      const std::uint32_t even = (a % 2 == 0) ? a : b;
      const std::uint32_t sign = sign_bit_of(c.f);
      // Negative side: same magnitudes with the sign bit, except FNUZ's zero has no sign.
      const std::uint32_t neg_even = (even == 0 && c.f.r == rule::fnuz) ? 0 : (even | sign);
      const std::uint32_t neg_a = (a == 0 && c.f.r == rule::fnuz) ? 0 : (a | sign);
      const float below = std::nextafter(mid, 0.0f);
      const float above = std::nextafter(mid, inf);
      for (st::overflow_mode mode : {non_sat, sat}) {
        // (Checked as one condition first: ~400k comparisons stay fast in Debug builds.)
        const bool ok = c.encode(mid, mode) == even && c.encode(below, mode) == a &&
                        c.encode(above, mode) == b && c.encode(-mid, mode) == neg_even &&
                        c.encode(-below, mode) == neg_a && c.encode(-above, mode) == (b | sign);
        if (ok) continue;
        INFO("between " << hex(a) << " and " << hex(b));
        CHECK(c.encode(mid, mode) == even);
        CHECK(c.encode(below, mode) == a);
        CHECK(c.encode(above, mode) == b);
        CHECK(c.encode(-mid, mode) == neg_even);
        CHECK(c.encode(-below, mode) == neg_a);
        CHECK(c.encode(-above, mode) == (b | sign));
      }
    }
  }
}

TEST_CASE("encode: random floats go to the nearest pattern (brute force over all 8-bit patterns)") {
  std::mt19937 rng(12345);
  for (const codec& c : codecs()) {
    if (c.f.e + c.f.m + 1 != 8) continue;
    INFO(std::string(c.f.name));
    std::vector<std::pair<double, std::uint32_t>> finite;  // value, pattern
    for (std::uint32_t code = 0; code < 256; ++code) {
      const double v = reference_value(c.f, code);
      if (std::isfinite(v)) finite.emplace_back(v, code);
    }
    const double max = reference_value(c.f, c.max_code);
    std::uniform_int_distribution<int> exp_dist(-(c.f.bias + c.f.m + 3), c.f.bias + 3);
    std::uniform_real_distribution<double> frac(1.0, 2.0);
    for (int i = 0; i < 4000; ++i) {
      const auto x = static_cast<float>(std::ldexp(frac(rng), exp_dist(rng)) * (i % 2 ? -1 : 1));
      // The reference: the nearest finite value; on a tie the pattern with an even mantissa.
      double best_d = std::numeric_limits<double>::infinity();
      std::uint32_t best = 0;
      for (const auto& [v, code] : finite) {
        const bool zero_for_both = v == 0 && c.f.r == rule::fnuz;  // FNUZ has only +0
        if (std::signbit(v) != std::signbit(static_cast<double>(x)) && !zero_for_both) continue;
        const double d = std::fabs(static_cast<double>(x) - v);
        if (d < best_d || (d == best_d && (code & 1u) == 0)) {
          best_d = d;
          best = code;
        }
      }
      // Beyond the largest finite value: rounding is done as if the exponent range were
      // unbounded; a result beyond max overflows (half an ulp of max above it).
      const double ulp_max =
          reference_value(c.f, c.max_code) - reference_value(c.f, c.max_code - 1);
      const double ax = std::fabs(static_cast<double>(x));
      const bool max_even = (c.max_code & 1u) == 0;
      const bool overflows = ax > max + ulp_max / 2 || (ax == max + ulp_max / 2 && !max_even);
      const std::uint32_t sign = x < 0 ? sign_bit_of(c.f) : 0u;
      INFO("x = " << x);
      if (overflows) {
        CHECK(c.encode(x, sat) == (sign | c.max_code));
        const std::uint32_t got = c.encode(x, non_sat);
        if (c.has_inf) {
          CHECK(reference_value(c.f, got) ==
                (x < 0 ? -1 : 1) * std::numeric_limits<double>::infinity());
        } else {
          CHECK(is_nan_code(c, got));
        }
      } else {
        CHECK(c.encode(x, non_sat) == best);
        CHECK(c.encode(x, sat) == best);
      }
    }
  }
}

TEST_CASE("encode: F16 and BF16 pick the nearer neighbour for random floats") {
  std::mt19937 rng(777);
  std::uniform_int_distribution<std::uint32_t> any(0, 0xFFFFFFFFu);
  for (const codec& c : codecs()) {
    if (c.f.e + c.f.m + 1 != 16) continue;
    INFO(std::string(c.f.name));
    for (int i = 0; i < 20000; ++i) {
      // Floats from the format's whole range: random mantissa bits, exponents near the range.
      // (F16: float exponents 100..154 cover its subnormals, normals and overflow; BF16 covers
      // float's whole range, so any exponent but NaN/infinity's.)
      std::uint32_t u = any(rng);
      const std::uint32_t e = c.f.e == 5 ? 100 + any(rng) % 55 : any(rng) % 255;
      u = (u & 0x807FFFFFu) | (e << 23);
      const float x = float_of(u);
      const std::uint32_t got = c.encode(x, non_sat);
      const double v = reference_value(c.f, got);
      const double dx = static_cast<double>(x);
      INFO("x bits " << hex(u) << " -> " << hex(got));
      REQUIRE(!std::isnan(v));
      if (std::isinf(v)) {  // overflow: x is at least max + ulp/2
        const double max = reference_value(c.f, c.max_code);
        const double half_ulp = (max - reference_value(c.f, c.max_code - 1)) / 2;
        CHECK(std::fabs(dx) >= max + half_ulp);
        continue;
      }
      CHECK(std::signbit(v) == std::signbit(dx));
      const std::uint32_t mag = got & ~sign_bit_of(c.f);
      const double err = std::fabs(dx - v);
      // Neither neighbour pattern is nearer; on a tie the mantissa is even.
      for (const std::uint32_t n : {mag - 1, mag + 1}) {
        if (mag == 0 && n == mag - 1) continue;
        if (n > c.max_code) continue;
        const double vn = reference_value(c.f, n | (got & sign_bit_of(c.f)));
        const double errn = std::fabs(dx - vn);
        CHECK(err <= errn);
        if (err == errn) CHECK((got & 1u) == 0);
      }
    }
  }
}

TEST_CASE("encode: overflow, infinities, NaN, zeros and tiny values") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // E4M3: max 448, next step would be 480; midpoint 464 ties to 448 (even mantissa 110).
  CHECK(st::float_to_f8_e4m3_bits(464.0f) == 0x7E);
  CHECK(st::float_to_f8_e4m3_bits(465.0f) == 0x7F);  // PyTorch default: NaN
  CHECK(st::float_to_f8_e4m3_bits(465.0f, sat) == 0x7E);
  CHECK(st::float_to_f8_e4m3_bits(-1e6f) == 0xFF);
  CHECK(st::float_to_f8_e4m3_bits(-1e6f, sat) == 0xFE);
  CHECK(st::float_to_f8_e4m3_bits(inf) == 0x7F);
  CHECK(st::float_to_f8_e4m3_bits(inf, sat) == 0x7E);
  CHECK(st::float_to_f8_e4m3_bits(-inf, sat) == 0xFE);
  CHECK(st::float_to_f8_e4m3_bits(nan) == 0x7F);
  CHECK(st::float_to_f8_e4m3_bits(nan, sat) == 0x7F);
  CHECK(st::float_to_f8_e4m3_bits(-nan) == 0xFF);
  CHECK(st::float_to_f8_e4m3_bits(0.1f) == 0x1D);  // 1.101b * 2^-4 = 0.1015625
  CHECK(st::float_to_f8_e4m3_bits(-0.0f) == 0x80);
  // Smallest subnormal 2^-9: half of it ties to zero (even), just above rounds up.
  CHECK(st::float_to_f8_e4m3_bits(std::ldexp(1.0f, -10)) == 0x00);
  CHECK(st::float_to_f8_e4m3_bits(std::nextafter(std::ldexp(1.0f, -10), 1.0f)) == 0x01);
  CHECK(st::float_to_f8_e4m3_bits(-std::ldexp(1.0f, -10)) == 0x80);
  CHECK(st::float_to_f8_e4m3_bits(std::ldexp(3.0f, -10)) == 0x02);  // 1.5 ulps ties to 2 (even)
  CHECK(st::float_to_f8_e4m3_bits(std::numeric_limits<float>::denorm_min()) == 0x00);
  // Largest subnormal 7*2^-9 rounds up into the smallest normal 2^-6 at its midpoint 7.5*2^-9.
  CHECK(st::float_to_f8_e4m3_bits(std::ldexp(7.5f, -9)) == 0x08);

  // E5M2: max 57344 (odd mantissa 11): the midpoint 61440 goes up, i.e. overflows.
  CHECK(st::float_to_f8_e5m2_bits(61440.0f) == 0x7C);
  CHECK(st::float_to_f8_e5m2_bits(61439.0f) == 0x7B);
  CHECK(st::float_to_f8_e5m2_bits(61440.0f, sat) == 0x7B);
  CHECK(st::float_to_f8_e5m2_bits(-inf) == 0xFC);
  CHECK(st::float_to_f8_e5m2_bits(-inf, sat) == 0xFB);
  CHECK(st::float_to_f8_e5m2_bits(1e30f, sat) == 0x7B);
  CHECK(st::float_to_f8_e5m2_bits(nan) == 0x7F);
  CHECK(std::isnan(st::f8_e5m2_bits_to_float(st::float_to_f8_e5m2_bits(-nan, sat))));

  // FNUZ: one NaN (0x80) for NaN, infinities and non-saturated overflow; no negative zero.
  CHECK(st::float_to_f8_e4m3fnuz_bits(nan) == 0x80);
  CHECK(st::float_to_f8_e4m3fnuz_bits(-inf) == 0x80);
  CHECK(st::float_to_f8_e4m3fnuz_bits(-inf, sat) == 0xFF);
  CHECK(st::float_to_f8_e4m3fnuz_bits(1000.0f) == 0x80);
  CHECK(st::float_to_f8_e4m3fnuz_bits(1000.0f, sat) == 0x7F);
  CHECK(st::float_to_f8_e4m3fnuz_bits(-0.0f) == 0x00);
  CHECK(st::float_to_f8_e4m3fnuz_bits(-1e-30f) == 0x00);
  CHECK(st::float_to_f8_e5m2fnuz_bits(1e30f) == 0x80);
  CHECK(st::float_to_f8_e5m2fnuz_bits(-1e30f, sat) == 0xFF);

  // F16 / BF16: overflow to infinity, NaN stays NaN (quiet, sign kept), tiny to signed zero.
  CHECK(st::float_to_f16_bits(65519.0f) == 0x7BFF);
  CHECK(st::float_to_f16_bits(65520.0f) == 0x7C00);
  CHECK(st::float_to_f16_bits(-inf) == 0xFC00);
  CHECK(st::float_to_f16_bits(std::ldexp(1.0f, -25)) == 0x0000);
  CHECK(st::float_to_f16_bits(-std::ldexp(1.0f, -25)) == 0x8000);
  CHECK(st::float_to_f16_bits(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(st::float_to_f16_bits(0.1f) == 0x2E66);
  CHECK(st::float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7F80);
  CHECK(st::float_to_bf16_bits(1.00390625f) == 0x3F80);  // 1 + 2^-8: tie, to even 1.0
  CHECK(st::float_to_bf16_bits(1.01171875f) == 0x3F82);  // 1 + 3*2^-8: tie, to even 1 + 2^-6
  CHECK(st::float_to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  for (const float n : {nan, -nan, float_of(0x7F800001u), float_of(0xFFA00000u)}) {
    const std::uint16_t h = st::float_to_f16_bits(n);
    const std::uint16_t b = st::float_to_bf16_bits(n);
    CHECK((h & 0x7C00) == 0x7C00);
    CHECK((h & 0x0200) != 0);  // quiet
    CHECK((h >> 15) == (bits_of(n) >> 31));
    CHECK((b & 0x7F80) == 0x7F80);
    CHECK((b & 0x0040) != 0);  // quiet
    CHECK((b >> 15) == (bits_of(n) >> 31));
  }
}

TEST_CASE("element types: layout, dtype_of, conversions, typed views") {
  static_assert(std::is_trivially_copyable_v<st::bf16> && sizeof(st::bf16) == 2);
  static_assert(std::is_trivially_copyable_v<st::f16> && sizeof(st::f16) == 2);
  static_assert(std::is_trivially_copyable_v<st::f8_e4m3> && sizeof(st::f8_e4m3) == 1);
  static_assert(std::is_trivially_copyable_v<st::f8_e5m2> && sizeof(st::f8_e5m2) == 1);
  static_assert(std::is_trivially_copyable_v<st::f8_e4m3fnuz> && sizeof(st::f8_e4m3fnuz) == 1);
  static_assert(std::is_trivially_copyable_v<st::f8_e5m2fnuz> && sizeof(st::f8_e5m2fnuz) == 1);
  static_assert(std::is_trivially_copyable_v<st::f8_e8m0> && sizeof(st::f8_e8m0) == 1);
  static_assert(st::dtype_of<st::bf16>::value == st::dtype::BF16);
  static_assert(st::dtype_of<st::f16>::value == st::dtype::F16);
  static_assert(st::dtype_of<st::f8_e4m3>::value == st::dtype::F8_E4M3);
  static_assert(st::dtype_of<st::f8_e5m2>::value == st::dtype::F8_E5M2);
  static_assert(st::dtype_of<st::f8_e4m3fnuz>::value == st::dtype::F8_E4M3FNUZ);
  static_assert(st::dtype_of<st::f8_e5m2fnuz>::value == st::dtype::F8_E5M2FNUZ);
  static_assert(st::dtype_of<st::f8_e8m0>::value == st::dtype::F8_E8M0);
  static_assert(st::dtype_of<st::c64>::value == st::dtype::C64);
  static_assert(!std::is_constructible_v<st::f8_e8m0, float>);  // no encoder for E8M0
  static_assert(st::bf16::from_bits(0x3F80).bits() == 0x3F80);

  CHECK(static_cast<float>(st::bf16(1.0f)) == 1.0f);
  CHECK(st::bf16(1.0f).bits() == 0x3F80);
  CHECK(st::f16(-2.0f).bits() == 0xC000);
  CHECK(st::f8_e4m3(1000.0f).bits() == 0x7F);
  CHECK(st::f8_e4m3(1000.0f, sat).bits() == 0x7E);
  const float widened = st::f8_e5m2::from_bits(0x3C);  // implicit: 1.0
  CHECK(widened == 1.0f);

  // A file with BF16 1, 2, -0.5, 0.25 (hand-written little-endian bytes), F16, F8 and C64.
  std::vector<st_test::tensor_spec> specs = {
      {"b", "BF16", {4}, {0x80, 0x3F, 0x00, 0x40, 0x00, 0xBF, 0x80, 0x3E}},
      {"h", "F16", {2}, {0x00, 0x3C, 0x00, 0xC0}},                          // 1, -2
      {"e4", "F8_E4M3", {3}, {0x38, 0x7E, 0xFF}},                           // 1, 448, NaN
      {"e8", "F8_E8M0", {2}, {0x7F, 0x80}},                                 // 1, 2
      {"c", "C64", {1}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0}},  // 1 - 2i
  };
  const std::vector<std::uint8_t> file = st_test::make_file(specs);
  auto f = st::parse(st::as_bytes(file));
  REQUIRE(f);
  auto b = f->tensor("b")->as<st::bf16>();
  REQUIRE(b);
  REQUIRE(b->size() == 4);
  CHECK((*b)[0] == 1.0f);
  CHECK((*b)[1] == 2.0f);
  CHECK((*b)[2] == -0.5f);
  CHECK((*b)[3] == 0.25f);
  CHECK((*b)[2].bits() == 0xBF00);
  CHECK(outcome(f->tensor("b")->as<st::f16>()) == "DtypeMismatch");
  auto h = f->tensor("h")->as<st::f16>();
  REQUIRE(h);
  CHECK((*h)[1] == -2.0f);
  auto e4 = f->tensor("e4")->as<st::f8_e4m3>();
  REQUIRE(e4);
  CHECK((*e4)[1] == 448.0f);
  CHECK(std::isnan(static_cast<float>((*e4)[2])));
  auto e8 = f->tensor("e8")->as<st::f8_e8m0>();
  REQUIRE(e8);
  CHECK((*e8)[1] == 2.0f);
  auto c = st::to_complex(*f->tensor("c"));
  REQUIRE(c);
  CHECK((*c)[0] == std::complex<float>(1.0f, -2.0f));
  CHECK(outcome(st::to_complex(*f->tensor("b"))) == "DtypeMismatch");
}

TEST_CASE("to_float: every dtype, little-endian bytes written by hand") {
  struct row {
    const char* dtype;
    std::vector<std::uint64_t> shape;
    std::vector<std::uint8_t> data;
    std::vector<float> want;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<row> rows = {
      {"BOOL", {4}, {0, 1, 2, 0xFF}, {0, 1, 1, 1}},
      {"U8", {3}, {0, 200, 255}, {0, 200, 255}},
      {"I8", {3}, {0x7F, 0x80, 0xFF}, {127, -128, -1}},
      {"I16", {2}, {0x34, 0x12, 0x00, 0x80}, {4660, -32768}},
      {"U16", {2}, {0x34, 0x12, 0xFF, 0xFF}, {4660, 65535}},
      {"I32", {2}, {0xFE, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x80}, {-2, -2147483648.0f}},
      {"U32", {1}, {0x01, 0x00, 0x00, 0x01}, {16777217.0f}},  // rounds to 2^24 (nearest even)
      {"I64", {1}, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, {-1}},
      {"U64", {1}, {0, 0, 0, 0, 0, 0, 0, 0x80}, {9223372036854775808.0f}},
      {"F32", {2}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0}, {1.0f, -2.5f}},
      {"F64", {1}, {0, 0, 0, 0, 0, 0, 0xE0, 0xBF}, {-0.5f}},
      {"F16",
       {3},
       {0x00, 0x3C, 0x01, 0x00, 0x00, 0xFC},
       {1.0f, std::ldexp(1.0f, -24), -std::numeric_limits<float>::infinity()}},
      {"BF16", {2}, {0x80, 0x3F, 0xC0, 0x7F}, {1.0f, nan}},
      {"F8_E4M3", {3}, {0x38, 0xB8, 0x7F}, {1.0f, -1.0f, nan}},
      {"F8_E5M2", {2}, {0x3C, 0x7C}, {1.0f, std::numeric_limits<float>::infinity()}},
      {"F8_E4M3FNUZ", {2}, {0x40, 0x80}, {1.0f, nan}},
      {"F8_E5M2FNUZ", {2}, {0x40, 0x80}, {1.0f, nan}},
      {"F8_E8M0", {2}, {0x7F, 0xFF}, {1.0f, nan}},
      // F4: element 0 in the low nibble. 0x21: e0 = 1 (0.5), e1 = 2 (1.0); 0xF7: 6, -6.
      {"F4", {2, 2}, {0x21, 0xF7}, {0.5f, 1.0f, 6.0f, -6.0f}},
      // F6_E2M3, four values in three LSB-first bytes: 0x08 (1.0), 0x1F (7.5), 0x20 (-0),
      // 0x3F (-7.5): w = 0x08 | 0x1F<<6 | 0x20<<12 | 0x3F<<18 = 0xFE07C8.
      {"F6_E2M3", {4}, {0xC8, 0x07, 0xFE}, {1.0f, 7.5f, -0.0f, -7.5f}},
      // F6_E3M2: 0x0C (1.0), 0x1F (28), 0x01 (0.0625), 0x2C (-1): w = 0xB017CC.
      {"F6_E3M2", {4}, {0xCC, 0x17, 0xB0}, {1.0f, 28.0f, 0.0625f, -1.0f}},
  };
  std::vector<st_test::tensor_spec> specs;
  for (const row& r : rows) specs.push_back({r.dtype, r.dtype, r.shape, r.data});
  const std::vector<std::uint8_t> file = st_test::make_file(specs);
  auto f = st::parse(st::as_bytes(file));
  REQUIRE(f);
  for (const row& r : rows) {
    INFO(r.dtype);
    auto v = f->tensor(r.dtype);
    REQUIRE(v);
    auto got = st::to_float(*v);
    REQUIRE(got);
    REQUIRE(got->size() == r.want.size());
    for (std::size_t i = 0; i < r.want.size(); ++i) {
      INFO("element " << i);
      if (std::isnan(r.want[i])) {
        CHECK(std::isnan((*got)[i]));
      } else {
        CHECK(bits_of((*got)[i]) == bits_of(r.want[i]));
      }
    }
  }
  // C64 is not a float dtype.
  std::vector<st_test::tensor_spec> c64 = {{"c", "C64", {1}, std::vector<std::uint8_t>(8, 0)}};
  const auto cfile = st_test::make_file(c64);
  auto cf = st::parse(st::as_bytes(cfile));
  REQUIRE(cf);
  CHECK(outcome(st::to_float(*cf->tensor("c"))) == "DtypeMismatch");
}

TEST_CASE("to_float: whole tensors of every pattern match the scalar decoders (block loops)") {
  // 65,536 F16 and BF16 patterns in order, plus an unaligned start (offset 1).
  std::vector<std::uint32_t> all16(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) all16[i] = i;
  for (const char* name : {"F16", "BF16"}) {
    const st::dtype t = *st::dtype_from_string(name);
    owned_view ov{le_bytes(all16, 2), {65536}};
    ov.bytes.insert(ov.bytes.begin(), std::byte{0});  // misalign
    const st::tensor_view v(
        st::tensor_info("t", t, st::span<const std::uint64_t>(ov.shape), {0, 131072}, 65536),
        st::span<const std::byte>(ov.bytes.data() + 1, 131072));
    std::vector<float> out(65536);
    REQUIRE(st::to_float(v, st::span<float>(out)));
    for (std::uint32_t i = 0; i < 65536; ++i) {
      const format& fm = t == st::dtype::F16 ? f16_fmt : bf16_fmt;
      const double want = reference_value(fm, i);
      if (std::isnan(want)) {
        if (!std::isnan(out[i])) CHECK(std::isnan(out[i]));
      } else if (bits_of(out[i]) != bits_of(static_cast<float>(want))) {
        INFO(std::string(name) << " " << hex(i));
        CHECK(bits_of(out[i]) == bits_of(static_cast<float>(want)));
      }
    }
  }
  // Every byte for the 8-bit float dtypes, repeated past one block.
  std::vector<std::uint32_t> all8(1000);
  for (std::uint32_t i = 0; i < all8.size(); ++i) all8[i] = (i * 7u) % 256u;
  const std::pair<const char*, const format*> eight[] = {{"F8_E4M3", &e4m3_fmt},
                                                         {"F8_E5M2", &e5m2_fmt},
                                                         {"F8_E4M3FNUZ", &e4m3fnuz_fmt},
                                                         {"F8_E5M2FNUZ", &e5m2fnuz_fmt}};
  for (const auto& entry : eight) {
    const char* const name = entry.first;
    const format* const fm = entry.second;
    owned_view ov{le_bytes(all8, 1), {1000}};
    std::vector<float> out(1000);
    REQUIRE(st::to_float(ov.view(*st::dtype_from_string(name)), st::span<float>(out)));
    for (std::size_t i = 0; i < all8.size(); ++i) {
      const double want = reference_value(*fm, all8[i]);
      INFO(std::string(name) << " " << i);
      if (std::isnan(want)) {
        CHECK(std::isnan(out[i]));
      } else {
        CHECK(bits_of(out[i]) == bits_of(static_cast<float>(want)));
      }
    }
  }
  // F4 and F6: every pattern in every position of a group, via an independent packer.
  for (const auto& entry : {std::tuple<const char*, const format*, unsigned>{"F4", &f4_fmt, 4},
                            {"F6_E2M3", &f6_e2m3_fmt, 6},
                            {"F6_E3M2", &f6_e3m2_fmt, 6}}) {
    const char* const name = std::get<0>(entry);
    const format* const fm = std::get<1>(entry);
    const unsigned bits = std::get<2>(entry);
    INFO(std::string(name));
    std::vector<std::uint32_t> codes;
    for (std::uint32_t rep = 0; rep < 4; ++rep) {
      for (std::uint32_t c = 0; c < (1u << bits); ++c) codes.push_back((c + rep) % (1u << bits));
    }
    codes.push_back(5);  // a partial group at the end (read only through decode_to_float)
    std::vector<std::byte> packed((codes.size() * bits + 7) / 8);
    for (std::size_t i = 0; i < codes.size(); ++i) {
      for (unsigned k = 0; k < bits; ++k) {  // stream bit i*bits+k = bit k of element i
        const std::size_t bit = i * bits + k;
        if ((codes[i] >> k) & 1u) packed[bit / 8] |= static_cast<std::byte>(1u << (bit % 8));
      }
    }
    std::vector<float> out(codes.size());
    REQUIRE(st::decode_to_float(*st::dtype_from_string(name), packed, st::span<float>(out)));
    for (std::size_t i = 0; i < codes.size(); ++i) {
      INFO("element " << i);
      CHECK(bits_of(out[i]) == bits_of(static_cast<float>(reference_value(*fm, codes[i]))));
    }
  }
}

TEST_CASE("to_float and decode_to_float: buffer size errors") {
  owned_view ov{std::vector<std::byte>(8, std::byte{0}), {4}};
  std::vector<float> small(3);
  CHECK(outcome(st::to_float(ov.view(st::dtype::BF16), st::span<float>(small))) ==
        "InvalidArgument");
  std::vector<float> five(5);
  CHECK(outcome(st::decode_to_float(st::dtype::F32, ov.bytes, st::span<float>(five))) ==
        "InvalidArgument");
  CHECK(outcome(st::decode_to_float(st::dtype::F16, ov.bytes, st::span<float>(small))) == "value");
  // 3 F6 elements need 18 bits = 3 bytes; 2 bytes are too few.
  CHECK(
      outcome(st::decode_to_float(st::dtype::F6_E2M3, st::span<const std::byte>(ov.bytes.data(), 2),
                                  st::span<float>(small))) == "InvalidArgument");
  // A hand-made view claiming more elements than its bytes hold.
  owned_view liar{std::vector<std::byte>(2, std::byte{0}), {100}};
  CHECK(outcome(st::to_float(liar.view(st::dtype::F32))) == "InvalidArgument");
  std::vector<float> none;
  CHECK(outcome(st::decode_to_float(st::dtype::C64, ov.bytes, st::span<float>(none))) ==
        "DtypeMismatch");
}

TEST_CASE("encode_from_float: tensor-level encoding round-trips through to_float") {
  const std::vector<float> in = {0.0f, 1.0f, -2.5f, 0.1f, 300.0f, -1e-3f, 1e9f};
  struct enc {
    st::dtype t;
    std::size_t width;
  };
  for (const enc e : {enc{st::dtype::F32, 4}, enc{st::dtype::F16, 2}, enc{st::dtype::BF16, 2},
                      enc{st::dtype::F8_E4M3, 1}, enc{st::dtype::F8_E5M2, 1},
                      enc{st::dtype::F8_E4M3FNUZ, 1}, enc{st::dtype::F8_E5M2FNUZ, 1}}) {
    INFO(std::string(st::to_string(e.t)));
    std::vector<std::byte> bytes(in.size() * e.width);
    REQUIRE(st::encode_from_float(in, e.t, bytes, sat));
    // Byte order: little-endian, checked against the scalar encoders byte by byte.
    for (std::size_t i = 0; i < in.size(); ++i) {
      std::uint32_t want = 0;
      switch (e.t) {
        case st::dtype::F32:
          want = bits_of(in[i]);
          break;
        case st::dtype::F16:
          want = st::float_to_f16_bits(in[i]);
          break;
        case st::dtype::BF16:
          want = st::float_to_bf16_bits(in[i]);
          break;
        case st::dtype::F8_E4M3:
          want = st::float_to_f8_e4m3_bits(in[i], sat);
          break;
        case st::dtype::F8_E5M2:
          want = st::float_to_f8_e5m2_bits(in[i], sat);
          break;
        case st::dtype::F8_E4M3FNUZ:
          want = st::float_to_f8_e4m3fnuz_bits(in[i], sat);
          break;
        default:
          want = st::float_to_f8_e5m2fnuz_bits(in[i], sat);
          break;
      }
      for (std::size_t k = 0; k < e.width; ++k) {
        CHECK(std::to_integer<std::uint32_t>(bytes[i * e.width + k]) ==
              ((want >> (8 * k)) & 0xFFu));
      }
    }
    std::vector<float> back(in.size());
    REQUIRE(st::decode_to_float(e.t, bytes, st::span<float>(back)));
    for (std::size_t i = 0; i < in.size(); ++i) {
      // Saturating 8-bit encodings stay finite; F16 has no saturating mode (1e9 is infinity).
      CHECK(std::isfinite(back[i]) == (e.t != st::dtype::F16 || std::fabs(in[i]) < 65520.0f));
      if (e.t == st::dtype::F32) CHECK(back[i] == in[i]);
    }
  }
  std::vector<std::byte> small(3);
  CHECK(outcome(st::encode_from_float(in, st::dtype::F16, small)) == "InvalidArgument");
  CHECK(outcome(st::encode_from_float(in, st::dtype::I32, small)) == "InvalidArgument");
  CHECK(outcome(st::encode_from_float(in, st::dtype::F8_E8M0, small)) == "InvalidArgument");
}
