// safetensors for C++, part 3 of 14: from bytes to a validated tensor table. The 8-byte length
// prefix (rules 1 to 3), the UTF-8 and JSON header (rules 4 and 5, one pass of the JSON reader
// that builds the table as it streams by) and the validation of the table (rules 6 to 10), all in
// the order of docs/format.md#reader-rules. No tensor byte is touched.
// Each part declares, then defines under SAFETENSORS_DEFINITIONS, which the translation units of
// the separate-compilation mode do not see (docs/design.md#separate-compilation).
// `template <class = void>` marks what is compiled only when used (docs/design.md#compile-cost).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_PARSE_HPP
#define SAFETENSORS_PARTS_PARSE_HPP

#include <functional>
#include <map>

#include "basics.hpp"
#include "json.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// Options of every parse. The defaults are the strict reference behaviour.
struct parse_options {
  /// Largest accepted header length N in bytes (the reference's limit is 100,000,000).
  std::uint64_t max_header_size = 100'000'000;
  /// Accept bytes after the end of the last tensor (the reference rejects them).
  bool allow_trailing_bytes = false;
};

/// The `__metadata__` map: string keys to string values, sorted by key bytes.
using metadata_map = std::map<std::string, std::string, std::less<>>;

namespace detail {

/// One tensor of the table; its name and dimensions live in the table's shared buffers.
struct tensor_record {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t elements = 0;
  std::size_t name_offset = 0;
  std::size_t name_size = 0;
  std::size_t shape_offset = 0;
  std::size_t rank = 0;
  dtype type = dtype::BOOL;
};

/// The tensor table as the parser builds it: records in header order, every name's bytes and
/// every shape's dimensions back to back, a hash index by name (which finds duplicates while
/// parsing), the offset and name orders, the metadata and the sizes. `header` wraps it.
struct table {
  std::string names;
  std::vector<std::uint64_t> dims;
  std::vector<tensor_record> records;
  std::vector<std::size_t> by_offset;  // record indices in offset order (ties by name)
  std::vector<std::size_t> by_name;    // record indices in name order
  std::vector<std::size_t> slots;      // open addressing: record + 1, 0 = free
  std::optional<metadata_map> metadata;
  std::uint64_t header_size = 0;
  std::uint64_t data_size = 0;

  std::string_view name(std::size_t record) const noexcept {
    const tensor_record& r = records[record];
    return std::string_view(names.data() + r.name_offset, r.name_size);
  }
  span<const std::uint64_t> shape(std::size_t record) const noexcept {
    const tensor_record& r = records[record];
    return span<const std::uint64_t>(dims.data() + r.shape_offset, r.rank);
  }

  /// Adds a tensor name; false when the name is already present.
  SAFETENSORS_FUNC bool add_name(const std::string& name);
  /// Sizes the index for a header of n bytes: no rehash, few reallocations while parsing.
  SAFETENSORS_FUNC void reserve_for(std::size_t n);
  /// The record named `name`, or nullopt. O(1) on average.
  SAFETENSORS_FUNC std::optional<std::size_t> find(std::string_view key) const noexcept;

  /// Rules 6 to 10 (docs/format.md#rule-6-invalidoffset to #rule-10-metadataincompletebuffer),
  /// in the reference's order; then the name order.
  template <class = void>
  std::optional<error> validate(std::uint64_t n_bytes, std::uint64_t input_size,
                                const parse_options& opts);

 private:
  /// The offset order of records `a` and `b` (ties by name), and their name order.
  SAFETENSORS_FUNC static bool offset_less(const table& h, std::size_t a, std::size_t b) noexcept;
  SAFETENSORS_FUNC static bool name_less(const table& h, std::size_t a, std::size_t b) noexcept;
  /// Sorts the record indices `v` by `less`, merging the ascending runs already in `v`: one
  /// pass when `v` is sorted, and few passes for the name order of a file, whose offset order
  /// is name order within each dtype (the reference writer's layout). O(n log n) at worst.
  SAFETENSORS_FUNC void sort_runs(std::vector<std::size_t>& v,
                                  bool (*less)(const table&, std::size_t, std::size_t)) const;
  error offset_error(std::size_t idx, std::size_t previous, std::uint64_t start) const;
  SAFETENSORS_FUNC bool insert(std::size_t record);
  SAFETENSORS_FUNC void rehash(std::size_t capacity);
};

/// How many leading bytes describe_first_bytes looks at.
inline constexpr std::size_t sniff_size = 512;

/// What an input that failed rules 1 to 3 probably is, from its first bytes `p[0, n)` and its
/// total size. "" when nothing is recognized, else text that starts with "; " to append to the
/// error message.
std::string describe_first_bytes(const unsigned char* p, std::size_t n, std::uint64_t total_size,
                                 const parse_options& opts = {});

/// Rules 1 to 3 (docs/format.md#rule-1-headertoosmall, #rule-2-headertoolarge,
/// #rule-3-invalidheaderlength): the header length N, from the input's first min(8, input_size)
/// bytes at `prefix`. Only when a rule fails, `sniff()` is called for the input's first bytes
/// (up to sniff_size, as a std::string; empty when they cannot be read), and the message says
/// what the input probably is. The one length-prefix reader behind every source.
template <class Sniff>
result<std::uint64_t> read_length_prefix(const unsigned char* prefix, std::uint64_t input_size,
                                         const parse_options& opts, Sniff&& sniff) {
  const auto hint = [&] {
    const std::string first = sniff();
    return describe_first_bytes(reinterpret_cast<const unsigned char*>(first.data()), first.size(),
                                input_size, opts);
  };
  if (input_size < 8) {
    return error(errc::header_too_small,
                 cat({"the input has ", num(input_size),
                      " bytes; a safetensors file starts with an 8-byte header length", hint()}));
  }
  const std::uint64_t n = read_le64(prefix);
  // The second test is the reference's u64 -> usize conversion: it only fails on 32-bit hosts.
  if (n > opts.max_header_size || n > std::numeric_limits<std::size_t>::max()) {
    const std::string h = hint();
    return error(errc::header_too_large,
                 cat({"the header length is ", num(n), " bytes, above the limit of ",
                      num(opts.max_header_size),
                      // Not a safetensors file at all: the limit is not what to change.
                      h.empty() ? std::string_view(" (parse_options::max_header_size); is this a "
                                                   "safetensors file?")
                                : std::string_view(h)}));
  }
  std::uint64_t end = 0;
  if (!checked_add(8, n, end) || end > input_size) {
    return error(errc::invalid_header_length,
                 cat({"the header length is ", num(n), " bytes, so the header ends at byte ",
                      end != 0 ? num(end) : std::string("2^64 or later"),
                      ", but the input has only ", num(input_size), " bytes", hint()}));
  }
  return n;
}

/// Rules 4 to 10 over the N header bytes at `json`; `input_size` is the whole input's size.
template <class = void>
result<table> parse_header_json(const unsigned char* json, std::size_t n, std::uint64_t input_size,
                                const parse_options& opts);

}  // namespace detail
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

SAFETENSORS_FUNC bool table::add_name(const std::string& name) {
  const std::size_t record = records.size();
  tensor_record r;
  r.name_offset = names.size();
  r.name_size = name.size();
  names += name;
  records.push_back(r);
  if ((records.size() * 2) > slots.size()) rehash(slots.empty() ? 16 : slots.size() * 2);
  return insert(record);
}

SAFETENSORS_FUNC void table::reserve_for(std::size_t n) {
  // The shortest tensor entry, "":{"dtype":"I8","shape":[],"data_offsets":[0,0]}, has 47 bytes.
  const std::size_t most = n / 48 + 1;
  std::size_t count = 16;
  while (count < 2 * most && count < (std::size_t{1} << 17)) count *= 2;  // at most 1 MiB
  slots.assign(count, 0);
}

SAFETENSORS_FUNC std::optional<std::size_t> table::find(std::string_view key) const noexcept {
  if (slots.empty()) return std::nullopt;
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = std::hash<std::string_view>{}(key)&mask;; i = (i + 1) & mask) {
    const std::size_t slot = slots[i];
    if (slot == 0) return std::nullopt;
    if (name(slot - 1) == key) return slot - 1;
  }
}

template <class>
std::optional<error> table::validate(std::uint64_t n_bytes, std::uint64_t input_size,
                                     const parse_options& opts) {
  table& h = *this;
  h.header_size = n_bytes;
  const std::size_t n = h.records.size();
  h.by_offset.resize(n);
  for (std::size_t i = 0; i < n; ++i) h.by_offset[i] = i;
  // Writers emit the members in offset order (the reference does): then one pass, no sort.
  sort_runs(h.by_offset, offset_less);
  std::uint64_t start = 0;
  std::size_t previous = n;
  for (std::size_t idx : h.by_offset) {
    tensor_record& r = h.records[idx];
    if (r.begin != start || r.end < r.begin) return offset_error(idx, previous, start);
    start = r.end;
    previous = idx;
    const span<const std::uint64_t> shape(h.dims.data() + r.shape_offset, r.rank);
    std::uint64_t elements = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (!checked_mul(elements, shape[d], elements)) {
        return error(errc::validation_overflow,
                     cat({"tensor ", quote(h.name(idx)), ": the element count of shape ",
                          shape_string(shape), " overflows 64 bits at dimension ", num(d)}));
      }
    }
    const std::uint32_t bits_per = bit_size(r.type);
    std::uint64_t bits = 0;
    if (!checked_mul(elements, bits_per, bits)) {
      return error(errc::validation_overflow,
                   cat({"tensor ", quote(h.name(idx)), ": ", type_shape(r.type, shape), " has ",
                        num(elements), " elements, and ", num(elements), " x ", num(bits_per),
                        " bits overflows 64 bits"}));
    }
    if (bits % 8 != 0) {
      return error(errc::misaligned_slice,
                   cat({"tensor ", quote(h.name(idx)), ": ", type_shape(r.type, shape), " is ",
                        num(bits), " bits, not a whole number of bytes"}));
    }
    if (r.end - r.begin != bits / 8) {
      return error(errc::tensor_invalid_info,
                   cat({"tensor ", quote(h.name(idx)), ": data_offsets ",
                        offsets_string(r.begin, r.end), " hold ", num(r.end - r.begin),
                        " bytes, but ", type_shape(r.type, shape), " needs ", num(bits / 8)}));
    }
    r.elements = elements;
  }
  h.data_size = start;
  std::uint64_t expected = 0;
  const bool fits = checked_add(8 + header_size, start, expected);
  if (!fits || expected > input_size) {
    return error(errc::metadata_incomplete_buffer,
                 cat({"the tensors need a data buffer of ", num(start), " bytes after the ",
                      num(8 + header_size), "-byte header", fits ? " (" : "",
                      fits ? num(expected) : std::string(), fits ? " bytes in all)" : "",
                      ", but the input has ", num(input_size),
                      " bytes: truncated or not a safetensors file"}));
  }
  if (expected < input_size && !opts.allow_trailing_bytes) {
    return error(errc::metadata_incomplete_buffer,
                 cat({num(input_size - expected), " bytes follow the end of the last tensor (at ",
                      num(expected), " of ", num(input_size),
                      " bytes); parse_options::allow_trailing_bytes accepts them"}));
  }
  h.by_name = h.by_offset;
  sort_runs(h.by_name, name_less);
  return std::nullopt;
}

SAFETENSORS_FUNC bool table::offset_less(const table& h, std::size_t a, std::size_t b) noexcept {
  const tensor_record& ra = h.records[a];
  const tensor_record& rb = h.records[b];
  if (ra.begin != rb.begin) return ra.begin < rb.begin;
  if (ra.end != rb.end) return ra.end < rb.end;
  return h.name(a) < h.name(b);
}

SAFETENSORS_FUNC bool table::name_less(const table& h, std::size_t a, std::size_t b) noexcept {
  return h.name(a) < h.name(b);
}

SAFETENSORS_FUNC void table::sort_runs(std::vector<std::size_t>& v,
                                       bool (*less)(const table&, std::size_t, std::size_t)) const {
  std::vector<std::size_t> bounds{0};  // run i is [bounds[i], bounds[i + 1])
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (less(*this, v[i], v[i - 1])) bounds.push_back(i);
  }
  if (bounds.size() == 1) return;
  bounds.push_back(v.size());
  std::vector<std::size_t> out(v.size());
  while (bounds.size() > 2) {  // merge neighbouring runs pairwise until one is left
    std::size_t merged = 0;
    for (std::size_t r = 0; r + 1 < bounds.size(); r += 2) {
      const std::size_t lo = bounds[r];
      const std::size_t mid = bounds[r + 1];
      const std::size_t hi = r + 2 < bounds.size() ? bounds[r + 2] : mid;
      std::size_t a = lo;
      std::size_t b = mid;
      std::size_t k = lo;
      while (a < mid && b < hi) out[k++] = less(*this, v[b], v[a]) ? v[b++] : v[a++];
      while (a < mid) out[k++] = v[a++];
      while (b < hi) out[k++] = v[b++];
      bounds[merged++] = lo;
    }
    bounds[merged++] = v.size();
    bounds.resize(merged);
    v.swap(out);
  }
}

SAFETENSORS_COLD SAFETENSORS_FUNC error table::offset_error(std::size_t idx, std::size_t previous,
                                                            std::uint64_t start) const {
  const table& h = *this;
  const tensor_record& r = h.records[idx];
  std::string why;
  if (r.end < r.begin) {
    why = "end is before begin";
  } else if (previous == h.records.size()) {
    why = "the first tensor must start at offset 0";
  } else if (r.begin > start) {
    why = cat({"a gap of ", num(r.begin - start), " bytes after tensor ", quote(h.name(previous)),
               ", which ends at ", num(start)});
  } else {
    why = cat({"overlaps tensor ", quote(h.name(previous)), ", which ends at ", num(start)});
  }
  return error(errc::invalid_offset, cat({"tensor ", quote(h.name(idx)), ": data_offsets ",
                                          offsets_string(r.begin, r.end), ": ", why}));
}

SAFETENSORS_FUNC bool table::insert(std::size_t record) {
  const std::size_t mask = slots.size() - 1;
  const std::string_view key = name(record);
  for (std::size_t i = std::hash<std::string_view>{}(key)&mask;; i = (i + 1) & mask) {
    std::size_t& slot = slots[i];
    if (slot == 0) {
      slot = record + 1;
      return true;
    }
    if (name(slot - 1) == key) return false;
  }
}

SAFETENSORS_FUNC void table::rehash(std::size_t capacity) {
  slots.assign(capacity, 0);
  // Every record but the newest (which the caller inserts) is known to be unique.
  for (std::size_t r = 0; r + 1 < records.size(); ++r) (void)insert(r);
}

/// The header's JSON handler (for json_sax_parse): builds the table as the JSON streams by,
/// rejecting wrong shapes, duplicate keys and deep nesting at the first offending token.
template <class = void>
class header_sax {
 public:
  static constexpr std::size_t max_depth = 127;  // the top-level object is level 1

  explicit header_sax(table& b) noexcept : b_(b) {}

  std::optional<error>& failure() noexcept { return error_; }
  bool complete() const noexcept { return state_ == state::done; }

  bool null() {
    if (state_ == state::metadata_value) {  // "__metadata__": null means no metadata
      state_ = state::top_members;
      return true;
    }
    return ignored() || unexpected("null");
  }
  bool boolean(bool /*unused*/) { return ignored() || unexpected("a boolean"); }
  bool number_integer(std::int64_t v) {
    // The reader reports "-0" as the integer 0; JSON's -0 is no unsigned integer either.
    return ignored() || unexpected(cat({"the negative number ",
                                        v == 0 ? std::string("-0") : std::to_string(v)}));
  }
  bool number_unsigned(std::uint64_t v) {
    switch (state_) {
      case state::shape_items:
        b_.dims.push_back(v);
        ++b_.records.back().rank;
        return true;
      case state::offsets_items:
        if (offsets_count_ == 0) {
          b_.records.back().begin = v;
        } else if (offsets_count_ == 1) {
          b_.records.back().end = v;
        } else {
          return fail(
              errc::invalid_header_deserialization,
              cat({in_tensor(), "data_offsets must hold exactly two integers, found more"}));
        }
        ++offsets_count_;
        return true;
      default:
        return ignored() || unexpected(cat({"the number ", num(v)}));
    }
  }
  bool number_float(double /*unused*/, const std::string& text) {
    // Cut like a quoted name: the text of one number can be the whole header.
    constexpr std::size_t max_shown = 40;
    if (ignored()) return true;
    const bool cut = text.size() > max_shown;
    return unexpected(cat({"the number ", std::string_view(text).substr(0, max_shown),
                           cut ? "...(" : "", cut ? num(text.size()) : std::string(),
                           cut ? " bytes)" : "", " (not a 64-bit unsigned integer)"}));
  }
  bool string(std::string& v) {
    switch (state_) {
      case state::metadata_members: {
        auto& md = *b_.metadata;
        md.emplace_hint(md.end(), std::move(pending_key_), std::move(v));
        return true;
      }
      case state::dtype_value: {
        const auto t = dtype_from_string(v);
        if (!t) {
          return fail(errc::invalid_header_deserialization,
                      cat({in_tensor(), "unknown dtype ", quote(v)}));
        }
        b_.records.back().type = *t;
        state_ = state::entry;
        return true;
      }
      default:
        return ignored() || unexpected("a string");
    }
  }
  bool start_object() {
    if (!enter()) return false;
    switch (state_) {
      case state::top:
        state_ = state::top_members;
        return true;
      case state::metadata_value:
        b_.metadata.emplace();
        state_ = state::metadata_members;
        return true;
      case state::tensor_value:
        have_dtype_ = have_shape_ = have_offsets_ = false;
        if (!extra_keys_.records.empty()) extra_keys_ = table();
        b_.records.back().shape_offset = b_.dims.size();
        state_ = state::entry;
        return true;
      case state::skip:
        ++skip_depth_;
        skip_keys_.emplace_back();
        return true;
      default:
        return unexpected("an object");
    }
  }

  bool key(std::string& k) {
    switch (state_) {
      case state::top_members:
        if (std::string_view(k) == "__metadata__") {
          if (seen_metadata_) {
            return fail(errc::duplicate_key, "the key \"__metadata__\" appears twice");
          }
          seen_metadata_ = true;
          state_ = state::metadata_value;
          return true;
        }
        if (!b_.add_name(k)) {
          return fail(errc::duplicate_key,
                      cat({"two tensors are named ", quote(k), " (duplicate JSON key)"}));
        }
        state_ = state::tensor_value;
        return true;
      case state::metadata_members:
        if (b_.metadata->count(k) != 0) {
          return fail(errc::duplicate_key,
                      cat({"__metadata__: the key ", quote(k), " appears twice"}));
        }
        pending_key_ = std::move(k);
        return true;
      case state::entry: {
        bool* seen = nullptr;
        state next = state::skip;
        const std::string_view field(k);
        if (field == "dtype") {
          seen = &have_dtype_;
          next = state::dtype_value;
        } else if (field == "shape") {
          seen = &have_shape_;
          next = state::shape_value;
        } else if (field == "data_offsets") {
          seen = &have_offsets_;
          next = state::offsets_value;
        }
        const bool duplicate = seen ? *seen : !extra_keys_.add_name(k);
        if (duplicate) {
          return fail(errc::duplicate_key,
                      cat({in_tensor(), "the field ", quote(k), " appears twice"}));
        }
        if (seen) *seen = true;
        skip_depth_ = 0;
        state_ = next;
        return true;
      }
      case state::skip:
        if (!skip_keys_.back().add_name(k)) {
          return fail(errc::duplicate_key, cat({in_tensor(), "the key ", quote(k),
                                                " appears twice in an ignored field's object"}));
        }
        return true;
      default:
        return unexpected("a key");
    }
  }

  bool end_object() {
    --depth_;
    switch (state_) {
      case state::top_members:
        state_ = state::done;
        return true;
      case state::metadata_members:
        state_ = state::top_members;
        return true;
      case state::entry: {
        const char* missing = !have_dtype_     ? "dtype"
                              : !have_shape_   ? "shape"
                              : !have_offsets_ ? "data_offsets"
                                               : nullptr;
        if (missing) {
          return fail(errc::invalid_header_deserialization,
                      cat({in_tensor(), "missing field \"", missing, "\""}));
        }
        state_ = state::top_members;
        return true;
      }
      case state::skip:
        skip_keys_.pop_back();
        return leave_skip();
      default:
        return unexpected("the end of an object");
    }
  }

  bool start_array() {
    if (!enter()) return false;
    switch (state_) {
      case state::shape_value:
        b_.records.back().shape_offset = b_.dims.size();
        state_ = state::shape_items;
        return true;
      case state::offsets_value:
        offsets_count_ = 0;
        state_ = state::offsets_items;
        return true;
      case state::skip:
        ++skip_depth_;
        return true;
      default:
        return unexpected("an array");
    }
  }

  bool end_array() {
    --depth_;
    switch (state_) {
      case state::shape_items:
        state_ = state::entry;
        return true;
      case state::offsets_items:
        if (offsets_count_ != 2) {
          return fail(errc::invalid_header_deserialization,
                      cat({in_tensor(), "data_offsets must hold exactly two integers, found ",
                           num(offsets_count_)}));
        }
        state_ = state::entry;
        return true;
      case state::skip:
        return leave_skip();
      default:
        return unexpected("the end of an array");
    }
  }

  /// Invalid JSON at header offset `at`.
  SAFETENSORS_COLD bool parse_error(std::size_t at, const std::string& what) {
    return fail(errc::invalid_header_deserialization,
                cat({"invalid JSON at header offset ", num(at), " (file offset ",
                     num(8 + std::uint64_t{at}), "): ", what}));
  }

 private:
  enum class state : std::uint8_t {
    top,               // before the top-level value
    top_members,       // inside the top-level object, between members
    metadata_value,    // after the "__metadata__" key
    metadata_members,  // inside the metadata object
    tensor_value,      // after a tensor name
    entry,             // inside a tensor entry, between fields
    dtype_value,
    shape_value,
    shape_items,
    offsets_value,
    offsets_items,
    skip,  // inside the value of an unknown entry field (ignored, but still checked)
    done,
  };

  SAFETENSORS_COLD std::string in_tensor() const {
    return cat({"tensor ", quote(b_.name(b_.records.size() - 1)), ": "});
  }

  bool fail(errc code, std::string message) {
    if (!error_) error_.emplace(code, std::move(message));
    return false;
  }

  bool enter() {
    if (++depth_ > max_depth) {
      return fail(errc::invalid_header_deserialization,
                  cat({"JSON nesting deeper than ", num(max_depth), " levels"}));
    }
    return true;
  }

  bool leave_skip() {
    if (--skip_depth_ == 0) state_ = state::entry;
    return true;
  }

  // True when a scalar belongs to the value of an unknown entry field (accepted, not stored).
  bool ignored() noexcept {
    if (state_ != state::skip) return false;
    if (skip_depth_ == 0) state_ = state::entry;
    return true;
  }

  SAFETENSORS_COLD bool unexpected(const std::string& what) {
    const char* m = "unexpected ";
    bool tensor = true;  // the message starts with in_tensor()
    switch (state_) {
      case state::top:
        m = "the header must be a JSON object, found ";
        tensor = false;
        break;
      case state::metadata_value:
        m = "__metadata__ must be an object of strings or null, found ";
        tensor = false;
        break;
      case state::metadata_members:
        return fail(errc::invalid_header_deserialization,
                    cat({"__metadata__: the value of ", quote(pending_key_),
                         " must be a string, found ", what}));
      case state::tensor_value:
        m = "the entry must be a JSON object, found ";
        break;
      case state::dtype_value:
        m = "dtype must be a string, found ";
        break;
      case state::shape_value:
        m = "shape must be an array, found ";
        break;
      case state::shape_items:
        m = "shape must hold unsigned 64-bit integers, found ";
        break;
      case state::offsets_value:
        m = "data_offsets must be an array, found ";
        break;
      case state::offsets_items:
        m = "data_offsets must hold unsigned 64-bit integers, found ";
        break;
      default:
        tensor = false;
        break;
    }
    return fail(errc::invalid_header_deserialization,
                cat({tensor ? in_tensor() : std::string(), m, what}));
  }

  table& b_;
  std::optional<error> error_;
  state state_ = state::top;
  std::size_t depth_ = 0;
  std::size_t skip_depth_ = 0;
  std::size_t offsets_count_ = 0;
  bool seen_metadata_ = false;
  bool have_dtype_ = false;
  bool have_shape_ = false;
  bool have_offsets_ = false;
  std::string pending_key_;
  // Key sets: tables of names only (their hash index finds the duplicates), no second set type.
  table extra_keys_;              // the current entry's unknown fields
  std::vector<table> skip_keys_;  // the keys of each object open inside an unknown field
};

SAFETENSORS_COLD SAFETENSORS_FUNC std::string describe_first_bytes(const unsigned char* p,
                                                                   std::size_t n,
                                                                   std::uint64_t total_size,
                                                                   const parse_options& opts) {
  if (total_size == 0) return "; the file is empty (an interrupted download or copy?)";
  if (p == nullptr) return {};
  const std::string_view s(reinterpret_cast<const char*>(p), n);
  auto starts = [&s](std::string_view magic) { return s.substr(0, magic.size()) == magic; };
  // Skip a UTF-8 byte order mark and leading whitespace for the text formats.
  std::string_view text = s;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty() &&
         (text[0] == ' ' || text[0] == '\t' || text[0] == '\r' || text[0] == '\n')) {
    text.remove_prefix(1);
  }
  auto text_starts_nocase = [&text](std::string_view word) {
    if (text.size() < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[i]) return false;
    }
    return true;
  };

  // A length prefix that is plausible, followed by the start of a JSON object, in a file too
  // short for it: a truncated download.
  if (n >= 9) {
    std::uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | p[i];
    std::size_t k = 8;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n')) ++k;
    if (k < n && p[k] == '{' && len <= opts.max_header_size && len > total_size - 8) {
      return "; the file ends inside its header: it looks truncated (an interrupted download?)";
    }
  }
  if (starts("version https://git-lfs.github.com/spec/")) {
    std::string out = "; this looks like a git-lfs pointer file";
    const auto at = s.find("\nsize ");
    if (at != std::string_view::npos) {
      std::size_t i = at + 6;
      std::string digits;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits.size() < 20) digits += s[i++];
      if (!digits.empty()) out += " (the real file is " + digits + " bytes)";
    }
    return out + ": run `git lfs pull`, or download the file itself";
  }
  if (text_starts_nocase("<!doctype html") || text_starts_nocase("<html") ||
      text_starts_nocase("<head") || text_starts_nocase("<body")) {
    return "; this looks like an HTML page (an error or login page saved instead of the file?)";
  }
  if (text_starts_nocase("<?xml")) {
    return "; this looks like an XML document (an error response from a storage service?)";
  }
  if (starts("PK\x03\x04") || starts("PK\x05\x06")) {
    return "; this looks like a zip archive (a PyTorch .pt/.bin checkpoint is one: load it with "
           "PyTorch and save it with safetensors)";
  }
  // PROTO 2..5, then an opcode torch.save and pickle.dump start with (LONG1 for torch's magic
  // number, FRAME, EMPTY_DICT, GLOBAL, MARK, ...).
  if (n >= 3 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5 &&
      std::memchr("\x8a\x95\x7d\x63\x5d\x28\x4b\x58\x8c\x71", p[2], 10) != nullptr) {
    return "; this looks like a Python pickle (a legacy PyTorch checkpoint): it is not "
           "safetensors, and loading a pickle can run code";
  }
  if (starts("\x1f\x8b")) return "; this looks like a gzip file: decompress it first";
  if (starts("\x28\xb5\x2f\xfd")) return "; this looks like a zstd file: decompress it first";
  if (starts("\xfd"
             "7zXZ"))
    return "; this looks like an xz file: decompress it first";
  if (n >= 262 && s.substr(257, 5) == "ustar") return "; this looks like a tar archive";
  if (starts("GGUF")) return "; this looks like a GGUF file (llama.cpp), not safetensors";
  if (starts("\x89HDF\r\n\x1a\n")) return "; this looks like an HDF5 file (Keras .h5?)";
  if (starts("\x93NUMPY")) return "; this looks like a NumPy .npy file";
  // JSON text: only when the first 8 bytes are text too (a real header length like 123 also
  // starts with '{', followed by NUL bytes).
  bool text8 = true;
  for (std::size_t i = 0; i < n && i < 8; ++i) {
    if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') text8 = false;
  }
  if (text8 && !text.empty() && (text[0] == '{' || text[0] == '[')) {
    return "; this looks like JSON text (a model.safetensors.index.json or config.json, or an "
           "error response?), not a safetensors file";
  }
  return {};
}

template <class>
result<table> parse_header_json(const unsigned char* json, std::size_t n, std::uint64_t input_size,
                                const parse_options& opts) {
  const std::size_t bad = utf8_error_offset(json, n);
  if (bad != n) {
    const char hex[2] = {hex_digit(json[bad] >> 4u), hex_digit(json[bad])};
    return error(errc::invalid_header,
                 cat({"the header is not valid UTF-8: byte 0x", std::string_view(hex, 2),
                      " at header offset ", num(bad), " (file offset ", num(8 + bad), ")"}));
  }
  // JSON allows neither a byte order mark nor a NUL byte; they get messages of their own.
  if (n >= 3 && json[0] == 0xEF && json[1] == 0xBB && json[2] == 0xBF) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: the header starts with a UTF-8 byte order mark");
  }
  if (const void* nul = n == 0 ? nullptr : std::memchr(json, 0, n)) {
    const auto at = static_cast<std::size_t>(static_cast<const unsigned char*>(nul) - json);
    return error(errc::invalid_header_deserialization,
                 cat({"invalid JSON: NUL byte at header offset ", num(at),
                      " (only spaces, tabs, CR and LF may pad the header)"}));
  }
  const char* const first = reinterpret_cast<const char*>(json);
  std::size_t lead = 0;
  while (lead < n && (first[lead] == ' ' || first[lead] == '\t' || first[lead] == '\n' ||
                      first[lead] == '\r')) {
    ++lead;
  }
  if (n - lead >= 3 && std::memcmp(first + lead, "\xEF\xBB\xBF", 3) == 0) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: a UTF-8 byte order mark after leading whitespace");
  }
  table t;
  t.reserve_for(n);
  header_sax<> sax(t);
  const bool ok = json_sax_parse(first, first + n, sax);
  if (!ok || !sax.complete()) {
    if (auto& e = sax.failure()) return std::move(*e);
    return error(errc::invalid_header_deserialization, "invalid JSON: incomplete header");
  }
  if (auto e = t.validate(n, input_size, opts)) return std::move(*e);
  return t;
}

}  // namespace detail
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template result<detail::table> detail::parse_header_json<void>(const unsigned char*, std::size_t,
                                                               std::uint64_t, const parse_options&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_PARSE_HPP
