// safetensors for C++, part 13 of 14: dtype conversions. Element types for F16, BF16 and the
// 8-bit floats that read tensors in place, exact decoding of every dtype to float (on simd.hpp's
// kernels), encoding from float and from double with round to nearest even, sub-byte unpacking,
// and the conversion between any two float dtypes that load() fuses into its reads.
// `template <class = void>` marks what is compiled only when used (docs/design.md#compile-cost);
// the loops are defined under SAFETENSORS_DEFINITIONS (docs/design.md#separate-compilation).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_CONVERT_HPP
#define SAFETENSORS_PARTS_CONVERT_HPP

#include "simd.hpp"
#include "table.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

// Sub-byte packing (docs/format.md#sub-byte-packing; the format leaves it unspecified; this is the
// ecosystem's convention, that of PyTorch's float4_e2m1fn_x2, and other producers may differ): a
// tensor's bytes are one little-endian bit stream, bit j of the stream being bit (j % 8) of byte j
// / 8, and element i occupies stream bits [b*i, b*i + b) with its sign as the highest of those b
// bits. For F4 (b = 4) element 0 is the low nibble of byte 0 and element 1 the high nibble. For
// F6_* (b = 6) four elements fill three bytes: with w = byte0 | byte1 << 8 | byte2 << 16, element k
// of the group is (w >> 6k) & 63.

/// What an encoder to an 8-bit float does with a finite value beyond the largest finite one (and
/// with an infinity). The default, non_saturating, is what PyTorch's casts do.
enum class overflow_mode : std::uint8_t {
  /// Overflow becomes infinity where the format has one (F8_E5M2), else NaN (F8_E4M3, FNUZ).
  non_saturating,
  /// Overflow and infinities clamp to the largest finite value of the same sign (OCP "SAT").
  saturating,
};

namespace detail {

/// How a small float format spends its all-ones exponent and its sign.
enum class special_rule : std::uint8_t {
  ieee,  ///< exponent all ones: infinity (mantissa 0) or NaN (F16, F8_E5M2)
  fn,    ///< no infinities; exponent and mantissa all ones is NaN (F8_E4M3)
  fnuz,  ///< no infinities, no negative zero; sign bit alone (0x80) is the one NaN
  none,  ///< every pattern is finite (F4, F6_*)
};

/// A sign-exponent-mantissa format of 1 + E + M bits with exponent bias `bias`.
struct minifloat_format {
  std::uint32_t exp_bits;
  std::uint32_t man_bits;
  std::uint32_t bias;
  special_rule rule;
};

inline constexpr minifloat_format fmt_f16{5, 10, 15, special_rule::ieee};
inline constexpr minifloat_format fmt_e4m3{4, 3, 7, special_rule::fn};
inline constexpr minifloat_format fmt_e5m2{5, 2, 15, special_rule::ieee};
inline constexpr minifloat_format fmt_e4m3fnuz{4, 3, 8, special_rule::fnuz};
inline constexpr minifloat_format fmt_e5m2fnuz{5, 2, 16, special_rule::fnuz};
inline constexpr minifloat_format fmt_f4{2, 1, 1, special_rule::none};
inline constexpr minifloat_format fmt_f6_e2m3{2, 3, 1, special_rule::none};
inline constexpr minifloat_format fmt_f6_e3m2{3, 2, 3, special_rule::none};

/// Exact value of the pattern `code` (low 1 + E + M bits) of format F. Every value of these
/// formats is a normal float, so the result is built from bits, with no rounding anywhere.
template <const minifloat_format& F>
inline float minifloat_to_float(std::uint32_t code) noexcept {
  constexpr std::uint32_t width = 1 + F.exp_bits + F.man_bits;
  constexpr std::uint32_t sign_bit = 1u << (width - 1);
  constexpr std::uint32_t exp_max = (1u << F.exp_bits) - 1;
  constexpr std::uint32_t man_mask = (1u << F.man_bits) - 1;
  const std::uint32_t sign = (code & sign_bit) != 0 ? 0x80000000u : 0u;
  const std::uint32_t e = (code >> F.man_bits) & exp_max;
  const std::uint32_t m = code & man_mask;
  if constexpr (F.rule == special_rule::fnuz) {
    if ((code & ((1u << width) - 1)) == sign_bit) return f32_from_bits(0x7FC00000u);
  }
  if constexpr (F.rule == special_rule::fn) {
    if (e == exp_max && m == man_mask) return f32_from_bits(sign | 0x7FC00000u);
  }
  if constexpr (F.rule == special_rule::ieee) {
    if (e == exp_max) return f32_from_bits(sign | 0x7F800000u | (m << (23 - F.man_bits)));
  }
  if (e == 0) {
    // Subnormal: m * 2^(1 - bias - M). m is small, so the int-to-float conversion is exact, and
    // the scaling by a power of two lands on a normal float: exact, independent of FTZ/DAZ.
    constexpr std::uint32_t scale_exp = 127 + 1 - F.bias - F.man_bits;  // biased float exponent
    const float v = static_cast<float>(m) * f32_from_bits(scale_exp << 23);
    return f32_from_bits(sign | f32_to_bits(v));
  }
  return f32_from_bits(sign | ((e + 127 - F.bias) << 23) | (m << (23 - F.man_bits)));
}

// BF16 as a minifloat: only for encoding from double (float's subnormals are BF16's own, which
// to_minifloat does not handle; float_to_bf16_bits rounds a float).
inline constexpr minifloat_format fmt_bf16{8, 7, 127, special_rule::ieee};

/// The bit layout of the binary floating-point types the encoders read.
template <class T>
struct ieee_binary;
template <>
struct ieee_binary<float> {
  using bits = std::uint32_t;
  static constexpr std::uint32_t exp_bits = 8;
  static constexpr std::uint32_t man_bits = 23;
};
template <>
struct ieee_binary<double> {
  using bits = std::uint64_t;
  static constexpr std::uint32_t exp_bits = 11;
  static constexpr std::uint32_t man_bits = 52;
};

/// The pattern of format F nearest to `x` (a float or a double), ties to even: rounded once, from
/// the bits. Formats without infinities take the overflow rule of `mode`; NaN becomes the
/// format's NaN (quiet, sign kept where the format has signed NaNs; F16 and BF16 keep the top
/// payload bits). Only for formats whose smallest subnormal lies above the source type's
/// subnormal range (checked).
template <const minifloat_format& F, class T>
inline std::uint32_t to_minifloat(T x, overflow_mode mode) noexcept {
  using U = typename ieee_binary<T>::bits;
  constexpr std::uint32_t src_man = ieee_binary<T>::man_bits;
  constexpr std::uint32_t src_bias = (1u << (ieee_binary<T>::exp_bits - 1)) - 1;
  static_assert(src_bias - 1 >= F.bias + F.man_bits,
                "the source's subnormals must lie below half the format's smallest subnormal");
  constexpr U src_sign = U{1} << (8 * sizeof(U) - 1);
  constexpr U src_inf = ((U{1} << ieee_binary<T>::exp_bits) - 1) << src_man;
  constexpr std::uint32_t width = 1 + F.exp_bits + F.man_bits;
  constexpr std::uint32_t sign_bit = 1u << (width - 1);
  constexpr std::uint32_t exp_max = (1u << F.exp_bits) - 1;
  constexpr std::uint32_t man_mask = (1u << F.man_bits) - 1;
  constexpr std::uint32_t shift = src_man - F.man_bits;
  // Largest finite magnitude pattern, and what an overflow becomes in each mode.
  constexpr std::uint32_t max_finite = F.rule == special_rule::ieee ? (exp_max << F.man_bits) - 1
                                       : F.rule == special_rule::fn ? (sign_bit - 1) - 1
                                                                    : sign_bit - 1;
  constexpr std::uint32_t nan_code = F.rule == special_rule::ieee ? (sign_bit - 1)
                                     : F.rule == special_rule::fn ? (sign_bit - 1)
                                                                  : sign_bit;
  constexpr bool signed_nan = F.rule != special_rule::fnuz;

  U u;
  std::memcpy(&u, &x, sizeof u);
  const std::uint32_t sign = (u & src_sign) != 0 ? sign_bit : 0u;
  const U a = u & ~src_sign;
  if (a > src_inf) {  // NaN
    if constexpr (F.rule == special_rule::ieee && F.man_bits >= 7) {
      // Wide enough to keep payload: quiet bit plus the payload's top bits (F16, BF16).
      return sign | (exp_max << F.man_bits) | (1u << (F.man_bits - 1)) |
             static_cast<std::uint32_t>((a >> shift) & man_mask);
    } else {
      return (signed_nan ? sign : 0u) | nan_code;
    }
  }
  const auto overflowed = [&]() noexcept -> std::uint32_t {
    if (mode == overflow_mode::saturating) return sign | max_finite;
    if constexpr (F.rule == special_rule::ieee) {
      return sign | (exp_max << F.man_bits);  // infinity
    } else {
      return (signed_nan ? sign : 0u) | nan_code;
    }
  };
  if (a == src_inf) return overflowed();
  if (a < (U{1} << src_man)) {  // zero or a subnormal: far below half the smallest subnormal
    return F.rule == special_rule::fnuz ? 0u : sign;
  }
  const U fe = a >> src_man;  // biased exponent of the source, 1 .. 2 * src_bias
  U mag;
  if (fe + F.bias >= src_bias + 1) {  // normal in the target: unbiased exponent >= 1 - bias
    const U r = a + ((U{1} << (shift - 1)) - 1) + ((a >> shift) & 1u);
    mag = (r >> shift) - (U{src_bias - F.bias} << F.man_bits);  // a carry moves into the exponent
  } else {                                                      // subnormal (or zero) in the target
    const U mant = (a & ((U{1} << src_man) - 1)) | (U{1} << src_man);
    const U s = shift + (src_bias + 1 - F.bias - fe);  // >= shift + 1
    if (s > src_man + 1) {
      mag = 0;  // below half the smallest subnormal
    } else {
      mag = (mant + ((U{1} << (s - 1)) - 1) + ((mant >> s) & 1u)) >> s;
    }
  }
  if (mag > max_finite) return overflowed();
  if (F.rule == special_rule::fnuz && mag == 0) return 0u;  // no negative zero
  return sign | static_cast<std::uint32_t>(mag);
}

/// `x` as a double, exactly, from its bits: a NaN keeps its sign and payload (a signalling one
/// stays signalling), a subnormal its value whatever denormals-are-zero says.
inline double float_to_double(float x) noexcept {
  const std::uint32_t u = f32_to_bits(x);
  const std::uint64_t sign = static_cast<std::uint64_t>(u >> 31) << 63;
  const std::uint32_t a = u & 0x7FFFFFFFu;
  std::uint64_t bits;
  if (a >= 0x7F800000u) {  // infinity or NaN
    bits = sign | 0x7FF0000000000000u | static_cast<std::uint64_t>(a & 0x7FFFFFu) << 29;
  } else if (a >= 0x00800000u) {  // normal: rebias 127 -> 1023
    bits = sign | (static_cast<std::uint64_t>(a) + (std::uint64_t{1023 - 127} << 23)) << 29;
  } else {  // zero or subnormal: a * 2^-149, a normal double (or zero) from normal operands
    const double v = static_cast<double>(a) * 0x1p-149;
    std::memcpy(&bits, &v, sizeof bits);
    bits |= sign;
  }
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

}  // namespace detail

// --- scalar decoders (exact for every bit pattern) -------------------------------------------

/// IEEE binary16 bits to float (exact; NaN payloads and signs kept).
inline float f16_bits_to_float(std::uint16_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f16>(bits);
}
/// bfloat16 bits to float: the upper half of the float's bits (exact, NaNs bit for bit).
inline float bf16_bits_to_float(std::uint16_t bits) noexcept {
  return detail::f32_from_bits(static_cast<std::uint32_t>(bits) << 16);
}
/// F8_E4M3 (OCP E4M3FN, bias 7, no infinities, S.1111.111 is NaN) to float, exact.
inline float f8_e4m3_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e4m3>(bits);
}
/// F8_E5M2 (OCP E5M2, bias 15, IEEE-like infinities and NaNs) to float, exact.
inline float f8_e5m2_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e5m2>(bits);
}
/// F8_E4M3FNUZ (bias 8, no infinities, no -0, 0x80 is NaN) to float, exact.
inline float f8_e4m3fnuz_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e4m3fnuz>(bits);
}
/// F8_E5M2FNUZ (bias 16, no infinities, no -0, 0x80 is NaN) to float, exact.
inline float f8_e5m2fnuz_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e5m2fnuz>(bits);
}
/// F8_E8M0 (unsigned scale 2^(bits - 127); 0xFF is NaN) to float, exact (0x00 is the float
/// subnormal 2^-127).
inline float f8_e8m0_bits_to_float(std::uint8_t bits) noexcept {
  if (bits == 0xFF) return detail::f32_from_bits(0x7FC00000u);
  if (bits == 0) return detail::f32_from_bits(0x00400000u);
  return detail::f32_from_bits(static_cast<std::uint32_t>(bits) << 23);
}
/// F4 (OCP E2M1, bias 1, all finite: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives) from the low 4
/// bits of `bits`, exact.
inline float f4_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f4>(bits & 0x0Fu);
}
/// F6_E2M3 (OCP, bias 1, all finite, max 7.5) from the low 6 bits of `bits`, exact.
inline float f6_e2m3_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f6_e2m3>(bits & 0x3Fu);
}
/// F6_E3M2 (OCP, bias 3, all finite, max 28) from the low 6 bits of `bits`, exact.
inline float f6_e3m2_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f6_e3m2>(bits & 0x3Fu);
}

// --- scalar encoders (round to nearest, ties to even) ----------------------------------------

/// float to IEEE binary16 bits: round to nearest even, overflow to infinity, NaN to a quiet NaN
/// (sign and top payload bits kept), values below half the smallest subnormal to signed zero.
inline std::uint16_t float_to_f16_bits(float x) noexcept {
  return static_cast<std::uint16_t>(
      detail::to_minifloat<detail::fmt_f16>(x, overflow_mode::non_saturating));
}
/// float to bfloat16 bits: round to nearest even, overflow to infinity, NaN to a quiet NaN (sign
/// and top payload bits kept).
inline std::uint16_t float_to_bf16_bits(float x) noexcept {
  const std::uint32_t u = detail::f32_to_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
/// float to F8_E4M3 bits (round to nearest even). Beyond 448 after rounding: NaN (0x7F with the
/// sign) by default, as PyTorch; +-448 when saturating. Infinity: NaN, or +-448 when saturating.
inline std::uint8_t float_to_f8_e4m3_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::to_minifloat<detail::fmt_e4m3>(x, mode));
}
/// float to F8_E5M2 bits (round to nearest even). Beyond 57344 after rounding: infinity by
/// default, as PyTorch; +-57344 when saturating (infinities too). NaN: 0x7F with the sign.
inline std::uint8_t float_to_f8_e5m2_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::to_minifloat<detail::fmt_e5m2>(x, mode));
}
/// float to F8_E4M3FNUZ bits (round to nearest even; overflow, infinities and NaN to 0x80 by
/// default, +-240 when saturating; -0 becomes +0).
inline std::uint8_t float_to_f8_e4m3fnuz_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::to_minifloat<detail::fmt_e4m3fnuz>(x, mode));
}
/// float to F8_E5M2FNUZ bits (round to nearest even; overflow, infinities and NaN to 0x80 by
/// default, +-57344 when saturating; -0 becomes +0).
inline std::uint8_t float_to_f8_e5m2fnuz_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::to_minifloat<detail::fmt_e5m2fnuz>(x, mode));
}

// --- element types ---------------------------------------------------------------------------

namespace detail {
template <dtype D>
struct small_float_traits;
template <>
struct small_float_traits<dtype::F16> {
  using storage = std::uint16_t;
  static float decode(storage b) noexcept { return f16_bits_to_float(b); }
  static storage encode(float x, overflow_mode) noexcept { return float_to_f16_bits(x); }
};
template <>
struct small_float_traits<dtype::BF16> {
  using storage = std::uint16_t;
  static float decode(storage b) noexcept { return bf16_bits_to_float(b); }
  static storage encode(float x, overflow_mode) noexcept { return float_to_bf16_bits(x); }
};
template <>
struct small_float_traits<dtype::F8_E4M3> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e4m3_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept { return float_to_f8_e4m3_bits(x, m); }
};
template <>
struct small_float_traits<dtype::F8_E5M2> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e5m2_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept { return float_to_f8_e5m2_bits(x, m); }
};
template <>
struct small_float_traits<dtype::F8_E4M3FNUZ> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e4m3fnuz_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept {
    return float_to_f8_e4m3fnuz_bits(x, m);
  }
};
template <>
struct small_float_traits<dtype::F8_E5M2FNUZ> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e5m2fnuz_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept {
    return float_to_f8_e5m2fnuz_bits(x, m);
  }
};
template <>
struct small_float_traits<dtype::F8_E8M0> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e8m0_bits_to_float(b); }
};
}  // namespace detail

/// A 1- or 2-byte floating-point element of dtype D (F16, BF16, F8_*), trivially copyable and
/// holding the format's raw bits, so `view.as<bf16>()` reads a tensor in place. Converts to float
/// exactly and implicitly; constructing from float rounds to nearest even (not for F8_E8M0).
template <dtype D>
class small_float {
 public:
  /// The raw bits' type (std::uint16_t or std::uint8_t).
  using storage_type = typename detail::small_float_traits<D>::storage;
  /// The dtype of the element.
  static constexpr safetensors::dtype dtype_value = D;

  /// Uninitialized, like float.
  small_float() = default;
  /// The value nearest to `x` (round to nearest even; `mode` matters only for 8-bit floats).
  template <safetensors::dtype E = D, class = std::enable_if_t<E != safetensors::dtype::F8_E8M0>>
  explicit small_float(float x, overflow_mode mode = overflow_mode::non_saturating) noexcept
      : bits_(detail::small_float_traits<D>::encode(x, mode)) {}
  /// The element with these raw bits.
  static constexpr small_float from_bits(storage_type raw) noexcept {
    small_float r{};
    r.bits_ = raw;
    return r;
  }
  /// The raw bits.
  constexpr storage_type bits() const noexcept { return bits_; }
  /// The exact value as float.
  operator float() const noexcept {  // NOLINT(google-explicit-constructor)
    return detail::small_float_traits<D>::decode(bits_);
  }

 private:
  storage_type bits_;
};

/// IEEE binary16 element (dtype F16).
using f16 = small_float<dtype::F16>;
/// bfloat16 element (dtype BF16).
using bf16 = small_float<dtype::BF16>;
/// OCP E4M3FN element (dtype F8_E4M3).
using f8_e4m3 = small_float<dtype::F8_E4M3>;
/// OCP E5M2 element (dtype F8_E5M2).
using f8_e5m2 = small_float<dtype::F8_E5M2>;
/// AMD E4M3FNUZ element (dtype F8_E4M3FNUZ).
using f8_e4m3fnuz = small_float<dtype::F8_E4M3FNUZ>;
/// AMD E5M2FNUZ element (dtype F8_E5M2FNUZ).
using f8_e5m2fnuz = small_float<dtype::F8_E5M2FNUZ>;
/// OCP E8M0 scale element (dtype F8_E8M0): decodes to 2^(bits - 127), 0xFF is NaN.
using f8_e8m0 = small_float<dtype::F8_E8M0>;
/// The complex element of C64 (two little-endian floats, real then imaginary).
using c64 = std::complex<float>;

/// Typed access for the small float element types: `view.as<bf16>()` checks for BF16.
template <dtype D>
struct dtype_of<small_float<D>> : std::integral_constant<dtype, D> {};

// --- tensor-level conversion -----------------------------------------------------------------

namespace detail {

/// Bytes holding the first `count` elements of dtype `t` (rounded up for sub-byte dtypes), or
/// false on overflow.
inline bool bytes_for_elements(dtype t, std::uint64_t count, std::uint64_t& out) noexcept {
  std::uint64_t bits = 0;
  if (!checked_mul(count, bit_size(t), bits)) return false;
  out = bits / 8 + (bits % 8 != 0 ? 1 : 0);
  return true;
}

/// Decodes n elements of dtype `type` (any but C64) at `in` into floats (decode_to_float()).
template <class = void>
void to_float_n(dtype type, const unsigned char* in, float* out, std::size_t n) noexcept;

}  // namespace detail

/// Decodes the first `out.size()` elements of a little-endian (packed, for sub-byte dtypes) byte
/// range of dtype `type` into floats: exact for every float dtype except F64, which rounds to
/// nearest; integers round to nearest (exact up to 2^24); BOOL gives 0 or 1 (any non-zero byte
/// is 1). InvalidArgument when `bytes` is too short; DtypeMismatch for C64 (use
/// as<c64>() or to_complex()). BF16, F16 and F8_* go through the SIMD kernels the CPU has, with
/// the same bits as the scalar loops (docs/dtypes.md#simd-paths).
template <class = void>
result<void> decode_to_float(dtype type, span<const std::byte> bytes, span<float> out);

/// Decodes every element of `view` into `out`, which must hold at least element_count() floats
/// (InvalidArgument otherwise). Semantics as decode_to_float.
template <class = void>
result<void> to_float(const tensor_view& view, span<float> out);

/// Every element of `view` as a new vector of floats (see to_float(view, out)).
template <class = void>
result<std::vector<float>> to_float(const tensor_view& view);

/// Every element of a C64 tensor as std::complex<float> (DtypeMismatch for other dtypes).
template <class = void>
result<std::vector<c64>> to_complex(const tensor_view& view);

/// Encodes floats as dtype `type` into little-endian bytes: F32 (bytes as is), F16 and BF16
/// (round to nearest even, overflow to infinity), F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ
/// (round to nearest even, overflow per `mode`). `out` must hold in.size() elements' bytes
/// (InvalidArgument otherwise); other dtypes are InvalidArgument.
template <class = void>
result<void> encode_from_float(span<const float> in, dtype type, span<std::byte> out,
                               overflow_mode mode = overflow_mode::non_saturating);

// --- between dtypes (docs/dtypes.md#between-float-dtypes) --------------------------------------

namespace detail {

/// Whether `t` is a float dtype: one whose every pattern decodes to float exactly (F4 to F32), or
/// F64.
constexpr bool is_float(dtype t) noexcept {
  switch (t) {
    case dtype::F4:
    case dtype::F6_E2M3:
    case dtype::F6_E3M2:
    case dtype::F8_E5M2:
    case dtype::F8_E4M3:
    case dtype::F8_E8M0:
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
    case dtype::F16:
    case dtype::BF16:
    case dtype::F32:
    case dtype::F64:
      return true;
    default:
      return false;
  }
}

/// Whether every float dtype converts to `t`: the float dtypes with a per-value encoder (all but
/// F8_E8M0, F4 and F6_*).
constexpr bool is_float_target(dtype t) noexcept {
  switch (t) {
    case dtype::F64:
    case dtype::F32:
    case dtype::F16:
    case dtype::BF16:
    case dtype::F8_E4M3:
    case dtype::F8_E5M2:
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
      return true;
    default:
      return false;
  }
}

/// Converts `n` elements of dtype `from` at `in` (little-endian, packed for sub-byte dtypes) to
/// dtype `to` at `out`: F32 and F64 as the host's float and double, other dtypes little-endian.
/// For the pairs can_convert() accepts; both pointers may have any alignment. Each value is
/// rounded once: the decoders to float are exact, so narrow dtypes go through a block of floats
/// (SIMD decoding), and F64 is encoded from the double itself.
template <class = void>
void convert_elements(dtype from, dtype to, const std::byte* in, std::uint64_t count,
                      std::byte* out) noexcept;

}  // namespace detail

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

inline void f4_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  float lut[16];
  for (std::uint32_t i = 0; i < 16; ++i) lut[i] = f4_bits_to_float(static_cast<std::uint8_t>(i));
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    out[i] = lut[in[i / 2] & 0x0Fu];
    out[i + 1] = lut[in[i / 2] >> 4];
  }
  if (n % 2 != 0) out[n - 1] = lut[in[n / 2] & 0x0Fu];
}

template <float (*Decode)(std::uint8_t)>
inline void f6_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  float lut[64];
  for (std::uint32_t i = 0; i < 64; ++i) lut[i] = Decode(static_cast<std::uint8_t>(i));
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const unsigned char* p = in + i / 4 * 3;
    const std::uint32_t w = static_cast<std::uint32_t>(p[0]) |
                            static_cast<std::uint32_t>(p[1]) << 8 |
                            static_cast<std::uint32_t>(p[2]) << 16;
    out[i] = lut[w & 63u];
    out[i + 1] = lut[(w >> 6) & 63u];
    out[i + 2] = lut[(w >> 12) & 63u];
    out[i + 3] = lut[w >> 18];
  }
  for (; i < n; ++i) {  // a partial group: only the bytes that hold its elements are read
    const std::size_t bit = i * 6;
    std::uint32_t w = in[bit / 8];
    if (bit % 8 > 2) w |= static_cast<std::uint32_t>(in[bit / 8 + 1]) << 8;
    out[i] = lut[(w >> (bit % 8)) & 63u];
  }
}

template <class T>
inline void cast_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(load_le<T>(reinterpret_cast<const std::byte*>(in) + i * sizeof(T)));
  }
}

template <class>
void to_float_n(dtype type, const unsigned char* in, float* out, std::size_t n) noexcept {
  switch (type) {
    case dtype::BOOL:
      for (std::size_t i = 0; i < n; ++i) out[i] = in[i] != 0 ? 1.0f : 0.0f;
      break;
    case dtype::F4:
      f4_to_float_n(in, out, n);
      break;
    case dtype::F6_E2M3:
      f6_to_float_n<f6_e2m3_bits_to_float>(in, out, n);
      break;
    case dtype::F6_E3M2:
      f6_to_float_n<f6_e3m2_bits_to_float>(in, out, n);
      break;
    case dtype::U8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
      break;
    case dtype::I8:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<float>(static_cast<int>(in[i]) - (in[i] >= 0x80 ? 256 : 0));
      }
      break;
    case dtype::F8_E5M2:
      f8_to_float_n<dtype::F8_E5M2, f8_e5m2_bits_to_float>(in, out, n);
      break;
    case dtype::F8_E4M3:
      f8_to_float_n<dtype::F8_E4M3, f8_e4m3_bits_to_float>(in, out, n);
      break;
    case dtype::F8_E8M0:
      f8_to_float_n<dtype::F8_E8M0, f8_e8m0_bits_to_float>(in, out, n);
      break;
    case dtype::F8_E4M3FNUZ:
      f8_to_float_n<dtype::F8_E4M3FNUZ, f8_e4m3fnuz_bits_to_float>(in, out, n);
      break;
    case dtype::F8_E5M2FNUZ:
      f8_to_float_n<dtype::F8_E5M2FNUZ, f8_e5m2fnuz_bits_to_float>(in, out, n);
      break;
    case dtype::I16:
      cast_to_float_n<std::int16_t>(in, out, n);
      break;
    case dtype::U16:
      cast_to_float_n<std::uint16_t>(in, out, n);
      break;
    case dtype::F16:
      f16_to_float_n(in, out, n);
      break;
    case dtype::BF16:
      bf16_to_float_n(in, out, n);
      break;
    case dtype::I32:
      cast_to_float_n<std::int32_t>(in, out, n);
      break;
    case dtype::U32:
      cast_to_float_n<std::uint32_t>(in, out, n);
      break;
    case dtype::F32:
      cast_to_float_n<float>(in, out, n);
      break;
    case dtype::F64:
      cast_to_float_n<double>(in, out, n);
      break;
    case dtype::I64:
      cast_to_float_n<std::int64_t>(in, out, n);
      break;
    case dtype::U64:
      cast_to_float_n<std::uint64_t>(in, out, n);
      break;
    case dtype::C64:
      break;  // not a float: decode_to_float refuses it
  }
}

/// Encodes n values, value i being load(i) (all floats or all doubles), as dtype `to` into
/// little-endian bytes at `out`: F16, BF16, F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ (rounded
/// once to nearest even, 8-bit overflow per `mode`), and F32 from floats (bits as they are).
/// Other dtypes write nothing. One loop per dtype.
template <class Load>
void encode_n(dtype to, Load load, unsigned char* out, std::size_t n, overflow_mode mode) noexcept {
  using T = decltype(load(std::size_t{0}));
  const auto put16 = [out](std::size_t i, std::uint32_t v) noexcept {
    out[2 * i] = static_cast<unsigned char>(v & 0xFFu);
    out[2 * i + 1] = static_cast<unsigned char>(v >> 8);
  };
  const auto put8 = [out](std::size_t i, std::uint32_t v) noexcept {
    out[i] = static_cast<unsigned char>(v);
  };
  switch (to) {
    case dtype::F32:
      if constexpr (std::is_same_v<T, float>) {
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint32_t b = f32_to_bits(load(i));
          for (std::size_t k = 0; k < 4; ++k) {
            out[4 * i + k] = static_cast<unsigned char>(b >> (8 * k));
          }
        }
      }
      break;
    case dtype::F16:
      for (std::size_t i = 0; i < n; ++i) {
        put16(i, to_minifloat<fmt_f16>(load(i), overflow_mode::non_saturating));
      }
      break;
    case dtype::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, float>) {
          put16(i, float_to_bf16_bits(load(i)));
        } else {
          put16(i, to_minifloat<fmt_bf16>(load(i), overflow_mode::non_saturating));
        }
      }
      break;
    case dtype::F8_E4M3:
      for (std::size_t i = 0; i < n; ++i) put8(i, to_minifloat<fmt_e4m3>(load(i), mode));
      break;
    case dtype::F8_E5M2:
      for (std::size_t i = 0; i < n; ++i) put8(i, to_minifloat<fmt_e5m2>(load(i), mode));
      break;
    case dtype::F8_E4M3FNUZ:
      for (std::size_t i = 0; i < n; ++i) put8(i, to_minifloat<fmt_e4m3fnuz>(load(i), mode));
      break;
    case dtype::F8_E5M2FNUZ:
      for (std::size_t i = 0; i < n; ++i) put8(i, to_minifloat<fmt_e5m2fnuz>(load(i), mode));
      break;
    default:
      break;
  }
}

/// Encodes n floats (`in`: the host's float bytes, any alignment) as dtype `to`, as encode_n
/// does: F16 through the SIMD kernels the CPU has, the other dtypes one by one.
template <class = void>
void encode_floats_n(dtype to, const unsigned char* in, unsigned char* out, std::size_t n,
                     overflow_mode mode) noexcept {
  if (to == dtype::F16) return float_to_f16_n<float_to_f16_bits>(in, out, n);
  encode_n(
      to,
      [in](std::size_t i) noexcept {
        float x;
        std::memcpy(&x, in + 4 * i, sizeof x);
        return x;
      },
      out, n, mode);
}

}  // namespace detail

template <class>
result<void> decode_to_float(dtype type, span<const std::byte> bytes, span<float> out) {
  if (type == dtype::C64) {
    return error(errc::dtype_mismatch,
                 "decode_to_float: C64 is complex; read it as std::complex<float> (to_complex)");
  }
  std::uint64_t need = 0;
  if (!detail::bytes_for_elements(type, out.size(), need) || need > bytes.size()) {
    return error(errc::invalid_argument, "decode_to_float: " + detail::num(out.size()) + " " +
                                             std::string(to_string(type)) +
                                             " elements need more than the " +
                                             detail::num(bytes.size()) + " bytes given");
  }
  if (out.empty()) return {};
  detail::to_float_n(type, reinterpret_cast<const unsigned char*>(bytes.data()), out.data(),
                     out.size());
  return {};
}

template <class>
result<void> to_float(const tensor_view& view, span<float> out) {
  const std::uint64_t n = view.element_count();
  if (out.size() < n) {
    return error(errc::invalid_argument,
                 "to_float: tensor " + detail::quote(view.name()) + " has " + detail::num(n) +
                     " elements, the buffer holds " + detail::num(out.size()));
  }
  return decode_to_float(view.dtype(), view.bytes(), out.subspan(0, static_cast<std::size_t>(n)));
}

template <class>
result<std::vector<float>> to_float(const tensor_view& view) {
  const std::uint64_t n = view.element_count();
  if (n > view.byte_size() * 2) {  // no dtype packs more than 2 elements per byte
    return error(errc::invalid_argument, "to_float: tensor " + detail::quote(view.name()) +
                                             " has fewer bytes than its elements need");
  }
  std::vector<float> out(static_cast<std::size_t>(n));
  if (auto r = to_float(view, span<float>(out)); !r) return r.error();
  return out;
}

template <class>
result<std::vector<c64>> to_complex(const tensor_view& view) {
  auto v = view.as<c64>();
  if (!v) return v.error();
  return v->to_vector();
}

template <class>
result<void> encode_from_float(span<const float> in, dtype type, span<std::byte> out,
                               overflow_mode mode) {
  std::size_t width = 0;
  switch (type) {
    case dtype::F32:
      width = 4;
      break;
    case dtype::F16:
    case dtype::BF16:
      width = 2;
      break;
    case dtype::F8_E4M3:
    case dtype::F8_E5M2:
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
      width = 1;
      break;
    default:
      return error(errc::invalid_argument,
                   "encode_from_float: cannot encode to " + std::string(to_string(type)));
  }
  if (out.size() / width < in.size()) {
    return error(errc::invalid_argument,
                 "encode_from_float: " + detail::num(in.size()) + " " +
                     std::string(to_string(type)) + " elements need " +
                     detail::num(detail::int_cast<std::uint64_t>(in.size()) * width) +
                     " bytes, the buffer holds " + detail::num(out.size()));
  }
  detail::encode_floats_n(type, reinterpret_cast<const unsigned char*>(in.data()),
                          reinterpret_cast<unsigned char*>(out.data()), in.size(), mode);
  return {};
}

namespace detail {
template <class>
void convert_elements(dtype from, dtype to, const std::byte* in, std::uint64_t count,
                      std::byte* out) noexcept {
  const auto* src = reinterpret_cast<const unsigned char*>(in);
  auto* dst = reinterpret_cast<unsigned char*>(out);
  const auto n = int_cast<std::size_t>(count);  // at most one chunk of a tensor in memory
  const auto from_bytes = [from](std::size_t k) { return k * bit_size(from) / 8; };
  if (from == to) {
    std::uint64_t bytes = 0;
    (void)bytes_for_elements(from, count, bytes);
    if (bytes != 0) std::memcpy(dst, src, int_cast<std::size_t>(bytes));
    return;
  }
  const auto aligned = [](const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0;
  };
  constexpr std::size_t block = 1024;  // whole bytes of every dtype
  alignas(float) float floats[block];
  if (to == dtype::F32) {
    if (aligned(dst)) return to_float_n(from, src, reinterpret_cast<float*>(dst), n);
    for (std::size_t done = 0; done < n; done += block) {
      const std::size_t k = std::min(block, n - done);
      to_float_n(from, src + from_bytes(done), floats, k);
      std::memcpy(dst + done * sizeof(float), floats, k * sizeof(float));
    }
    return;
  }
  if (from == dtype::F64) {  // rounded once from the double: through float would round twice
    return encode_n(
        to, [in](std::size_t i) noexcept { return load_le<double>(in + 8 * i); }, dst, n,
        overflow_mode::non_saturating);
  }
  if (from == dtype::F32 && to != dtype::F64) {
    if constexpr (!SAFETENSORS_BIG_ENDIAN) {  // the file's floats are the host's
      return encode_floats_n(to, src, dst, n, overflow_mode::non_saturating);
    } else {
      return encode_n(
          to, [in](std::size_t i) noexcept { return load_le<float>(in + 4 * i); }, dst, n,
          overflow_mode::non_saturating);
    }
  }
  // The other float dtypes decode to float exactly: a block of floats, then encoded or widened.
  for (std::size_t done = 0; done < n; done += block) {
    const std::size_t k = std::min(block, n - done);
    to_float_n(from, src + from_bytes(done), floats, k);
    if (to == dtype::F64) {
      for (std::size_t i = 0; i < k; ++i) {
        const double d = float_to_double(floats[i]);
        std::memcpy(dst + (done + i) * sizeof(double), &d, sizeof d);
      }
    } else {
      encode_floats_n(to, reinterpret_cast<const unsigned char*>(floats),
                      dst + done * bit_size(to) / 8, k, overflow_mode::non_saturating);
    }
  }
}
}  // namespace detail

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template void detail::to_float_n<void>(dtype, const unsigned char*, float*, std::size_t) noexcept;
template void detail::convert_elements<void>(dtype, dtype, const std::byte*, std::uint64_t,
                                             std::byte*) noexcept;
template result<void> decode_to_float<void>(dtype, span<const std::byte>, span<float>);
template result<void> to_float<void>(const tensor_view&, span<float>);
template result<std::vector<float>> to_float<void>(const tensor_view&);
template result<std::vector<c64>> to_complex<void>(const tensor_view&);
template result<void> encode_from_float<void>(span<const float>, dtype, span<std::byte>,
                                              overflow_mode);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_CONVERT_HPP
