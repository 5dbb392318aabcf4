// Numbers a person reads (docs/cli.md#inspect): sizes in decimal units ("1.07 GB"), counts of
// parameters ("1.10 B"), and the display width of UTF-8 text, which aligns table columns.
#ifndef SAFETENSORS_CLI_HUMAN_HPP
#define SAFETENSORS_CLI_HUMAN_HPP

#include <cstddef>
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

/// The columns `s` takes on a terminal: UTF-8 characters count 1, East Asian wide and
/// fullwidth characters (CJK, Hangul, fullwidth forms, most emoji) 2, combining marks and
/// zero-width characters 0; a byte that starts no valid character counts 1.
inline std::size_t display_width(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (std::size_t k = 1; k < n; ++k) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        n = 0;
        break;
      }
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    }
    if (n == 0) {  // not a valid character: one column for the byte
      ++width;
      ++i;
      continue;
    }
    i += n;
    const auto in = [cp](std::uint32_t lo, std::uint32_t hi) { return lo <= cp && cp <= hi; };
    if (in(0x0300, 0x036F) || in(0x1AB0, 0x1AFF) || in(0x1DC0, 0x1DFF) || in(0x20D0, 0x20FF) ||
        in(0xFE20, 0xFE2F) || in(0x200B, 0x200F) || cp == 0xFEFF) {
      continue;  // combining or zero-width
    }
    const bool wide = in(0x1100, 0x115F) || in(0x2E80, 0x303E) || in(0x3041, 0x33FF) ||
                      in(0x3400, 0x4DBF) || in(0x4E00, 0x9FFF) || in(0xA000, 0xA4CF) ||
                      in(0xAC00, 0xD7A3) || in(0xF900, 0xFAFF) || in(0xFE30, 0xFE4F) ||
                      in(0xFF00, 0xFF60) || in(0xFFE0, 0xFFE6) || in(0x1F300, 0x1F64F) ||
                      in(0x1F900, 0x1F9FF) || in(0x20000, 0x3FFFD);
    width += wide ? 2 : 1;
  }
  return width;
}

/// `s` cut to at most `max` columns (display_width) and followed by "... (N bytes)" when it is
/// longer than that; a character is never cut in two.
inline std::string shortened(const std::string& s, std::size_t max) {
  if (display_width(s) <= max) return s;
  std::size_t end = 0;
  std::size_t width = 0;
  while (end < s.size()) {
    std::size_t next = end + 1;
    while (next < s.size() && (static_cast<unsigned char>(s[next]) & 0xC0) == 0x80) ++next;
    const std::size_t w = display_width(std::string_view(s).substr(end, next - end));
    if (width + w > max) break;
    width += w;
    end = next;
  }
  return s.substr(0, end) + "... (" + std::to_string(s.size()) + " bytes)";
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_HUMAN_HPP
