// Hostile inputs at the limits (docs/format.md#reader-rules): a 100,000,000-byte header, a million
// tiny tensors, a million-key metadata map, 1 MB names, rank-10,000 shapes, offsets near 2^64, deep
// nesting. Each must parse or fail with the typed error the rules name, with a short message, and
// the parse's peak heap use must stay within a small multiple of the header size.
//
// A separate executable (safetensors_hostile), because it replaces the global operator
// new/delete with a counting allocator, and because it is slow under sanitizers and valgrind:
// .ci/steps/50-hardening.sh builds it without sanitizers and runs it once.
//
// The bound (checked for every case): peak bytes allocated during parse() <= 8 x N + 1 MiB,
// where N is the header length. The input buffer itself is allocated before the measurement.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

// ---- counting allocator ---------------------------------------------------------------------
namespace {
std::atomic<std::size_t> hs_current{0};
std::atomic<std::size_t> hs_peak{0};

// Each block carries its size in a 16-byte prefix (keeps max_align_t alignment).
constexpr std::size_t hs_prefix = 16;

void* hs_alloc(std::size_t n) {
  void* p = std::malloc(n + hs_prefix);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  const std::size_t now = hs_current.fetch_add(n) + n;
  std::size_t peak = hs_peak.load();
  while (now > peak && !hs_peak.compare_exchange_weak(peak, now)) {
  }
  return static_cast<char*>(p) + hs_prefix;
}

void hs_free(void* p) noexcept {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - hs_prefix;
  hs_current.fetch_sub(*reinterpret_cast<std::size_t*>(base));
  std::free(base);
}
}  // namespace

void* operator new(std::size_t n) { return hs_alloc(n); }
void* operator new[](std::size_t n) { return hs_alloc(n); }
void operator delete(void* p) noexcept { hs_free(p); }
void operator delete[](void* p) noexcept { hs_free(p); }
void operator delete(void* p, std::size_t) noexcept { hs_free(p); }
void operator delete[](void* p, std::size_t) noexcept { hs_free(p); }
// The nothrow forms too (std::inplace_merge's temporary buffer uses them): every allocation is
// counted, and g++ sees matching pairs (-Wmismatched-new-delete).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return hs_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { hs_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { hs_free(p); }

namespace {
namespace st = safetensors;
using hs_bytes = std::vector<std::uint8_t>;

constexpr std::size_t hs_mib = std::size_t{1} << 20;

hs_bytes hs_file(const std::string& header, std::size_t data_size = 0) {
  hs_bytes out(8 + header.size() + data_size, 0);
  const std::uint64_t n = header.size();
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(n >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  return out;
}

struct hs_outcome {
  bool ok = false;
  st::errc code{};
  std::size_t message_size = 0;
  std::size_t peak = 0;  // bytes allocated at the peak, above what was live before parse()
  double seconds = 0;
};

hs_outcome hs_parse(const hs_bytes& file, const char* label, const st::parse_options& opts = {},
                    std::size_t multiple = 8) {
  hs_outcome o;
  const std::size_t before = hs_current.load();
  hs_peak.store(before);
  const auto t0 = std::chrono::steady_clock::now();
  {
    const auto r = st::parse(st::as_bytes(file), opts);
    o.ok = r.has_value();
    if (!r) {
      o.code = r.error().code();
      o.message_size = r.error().message().size();
    }
  }
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.peak = hs_peak.load() - before;
  const std::uint64_t n = file.size() >= 8 ? [&] {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | file[static_cast<std::size_t>(i)];
    return v;
  }() : 0;
  std::printf("%-58s N=%10llu peak=%11zu bytes (%.2f x N) %s %.2fs\n", label,
              static_cast<unsigned long long>(n), o.peak,
              n ? static_cast<double>(o.peak) / static_cast<double>(n) : 0.0,
              o.ok ? "ok" : std::string(st::error_name(o.code)).c_str(), o.seconds);
  CHECK(hs_current.load() == before);  // nothing leaked
  // The stated bound: 8 x N + 1 MiB (N capped at the input, for lengths beyond it).
  const std::size_t header_bytes = std::min<std::size_t>(static_cast<std::size_t>(n), file.size());
  CHECK(o.peak <= multiple * header_bytes + hs_mib);
  // Messages stay short whatever the input.
  CHECK(o.message_size < 2000);
  return o;
}

std::string hs_entry(const std::string& name, const std::string& dtype, const std::string& shape,
                     std::uint64_t begin, std::uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

TEST_CASE("hostile: a 100,000,000-byte header (the limit) parses; one byte more is refused") {
  std::string header = "{" + hs_entry("t", "U8", "[1]", 0, 1) + "}";
  header.resize(100000000, ' ');
  hs_bytes file = hs_file(header, 1);
  const auto padded = hs_parse(file, "1e8-byte header, space padding");
  CHECK(padded.ok);

  // The same length filled by one metadata value.
  std::string md = "{\"__metadata__\":{\"k\":\"";
  const std::string tail = "\"}}";
  md.resize(100000000 - tail.size(), 'x');
  md += tail;
  file = hs_file(md);
  const auto value = hs_parse(file, "1e8-byte header, one metadata value");
  CHECK(value.ok);

  // N = 1e8 + 1, with all the bytes present: HeaderTooLarge before anything is allocated.
  header.push_back(' ');
  file = hs_file(header, 1);
  const auto over = hs_parse(file, "1e8+1-byte header");
  CHECK_FALSE(over.ok);
  CHECK(over.code == st::errc::header_too_large);
  CHECK(over.peak < hs_mib);
}

TEST_CASE("hostile: one million tiny tensors") {
  std::string header = "{";
  for (std::size_t i = 0; i < 1000000; ++i) {
    if (i) header += ',';
    header += hs_entry("t" + std::to_string(i), "U8", "[1]", i, i + 1);
  }
  header += "}";
  const auto ok = hs_parse(hs_file(header, 1000000), "1e6 one-byte tensors");
  CHECK(ok.ok);

  // The same tensors all at [0, 1]: InvalidOffset (the reference's abuse script 2).
  std::string overlap = "{";
  for (std::size_t i = 0; i < 1000000; ++i) {
    if (i) overlap += ',';
    overlap += hs_entry("t" + std::to_string(i), "U8", "[1]", 0, 1);
  }
  overlap += "}";
  const auto bad = hs_parse(hs_file(overlap, 1), "1e6 tensors all at [0,1]");
  CHECK(bad.code == st::errc::invalid_offset);

  // A million zero-sized tensors sharing offset 0 are legal.
  std::string zeros = "{";
  for (std::size_t i = 0; i < 1000000; ++i) {
    if (i) zeros += ',';
    zeros += hs_entry("z" + std::to_string(i), "F32", "[0]", 0, 0);
  }
  zeros += "}";
  CHECK(hs_parse(hs_file(zeros), "1e6 zero-sized tensors at [0,0]").ok);
}

TEST_CASE("hostile: a million-key metadata map") {
  std::string header = "{\"__metadata__\":{";
  for (std::size_t i = 0; i < 1000000; ++i) {
    if (i) header += ',';
    header += "\"key" + std::to_string(i) + "\":\"v\"";
  }
  header += "}}";
  const auto ok = hs_parse(hs_file(header), "1e6-key metadata");
  CHECK(ok.ok);
  // The same with the last key repeated: DuplicateKey.
  header.insert(header.size() - 2, ",\"key999999\":\"w\"");
  const auto dup = hs_parse(hs_file(header), "1e6-key metadata, last key twice");
  CHECK(dup.code == st::errc::duplicate_key);
}

TEST_CASE("hostile: 1 MB names") {
  const std::string name(1 << 20, 'n');
  std::string header = "{" + hs_entry(name, "U8", "[2]", 0, 2) + "}";
  CHECK(hs_parse(hs_file(header, 2), "one tensor with a 1 MiB name").ok);
  // Two tensors with the same 1 MB name: DuplicateKey, and the message is short.
  header = "{" + hs_entry(name, "U8", "[2]", 0, 2) + "," + hs_entry(name, "U8", "[2]", 0, 2) + "}";
  CHECK(hs_parse(hs_file(header, 2), "two tensors with one 1 MiB name").code ==
        st::errc::duplicate_key);
  // Many 1 MB names that differ only in the last byte.
  header = "{";
  for (int i = 0; i < 32; ++i) {
    if (i) header += ',';
    std::string n = name;
    n.back() = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i];
    header +=
        hs_entry(n, "U8", "[1]", static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i) + 1);
  }
  header += "}";
  CHECK(hs_parse(hs_file(header, 32), "32 tensors with 1 MiB names").ok);
  // A 1 MB name in a TensorInvalidInfo error: the message stays short (checked in hs_parse).
  header = "{" + hs_entry(name, "U8", "[3]", 0, 2) + "}";
  CHECK(hs_parse(hs_file(header, 2), "1 MiB name, wrong size").code ==
        st::errc::tensor_invalid_info);
}

// A syntax error after a 1 MB (or 100 MB) string: the message shows 16 bytes from the error on,
// not the string, and the reader holds one copy of the string it decodes (measured 1.50 x N).
TEST_CASE("hostile: a JSON syntax error inside a 1 MB name gives a short message") {
  const std::string name(1 << 20, 'n');
  const std::string header = "{\"" + name + "\\q\":{}}";  // an invalid escape at the end
  const auto o = hs_parse(hs_file(header), "1 MiB name with a bad escape", {}, 2);
  CHECK(o.code == st::errc::invalid_header_deserialization);
}

TEST_CASE("hostile: shapes of rank 10,000") {
  std::string ones = "[";
  for (int i = 0; i < 10000; ++i) ones += i ? ",1" : "1";
  ones += "]";
  CHECK(
      hs_parse(hs_file("{" + hs_entry("r", "F32", ones, 0, 4) + "}", 4), "rank 10,000 of ones").ok);
  std::string big = "[";
  for (int i = 0; i < 10000; ++i) big += i ? ",4294967296" : "4294967296";
  big += "]";
  CHECK(hs_parse(hs_file("{" + hs_entry("r", "F32", big, 0, 4) + "}", 4),
                 "rank 10,000 of 2^32 (overflow)")
            .code == st::errc::validation_overflow);
  std::string zero = big;
  zero.replace(zero.size() - 11, 10, "0");  // the last dimension 0: overflow comes first
  CHECK(hs_parse(hs_file("{" + hs_entry("r", "F32", zero, 0, 0) + "}"),
                 "rank 10,000, overflow before a zero dimension")
            .code == st::errc::validation_overflow);
  std::string million = "[";
  for (int i = 0; i < 1000000; ++i) million += i ? ",1" : "1";
  million += "]";
  CHECK(
      hs_parse(hs_file("{" + hs_entry("r", "U8", million, 0, 1) + "}", 1), "rank 1,000,000 of ones")
          .ok);
}

TEST_CASE("hostile: offsets near 2^64") {
  const std::uint64_t max = ~std::uint64_t{0};
  const std::uint64_t half = std::uint64_t{1} << 63;
  // Sizes consistent with the shapes (at most 2^61 bytes each), data missing: eight tensors end
  // at 2^64 - 8, so 8 + N + end wraps: MetadataIncompleteBuffer, not a wrapped comparison.
  const std::uint64_t big = (std::uint64_t{1} << 61) - 1;
  std::string h = "{";
  for (std::uint64_t i = 0; i < 8; ++i) {
    if (i) h += ',';
    h += hs_entry("p" + std::to_string(i), "U8", "[" + std::to_string(big) + "]", i * big,
                  (i + 1) * big);
  }
  h += "}";
  CHECK(hs_parse(hs_file(h, 16), "eight tensors ending at 2^64-8").code ==
        st::errc::metadata_incomplete_buffer);
  h = "{" + hs_entry("a", "U8", "[" + std::to_string(half) + "]", 0, half) + "}";
  CHECK(hs_parse(hs_file(h, 16), "U8[2^63]: bit count overflow").code ==
        st::errc::validation_overflow);
  h = "{" + hs_entry("a", "U8", "[1]", max, max) + "}";
  CHECK(hs_parse(hs_file(h), "[2^64-1, 2^64-1]").code == st::errc::invalid_offset);
  h = "{" + hs_entry("a", "U64", "[" + std::to_string(max / 8 + 1) + "]", 0, max) + "}";
  CHECK(hs_parse(hs_file(h), "U64 bit count overflow").code == st::errc::validation_overflow);
  h = "{" + hs_entry("a", "U8", "[1]", 0, max) + "}";
  CHECK(hs_parse(hs_file(h), "[0, 2^64-1] for one byte").code == st::errc::tensor_invalid_info);
  h = "{" + hs_entry("a", "U8", "[1]", 0, 1) + "}";
  hs_bytes file = hs_file(h, 1);
  for (std::uint64_t n : {max, max - 7, max - 8, half}) {
    for (std::size_t i = 0; i < 8; ++i) file[i] = static_cast<std::uint8_t>(n >> (8 * i));
    st::parse_options unlimited;
    unlimited.max_header_size = max;
    const auto o = hs_parse(file, "length prefix near 2^64, no header limit", unlimited);
    CHECK(o.code == st::errc::invalid_header_length);
  }
}

TEST_CASE("hostile: deep nesting in an ignored field") {
  for (std::size_t levels : {std::size_t{125}, std::size_t{126}, std::size_t{1000000}}) {
    std::string h = "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" +
                    std::string(levels, '[') + std::string(levels, ']') + "}}";
    const auto o = hs_parse(hs_file(h, 1), "nested arrays in an extra field");
    CHECK(o.ok == (levels <= 125));  // the field's value is level 3: 125 brackets reach 127
    if (!o.ok) CHECK(o.code == st::errc::invalid_header_deserialization);
  }
}

}  // namespace
