// Test-only safetensors writer.
//
// Deliberately simple and deliberately independent of <safetensors/safetensors.hpp>: tests build
// their inputs with this file, so a bug in the library cannot confirm itself. It does no
// validation of its own beyond what it needs to stay well defined: tensors are written in the
// GIVEN order (no dtype sort), offsets come from each spec's data size (not from its shape), so
// tests can build inconsistent or hostile files on purpose. Failures here are test bugs: they
// print a message and abort (works with and without exceptions, and with NDEBUG).
#ifndef SAFETENSORS_TEST_SUPPORT_TEST_WRITER_HPP
#define SAFETENSORS_TEST_SUPPORT_TEST_WRITER_HPP

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace st_test {

namespace detail {
inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "st_test: %s\n", what);
    std::fflush(stderr);
    std::abort();
  }
}
}  // namespace detail

// ---- dtypes: own table, reference rank order (docs/format.md#dtypes) ----
struct dtype_entry {
  std::string_view name;
  std::size_t bits;
};

inline constexpr std::array<dtype_entry, 22> dtype_table{{
    {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
    {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
    {"I64", 64},        {"U64", 64},
}};

// The dtype names in rank order.
inline std::vector<std::string> dtype_names() {
  std::vector<std::string> out;
  out.reserve(dtype_table.size());
  for (const auto& e : dtype_table) out.emplace_back(e.name);
  return out;
}

// Bits per element of a known dtype (aborts on an unknown name).
inline std::size_t dtype_bits(std::string_view dtype) {
  for (const auto& e : dtype_table) {
    if (e.name == dtype) return e.bits;
  }
  detail::check(false, "dtype_bits: unknown dtype");
  return 0;
}

// Bytes taken by a tensor of this dtype and shape: elements * bits / 8 (must be whole).
inline std::size_t byte_size(std::string_view dtype, const std::vector<std::uint64_t>& shape) {
  std::uint64_t elements = 1;
  for (std::uint64_t d : shape) {
    detail::check(d == 0 || elements <= std::numeric_limits<std::uint64_t>::max() / d,
                  "byte_size: element count overflows");
    elements *= d;
  }
  const std::uint64_t bits = dtype_bits(dtype);
  detail::check(elements <= std::numeric_limits<std::uint64_t>::max() / bits,
                "byte_size: bit count overflows");
  const std::uint64_t total_bits = elements * bits;
  detail::check(total_bits % 8 == 0, "byte_size: not a whole number of bytes");
  const std::uint64_t bytes = total_bits / 8;
  detail::check(bytes <= std::numeric_limits<std::size_t>::max(), "byte_size: too large");
  return static_cast<std::size_t>(bytes);
}

// ---- building files ----
struct tensor_spec {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> data;
};

using metadata_t = std::optional<std::vector<std::pair<std::string, std::string>>>;

// 8 bytes, little endian, built byte by byte (independent of the host's byte order).
inline std::vector<std::uint8_t> le64(std::uint64_t v) {
  std::vector<std::uint8_t> out(8);
  for (std::size_t i = 0; i < 8; ++i) {
    out[i] = static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu);
  }
  return out;
}

inline std::vector<std::uint8_t> bytes_of(std::string_view s) {
  std::vector<std::uint8_t> out;
  out.reserve(s.size());
  for (char c : s) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

// Compact header JSON: "__metadata__" first when present (pairs in the given order), then the
// tensors in the given order, offsets cumulative from each spec's data size.
inline std::string header_json(const std::vector<tensor_spec>& tensors, const metadata_t& md) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (md) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& kv : *md) m[kv.first] = kv.second;
    j["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (std::uint64_t d : t.shape) shape.push_back(d);
    const std::uint64_t begin = offset;
    offset += static_cast<std::uint64_t>(t.data.size());
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = t.dtype;
    entry["shape"] = std::move(shape);
    entry["data_offsets"] = nlohmann::ordered_json::array({begin, offset});
    j[t.name] = std::move(entry);
  }
  return j.dump();
}

// le64(N) + header + data, no padding.
inline std::vector<std::uint8_t> make_raw(std::string_view header,
                                          const std::vector<std::uint8_t>& data = {}) {
  std::vector<std::uint8_t> out = le64(static_cast<std::uint64_t>(header.size()));
  out.reserve(8 + header.size() + data.size());
  for (char c : header) out.push_back(static_cast<std::uint8_t>(c));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// A complete file: header padded with spaces so that 8 + N is a multiple of align (1 = none),
// then every tensor's data in the given order.
inline std::vector<std::uint8_t> make_file(const std::vector<tensor_spec>& tensors,
                                           const metadata_t& md = std::nullopt,
                                           std::size_t align = 8) {
  detail::check(align > 0, "make_file: align must be positive");
  std::string header = header_json(tensors, md);
  const std::size_t rem = (8 + header.size()) % align;
  if (rem != 0) header.append(align - rem, ' ');
  std::vector<std::uint8_t> out = make_raw(header);
  for (const auto& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

// ---- filesystem helpers ----
inline void write_file(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  detail::check(static_cast<bool>(f), "write_file: cannot open the file");
  if (!bytes.empty()) {
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }
  f.close();
  detail::check(!f.fail(), "write_file: write failed");
}

inline std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  detail::check(static_cast<bool>(f), "read_file: cannot open the file");
  std::vector<std::uint8_t> out;
  char buf[4096];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    const auto n = static_cast<std::size_t>(f.gcount());
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(buf[i]));
  }
  detail::check(f.eof() && !f.bad(), "read_file: read failed");
  return out;
}

// A fresh, uniquely named directory, removed with everything in it on destruction. Created
// under SAFETENSORS_TEST_TMPDIR when defined (the build tree), else the system temp directory.
class temp_dir {
 public:
  temp_dir() {
#ifdef SAFETENSORS_TEST_TMPDIR
    const std::filesystem::path base{SAFETENSORS_TEST_TMPDIR};
#else
    std::error_code tec;
    const std::filesystem::path base = std::filesystem::temp_directory_path(tec);
    detail::check(!tec, "temp_dir: no temporary directory");
#endif
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    detail::check(!ec, "temp_dir: cannot create the base directory");
    std::random_device rd;
    std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ next_serial());
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::filesystem::path candidate =
          base / ("st_test_" + std::to_string(rng()) + "_" + std::to_string(next_serial()));
      if (std::filesystem::create_directory(candidate, ec)) {
        path_ = candidate;
        return;
      }
      detail::check(!ec, "temp_dir: cannot create a directory");
    }
    detail::check(false, "temp_dir: no unique name found");
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // best effort, never throws
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&&) = delete;
  temp_dir& operator=(temp_dir&&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path file(std::string_view name) const { return path_ / name; }

 private:
  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> serial{0};
    return ++serial;
  }

  std::filesystem::path path_;
};

}  // namespace st_test

#endif  // SAFETENSORS_TEST_SUPPORT_TEST_WRITER_HPP
