// safetensors for C++, part 2 of 14: a strict JSON reader (RFC 8259) for headers and indexes.
// detail::json_reader reads JSON text token by token, without recursion and without a token
// buffer beyond the one string or number it decodes; detail::json_sax_parse drives a handler
// (the header's, the index's) with it. Plain inline functions: nothing here is a template but the
// driver, so a translation unit pays for the reader once, whatever handler it uses.
// Only the parsers' definitions use it: all of it is under SAFETENSORS_DEFINITIONS, which the
// translation units of the separate-compilation mode do not see
// (docs/design.md#separate-compilation).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_JSON_HPP
#define SAFETENSORS_PARTS_JSON_HPP

#include "basics.hpp"

#if SAFETENSORS_DEFINITIONS
#include <clocale>
#include <cmath>
#include <cstdlib>

namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

/// What json_reader::next() read.
enum class json_token : std::uint8_t {
  begin_object,
  end_object,
  begin_array,
  end_array,
  key,              // string(): the decoded key
  string,           // string(): the decoded value
  unsigned_number,  // an integer 0 .. 2^64 - 1: unsigned_value()
  negative_number,  // an integer -2^63 .. -0: negative_value() (-0 is 0)
  float_number,     // any other number (a fraction, an exponent, out of the integer ranges):
                    // float_value() and its text in string()
  true_literal,
  false_literal,
  null_literal,
  end,    // the value is complete and only whitespace followed it
  error,  // error_offset() and error_what() say where and what; next() keeps returning it
};

/// A pull reader of one JSON value over [first, last): strict RFC 8259 (no comments, no trailing
/// commas, no byte order mark, nothing but whitespace after the value), strings checked as UTF-8
/// and decoded (\u escapes in surrogate pairs only), numbers as nlohmann/json classifies them
/// (an integer that fits 64 bits unsigned, or 64 bits signed when negative; else a double, which
/// must be finite). Nesting deeper than max_depth levels is an error. Holds a pointer into the
/// text, which must outlive it.
class json_reader {
 public:
  static constexpr std::size_t max_depth = 128;

  json_reader(const char* first, const char* last) noexcept
      : p_(first), begin_(first), end_(last) {}

  /// The next token.
  inline json_token next();

  /// The key or string just read (decoded), or a float_number's text. The handler may move it.
  std::string& string() noexcept { return text_; }
  std::uint64_t unsigned_value() const noexcept { return unsigned_; }
  std::int64_t negative_value() const noexcept { return negative_; }
  double float_value() const noexcept { return float_; }
  /// Offset of the byte where the reader found a problem (after an `error` token).
  std::size_t error_offset() const noexcept { return error_offset_; }
  /// What the problem is, with the bytes found there, quoted and cut short.
  const std::string& error_what() const noexcept { return error_what_; }
  /// Offset of the byte after the last token read.
  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }

 private:
  enum class expect : std::uint8_t {
    value,                 // at the start, after ':' and after ',' in an array
    first_value_or_close,  // after '['
    first_key_or_close,    // after '{'
    key,                   // after ',' in an object
    colon,                 // after a key
    comma_or_close,        // after a value inside a container
    done,                  // after the top-level value
  };

  bool in_object() const noexcept {
    const std::size_t top = depth_ - 1;
    return ((objects_[top / 64] >> (top % 64)) & 1u) != 0;
  }
  inline json_token open(bool object);
  json_token close() noexcept {
    --depth_;
    ++p_;
    state_ = depth_ == 0 ? expect::done : expect::comma_or_close;
    return (objects_[depth_ / 64] >> (depth_ % 64)) & 1u ? json_token::end_object
                                                         : json_token::end_array;
  }
  json_token scalar(json_token t) noexcept {
    state_ = depth_ == 0 ? expect::done : expect::comma_or_close;
    return t;
  }
  inline json_token value();
  inline json_token literal(const char* word, std::size_t size, json_token t);
  inline json_token number();
  inline json_token string_token(json_token t);
  inline json_token fail(const char* at, const char* what);
  inline void skip_whitespace() noexcept;

  const char* p_;
  const char* begin_;
  const char* end_;
  std::string text_;
  std::uint64_t unsigned_ = 0;
  std::int64_t negative_ = 0;
  double float_ = 0;
  std::size_t depth_ = 0;
  std::uint64_t objects_[max_depth / 64] = {};  // bit d: level d + 1 is an object
  expect state_ = expect::value;
  bool failed_ = false;
  std::size_t error_offset_ = 0;
  std::string error_what_;
};

inline void json_reader::skip_whitespace() noexcept {
  while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
}

inline json_token json_reader::fail(const char* at, const char* what) {
  failed_ = true;
  error_offset_ = static_cast<std::size_t>(at - begin_);
  error_what_ = what;
  if (at == end_) {
    error_what_ += ", found the end of the text";
  } else {
    // Up to 16 bytes from the problem on, printable ASCII as it is, other bytes as \xNN.
    constexpr std::size_t shown = 16;
    const std::size_t n = std::min<std::size_t>(shown, static_cast<std::size_t>(end_ - at));
    error_what_ += ", found '";
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(at[i]);
      if (c >= 0x20 && c < 0x7f) {
        error_what_ += static_cast<char>(c);
      } else {
        error_what_ += "\\x";
        error_what_ += hex_digit(c >> 4u);
        error_what_ += hex_digit(c);
      }
    }
    error_what_ += static_cast<std::size_t>(end_ - at) > shown ? "'..." : "'";
  }
  return json_token::error;
}

inline json_token json_reader::next() {
  if (failed_) return json_token::error;
  for (;;) {
    skip_whitespace();
    switch (state_) {
      case expect::value:
        return value();
      case expect::first_value_or_close:
        if (p_ != end_ && *p_ == ']') return close();
        return value();
      case expect::first_key_or_close:
        if (p_ != end_ && *p_ == '}') return close();
        if (p_ == end_ || *p_ != '"') return fail(p_, "expected a string (an object key) or '}'");
        state_ = expect::colon;
        return string_token(json_token::key);
      case expect::key:
        if (p_ == end_ || *p_ != '"') return fail(p_, "expected a string (an object key)");
        state_ = expect::colon;
        return string_token(json_token::key);
      case expect::colon:
        if (p_ == end_ || *p_ != ':') return fail(p_, "expected ':' after an object key");
        ++p_;
        state_ = expect::value;
        continue;
      case expect::comma_or_close: {
        const bool object = in_object();
        if (p_ != end_) {
          if (*p_ == ',') {
            ++p_;
            state_ = object ? expect::key : expect::value;
            continue;
          }
          if (*p_ == (object ? '}' : ']')) return close();
        }
        return fail(p_, object ? "expected ',' or '}' after an object member"
                               : "expected ',' or ']' after an array element");
      }
      case expect::done:
        if (p_ == end_) return json_token::end;
        return fail(p_, "only whitespace may follow the JSON value");
    }
  }
}

inline json_token json_reader::open(bool object) {
  if (depth_ == max_depth) return fail(p_, "nesting deeper than 128 levels");
  const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
  if (object) {
    objects_[depth_ / 64] |= bit;
  } else {
    objects_[depth_ / 64] &= ~bit;
  }
  ++depth_;
  ++p_;
  state_ = object ? expect::first_key_or_close : expect::first_value_or_close;
  return object ? json_token::begin_object : json_token::begin_array;
}

inline json_token json_reader::value() {
  if (p_ == end_) return fail(p_, "expected a value");
  switch (*p_) {
    case '{':
      return open(true);
    case '[':
      return open(false);
    case '"':
      return string_token(json_token::string);
    case 't':
      return literal("true", 4, json_token::true_literal);
    case 'f':
      return literal("false", 5, json_token::false_literal);
    case 'n':
      return literal("null", 4, json_token::null_literal);
    default:
      if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number();
      return fail(p_, "expected a value");
  }
}

inline json_token json_reader::literal(const char* word, std::size_t size, json_token t) {
  if (static_cast<std::size_t>(end_ - p_) < size || std::memcmp(p_, word, size) != 0) {
    return fail(p_, "invalid literal");
  }
  p_ += size;
  return scalar(t);
}

inline json_token json_reader::number() {
  const char* const start = p_;
  const auto digit = [this] { return p_ != end_ && *p_ >= '0' && *p_ <= '9'; };
  const bool minus = *p_ == '-';
  if (minus) ++p_;
  if (!digit()) return fail(p_, "a digit must follow '-'");
  // The integer part: 0, or 1-9 then digits (a leading zero ends the number).
  std::uint64_t magnitude = 0;
  bool fits = true;
  if (*p_ == '0') {
    ++p_;
  } else {
    while (digit()) {
      const auto d = static_cast<std::uint64_t>(*p_ - '0');
      fits = fits && checked_mul(magnitude, 10, magnitude) && checked_add(magnitude, d, magnitude);
      ++p_;
    }
  }
  bool integer = true;
  if (p_ != end_ && *p_ == '.') {
    ++p_;
    if (!digit()) return fail(p_, "a digit must follow the decimal point");
    while (digit()) ++p_;
    integer = false;
  }
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (!digit()) return fail(p_, "a digit must follow the exponent");
    while (digit()) ++p_;
    integer = false;
  }
  if (integer && fits) {
    if (!minus) {
      unsigned_ = magnitude;
      return scalar(json_token::unsigned_number);
    }
    constexpr std::uint64_t most = std::uint64_t{1} << 63;  // |INT64_MIN|
    if (magnitude <= most) {
      negative_ = magnitude == most ? std::numeric_limits<std::int64_t>::min()
                                    : -static_cast<std::int64_t>(magnitude);
      return scalar(json_token::negative_number);
    }
  }
  // A double, as strtod reads it; strtod follows the C locale's decimal point, so it is put in.
  text_.assign(start, p_);
  std::string c_text = text_;
  const char point = *std::localeconv()->decimal_point;
  if (point != '.' && point != '\0') {
    const std::size_t at = c_text.find('.');
    if (at != std::string::npos) c_text[at] = point;
  }
  float_ = std::strtod(c_text.c_str(), nullptr);
  if (!std::isfinite(float_)) return fail(start, "the number is out of the range of a double");
  return scalar(json_token::float_number);
}

inline json_token json_reader::string_token(json_token t) {
  const auto hex4 = [this](const char* at, unsigned& out) {
    if (end_ - at < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = at[i];
      unsigned v;
      if (c >= '0' && c <= '9') {
        v = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return false;
      }
      out = (out << 4) | v;
    }
    return true;
  };
  text_.clear();
  ++p_;  // the opening quote
  for (;;) {
    // A run of bytes that need no decoding: up to a quote, a backslash or a control byte.
    const char* run = p_;
    while (end_ - p_ >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p_, 8);
      constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
      const std::uint64_t quote_bytes = w ^ (ones * '"'), backslash_bytes = w ^ (ones * '\\');
      const std::uint64_t special = ((quote_bytes - ones) & ~quote_bytes) |
                                    ((backslash_bytes - ones) & ~backslash_bytes) |
                                    ((w - ones * 0x20) & ~w);
      if ((special & highs) != 0) break;
      p_ += 8;
    }
    while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) {
      ++p_;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(run);
    const auto size = static_cast<std::size_t>(p_ - run);
    const std::size_t bad = utf8_error_offset(bytes, size);
    if (bad != size) return fail(run + bad, "invalid UTF-8 in a string");
    text_.append(run, size);
    if (p_ == end_) return fail(p_, "the string is not closed");
    if (*p_ == '"') {
      ++p_;
      return t == json_token::key ? t : scalar(t);
    }
    if (*p_ != '\\') return fail(p_, "a control character in a string (it must be escaped)");
    const char* const escape = p_;
    if (end_ - p_ < 2) return fail(p_, "invalid escape");
    const char* const short_forms = "\"\\/bfnrt";
    const char* const decoded = "\"\\/\b\f\n\r\t";
    const char* const form = std::strchr(short_forms, p_[1]);
    if (p_[1] != '\0' && form != nullptr) {
      text_ += decoded[form - short_forms];
      p_ += 2;
      continue;
    }
    if (p_[1] != 'u') return fail(p_, "invalid escape");
    unsigned code = 0;
    if (!hex4(p_ + 2, code)) return fail(p_, "\\u must be followed by 4 hex digits");
    p_ += 6;
    if (code >= 0xDC00 && code <= 0xDFFF) {
      return fail(escape, "a low surrogate escape without a high surrogate before it");
    }
    if (code >= 0xD800 && code <= 0xDBFF) {
      unsigned low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u' || !hex4(p_ + 2, low) || low < 0xDC00 ||
          low > 0xDFFF) {
        return fail(escape, "a high surrogate escape without a low surrogate after it");
      }
      p_ += 6;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    // UTF-8 of code (at most U+10FFFF, never a surrogate).
    if (code < 0x80) {
      text_ += static_cast<char>(code);
    } else if (code < 0x800) {
      text_ += static_cast<char>(0xC0 | (code >> 6));
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      text_ += static_cast<char>(0xE0 | (code >> 12));
      text_ += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      text_ += static_cast<char>(0xF0 | (code >> 18));
      text_ += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      text_ += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
}

/// Runs the reader over [first, last) and calls the handler `sax` for each token, in text order,
/// until the handler returns false, the text is invalid or the value ends. The handler's calls:
/// start_object(), end_object(), start_array(), end_array(), key(std::string&),
/// string(std::string&), number_unsigned(std::uint64_t), number_integer(std::int64_t),
/// number_float(double, std::string& text), boolean(bool), null(), and on invalid JSON
/// parse_error(offset, what) (its result is returned). True when the whole text was one value.
/// The one JSON entry point: the header's and the index's parsers use it.
template <class Sax>
bool json_sax_parse(const char* first, const char* last, Sax& sax) {
  json_reader r(first, last);
  for (;;) {
    bool ok = true;
    switch (r.next()) {
      case json_token::begin_object:
        ok = sax.start_object();
        break;
      case json_token::end_object:
        ok = sax.end_object();
        break;
      case json_token::begin_array:
        ok = sax.start_array();
        break;
      case json_token::end_array:
        ok = sax.end_array();
        break;
      case json_token::key:
        ok = sax.key(r.string());
        break;
      case json_token::string:
        ok = sax.string(r.string());
        break;
      case json_token::unsigned_number:
        ok = sax.number_unsigned(r.unsigned_value());
        break;
      case json_token::negative_number:
        ok = sax.number_integer(r.negative_value());
        break;
      case json_token::float_number:
        ok = sax.number_float(r.float_value(), r.string());
        break;
      case json_token::true_literal:
        ok = sax.boolean(true);
        break;
      case json_token::false_literal:
        ok = sax.boolean(false);
        break;
      case json_token::null_literal:
        ok = sax.null();
        break;
      case json_token::end:
        return true;
      case json_token::error:
        return sax.parse_error(r.error_offset(), r.error_what());
    }
    if (!ok) return false;
  }
}

}  // namespace detail
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#endif  // SAFETENSORS_PARTS_JSON_HPP
