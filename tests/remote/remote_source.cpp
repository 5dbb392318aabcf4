// http_source against a local range_server: what opening and reading cost in requests and bytes
// (counted by the server), slices, the parallel loader, connection reuse (docs/remote.md#costs).
#include <doctest/doctest.h>

#include <filesystem>

#include "remote_model.hpp"

namespace st = safetensors;
using range = std::pair<std::uint64_t, std::uint64_t>;

TEST_CASE("remote: opening a reader fetches only the first 8 + N bytes, in two requests") {
  st_test::served_model m;
  m.server().reset();
  auto src = st::http_source::open(m.file_url(), st_test::local_http());
  REQUIRE(src);
  const st::http_source* http = src->get();
  CHECK(http->byte_size() == std::filesystem::file_size(m.dir().file("model.safetensors")));
  CHECK_FALSE(http->etag().empty());
  auto reader = st::source_reader::open(std::move(*src));
  REQUIRE(reader);
  CHECK(reader->size() == 4);
  const std::uint64_t n = reader->header().header_size();
  const st_test::server_stats s = m.server().stats();
  CHECK(s.requests == 2);
  CHECK(s.bytes == 8 + n);
  CHECK(s.ranges == std::vector<range>{{0, 7}, {8, 8 + n - 1}});
  CHECK(s.connections == 1);  // the second request reused the first one's connection
  CHECK(http->stats().requests == 2);
  CHECK(http->stats().bytes == 8 + n);
  CHECK(http->stats().retries == 0);
  CHECK(http->stats().connections == 1);
  MESSAGE("open: " << s.requests << " requests, " << s.bytes << " bytes (N = " << n << ")");
}

TEST_CASE("remote: with first_bytes above 8 + N, opening a reader is one request") {
  st_test::served_model m;
  m.server().reset();
  st::http_options o = st_test::local_http();
  o.first_bytes = 4096;
  auto reader = st_test::open_remote(m.file_url(), o);
  REQUIRE(reader);
  REQUIRE(reader->header().data_offset() <= 4096);
  const st_test::server_stats s = m.server().stats();
  CHECK(s.requests == 1);
  CHECK(s.bytes == 4096);
  CHECK(s.ranges == std::vector<range>{{0, 4095}});
}

TEST_CASE("remote: a file shorter than first_bytes, and an empty one") {
  st_test::served_model m;
  const auto tiny = m.dir().file("tiny.bin");
  st_test::write_file(tiny, {0x61, 0x62, 0x63});
  auto s = st::http_source::open(m.server().url("files", "tiny.bin"), st_test::local_http());
  REQUIRE(s);
  CHECK((*s)->byte_size() == 3);
  char buf[3] = {};
  REQUIRE((*s)->read_at(1, buf, 2));
  CHECK(std::string(buf, 2) == "bc");
  CHECK((*s)->read_at(2, buf, 2).error() == st::errc::io_error);  // past the end: no request
  CHECK((*s)->stats().requests == 1);

  st_test::write_file(m.dir().file("empty.bin"), {});
  auto e = st::http_source::open(m.server().url("files", "empty.bin"), st_test::local_http());
  REQUIRE(e);
  CHECK((*e)->byte_size() == 0);
  auto r = st::source_reader::open(std::move(*e));
  REQUIRE_FALSE(r);
  CHECK(r.error() == st::errc::header_too_small);
}

TEST_CASE("remote: reading one tensor fetches only its range") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url());
  REQUIRE(reader);
  for (const char* name : {"a", "b", "c", "d"}) {
    CAPTURE(name);
    const auto info = reader->at(name).value();
    m.server().reset();
    auto bytes = reader->read(info);
    REQUIRE(bytes);
    CHECK(*bytes == m.bytes_of(name));
    const st_test::server_stats s = m.server().stats();
    const std::uint64_t first = reader->header().data_offset() + info.offsets().begin;
    CHECK(s.requests == 1);
    CHECK(s.bytes == info.byte_size());
    CHECK(s.ranges == std::vector<range>{{first, first + info.byte_size() - 1}});
    CHECK(s.connections == 0);  // the reader's connection, reused
    if (std::string(name) == "c") {
      MESSAGE("read tensor c: " << s.requests << " request, " << s.bytes
                                << " bytes (its size: " << info.byte_size() << ")");
    }
  }
}

TEST_CASE("remote: a slice fetches one range per contiguous run") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url());
  REQUIRE(reader);
  const auto info = reader->at("a").value();  // F32[64, 64]
  const auto whole = m.bytes_of("a");
  SUBCASE("rows [16, 32): one run") {
    std::vector<std::byte> part(16 * 64 * 4);
    m.server().reset();
    REQUIRE(reader->read_slice_into(info, {{16, 32}, {0, 64}}, part));
    CHECK(std::equal(part.begin(), part.end(), whole.begin() + 16 * 64 * 4));
    const st_test::server_stats s = m.server().stats();
    CHECK(s.requests == 1);
    CHECK(s.bytes == part.size());
  }
  SUBCASE("columns [48, 64): one run per row") {
    std::vector<std::byte> part(64 * 16 * 4);
    m.server().reset();
    REQUIRE(reader->read_slice_into(info, {{0, 64}, {48, 64}}, part));
    for (std::size_t row = 0; row < 64; ++row) {
      CHECK(std::equal(part.begin() + static_cast<std::ptrdiff_t>(row * 64),
                       part.begin() + static_cast<std::ptrdiff_t>(row * 64 + 64),
                       whole.begin() + static_cast<std::ptrdiff_t>(row * 256 + 192)));
    }
    const st_test::server_stats s = m.server().stats();
    CHECK(s.requests == 64);
    CHECK(s.bytes == part.size());
  }
}

TEST_CASE("remote: the parallel loader fetches concurrent ranges over reused connections") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url());
  REQUIRE(reader);
  std::vector<std::vector<std::byte>> out;
  std::vector<st::load_request> requests;
  std::uint64_t total = 0;
  for (const char* name : {"a", "b", "c", "d"}) {
    const auto info = reader->at(name).value();
    out.emplace_back(static_cast<std::size_t>(info.byte_size()));
    total += info.byte_size();
    st::load_request r;
    r.name = name;
    r.dst = st::span<std::byte>(out.back());
    requests.push_back(std::move(r));
  }
  st::load_options o;
  o.threads = 4;
  o.chunk_bytes = 8192;
  m.server().reset();
  auto report = st::load(*reader, requests, o);
  REQUIRE(report);
  const st_test::server_stats s = m.server().stats();
  CHECK(out[0] == m.bytes_of("a"));
  CHECK(out[1] == m.bytes_of("b"));
  CHECK(out[2] == m.bytes_of("c"));
  CHECK(out[3] == m.bytes_of("d"));
  CHECK(report->bytes_read == total);
  CHECK(s.requests == report->chunks);
  CHECK(s.bytes == total);
  CHECK(s.connections <= 4);  // at most one per thread; the reader's own is reused
  CHECK(s.connections < s.requests);
  MESSAGE("load: " << report->chunks << " chunks, " << s.requests << " requests, " << s.connections
                   << " new connections, " << s.bytes << " bytes");
}

TEST_CASE("remote: describe() hides user information and the query") {
  CHECK(st::detail::http_shown_url("https://user:secret@host.example/a/b.safetensors?sig=x#f") ==
        "https://host.example/a/b.safetensors?...");
  CHECK(st::detail::http_shown_url("http://127.0.0.1:80/x") == "http://127.0.0.1:80/x");
  CHECK(st::http_sibling_url("https://h/a/b/model.safetensors.index.json?download=1",
                             "model 1+2.safetensors") == "https://h/a/b/model%201%2B2.safetensors");
  CHECK(st::http_sibling_url("https://h", "m.safetensors") == "https://h/m.safetensors");
}
