// Test-only differential checker: a second, deliberately simple validator of safetensors bytes.
//
// It follows docs/format.md#reader-rules literally, rule by rule, and shares no code with the
// library: its own UTF-8 decoder, the nlohmann DOM (no SAX), 128-bit arithmetic for the overflow
// rules, a plain std::sort. It is slow on purpose (it copies, builds a DOM, walks it twice). It
// returns the verdict, the error name of the first failing rule, and on success the table, so that
// tests and the fuzzers can compare it with safetensors::parse.
//
// Where the nlohmann DOM cannot express a rule, the checker handles the case explicitly:
//  (a) A UTF-8 byte order mark at the start of the header: nlohmann's parser skips it, JSON does
//      not allow it (rule 5: nothing but JSON whitespace around the object). Checked before the
//      DOM parse: InvalidHeaderDeserialization.
//  (b) A NUL byte anywhere in the header: JSON allows a raw NUL nowhere (not as whitespace, not
//      inside a string), but some nlohmann input paths stop at it. Checked before the DOM parse:
//      InvalidHeaderDeserialization.
//  (c) Duplicate keys (DuplicateKey anywhere in the header, docs/format.md#duplicatekey): the DOM
//      keeps one value per key. A small structural scanner (scan_keys) lists every object key in
//      stream order, decoded with nlohmann, and finds the first key repeated within its object. The
//      library reports the FIRST problem in stream order, so a duplicate only wins when nothing
//      before it is wrong: the checker cuts the header just before the duplicate key, closes the
//      open brackets, and validates that prefix with the DOM rules; any error in the prefix wins
//      (it is InvalidHeaderDeserialization), else the verdict is DuplicateKey. A duplicate after a
//      JSON syntax error is never reached: a parse callback counts the keys nlohmann reaches before
//      it fails. A tensor entry cut open this way is not checked for missing fields (its closing
//      brace was never reached).
//  (d) Nesting depth (127 levels allowed, the top-level object is level 1): the DOM has no limit,
//      so the walker measures depth itself, without recursion.
//  (e) "-0": the DOM stores it as a signed integer 0, which the unsigned-only rules reject.
//  (f) Rules 6 to 9 run per tensor in (begin, end) order, as the reference's validate() loop does;
//      ties (only zero-sized tensors share a range) are broken by name bytes, which is the
//      library's documented order (the reference's is a HashMap's, i.e. unspecified).
#ifndef SAFETENSORS_TEST_SUPPORT_REFERENCE_CHECKER_HPP
#define SAFETENSORS_TEST_SUPPORT_REFERENCE_CHECKER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace st_ref {

__extension__ typedef unsigned __int128 u128;  // NOLINT: 128-bit arithmetic for the overflow rules

struct tensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct verdict {
  bool ok = false;
  std::string error;  // docs/format.md#reader-rules name when !ok ("HeaderTooSmall", ...)
  std::uint64_t header_size = 0;
  std::uint64_t data_size = 0;
  std::vector<tensor> tensors;  // in (begin, end, name) order
  std::optional<std::map<std::string, std::string>> metadata;
};

struct options {
  std::uint64_t max_header_size = 100000000;
  bool allow_trailing_bytes = false;
};

namespace detail {

inline verdict fail(const char* name) {
  verdict v;
  v.error = name;
  return v;
}

// Rule 4: decode code point by code point; reject overlong forms, surrogates, > U+10FFFF.
inline bool valid_utf8(const std::uint8_t* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint32_t b0 = s[i];
    std::size_t extra;
    std::uint32_t cp;
    std::uint32_t min;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if ((b0 & 0xE0) == 0xC0) {
      extra = 1, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      extra = 2, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      extra = 3, cp = b0 & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const std::uint32_t b = s[i + k];
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

inline std::uint32_t dtype_bits(const std::string& name) {
  static const std::map<std::string, std::uint32_t> table{
      {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
      {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
      {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
      {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
      {"I64", 64},        {"U64", 64}};
  const auto it = table.find(name);
  return it == table.end() ? 0 : it->second;
}

// Greatest nesting depth of a DOM value (a scalar is 0, [] is 1), without recursion.
inline std::size_t depth_of(const nlohmann::json& root) {
  std::size_t max_depth = 0;
  std::vector<std::pair<const nlohmann::json*, std::size_t>> todo{{&root, 0}};
  while (!todo.empty()) {
    const auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_structured()) continue;
    max_depth = std::max(max_depth, d + 1);
    for (const auto& child : *j) todo.emplace_back(&child, d + 1);
  }
  return max_depth;
}

// Rule 5's shape rules over a DOM without duplicate keys. `open_tensor`: the name of a tensor
// whose entry was cut open (case (c)); its missing fields are not errors.
inline bool shape_ok(const nlohmann::json& top, const std::optional<std::string>& open_tensor) {
  if (depth_of(top) > 127) return false;
  if (!top.is_object()) return false;
  for (const auto& [key, value] : top.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) return false;
      for (const auto& m : value) {
        if (!m.is_string()) return false;
      }
      continue;
    }
    if (!value.is_object()) return false;
    const bool open = open_tensor && *open_tensor == key;
    if (value.contains("dtype")) {
      const auto& d = value["dtype"];
      if (!d.is_string() || dtype_bits(d.get<std::string>()) == 0) return false;
    } else if (!open) {
      return false;
    }
    if (value.contains("shape")) {
      const auto& s = value["shape"];
      if (!s.is_array()) return false;
      for (const auto& x : s) {
        if (!x.is_number_unsigned()) return false;
      }
    } else if (!open) {
      return false;
    }
    if (value.contains("data_offsets")) {
      const auto& o = value["data_offsets"];
      if (!o.is_array()) return false;
      if (o.size() != 2) return false;  // complete even in an open entry: it holds no keys
      for (const auto& x : o) {
        if (!x.is_number_unsigned()) return false;
      }
    } else if (!open) {
      return false;
    }
  }
  return true;
}

// One object key found by scan_keys.
struct key_event {
  std::size_t start = 0;   // offset of the opening quote
  std::size_t end = 0;     // offset after the closing quote
  std::string brackets;    // the open brackets at the key, outermost first
  std::string top_key;     // the top-level key whose value holds the key ("" at level 1)
  bool duplicate = false;  // the key already appeared in its object
};

// Case (c): a structural scan (strings and brackets only; it does not validate JSON) that lists
// object keys up to the first duplicate, or up to where the structure stops making sense.
inline std::vector<key_event> scan_keys(const std::string& s) {
  struct frame {
    char type;
    bool expect_key;
    std::set<std::string> keys;
  };
  std::vector<frame> stack;
  std::vector<key_event> out;
  std::string brackets;
  std::string top_key;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      std::size_t j = i + 1;
      while (j < s.size() && s[j] != '"') j += (s[j] == '\\') ? std::size_t{2} : std::size_t{1};
      if (j >= s.size()) break;
      const std::size_t end = j + 1;
      if (!stack.empty() && stack.back().type == '{' && stack.back().expect_key) {
        nlohmann::json decoded = nlohmann::json::parse(s.substr(i, end - i), nullptr, false);
        if (!decoded.is_string()) break;
        const std::string key = decoded.get<std::string>();
        key_event e;
        e.start = i;
        e.end = end;
        e.brackets = brackets;
        if (stack.size() == 1) top_key = key;
        e.top_key = stack.size() == 1 ? std::string() : top_key;
        e.duplicate = !stack.back().keys.insert(key).second;
        stack.back().expect_key = false;
        out.push_back(e);
        if (e.duplicate) break;
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[') {
      stack.push_back(frame{c, c == '{', {}});
      brackets += c;
    } else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back().type != (c == '}' ? '{' : '[')) break;
      stack.pop_back();
      brackets.pop_back();
    } else if (c == ',') {
      if (!stack.empty() && stack.back().type == '{') stack.back().expect_key = true;
    }
    ++i;
  }
  return out;
}

// The header cut just before a key (case (c)), with the trailing comma dropped and the open
// brackets closed: a complete JSON document when everything before the key was valid.
inline std::string cut_before(const std::string& s, const key_event& e) {
  std::string prefix = s.substr(0, e.start);
  while (!prefix.empty() && (prefix.back() == ' ' || prefix.back() == '\t' ||
                             prefix.back() == '\n' || prefix.back() == '\r')) {
    prefix.pop_back();
  }
  if (!prefix.empty() && prefix.back() == ',') prefix.pop_back();
  for (auto it = e.brackets.rbegin(); it != e.brackets.rend(); ++it) {
    prefix += (*it == '{') ? '}' : ']';
  }
  return prefix;
}

}  // namespace detail

/// Checks `size` bytes as a whole safetensors file, docs/format.md#reader-rules: rules 1 to 10 plus
/// DuplicateKey.
inline verdict check(const std::uint8_t* data, std::size_t size, const options& opts = {}) {
  using detail::fail;
  // Rule 1.
  if (size < 8) return fail("HeaderTooSmall");
  u128 n = 0;
  for (std::size_t i = 0; i < 8; ++i) n |= static_cast<u128>(data[i]) << (8 * i);
  // Rule 2.
  if (n > opts.max_header_size) return fail("HeaderTooLarge");
  // Rule 3 (128-bit: 8 + N cannot wrap).
  if (8 + n > size) return fail("InvalidHeaderLength");
  const auto header_size = static_cast<std::size_t>(n);
  const std::uint8_t* h = data + 8;
  // Rule 4: all N bytes.
  if (!detail::valid_utf8(h, header_size)) return fail("InvalidHeader");
  // Rule 5, with the explicit cases (a) and (b).
  const std::string text(reinterpret_cast<const char*>(h), header_size);
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) {
    return fail("InvalidHeaderDeserialization");
  }
  if (text.find('\0') != std::string::npos) return fail("InvalidHeaderDeserialization");
  // The DOM parse; a callback counts the keys it reaches before any error (case (c)).
  nlohmann::json top;
  std::size_t keys_reached = 0;
  bool parsed = true;
  try {
    top = nlohmann::json::parse(text,
                                [&keys_reached](int /*depth*/, nlohmann::json::parse_event_t event,
                                                nlohmann::json& /*value*/) {
                                  if (event == nlohmann::json::parse_event_t::key) ++keys_reached;
                                  return true;
                                });
  } catch (const nlohmann::json::exception&) {  // parse_error, or out_of_range for 1e999
    parsed = false;
  }
  // Case (c): the first duplicate key, when the parse reaches it.
  const auto keys = detail::scan_keys(text);
  if (!keys.empty() && keys.back().duplicate && keys.size() <= keys_reached) {
    const detail::key_event& dup = keys.back();
    const nlohmann::json prefix =
        nlohmann::json::parse(detail::cut_before(text, dup), nullptr, false);
    std::optional<std::string> open_tensor;
    // The brackets are "{" (top level), then the tensor entry's "{" when it is open.
    if (dup.brackets.size() >= 2 && dup.brackets[1] == '{' && dup.top_key != "__metadata__") {
      open_tensor = dup.top_key;
    }
    if (prefix.is_discarded() || !detail::shape_ok(prefix, open_tensor)) {
      return fail("InvalidHeaderDeserialization");
    }
    return fail("DuplicateKey");
  }
  if (!parsed) return fail("InvalidHeaderDeserialization");
  if (!detail::shape_ok(top, std::nullopt)) return fail("InvalidHeaderDeserialization");

  verdict v;
  v.header_size = header_size;
  for (const auto& [key, value] : top.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      v.metadata.emplace();
      for (const auto& [mk, mv] : value.items()) (*v.metadata)[mk] = mv.get<std::string>();
      continue;
    }
    tensor t;
    t.name = key;
    t.dtype = value["dtype"].get<std::string>();
    for (const auto& x : value["shape"]) t.shape.push_back(x.get<std::uint64_t>());
    t.begin = value["data_offsets"][0].get<std::uint64_t>();
    t.end = value["data_offsets"][1].get<std::uint64_t>();
    v.tensors.push_back(std::move(t));
  }
  // Rules 6 to 9, per tensor in (begin, end) order, ties by name (case (f)).
  std::sort(v.tensors.begin(), v.tensors.end(), [](const tensor& a, const tensor& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  const u128 u64_limit = ~std::uint64_t{0};
  std::uint64_t start = 0;
  for (const tensor& t : v.tensors) {
    if (t.begin != start || t.end < t.begin) return fail("InvalidOffset");  // rule 6
    start = t.end;
    u128 elements = 1;  // rule 7: the product checked after every factor, as try_fold does
    for (std::uint64_t d : t.shape) {
      elements *= d;
      if (elements > u64_limit) return fail("ValidationOverflow");
    }
    const u128 bits = elements * detail::dtype_bits(t.dtype);
    if (bits > u64_limit) return fail("ValidationOverflow");
    if (bits % 8 != 0) return fail("MisalignedSlice");                  // rule 8
    if (t.end - t.begin != bits / 8) return fail("TensorInvalidInfo");  // rule 9
  }
  // Rule 10.
  const u128 expected = static_cast<u128>(8) + header_size + start;
  if (expected > size) return fail("MetadataIncompleteBuffer");
  if (expected < size && !opts.allow_trailing_bytes) return fail("MetadataIncompleteBuffer");
  v.data_size = start;
  v.ok = true;
  return v;
}

}  // namespace st_ref

#endif  // SAFETENSORS_TEST_SUPPORT_REFERENCE_CHECKER_HPP
