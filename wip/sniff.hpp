// PROPOSAL (issue 5, helper "hardening"): say what a non-safetensors input probably is.
//
// The most common real-world failure is not a malicious file but the wrong file: a git-lfs
// pointer checked out without `git lfs pull`, an HTML error or login page saved under the model's
// name, a PyTorch .bin/.pt (a zip or a raw pickle), an index .json, or a download cut short.
// Their first 8 bytes read as an absurd header length, so today the user gets
// "HeaderTooLarge: the header length is 2334956330867777 bytes ...". With this, the message ends
// with e.g. "; this looks like a git-lfs pointer file (the real file is 4932 bytes): run
// `git lfs pull`, or download the file itself".
//
// Standalone: needs only the standard library; compiles before or after safetensors.hpp.
// Where it goes: section 5 (detail), next to check_length. Call sites, ready to paste, are at
// the end of this file.
#ifndef SAFETENSORS_WIP_SNIFF_HPP
#define SAFETENSORS_WIP_SNIFF_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace safetensors {
inline namespace v0 {
namespace detail {

/// How many leading bytes describe_first_bytes looks at (callers pass at most this many).
inline constexpr std::size_t sniff_size = 512;

/// What an input that failed rules 1 to 3 of DESIGN §3 probably is, from its first bytes
/// `p[0, n)` (n <= sniff_size is enough) and its total size. Returns "" when nothing is
/// recognized, else text that starts with "; " to append to the error message.
inline std::string describe_first_bytes(const unsigned char* p, std::size_t n,
                                        std::uint64_t total_size) {
  if (total_size == 0) return "; the file is empty (an interrupted download or copy?)";
  if (p == nullptr) return {};
  const std::string_view s(reinterpret_cast<const char*>(p), n);
  auto starts = [&s](std::string_view magic) { return s.substr(0, magic.size()) == magic; };
  // Skip a UTF-8 byte order mark and leading whitespace for the text formats.
  std::string_view text = s;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty() && (text[0] == ' ' || text[0] == '\t' || text[0] == '\r' ||
                           text[0] == '\n')) {
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
    if (k < n && p[k] == '{' && len <= 100000000 && len > total_size - 8) {
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
  if (starts("\xfd" "7zXZ")) return "; this looks like an xz file: decompress it first";
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

}  // namespace detail
}  // namespace v0
}  // namespace safetensors

// ---- call sites (ready to paste into safetensors.hpp) -------------------------------------------
//
// parse(const void*, size_t, opts), section 6:
//
//   if (size < 8) {
//     return error(errc::header_too_small,
//                  "the input has " + detail::num(size) +
//                      " bytes; a safetensors file starts with an 8-byte header length" +
//                      detail::describe_first_bytes(bytes, size, size));
//   }
//   const std::uint64_t n = detail::read_le64(bytes);
//   if (auto e = detail::check_length(n, size, opts)) {
//     return error(e->code(), e->message() + detail::describe_first_bytes(
//                                                bytes, std::min(size, detail::sniff_size), size));
//   }
//
// source_reader::open, section 6: read up to sniff_size bytes instead of 8 for the prefix:
//
//   if (size < 8) {
//     return fail(error(errc::header_too_small, "the input has " + detail::num(size) +
//                       " bytes; a safetensors file starts with an 8-byte header length" +
//                       (size == 0 ? detail::describe_first_bytes(nullptr, 0, 0) : "")));
//   }
//   unsigned char prefix[detail::sniff_size];
//   const auto got = static_cast<std::size_t>(std::min<std::uint64_t>(size, detail::sniff_size));
//   if (auto r = source->read_at(0, prefix, got); !r) return r.error();
//   const std::uint64_t n = detail::read_le64(prefix);
//   if (auto e = detail::check_length(n, size, opts)) {
//     return fail(error(e->code(), e->message() + detail::describe_first_bytes(prefix, got, size)));
//   }
//
// (mapped files and open_mapped go through parse(); an empty file maps to parse(nullptr, 0),
// which reports HeaderTooSmall "the input has 0 bytes ...; the file is empty (...)".)
//
// Only rules 1 to 3 get a hint: past them the first 8 bytes were a plausible length, and the
// rule's own message (UTF-8, JSON, offsets) is the better description. check_length's
// "; is this a safetensors file?" can stay, or be dropped when a hint is appended.

#endif  // SAFETENSORS_WIP_SNIFF_HPP
