// The SIMD decoders to float (docs/dtypes.md#simd-paths): every path this build and CPU can run
// must give the scalar loops' float bits exactly (compared with memcmp, NaNs included) for every
// bit pattern of F16, BF16 and each 8-bit float, in every lane position, at any alignment, for
// every tail length, without touching a byte past the output, and whatever the FPU's flush-to-zero
// and default-NaN modes say. The scalar loops themselves are checked against the formats' formulas
// in convert.cpp. Likewise the SIMD encoders of float to F16, against the scalar encoder, on
// floats around every F16 value and rounding midpoint.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#if SAFETENSORS_SIMD_X86
#include <xmmintrin.h>  // _mm_getcsr / _mm_setcsr
#endif

namespace st = safetensors;
using st::detail::convert_path;

namespace {

constexpr convert_path all_paths[] = {convert_path::scalar, convert_path::avx2,
                                      convert_path::avx512, convert_path::neon};

constexpr st::dtype simd_dtypes[] = {
    st::dtype::BF16,        st::dtype::F16,         st::dtype::F8_E4M3, st::dtype::F8_E5M2,
    st::dtype::F8_E4M3FNUZ, st::dtype::F8_E5M2FNUZ, st::dtype::F8_E8M0};

// Forces a path for the scope, then restores the best one.
struct path_scope {
  explicit path_scope(convert_path p) { ok = st::detail::force_convert_path(p); }
  ~path_scope() { st::detail::force_convert_path(st::detail::best_convert_path()); }
  path_scope(const path_scope&) = delete;
  path_scope& operator=(const path_scope&) = delete;
  bool ok = false;
};

std::vector<convert_path> supported_paths() {
  std::vector<convert_path> out;
  for (convert_path p : all_paths) {
    if (st::detail::convert_path_supported(p)) out.push_back(p);
  }
  return out;
}

std::size_t width_of(st::dtype t) { return st::bit_size(t) / 8; }

// decode_to_float on path p, into a fresh vector.
std::vector<float> decode_on(convert_path p, st::dtype t, const std::vector<std::byte>& in,
                             std::size_t n) {
  path_scope scope(p);
  REQUIRE(scope.ok);
  std::vector<float> out(n);
  REQUIRE(st::decode_to_float(t, in, st::span<float>(out)));
  return out;
}

// The first element where two outputs differ bit for bit, or npos.
std::size_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  if (std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0) return std::string::npos;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  }
  return std::string::npos;
}

std::string hex_of(std::uint32_t u) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%X", static_cast<unsigned>(u));
  return buf;
}

// Every pattern of dtype t (2^bits of them) `shifts` times, copy j starting at pattern j, so that
// each pattern sits in `shifts` consecutive lane positions; little-endian bytes.
std::vector<std::byte> every_pattern(st::dtype t, std::size_t shifts) {
  const std::size_t w = width_of(t);
  const std::size_t count = std::size_t{1} << (8 * w);
  std::vector<std::byte> out;
  out.reserve(count * shifts * w);
  for (std::size_t j = 0; j < shifts; ++j) {
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t v = (i + j) % count;
      for (std::size_t k = 0; k < w; ++k)
        out.push_back(static_cast<std::byte>((v >> (8 * k)) & 0xFF));
    }
  }
  return out;
}

// Every pattern in every lane position, on every supported path, against the scalar path.
void check_every_pattern_on_every_path() {
  for (st::dtype t : simd_dtypes) {
    // 64 lanes is the widest kernel (AVX-512 F8); 16-bit kernels are at most 32 lanes wide.
    const std::vector<std::byte> in = every_pattern(t, width_of(t) == 1 ? 64 : 32);
    const std::size_t n = in.size() / width_of(t);
    const std::vector<float> want = decode_on(convert_path::scalar, t, in, n);
    for (convert_path p : supported_paths()) {
      INFO(st::to_string(t) << " on the " << std::string(st::detail::convert_path_name(p))
                            << " path");
      const std::vector<float> got = decode_on(p, t, in, n);
      const std::size_t at = first_difference(got, want);
      if (at != std::string::npos) {
        std::uint32_t pattern = 0;
        for (std::size_t k = 0; k < width_of(t); ++k) {
          pattern |= std::to_integer<std::uint32_t>(in[at * width_of(t) + k]) << (8 * k);
        }
        FAIL_CHECK("element " << at << " (pattern " << hex_of(pattern)
                              << "): " << hex_of(st::detail::f32_to_bits(got[at])) << ", scalar "
                              << hex_of(st::detail::f32_to_bits(want[at])));
      }
    }
  }
}

}  // namespace

TEST_CASE("convert paths: detection, support and forcing") {
  const convert_path best = st::detail::best_convert_path();
  CHECK(st::detail::convert_path_supported(best));
  CHECK(st::detail::convert_path_supported(convert_path::scalar));
  CHECK(st::detail::active_convert_path() == best);
  MESSAGE("best conversion path here: " << std::string(st::detail::convert_path_name(best)));
#if SAFETENSORS_SIMD_X86
  CHECK_FALSE(st::detail::convert_path_supported(convert_path::neon));
  CHECK(best != convert_path::neon);
  if (best == convert_path::avx512) CHECK(st::detail::convert_path_supported(convert_path::avx2));
#elif SAFETENSORS_SIMD_NEON
  CHECK(best == convert_path::neon);
  CHECK_FALSE(st::detail::convert_path_supported(convert_path::avx2));
  CHECK_FALSE(st::detail::convert_path_supported(convert_path::avx512));
#else
  CHECK(best == convert_path::scalar);  // big-endian hosts, other CPUs, SAFETENSORS_NO_SIMD
#endif
  for (convert_path p : all_paths) {
    INFO(std::string(st::detail::convert_path_name(p)));
    const bool supported = st::detail::convert_path_supported(p);
    {
      path_scope scope(p);
      CHECK(scope.ok == supported);
      CHECK(st::detail::active_convert_path() == (supported ? p : best));
    }
    CHECK(st::detail::active_convert_path() == best);
  }
}

TEST_CASE("convert paths: every pattern of F16, BF16 and each F8 in every lane, bit for bit") {
  check_every_pattern_on_every_path();
}

TEST_CASE("convert paths: flush-to-zero and default-NaN modes change nothing") {
#if SAFETENSORS_SIMD_X86
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
  check_every_pattern_on_every_path();
  _mm_setcsr(saved);
#elif SAFETENSORS_SIMD_NEON && (defined(__GNUC__) || defined(__clang__))
  std::uint64_t saved = 0;
  __asm__ volatile("mrs %0, fpcr" : "=r"(saved));
  // DN (25): default NaN; FZ (24) and FZ16 (19): flush to zero; then AHP (26): the alternative
  // half-precision format, in which F16's all-ones exponent holds numbers.
  for (const std::uint64_t modes : {(1u << 25) | (1u << 24) | (1u << 19), 1u << 26}) {
    __asm__ volatile("msr fpcr, %0" : : "r"(saved | modes));
    check_every_pattern_on_every_path();
    __asm__ volatile("msr fpcr, %0" : : "r"(saved));
  }
#else
  MESSAGE("no SIMD path in this build: only the scalar loops, checked in convert.cpp");
#endif
}

TEST_CASE(
    "convert paths: unaligned input and output, tails 0..67 and longer, nothing overwritten") {
  std::mt19937 rng(7);
  constexpr std::size_t guard = 16;  // floats each side of the output that must stay untouched
  const float canary = st::detail::f32_from_bits(0x7FBADBADu);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 67; ++n) lengths.push_back(n);
  for (std::size_t n : {127u, 128u, 129u, 255u, 256u, 257u, 1000u, 4099u}) lengths.push_back(n);
  for (st::dtype t : simd_dtypes) {
    const std::size_t w = width_of(t);
    for (std::size_t n : lengths) {
      for (std::size_t in_off = 0; in_off < 4; ++in_off) {
        // The input ends exactly at the end of its allocation (a sanitizer catches reads past it).
        std::vector<std::byte> storage(in_off + n * w);
        for (std::size_t k = in_off; k < storage.size(); ++k) {
          storage[k] = static_cast<std::byte>(rng() & 0xFFu);
        }
        const st::span<const std::byte> in(storage.data() + in_off, n * w);
        std::vector<float> want(n);
        {
          path_scope scope(convert_path::scalar);
          REQUIRE(st::decode_to_float(t, in, st::span<float>(want)));
        }
        for (convert_path p : supported_paths()) {
          const std::size_t out_off = (n + in_off) % 16;  // floats: every 4-byte misalignment of 64
          std::vector<float> out(guard + out_off + n + guard, canary);
          {
            path_scope scope(p);
            REQUIRE(st::decode_to_float(t, in, st::span<float>(out.data() + guard + out_off, n)));
          }
          INFO(st::to_string(t) << " on the " << std::string(st::detail::convert_path_name(p))
                                << " path, n = " << n << ", input offset " << in_off
                                << ", output offset " << out_off);
          CHECK((n == 0 ||
                 std::memcmp(out.data() + guard + out_off, want.data(), n * sizeof(float)) == 0));
          bool untouched = true;
          for (std::size_t k = 0; k < guard + out_off; ++k) {
            untouched = untouched && std::memcmp(&out[k], &canary, 4) == 0;
          }
          for (std::size_t k = guard + out_off + n; k < out.size(); ++k) {
            untouched = untouched && std::memcmp(&out[k], &canary, 4) == 0;
          }
          CHECK(untouched);
        }
      }
    }
  }
}

TEST_CASE("convert paths: F16 infinities and NaNs in otherwise ordinary vectors") {
  // One special value among ordinary ones, at each position of a 64-element run: the kernels fix
  // up only the vectors that hold one, and must leave the other lanes of that vector alone.
  for (std::uint32_t special : {0x7C00u, 0xFC00u, 0x7C01u, 0xFDFFu, 0x7E00u, 0xFFFFu}) {
    for (std::size_t at = 0; at < 64; ++at) {
      std::vector<std::byte> in;
      for (std::size_t i = 0; i < 64; ++i) {
        const std::uint32_t v = i == at ? special : static_cast<std::uint32_t>(0x3C00u + 37 * i);
        in.push_back(static_cast<std::byte>(v & 0xFF));
        in.push_back(static_cast<std::byte>(v >> 8));
      }
      const std::vector<float> want = decode_on(convert_path::scalar, st::dtype::F16, in, 64);
      CHECK(st::detail::f32_to_bits(want[at]) ==
            (((special & 0x8000u) << 16) | 0x7F800000u | ((special & 0x3FFu) << 13)));
      for (convert_path p : supported_paths()) {
        INFO("pattern " << hex_of(special) << " at " << at << " on the "
                        << std::string(st::detail::convert_path_name(p)) << " path");
        CHECK(first_difference(decode_on(p, st::dtype::F16, in, 64), want) == std::string::npos);
      }
    }
  }
}

namespace {

// Floats around every F16 value: every sign, exponent and top-10 mantissa bits, with low bits 0
// (an F16 value where it is in range), 0x1000 (the midpoint to the next), the floats either side
// of both, the largest, and a random one; so every F16 value, midpoint and overflow boundary,
// and floats from zero to infinity and NaNs with every top payload.
std::vector<float> floats_around_f16() {
  std::mt19937 rng(16);
  std::vector<float> out;
  for (std::uint32_t hi = 0; hi < (1u << 19); ++hi) {
    for (const std::uint32_t low : {0x0u, 0x1u, 0xFFFu, 0x1000u, 0x1001u, 0x1FFFu,
                                    static_cast<std::uint32_t>(rng() & 0x1FFFu)}) {
      out.push_back(st::detail::f32_from_bits(hi << 13 | low));
    }
  }
  return out;
}

// F16 bits of `in` by encode_from_float on path p.
std::vector<std::byte> encode_f16_on(convert_path p, const std::vector<float>& in) {
  path_scope scope(p);
  REQUIRE(scope.ok);
  std::vector<std::byte> out(2 * in.size());
  REQUIRE(
      st::encode_from_float(st::span<const float>(in), st::dtype::F16, st::span<std::byte>(out)));
  return out;
}

void check_f16_encoding_on_every_path() {
  const std::vector<float> in = floats_around_f16();
  const std::vector<std::byte> want = encode_f16_on(convert_path::scalar, in);
  for (std::size_t i = 0; i < in.size(); i += 997) {  // the scalar encoder is float_to_f16_bits
    const auto h = static_cast<std::uint32_t>(std::to_integer<std::uint32_t>(want[2 * i]) |
                                              std::to_integer<std::uint32_t>(want[2 * i + 1]) << 8);
    REQUIRE(h == st::float_to_f16_bits(in[i]));
  }
  for (convert_path p : supported_paths()) {
    INFO("on the " << std::string(st::detail::convert_path_name(p)) << " path");
    const std::vector<std::byte> got = encode_f16_on(p, in);
    if (got == want) continue;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (got[2 * i] != want[2 * i] || got[2 * i + 1] != want[2 * i + 1]) {
        FAIL_CHECK("float " << hex_of(st::detail::f32_to_bits(in[i])) << " (element " << i << ")");
        break;
      }
    }
  }
}

}  // namespace

TEST_CASE("F16 encoding paths: floats around every F16 value and midpoint, bit for bit") {
  check_f16_encoding_on_every_path();
}

TEST_CASE("F16 encoding paths: flush-to-zero and denormals-are-zero change nothing") {
#if SAFETENSORS_SIMD_X86
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
  check_f16_encoding_on_every_path();
  _mm_setcsr(saved);
#else
  MESSAGE("no F16 encoding kernel in this build: only the scalar encoder, checked in convert.cpp");
#endif
}

TEST_CASE(
    "F16 encoding paths: unaligned input and output, tails 0..67 and longer, nothing "
    "overwritten") {
  std::mt19937 rng(9);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 67; ++n) lengths.push_back(n);
  for (std::size_t n : {127u, 128u, 129u, 1000u, 4099u}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    for (std::size_t in_off = 0; in_off < 4; ++in_off) {
      // The input ends exactly at the end of its allocation (a sanitizer catches reads past it).
      std::vector<unsigned char> storage(in_off + 4 * n);
      for (std::size_t i = 0; i < n; ++i) {
        const float x = static_cast<float>(static_cast<double>(rng() % 200001) / 1000.0 - 100.0);
        std::memcpy(storage.data() + in_off + 4 * i, &x, 4);
      }
      const unsigned char* in = storage.data() + in_off;
      std::vector<unsigned char> want(2 * n);
      {
        path_scope scope(convert_path::scalar);
        st::detail::float_to_f16_n<st::float_to_f16_bits>(in, want.data(), n);
      }
      for (convert_path p : supported_paths()) {
        const std::size_t out_off = (n + in_off) % 7;
        std::vector<unsigned char> out(16 + out_off + 2 * n + 16, 0xA5);
        {
          path_scope scope(p);
          st::detail::float_to_f16_n<st::float_to_f16_bits>(in, out.data() + 16 + out_off, n);
        }
        INFO("on the " << std::string(st::detail::convert_path_name(p)) << " path, n = " << n
                       << ", input offset " << in_off << ", output offset " << out_off);
        CHECK(std::equal(want.begin(), want.end(), out.begin() + 16 + static_cast<long>(out_off)));
        CHECK(std::all_of(out.begin(), out.begin() + 16 + static_cast<long>(out_off),
                          [](unsigned char c) { return c == 0xA5; }));
        CHECK(std::all_of(out.begin() + 16 + static_cast<long>(out_off + 2 * n), out.end(),
                          [](unsigned char c) { return c == 0xA5; }));
      }
    }
  }
}

// All 2^32 floats (about 20 s of CPU per mode on an AVX-512 machine): skipped unless asked for,
// `safetensors_tests -tc='F16 encoding paths: all*' --no-skip` (docs/dtypes.md#simd-paths).
TEST_CASE("F16 encoding paths: all 2^32 floats, with and without FTZ and DAZ" * doctest::skip()) {
  constexpr std::size_t chunk = std::size_t{1} << 22;
  std::vector<std::uint32_t> bits(chunk);
  std::vector<unsigned char> want(2 * chunk);
  std::vector<unsigned char> got(2 * chunk);
  const auto* in = reinterpret_cast<const unsigned char*>(bits.data());
#if SAFETENSORS_SIMD_X86
  const unsigned saved = _mm_getcsr();
  const unsigned modes[] = {saved, saved | 0x8040u};
#else
  const unsigned modes[] = {0u};
#endif
  for (const unsigned mode : modes) {
#if SAFETENSORS_SIMD_X86
    _mm_setcsr(mode);
#endif
    for (convert_path p : supported_paths()) {
      if (p == convert_path::scalar) continue;
      std::uint64_t differences = 0;
      for (std::uint64_t base = 0; base < (std::uint64_t{1} << 32); base += chunk) {
        for (std::size_t i = 0; i < chunk; ++i) bits[i] = static_cast<std::uint32_t>(base + i);
        {
          path_scope scope(convert_path::scalar);
          st::detail::float_to_f16_n<st::float_to_f16_bits>(in, want.data(), chunk);
        }
        {
          path_scope scope(p);
          st::detail::float_to_f16_n<st::float_to_f16_bits>(in, got.data(), chunk);
        }
        if (got != want) {
          for (std::size_t i = 0; i < chunk; ++i) {
            if (got[2 * i] != want[2 * i] || got[2 * i + 1] != want[2 * i + 1]) ++differences;
          }
        }
      }
      INFO("MXCSR " << hex_of(mode) << ", the " << std::string(st::detail::convert_path_name(p))
                    << " path");
      CHECK(differences == 0);
    }
  }
#if SAFETENSORS_SIMD_X86
  _mm_setcsr(saved);
#endif
}
