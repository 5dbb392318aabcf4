// safetensors for C++, part 9 of 14: the sharded checkpoint index. The Hugging Face
// `<prefix>.safetensors.index.json` (docs/index.md): parse_index reads it strictly (shape,
// depth, duplicate keys, shard names confined to the index's directory), format_index writes it
// byte for byte as the Python tools do. Each part declares, then defines under
// SAFETENSORS_DEFINITIONS, which the translation units of the separate-compilation mode do not see
// (docs/design.md#separate-compilation). `template <class = void>` marks what is compiled only when
// used (docs/design.md#compile-cost).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_INDEX_HPP
#define SAFETENSORS_PARTS_INDEX_HPP

// json_value holds a nlohmann::json by pointer: its declaration needs only json_fwd.hpp
// (docs/design.md#separate-compilation).
#include <nlohmann/json_fwd.hpp>

#include "parse.hpp"

#if SAFETENSORS_DEFINITIONS
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>
#endif

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// The default maximum shard size of the Hub tools: 5 GB in decimal units (tensor bytes only).
inline constexpr std::uint64_t default_max_shard_size = 5'000'000'000;

/// A nlohmann::json, held by pointer so that declaring it needs only <nlohmann/json_fwd.hpp>
/// (docs/index.md#the-metadata-value): `*v` and `v->` reach the JSON value, which code that uses
/// them reads with <nlohmann/json.hpp> included. A value type: copies are deep. Default, and after
/// a move from it: a JSON null. Its members are compiled with the library
/// (docs/design.md#separate-compilation); a class template (json_value) so that, header-only, a
/// translation unit compiles only the members it uses (docs/design.md#compile-cost).
template <class = void>
class basic_json_value {
 public:
  basic_json_value() noexcept = default;
  /// A copy of `v`, or `v` moved in (implicit, as assigning a nlohmann::json was before).
  basic_json_value(const nlohmann::json& v);
  basic_json_value(nlohmann::json&& v);
  basic_json_value(const basic_json_value& o);
  basic_json_value(basic_json_value&& o) noexcept : value_(std::exchange(o.value_, nullptr)) {}
  basic_json_value& operator=(const basic_json_value& o);
  basic_json_value& operator=(basic_json_value&& o) noexcept;
  ~basic_json_value();

  /// The JSON value; the non-const forms allocate it on first use (a null until then).
  nlohmann::json& operator*();
  const nlohmann::json& operator*() const noexcept;
  nlohmann::json* operator->() { return &**this; }
  const nlohmann::json* operator->() const noexcept { return &**this; }

  /// JSON equality of the two values (nlohmann::json's ==).
  friend bool operator==(const basic_json_value& a, const basic_json_value& b) noexcept {
    return a.equals(b);
  }
  friend bool operator!=(const basic_json_value& a, const basic_json_value& b) noexcept {
    return !a.equals(b);
  }

 private:
  bool equals(const basic_json_value& o) const noexcept;
  nlohmann::json* value_ = nullptr;  // nullptr: a JSON null
};
using json_value = basic_json_value<>;

/// One entry of an index's `weight_map`: a tensor name and the index of its shard's file name.
struct index_entry {
  std::string name;       ///< the tensor's name
  std::size_t shard = 0;  ///< position in shard_index::shards
};

/// A parsed `model.safetensors.index.json`.
struct shard_index {
  /// The `metadata` object with every key (any JSON values); null when absent or `null`.
  /// `*metadata` is the nlohmann::json (json_value).
  json_value metadata;
  /// The distinct shard file names, sorted by bytes; each a plain file name (validated).
  std::vector<std::string> shards;
  /// The `weight_map`, sorted by tensor name bytes.
  std::vector<index_entry> weight_map;

  /// `metadata.total_size` when it is a non-negative integer; nullopt otherwise (informational).
  template <class = void>
  std::optional<std::uint64_t> total_size() const noexcept;
  /// The shard (position in `shards`) of the tensor `name`, or nullopt. O(log n).
  SAFETENSORS_FUNC std::optional<std::size_t> find(std::string_view name) const noexcept;
};

namespace detail {
/// Nesting limit of an index: the same as a header's (the top-level object is level 1).
inline constexpr std::size_t index_max_depth = 127;

/// Why `name` is not a plain file name that stays inside the index's directory, or nullopt.
/// Rejected: empty, "." and "..", '/', '\\', ':' (drive and stream designators on Windows),
/// control characters (NUL included), Windows device names (CON, NUL, COM1, ...).
SAFETENSORS_FUNC std::optional<std::string> shard_name_problem(std::string_view name);
}  // namespace detail

/// Parses an index (`{"metadata": {...}, "weight_map": {tensor: shard file}}`) held in memory.
/// Errors: InvalidHeaderDeserialization (JSON syntax, a BOM or NUL byte, nesting deeper than
/// 127, no `weight_map` object, a shard name that is not a string or not a plain file name of
/// the index's directory, `metadata` neither an object nor null), DuplicateKey (a key twice in
/// any object, `weight_map` included). Other top-level keys are ignored.
template <class = void>
result<shard_index> parse_index(std::string_view json);

/// The index as `transformers` writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`
/// (ASCII only: other characters as \uXXXX). `metadata` is omitted when null. InvalidArgument
/// for a string that is not UTF-8 or a shard position out of range.
template <class = void>
result<std::string> format_index(const shard_index& index);

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {

template <class T>
basic_json_value<T>::basic_json_value(const nlohmann::json& v) : value_(new nlohmann::json(v)) {}
template <class T>
basic_json_value<T>::basic_json_value(nlohmann::json&& v)
    : value_(new nlohmann::json(std::move(v))) {}
template <class T>
basic_json_value<T>::basic_json_value(const basic_json_value& o)
    : value_(o.value_ != nullptr ? new nlohmann::json(*o.value_) : nullptr) {}
template <class T>
basic_json_value<T>& basic_json_value<T>::operator=(const basic_json_value& o) {
  if (this != &o) *this = basic_json_value(o);
  return *this;
}
template <class T>
basic_json_value<T>& basic_json_value<T>::operator=(basic_json_value&& o) noexcept {
  if (this != &o) {
    delete value_;
    value_ = std::exchange(o.value_, nullptr);
  }
  return *this;
}
template <class T>
basic_json_value<T>::~basic_json_value() {
  delete value_;
}
template <class T>
nlohmann::json& basic_json_value<T>::operator*() {
  if (value_ == nullptr) value_ = new nlohmann::json();
  return *value_;
}
template <class T>
const nlohmann::json& basic_json_value<T>::operator*() const noexcept {
  static const nlohmann::json null;
  return value_ != nullptr ? *value_ : null;
}
template <class T>
bool basic_json_value<T>::equals(const basic_json_value& o) const noexcept {
  return **this == *o;
}

template <class>
std::optional<std::uint64_t> shard_index::total_size() const noexcept {
  const auto* object = metadata->get_ptr<const nlohmann::json::object_t*>();
  if (object == nullptr) return std::nullopt;
  const auto it = object->find("total_size");
  if (it == object->end()) return std::nullopt;
  if (const auto* u = it->second.get_ptr<const nlohmann::json::number_unsigned_t*>()) return *u;
  return std::nullopt;
}

SAFETENSORS_FUNC std::optional<std::size_t> shard_index::find(
    std::string_view name) const noexcept {
  const auto it = std::lower_bound(
      weight_map.begin(), weight_map.end(), name,
      [](const index_entry& e, std::string_view n) { return std::string_view(e.name) < n; });
  if (it == weight_map.end() || it->name != name) return std::nullopt;
  return it->shard;
}

namespace detail {
SAFETENSORS_FUNC std::optional<std::string> shard_name_problem(std::string_view name) {
  if (name.empty()) return std::string("is empty");
  if (name == "." || name == "..") return std::string("names a directory, not a file");
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '\\') return std::string("contains a path separator");
    if (c == ':') return std::string("contains ':' (a drive or stream designator on Windows)");
    if (c < 0x20 || c == 0x7f) return std::string("contains a control character");
  }
  // Windows device names, with or without an extension, in any case.
  std::string stem(name.substr(0, name.find('.')));
  while (!stem.empty() && stem.back() == ' ') stem.pop_back();
  for (char& ch : stem) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  const bool device =
      stem == "CON" || stem == "PRN" || stem == "AUX" || stem == "NUL" ||
      (stem.size() == 4 && (stem.compare(0, 3, "COM") == 0 || stem.compare(0, 3, "LPT") == 0) &&
       stem[3] >= '0' && stem[3] <= '9');
  if (device) return std::string("is a Windows device name");
  return std::nullopt;
}

/// The index parser: one SAX pass that checks the shape, the nesting depth and duplicate keys
/// in every object (nlohmann's DOM would keep the last duplicate silently), collects the
/// weight_map as (name, shard) pairs and builds the JSON of `metadata` (and, to check them, of
/// other top-level values, then dropped).
template <class = void>
class index_sax {
 public:
  using json = nlohmann::json;

  bool null() { return value(json(nullptr), "null"); }
  bool boolean(bool v) { return value(json(v), "boolean"); }
  bool number_integer(std::int64_t v) { return value(json(v), "number"); }
  bool number_unsigned(std::uint64_t v) { return value(json(v), "number"); }
  bool number_float(double v, const std::string&) { return value(json(v), "number"); }
  bool string(std::string& v) {
    if (region_ == region::weight_map && stack_.empty() && depth_ == 2) {
      entries_.emplace_back(std::move(key_), std::move(v));
      return true;
    }
    return value(json(std::move(v)), "string");
  }
  bool start_object() { return open(true); }
  bool start_array() { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (depth_ == 1) {  // a top-level key
      if (std::find(top_keys_.begin(), top_keys_.end(), k) != top_keys_.end()) {
        return fail(errc::duplicate_key, "the key " + quote(k) + " appears twice in the index");
      }
      top_keys_.push_back(k);
      region_ = k == "metadata"     ? region::metadata
                : k == "weight_map" ? region::weight_map
                                    : region::other;
      return true;
    }
    if (!stack_.empty()) {  // inside a value being built
      const json& obj = *stack_.back();
      if (obj.contains(k)) {
        return fail(errc::duplicate_key,
                    "the key " + quote(k) + " appears twice in an object of " + region_name());
      }
    }
    key_ = std::move(k);
    return true;
  }
  /// Invalid JSON at offset `at` of the index.
  bool parse_error(std::size_t at, const std::string& what) {
    std::string m = "invalid JSON at offset ";
    m += num(at);
    m += " of the index: ";
    m += what;
    return fail(errc::invalid_header_deserialization, std::move(m));
  }

  const std::optional<error>& failure() const noexcept { return failure_; }
  bool saw_weight_map() const noexcept {
    return std::find(top_keys_.begin(), top_keys_.end(), "weight_map") != top_keys_.end();
  }
  json& metadata() noexcept { return metadata_; }
  std::vector<std::pair<std::string, std::string>>& entries() noexcept { return entries_; }

 private:
  enum class region : std::uint8_t { top, metadata, weight_map, other };

  bool fail(std::string message) {
    return fail(errc::invalid_header_deserialization, std::move(message));
  }
  bool fail(errc code, std::string message) {
    if (!failure_) failure_.emplace(code, std::move(message));
    return false;
  }
  std::string region_name() const {
    return region_ == region::metadata ? "\"metadata\""
                                       : "the top-level key " + quote(top_keys_.back());
  }

  /// A scalar (or a finished container, via close()) at the current position.
  bool value(json v, const char* type) {
    if (depth_ == 0) return fail(std::string("the index is a JSON ") + type + ", not an object");
    if (!stack_.empty()) {
      json& parent = *stack_.back();
      if (parent.is_array()) {
        parent.get_ptr<json::array_t*>()->push_back(std::move(v));
      } else {
        (*parent.get_ptr<json::object_t*>())[std::move(key_)] = std::move(v);
      }
      return true;
    }
    // A direct value of a top-level key.
    switch (region_) {
      case region::metadata:
        if (!v.is_null()) {
          return fail(std::string("\"metadata\" is a JSON ") + type + ", not an object");
        }
        metadata_ = nullptr;
        return true;
      case region::weight_map:
        if (depth_ == 1) {
          return fail(std::string("\"weight_map\" is a JSON ") + type + ", not an object");
        }
        return fail("weight_map[" + quote(key_) + "] is a JSON " + type +
                    ", not a shard file name");
      default:
        return true;  // another top-level key's scalar: ignored
    }
  }

  bool open(bool object) {
    if (depth_ >= index_max_depth) {
      return fail("the index nests deeper than " + num(index_max_depth) + " levels");
    }
    ++depth_;
    if (depth_ == 1) {
      if (!object) return fail("the index is a JSON array, not an object");
      return true;
    }
    const char* type = object ? "object" : "array";
    json fresh = object ? json::object() : json::array();
    if (!stack_.empty()) {
      json& parent = *stack_.back();
      json* child = nullptr;
      if (parent.is_array()) {
        auto& a = *parent.get_ptr<json::array_t*>();
        a.push_back(std::move(fresh));
        child = &a.back();  // stable: the parent does not grow while the child is open
      } else {
        child = &((*parent.get_ptr<json::object_t*>())[std::move(key_)] = std::move(fresh));
      }
      stack_.push_back(child);
      return true;
    }
    switch (region_) {
      case region::metadata:
        if (!object) return fail(std::string("\"metadata\" is a JSON ") + type + ", not an object");
        metadata_ = std::move(fresh);
        stack_.push_back(&metadata_);
        return true;
      case region::weight_map:
        if (depth_ == 2) {
          if (!object) return fail("\"weight_map\" is a JSON array, not an object");
          return true;  // entries are collected by string()
        }
        return fail("weight_map[" + quote(key_) + "] is a JSON " + type +
                    ", not a shard file name");
      default:
        other_ = std::move(fresh);  // built only to check it, then dropped
        stack_.push_back(&other_);
        return true;
    }
  }

  bool close() {
    if (!stack_.empty()) stack_.pop_back();
    --depth_;
    if (stack_.empty() && depth_ == 1 && region_ == region::other) other_ = nullptr;
    return true;
  }

  std::size_t depth_ = 0;
  region region_ = region::top;
  std::vector<std::string> top_keys_;
  std::string key_;
  std::vector<json*> stack_;  // containers being built (metadata or another top-level value)
  json metadata_;
  json other_;
  std::vector<std::pair<std::string, std::string>> entries_;
  std::optional<error> failure_;
};

/// Appends `s` as a JSON string the way Python's json.dumps(ensure_ascii=True) writes it:
/// `\"` `\\` `\b\f\n\r\t`, other bytes below 0x20 and 0x7f and every non-ASCII character as
/// lowercase `\uXXXX` (surrogate pairs above U+FFFF). False when `s` is not valid UTF-8.
SAFETENSORS_FUNC bool append_python_string(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  if (utf8_error_offset(p, n) != n) return false;
  auto u = [&out](std::uint32_t unit) {
    out += "\\u";
    for (unsigned shift = 16; shift != 0; shift -= 4) out += hex_digit(unit >> (shift - 4));
  };
  out += '"';
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (const char* e = json_short_escape(c)) {
        out += e;
      } else if (c < 0x20 || c == 0x7f) {
        u(c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else if (c >= 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else {
      len = 2;
      cp = c & 0x1Fu;
    }
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3Fu);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u(0xD800 + (cp >> 10));
      u(0xDC00 + (cp & 0x3FF));
    } else {
      u(cp);
    }
  }
  out += '"';
  return true;
}

/// A double as Python's repr() writes it: the shortest digits that read back as the same
/// double (the closest such when there are several), fixed notation for exponents -4 to 15,
/// else `1e+16` style; NaN and infinities as Python's json writes them.
SAFETENSORS_FUNC std::string python_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-Infinity" : "Infinity";
  char buf[64];
  for (int precision = 0; precision < 17; ++precision) {  // %.Ne is correctly rounded
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string digits;
  bool negative = false;
  int exponent = 0;
  const char* s = buf;
  if (*s == '-') {
    negative = true;
    ++s;
  }
  for (; *s != '\0' && *s != 'e' && *s != 'E'; ++s) {
    if (*s >= '0' && *s <= '9') digits += *s;  // skips the locale's decimal point
  }
  if (*s != '\0') exponent = std::atoi(s + 1);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int point = exponent + 1;  // digits before the decimal point
  const auto n = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    } else if (point >= n) {
      out += digits + std::string(static_cast<std::size_t>(point - n), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(point)) + "." +
             digits.substr(static_cast<std::size_t>(point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  const int e = point - 1;
  out += e < 0 ? "e-" : "e+";
  const int magnitude = e < 0 ? -e : e;
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
  return out;
}

/// Appends `j` as Python's json.dumps(j, indent=2, sort_keys=True, ensure_ascii=True) does,
/// at indentation `level`. InvalidArgument for a string that is not UTF-8 or deep nesting.
template <class = void>
result<void> append_python_json(std::string& out, const nlohmann::json& j, std::size_t level) {
  if (level >= index_max_depth) {
    return error(errc::invalid_argument,
                 "index metadata nests deeper than " + num(index_max_depth) + " levels");
  }
  auto newline = [&out](std::size_t l) {
    out += '\n';
    out.append(2 * l, ' ');
  };
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out += "null";
      return {};
    case nlohmann::json::value_t::boolean:
      out += *j.get_ptr<const nlohmann::json::boolean_t*>() ? "true" : "false";
      return {};
    case nlohmann::json::value_t::number_integer:
      out += std::to_string(*j.get_ptr<const nlohmann::json::number_integer_t*>());
      return {};
    case nlohmann::json::value_t::number_unsigned:
      out += std::to_string(*j.get_ptr<const nlohmann::json::number_unsigned_t*>());
      return {};
    case nlohmann::json::value_t::number_float:
      out += python_float(*j.get_ptr<const nlohmann::json::number_float_t*>());
      return {};
    case nlohmann::json::value_t::string:
      if (!append_python_string(out, *j.get_ptr<const std::string*>())) {
        return error(errc::invalid_argument, "index metadata: a string is not valid UTF-8");
      }
      return {};
    case nlohmann::json::value_t::binary:
      return error(errc::invalid_argument, "index metadata: binary values have no JSON form");
    case nlohmann::json::value_t::array: {
      const auto& a = *j.get_ptr<const nlohmann::json::array_t*>();
      if (a.empty()) {
        out += "[]";
        return {};
      }
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i != 0) out += ',';
        newline(level + 1);
        if (auto r = append_python_json(out, a[i], level + 1); !r) return r;
      }
      newline(level);
      out += ']';
      return {};
    }
    case nlohmann::json::value_t::object: {
      const auto& o = *j.get_ptr<const nlohmann::json::object_t*>();  // std::map: byte order
      if (o.empty()) {
        out += "{}";
        return {};
      }
      out += '{';
      bool first = true;
      for (const auto& [key, value] : o) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        if (!append_python_string(out, key)) {
          return error(errc::invalid_argument, "index metadata: a key is not valid UTF-8");
        }
        out += ": ";
        if (auto r = append_python_json(out, value, level + 1); !r) return r;
      }
      newline(level);
      out += '}';
      return {};
    }
  }
  return {};
}
}  // namespace detail

template <class>
result<shard_index> parse_index(std::string_view json) {
  using detail::quote;
  const auto* bytes = reinterpret_cast<const unsigned char*>(json.data());
  if (json.size() >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: the index starts with a UTF-8 byte order mark");
  }
  if (const void* nul = json.empty() ? nullptr : std::memchr(json.data(), 0, json.size())) {
    return error(
        errc::invalid_header_deserialization,
        "invalid JSON: NUL byte at offset " +
            detail::num(static_cast<std::uint64_t>(static_cast<const char*>(nul) - json.data())));
  }
  detail::index_sax<> sax;
  const char* first = json.data();
  const bool ok = detail::json_sax_parse(first, first + json.size(), sax);
  if (!ok) {
    if (sax.failure()) return *sax.failure();
    return error(errc::invalid_header_deserialization, "invalid JSON");
  }
  if (!sax.saw_weight_map()) {
    return error(errc::invalid_header_deserialization, "the index has no \"weight_map\"");
  }
  auto& entries = sax.entries();
  const auto by_name = [](const auto& x, const auto& y) { return x.first < y.first; };
  if (!std::is_sorted(entries.begin(), entries.end(), by_name)) {  // sort_keys=True: sorted
    std::sort(entries.begin(), entries.end(), by_name);
  }
  // Distinct shard names, each checked once; then sorted, and the entries renumbered.
  std::unordered_map<std::string_view, std::size_t> first_seen;
  std::vector<std::size_t> shard_of(entries.size());
  std::vector<std::string_view> distinct;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0 && entries[i].first == entries[i - 1].first) {
      return error(errc::duplicate_key,
                   "the key " + quote(entries[i].first) + " appears twice in \"weight_map\"");
    }
    const std::string_view file = entries[i].second;
    const auto [it, inserted] = first_seen.emplace(file, distinct.size());
    if (inserted) {
      if (auto why = detail::shard_name_problem(file)) {
        return error(errc::invalid_header_deserialization,
                     "weight_map[" + quote(entries[i].first) + "]: the shard name " + quote(file) +
                         " " + *why + "; shards must be plain file names in the index's directory");
      }
      distinct.push_back(file);
    }
    shard_of[i] = it->second;
  }
  std::vector<std::size_t> order(distinct.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&distinct](std::size_t x, std::size_t y) { return distinct[x] < distinct[y]; });
  std::vector<std::size_t> rank(distinct.size());
  shard_index out;
  out.shards.reserve(distinct.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = k;
    out.shards.emplace_back(distinct[order[k]]);
  }
  out.metadata = std::move(sax.metadata());
  out.weight_map.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out.weight_map.push_back(index_entry{std::move(entries[i].first), rank[shard_of[i]]});
  }
  return out;
}

template <class>
result<std::string> format_index(const shard_index& index) {
  std::string out = "{";
  bool first = true;
  if (!index.metadata->is_null()) {
    out += "\n  \"metadata\": ";
    if (auto r = detail::append_python_json(out, *index.metadata, 1); !r) return r.error();
    first = false;
  }
  if (!first) out += ',';
  out += "\n  \"weight_map\": ";
  if (index.weight_map.empty()) {
    out += "{}";
  } else {
    out += '{';
    for (std::size_t i = 0; i < index.weight_map.size(); ++i) {
      const index_entry& e = index.weight_map[i];
      if (e.shard >= index.shards.size()) {
        return error(errc::invalid_argument,
                     "format_index: tensor " + detail::quote(e.name) + " has no shard");
      }
      if (i != 0) out += ',';
      out += "\n    ";
      if (!detail::append_python_string(out, e.name)) {
        return error(errc::invalid_argument,
                     "format_index: the tensor name " + detail::quote(e.name) + " is not UTF-8");
      }
      out += ": ";
      if (!detail::append_python_string(out, index.shards[e.shard])) {
        return error(errc::invalid_argument, "format_index: a shard name is not UTF-8");
      }
    }
    out += "\n  }";
  }
  out += "\n}\n";
  return out;
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template class basic_json_value<void>;
template std::optional<std::uint64_t> shard_index::total_size<void>() const noexcept;
template result<shard_index> parse_index<void>(std::string_view);
template result<std::string> format_index<void>(const shard_index&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_INDEX_HPP
