// safetensors-cli diff (docs/cli.md#diff): whether two files or checkpoints hold the same tensors
// (names, dtypes, shapes, bytes) and the same `__metadata__`, whatever their layout (one file or
// shards) and tensor order; with tolerances (--atol, --rtol), whether their floating-point
// tensors hold the same values within them, across dtypes too (docs/cli.md#diff-with-tolerances).
//
// The bytes are compared through load(): A's tensors are loaded into a sink that compares each
// chunk with the same bytes of B. Both sides are mapped (shard_access::mapped), so the chunks the
// sink receives are pieces of A's mapping and B's bytes are read in place: nothing is copied,
// the load's worker threads each memcmp their chunks, and memory stays that of the mappings
// (page cache). A side that is read through pread instead (a source_reader shard) works too, at
// the cost of a copy per chunk. Only chunks whose bytes differ are looked at element by element.
// With tolerances, the floating-point tensors' chunks are decoded on both sides (each in its own
// dtype, to double: F64 as it is, the others exactly through decode_to_float) and compared value
// by value.
#ifndef SAFETENSORS_CLI_DIFF_HPP
#define SAFETENSORS_CLI_DIFF_HPP

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli_values.hpp"

namespace safetensors_cli {

/// Where the bytes of one tensor of a checkpoint are: in a mapping, or in a source read with
/// pread.
struct tensor_place {
  const std::byte* mapped = nullptr;
  const safetensors::random_access_source* source = nullptr;
  std::uint64_t base = 0;  ///< the tensor's first byte in `source`

  /// Bytes [offset, offset + n) of the tensor into `dst` (the caller checked the range).
  safetensors::result<void> read(std::uint64_t offset, std::byte* dst, std::size_t n) const {
    if (n == 0) return {};
    if (mapped != nullptr) {
      std::memcpy(dst, mapped + offset, n);
      return {};
    }
    return source->read_at(base + offset, dst, n);
  }
};

/// Tensor `name` of `ckpt`: its table entry and where its bytes are (opens its shard).
inline safetensors::result<std::pair<safetensors::tensor_info, tensor_place>> locate_tensor(
    const safetensors::checkpoint& ckpt, const std::string& name) {
  namespace st = safetensors;
  auto info = ckpt.at(name);
  if (!info) return info.error();
  auto shard = ckpt.shard(*ckpt.shard_of(name));
  if (!shard) return shard.error();
  tensor_place place;
  if (const st::mapped_file* m = shard->mapped()) {
    place.mapped = m->tensor(*info).bytes().data();
  } else {
    const st::source_reader& r = *shard->reader();
    place.source = &r.source();
    place.base = r.header().data_offset() + info->offsets().begin;
  }
  return std::pair<st::tensor_info, tensor_place>(*info, place);
}

/// How diff() runs.
struct diff_settings {
  /// Stop at the first difference found (for an exit code only: --quiet); the report then
  /// holds that one difference, or none found yet in the data.
  bool stop_at_first = false;
  /// Worker threads of the load (0: one per core).
  unsigned threads = 0;
  /// Bytes compared per chunk.
  std::size_t chunk_bytes = std::size_t{4} << 20;
  /// Called with the bytes compared so far and in all, never from two threads at once.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
  /// Tolerances (--atol, --rtol): when either is set, the floating-point tensors of the same
  /// shape are compared by value, across dtypes too; an element exceeds them when
  /// |a - b| > atol + rtol * |b|. The one not set is 0.
  std::optional<double> atol;
  std::optional<double> rtol;
  bool by_value() const { return atol.has_value() || rtol.has_value(); }
};

/// A tensor's name, dtype and shape.
struct tensor_brief {
  std::string name;
  safetensors::dtype dtype = safetensors::dtype::U8;
  std::vector<std::uint64_t> shape;
};

/// One element of A and of B at the same index.
struct element_pair {
  std::uint64_t index = 0;              ///< flat (row-major) index
  std::vector<std::uint64_t> position;  ///< the same as one index per dimension
  std::uint64_t a_bits = 0;             ///< the element's bits (little-endian value)
  std::uint64_t b_bits = 0;
  detail::value a;  ///< decoded as in docs/cli.md#decoded-values
  detail::value b;
};

/// A tensor of the same name, dtype and shape on both sides whose bytes differ.
struct data_difference {
  tensor_brief tensor;
  std::uint64_t elements = 0;   ///< elements of the tensor
  std::uint64_t differing = 0;  ///< elements whose bits differ (with stop_at_first: at least 1)
  element_pair first;           ///< the first differing element
};

/// A floating-point tensor compared by value (with tolerances): the largest errors, and the
/// elements beyond the tolerances.
struct value_comparison {
  tensor_brief a;                ///< name, A's dtype, the shape
  safetensors::dtype b_dtype{};  ///< B's dtype
  std::uint64_t elements = 0;
  std::uint64_t exceeding = 0;  ///< elements beyond the tolerances (stop_at_first: at least 1)
  double max_abs = 0;           ///< the largest |a - b|
  double max_rel = 0;           ///< the largest |a - b| / |b|
  std::optional<element_pair> first;  ///< the first element beyond the tolerances
};

/// A metadata key whose value differs, or that only one side has (nullopt on the other).
struct metadata_difference {
  std::string key;
  std::optional<std::string> a;
  std::optional<std::string> b;
};

/// Everything diff() found. Each list is in name (or key) order.
struct diff_report {
  std::size_t a_tensors = 0;
  std::size_t b_tensors = 0;
  std::size_t compared = 0;          ///< tensors of the same name, dtype and shape on both sides
  std::uint64_t bytes_compared = 0;  ///< their bytes (of one side)
  std::size_t metadata_keys = 0;     ///< keys of A's merged __metadata__
  std::vector<tensor_brief> only_a;
  std::vector<tensor_brief> only_b;
  std::vector<std::pair<tensor_brief, tensor_brief>> mismatched;  ///< dtype or shape differ
  std::vector<data_difference> data;
  std::vector<metadata_difference> metadata;
  bool complete = true;   ///< false when stop_at_first stopped the comparison early
  bool by_value = false;  ///< the floating-point tensors were compared with tolerances
  double atol = 0;
  double rtol = 0;
  std::vector<value_comparison> values;  ///< every tensor compared by value

  /// Tensors compared by value whose elements exceed the tolerances.
  std::size_t values_exceeding() const {
    std::size_t n = 0;
    for (const auto& v : values) n += v.exceeding != 0 ? 1 : 0;
    return n;
  }
  /// No difference (with tolerances: none beyond them).
  bool identical() const {
    return only_a.empty() && only_b.empty() && mismatched.empty() && data.empty() &&
           metadata.empty() && values_exceeding() == 0;
  }
};

namespace detail {

/// The bits of the element that starts at bit `bit` of `p` (`size` bytes), for a dtype of
/// `bits` bits: bytes as a little-endian integer, sub-byte elements from the little-endian bit
/// stream (docs/format.md#sub-byte-packing).
inline std::uint64_t element_bits(const std::byte* p, std::size_t size, std::uint64_t bit,
                                  unsigned bits) noexcept {
  const auto at = static_cast<std::size_t>(bit / 8);
  if (bits % 8 == 0) {
    std::uint64_t v = 0;
    for (unsigned k = bits / 8; k-- > 0;) {
      v = (v << 8) | std::to_integer<std::uint64_t>(p[at + k]);
    }
    return v;
  }
  std::uint64_t w = std::to_integer<std::uint64_t>(p[at]);
  if (at + 1 < size) w |= std::to_integer<std::uint64_t>(p[at + 1]) << 8;
  return (w >> (bit % 8)) & ((std::uint64_t{1} << bits) - 1);
}

/// Compares `n` bytes of A and B holding whole elements of `bits` bits, the first of them
/// element `first_element`. Adds the differing elements to `count` and lowers `first` to the
/// first of them. With `just_one`, stops at the first.
inline void compare_elements(const std::byte* a, const std::byte* b, std::size_t n, unsigned bits,
                             std::uint64_t first_element, bool just_one, std::uint64_t& first,
                             std::uint64_t& count) {
  std::uint64_t found = 0;
  std::uint64_t lowest = std::numeric_limits<std::uint64_t>::max();
  const auto scan = [&](auto tag) {
    using word = decltype(tag);
    const std::size_t elements = n / sizeof(word);
    std::size_t i = 0;
    for (; i < elements; ++i) {  // the first differing element
      word x;
      word y;
      std::memcpy(&x, a + i * sizeof(word), sizeof(word));
      std::memcpy(&y, b + i * sizeof(word), sizeof(word));
      if (x != y) break;
    }
    if (i == elements) return;
    lowest = first_element + i;
    if (just_one) {
      found = 1;
      return;
    }
    for (; i < elements; ++i) {  // and how many do
      word x;
      word y;
      std::memcpy(&x, a + i * sizeof(word), sizeof(word));
      std::memcpy(&y, b + i * sizeof(word), sizeof(word));
      found += x != y ? 1 : 0;
    }
  };
  switch (bits) {
    case 8:
      scan(std::uint8_t{});
      break;
    case 16:
      scan(std::uint16_t{});
      break;
    case 32:
      scan(std::uint32_t{});
      break;
    case 64:
      scan(std::uint64_t{});
      break;
    default: {  // sub-byte dtypes: element by element in the bit stream
      const std::uint64_t elements = std::uint64_t{n} * 8 / bits;
      for (std::uint64_t i = 0; i < elements; ++i) {
        if (element_bits(a, n, i * bits, bits) == element_bits(b, n, i * bits, bits)) continue;
        if (found == 0) lowest = first_element + i;
        ++found;
        if (just_one) break;
      }
    }
  }
  count += found;
  if (lowest < first) first = lowest;
}

/// The `n` elements of dtype `t` (a floating-point dtype) at `p` (`size` bytes), as doubles in
/// `out`: F64 as it is, the others through decode_to_float, which is exact for them.
inline void decode_doubles(safetensors::dtype t, const std::byte* p, std::size_t size,
                           std::size_t n, std::vector<double>& out) {
  namespace st = safetensors;
  out.resize(n);
  if (t == st::dtype::F64) {
    for (std::size_t i = 0; i < n; ++i) out[i] = st::detail::load_le<double>(p + 8 * i);
    return;
  }
  thread_local std::vector<float> floats;
  floats.resize(n);
  if (n != 0) {
    (void)st::decode_to_float(t, st::span<const std::byte>(p, size), st::span<float>(floats));
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(floats[i]);
}

/// The error of `a` against `b` (docs/cli.md#diff-with-tolerances): |a - b| and |a - b| / |b|
/// (0 when equal, inf for a non-zero error against 0), and whether it exceeds
/// atol + rtol * |b|. Two NaNs are equal, as are two infinities of one sign; a NaN against
/// anything else, or an infinity against anything else, is an error of inf.
inline void element_error(double a, double b, double atol, double rtol, double& abs_err,
                          double& rel_err, bool& exceeds) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if ((a_nan && b_nan) || a == b) {
    abs_err = 0;
    rel_err = 0;
    exceeds = false;
    return;
  }
  if (a_nan || b_nan || std::isinf(a) || std::isinf(b)) {
    abs_err = inf;
    rel_err = inf;
    exceeds = true;
    return;
  }
  abs_err = std::fabs(a - b);
  rel_err = b == 0 ? inf : abs_err / std::fabs(b);
  exceeds = abs_err > atol + rtol * std::fabs(b);
}

/// The sink of diff(): compares each chunk of A with the same bytes of B.
class compare_sink : public safetensors::load_sink {
 public:
  struct job {
    tensor_brief tensor;
    std::uint64_t elements = 0;
    unsigned bits = 8;
    tensor_place b;
    std::atomic<std::uint64_t> first{std::numeric_limits<std::uint64_t>::max()};
    std::atomic<std::uint64_t> differing{0};
    // With tolerances: B's dtype, and the largest errors (under `lock`).
    bool by_value = false;
    safetensors::dtype b_dtype{};
    std::mutex lock;
    double max_abs = 0;
    double max_rel = 0;
  };

  compare_sink(bool stop_at_first, double atol, double rtol)
      : stop_at_first_(stop_at_first), atol_(atol), rtol_(rtol) {}

  std::deque<job>& jobs() { return jobs_; }
  /// True when stop_at_first stopped the load at a difference.
  bool stopped() const { return stopped_.load(); }

  safetensors::result<void> write(std::size_t index, std::uint64_t offset,
                                  safetensors::span<const std::byte> bytes) override {
    namespace st = safetensors;
    job& j = jobs_[index];
    if (j.by_value) return compare_values(j, offset, bytes);
    const std::byte* other = nullptr;
    if (j.b.mapped != nullptr) {
      other = j.b.mapped + offset;
    } else {
      thread_local std::vector<std::byte> buffer;
      buffer.resize(bytes.size());
      if (auto r = j.b.read(offset, buffer.data(), buffer.size()); !r) return r.error();
      other = buffer.data();
    }
    if (bytes.empty() || std::memcmp(bytes.data(), other, bytes.size()) == 0) return {};
    std::uint64_t first = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t count = 0;
    compare_elements(bytes.data(), other, bytes.size(), j.bits, offset * 8 / j.bits, stop_at_first_,
                     first, count);
    j.differing.fetch_add(count);
    std::uint64_t seen = j.first.load();
    while (first < seen && !j.first.compare_exchange_weak(seen, first)) {
    }
    if (stop_at_first_) {
      stopped_.store(true);
      return st::error(st::errc::cancelled, "diff: stopped at the first difference");
    }
    return {};
  }

 private:
  /// The chunk of A at `offset` (whole elements of A's dtype) against the same elements of B,
  /// both decoded to double.
  safetensors::result<void> compare_values(job& j, std::uint64_t offset,
                                           safetensors::span<const std::byte> bytes) {
    namespace st = safetensors;
    const unsigned a_bits = j.bits;
    const unsigned b_bits = st::bit_size(j.b_dtype);
    const std::uint64_t first = offset * 8 / a_bits;
    const auto n = static_cast<std::size_t>(std::uint64_t{bytes.size()} * 8 / a_bits);
    // B's bytes of the same elements: whole bytes, since chunks hold groups of 8 elements (or
    // end with the tensor).
    const std::uint64_t b_begin = first * b_bits / 8;
    const auto b_size = static_cast<std::size_t>((first + n) * b_bits / 8 - b_begin);
    const std::byte* other = nullptr;
    thread_local std::vector<std::byte> buffer;
    if (j.b.mapped != nullptr) {
      other = j.b.mapped + b_begin;
    } else {
      buffer.resize(b_size);
      if (auto r = j.b.read(b_begin, buffer.data(), b_size); !r) return r.error();
      other = buffer.data();
    }
    thread_local std::vector<double> a;
    thread_local std::vector<double> b;
    decode_doubles(j.tensor.dtype, bytes.data(), bytes.size(), n, a);
    decode_doubles(j.b_dtype, other, b_size, n, b);
    std::uint64_t exceeding = 0;
    std::uint64_t lowest = std::numeric_limits<std::uint64_t>::max();
    double max_abs = 0;
    double max_rel = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double abs_err = 0;
      double rel_err = 0;
      bool exceeds = false;
      element_error(a[i], b[i], atol_, rtol_, abs_err, rel_err, exceeds);
      max_abs = std::max(max_abs, abs_err);
      max_rel = std::max(max_rel, rel_err);
      if (exceeds) {
        if (exceeding++ == 0) lowest = first + i;
        if (stop_at_first_) break;
      }
    }
    {
      std::lock_guard<std::mutex> g(j.lock);
      j.max_abs = std::max(j.max_abs, max_abs);
      j.max_rel = std::max(j.max_rel, max_rel);
    }
    if (exceeding == 0) return {};
    j.differing.fetch_add(exceeding);
    std::uint64_t seen = j.first.load();
    while (lowest < seen && !j.first.compare_exchange_weak(seen, lowest)) {
    }
    if (stop_at_first_) {
      stopped_.store(true);
      return st::error(st::errc::cancelled, "diff: stopped at the first difference");
    }
    return {};
  }

  bool stop_at_first_;
  double atol_;
  double rtol_;
  std::atomic<bool> stopped_{false};
  std::deque<job> jobs_;  // a deque: jobs hold atomics and never move
};

inline tensor_brief brief_of(const std::string& name, const safetensors::tensor_info& t) {
  return {name, t.dtype(), std::vector<std::uint64_t>(t.shape().begin(), t.shape().end())};
}

/// Element `index` of tensor `t` at `place`: its bits and its decoded value.
inline safetensors::result<std::pair<std::uint64_t, value>> read_element(const tensor_place& place,
                                                                         const tensor_brief& t,
                                                                         std::uint64_t byte_size,
                                                                         std::uint64_t index) {
  namespace st = safetensors;
  const unsigned bits = st::bit_size(t.dtype);
  // The element's group of 8: whole bytes for every dtype (`bits` bytes).
  const std::uint64_t group_begin = index / 8 * bits;
  const std::uint64_t group_size = std::min<std::uint64_t>(bits, byte_size - group_begin);
  std::byte group[64];
  if (auto r = place.read(group_begin, group, static_cast<std::size_t>(group_size)); !r) {
    return r.error();
  }
  const std::uint64_t v =
      element_bits(group, static_cast<std::size_t>(group_size), index % 8 * bits, bits);
  std::byte one[8];
  for (std::size_t k = 0; k < 8; ++k) one[k] = static_cast<std::byte>((v >> (8 * k)) & 0xff);
  const std::size_t one_size = (bits + 7) / 8;
  auto decoded = decode_values(t.dtype, st::span<const std::byte>(one, one_size), 1);
  return std::pair<std::uint64_t, value>(v, std::move(decoded.front()));
}

/// `index` as one index per dimension of `shape` (row-major).
inline std::vector<std::uint64_t> position_of(std::uint64_t index,
                                              const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> out(shape.size(), 0);
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 0) break;
    out[d] = index % shape[d];
    index /= shape[d];
  }
  return out;
}

/// "0x3fc00000": the bits of an element of `bits` bits, one hex digit per 4 bits.
inline std::string hex_bits(std::uint64_t v, unsigned bits) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned d = (bits + 3) / 4; d-- > 0;) out += digits[(v >> (4 * d)) & 0xf];
  return "0x" + out;
}

inline std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

inline nlohmann::ordered_json shape_json(const std::vector<std::uint64_t>& shape) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const std::uint64_t d : shape) out.push_back(d);
  return out;
}

inline std::string quoted(const std::string& s) { return safetensors::detail::quote(s); }

/// An error or tolerance as text: 6 significant digits, "inf" for an infinite one.
inline std::string error_text(double v) {
  if (std::isinf(v)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace detail

/// Compares the checkpoints (or files) `a` and `b`: tensor names, then dtype and shape of the
/// tensors both hold, then the bytes of those that agree, then the merged `__metadata__`
/// (checkpoint::merged_metadata; absent and empty are the same). Errors are the library's
/// (a shard that cannot be opened, a tensor its shard does not hold, a read that fails). Without
/// tolerances, a tensor stored as F32 on one side and BF16 on the other is a dtype difference,
/// whatever its values; with them (settings.by_value()), floating-point tensors of the same shape
/// are compared by value whatever their dtypes.
inline safetensors::result<diff_report> diff(const safetensors::checkpoint& a,
                                             const safetensors::checkpoint& b,
                                             const diff_settings& settings) {
  namespace st = safetensors;
  diff_report out;
  out.a_tensors = a.size();
  out.b_tensors = b.size();

  // Metadata first: it needs no tensor data, and it opens every shard.
  auto a_md = a.merged_metadata();
  if (!a_md) return a_md.error();
  auto b_md = b.merged_metadata();
  if (!b_md) return b_md.error();
  const st::metadata_map none;
  const st::metadata_map& am = *a_md ? **a_md : none;
  const st::metadata_map& bm = *b_md ? **b_md : none;
  out.metadata_keys = am.size();
  for (auto i = am.begin(), j = bm.begin(); i != am.end() || j != bm.end();) {
    if (j == bm.end() || (i != am.end() && i->first < j->first)) {
      out.metadata.push_back({i->first, i->second, std::nullopt});
      ++i;
    } else if (i == am.end() || j->first < i->first) {
      out.metadata.push_back({j->first, std::nullopt, j->second});
      ++j;
    } else {
      if (i->second != j->second) out.metadata.push_back({i->first, i->second, j->second});
      ++i;
      ++j;
    }
  }

  // Names (both weight maps are in name order), dtypes and shapes.
  out.by_value = settings.by_value();
  out.atol = settings.atol.value_or(0);
  out.rtol = settings.rtol.value_or(0);
  detail::compare_sink sink(settings.stop_at_first, out.atol, out.rtol);
  std::vector<st::load_request> requests;
  const auto& ae = a.entries();
  const auto& be = b.entries();
  for (std::size_t i = 0, j = 0; i < ae.size() || j < be.size();) {
    if (j == be.size() || (i < ae.size() && ae[i].name < be[j].name)) {
      auto t = a.at(ae[i].name);
      if (!t) return t.error();
      out.only_a.push_back(detail::brief_of(ae[i].name, *t));
      ++i;
      continue;
    }
    if (i == ae.size() || be[j].name < ae[i].name) {
      auto t = b.at(be[j].name);
      if (!t) return t.error();
      out.only_b.push_back(detail::brief_of(be[j].name, *t));
      ++j;
      continue;
    }
    const std::string& name = ae[i].name;
    ++i;
    ++j;
    auto ta = a.at(name);
    if (!ta) return ta.error();
    auto tb = locate_tensor(b, name);
    if (!tb) return tb.error();
    tensor_brief ba = detail::brief_of(name, *ta);
    tensor_brief bb = detail::brief_of(name, tb->first);
    const bool by_value = out.by_value && ba.shape == bb.shape &&
                          safetensors::detail::is_float(ba.dtype) &&
                          safetensors::detail::is_float(bb.dtype);
    if (!by_value && (ba.dtype != bb.dtype || ba.shape != bb.shape)) {
      out.mismatched.emplace_back(std::move(ba), std::move(bb));
      continue;
    }
    if (!by_value && ta->byte_size() != tb->first.byte_size()) {  // validated: cannot happen
      return st::error(st::errc::invalid_argument,
                       "diff: tensor " + detail::quoted(name) + " has " +
                           std::to_string(ta->byte_size()) + " bytes in A and " +
                           std::to_string(tb->first.byte_size()) + " in B");
    }
    ++out.compared;
    out.bytes_compared += ta->byte_size();
    detail::compare_sink::job& job = sink.jobs().emplace_back();
    job.tensor = std::move(ba);
    job.elements = ta->element_count();
    job.bits = st::bit_size(job.tensor.dtype);
    job.b = tb->second;
    job.by_value = by_value;
    job.b_dtype = bb.dtype;
    st::load_request r;
    r.name = name;
    requests.push_back(std::move(r));
  }
  if (settings.stop_at_first && !out.identical()) {
    out.complete = false;
    return out;
  }

  // The bytes.
  st::load_options options;
  options.threads = settings.threads;
  options.chunk_bytes = settings.chunk_bytes;
  if (settings.progress) {
    options.progress = [&settings](const st::load_progress& p) {
      settings.progress(p.bytes_done, p.bytes_total);
      return true;
    };
  }
  auto loaded = st::load(a, st::span<const st::load_request>(requests.data(), requests.size()),
                         sink, options);
  if (!loaded && !sink.stopped()) return loaded.error();
  out.complete = !sink.stopped();
  for (std::size_t k = 0; k < sink.jobs().size(); ++k) {
    detail::compare_sink::job& job = sink.jobs()[k];
    const std::uint64_t differing = job.differing.load();
    if (job.by_value) {
      value_comparison v;
      v.a = job.tensor;
      v.b_dtype = job.b_dtype;
      v.elements = job.elements;
      v.exceeding = differing;
      v.max_abs = job.max_abs;
      v.max_rel = job.max_rel;
      if (differing != 0) {
        element_pair e;
        e.index = job.first.load();
        e.position = detail::position_of(e.index, job.tensor.shape);
        auto pa = locate_tensor(a, job.tensor.name);
        if (!pa) return pa.error();
        auto ea = detail::read_element(pa->second, job.tensor, pa->first.byte_size(), e.index);
        if (!ea) return ea.error();
        tensor_brief b_brief = job.tensor;
        b_brief.dtype = job.b_dtype;
        auto pb = locate_tensor(b, job.tensor.name);
        if (!pb) return pb.error();
        auto eb = detail::read_element(job.b, b_brief, pb->first.byte_size(), e.index);
        if (!eb) return eb.error();
        e.a_bits = ea->first;
        e.a = std::move(ea->second);
        e.b_bits = eb->first;
        e.b = std::move(eb->second);
        v.first = std::move(e);
      }
      out.values.push_back(std::move(v));
      continue;
    }
    if (differing == 0) continue;
    data_difference d;
    d.tensor = job.tensor;
    d.elements = job.elements;
    d.differing = differing;
    d.first.index = job.first.load();
    d.first.position = detail::position_of(d.first.index, job.tensor.shape);
    auto pa = locate_tensor(a, job.tensor.name);
    if (!pa) return pa.error();
    const std::uint64_t size = pa->first.byte_size();
    auto ea = detail::read_element(pa->second, job.tensor, size, d.first.index);
    if (!ea) return ea.error();
    auto eb = detail::read_element(job.b, job.tensor, size, d.first.index);
    if (!eb) return eb.error();
    d.first.a_bits = ea->first;
    d.first.a = std::move(ea->second);
    d.first.b_bits = eb->first;
    d.first.b = std::move(eb->second);
    out.data.push_back(std::move(d));
  }
  return out;
}

/// The report as text, one line per difference, then a summary line
/// (docs/cli.md#diff-output). Shows only the first differing element of a tensor.
inline std::string diff_text(const diff_report& r) {
  using detail::quoted;
  using detail::shape_string;
  namespace st = safetensors;
  std::string out;
  const auto brief = [](const tensor_brief& t) {
    return std::string(st::to_string(t.dtype)) + " " + shape_string(t.shape);
  };
  for (const auto& t : r.only_a) out += "only in A: " + quoted(t.name) + " " + brief(t) + "\n";
  for (const auto& t : r.only_b) out += "only in B: " + quoted(t.name) + " " + brief(t) + "\n";
  for (const auto& [ta, tb] : r.mismatched) {
    if (ta.dtype != tb.dtype) {
      out += "dtype: " + quoted(ta.name) + ": " + std::string(st::to_string(ta.dtype)) + " vs " +
             std::string(st::to_string(tb.dtype)) + "\n";
    }
    if (ta.shape != tb.shape) {
      out += "shape: " + quoted(ta.name) + ": " + shape_string(ta.shape) + " vs " +
             shape_string(tb.shape) + "\n";
    }
  }
  for (const auto& d : r.data) {
    const unsigned bits = st::bit_size(d.tensor.dtype);
    out += "data: " + quoted(d.tensor.name) + " " + brief(d.tensor) + ": ";
    if (r.complete) {
      out += std::to_string(d.differing) + " of " + std::to_string(d.elements) +
             (d.elements == 1 ? " element differs" : " elements differ") + ", the first at ";
    } else {
      out += "differs at ";
    }
    out += std::to_string(d.first.index) + " " + shape_string(d.first.position) + ": " +
           d.first.a.text + " vs " + d.first.b.text + " (" +
           detail::hex_bits(d.first.a_bits, bits) + " vs " +
           detail::hex_bits(d.first.b_bits, bits) + ")\n";
  }
  // Values beyond the tolerances, then (after the metadata) the tensors within them.
  const auto value_line = [&r](const value_comparison& v) {
    std::string line = quoted(v.a.name) + " " + std::string(st::to_string(v.a.dtype));
    if (v.b_dtype != v.a.dtype) line += " vs " + std::string(st::to_string(v.b_dtype));
    line += " " + shape_string(v.a.shape) + ": ";
    const std::string errors =
        "max abs " + detail::error_text(v.max_abs) + ", max rel " + detail::error_text(v.max_rel);
    if (v.exceeding == 0) {
      return line + errors + "; 0 of " + std::to_string(v.elements) +
             (v.elements == 1 ? " element exceeds" : " elements exceed") + " the tolerances";
    }
    if (r.complete) {
      line += std::to_string(v.exceeding) + " of " + std::to_string(v.elements) +
              (v.elements == 1 ? " element exceeds" : " elements exceed") +
              " the tolerances, the first at ";
    } else {
      line += "exceeds the tolerances at ";
    }
    return line + std::to_string(v.first->index) + " " + shape_string(v.first->position) + ": " +
           v.first->a.text + " vs " + v.first->b.text + "; " + errors;
  };
  for (const auto& v : r.values) {
    if (v.exceeding != 0) out += "values: " + value_line(v) + "\n";
  }
  for (const auto& m : r.metadata) {
    out += "metadata: " + quoted(m.key) + ": ";
    if (!m.b) {
      out += "only in A (" + quoted(*m.a) + ")\n";
    } else if (!m.a) {
      out += "only in B (" + quoted(*m.b) + ")\n";
    } else {
      out += quoted(*m.a) + " vs " + quoted(*m.b) + "\n";
    }
  }
  const auto plural = [](std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  for (const auto& v : r.values) {
    if (v.exceeding == 0) out += "close: " + value_line(v) + "\n";
  }
  if (r.identical() && r.by_value) {
    double max_abs = 0;
    double max_rel = 0;
    for (const auto& v : r.values) {
      max_abs = std::max(max_abs, v.max_abs);
      max_rel = std::max(max_rel, v.max_rel);
    }
    out += "identical within the tolerances (atol " + detail::error_text(r.atol) + ", rtol " +
           detail::error_text(r.rtol) + "): " + plural(r.compared, "tensor", "tensors") + " (" +
           std::to_string(r.values.size()) + " compared by value: max abs " +
           detail::error_text(max_abs) + ", max rel " + detail::error_text(max_rel) + "), " +
           plural(r.bytes_compared, "byte", "bytes") + ", " +
           plural(r.metadata_keys, "metadata key", "metadata keys") + "\n";
  } else if (r.identical()) {
    out += "identical: " + plural(r.compared, "tensor", "tensors") + ", " +
           plural(r.bytes_compared, "byte", "bytes") + ", " +
           plural(r.metadata_keys, "metadata key", "metadata keys") + "\n";
  } else {
    out += "different: " + plural(r.only_a.size(), "tensor", "tensors") + " only in A, " +
           std::to_string(r.only_b.size()) + " only in B, " +
           std::to_string(r.mismatched.size() + r.data.size() + r.values_exceeding()) + " of " +
           std::to_string(r.compared + r.mismatched.size()) + " in both differ; " +
           plural(r.metadata.size(), "metadata key differs", "metadata keys differ") + "\n";
  }
  return out;
}

/// The report as one JSON document (docs/cli.md#diff-json), for a complete report.
inline nlohmann::ordered_json diff_json(const diff_report& r, const std::string& a_path,
                                        const std::string& b_path) {
  namespace st = safetensors;
  using json = nlohmann::ordered_json;
  const auto tensor = [](const tensor_brief& t) {
    return json{{"name", t.name},
                {"dtype", std::string(st::to_string(t.dtype))},
                {"shape", detail::shape_json(t.shape)}};
  };
  json out;
  out["identical"] = r.identical();
  out["a"] = a_path;
  out["b"] = b_path;
  out["tensors"] = {{"a", r.a_tensors},
                    {"b", r.b_tensors},
                    {"compared", r.compared},
                    {"bytes_compared", r.bytes_compared}};
  json only_a = json::array();
  for (const auto& t : r.only_a) only_a.push_back(tensor(t));
  out["only_in_a"] = std::move(only_a);
  json only_b = json::array();
  for (const auto& t : r.only_b) only_b.push_back(tensor(t));
  out["only_in_b"] = std::move(only_b);
  json mismatched = json::array();
  for (const auto& [ta, tb] : r.mismatched) {
    mismatched.push_back({{"name", ta.name},
                          {"a",
                           {{"dtype", std::string(st::to_string(ta.dtype))},
                            {"shape", detail::shape_json(ta.shape)}}},
                          {"b",
                           {{"dtype", std::string(st::to_string(tb.dtype))},
                            {"shape", detail::shape_json(tb.shape)}}}});
  }
  out["mismatched"] = std::move(mismatched);
  json data = json::array();
  for (const auto& d : r.data) {
    const unsigned bits = st::bit_size(d.tensor.dtype);
    json entry = tensor(d.tensor);
    entry["elements"] = d.elements;
    entry["differing"] = d.differing;
    entry["first"] = {{"index", d.first.index},
                      {"position", detail::shape_json(d.first.position)},
                      {"a", d.first.a.json},
                      {"b", d.first.b.json},
                      {"a_bits", detail::hex_bits(d.first.a_bits, bits)},
                      {"b_bits", detail::hex_bits(d.first.b_bits, bits)}};
    data.push_back(std::move(entry));
  }
  out["data"] = std::move(data);
  json metadata = json::array();
  for (const auto& m : r.metadata) {
    metadata.push_back({{"key", m.key},
                        {"a", m.a ? json(*m.a) : json(nullptr)},
                        {"b", m.b ? json(*m.b) : json(nullptr)}});
  }
  out["metadata"] = std::move(metadata);
  if (r.by_value) {
    out["atol"] = r.atol;
    out["rtol"] = r.rtol;
    json values = json::array();
    for (const auto& v : r.values) {
      json entry;
      entry["name"] = v.a.name;
      entry["a"] = {{"dtype", std::string(st::to_string(v.a.dtype))}};
      entry["b"] = {{"dtype", std::string(st::to_string(v.b_dtype))}};
      entry["shape"] = detail::shape_json(v.a.shape);
      entry["elements"] = v.elements;
      entry["exceeding"] = v.exceeding;
      entry["max_abs"] = detail::float_value(v.max_abs).json;
      entry["max_rel"] = detail::float_value(v.max_rel).json;
      if (v.first) {
        entry["first"] = {{"index", v.first->index},
                          {"position", detail::shape_json(v.first->position)},
                          {"a", v.first->a.json},
                          {"b", v.first->b.json},
                          {"a_bits", detail::hex_bits(v.first->a_bits, st::bit_size(v.a.dtype))},
                          {"b_bits", detail::hex_bits(v.first->b_bits, st::bit_size(v.b_dtype))}};
      } else {
        entry["first"] = nullptr;
      }
      values.push_back(std::move(entry));
    }
    out["values"] = std::move(values);
  }
  return out;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_DIFF_HPP
