#pragma once
#include <safetensors/safetensors.hpp>

#include <cmath>  // (to paste: add <cmath> and <mutex> to section 3, "Includes")
#include <mutex>

namespace safetensors {
inline namespace v0 {

// ---------------------------------------------------------------------------------------------
// 8. Sharded checkpoints (DESIGN §7): the Hugging Face `<prefix>.safetensors.index.json`
//    convention. Read: parse_index → checkpoint (shards opened lazily) → lookup, iteration,
//    verify, merge. Write: shard_layout (greedy packing) → save_sharded / sharded_stream_writer.
// ---------------------------------------------------------------------------------------------

/// The default maximum shard size of the Hub tools: 5 GB in decimal units (tensor bytes only).
inline constexpr std::uint64_t default_max_shard_size = 5'000'000'000;

/// One entry of an index's `weight_map`: a tensor name and the index of its shard's file name.
struct index_entry {
  std::string name;        ///< the tensor's name
  std::size_t shard = 0;   ///< position in shard_index::shards
};

/// A parsed `model.safetensors.index.json`.
struct shard_index {
  /// The `metadata` object with every key (any JSON values); null when absent or `null`.
  nlohmann::json metadata;
  /// The distinct shard file names, sorted by bytes; each a plain file name (validated).
  std::vector<std::string> shards;
  /// The `weight_map`, sorted by tensor name bytes.
  std::vector<index_entry> weight_map;

  /// `metadata.total_size` when it is a non-negative integer; nullopt otherwise (informational).
  std::optional<std::uint64_t> total_size() const noexcept {
    if (!metadata.is_object()) return std::nullopt;
    const auto it = metadata.find("total_size");
    if (it == metadata.end()) return std::nullopt;
    if (const auto* u = it->get_ptr<const nlohmann::json::number_unsigned_t*>()) return *u;
    return std::nullopt;
  }
  /// The shard (position in `shards`) of the tensor `name`, or nullopt. O(log n).
  std::optional<std::size_t> find(std::string_view name) const noexcept {
    const auto it = std::lower_bound(
        weight_map.begin(), weight_map.end(), name,
        [](const index_entry& e, std::string_view n) { return std::string_view(e.name) < n; });
    if (it == weight_map.end() || it->name != name) return std::nullopt;
    return it->shard;
  }
};

namespace detail {
/// Nesting limit of an index: the same as a header's (the top-level object is level 1).
inline constexpr std::size_t index_max_depth = 127;

/// Why `name` is not a plain file name that stays inside the index's directory, or nullopt.
/// Rejected: empty, "." and "..", '/', '\\', ':' (drive and stream designators on Windows),
/// control characters (NUL included), Windows device names (CON, NUL, COM1, ...).
inline std::optional<std::string> shard_name_problem(std::string_view name) {
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

/// A std::filesystem::path from a UTF-8 string on every platform (not the ANSI code page).
inline result<std::filesystem::path> path_from_utf8(std::string_view utf8) {
#if SAFETENSORS_WINDOWS
  auto native = to_native(utf8);
  if (!native) return native.error();
  return std::filesystem::path(std::move(*native));
#else
  return std::filesystem::path(std::string(utf8));
#endif
}

template <class P>
result<std::filesystem::path> to_fs_path(const P& path) {
  if constexpr (is_path_v<P>) {
    return path;
  } else {
    return path_from_utf8(std::string_view(path));
  }
}

/// The index parser: one SAX pass that checks the shape, the nesting depth and duplicate keys
/// in every object (nlohmann's DOM would keep the last duplicate silently), collects the
/// weight_map as (name, shard) pairs and builds the JSON of `metadata` (and, to check them, of
/// other top-level values, then dropped).
class index_sax {
 public:
  using json = nlohmann::json;

  bool null() { return value(json(nullptr), "null"); }
  bool boolean(bool v) { return value(json(v), "boolean"); }
  bool number_integer(json::number_integer_t v) { return value(json(v), "number"); }
  bool number_unsigned(json::number_unsigned_t v) { return value(json(v), "number"); }
  bool number_float(json::number_float_t v, const std::string&) { return value(json(v), "number"); }
  bool string(std::string& v) {
    if (region_ == region::weight_map && stack_.empty() && depth_ == 2) {
      entries_.emplace_back(std::move(key_), std::move(v));
      return true;
    }
    return value(json(std::move(v)), "string");
  }
  bool binary(json::binary_t&) { return fail("binary values are not JSON"); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (depth_ == 1) {  // a top-level key
      if (std::find(top_keys_.begin(), top_keys_.end(), k) != top_keys_.end()) {
        return fail(errc::duplicate_key, "the key " + quote(k) + " appears twice in the index");
      }
      top_keys_.push_back(k);
      region_ = k == "metadata" ? region::metadata
                : k == "weight_map" ? region::weight_map
                                    : region::other;
      return true;
    }
    if (!stack_.empty()) {  // inside a value being built
      const json& obj = *stack_.back();
      if (obj.contains(k)) {
        return fail(errc::duplicate_key, "the key " + quote(k) + " appears twice in an object of " +
                                             region_name());
      }
    }
    key_ = std::move(k);
    return true;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    std::string what = ex.what();
    if (!what.empty() && what[0] == '[') {  // drop "[json.exception.parse_error.101] "
      const auto close_at = what.find("] ");
      if (close_at != std::string::npos) what.erase(0, close_at + 2);
    }
    return fail(errc::invalid_header_deserialization, "invalid JSON: " + what);
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
    return region_ == region::metadata ? "\"metadata\"" : "the top-level key " + quote(top_keys_.back());
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
inline bool append_python_string(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  if (utf8_error_offset(p, n) != n) return false;
  static const char hex[] = "0123456789abcdef";
  auto u = [&out](std::uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 15];
  };
  out += '"';
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            u(c);
          } else {
            out += static_cast<char>(c);
          }
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
inline std::string python_float(double v) {
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
inline result<void> append_python_json(std::string& out, const nlohmann::json& j,
                                       std::size_t level) {
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

/// Parses an index (`{"metadata": {...}, "weight_map": {tensor: shard file}}`) held in memory.
/// Errors: InvalidHeaderDeserialization (JSON syntax, a BOM or NUL byte, nesting deeper than
/// 127, no `weight_map` object, a shard name that is not a string or not a plain file name of
/// the index's directory, `metadata` neither an object nor null), DuplicateKey (a key twice in
/// any object, `weight_map` included). Other top-level keys are ignored.
inline result<shard_index> parse_index(std::string_view json) {
  using detail::quote;
  const auto* bytes = reinterpret_cast<const unsigned char*>(json.data());
  if (json.size() >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: the index starts with a UTF-8 byte order mark");
  }
  if (const void* nul = json.empty() ? nullptr : std::memchr(json.data(), 0, json.size())) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: NUL byte at offset " +
                     detail::num(static_cast<std::uint64_t>(
                         static_cast<const char*>(nul) - json.data())));
  }
  detail::index_sax sax;
  const char* first = json.data();
  const bool ok = nlohmann::json::sax_parse(first, first + json.size(), &sax,
                                            nlohmann::json::input_format_t::json, true, false);
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

/// The index as `transformers` writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`
/// (ASCII only: other characters as \uXXXX). `metadata` is omitted when null. InvalidArgument
/// for a string that is not UTF-8 or a shard position out of range.
inline result<std::string> format_index(const shard_index& index) {
  std::string out = "{";
  bool first = true;
  if (!index.metadata.is_null()) {
    out += "\n  \"metadata\": ";
    if (auto r = detail::append_python_json(out, index.metadata, 1); !r) return r.error();
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

/// How a checkpoint reads its shards.
enum class shard_access : std::uint8_t {
  mapped,  ///< memory-mapped (open_mapped): zero-copy tensor views
  reader,  ///< pread / ReadFile (open_reader): read_into only, no mapping
};

/// Options of checkpoint::open.
struct checkpoint_options {
  /// Mapped (zero copy) or pread shards.
  shard_access access = shard_access::mapped;
  /// Applied to every shard.
  parse_options parse;
  /// Applied to every mapped shard.
  map_options map;
  /// A directory holds `<prefix>.safetensors.index.json` or `<prefix>.safetensors`.
  std::string prefix = "model";
  /// Largest index file accepted, in bytes (HeaderTooLarge above).
  std::uint64_t max_index_size = 100'000'000;
};

/// What verify() found. ok() when there is no problem.
struct verify_report {
  std::vector<error> problems;  ///< every problem, in the order found
  std::size_t tensor_count = 0;    ///< index entries found in their shards
  std::uint64_t tensor_bytes = 0;  ///< their byte sizes, summed
  std::size_t shards_opened = 0;   ///< shards that opened and validated
  /// True when no problem was found.
  bool ok() const noexcept { return problems.empty(); }
};

/// Options of checkpoint::verify.
struct verify_options {
  /// Do not report tensors that a shard holds but the index does not list (the index is the
  /// authority; some tools leave such tensors behind).
  bool allow_unlisted_tensors = false;
};

namespace detail {
struct shard_slot {
  std::string name;                       // as in the index
  std::filesystem::path path;
  std::atomic<bool> ready{false};  // set (release) once the open was attempted
  std::mutex opening;
  std::optional<mapped_view> mapped;
  std::optional<source_reader> reader;
  std::optional<error> failure;

  void open(const checkpoint_options& o) {
    if (o.access == shard_access::mapped) {
      auto v = open_mapped(path, o.parse, o.map);
      if (v) {
        mapped.emplace(std::move(*v));
      } else {
        failure.emplace(v.error());
      }
    } else {
      auto r = open_reader(path, o.parse);
      if (r) {
        reader.emplace(std::move(*r));
      } else {
        failure.emplace(r.error());
      }
    }
  }
  const safetensors::header& header() const noexcept {
    return mapped ? mapped->header() : reader->header();
  }
};
}  // namespace detail

/// An opened shard of a checkpoint. A handle: valid while its checkpoint lives.
class shard_view {
 public:
  /// The shard's file name as the index gives it.
  const std::string& file_name() const noexcept { return slot_->name; }
  /// The shard's path (the index's directory joined with the file name).
  const std::filesystem::path& path() const noexcept { return slot_->path; }
  /// The shard's parsed header.
  const safetensors::header& header() const noexcept { return slot_->header(); }
  /// The mapped file, or nullptr when the checkpoint reads with shard_access::reader.
  const mapped_view* mapped() const noexcept { return slot_->mapped ? &*slot_->mapped : nullptr; }
  /// The pread reader, or nullptr when the checkpoint maps its shards.
  const source_reader* reader() const noexcept { return slot_->reader ? &*slot_->reader : nullptr; }
  /// Copies the bytes of `info` (an entry of this shard's header) into `dst`.
  result<void> read_into(const tensor_info& info, span<std::byte> dst) const {
    if (slot_->reader) return slot_->reader->read_into(info, dst);
    const data_offsets o = info.offsets();
    const auto& v = *slot_->mapped;
    if (o.end < o.begin || o.end > v.header().data_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " is not an entry of this shard");
    }
    if (dst.size() < info.byte_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " has " + detail::num(info.byte_size()) +
                                               " bytes, the buffer holds " +
                                               detail::num(dst.size()));
    }
    const auto bytes = v.view(info).bytes();
    if (!bytes.empty()) std::memcpy(dst.data(), bytes.data(), bytes.size());
    return {};
  }

 private:
  friend class checkpoint;
  explicit shard_view(const detail::shard_slot* slot) noexcept : slot_(slot) {}
  const detail::shard_slot* slot_;
};

/// A model in one file or in shards with an index, read as one: lookup, iteration in name order
/// with each tensor's shard, typed views (mapped) or read_into (both access modes), verify.
/// Shards are opened and validated on first use; a shard that fails to open keeps its error.
/// Thread-safety: every const member function may be called from several threads at once
/// (each shard opens once, under a lock); views and shard handles live as long as the checkpoint.
/// Move-only (moving does not invalidate views; do not move it while other threads use it).
class checkpoint {
 public:
  checkpoint() = default;
  checkpoint(checkpoint&&) noexcept = default;
  checkpoint& operator=(checkpoint&&) noexcept = default;

  /// Opens `path` (UTF-8 string or std::filesystem::path): a directory (its
  /// `<prefix>.safetensors.index.json`, else `<prefix>.safetensors`, else its only
  /// `*.safetensors.index.json`, else its only `*.safetensors`), an index file (`*.json`) or a
  /// single safetensors file. An index is parsed at once (parse_index's errors, prefixed with
  /// its path); shards open lazily, except a single file, which opens here.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<checkpoint> open(const P& path, const checkpoint_options& options = {}) {
    auto p = detail::to_fs_path(path);
    if (!p) return p.error();
    return open_path(*p, options);
  }

  /// A checkpoint over a parsed index whose shard names are relative to `directory` (the names
  /// are checked as parse_index does; the weight_map is sorted; a name twice is DuplicateKey).
  static result<checkpoint> from_index(shard_index index, const std::filesystem::path& directory,
                                       const checkpoint_options& options = {}) {
    checkpoint c;
    c.options_ = options;
    c.directory_ = directory;
    c.sharded_ = true;
    for (const std::string& name : index.shards) {
      if (auto why = detail::shard_name_problem(name)) {
        return error(errc::invalid_header_deserialization,
                     "the shard name " + detail::quote(name) + " " + *why);
      }
      auto file = detail::path_from_utf8(name);
      if (!file) return file.error();
      auto slot = std::make_unique<detail::shard_slot>();
      slot->name = name;
      slot->path = directory / *file;
      c.slots_.push_back(std::move(slot));
    }
    for (const index_entry& e : index.weight_map) {
      if (e.shard >= c.slots_.size()) {
        return error(errc::invalid_argument,
                     "from_index: tensor " + detail::quote(e.name) + " has no shard");
      }
    }
    auto& map = index.weight_map;  // parse_index sorts it; an index built by hand may not be
    if (!std::is_sorted(map.begin(), map.end(), [](const index_entry& a, const index_entry& b) {
          return a.name < b.name;
        })) {
      std::stable_sort(map.begin(), map.end(), [](const index_entry& a, const index_entry& b) {
        return a.name < b.name;
      });
    }
    for (std::size_t i = 1; i < map.size(); ++i) {
      if (map[i].name == map[i - 1].name) {
        return error(errc::duplicate_key,
                     "the weight_map lists tensor " + detail::quote(map[i].name) + " twice");
      }
    }
    c.index_ = std::move(index);
    return c;
  }

  /// True when opened from an index (false for a single file).
  bool sharded() const noexcept { return sharded_; }
  /// The directory that holds the shards.
  const std::filesystem::path& directory() const noexcept { return directory_; }
  /// The index file's path (empty for a single file).
  const std::filesystem::path& index_path() const noexcept { return index_path_; }
  /// The index (for a single file: one shard, every tensor, null metadata).
  const shard_index& index() const noexcept { return index_; }
  /// Number of tensors (weight_map entries).
  std::size_t size() const noexcept { return index_.weight_map.size(); }
  /// The weight_map in tensor name order: each tensor's name and shard (see shard_name()).
  const std::vector<index_entry>& entries() const noexcept { return index_.weight_map; }
  /// Number of shard files.
  std::size_t shard_count() const noexcept { return slots_.size(); }
  /// The file name of shard `i` (unchecked).
  const std::string& shard_name(std::size_t i) const noexcept { return slots_[i]->name; }
  /// The shard of tensor `name` per the index, or nullopt.
  std::optional<std::size_t> shard_of(std::string_view name) const noexcept {
    return index_.find(name);
  }
  /// True when the index lists `name`.
  bool contains(std::string_view name) const noexcept { return index_.find(name).has_value(); }

  /// Shard `i`, opened (and fully validated) on first use: IoError, a parse error, or
  /// InvalidArgument for `i` out of range.
  result<shard_view> shard(std::size_t i) const {
    if (i >= slots_.size()) {
      return error(errc::invalid_argument, "shard " + detail::num(i) + " of " +
                                               detail::num(slots_.size()) + " does not exist");
    }
    detail::shard_slot& s = *slots_[i];
    // Double-checked: std::mutex needs no -pthread on older glibc, unlike std::call_once.
    if (!s.ready.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(s.opening);
      if (!s.ready.load(std::memory_order_relaxed)) {
        s.open(options_);
        s.ready.store(true, std::memory_order_release);
      }
    }
    if (s.failure) return *s.failure;
    return shard_view(&s);
  }

  /// The table entry of tensor `name` (opens its shard). TensorNotFound when the index does not
  /// list it or its shard does not hold it.
  result<tensor_info> info(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    return s->second;
  }
  /// A zero-copy view of tensor `name` (shard_access::mapped; InvalidArgument with reader).
  result<tensor_view> tensor(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    const mapped_view* m = s->first.mapped();
    if (m == nullptr) {
      return error(errc::invalid_argument,
                   "tensor(): the checkpoint reads its shards with shard_access::reader; use "
                   "read_into or read");
    }
    return m->view(s->second);
  }
  /// Copies the bytes of tensor `name` into `dst` (at least its byte size), in either mode.
  result<void> read_into(std::string_view name, span<std::byte> dst) const {
    auto s = locate(name);
    if (!s) return s.error();
    return s->first.read_into(s->second, dst);
  }
  /// The bytes of tensor `name` in a new vector.
  result<std::vector<std::byte>> read(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    if (auto r = detail::check_size_t(s->second.byte_size(), "a tensor"); !r) return r.error();
    std::vector<std::byte> out(static_cast<std::size_t>(s->second.byte_size()));
    if (auto r = s->first.read_into(s->second, span<std::byte>(out)); !r) return r.error();
    return out;
  }

  /// Opens every shard and checks the checkpoint against its index, reporting every problem:
  /// a shard that cannot be opened (IoError) or is invalid (its error), a listed tensor its
  /// shard does not hold (TensorNotFound), a tensor in two shards (DuplicateKey), a tensor of a
  /// shard the index does not list (TensorNotFound; see verify_options), and `total_size`
  /// (when present) that is not an integer or not the sum of the listed tensors' byte sizes
  /// (InvalidHeaderDeserialization).
  verify_report verify(const verify_options& options = {}) const {
    using detail::quote;
    verify_report report;
    std::vector<const safetensors::header*> headers(slots_.size(), nullptr);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto s = shard(i);
      if (!s) {
        report.problems.push_back(
            error(s.error().code(), "shard " + quote(slots_[i]->name) + ": " + s.error().message()));
        continue;
      }
      headers[i] = &s->header();
      ++report.shards_opened;
    }
    // Where each tensor name first appears, across shards in name order.
    std::unordered_map<std::string_view, std::size_t> holder;
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (headers[i] == nullptr) continue;
      for (const tensor_info t : headers[i]->tensors_by_name()) {
        const auto [it, inserted] = holder.emplace(t.name(), i);
        if (!inserted) {
          report.problems.push_back(error(
              errc::duplicate_key, "tensor " + quote(t.name()) + " is in shards " +
                                       quote(slots_[it->second]->name) + " and " +
                                       quote(slots_[i]->name)));
        }
      }
    }
    bool complete = true;
    for (const index_entry& e : index_.weight_map) {
      const safetensors::header* h = headers[e.shard];
      if (h == nullptr) {
        complete = false;
        continue;
      }
      if (auto t = h->find(e.name)) {
        ++report.tensor_count;
        report.tensor_bytes += t->byte_size();  // each <= a shard's size: no overflow in practice
      } else {
        complete = false;
        std::string elsewhere;
        if (const auto it = holder.find(e.name); it != holder.end()) {
          elsewhere = " (it is in shard " + quote(slots_[it->second]->name) + ")";
        }
        report.problems.push_back(error(errc::tensor_not_found,
                                        "tensor " + quote(e.name) + " is listed in shard " +
                                            quote(slots_[e.shard]->name) +
                                            ", which does not hold it" + elsewhere));
      }
    }
    if (!options.allow_unlisted_tensors) {
      for (std::size_t i = 0; i < headers.size(); ++i) {
        if (headers[i] == nullptr) continue;
        for (const tensor_info t : headers[i]->tensors_by_name()) {
          if (!index_.find(t.name())) {
            report.problems.push_back(error(errc::tensor_not_found,
                                            "shard " + quote(slots_[i]->name) + " holds tensor " +
                                                quote(t.name()) + ", which the index does not list"));
          }
        }
      }
    }
    if (sharded_ && index_.metadata.is_object()) {
      const auto it = index_.metadata.find("total_size");
      if (it != index_.metadata.end()) {
        const auto total = index_.total_size();
        if (!total) {
          report.problems.push_back(error(errc::invalid_header_deserialization,
                                          std::string("metadata.total_size is a JSON ") +
                                              it->type_name() + ", not a non-negative integer"));
        } else if (complete && *total != report.tensor_bytes) {
          report.problems.push_back(error(
              errc::invalid_header_deserialization,
              "metadata.total_size is " + detail::num(*total) +
                  ", but the listed tensors hold " + detail::num(report.tensor_bytes) + " bytes"));
        }
      }
    }
    return report;
  }

  /// Every listed tensor as a tensor_spec for the writer, in name order: bytes referenced in the
  /// mapping (mapped) or a producer reading the shard (reader). Valid while the checkpoint lives.
  result<std::vector<tensor_spec>> specs() const {
    std::vector<tensor_spec> out;
    out.reserve(index_.weight_map.size());
    for (const index_entry& e : index_.weight_map) {
      auto s = locate(e.name);
      if (!s) return s.error();
      const tensor_info& t = s->second;
      tensor_spec spec;
      spec.name = e.name;
      spec.dtype = t.dtype();
      spec.shape.assign(t.shape().begin(), t.shape().end());
      if (const mapped_view* m = s->first.mapped()) {
        spec.bytes = m->view(t).bytes();
      } else {
        const source_reader* r = s->first.reader();
        const random_access_source* src = &r->source();
        const std::uint64_t base = r->header().data_offset() + t.offsets().begin;
        spec.producer = [src, base](std::uint64_t offset, span<std::byte> dst) -> result<void> {
          return src->read_at(base + offset, dst.data(), dst.size());
        };
      }
      out.push_back(std::move(spec));
    }
    return out;
  }

  /// The shards' `__metadata__` merged (shards in name order; the first value of a key wins);
  /// nullopt when no shard has metadata. Opens every shard.
  result<std::optional<metadata_map>> merged_metadata() const {
    std::optional<metadata_map> out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto s = shard(i);
      if (!s) return s.error();
      const auto& md = s->header().metadata();
      if (!md) continue;
      if (!out) out.emplace();
      for (const auto& kv : *md) out->insert(kv);
    }
    return out;
  }

 private:
  static result<checkpoint> open_path(const std::filesystem::path& p,
                                      const checkpoint_options& options) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return open_directory(p, options);
    if (p.extension() == ".json") return open_index_file(p, options);
    return open_single(p, options);
  }

  static result<checkpoint> open_directory(const std::filesystem::path& dir,
                                           const checkpoint_options& options) {
    namespace fs = std::filesystem;
    if (auto why = detail::shard_name_problem(options.prefix)) {
      return error(errc::invalid_argument,
                   "checkpoint_options::prefix " + detail::quote(options.prefix) + " " + *why);
    }
    auto index_name = detail::path_from_utf8(options.prefix + ".safetensors.index.json");
    if (!index_name) return index_name.error();
    auto single_name = detail::path_from_utf8(options.prefix + ".safetensors");
    if (!single_name) return single_name.error();
    std::error_code ec;
    if (fs::is_regular_file(dir / *index_name, ec)) return open_index_file(dir / *index_name, options);
    if (fs::is_regular_file(dir / *single_name, ec)) return open_single(dir / *single_name, options);
    std::vector<fs::path> indexes;
    std::vector<fs::path> files;
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = detail::display_path(it->path().filename());
      auto ends_with = [&name](std::string_view suffix) {
        return name.size() > suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      std::error_code fec;
      if (!fs::is_regular_file(it->path(), fec)) continue;
      if (ends_with(".safetensors.index.json")) indexes.push_back(it->path());
      if (ends_with(".safetensors")) files.push_back(it->path());
    }
    const std::string shown = detail::display_path(dir);
    if (ec) {
      return error(errc::io_error, "cannot list " + detail::quote(shown) + ": " + ec.message());
    }
    if (indexes.size() == 1) return open_index_file(indexes.front(), options);
    if (indexes.empty() && files.size() == 1) return open_single(files.front(), options);
    if (indexes.size() > 1 || files.size() > 1) {
      return error(errc::invalid_argument,
                   "the directory " + detail::quote(shown) + " holds several " +
                       (indexes.size() > 1 ? "indexes" : "safetensors files") +
                       " and no " + detail::quote(options.prefix + ".safetensors.index.json") +
                       " or " + detail::quote(options.prefix + ".safetensors") +
                       "; name the file, or set checkpoint_options::prefix");
    }
    return error(errc::io_error, "the directory " + detail::quote(shown) + " holds no " +
                                     detail::quote(options.prefix + ".safetensors.index.json") +
                                     " and no safetensors file");
  }

  static result<checkpoint> open_index_file(const std::filesystem::path& p,
                                            const checkpoint_options& options) {
    const std::string shown = detail::display_path(p);
    auto source = file_source::open(p);
    if (!source) return source.error();
    const std::uint64_t size = (*source)->size();
    if (size > options.max_index_size) {
      return error(errc::header_too_large,
                   detail::quote(shown) + ": the index has " + detail::num(size) +
                       " bytes, above the limit of " + detail::num(options.max_index_size) +
                       " (checkpoint_options::max_index_size)");
    }
    if (auto r = detail::check_size_t(size, "an index"); !r) return r.error();
    std::string text(static_cast<std::size_t>(size), '\0');
    if (size != 0) {
      if (auto r = (*source)->read_at(0, text.data(), text.size()); !r) return r.error();
    }
    auto index = parse_index(text);
    if (!index) {
      return error(index.error().code(), detail::quote(shown) + ": " + index.error().message());
    }
    auto c = from_index(std::move(*index), p.parent_path(), options);
    if (!c) return c.error();
    c->index_path_ = p;
    return c;
  }

  static result<checkpoint> open_single(const std::filesystem::path& p,
                                        const checkpoint_options& options) {
    checkpoint c;
    c.options_ = options;
    c.directory_ = p.parent_path();
    auto slot = std::make_unique<detail::shard_slot>();
    slot->name = detail::display_path(p.filename());
    slot->path = p;
    c.slots_.push_back(std::move(slot));
    c.index_.shards.push_back(c.slots_.front()->name);
    auto s = c.shard(0);
    if (!s) return s.error();
    const safetensors::header& h = s->header();
    c.index_.weight_map.reserve(h.size());
    for (const tensor_info t : h.tensors_by_name()) {
      c.index_.weight_map.push_back(index_entry{std::string(t.name()), 0});
    }
    return c;
  }

  result<std::pair<shard_view, tensor_info>> locate(std::string_view name) const {
    const auto i = index_.find(name);
    if (!i) {
      return error(errc::tensor_not_found, "the checkpoint has no tensor named " +
                                               detail::quote(name));
    }
    auto s = shard(*i);
    if (!s) return s.error();
    auto t = s->header().find(name);
    if (!t) {
      return error(errc::tensor_not_found, "tensor " + detail::quote(name) +
                                               " is listed in shard " +
                                               detail::quote(slots_[*i]->name) +
                                               ", which does not hold it");
    }
    return std::pair<shard_view, tensor_info>(*s, *t);
  }

  checkpoint_options options_;
  std::filesystem::path directory_;
  std::filesystem::path index_path_;
  shard_index index_;
  std::vector<std::unique_ptr<detail::shard_slot>> slots_;  // stable addresses for views
  bool sharded_ = false;
};

/// Writes every listed tensor of `ckpt` into one file at `path`, atomically, with the shards'
/// merged `__metadata__` (checkpoint::merged_metadata). Tensors a shard holds but the index
/// does not list are not written. Byte-identical to a file the canonical writer wrote with the
/// same tensors and metadata (a split of it merges back to the same bytes).
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<void> merge_checkpoint(const checkpoint& ckpt, const P& path,
                              const write_options& options = {}) {
  auto specs = ckpt.specs();
  if (!specs) return specs.error();
  auto md = ckpt.merged_metadata();
  if (!md) return md.error();
  return save_file(path, *specs, *md, options);
}

/// Parses a size: plain bytes ("1048576", "512B"), decimal units as the Hub uses them ("5GB" =
/// 5,000,000,000; KB, MB, GB, TB), or binary units ("10GiB"; KiB, MiB, GiB, TiB). Units are
/// case-insensitive, a decimal fraction is allowed ("1.5GB"; the result is rounded down),
/// spaces around the number and unit are ignored. InvalidArgument otherwise or on overflow.
inline result<std::uint64_t> parse_size(std::string_view text) {
  const std::string shown = detail::quote(text);
  auto bad = [&shown](const std::string& why) {
    return error(errc::invalid_argument, "the size " + shown + " " + why +
                                             " (examples: 5GB, 500MB, 10GiB, 1048576)");
  };
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::size_t i = 0;
  std::uint64_t mantissa = 0;
  std::size_t digits = 0;
  std::size_t fraction = 0;
  bool dot = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (!detail::checked_mul(mantissa, 10, mantissa) ||
        !detail::checked_add(mantissa, static_cast<std::uint64_t>(c - '0'), mantissa) ||
        fraction > 18) {
      return bad("is too large or too precise");
    }
    ++digits;
    if (dot) ++fraction;
  }
  if (digits == 0) return bad("does not start with a number");
  while (i < text.size() && is_space(text[i])) ++i;
  std::string unit(text.substr(i));
  for (char& c : unit) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  std::uint64_t multiplier = 0;
  static const std::pair<std::string_view, std::uint64_t> units[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1'000},
      {"MB", 1'000'000},
      {"GB", 1'000'000'000},
      {"TB", 1'000'000'000'000},
      {"KIB", std::uint64_t{1} << 10},
      {"MIB", std::uint64_t{1} << 20},
      {"GIB", std::uint64_t{1} << 30},
      {"TIB", std::uint64_t{1} << 40},
  };
  for (const auto& [name, value] : units) {
    if (unit == name) multiplier = value;
  }
  if (multiplier == 0) return bad("has an unknown unit");
  std::uint64_t scaled = 0;
  if (!detail::checked_mul(mantissa, multiplier, scaled)) return bad("is too large");
  std::uint64_t divisor = 1;
  for (std::size_t k = 0; k < fraction; ++k) divisor *= 10;
  return scaled / divisor;
}

/// Options of the sharded writers.
struct sharded_write_options {
  /// Largest sum of tensor byte sizes in one shard (headers not counted), as the Hub tools
  /// count. A tensor larger than this gets a shard of its own.
  std::uint64_t max_shard_size = default_max_shard_size;
  /// File names: `<prefix>-00001-of-00003.safetensors`, `<prefix>.safetensors.index.json`, or
  /// `<prefix>.safetensors` for a single shard ("model", "diffusion_pytorch_model", ...).
  std::string prefix = "model";
  /// Every shard's `__metadata__` (transformers' loader wants "format" in pt/tf/flax/mlx).
  std::optional<metadata_map> shard_metadata = metadata_map{{"format", "pt"}};
  /// Extra keys for the index's `metadata` object (any JSON values; must be an object or null).
  /// `total_size` is always the computed sum and replaces a `total_size` given here.
  nlohmann::json index_metadata;
  /// Alignment, header limit, sync and progress of every shard file (progress: bytes over all
  /// shards for save_sharded, per shard file for sharded_stream_writer).
  write_options write;
};

/// How tensors are assigned to shards, as huggingface_hub's split_state_dict_into_shards does:
/// tensors in the caller's order are packed greedily until the next one would exceed
/// max_shard_size; a tensor larger than the limit gets a shard of its own, placed before the
/// shard being filled. Only tensor bytes count; the names and the index are computed here.
class shard_layout {
 public:
  /// Plans `tensors` (their bytes are not read; dtype and shape give the sizes). Errors:
  /// DuplicateKey, InvalidTensorName (`__metadata__`), InvalidArgument (a prefix that is not a
  /// plain file name, a name that is not UTF-8, index_metadata not an object), ValidationOverflow,
  /// MisalignedSlice.
  static result<shard_layout> create(const std::vector<tensor_spec>& tensors,
                                     const sharded_write_options& options = {}) {
    using detail::quote;
    auto why = detail::shard_name_problem(options.prefix);
    if (!why) why = detail::shard_name_problem(options.prefix + ".safetensors");
    if (why) {
      return error(errc::invalid_argument,
                   "sharded_write_options::prefix " + quote(options.prefix) + " " + *why);
    }
    if (auto e = detail::check_utf8(options.prefix, "the prefix")) return std::move(*e);
    if (!options.index_metadata.is_object() && !options.index_metadata.is_null()) {
      return error(errc::invalid_argument,
                   "sharded_write_options::index_metadata must be a JSON object");
    }
    std::vector<std::uint64_t> sizes(tensors.size());
    std::vector<std::string_view> names;
    names.reserve(tensors.size());
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const tensor_spec& t = tensors[i];
      if (t.name == "__metadata__") {
        return error(errc::invalid_tensor_name,
                     "a tensor cannot be named '__metadata__': that key holds the metadata");
      }
      if (auto e = detail::check_utf8(t.name, "the tensor name")) return std::move(*e);
      if (static_cast<std::size_t>(t.dtype) >= dtype_count) {
        return error(errc::invalid_argument, "tensor " + quote(t.name) + ": invalid dtype value");
      }
      auto size = detail::spec_byte_size(
          t.name, t.dtype, span<const std::uint64_t>(t.shape.data(), t.shape.size()));
      if (!size) return size.error();
      sizes[i] = *size;
      if (!detail::checked_add(total, *size, total)) {
        return error(errc::validation_overflow, "the checkpoint's size overflows 64 bits");
      }
      names.emplace_back(t.name);
    }
    std::sort(names.begin(), names.end());
    if (const auto dup = std::adjacent_find(names.begin(), names.end()); dup != names.end()) {
      return error(errc::duplicate_key, "two tensors are named " + quote(*dup));
    }

    shard_layout out;
    out.total_size_ = total;
    std::vector<std::size_t> current;
    std::uint64_t current_size = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (sizes[i] > options.max_shard_size) {
        out.shards_.push_back({i});
        continue;
      }
      if (current_size + sizes[i] > options.max_shard_size) {  // both <= the limit: no overflow
        out.shards_.push_back(std::move(current));
        current.clear();
        current_size = 0;
      }
      current.push_back(i);
      current_size += sizes[i];
    }
    if (!current.empty() || out.shards_.empty()) out.shards_.push_back(std::move(current));

    const std::size_t n = out.shards_.size();
    if (n == 1) {
      out.files_.push_back(options.prefix + ".safetensors");
      return out;
    }
    auto pad5 = [](std::size_t v) {
      std::string s = std::to_string(v);
      return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
    };
    for (std::size_t k = 0; k < n; ++k) {
      out.files_.push_back(options.prefix + "-" + pad5(k + 1) + "-of-" + pad5(n) + ".safetensors");
    }
    shard_index index;
    index.metadata =
        options.index_metadata.is_object() ? options.index_metadata : nlohmann::json::object();
    index.metadata["total_size"] = total;
    index.shards = out.files_;  // already in byte order: same prefix, zero-padded numbers
    index.weight_map.reserve(tensors.size());
    for (std::size_t k = 0; k < n; ++k) {
      for (const std::size_t i : out.shards_[k]) index.weight_map.push_back({tensors[i].name, k});
    }
    std::sort(index.weight_map.begin(), index.weight_map.end(),
              [](const index_entry& a, const index_entry& b) { return a.name < b.name; });
    auto json = format_index(index);
    if (!json) return json.error();
    out.index_json_ = std::move(*json);
    return out;
  }

  /// Number of shard files.
  std::size_t shard_count() const noexcept { return files_.size(); }
  /// True when there is more than one shard (and so an index).
  bool sharded() const noexcept { return files_.size() > 1; }
  /// The shard file names, in shard order.
  const std::vector<std::string>& file_names() const noexcept { return files_; }
  /// For each shard, the positions of its tensors in the writer's input, in input order.
  const std::vector<std::vector<std::size_t>>& shards() const noexcept { return shards_; }
  /// The sum of every tensor's byte size (the index's `metadata.total_size`).
  std::uint64_t total_size() const noexcept { return total_size_; }
  /// The index's contents, exactly as transformers writes them; empty when not sharded().
  const std::string& index_json() const noexcept { return index_json_; }

 private:
  std::vector<std::string> files_;
  std::vector<std::vector<std::size_t>> shards_;
  std::uint64_t total_size_ = 0;
  std::string index_json_;
};

namespace detail {
inline std::vector<tensor_spec> shard_specs(const std::vector<tensor_spec>& tensors,
                                            const std::vector<std::size_t>& which) {
  std::vector<tensor_spec> out;
  out.reserve(which.size());
  for (const std::size_t i : which) out.push_back(tensors[i]);
  return out;
}

/// Removes a stale index before shards are replaced, so that it never points at new shards.
inline result<void> remove_stale_index(const std::filesystem::path& index) {
  std::error_code ec;
  std::filesystem::remove(index, ec);
  if (ec) {
    return error(errc::io_error, "cannot remove the old index " + quote(display_path(index)) +
                                     ": " + ec.message());
  }
  return {};
}

inline result<void> write_text_atomic(const std::filesystem::path& path, std::string_view text,
                                      bool sync) {
  auto file = create_atomic(path);
  if (!file) return file.error();
  if (auto r = file->write_at(0, text.data(), text.size()); !r) return r;
  return file->commit(sync);
}

inline result<std::filesystem::path> index_path_in(const std::filesystem::path& dir,
                                                   const std::string& prefix) {
  auto name = path_from_utf8(prefix + ".safetensors.index.json");
  if (!name) return name.error();
  return dir / *name;
}
}  // namespace detail

/// Writes `tensors` into the directory `dir` (which must exist) as a checkpoint: shards per
/// shard_layout, each written atomically, then the index (atomically, last), so an index never
/// points at missing or partial shards. Every shard is validated before anything is written.
/// An existing `<prefix>.safetensors.index.json` is removed before the first shard is written
/// (also when the result is a single `<prefix>.safetensors`); other old files are left alone.
/// Returns the layout (file names, assignment). The writer's errors, plus shard_layout's.
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<shard_layout> save_sharded(const P& dir, const std::vector<tensor_spec>& tensors,
                                  const sharded_write_options& options = {}) {
  auto root = detail::to_fs_path(dir);
  if (!root) return root.error();
  auto layout = shard_layout::create(tensors, options);
  if (!layout) return layout.error();
  std::vector<std::vector<tensor_spec>> groups;
  std::vector<std::uint64_t> file_sizes;
  std::uint64_t grand_total = 0;
  for (const auto& which : layout->shards()) {
    groups.push_back(detail::shard_specs(tensors, which));
    auto plan = write_plan::create(groups.back(), options.shard_metadata, options.write);
    if (!plan) return plan.error();
    file_sizes.push_back(plan->file_size());
    grand_total += plan->file_size();
  }
  auto index_path = detail::index_path_in(*root, options.prefix);
  if (!index_path) return index_path.error();
  if (auto r = detail::remove_stale_index(*index_path); !r) return r.error();
  std::uint64_t base = 0;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    auto file = detail::path_from_utf8(layout->file_names()[k]);
    if (!file) return file.error();
    write_options wo = options.write;
    if (options.write.progress) {
      wo.progress = [&options, base, grand_total](std::uint64_t done, std::uint64_t) {
        options.write.progress(base + done, grand_total);
      };
    }
    if (auto r = save_file(*root / *file, groups[k], options.shard_metadata, wo); !r) {
      return r.error();
    }
    base += file_sizes[k];
  }
  if (layout->sharded()) {
    if (auto r = detail::write_text_atomic(*index_path, layout->index_json(), options.write.sync);
        !r) {
      return r.error();
    }
  }
  return std::move(*layout);
}

/// A checkpoint written tensor by tensor across shards, for data larger than memory: declare
/// every tensor (this fixes the layout and every shard's header), write each tensor's bytes in
/// chunks (tensors in any order), then commit(): it checks that every tensor is complete,
/// commits the shards and writes the index last. Nothing appears before commit(); destruction
/// without commit removes every temporary file. One temporary file per shard is open until
/// commit. Move-only; not thread-safe.
class sharded_stream_writer {
 public:
  sharded_stream_writer() = default;
  sharded_stream_writer(sharded_stream_writer&&) noexcept = default;
  sharded_stream_writer& operator=(sharded_stream_writer&&) noexcept = default;
  ~sharded_stream_writer() = default;

  /// Plans the shards of `tensors` (bytes and producers ignored) in the existing directory
  /// `dir` and creates a temporary file per shard.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<sharded_stream_writer> create(const P& dir, const std::vector<tensor_spec>& tensors,
                                              const sharded_write_options& options = {}) {
    auto root = detail::to_fs_path(dir);
    if (!root) return root.error();
    auto layout = shard_layout::create(tensors, options);
    if (!layout) return layout.error();
    auto index_path = detail::index_path_in(*root, options.prefix);
    if (!index_path) return index_path.error();
    auto s = std::make_unique<state>();
    s->index_path = std::move(*index_path);
    s->sync = options.write.sync;
    for (std::size_t k = 0; k < layout->shard_count(); ++k) {
      auto file = detail::path_from_utf8(layout->file_names()[k]);
      if (!file) return file.error();
      auto w = stream_writer::create(*root / *file, detail::shard_specs(tensors, layout->shards()[k]),
                                     options.shard_metadata, options.write);
      if (!w) return w.error();
      s->writers.push_back(std::move(*w));
      for (const std::size_t i : layout->shards()[k]) s->shard_of.emplace(tensors[i].name, k);
    }
    s->layout = std::move(*layout);
    sharded_stream_writer out;
    out.state_ = std::move(s);
    return out;
  }

  /// Writes the next `chunk` of tensor `name` (TensorNotFound for an undeclared name,
  /// InvalidArgument past its end).
  result<void> write(std::string_view name, span<const std::byte> chunk) {
    if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
    const auto it = state_->shard_of.find(std::string(name));
    if (it == state_->shard_of.end()) {
      return error(errc::tensor_not_found, "sharded_stream_writer: no tensor named " +
                                               detail::quote(name) + " was declared");
    }
    return state_->writers[it->second].write(name, chunk);
  }
  /// Bytes written so far for tensor `name` (0 for an unknown name).
  std::uint64_t bytes_written(std::string_view name) const {
    if (!state_) return 0;
    const auto it = state_->shard_of.find(std::string(name));
    return it == state_->shard_of.end() ? 0 : state_->writers[it->second].bytes_written(name);
  }
  /// The layout being written.
  const shard_layout& layout() const noexcept {
    static const shard_layout empty;
    return state_ ? state_->layout : empty;
  }
  /// Checks that every tensor of every shard is complete (TensorInvalidInfo names one, and the
  /// writer stays usable), removes a stale index, commits the shards in order and writes the
  /// index. After any other error the writer is discarded (shards already committed remain,
  /// without an index).
  result<void> commit() {
    if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
    for (const stream_writer& w : state_->writers) {
      for (const planned_tensor& t : w.plan().tensors()) {
        if (w.bytes_written(t.name) != t.byte_size()) {
          return error(errc::tensor_invalid_info,
                       "sharded_stream_writer: tensor " + detail::quote(t.name) +
                           " is incomplete: " + detail::num(w.bytes_written(t.name)) + " of " +
                           detail::num(t.byte_size()) + " bytes written");
        }
      }
    }
    auto s = std::move(state_);
    if (auto r = detail::remove_stale_index(s->index_path); !r) return r;
    for (stream_writer& w : s->writers) {
      if (auto r = w.commit(); !r) return r;
    }
    if (s->layout.sharded()) {
      return detail::write_text_atomic(s->index_path, s->layout.index_json(), s->sync);
    }
    return {};
  }
  /// Removes every temporary file; nothing is written.
  void discard() noexcept { state_.reset(); }

 private:
  struct state {
    shard_layout layout;
    std::vector<stream_writer> writers;
    std::unordered_map<std::string, std::size_t> shard_of;
    std::filesystem::path index_path;
    bool sync = true;
  };
  std::unique_ptr<state> state_;
};

}  // namespace v0
}  // namespace safetensors
