// safetensors-cli inspect's summaries (docs/cli.md#inspect): parameters and bytes per dtype, and
// the --summary view, which groups the tensors whose names differ only in their numbered parts
// ("model.layers.{0..21}.mlp.up_proj.weight") and have one dtype and shape.
#ifndef SAFETENSORS_CLI_INSPECT_HPP
#define SAFETENSORS_CLI_INSPECT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <safetensors/safetensors.hpp>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace safetensors_cli {

/// A tensor as the summaries see it.
struct tensor_row {
  std::string name;
  safetensors::dtype dtype{};
  std::vector<std::uint64_t> shape;
  std::uint64_t elements = 0;
  std::uint64_t bytes = 0;
};

inline tensor_row row_of(std::string name, const safetensors::tensor_info& t) {
  return {std::move(name), t.dtype(),
          std::vector<std::uint64_t>(t.shape().begin(), t.shape().end()), t.element_count(),
          t.byte_size()};
}

/// The tensors, parameters (elements) and bytes of one dtype.
struct dtype_total {
  safetensors::dtype dtype{};
  std::size_t tensors = 0;
  std::uint64_t params = 0;
  std::uint64_t bytes = 0;
};

/// One entry per dtype present, the most bytes first (then by dtype name).
inline std::vector<dtype_total> dtype_totals(const std::vector<tensor_row>& rows) {
  std::map<safetensors::dtype, dtype_total> by;
  for (const tensor_row& r : rows) {
    dtype_total& t = by[r.dtype];
    t.dtype = r.dtype;
    ++t.tensors;
    t.params += r.elements;  // a file's element and byte counts fit 64 bits: validated
    t.bytes += r.bytes;
  }
  std::vector<dtype_total> out;
  for (const auto& [dtype, t] : by) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const dtype_total& a, const dtype_total& b) {
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    return safetensors::to_string(a.dtype) < safetensors::to_string(b.dtype);
  });
  return out;
}

/// Tensors of one dtype and shape whose names differ only in numbered parts.
struct tensor_group {
  std::string name;  ///< "model.layers.{0..21}.mlp.up_proj.weight"; a lone tensor's own name
  safetensors::dtype dtype{};
  std::vector<std::uint64_t> shape;
  std::size_t count = 0;
  std::uint64_t params = 0;
  std::uint64_t bytes = 0;
};

namespace detail {

/// Whether `part` (a dot-separated part of a name) is a number: "0", or digits not starting with
/// 0, at most 18 of them.
inline bool is_number_part(std::string_view part) {
  if (part.empty() || part.size() > 18 || (part.size() > 1 && part[0] == '0')) return false;
  return std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// `{0..21}`, `{0..3,5,7..9}`: the numbers of `values` as ranges of consecutive ones; a single
/// number as it is.
inline std::string ranges_text(const std::set<std::uint64_t>& values) {
  if (values.size() == 1) return std::to_string(*values.begin());
  std::string out = "{";
  for (auto it = values.begin(); it != values.end();) {
    const std::uint64_t first = *it;
    std::uint64_t last = first;
    for (++it; it != values.end() && *it == last + 1; ++it) last = *it;
    if (out.size() > 1) out += ",";
    out += std::to_string(first);
    if (last != first) out += (last == first + 1 ? "," : "..") + std::to_string(last);
  }
  return out + "}";
}

}  // namespace detail

/// The --summary groups of `rows` (in name order), in the order of their first tensor by name:
/// tensors whose names have the same parts but the numbered ones, and the same dtype and shape,
/// are one group, named with each numbered part replaced by the numbers it takes. A group of one
/// keeps the tensor's name.
inline std::vector<tensor_group> group_tensors(std::vector<tensor_row> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const tensor_row& a, const tensor_row& b) { return a.name < b.name; });
  // A name's parts, a numbered one as {true, ""}.
  using parts_type = std::vector<std::pair<bool, std::string>>;
  struct building {
    parts_type parts;
    std::vector<std::set<std::uint64_t>> numbers;  // each numbered part's numbers
    std::string first_name;
    tensor_group group;
  };
  using key = std::tuple<parts_type, safetensors::dtype, std::vector<std::uint64_t>>;
  std::map<key, std::size_t> index;
  std::vector<building> groups;
  for (const tensor_row& r : rows) {
    parts_type parts;
    std::vector<std::uint64_t> numbers;
    for (std::size_t at = 0;;) {
      const std::size_t dot = r.name.find('.', at);
      const std::string part = r.name.substr(at, dot == std::string::npos ? dot : dot - at);
      if (detail::is_number_part(part)) {
        numbers.push_back(std::stoull(part));
        parts.emplace_back(true, std::string());
      } else {
        parts.emplace_back(false, part);
      }
      if (dot == std::string::npos) break;
      at = dot + 1;
    }
    const key k{parts, r.dtype, r.shape};
    auto it = index.find(k);
    if (it == index.end()) {
      it = index.emplace(k, groups.size()).first;
      building b;
      b.parts = std::move(parts);
      b.numbers.resize(numbers.size());
      b.first_name = r.name;
      b.group.dtype = r.dtype;
      b.group.shape = r.shape;
      groups.push_back(std::move(b));
    }
    building& b = groups[it->second];
    for (std::size_t i = 0; i < numbers.size(); ++i) b.numbers[i].insert(numbers[i]);
    ++b.group.count;
    b.group.params += r.elements;
    b.group.bytes += r.bytes;
  }
  std::vector<tensor_group> out;
  for (building& b : groups) {
    if (b.group.count == 1) {
      b.group.name = b.first_name;
    } else {
      std::size_t n = 0;
      for (std::size_t i = 0; i < b.parts.size(); ++i) {
        if (i != 0) b.group.name += '.';
        b.group.name += b.parts[i].first ? detail::ranges_text(b.numbers[n++]) : b.parts[i].second;
      }
    }
    out.push_back(std::move(b.group));
  }
  return out;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_INSPECT_HPP
