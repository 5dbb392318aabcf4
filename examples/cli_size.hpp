// The size arguments of safetensors-cli (split --max-shard-size): "5GB", "500MB", "10GiB",
// "1048576" (docs/cli.md#split).
#ifndef SAFETENSORS_CLI_SIZE_HPP
#define SAFETENSORS_CLI_SIZE_HPP

#include <cstdint>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace safetensors_cli {

/// Parses a size: plain bytes ("1048576", "512B"), decimal units as the Hub uses them ("5GB" =
/// 5,000,000,000; KB, MB, GB, TB), or binary units ("10GiB"; KiB, MiB, GiB, TiB). Units are
/// case-insensitive, a decimal fraction is allowed ("1.5GB"; the result is rounded down),
/// spaces around the number and unit are ignored. InvalidArgument otherwise or on overflow.
inline safetensors::result<std::uint64_t> parse_size(std::string_view text) {
  namespace st = safetensors;
  const std::string shown = st::detail::quote(text);
  auto bad = [&shown](const std::string& why) {
    return st::error(st::errc::invalid_argument,
                     "the size " + shown + " " + why + " (examples: 5GB, 500MB, 10GiB, 1048576)");
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
    if (!st::detail::checked_mul(mantissa, 10, mantissa) ||
        !st::detail::checked_add(mantissa, static_cast<std::uint64_t>(c - '0'), mantissa) ||
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
  if (!st::detail::checked_mul(mantissa, multiplier, scaled)) return bad("is too large");
  std::uint64_t divisor = 1;
  for (std::size_t k = 0; k < fraction; ++k) divisor *= 10;
  return scaled / divisor;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_SIZE_HPP
