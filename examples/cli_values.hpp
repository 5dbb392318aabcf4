// safetensors-cli: the `--values K` formatting of docs/cli.md#decoded-values. The first K elements
// of a tensor as JSON numbers (integers exact; floats with the fewest digits that read back as the
// same float, F64 as the same double; NaN and infinities as the strings "nan", "inf", "-inf"; C64
// as [re, im] pairs; BOOL as 0/1), and the same values as text for the table.
//
// Only the bytes of the first K elements are needed: read_value_prefix() reads just those through
// a source_reader (no mapping, no whole-tensor read).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

namespace safetensors_cli {

namespace detail {

/// The shortest "%.*g" text (1..max_digits significant digits) that parses back to `v`.
template <class T>
std::string shortest_text(T v) {
  constexpr int max_digits = sizeof(T) == 4 ? 9 : 17;
  char buf[64];
  for (int p = 1; p <= max_digits; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, static_cast<double>(v));
    T back;
    if constexpr (sizeof(T) == 4) {
      back = std::strtof(buf, nullptr);
    } else {
      back = std::strtod(buf, nullptr);
    }
    if (back == v) break;
  }
  return buf;
}

/// One value, as JSON and as text.
struct value {
  nlohmann::ordered_json json;
  std::string text;
};

template <class T>
value float_value(T v) {
  if (v != v) return {"nan", "nan"};
  if (v == std::numeric_limits<T>::infinity()) return {"inf", "inf"};
  if (v == -std::numeric_limits<T>::infinity()) return {"-inf", "-inf"};
  std::string text = shortest_text(v);
  // Stored as the double the text denotes, which nlohmann/json prints in its own shortest form:
  // for floats that is the same digits as `text` (e.g. 0.1f prints as 0.1, not 0.100000001...).
  return {nlohmann::ordered_json(std::strtod(text.c_str(), nullptr)), std::move(text)};
}

template <class T>
value integer_value(T v) {
  return {nlohmann::ordered_json(v), std::to_string(v)};
}

/// The first `n` values of `bytes` (dtype `t`); the caller checked that the bytes suffice.
inline std::vector<value> decode_values(safetensors::dtype t,
                                        safetensors::span<const std::byte> bytes, std::size_t n) {
  namespace st = safetensors;
  std::vector<value> out;
  out.reserve(n);
  const std::byte* p = bytes.data();
  switch (t) {
    case st::dtype::BOOL:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(p[i] != std::byte{0} ? 1 : 0));
      break;
    case st::dtype::U8:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::uint8_t>(p + i)));
      break;
    case st::dtype::I8:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::int8_t>(p + i)));
      break;
    case st::dtype::U16:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::uint16_t>(p + 2 * i)));
      break;
    case st::dtype::I16:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::int16_t>(p + 2 * i)));
      break;
    case st::dtype::U32:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::uint32_t>(p + 4 * i)));
      break;
    case st::dtype::I32:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::int32_t>(p + 4 * i)));
      break;
    case st::dtype::U64:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::uint64_t>(p + 8 * i)));
      break;
    case st::dtype::I64:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(integer_value(st::detail::load_le<std::int64_t>(p + 8 * i)));
      break;
    case st::dtype::F64:
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(float_value(st::detail::load_le<double>(p + 8 * i)));
      break;
    case st::dtype::C64:
      for (std::size_t i = 0; i < n; ++i) {
        const auto c = st::detail::load_le<std::complex<float>>(p + 8 * i);
        value re = float_value(c.real());
        value im = float_value(c.imag());
        out.push_back({nlohmann::ordered_json::array({std::move(re.json), std::move(im.json)}),
                       "[" + re.text + ", " + im.text + "]"});
      }
      break;
    default: {  // every other dtype is a float dtype that decodes exactly to float
      std::vector<float> f(n);
      if (n != 0) (void)st::decode_to_float(t, bytes, st::span<float>(f));
      for (float v : f) out.push_back(float_value(v));
      break;
    }
  }
  return out;
}

/// Bytes holding the first `count` elements of dtype `t` (sub-byte dtypes rounded up).
inline std::uint64_t prefix_bytes(safetensors::dtype t, std::uint64_t count) {
  const std::uint64_t bits = count * safetensors::bit_size(t);  // count <= element count
  return bits / 8 + (bits % 8 != 0 ? 1 : 0);
}

inline std::uint64_t shown_count(const safetensors::tensor_info& info, std::uint64_t k) {
  return std::min<std::uint64_t>(k, info.element_count());
}

}  // namespace detail

/// The bytes of the first min(k, element_count) elements of `info`, read through `reader` (only
/// those bytes are read).
inline safetensors::result<std::vector<std::byte>> read_value_prefix(
    const safetensors::source_reader& reader, const safetensors::tensor_info& info,
    std::uint64_t k) {
  const std::uint64_t n = detail::prefix_bytes(info.dtype(), detail::shown_count(info, k));
  if (n > info.byte_size()) {
    return safetensors::error(safetensors::errc::invalid_argument,
                              "values: tensor bytes shorter than its shape");
  }
  std::vector<std::byte> out(static_cast<std::size_t>(n));
  if (n == 0) return out;
  auto r = reader.source().read_at(reader.header().data_offset() + info.offsets().begin, out.data(),
                                   out.size());
  if (!r) return r.error();
  return out;
}

/// `"values"` for --json: the first min(k, element_count) elements of the tensor `info`, decoded
/// from `bytes` (the tensor's bytes, or at least its first read_value_prefix() bytes).
inline safetensors::result<nlohmann::ordered_json> values_json(
    const safetensors::tensor_info& info, safetensors::span<const std::byte> bytes,
    std::uint64_t k) {
  const std::uint64_t n = detail::shown_count(info, k);
  if (detail::prefix_bytes(info.dtype(), n) > bytes.size()) {
    return safetensors::error(safetensors::errc::invalid_argument,
                              "values: too few bytes for the values asked");
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (auto& v : detail::decode_values(info.dtype(), bytes, static_cast<std::size_t>(n))) {
    out.push_back(std::move(v.json));
  }
  return out;
}

/// The same values as text for the table: "[1, 2.5, nan]", with ", ..." before the "]" when the
/// tensor has more than k elements. C64 values print as "[re, im]".
inline safetensors::result<std::string> values_text(const safetensors::tensor_info& info,
                                                    safetensors::span<const std::byte> bytes,
                                                    std::uint64_t k) {
  const std::uint64_t n = detail::shown_count(info, k);
  if (detail::prefix_bytes(info.dtype(), n) > bytes.size()) {
    return safetensors::error(safetensors::errc::invalid_argument,
                              "values: too few bytes for the values asked");
  }
  std::string out = "[";
  bool first = true;
  for (auto& v : detail::decode_values(info.dtype(), bytes, static_cast<std::size_t>(n))) {
    if (!first) out += ", ";
    out += v.text;
    first = false;
  }
  if (info.element_count() > n) out += first ? "..." : ", ...";
  return out + "]";
}

/// values_json for a tensor_view (zero-copy readers).
inline safetensors::result<nlohmann::ordered_json> values_json(const safetensors::tensor_view& v,
                                                               std::uint64_t k) {
  return values_json(v.info(), v.bytes(), k);
}

/// values_text for a tensor_view.
inline safetensors::result<std::string> values_text(const safetensors::tensor_view& v,
                                                    std::uint64_t k) {
  return values_text(v.info(), v.bytes(), k);
}

}  // namespace safetensors_cli
