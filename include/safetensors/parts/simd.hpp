// safetensors for C++, part 12 of 14: the conversion kernels. BF16, F16 and the 8-bit floats to
// float, and float to F16, over whole byte ranges: the scalar block loops, the SIMD kernels
// (x86-64 AVX2 + F16C and AVX-512, AArch64 NEON) that give exactly their bits, and the choice
// among them at run time (docs/dtypes.md#simd-paths). convert.hpp builds the tensor-level
// conversions on them.
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_SIMD_HPP
#define SAFETENSORS_PARTS_SIMD_HPP

#include "basics.hpp"

// SAFETENSORS_NO_SIMD: define to 1 to compile only the scalar conversion loops (no <immintrin.h>,
//   no <arm_neon.h>). Otherwise the tensor-level decoders to float pick SIMD kernels at run time
//   (docs/dtypes.md#simd-paths).
#ifndef SAFETENSORS_NO_SIMD
#define SAFETENSORS_NO_SIMD 0
#endif
// SAFETENSORS_SIMD_X86: 1 when the x86-64 kernels (AVX2 + F16C, AVX-512) are compiled in: g++,
//   clang++ and MSVC on little-endian x86-64; clang-cl declares only the intrinsics its /arch
//   enables, so it keeps the scalar loops. SAFETENSORS_SIMD_NEON: 1 on little-endian AArch64.
#if !SAFETENSORS_NO_SIMD && !SAFETENSORS_BIG_ENDIAN && (defined(__x86_64__) || defined(_M_X64)) && \
    ((defined(__GNUC__) && !defined(_MSC_VER)) || (defined(_MSC_VER) && !defined(__clang__)))
#define SAFETENSORS_SIMD_X86 1
#else
#define SAFETENSORS_SIMD_X86 0
#endif
#if !SAFETENSORS_NO_SIMD && !SAFETENSORS_BIG_ENDIAN && (defined(__aarch64__) || defined(_M_ARM64))
#define SAFETENSORS_SIMD_NEON 1
#else
#define SAFETENSORS_SIMD_NEON 0
#endif
// SAFETENSORS_SIMD_AVX512: 1 to compile the AVX-512 kernels, which need <immintrin.h>: with g++
//   that header alone costs a translation unit about half the compile time of
//   <nlohmann/json.hpp> (docs/design.md#compile-cost). Default: 1 with MSVC, whose AVX2 kernels
//   need <immintrin.h> too; 0 otherwise, so that a program built with g++ or
//   clang++ takes the AVX2 kernels on an AVX-512 CPU: as fast from memory, slower only on 8-bit
//   floats already in cache (docs/dtypes.md#simd-paths). Define it the same way in every
//   translation unit of a program, as every configuration macro.
#ifndef SAFETENSORS_SIMD_AVX512
#if SAFETENSORS_SIMD_X86 && defined(_MSC_VER)
#define SAFETENSORS_SIMD_AVX512 1
#else
#define SAFETENSORS_SIMD_AVX512 0
#endif
#endif
#if !SAFETENSORS_SIMD_X86
#undef SAFETENSORS_SIMD_AVX512
#define SAFETENSORS_SIMD_AVX512 0
#endif
// SAFETENSORS_X86_INTRINSICS (internal): 1 when the AVX2 kernels' register operations are the
//   <immintrin.h> intrinsics (MSVC, or where SAFETENSORS_SIMD_AVX512 includes that header anyway);
//   0 when they are GNU vector extensions, which g++ and clang++ compile with no header.
#if SAFETENSORS_SIMD_X86 && (defined(_MSC_VER) || SAFETENSORS_SIMD_AVX512)
#define SAFETENSORS_X86_INTRINSICS 1
#else
#define SAFETENSORS_X86_INTRINSICS 0
#endif
namespace safetensors {
inline namespace SAFETENSORS_ABI {

namespace detail {

inline float f32_from_bits(std::uint32_t bits) noexcept {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t f32_to_bits(float f) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// --- the scalar loops: the scalar path, and the SIMD kernels' tails ---------------------------

/// The float bits of the 256 values of an 8-bit float dtype, built on first use.
template <float (*Decode)(std::uint8_t)>
inline const std::array<std::uint32_t, 256>& byte_table() noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i)
      t[i] = f32_to_bits(Decode(static_cast<std::uint8_t>(i)));
    return t;
  }();
  return table;
}

inline std::uint32_t le16(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8;
}

// The conversion loops. `in` holds the little-endian bytes, `out` n floats. `kernel(p, i)` gives
// the float bits of element i of the block starting at p. Full blocks have a constant trip count
// and write to a local buffer (no aliasing with `in`), so compilers vectorize them at -O2.
inline constexpr std::size_t convert_block = 256;

template <std::size_t InWidth, class Kernel>
inline void convert_blocks(const unsigned char* in, float* out, std::size_t n,
                           Kernel kernel) noexcept {
  std::uint32_t tmp[convert_block];
  std::size_t done = 0;
  for (; n - done >= convert_block; done += convert_block) {
    const unsigned char* p = in + done * InWidth;
    for (std::size_t i = 0; i < convert_block; ++i) tmp[i] = kernel(p, i);
    std::memcpy(out + done, tmp, sizeof tmp);
  }
  const unsigned char* p = in + done * InWidth;
  const std::size_t rest = n - done;
  for (std::size_t i = 0; i < rest; ++i) tmp[i] = kernel(p, i);
  if (rest != 0) std::memcpy(out + done, tmp, rest * sizeof(float));
}

inline void bf16_to_float_scalar(const unsigned char* in, float* out, std::size_t n) noexcept {
  convert_blocks<2>(in, out, n, [](const unsigned char* p, std::size_t i) noexcept {
    return le16(p + 2 * i) << 16;
  });
}

inline void f16_to_float_scalar(const unsigned char* in, float* out, std::size_t n) noexcept {
  convert_blocks<2>(in, out, n, [](const unsigned char* p, std::size_t i) noexcept {
    const std::uint32_t h = le16(p + 2 * i);
    const std::uint32_t sign = (h & 0x8000u) << 16;
    const std::uint32_t e = (h >> 10) & 0x1Fu;
    const std::uint32_t m = h & 0x3FFu;
    // Three candidates, selected with masks (no branches): subnormal m * 2^-24 (exact: m is
    // small and the product is a normal float), normal (rebias 15 -> 127), infinity/NaN.
    const std::uint32_t sub =
        f32_to_bits(static_cast<float>(static_cast<std::int32_t>(m)) * 0x1p-24f);
    const std::uint32_t normal = ((e + 112) << 23) | (m << 13);
    const std::uint32_t special = 0x7F800000u | (m << 13);
    const std::uint32_t is_sub = 0u - static_cast<std::uint32_t>(e == 0);
    const std::uint32_t is_special = 0u - static_cast<std::uint32_t>(e == 31);
    return sign | (sub & is_sub) | (special & is_special) | (normal & ~(is_sub | is_special));
  });
}

inline void table_to_float_n(const std::array<std::uint32_t, 256>& table, const unsigned char* in,
                             float* out, std::size_t n) noexcept {
  const std::uint32_t* t = table.data();
  convert_blocks<1>(in, out, n,
                    [t](const unsigned char* p, std::size_t i) noexcept { return t[p[i]]; });
}

}  // namespace detail

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

// The kernels and the run-time choice among them: only the definitions of convert.hpp call them
// (docs/design.md#separate-compilation).
#if SAFETENSORS_DEFINITIONS
#include <atomic>

#if SAFETENSORS_X86_INTRINSICS
#include <immintrin.h>
#endif
#if SAFETENSORS_SIMD_X86
#if defined(_MSC_VER)
#include <intrin.h>  // __cpuid, __cpuidex, _xgetbv; MSVC needs no target attribute for intrinsics
#define SAFETENSORS_TARGET_AVX2
#define SAFETENSORS_TARGET_AVX512
#else
#include <cpuid.h>  // __get_cpuid (F16C, which clang's __builtin_cpu_supports does not know)
// Per-function targets: the program itself needs no -m flags; each kernel runs only where the CPU
// has its features.
#define SAFETENSORS_TARGET_AVX2 __attribute__((target("avx2,f16c")))
#define SAFETENSORS_TARGET_AVX512 \
  __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vbmi")))
#endif
#endif
#if SAFETENSORS_SIMD_NEON
#include <arm_neon.h>
#endif

namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

// --- SIMD decoding to float (docs/dtypes.md#simd-paths) ---------------------------------------
//
// Every kernel gives the scalar loops' bits exactly, NaNs included: F16C, AVX-512 and NEON convert
// a signalling F16 NaN to a quiet one, so vectors holding an F16 infinity or NaN take their
// special lanes from integer arithmetic instead. Full vectors are converted with unaligned loads
// and stores; the last (n mod vector width) elements go through the scalar loop.

/// A set of conversion kernels: the scalar loops, or the SIMD kernels of one instruction set.
enum class convert_path : std::uint8_t { scalar, avx2, avx512, neon };

/// The name of a path ("scalar", "avx2", "avx512", "neon").
inline const char* convert_path_name(convert_path p) noexcept {
  switch (p) {
    case convert_path::avx2:
      return "avx2";
    case convert_path::avx512:
      return "avx512";
    case convert_path::neon:
      return "neon";
    case convert_path::scalar:
      break;
  }
  return "scalar";
}

/// The best path this build and this CPU support (asks the CPU; see best_convert_path()).
inline convert_path detect_convert_path() noexcept {
#if SAFETENSORS_SIMD_X86 && defined(_MSC_VER)
  int r[4];
  __cpuid(r, 0);
  const int max_leaf = r[0];
  __cpuid(r, 1);
  const auto ecx1 = static_cast<unsigned>(r[2]);
  // OSXSAVE (27), AVX (28) and F16C (29), and the OS saves the SSE and AVX registers (XCR0 1, 2).
  if ((ecx1 & 0x38000000u) != 0x38000000u || max_leaf < 7) return convert_path::scalar;
  const unsigned long long xcr0 = _xgetbv(0);
  if ((xcr0 & 0x6u) != 0x6u) return convert_path::scalar;
  __cpuidex(r, 7, 0);
  const auto ebx7 = static_cast<unsigned>(r[1]);
  const auto ecx7 = static_cast<unsigned>(r[2]);
  if ((ebx7 & (1u << 5)) == 0) return convert_path::scalar;  // AVX2
  // AVX512F (16), BW (30), VL (31), VBMI (ECX 1); the OS saves opmask and ZMM state (XCR0 5-7).
  const bool avx512 = SAFETENSORS_SIMD_AVX512 && (ebx7 & 0xC0010000u) == 0xC0010000u &&
                      (ecx7 & 0x2u) != 0 && (xcr0 & 0xE6u) == 0xE6u;
  return avx512 ? convert_path::avx512 : convert_path::avx2;
#elif SAFETENSORS_SIMD_X86
  __builtin_cpu_init();  // __builtin_cpu_supports checks that the OS saves the registers too
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__builtin_cpu_supports("avx2") || __get_cpuid(1, &a, &b, &c, &d) == 0 ||
      (c & bit_F16C) == 0) {
    return convert_path::scalar;
  }
#if SAFETENSORS_SIMD_AVX512
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi")) {
    return convert_path::avx512;
  }
#endif
  return convert_path::avx2;
#elif SAFETENSORS_SIMD_NEON
  return convert_path::neon;  // every AArch64 CPU has NEON
#else
  return convert_path::scalar;
#endif
}

/// The best path, detected once (on first use).
inline convert_path best_convert_path() noexcept {
  static const convert_path best = detect_convert_path();
  return best;
}

/// Whether this build and CPU can run path `p` (scalar always; avx2 also where avx512 is best).
inline bool convert_path_supported(convert_path p) noexcept {
  const convert_path best = best_convert_path();
  switch (p) {
    case convert_path::scalar:
      return true;
    case convert_path::avx2:
      return best == convert_path::avx2 || best == convert_path::avx512;
    case convert_path::avx512:
    case convert_path::neon:
      return best == p;
  }
  return false;
}

inline std::atomic<convert_path>& convert_path_slot() noexcept {
  static std::atomic<convert_path> slot{best_convert_path()};
  return slot;
}

/// The path the tensor-level decoders use: the best one unless force_convert_path() chose another.
inline convert_path active_convert_path() noexcept {
  return convert_path_slot().load(std::memory_order_relaxed);
}

/// For tests and benchmarks: makes every later decode_to_float() / to_float() of the process use
/// path `p`. False (and no change) when this build or CPU cannot run it. Not for concurrent use
/// with conversions that must see one path or the other.
inline bool force_convert_path(convert_path p) noexcept {
  if (!convert_path_supported(p)) return false;
  convert_path_slot().store(p, std::memory_order_relaxed);
  return true;
}

#if SAFETENSORS_SIMD_X86

// -- AVX2 + F16C: 8 floats per register --
//
// The kernels are written once, on the register operations of namespace avx2: the <immintrin.h>
// intrinsics where that header is included (SAFETENSORS_X86_INTRINSICS), else GNU vector
// extensions, which g++ and clang++ compile to the same instructions under the kernels'
// target("avx2,f16c") with no header to parse. Both are checked bit for bit by the same tests.
namespace avx2 {
#if SAFETENSORS_X86_INTRINSICS
using r128 = __m128i;  // 16 bytes
using r256 = __m256i;  // 32 bytes, lanes as each operation says
using f256 = __m256;   // 8 floats
SAFETENSORS_TARGET_AVX2 inline r128 load128(const unsigned char* p) noexcept {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
SAFETENSORS_TARGET_AVX2 inline r256 load256(const unsigned char* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
SAFETENSORS_TARGET_AVX2 inline void store(float* p, r256 v) noexcept {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
}
SAFETENSORS_TARGET_AVX2 inline void store(float* p, f256 v) noexcept { _mm256_storeu_ps(p, v); }
SAFETENSORS_TARGET_AVX2 inline r256 widen_u16_u32(r128 v) noexcept {
  return _mm256_cvtepu16_epi32(v);
}
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u16(r128 v) noexcept {
  return _mm256_cvtepu8_epi16(v);
}
/// The low 8 bytes of v, zero-extended to 32-bit lanes.
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u32(r128 v) noexcept {
  return _mm256_cvtepu8_epi32(v);
}
/// The upper 8 bytes of v, in the low half.
SAFETENSORS_TARGET_AVX2 inline r128 upper64(r128 v) noexcept { return _mm_unpackhi_epi64(v, v); }
SAFETENSORS_TARGET_AVX2 inline r128 low_half(r256 v) noexcept { return _mm256_castsi256_si128(v); }
SAFETENSORS_TARGET_AVX2 inline r128 high_half(r256 v) noexcept {
  return _mm256_extracti128_si256(v, 1);
}
template <int N>
SAFETENSORS_TARGET_AVX2 inline r256 shl32(r256 v) noexcept {
  return _mm256_slli_epi32(v, N);
}
template <int N>
SAFETENSORS_TARGET_AVX2 inline r256 shl16(r256 v) noexcept {
  return _mm256_slli_epi16(v, N);
}
SAFETENSORS_TARGET_AVX2 inline r256 and_(r256 a, r256 b) noexcept { return _mm256_and_si256(a, b); }
SAFETENSORS_TARGET_AVX2 inline r256 or_(r256 a, r256 b) noexcept { return _mm256_or_si256(a, b); }
SAFETENSORS_TARGET_AVX2 inline r256 xor_(r256 a, r256 b) noexcept { return _mm256_xor_si256(a, b); }
SAFETENSORS_TARGET_AVX2 inline r256 set32(std::uint32_t v) noexcept {
  return _mm256_set1_epi32(static_cast<int>(v));
}
SAFETENSORS_TARGET_AVX2 inline r256 set16(std::uint16_t v) noexcept {
  return _mm256_set1_epi16(static_cast<short>(v));
}
SAFETENSORS_TARGET_AVX2 inline r256 eq32(r256 a, r256 b) noexcept {
  return _mm256_cmpeq_epi32(a, b);
}
SAFETENSORS_TARGET_AVX2 inline r256 eq16(r256 a, r256 b) noexcept {
  return _mm256_cmpeq_epi16(a, b);
}
/// Signed 16-bit a > b.
SAFETENSORS_TARGET_AVX2 inline r256 gt16(r256 a, r256 b) noexcept {
  return _mm256_cmpgt_epi16(a, b);
}
SAFETENSORS_TARGET_AVX2 inline r256 sub16(r256 a, r256 b) noexcept {
  return _mm256_sub_epi16(a, b);
}
/// `yes` where the lanes of `mask` are all ones, `no` where they are zero.
SAFETENSORS_TARGET_AVX2 inline r256 select(r256 mask, r256 yes, r256 no) noexcept {
  return _mm256_blendv_epi8(no, yes, mask);
}
SAFETENSORS_TARGET_AVX2 inline f256 select(r256 mask, r256 yes, f256 no) noexcept {
  return _mm256_blendv_ps(no, _mm256_castsi256_ps(yes), _mm256_castsi256_ps(mask));
}
SAFETENSORS_TARGET_AVX2 inline bool any(r256 v) noexcept { return _mm256_testz_si256(v, v) == 0; }
/// The 8 F16 values of h as floats (VCVTPH2PS).
SAFETENSORS_TARGET_AVX2 inline f256 f16_to_f32(r128 h) noexcept { return _mm256_cvtph_ps(h); }
SAFETENSORS_TARGET_AVX2 inline f256 mul(f256 a, float s) noexcept {
  return _mm256_mul_ps(a, _mm256_set1_ps(s));
}
SAFETENSORS_TARGET_AVX2 inline f256 load_floats(const unsigned char* p) noexcept {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
}
SAFETENSORS_TARGET_AVX2 inline void store(unsigned char* p, r128 v) noexcept {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
}
/// The 8 floats of v as F16, rounded to nearest even whatever MXCSR says (VCVTPS2PH).
SAFETENSORS_TARGET_AVX2 inline r128 f32_to_f16(f256 v) noexcept {
  return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#else
using r128 = long long __attribute__((vector_size(16)));
using r256 = long long __attribute__((vector_size(32)));
using f256 = float __attribute__((vector_size(32)));
using u8x8 = std::uint8_t __attribute__((vector_size(8)));
using u8x16 = std::uint8_t __attribute__((vector_size(16)));
using i8x16 = char __attribute__((vector_size(16)));   // g++'s VPMOVZX builtins' operand
using i16x8 = short __attribute__((vector_size(16)));  // VCVTPH2PS's operand
using u16x8 = std::uint16_t __attribute__((vector_size(16)));
using u16x16 = std::uint16_t __attribute__((vector_size(32)));
using i16x16 = std::int16_t __attribute__((vector_size(32)));
using u32x8 = std::uint32_t __attribute__((vector_size(32)));
template <class To, class From>
SAFETENSORS_TARGET_AVX2 inline To as(From v) noexcept {
  return __builtin_bit_cast(To, v);
}
SAFETENSORS_TARGET_AVX2 inline r128 load128(const unsigned char* p) noexcept {
  r128 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SAFETENSORS_TARGET_AVX2 inline r256 load256(const unsigned char* p) noexcept {
  r256 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SAFETENSORS_TARGET_AVX2 inline void store(float* p, r256 v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
SAFETENSORS_TARGET_AVX2 inline void store(float* p, f256 v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
// The widenings: clang++ compiles __builtin_convertvector to one VPMOVZX; g++ 12 splits it into
// 128-bit halves (or scalars, from 8 bytes to 32-bit lanes), so g++ gets its VPMOVZX builtins.
#if defined(__clang__)
SAFETENSORS_TARGET_AVX2 inline r256 widen_u16_u32(r128 v) noexcept {
  return as<r256>(__builtin_convertvector(as<u16x8>(v), u32x8));
}
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u16(r128 v) noexcept {
  return as<r256>(__builtin_convertvector(as<u8x16>(v), u16x16));
}
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u32(r128 v) noexcept {
  return as<r256>(__builtin_convertvector(as<u8x8>(v[0]), u32x8));
}
#else
SAFETENSORS_TARGET_AVX2 inline r256 widen_u16_u32(r128 v) noexcept {
  return as<r256>(__builtin_ia32_pmovzxwd256(as<i16x8>(v)));
}
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u16(r128 v) noexcept {
  return as<r256>(__builtin_ia32_pmovzxbw256(as<i8x16>(v)));
}
SAFETENSORS_TARGET_AVX2 inline r256 widen_u8_u32(r128 v) noexcept {
  return as<r256>(__builtin_ia32_pmovzxbd256(as<i8x16>(v)));
}
#endif
SAFETENSORS_TARGET_AVX2 inline r128 upper64(r128 v) noexcept { return r128{v[1], v[1]}; }
SAFETENSORS_TARGET_AVX2 inline r128 low_half(r256 v) noexcept { return r128{v[0], v[1]}; }
SAFETENSORS_TARGET_AVX2 inline r128 high_half(r256 v) noexcept { return r128{v[2], v[3]}; }
template <int N>
SAFETENSORS_TARGET_AVX2 inline r256 shl32(r256 v) noexcept {
  return as<r256>(as<u32x8>(v) << N);
}
template <int N>
SAFETENSORS_TARGET_AVX2 inline r256 shl16(r256 v) noexcept {
  return as<r256>(as<u16x16>(v) << N);
}
SAFETENSORS_TARGET_AVX2 inline r256 and_(r256 a, r256 b) noexcept { return a & b; }
SAFETENSORS_TARGET_AVX2 inline r256 or_(r256 a, r256 b) noexcept { return a | b; }
SAFETENSORS_TARGET_AVX2 inline r256 xor_(r256 a, r256 b) noexcept { return a ^ b; }
SAFETENSORS_TARGET_AVX2 inline r256 set32(std::uint32_t v) noexcept {
  return as<r256>(u32x8{v, v, v, v, v, v, v, v});
}
SAFETENSORS_TARGET_AVX2 inline r256 set16(std::uint16_t v) noexcept {
  return as<r256>(u16x16{v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v});
}
SAFETENSORS_TARGET_AVX2 inline r256 eq32(r256 a, r256 b) noexcept {
  return as<r256>(as<u32x8>(a) == as<u32x8>(b));
}
SAFETENSORS_TARGET_AVX2 inline r256 eq16(r256 a, r256 b) noexcept {
  return as<r256>(as<u16x16>(a) == as<u16x16>(b));
}
SAFETENSORS_TARGET_AVX2 inline r256 gt16(r256 a, r256 b) noexcept {
  return as<r256>(as<i16x16>(a) > as<i16x16>(b));
}
SAFETENSORS_TARGET_AVX2 inline r256 sub16(r256 a, r256 b) noexcept {
  return as<r256>(as<u16x16>(a) - as<u16x16>(b));
}
SAFETENSORS_TARGET_AVX2 inline r256 select(r256 mask, r256 yes, r256 no) noexcept {
  return (mask & yes) | (~mask & no);
}
SAFETENSORS_TARGET_AVX2 inline f256 select(r256 mask, r256 yes, f256 no) noexcept {
  return as<f256>(select(mask, yes, as<r256>(no)));
}
SAFETENSORS_TARGET_AVX2 inline bool any(r256 v) noexcept {
  return __builtin_ia32_ptestz256(v, v) == 0;
}
SAFETENSORS_TARGET_AVX2 inline f256 f16_to_f32(r128 h) noexcept {
  return __builtin_ia32_vcvtph2ps256(as<i16x8>(h));
}
SAFETENSORS_TARGET_AVX2 inline f256 mul(f256 a, float s) noexcept { return a * s; }
SAFETENSORS_TARGET_AVX2 inline f256 load_floats(const unsigned char* p) noexcept {
  f256 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
SAFETENSORS_TARGET_AVX2 inline void store(unsigned char* p, r128 v) noexcept {
  std::memcpy(p, &v, sizeof v);
}
// Immediate 8: round to nearest even, whatever MXCSR says (_MM_FROUND_TO_NEAREST_INT |
// _MM_FROUND_NO_EXC).
SAFETENSORS_TARGET_AVX2 inline r128 f32_to_f16(f256 v) noexcept {
  return as<r128>(__builtin_ia32_vcvtps2ph256(v, 8));
}
#endif
}  // namespace avx2

SAFETENSORS_TARGET_AVX2 inline void bf16_to_float_avx2(const unsigned char* in, float* out,
                                                       std::size_t n) noexcept {
  using namespace avx2;
  std::size_t i = 0;
  for (; n - i >= 16; i += 16) {
    store(out + i, shl32<16>(widen_u16_u32(load128(in + 2 * i))));
    store(out + i + 8, shl32<16>(widen_u16_u32(load128(in + 2 * i + 16))));
  }
  bf16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// `f` (8 floats converted from the F16 bits `h`) with the lanes whose F16 exponent is all ones
/// replaced by sign | 0x7F800000 | mantissa << 13, as the scalar decoder gives them.
SAFETENSORS_TARGET_AVX2 inline avx2::f256 f16_specials_avx2(avx2::f256 f, avx2::r128 h) noexcept {
  using namespace avx2;
  const r256 x = widen_u16_u32(h);
  const r256 exp = set32(0x7C00u);
  const r256 special = eq32(and_(x, exp), exp);
  const r256 sign = and_(shl32<16>(x), set32(0x80000000u));
  const r256 man = and_(shl32<13>(x), set32(0x007FE000u));
  return select(special, or_(or_(sign, man), set32(0x7F800000u)), f);
}

/// Converts the 16 F16 values of `h` to 16 floats at `out`.
SAFETENSORS_TARGET_AVX2 inline void f16x16_avx2(avx2::r256 h, float* out) noexcept {
  using namespace avx2;
  const r256 exp = set16(0x7C00u);
  const r128 lo = low_half(h);
  const r128 hi = high_half(h);
  f256 a = f16_to_f32(lo);
  f256 b = f16_to_f32(hi);
  if (any(eq16(and_(h, exp), exp))) {  // an infinity or NaN
    a = f16_specials_avx2(a, lo);
    b = f16_specials_avx2(b, hi);
  }
  store(out, a);
  store(out + 8, b);
}

SAFETENSORS_TARGET_AVX2 inline void f16_to_float_avx2(const unsigned char* in, float* out,
                                                      std::size_t n) noexcept {
  std::size_t i = 0;
  for (; n - i >= 16; i += 16) f16x16_avx2(avx2::load256(in + 2 * i), out + i);
  f16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// F8_E4M3, F8_E4M3FNUZ and F8_E5M2FNUZ through F16C (x: 16 elements zero-extended to 16-bit
/// lanes). Every value of these formats is an F16 value: for the E4 formats the 7 magnitude bits
/// shifted into F16 position are an F16 whose value times 2^(15 - bias) is the element's
/// (subnormals included: F16 has 10 mantissa bits), and F16C's results are normal floats, so the
/// product is exact whatever FTZ/DAZ say; F8_E5M2FNUZ (bias 16) is rebiased in the bits. The
/// format's NaN becomes the F16 quiet NaN 0x7E00 (sign kept for E4M3), which the product keeps.
template <dtype D>
SAFETENSORS_TARGET_AVX2 inline avx2::r256 f8_to_f16_avx2(avx2::r256 x) noexcept {
  using namespace avx2;
  const r256 sign = and_(shl16<8>(x), set16(0x8000u));
  if constexpr (D == dtype::F8_E4M3) {  // S.1111.111: S | 0x3F80 -> S | 0x7E00
    const r256 mag = and_(shl16<7>(x), set16(0x3F80u));
    const r256 low7 = set16(0x7Fu);
    const r256 nan = eq16(and_(x, low7), low7);
    return xor_(or_(mag, sign), and_(nan, set16(0x4180u)));
  } else {
    r256 f;
    if constexpr (D == dtype::F8_E4M3FNUZ) {
      f = and_(shl16<7>(x), set16(0x3F80u));
    } else {  // F8_E5M2FNUZ: exponent e - 1 for e >= 2; e = 0, 1: F16 subnormals (mag << 7)
      const r256 mag = and_(x, set16(0x7Fu));
      const r256 normal = sub16(shl16<8>(mag), set16(1u << 10));
      f = select(gt16(set16(8u), mag), shl16<7>(mag), normal);
    }
    // The FNUZ NaN 0x80 (0x8000 here) -> 0x7E00.
    const r256 nan = eq16(x, set16(0x80u));
    return xor_(or_(f, sign), and_(nan, set16(0xFE00u)));
  }
}

/// F8_E8M0 by arithmetic, 8 per register (x: the bytes zero-extended to 32-bit lanes): bits << 23;
/// 0x00 is 2^-127 (0x00400000), 0xFF is NaN.
SAFETENSORS_TARGET_AVX2 inline avx2::r256 f8_e8m0_avx2(avx2::r256 x) noexcept {
  using namespace avx2;
  const r256 r = select(eq32(x, set32(0u)), set32(0x00400000u), shl32<23>(x));
  return select(eq32(x, set32(0xFFu)), set32(0x7FC00000u), r);
}

template <dtype D, float (*Decode)(std::uint8_t)>
SAFETENSORS_TARGET_AVX2 inline void f8_to_float_avx2(const unsigned char* in, float* out,
                                                     std::size_t n) noexcept {
  using namespace avx2;
  std::size_t i = 0;
  for (; n - i >= 16; i += 16) {
    const r128 x = load128(in + i);
    if constexpr (D == dtype::F8_E5M2) {  // the upper byte of an F16: F16's rules exactly
      f16x16_avx2(shl16<8>(widen_u8_u16(x)), out + i);
    } else if constexpr (D == dtype::F8_E8M0) {
      store(out + i, f8_e8m0_avx2(widen_u8_u32(x)));
      store(out + i + 8, f8_e8m0_avx2(widen_u8_u32(upper64(x))));
    } else {
      const r256 f = f8_to_f16_avx2<D>(widen_u8_u16(x));
      f256 a = f16_to_f32(low_half(f));
      f256 b = f16_to_f32(high_half(f));
      if constexpr (D != dtype::F8_E5M2FNUZ) {
        a = mul(a, D == dtype::F8_E4M3 ? 0x1p8f : 0x1p7f);
        b = mul(b, D == dtype::F8_E4M3 ? 0x1p8f : 0x1p7f);
      }
      store(out + i, a);
      store(out + i + 8, b);
    }
  }
  table_to_float_n(byte_table<Decode>(), in + i, out + i, n - i);
}

#endif  // SAFETENSORS_SIMD_X86

#if SAFETENSORS_SIMD_AVX512

inline int i32_bits(std::uint32_t v) noexcept {  // a bit pattern as _mm*_set1_epi32 takes it
  return static_cast<int>(v);
}

// -- AVX-512 (F, BW, VL, VBMI): 16 floats per register --
//
// The zero-masked forms with every lane selected are the plain instructions; g++ 12's plain forms
// start from _mm512_undefined_*(), which -Wmaybe-uninitialized reports once inlined.
inline constexpr __mmask16 all16 = 0xFFFF;
inline constexpr __mmask64 all64 = ~__mmask64{0};

SAFETENSORS_TARGET_AVX512 inline void bf16_to_float_avx512(const unsigned char* in, float* out,
                                                           std::size_t n) noexcept {
  std::size_t i = 0;
  for (; n - i >= 32; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i + 32));
    _mm512_storeu_si512(out + i,
                        _mm512_maskz_slli_epi32(all16, _mm512_maskz_cvtepu16_epi32(all16, a), 16));
    _mm512_storeu_si512(out + i + 16,
                        _mm512_maskz_slli_epi32(all16, _mm512_maskz_cvtepu16_epi32(all16, b), 16));
  }
  bf16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// As f16_specials_avx2, for 16 lanes; `special` marks the lanes to replace.
SAFETENSORS_TARGET_AVX512 inline __m512 f16_specials_avx512(__m512 f, __m256i h,
                                                            __mmask16 special) noexcept {
  const __m512i x = _mm512_maskz_cvtepu16_epi32(all16, h);
  const __m512i sign = _mm512_and_si512(_mm512_maskz_slli_epi32(all16, x, 16),
                                        _mm512_set1_epi32(i32_bits(0x80000000u)));
  const __m512i man =
      _mm512_and_si512(_mm512_maskz_slli_epi32(all16, x, 13), _mm512_set1_epi32(0x007FE000));
  const __m512i bits = _mm512_or_si512(_mm512_or_si512(sign, man), _mm512_set1_epi32(0x7F800000));
  return _mm512_mask_mov_ps(f, special, _mm512_castsi512_ps(bits));
}

SAFETENSORS_TARGET_AVX512 inline void f16_to_float_avx512(const unsigned char* in, float* out,
                                                          std::size_t n) noexcept {
  const __m256i exp = _mm256_set1_epi16(0x7C00);
  std::size_t i = 0;
  for (; n - i >= 32; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i + 32));
    __m512 fa = _mm512_maskz_cvtph_ps(all16, a);
    __m512 fb = _mm512_maskz_cvtph_ps(all16, b);
    const __mmask16 sa = _mm256_cmpeq_epi16_mask(_mm256_and_si256(a, exp), exp);
    const __mmask16 sb = _mm256_cmpeq_epi16_mask(_mm256_and_si256(b, exp), exp);
    if ((sa | sb) != 0) {
      fa = f16_specials_avx512(fa, a, sa);
      fb = f16_specials_avx512(fb, b, sb);
    }
    _mm512_storeu_ps(out + i, fa);
    _mm512_storeu_ps(out + i + 16, fb);
  }
  f16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// The float bits of the 256 values of an 8-bit float as two byte planes: every such value is a
/// float whose low 16 bits are zero, so bits 16-23 (`lo`) and 24-31 (`hi`) are all of it.
struct byte_planes {
  alignas(64) std::uint8_t lo[256];
  alignas(64) std::uint8_t hi[256];
};

template <float (*Decode)(std::uint8_t)>
inline const byte_planes& byte_planes_of() noexcept {
  static const byte_planes planes = [] {
    byte_planes p{};
    const std::array<std::uint32_t, 256>& t = byte_table<Decode>();
    for (std::size_t i = 0; i < 256; ++i) {
      p.lo[i] = static_cast<std::uint8_t>(t[i] >> 16);
      p.hi[i] = static_cast<std::uint8_t>(t[i] >> 24);
    }
    return p;
  }();
  return planes;
}

// Byte 16L + 8p + 4q + j of the permuted input ends up in float 4L + j of output register 2p + q
// (L: 128-bit lane, p: unpack lo/hi of bytes, q: unpack lo/hi of words): element 16(2p + q) + 4L +
// j.
inline constexpr std::array<std::uint8_t, 64> f8_avx512_order = [] {
  std::array<std::uint8_t, 64> order{};
  for (std::uint32_t k = 0; k < 64; ++k) {
    const std::uint32_t lane = k / 16, p = (k / 8) % 2, q = (k / 4) % 2, j = k % 4;
    order[k] = static_cast<std::uint8_t>(16 * (2 * p + q) + 4 * lane + j);
  }
  return order;
}();

/// Any 8-bit float, 64 per iteration, by table lookup in registers: VPERMI2B looks up 128 bytes,
/// two of them and a blend on the top bit look up 256, once per byte plane; the two planes
/// interleaved with zeros below them are the floats. The input is first permuted so that the
/// in-lane interleaves put the floats in order.
template <float (*Decode)(std::uint8_t)>
SAFETENSORS_TARGET_AVX512 inline void f8_to_float_avx512(const unsigned char* in, float* out,
                                                         std::size_t n) noexcept {
  const byte_planes& t = byte_planes_of<Decode>();
  const __m512i lo0 = _mm512_loadu_si512(t.lo);
  const __m512i lo1 = _mm512_loadu_si512(t.lo + 64);
  const __m512i lo2 = _mm512_loadu_si512(t.lo + 128);
  const __m512i lo3 = _mm512_loadu_si512(t.lo + 192);
  const __m512i hi0 = _mm512_loadu_si512(t.hi);
  const __m512i hi1 = _mm512_loadu_si512(t.hi + 64);
  const __m512i hi2 = _mm512_loadu_si512(t.hi + 128);
  const __m512i hi3 = _mm512_loadu_si512(t.hi + 192);
  const __m512i perm = _mm512_loadu_si512(f8_avx512_order.data());
  const __m512i zero = _mm512_setzero_si512();
  std::size_t i = 0;
  for (; n - i >= 64; i += 64) {
    const __m512i b = _mm512_maskz_permutexvar_epi8(all64, perm, _mm512_loadu_si512(in + i));
    const __mmask64 top = _mm512_movepi8_mask(b);
    const __m512i lo = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(lo0, b, lo1),
                                              _mm512_permutex2var_epi8(lo2, b, lo3));
    const __m512i hi = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(hi0, b, hi1),
                                              _mm512_permutex2var_epi8(hi2, b, hi3));
    const __m512i w0 = _mm512_unpacklo_epi8(lo, hi);
    const __m512i w1 = _mm512_unpackhi_epi8(lo, hi);
    _mm512_storeu_si512(out + i, _mm512_unpacklo_epi16(zero, w0));
    _mm512_storeu_si512(out + i + 16, _mm512_unpackhi_epi16(zero, w0));
    _mm512_storeu_si512(out + i + 32, _mm512_unpacklo_epi16(zero, w1));
    _mm512_storeu_si512(out + i + 48, _mm512_unpackhi_epi16(zero, w1));
  }
  table_to_float_n(byte_table<Decode>(), in + i, out + i, n - i);
}

#endif  // SAFETENSORS_SIMD_AVX512

#if SAFETENSORS_SIMD_NEON

inline void bf16_to_float_neon(const unsigned char* in, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; n - i >= 8; i += 8) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(in + 2 * i));
    vst1q_f32(out + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(out + i + 4, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16)));
  }
  bf16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// As f16_specials_avx2, for 4 lanes.
inline float32x4_t f16_specials_neon(float32x4_t f, uint16x4_t h) noexcept {
  const uint32x4_t x = vmovl_u16(h);
  const uint32x4_t exp = vdupq_n_u32(0x7C00u);
  const uint32x4_t special = vceqq_u32(vandq_u32(x, exp), exp);
  const uint32x4_t sign = vandq_u32(vshlq_n_u32(x, 16), vdupq_n_u32(0x80000000u));
  const uint32x4_t man = vandq_u32(vshlq_n_u32(x, 13), vdupq_n_u32(0x007FE000u));
  const uint32x4_t bits = vorrq_u32(vorrq_u32(sign, man), vdupq_n_u32(0x7F800000u));
  return vbslq_f32(special, vreinterpretq_f32_u32(bits), f);
}

/// Converts 8 F16 values (bits in `h`) to 8 floats at `out`.
inline void f16x8_neon(uint16x8_t h, float* out) noexcept {
  float32x4_t a = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
  float32x4_t b = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
  const uint16x8_t exp = vdupq_n_u16(0x7C00u);
  if (vmaxvq_u16(vceqq_u16(vandq_u16(h, exp), exp)) != 0) {
    a = f16_specials_neon(a, vget_low_u16(h));
    b = f16_specials_neon(b, vget_high_u16(h));
  }
  vst1q_f32(out, a);
  vst1q_f32(out + 4, b);
}

inline void f16_to_float_neon(const unsigned char* in, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; n - i >= 8; i += 8) f16x8_neon(vreinterpretq_u16_u8(vld1q_u8(in + 2 * i)), out + i);
  f16_to_float_scalar(in + 2 * i, out + i, n - i);
}

/// The 4 floats of the F16 bits `f`, times `scale` unless D is F8_E5M2FNUZ, with the lanes marked
/// in `nan` set to the float whose upper half is `nan_bits`.
template <dtype D>
inline float32x4_t f8_via_f16_neon(uint16x4_t f, uint16x4_t nan, uint16x4_t nan_bits,
                                   float32x4_t scale) noexcept {
  float32x4_t r = vcvt_f32_f16(vreinterpret_f16_u16(f));
  if constexpr (D != dtype::F8_E5M2FNUZ) r = vmulq_f32(r, scale);
  return vbslq_f32(vreinterpretq_u32_s32(vmovl_s16(vreinterpret_s16_u16(nan))),
                   vreinterpretq_f32_u32(vshll_n_u16(nan_bits, 16)), r);
}

/// F8_E5M2 (the upper byte of an F16) and F8_E4M3, F8_E4M3FNUZ, F8_E5M2FNUZ (F16 bits as in
/// f8_to_f16_avx2) through FCVTL; F8_E8M0 by table.
template <dtype D, float (*Decode)(std::uint8_t)>
inline void f8_to_float_neon(const unsigned char* in, float* out, std::size_t n) noexcept {
  std::size_t i = 0;
  if constexpr (D == dtype::F8_E5M2) {
    for (; n - i >= 8; i += 8) f16x8_neon(vshll_n_u8(vld1_u8(in + i), 8), out + i);
  } else if constexpr (D != dtype::F8_E8M0) {
    const float32x4_t scale = vdupq_n_f32(D == dtype::F8_E4M3 ? 0x1p8f : 0x1p7f);
    for (; n - i >= 8; i += 8) {
      const uint16x8_t x = vmovl_u8(vld1_u8(in + i));
      const uint16x8_t sign = vandq_u16(vshlq_n_u16(x, 8), vdupq_n_u16(0x8000u));
      uint16x8_t f;
      if constexpr (D == dtype::F8_E5M2FNUZ) {
        const uint16x8_t mag = vandq_u16(x, vdupq_n_u16(0x7Fu));
        f = vbslq_u16(vcltq_u16(mag, vdupq_n_u16(8u)), vshlq_n_u16(mag, 7),
                      vsubq_u16(vshlq_n_u16(mag, 8), vdupq_n_u16(1u << 10)));
      } else {
        f = vandq_u16(vshlq_n_u16(x, 7), vdupq_n_u16(0x3F80u));
      }
      f = vorrq_u16(f, sign);
      // The NaN lanes are set after the arithmetic, by bits: FPCR.DN would turn a NaN operand
      // into the default NaN (positive), FPCR.AHP would read an F16 NaN as a number.
      uint16x8_t nan;
      uint16x8_t nan_bits;
      if constexpr (D == dtype::F8_E4M3) {  // S.1111.111: sign | 0x7FC0 (upper half of a float)
        nan = vceqq_u16(vandq_u16(x, vdupq_n_u16(0x7Fu)), vdupq_n_u16(0x7Fu));
        nan_bits = vorrq_u16(sign, vdupq_n_u16(0x7FC0u));
      } else {  // the FNUZ formats: 0x80
        nan = vceqq_u16(x, vdupq_n_u16(0x80u));
        nan_bits = vdupq_n_u16(0x7FC0u);
      }
      vst1q_f32(out + i, f8_via_f16_neon<D>(vget_low_u16(f), vget_low_u16(nan),
                                            vget_low_u16(nan_bits), scale));
      vst1q_f32(out + i + 4, f8_via_f16_neon<D>(vget_high_u16(f), vget_high_u16(nan),
                                                vget_high_u16(nan_bits), scale));
    }
  }
  table_to_float_n(byte_table<Decode>(), in + i, out + i, n - i);
}

#endif  // SAFETENSORS_SIMD_NEON

// -- the dispatch: once per call, on the active path --

inline void bf16_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  switch (active_convert_path()) {
#if SAFETENSORS_SIMD_AVX512
    case convert_path::avx512:
      return bf16_to_float_avx512(in, out, n);
#endif
#if SAFETENSORS_SIMD_X86
    case convert_path::avx2:
      return bf16_to_float_avx2(in, out, n);
#endif
#if SAFETENSORS_SIMD_NEON
    case convert_path::neon:
      return bf16_to_float_neon(in, out, n);
#endif
    default:
      return bf16_to_float_scalar(in, out, n);
  }
}

inline void f16_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  switch (active_convert_path()) {
#if SAFETENSORS_SIMD_AVX512
    case convert_path::avx512:
      return f16_to_float_avx512(in, out, n);
#endif
#if SAFETENSORS_SIMD_X86
    case convert_path::avx2:
      return f16_to_float_avx2(in, out, n);
#endif
#if SAFETENSORS_SIMD_NEON
    case convert_path::neon:
      return f16_to_float_neon(in, out, n);
#endif
    default:
      return f16_to_float_scalar(in, out, n);
  }
}

/// An 8-bit float dtype D (F8_*, whose scalar decoder is Decode) to float.
template <dtype D, float (*Decode)(std::uint8_t)>
inline void f8_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  switch (active_convert_path()) {
#if SAFETENSORS_SIMD_AVX512
    case convert_path::avx512:
      return f8_to_float_avx512<Decode>(in, out, n);
#endif
#if SAFETENSORS_SIMD_X86
    case convert_path::avx2:
      return f8_to_float_avx2<D, Decode>(in, out, n);
#endif
#if SAFETENSORS_SIMD_NEON
    case convert_path::neon:
      return f8_to_float_neon<D, Decode>(in, out, n);
#endif
    default:
      return table_to_float_n(byte_table<Decode>(), in, out, n);
  }
}

// --- SIMD encoding of floats to F16 (docs/dtypes.md#simd-paths) -------------------------------
//
// VCVTPS2PH rounds to nearest even (the immediate says so, whatever MXCSR's rounding mode),
// makes infinities of overflows, subnormals of tiny values (flush-to-zero does not apply to it)
// and a quiet NaN of a NaN, keeping its sign and the top 10 bits of its payload: the scalar
// encoder's bits exactly. The input is the host's floats at any alignment, the output F16 bits
// (little-endian on these hosts); the last (n mod 16) elements go through the scalar encoder.

/// n floats (`in`: the host's float bytes, any alignment) to F16 bits by `Encode`, one by one.
template <std::uint16_t (*Encode)(float)>
inline void float_to_f16_scalar(const unsigned char* in, unsigned char* out,
                                std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    float x;
    std::memcpy(&x, in + 4 * i, sizeof x);
    const std::uint16_t h = Encode(x);
    out[2 * i] = static_cast<unsigned char>(h & 0xFFu);
    out[2 * i + 1] = static_cast<unsigned char>(h >> 8);
  }
}

#if SAFETENSORS_SIMD_X86

template <std::uint16_t (*Encode)(float)>
SAFETENSORS_TARGET_AVX2 inline void float_to_f16_avx2(const unsigned char* in, unsigned char* out,
                                                      std::size_t n) noexcept {
  std::size_t i = 0;
  for (; n - i >= 16; i += 16) {
    avx2::store(out + 2 * i, avx2::f32_to_f16(avx2::load_floats(in + 4 * i)));
    avx2::store(out + 2 * i + 16, avx2::f32_to_f16(avx2::load_floats(in + 4 * i + 32)));
  }
  float_to_f16_scalar<Encode>(in + 4 * i, out + 2 * i, n - i);
}

#endif  // SAFETENSORS_SIMD_X86
#if SAFETENSORS_SIMD_AVX512

template <std::uint16_t (*Encode)(float)>
SAFETENSORS_TARGET_AVX512 inline void float_to_f16_avx512(const unsigned char* in,
                                                          unsigned char* out,
                                                          std::size_t n) noexcept {
  constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  std::size_t i = 0;
  for (; n - i >= 32; i += 32) {
    const __m512 a = _mm512_loadu_ps(in + 4 * i);
    const __m512 b = _mm512_loadu_ps(in + 4 * i + 64);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i),
                        _mm512_maskz_cvtps_ph(all16, a, rne));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i + 32),
                        _mm512_maskz_cvtps_ph(all16, b, rne));
  }
  float_to_f16_scalar<Encode>(in + 4 * i, out + 2 * i, n - i);
}

#endif  // SAFETENSORS_SIMD_AVX512

/// n floats to F16 (see float_to_f16_scalar) on the active path; `Encode` is the scalar encoder,
/// for the paths without an F16 encoding kernel (scalar, neon) and the tails.
template <std::uint16_t (*Encode)(float)>
inline void float_to_f16_n(const unsigned char* in, unsigned char* out, std::size_t n) noexcept {
  switch (active_convert_path()) {
#if SAFETENSORS_SIMD_AVX512
    case convert_path::avx512:
      return float_to_f16_avx512<Encode>(in, out, n);
#endif
#if SAFETENSORS_SIMD_X86
    case convert_path::avx2:
      return float_to_f16_avx2<Encode>(in, out, n);
#endif
    default:
      return float_to_f16_scalar<Encode>(in, out, n);
  }
}

}  // namespace detail
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#endif  // SAFETENSORS_PARTS_SIMD_HPP
