// Numbers a person reads (docs/cli.md#inspect): sizes in decimal units ("1.07 GB"), counts of
// parameters ("1.10 B"), and the display width of UTF-8 text, which aligns table columns.
#ifndef SAFETENSORS_CLI_HUMAN_HPP
#define SAFETENSORS_CLI_HUMAN_HPP

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace safetensors_cli {

namespace detail {

/// `n` scaled by powers of 1000 with three significant digits and the unit of its scale:
/// units[0] below 1000 (exact), then units[1], units[2]...
inline std::string scaled(std::uint64_t n, const char* const* units, std::size_t count) {
  if (n < 1000) return std::to_string(n) + units[0];
  double v = static_cast<double>(n);
  std::size_t k = 0;
  while (k + 1 < count && v >= 999.5) {  // 999,600 is "1.00 MB", not "1000 KB"
    v /= 1000;
    ++k;
  }
  char buf[32];
  const char* format = v >= 99.95 ? "%.0f%s" : v >= 9.995 ? "%.1f%s" : "%.2f%s";
  std::snprintf(buf, sizeof buf, format, v, units[k]);
  return buf;
}

}  // namespace detail

/// "45 B", "1.07 GB", "507 MB": bytes in decimal units (KB = 1000 bytes, as the size
/// arguments read them), three significant digits.
inline std::string human_size(std::uint64_t bytes) {
  static const char* const units[] = {" B", " KB", " MB", " GB", " TB", " PB", " EB"};
  return detail::scaled(bytes, units, 7);
}

/// "1.10 B", "22.0 M", "950": a count in thousands (K), millions (M), billions (B) or trillions
/// (T), three significant digits.
inline std::string human_count(std::uint64_t n) {
  static const char* const units[] = {"", " K", " M", " B", " T", " P", " E"};
  return detail::scaled(n, units, 7);
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_HUMAN_HPP
