// safetensors-cli stats (docs/cli.md#stats): per tensor, the minimum, maximum, mean and
// population standard deviation of the finite values, and the counts of NaN, +inf, -inf and
// zeros, in double precision.
//
// The values come through load() into a sink, in parallel: the float dtypes narrower than F32
// are delivered as F32 by the loader (exact: docs/loading.md#conversions); F32, F64, the integers
// and BOOL as their bytes, decoded here (F64, I64 and U64 straight to double, never through
// float). Values are summarized 256 at a time in two passes (the mean, then the sum of squared
// deviations from it, corrected by the mean's rounding: the corrected two-pass algorithm), and
// these summaries combined with the pairwise update of Chan, Golub and LeVeque, as a binary tree
// within each chunk the loader delivers, then over the chunks in offset order: the result does
// not depend on which thread took which chunk, and rounding grows with log(n), not n. C64
// tensors are not summarized (complex values have no order).
#ifndef SAFETENSORS_CLI_STATS_HPP
#define SAFETENSORS_CLI_STATS_HPP

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli_values.hpp"

namespace safetensors_cli {

/// The summary of some values of one tensor (a chunk, or the whole tensor).
struct value_stats {
  std::uint64_t count = 0;   ///< values seen
  std::uint64_t finite = 0;  ///< of them finite: what min, max, mean and m2 are over
  double mean = 0;
  double m2 = 0;  ///< sum of squared deviations from the mean
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  /// Exact extremes of integer dtypes (I64 and U64 values beyond 2^53 have no exact double).
  std::int64_t imin = std::numeric_limits<std::int64_t>::max();
  std::int64_t imax = std::numeric_limits<std::int64_t>::min();
  std::uint64_t umin = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t umax = 0;
  std::uint64_t nan = 0;
  std::uint64_t pos_inf = 0;
  std::uint64_t neg_inf = 0;
  std::uint64_t zeros = 0;  ///< +0 and -0

  /// Adds `o`, the stats of other values (Chan et al.'s pairwise update of mean and m2).
  void merge(const value_stats& o) {
    if (o.finite != 0) {
      if (finite == 0) {
        mean = o.mean;
        m2 = o.m2;
      } else {
        const double n = static_cast<double>(finite) + static_cast<double>(o.finite);
        const double delta = o.mean - mean;
        mean += delta * (static_cast<double>(o.finite) / n);
        m2 += o.m2 +
              delta * delta * (static_cast<double>(finite) * static_cast<double>(o.finite) / n);
      }
    }
    count += o.count;
    finite += o.finite;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    imin = std::min(imin, o.imin);
    imax = std::max(imax, o.imax);
    umin = std::min(umin, o.umin);
    umax = std::max(umax, o.umax);
    nan += o.nan;
    pos_inf += o.pos_inf;
    neg_inf += o.neg_inf;
    zeros += o.zeros;
  }

  /// Population standard deviation of the finite values (0 for none).
  double stddev() const { return finite == 0 ? 0.0 : std::sqrt(m2 / static_cast<double>(finite)); }
};

namespace detail {

/// Stats merged pairwise, as a binary counter: each value is summarized with O(log n)
/// merges' rounding, not O(n). Add in order; total() merges what is left, left to right.
class pairwise_stats {
 public:
  void add(value_stats s) {
    unsigned level = 0;
    while (!stack_.empty() && stack_.back().first == level) {
      value_stats left = stack_.back().second;
      stack_.pop_back();
      left.merge(s);
      s = left;
      ++level;
    }
    stack_.emplace_back(level, s);
  }
  value_stats total() const {
    value_stats out;
    for (const auto& entry : stack_) out.merge(entry.second);
    return out;
  }

 private:
  std::vector<std::pair<unsigned, value_stats>> stack_;
};

/// Values summarized exactly in two passes at a time (in cache), then merged pairwise.
inline constexpr std::size_t stats_block = 256;

/// The stats of values [begin, end), value `i` being get(i) (a double), in two passes: the
/// counts, extremes and mean, then the squared deviations from it, corrected by the sum of the
/// deviations (the mean's rounding).
template <class Get>
value_stats block_stats(std::size_t begin, std::size_t end, Get& get) {
  value_stats s;
  s.count = end - begin;
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const double x = get(i);
    if (std::isnan(x)) {
      ++s.nan;
    } else if (std::isinf(x)) {
      if (x > 0) {
        ++s.pos_inf;
      } else {
        ++s.neg_inf;
      }
    } else {
      ++s.finite;
      sum += x;
      s.min = std::min(s.min, x);
      s.max = std::max(s.max, x);
      if (x == 0) ++s.zeros;
    }
  }
  if (s.finite == 0) return s;
  const double f = static_cast<double>(s.finite);
  const double mean = sum / f;
  double m2 = 0;
  double drift = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const double x = get(i);
    if (!std::isfinite(x)) continue;
    const double d = x - mean;
    m2 += d * d;
    drift += d;
  }
  s.mean = mean + drift / f;
  s.m2 = std::max(0.0, m2 - drift * drift / f);
  return s;
}

/// The stats of `n` values, value `i` being get(i) (a double): blocks of stats_block values
/// summarized exactly, merged pairwise.
template <class Get>
value_stats chunk_stats(std::size_t n, Get get) {
  pairwise_stats all;
  for (std::size_t b = 0; b < n; b += stats_block) {
    all.add(block_stats(b, std::min(n, b + stats_block), get));
  }
  return all.total();
}

/// The stats of `n` integers, value `i` being get(i), with exact extremes.
template <class T, class Get>
value_stats integer_stats(std::size_t n, Get get) {
  value_stats s = chunk_stats(n, [&](std::size_t i) { return static_cast<double>(get(i)); });
  for (std::size_t i = 0; i < n; ++i) {
    const T v = get(i);
    if constexpr (std::is_signed<T>::value) {
      s.imin = std::min<std::int64_t>(s.imin, v);
      s.imax = std::max<std::int64_t>(s.imax, v);
    } else {
      s.umin = std::min<std::uint64_t>(s.umin, v);
      s.umax = std::max<std::uint64_t>(s.umax, v);
    }
  }
  return s;
}

/// The stats of one chunk of tensor values: `bytes` hold `dtype` values as the file stores them,
/// or host floats when `converted`.
inline value_stats stats_of_bytes(safetensors::dtype dtype, bool converted,
                                  safetensors::span<const std::byte> bytes) {
  namespace st = safetensors;
  using st::detail::load_le;
  const std::byte* p = bytes.data();
  if (converted) {
    return chunk_stats(bytes.size() / 4, [p](std::size_t i) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return static_cast<double>(f);
    });
  }
  const auto ints = [&](auto tag) {
    using T = decltype(tag);
    return integer_stats<T>(bytes.size() / sizeof(T),
                            [p](std::size_t i) { return load_le<T>(p + i * sizeof(T)); });
  };
  switch (dtype) {
    case st::dtype::F32:
      return chunk_stats(bytes.size() / 4, [p](std::size_t i) {
        return static_cast<double>(load_le<float>(p + 4 * i));
      });
    case st::dtype::F64:
      return chunk_stats(bytes.size() / 8,
                         [p](std::size_t i) { return load_le<double>(p + 8 * i); });
    case st::dtype::BOOL:
      return integer_stats<std::uint8_t>(bytes.size(), [p](std::size_t i) {
        return static_cast<std::uint8_t>(p[i] != std::byte{0} ? 1 : 0);
      });
    case st::dtype::U8:
      return ints(std::uint8_t{});
    case st::dtype::I8:
      return ints(std::int8_t{});
    case st::dtype::U16:
      return ints(std::uint16_t{});
    case st::dtype::I16:
      return ints(std::int16_t{});
    case st::dtype::U32:
      return ints(std::uint32_t{});
    case st::dtype::I32:
      return ints(std::int32_t{});
    case st::dtype::U64:
      return ints(std::uint64_t{});
    case st::dtype::I64:
      return ints(std::int64_t{});
    default:
      return {};  // not requested without conversion
  }
}

/// True for the dtypes the loader delivers as F32 for stats (every float dtype but F32, F64).
inline bool stats_converts(safetensors::dtype t) {
  namespace st = safetensors;
  switch (t) {
    case st::dtype::F32:
    case st::dtype::F64:
    case st::dtype::C64:
    case st::dtype::BOOL:
    case st::dtype::U8:
    case st::dtype::I8:
    case st::dtype::U16:
    case st::dtype::I16:
    case st::dtype::U32:
    case st::dtype::I32:
    case st::dtype::U64:
    case st::dtype::I64:
      return false;
    default:
      return true;
  }
}

inline bool is_integer(safetensors::dtype t) {
  return !stats_converts(t) && t != safetensors::dtype::F32 && t != safetensors::dtype::F64 &&
         t != safetensors::dtype::C64;
}

inline bool is_signed_integer(safetensors::dtype t) {
  namespace st = safetensors;
  return t == st::dtype::I8 || t == st::dtype::I16 || t == st::dtype::I32 || t == st::dtype::I64;
}

/// The sink of stats: summarizes each chunk and keeps it by offset, to combine in order.
class stats_sink : public safetensors::load_sink {
 public:
  struct job {
    safetensors::dtype dtype = safetensors::dtype::U8;
    bool converted = false;
    std::map<std::uint64_t, value_stats> chunks;
  };

  explicit stats_sink(std::vector<job>& jobs) : jobs_(jobs) {}

  safetensors::result<void> write(std::size_t index, std::uint64_t offset,
                                  safetensors::span<const std::byte> bytes) override {
    job& j = jobs_[index];
    value_stats s = stats_of_bytes(j.dtype, j.converted, bytes);
    std::lock_guard<std::mutex> g(lock_);
    j.chunks.emplace(offset, s);
    return {};
  }

 private:
  std::vector<job>& jobs_;
  std::mutex lock_;
};

inline std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace detail

/// One tensor's row of the stats.
struct tensor_stats {
  std::string name;
  safetensors::dtype dtype = safetensors::dtype::U8;
  std::vector<std::uint64_t> shape;
  std::uint64_t elements = 0;
  bool skipped = false;  ///< C64: not summarized
  value_stats stats;
};

/// How stats() runs.
struct stats_settings {
  /// Worker threads of the load (0: one per core).
  unsigned threads = 0;
  /// Called with the bytes read so far and in all, never from two threads at once.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

/// The stats of the tensors `names` of `ckpt` (in that order). Errors are the library's: a
/// shard that cannot be opened, a tensor its shard does not hold, a read that fails. Cannot
/// summarize C64 tensors (they come back with `skipped`).
inline safetensors::result<std::vector<tensor_stats>> stats(const safetensors::checkpoint& ckpt,
                                                            const std::vector<std::string>& names,
                                                            const stats_settings& settings) {
  namespace st = safetensors;
  std::vector<tensor_stats> out;
  std::vector<detail::stats_sink::job> jobs;
  std::vector<std::size_t> row_of_job;
  std::vector<st::load_request> requests;
  for (const std::string& name : names) {
    auto t = ckpt.at(name);
    if (!t) return t.error();
    tensor_stats row;
    row.name = name;
    row.dtype = t->dtype();
    row.shape.assign(t->shape().begin(), t->shape().end());
    row.elements = t->element_count();
    row.skipped = row.dtype == st::dtype::C64;
    out.push_back(std::move(row));
    if (out.back().skipped) continue;
    detail::stats_sink::job job;
    job.dtype = t->dtype();
    job.converted = detail::stats_converts(job.dtype);
    jobs.push_back(std::move(job));
    row_of_job.push_back(out.size() - 1);
    st::load_request r;
    r.name = name;
    if (jobs.back().converted) r.to = st::dtype::F32;
    requests.push_back(std::move(r));
  }
  detail::stats_sink sink(jobs);
  st::load_options options;
  options.threads = settings.threads;
  if (settings.progress) {
    options.progress = [&settings](const st::load_progress& p) {
      settings.progress(p.bytes_done, p.bytes_total);
      return true;
    };
  }
  auto loaded = st::load(ckpt, st::span<const st::load_request>(requests.data(), requests.size()),
                         sink, options);
  if (!loaded) return loaded.error();
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    detail::pairwise_stats merged;
    for (const auto& chunk : jobs[k].chunks) merged.add(chunk.second);
    const value_stats total = merged.total();
    tensor_stats& row = out[row_of_job[k]];
    if (total.count != row.elements) {  // every chunk was delivered: cannot happen
      return st::error(st::errc::invalid_argument, "stats: tensor " + st::detail::quote(row.name) +
                                                       ": " + std::to_string(total.count) + " of " +
                                                       std::to_string(row.elements) +
                                                       " values summarized");
    }
    row.stats = total;
  }
  return out;
}

/// The table's text of a minimum or maximum: the exact integer for integer dtypes and BOOL, else
/// "%.6g" (which cannot tell apart values closer than 6 significant digits; --json can).
inline std::string extreme_text(const tensor_stats& t, bool maximum) {
  const value_stats& s = t.stats;
  if (detail::is_integer(t.dtype)) {
    if (detail::is_signed_integer(t.dtype)) return std::to_string(maximum ? s.imax : s.imin);
    return std::to_string(maximum ? s.umax : s.umin);
  }
  return detail::number_text(maximum ? s.max : s.min);
}

/// The table: a heading and one row per tensor (docs/cli.md#stats-output). Names print with
/// control bytes escaped; columns are not truncated.
inline std::vector<std::vector<std::string>> stats_rows(const std::vector<tensor_stats>& rows) {
  namespace st = safetensors;
  std::vector<std::vector<std::string>> out;
  out.push_back(
      {"name", "dtype", "shape", "min", "max", "mean", "std", "nan", "+inf", "-inf", "zeros"});
  for (const tensor_stats& t : rows) {
    std::string shape = "[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      shape += (i != 0 ? ", " : "") + std::to_string(t.shape[i]);
    }
    shape += "]";
    std::vector<std::string> row{st::detail::escape_controls(t.name),
                                 std::string(st::to_string(t.dtype)), shape};
    const value_stats& s = t.stats;
    if (t.skipped) {
      row.insert(row.end(), {"-", "-", "-", "-", "-", "-", "-", "-"});
    } else {
      if (s.finite == 0) {
        row.insert(row.end(), {"-", "-", "-", "-"});
      } else {
        row.push_back(extreme_text(t, false));
        row.push_back(extreme_text(t, true));
        row.push_back(detail::number_text(s.mean));
        row.push_back(detail::number_text(s.stddev()));
      }
      for (const std::uint64_t n : {s.nan, s.pos_inf, s.neg_inf, s.zeros}) {
        row.push_back(std::to_string(n));
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

/// The stats as one JSON document (docs/cli.md#stats-json). Names that are not valid UTF-8
/// cannot be dumped as they are (the caller's dump replaces them).
inline nlohmann::ordered_json stats_json(const std::string& path,
                                         const std::vector<tensor_stats>& rows) {
  namespace st = safetensors;
  using json = nlohmann::ordered_json;
  json tensors = json::array();
  for (const tensor_stats& t : rows) {
    json shape = json::array();
    for (const std::uint64_t d : t.shape) shape.push_back(d);
    json row{{"name", t.name}, {"dtype", std::string(st::to_string(t.dtype))}, {"shape", shape}};
    const value_stats& s = t.stats;
    row["count"] = t.elements;
    if (t.skipped) {
      for (const char* key :
           {"finite", "min", "max", "mean", "std", "nan", "pos_inf", "neg_inf", "zeros"}) {
        row[key] = nullptr;
      }
      row["skipped"] = "C64";
      tensors.push_back(std::move(row));
      continue;
    }
    row["finite"] = s.finite;
    if (s.finite == 0) {
      for (const char* key : {"min", "max", "mean", "std"}) row[key] = nullptr;
    } else if (detail::is_integer(t.dtype)) {
      if (detail::is_signed_integer(t.dtype)) {
        row["min"] = s.imin;
        row["max"] = s.imax;
      } else {
        row["min"] = s.umin;
        row["max"] = s.umax;
      }
    } else if (t.dtype == st::dtype::F64) {
      row["min"] = s.min;
      row["max"] = s.max;
    } else {  // float values: the shortest digits that read back as the same float
      row["min"] = detail::float_value(static_cast<float>(s.min)).json;
      row["max"] = detail::float_value(static_cast<float>(s.max)).json;
    }
    if (s.finite != 0) {
      row["mean"] = s.mean;
      row["std"] = s.stddev();
    }
    row["nan"] = s.nan;
    row["pos_inf"] = s.pos_inf;
    row["neg_inf"] = s.neg_inf;
    row["zeros"] = s.zeros;
    tensors.push_back(std::move(row));
  }
  return json{{"path", path}, {"tensors", std::move(tensors)}};
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_STATS_HPP
