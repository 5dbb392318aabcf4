// Memory that a server's claims cost (docs/security.md#remote-files): a size stated by the
// header (a tensor's bytes, the header length) is allocated as the bytes arrive, not before; an
// allocation that fails is OutOfMemory, not an exception. This file replaces operator new for
// the remote tests' executable: it counts the bytes live (their peak, for the claims) and, when
// asked, refuses any allocation above a limit, as an address-space limit would.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <new>

#include "remote_model.hpp"

namespace st = safetensors;

namespace {

std::atomic<std::size_t> live{0};
std::atomic<std::size_t> peak{0};
std::atomic<std::size_t> limit{0};  // 0: none
constexpr std::size_t prefix = alignof(std::max_align_t);

void* counted_alloc(std::size_t n) noexcept {
  const std::size_t most = limit.load();
  if (most != 0 && n > most) return nullptr;
  void* p = std::malloc(n + prefix);
  if (p == nullptr) return nullptr;
  *static_cast<std::size_t*>(p) = n;
  const std::size_t now = live.fetch_add(n) + n;
  std::size_t seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
  return static_cast<char*>(p) + prefix;
}

void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  void* block = static_cast<char*>(p) - prefix;
  live.fetch_sub(*static_cast<std::size_t*>(block));
  std::free(block);
}

void* throwing_alloc(std::size_t n) {
  void* p = counted_alloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return throwing_alloc(n); }
void* operator new[](std::size_t n) { return throwing_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

namespace {

// The most bytes live at once while `f` ran, above those live before it.
template <class F>
std::size_t peak_during(F&& f) {
  const std::size_t before = live.load();
  peak.store(before);
  f();
  return peak.load() - before;
}

// Runs `f` with every allocation above `bytes` refused (also when a REQUIRE leaves `f`).
template <class F>
void with_limit(std::size_t bytes, F&& f) {
  struct restore {
    ~restore() { limit.store(0); }
  } guard;
  limit.store(bytes);
  f();
}

constexpr std::size_t mib = std::size_t{1} << 20;

// A file whose header states one U8 tensor "big" of `claim` bytes, its data a hole of that size
// (a sparse file: nothing written, zeros when read).
std::string write_claim(const st_test::temp_dir& dir, const std::string& name,
                        std::uint64_t claim) {
  std::string json = R"({"big":{"dtype":"U8","shape":[)" + std::to_string(claim) +
                     R"(],"data_offsets":[0,)" + std::to_string(claim) + "]}}";
  json.append((8 - json.size() % 8) % 8, ' ');
  const auto path = dir.file(name);
  {
    std::ofstream out(path, std::ios::binary);
    std::uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << json;
  }
  std::filesystem::resize_file(path, 8 + json.size() + claim);
  return path.filename().string();
}

}  // namespace

TEST_CASE("remote memory: a tensor's claimed size costs nothing before its bytes arrive") {
  st_test::served_model m;
  // 600 MB and 64 GiB claims; the data request is refused (403) once the reader has opened.
  for (const std::uint64_t claim : {std::uint64_t{600'000'000}, std::uint64_t{64} << 30}) {
    CAPTURE(claim);
    const std::string name =
        write_claim(m.dir(), "claim" + std::to_string(claim) + ".safetensors", claim);
    auto reader = st_test::open_remote(m.server().url("forbidden-after-2", name));
    REQUIRE(reader);
    CHECK(reader->header().data_size() == claim);
    std::size_t used = 0;
    with_limit(std::size_t{1} << 30, [&] {  // as under `ulimit -v`: no allocation of 1 GiB
      used = peak_during([&] {
        auto big = reader->read("big");
        REQUIRE_FALSE(big);
        MESSAGE(big.error().to_string());
        CHECK(st::http_failure_of(big.error()) == st::http_failure::forbidden);
      });
    });
    MESSAGE("peak allocated during read(): " << used << " bytes");
    CHECK(used < 8 * mib);  // the first 4 MiB asked for, the message
  }
}

TEST_CASE("remote memory: a header length claimed is not allocated before the header arrives") {
  st_test::served_model m;
  // The length prefix says 99,000,000 bytes of header; the second request (the header) is 403.
  const auto path = m.dir().file("long_header.safetensors");
  {
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t n = 99'000'000;
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  std::filesystem::resize_file(path, 8 + 99'000'000);
  std::size_t used = peak_during([&] {
    auto r = st_test::open_remote(m.server().url("forbidden-after-1", "long_header.safetensors"));
    REQUIRE_FALSE(r);
    CHECK(st::http_failure_of(r.error()) == st::http_failure::forbidden);
  });
  MESSAGE("peak allocated during open: " << used << " bytes");
  CHECK(used < 8 * mib);
}

TEST_CASE("remote memory: an allocation that fails is OutOfMemory, never an exception") {
  st_test::served_model m;
  // A 24 MiB tensor, served in full: only the allocation limit stops it.
  const std::string name = write_claim(m.dir(), "real.safetensors", 24 * mib);
  auto reader = st_test::open_remote(m.server().url("files", name));
  REQUIRE(reader);
  with_limit(12 * mib, [&] {
    auto big = reader->read("big");  // 4 MiB, 8 MiB, then 16 MiB: refused
    REQUIRE_FALSE(big);
    MESSAGE(big.error().to_string());
    CHECK(big.error() == st::errc::out_of_memory);
    CHECK(big.error().name() == "OutOfMemory");
    CHECK(big.error().message().find("tensor 'big'") != std::string::npos);
    CHECK(big.error().message().find(std::to_string(24 * mib)) != std::string::npos);

    auto text = st::http_get(m.server().url("files", name), st_test::local_http());
    REQUIRE_FALSE(text);  // a whole GET of 24 MiB into a growing string
    MESSAGE(text.error().to_string());
    CHECK(text.error() == st::errc::out_of_memory);

    auto ckpt = st::open_http_checkpoint(m.server().url("files", name), st_test::local_http());
    REQUIRE(ckpt);
    auto via_checkpoint = ckpt->read("big");
    REQUIRE_FALSE(via_checkpoint);
    CHECK(via_checkpoint.error() == st::errc::out_of_memory);
  });
  auto fine = reader->read("big");  // without the limit: all of it, in 4 requests
  REQUIRE(fine);
  CHECK(fine->size() == 24 * mib);
}
