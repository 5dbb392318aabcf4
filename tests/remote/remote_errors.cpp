// Every way a server can fail a reader gives a typed error (an IoError whose http_failure names
// the failure, docs/remote.md#errors), within a bounded time, and only transient failures are
// retried.
#include <doctest/doctest.h>

#include "remote_model.hpp"

namespace st = safetensors;

namespace {

// Checks that `e` is an IoError carrying `kind`, and prints it.
void check_failure(const st::error& e, st::http_failure kind) {
  MESSAGE(e.to_string());
  CHECK(e == st::errc::io_error);
  REQUIRE(st::http_failure_of(e).has_value());
  CHECK(st::http_failure_name(*st::http_failure_of(e)) == st::http_failure_name(kind));
}

// Generous bound on a failing call with local_http()'s timeouts and retries: never a hang.
constexpr double bounded_seconds = 15.0;

}  // namespace

TEST_CASE("remote: a server that ignores Range (200 instead of 206) gives RangeIgnored") {
  st_test::served_model m;
  m.server().reset();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = st_test::open_remote(m.file_url("norange"));
  REQUIRE_FALSE(r);
  check_failure(r.error(), st::http_failure::range_ignored);
  CHECK(m.server().stats().requests == 1);  // not retried
  CHECK(st_test::seconds_since(t0) < bounded_seconds);
  SUBCASE("also after the file was opened") {
    auto ok = st_test::open_remote(m.file_url("norange-after-2"));
    REQUIRE(ok);
    auto c = ok->read("c");
    REQUIRE_FALSE(c);
    check_failure(c.error(), st::http_failure::range_ignored);
  }
}

TEST_CASE("remote: a missing file is NotFound, a refused one Forbidden; neither is retried") {
  st_test::served_model m;
  m.server().reset();
  auto missing = st_test::open_remote(m.server().url("files", "absent.safetensors"));
  REQUIRE_FALSE(missing);
  check_failure(missing.error(), st::http_failure::not_found);
  CHECK(missing.error().message().find("HTTP 404") != std::string::npos);
  auto refused = st_test::open_remote(m.file_url("forbidden"));
  REQUIRE_FALSE(refused);
  check_failure(refused.error(), st::http_failure::forbidden);
  CHECK(m.server().stats().requests == 2);
}

TEST_CASE("remote: a truncated body gives ShortBody, after the retries") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url("truncate-after-2"));
  REQUIRE(reader);
  m.server().reset();
  const auto t0 = std::chrono::steady_clock::now();
  auto c = reader->read("c");
  REQUIRE_FALSE(c);
  check_failure(c.error(), st::http_failure::short_body);
  CHECK(c.error().message().find("after 3 attempts") != std::string::npos);
  CHECK(m.server().stats().requests == 3);  // local_http(): 2 retries
  CHECK(st_test::seconds_since(t0) < bounded_seconds);
  SUBCASE("through the parallel loader, with the tensor's name") {
    std::vector<std::byte> dst(100'000);
    st::load_request req;
    req.name = "c";
    req.dst = st::span<std::byte>(dst);
    auto report = st::load(*reader, st::span<const st::load_request>(&req, 1));
    REQUIRE_FALSE(report);
    check_failure(report.error(), st::http_failure::short_body);
    CHECK(report.error().message().find("tensor 'c'") != std::string::npos);
  }
}

TEST_CASE("remote: a consistent but shorter reply gives ShortBody at once") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url("short-after-2"));
  REQUIRE(reader);
  m.server().reset();
  auto c = reader->read("c");
  REQUIRE_FALSE(c);
  check_failure(c.error(), st::http_failure::short_body);
  CHECK(m.server().stats().requests == 1);
}

TEST_CASE("remote: a file that changes between requests gives Changed") {
  st_test::served_model m;
  SUBCASE("another ETag") {
    auto r = st_test::open_remote(m.file_url("changing"));
    REQUIRE_FALSE(r);  // the header's request already sees the new ETag
    check_failure(r.error(), st::http_failure::changed);
    CHECK(r.error().message().find("ETag") != std::string::npos);
  }
  SUBCASE("another size") {
    auto r = st_test::open_remote(m.file_url("growing"));
    REQUIRE_FALSE(r);
    check_failure(r.error(), st::http_failure::changed);
    CHECK(r.error().message().find("bytes when opened") != std::string::npos);
  }
  SUBCASE("after the reader opened") {
    auto r = st_test::open_remote(m.file_url("changing-after-2"));
    REQUIRE(r);
    auto c = r->read("c");
    REQUIRE_FALSE(c);
    check_failure(c.error(), st::http_failure::changed);
  }
}

TEST_CASE("remote: 503 is retried with backoff; BadResponse once the retries run out") {
  st_test::served_model m;
  m.server().reset();
  auto s = st::http_source::open(m.file_url("flaky"), st_test::local_http());  // 503, 503, 206
  REQUIRE(s);
  CHECK((*s)->stats().requests == 3);
  CHECK((*s)->stats().retries == 2);
  st::http_options once = st_test::local_http();
  once.retries = 1;
  auto f =
      st::http_source::open(m.server().url("flaky", "ckpt/model.safetensors.index.json"), once);
  REQUIRE_FALSE(f);
  check_failure(f.error(), st::http_failure::bad_response);
  CHECK(f.error().message().find("HTTP 503") != std::string::npos);
  CHECK(f.error().message().find("after 2 attempts") != std::string::npos);
}

TEST_CASE("remote: a server that stalls midway gives Timeout, in bounded time") {
  st_test::served_model m;
  st::http_options o = st_test::local_http();
  o.request_timeout = std::chrono::milliseconds(500);
  o.retries = 1;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = st_test::open_remote(m.file_url("stall"), o);  // the header's request stalls
  REQUIRE_FALSE(r);
  check_failure(r.error(), st::http_failure::timeout);
  CHECK(st_test::seconds_since(t0) < 5.0);
  SUBCASE("the stall timeout alone, with no limit on the whole request") {
    o.request_timeout = std::chrono::milliseconds(0);
    o.retries = 0;
    const auto t1 = std::chrono::steady_clock::now();
    auto s =
        st_test::open_remote(m.server().url("stall", "ckpt/model-00001-of-00003.safetensors"), o);
    REQUIRE_FALSE(s);
    check_failure(s.error(), st::http_failure::timeout);
    CHECK(st_test::seconds_since(t1) < 5.0);  // stall_timeout: 1 s
  }
}

TEST_CASE("remote: a server that stops midway gives Connection, in bounded time") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url());
  REQUIRE(reader);
  REQUIRE(reader->read("b"));
  m.server().stop();
  const auto t0 = std::chrono::steady_clock::now();
  auto c = reader->read("c");
  REQUIRE_FALSE(c);
  check_failure(c.error(), st::http_failure::connection);
  CHECK(st_test::seconds_since(t0) < bounded_seconds);
}

TEST_CASE("remote: URLs of other schemes are InvalidArgument, with no request") {
  auto r = st::http_source::open("ftp://127.0.0.1/model.safetensors");
  REQUIRE_FALSE(r);
  CHECK(r.error() == st::errc::invalid_argument);
  auto g = st::http_get("/etc/passwd");
  REQUIRE_FALSE(g);
  CHECK(g.error() == st::errc::invalid_argument);
  CHECK_FALSE(st::http_failure_of(st::error(st::errc::io_error, "tensor 'x': disk on fire")));
}

TEST_CASE("remote: 200 instead of 206 fails at once, with one request, wherever it happens") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url("norange-after-2"));
  REQUIRE(reader);
  m.server().reset();
  auto c = reader->read("c");
  REQUIRE_FALSE(c);
  check_failure(c.error(), st::http_failure::range_ignored);
  CHECK(m.server().stats().requests == 1);
  m.server().reset();
  std::vector<std::byte> dst(100'000);
  st::load_request req;
  req.name = "c";
  req.dst = st::span<std::byte>(dst);
  auto report = st::load(*reader, st::span<const st::load_request>(&req, 1));
  REQUIRE_FALSE(report);
  check_failure(report.error(), st::http_failure::range_ignored);
  CHECK(m.server().stats().requests == 1);
  // A checkpoint whose shards ignore ranges: the index (a whole GET, 200 is right for it), then
  // the shard's opening request.
  m.server().reset();
  auto ckpt = st::open_http_checkpoint(m.index_url("norange"), st_test::local_http());
  REQUIRE(ckpt);
  auto shard_c = ckpt->read("c");
  REQUIRE_FALSE(shard_c);
  check_failure(shard_c.error(), st::http_failure::range_ignored);
  CHECK(m.server().stats().requests == 2);
}

TEST_CASE("remote: a 206 for another range, consistent in itself, is BadResponse at once") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url("shifted-after-2"));
  REQUIRE(reader);
  m.server().reset();
  auto c = reader->read("c");
  REQUIRE_FALSE(c);
  check_failure(c.error(), st::http_failure::bad_response);
  CHECK(c.error().message().find("the server sent another range") != std::string::npos);
  CHECK(m.server().stats().requests == 1);
}

TEST_CASE("remote: 408 and 429 are retried") {
  st_test::served_model m;
  for (const char* mode : {"flaky408", "flaky429"}) {
    CAPTURE(mode);
    auto s = st::http_source::open(m.file_url(mode), st_test::local_http());  // NNN, NNN, 206
    REQUIRE(s);
    CHECK((*s)->stats().requests == 3);
    CHECK((*s)->stats().retries == 2);
  }
}

TEST_CASE("remote: a server that trickles gives Timeout, with no request_timeout") {
  st_test::served_model m;
  auto reader = st_test::open_remote(m.file_url("drip-after-2"));
  REQUIRE(reader);
  st::http_options o = st_test::local_http();  // stall_timeout 1 s, min_speed 1024 (default)
  o.request_timeout = std::chrono::milliseconds(0);
  o.retries = 0;
  auto slow = st_test::open_remote(m.file_url("drip-after-2"), o);  // its own path count
  REQUIRE_FALSE(slow);  // the header's request (264 bytes) drips: 20 bytes a second
  check_failure(slow.error(), st::http_failure::timeout);
  CHECK(slow.error().message().find("bytes per second") != std::string::npos);
}

TEST_CASE("remote: a long error body is not read to its end") {
  st_test::served_model m;
  st::http_options o = st_test::local_http();
  o.retries = 0;
  m.server().reset();
  auto r = st::http_source::open(m.file_url("bigerror"), o);  // 500 with 100 MB of body
  REQUIRE_FALSE(r);
  check_failure(r.error(), st::http_failure::bad_response);
  CHECK(r.error().message().find("HTTP 500") != std::string::npos);
  // What the server managed to write before the connection closed: socket buffers, not 100 MB.
  CHECK(m.server().stats().bytes < 40'000'000);
}

TEST_CASE("remote: text from the server is escaped in messages") {
  st_test::served_model m;
  const auto printable_only = [](const std::string& s) {
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
  };
  auto r = st::http_source::open(m.file_url("escapes"), st_test::local_http());
  REQUIRE_FALSE(r);
  check_failure(r.error(), st::http_failure::not_found);
  CHECK(printable_only(r.error().message()));
  CHECK(r.error().message().find("Not \\x1b[31mFound") != std::string::npos);  // the reason
  CHECK(r.error().message().find("\\x9b") != std::string::npos);
  auto tag = st_test::open_remote(m.file_url("escapetag"));
  REQUIRE_FALSE(tag);
  check_failure(tag.error(), st::http_failure::changed);
  CHECK(printable_only(tag.error().message()));
  CHECK(tag.error().message().find("\\x1b]0;owned\\x07") != std::string::npos);  // the ETag
}
