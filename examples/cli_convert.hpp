// safetensors-cli convert (docs/cli.md#convert): which tensors of the input are written, under
// which names and in which dtype, with which metadata; then the write itself, a composition of
// the library's public API shown in examples/convert_checkpoint.hpp (load() with a dtype to
// deliver, in pieces, into a stream writer).
#ifndef SAFETENSORS_CLI_CONVERT_HPP
#define SAFETENSORS_CLI_CONVERT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli_values.hpp"
#include "convert_checkpoint.hpp"

namespace safetensors_cli {

// ---- Tensor name patterns --------------------------------------------------------------------

/// Whether `pattern` is a glob glob_match() reads: `[` closed by `]`, no `\` at the end.
/// InvalidArgument naming the problem otherwise.
inline safetensors::result<void> check_glob(std::string_view pattern) {
  namespace st = safetensors;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (++i == pattern.size()) {
        return st::error(st::errc::invalid_argument,
                         "the pattern " + st::detail::quote(pattern) + " ends with a lone '\\'");
      }
    } else if (pattern[i] == '[') {
      std::size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a ']' first is a member
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j == pattern.size()) {
        return st::error(st::errc::invalid_argument,
                         "the pattern " + st::detail::quote(pattern) + " has a '[' without ']'");
      }
      i = j;
    }
  }
  return {};
}

namespace detail {

/// The length of the UTF-8 character that starts at `s[i]` (1 for a byte that starts none).
inline std::size_t char_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

/// Whether the bracket expression at `pattern[p]` (a '[') matches the character `c`; `p` moves
/// past its ']'. Ranges compare bytes (`[0-9]`, `[a-z]`).
inline bool bracket_matches(std::string_view pattern, std::size_t& p, std::string_view c) {
  ++p;
  bool negate = false;
  if (pattern[p] == '!' || pattern[p] == '^') {
    negate = true;
    ++p;
  }
  bool found = false;
  bool first = true;
  while (first || pattern[p] != ']') {
    first = false;
    const std::size_t n = char_length(pattern, p);
    const std::string_view member = pattern.substr(p, n);
    p += n;
    if (n == 1 && pattern[p] == '-' && p + 1 < pattern.size() && pattern[p + 1] != ']') {
      const auto lo = static_cast<unsigned char>(member[0]);
      const auto hi = static_cast<unsigned char>(pattern[p + 1]);
      const auto x = static_cast<unsigned char>(c[0]);
      if (c.size() == 1 && lo <= x && x <= hi) found = true;
      p += 2;
    } else if (member == c) {
      found = true;
    }
  }
  ++p;  // the ']'
  return found != negate;
}

}  // namespace detail

/// Whether the whole of `name` matches the glob `pattern` (check_glob() accepted it): `*` any
/// characters (dots included), `?` one character (UTF-8), `[abc]`, `[a-z]`, `[!abc]` one of a
/// set or not, `\` makes the next character literal.
inline bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;  // the last '*' seen, and where its match ended
  std::size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_n = n;
      continue;
    }
    const std::size_t len = detail::char_length(name, n);
    const std::string_view c = name.substr(n, len);
    if (p < pattern.size()) {
      std::size_t q = p;
      bool ok = false;
      if (pattern[q] == '?') {
        ok = true;
        ++q;
      } else if (pattern[q] == '[') {
        ok = detail::bracket_matches(pattern, q, c);
      } else {
        if (pattern[q] == '\\') ++q;
        const std::size_t plen = detail::char_length(pattern, q);
        ok = pattern.substr(q, plen) == c;
        q += plen;
      }
      if (ok) {
        p = q;
        n += len;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star;  // let the last '*' take one more character
    star_n += detail::char_length(name, star_n);
    n = star_n;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// ---- What convert writes ---------------------------------------------------------------------

/// A dtype named on the command line, in any case ("bf16" is BF16); InvalidArgument naming the
/// dtypes otherwise.
inline safetensors::result<safetensors::dtype> dtype_of(std::string_view text) {
  namespace st = safetensors;
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (auto d = st::dtype_from_string(upper)) return *d;
  std::string names;
  for (std::size_t i = 0; i < st::dtype_count; ++i) {
    names += (i == 0 ? "" : ", ") + std::string(st::to_string(static_cast<st::dtype>(i)));
  }
  return st::error(st::errc::invalid_argument,
                   "unknown dtype " + st::detail::quote(text) + " (one of " + names + ")");
}

/// A `--rename FROM=TO`: a name that starts with `from` starts with `to` instead.
struct rename_rule {
  std::string from;
  std::string to;
};

/// What to write, from the options.
struct convert_selection {
  std::vector<std::string> include;           ///< globs; empty: every tensor
  std::vector<std::string> exclude;           ///< globs
  std::vector<rename_rule> renames;           ///< the first whose `from` is a prefix applies
  std::optional<safetensors::dtype> cast;     ///< --dtype
  std::vector<safetensors::dtype> cast_from;  ///< the dtypes cast (--dtype-from; default floats)
};

/// The dtypes --dtype casts when --dtype-from does not say: every floating-point dtype.
inline std::vector<safetensors::dtype> float_dtypes() {
  std::vector<safetensors::dtype> out;
  for (std::size_t i = 0; i < safetensors::dtype_count; ++i) {
    const auto t = static_cast<safetensors::dtype>(i);
    if (safetensors::detail::is_float(t)) out.push_back(t);
  }
  return out;
}

/// `name` after the first rename rule whose FROM starts it (unchanged when none does).
inline std::string renamed(const std::string& name, const std::vector<rename_rule>& renames) {
  for (const rename_rule& r : renames) {
    if (name.compare(0, r.from.size(), r.from) == 0) return r.to + name.substr(r.from.size());
  }
  return name;
}

/// The tensors convert writes, or a problem with the options for this input (InvalidArgument,
/// a usage error: nothing selected, a cast load() cannot make, two tensors renamed alike). The
/// input's own errors (a shard that cannot be opened) as they are.
struct convert_plan {
  std::vector<safetensors_examples::converted_tensor> tensors;  ///< in the input's name order
  std::size_t input_tensors = 0;
  std::size_t cast = 0;  ///< tensors whose dtype changes
};

inline safetensors::result<convert_plan> plan_convert(const safetensors::checkpoint& in,
                                                      const convert_selection& s) {
  namespace st = safetensors;
  convert_plan out;
  out.input_tensors = in.size();
  std::vector<std::pair<std::string, std::string>> refused;  // tensor, "F64 to BF16"
  for (const auto& entry : in.entries()) {
    const std::string& name = entry.name;
    const auto matches = [&name](const std::string& g) { return glob_match(g, name); };
    if (!s.include.empty() && std::none_of(s.include.begin(), s.include.end(), matches)) continue;
    if (std::any_of(s.exclude.begin(), s.exclude.end(), matches)) continue;
    auto info = in.at(name);
    if (!info) return info.error();
    safetensors_examples::converted_tensor t{name, renamed(name, s.renames), info->dtype()};
    if (s.cast &&
        std::find(s.cast_from.begin(), s.cast_from.end(), info->dtype()) != s.cast_from.end()) {
      t.to = *s.cast;
      if (!st::can_convert(info->dtype(), t.to)) {
        refused.emplace_back(name, std::string(st::to_string(info->dtype())) + " to " +
                                       std::string(st::to_string(t.to)));
      }
    }
    if (t.to != info->dtype()) ++out.cast;
    out.tensors.push_back(std::move(t));
  }
  if (!refused.empty()) {
    std::string why = "--dtype: cannot cast " + refused.front().second + " (tensor " +
                      st::detail::quote(refused.front().first);
    if (refused.size() > 1) {
      why += " and " + std::to_string(refused.size() - 1) +
             (refused.size() == 2 ? " other" : " others");
    }
    return st::error(st::errc::invalid_argument,
                     why + "); --dtype-from chooses the dtypes that are cast");
  }
  if (out.tensors.empty() && in.size() != 0) {
    return st::error(st::errc::invalid_argument, "--include and --exclude leave none of the " +
                                                     std::to_string(in.size()) +
                                                     (in.size() == 1 ? " tensor" : " tensors"));
  }
  // Two tensors renamed alike: found before anything is written.
  std::vector<std::pair<std::string_view, std::string_view>> names;  // new name, old name
  for (const auto& t : out.tensors) names.emplace_back(t.name, t.from);
  std::sort(names.begin(), names.end());
  for (std::size_t i = 1; i < names.size(); ++i) {
    if (names[i].first == names[i - 1].first) {
      return st::error(st::errc::invalid_argument,
                       "--rename: " + st::detail::quote(names[i - 1].second) + " and " +
                           st::detail::quote(names[i].second) + " would both be named " +
                           st::detail::quote(names[i].first));
    }
  }
  return out;
}

/// Where and how convert writes.
struct convert_output {
  std::filesystem::path path;                         ///< a file, or a directory when sharded
  std::optional<safetensors::metadata_map> metadata;  ///< every file's __metadata__
  safetensors::write_options write;                   ///< alignment, header limit
  std::optional<std::uint64_t> max_shard_size;        ///< shards and an index when set
  std::string prefix = "model";                       ///< the shards' names
  std::size_t piece_bytes = std::size_t{16} << 20;    ///< --chunk-size
  std::function<void(std::uint64_t, std::uint64_t)> progress;  ///< input bytes read
};

/// What convert wrote.
struct convert_result {
  safetensors_examples::write_tensors_report report;
  std::vector<std::string> files;  ///< written, in order (the index last); one for a file
};

/// Writes the plan's tensors of `in` to `out` (a file, or a sharded checkpoint), atomically: a
/// failure leaves the target as it was. The writers' errors and load()'s.
inline safetensors::result<convert_result> run_convert(const safetensors::checkpoint& in,
                                                       const convert_plan& plan,
                                                       const convert_output& out) {
  namespace st = safetensors;
  namespace ex = safetensors_examples;
  auto specs = ex::declare(in, plan.tensors);
  if (!specs) return specs.error();
  ex::write_tensors_options wo;
  wo.piece_bytes = out.piece_bytes;
  wo.progress = out.progress;
  convert_result result;
  if (!out.max_shard_size) {
    auto writer = st::stream_writer::create(out.path, *specs, out.metadata, out.write);
    if (!writer) return writer.error();
    std::vector<std::size_t> all(plan.tensors.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    auto report = ex::write_tensors(in, plan.tensors, {all}, *writer, wo);
    if (!report) return report.error();
    if (auto r = writer->commit(); !r) return r.error();
    result.report = *report;
    result.files.push_back(st::detail::display_path(out.path));
    return result;
  }
  st::sharded_write_options so;
  so.max_shard_size = *out.max_shard_size;
  so.prefix = out.prefix;
  so.shard_metadata = out.metadata;
  so.write = out.write;
  auto writer = st::sharded_stream_writer::create(out.path, *specs, so);
  if (!writer) return writer.error();
  auto report = ex::write_tensors(in, plan.tensors, writer->layout().members(), *writer, wo);
  if (!report) return report.error();
  const st::shard_layout layout = writer->layout();
  if (auto r = writer->commit(); !r) return r.error();
  result.report = *report;
  result.files = layout.shards();
  if (layout.sharded()) result.files.push_back(out.prefix + ".safetensors.index.json");
  return result;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_CONVERT_HPP
