// Redirects (docs/remote.md#redirects): followed by the source itself, each hop checked. The
// caller's headers go to the origin (scheme, host, port) of the URL given and nowhere else;
// headers_any_origin go everywhere; https to http, other schemes and too many hops are the
// failure Redirect, at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>

#include "remote_model.hpp"

namespace st = safetensors;

namespace {

// Headers that carry credentials in the wild: libcurl itself drops only Authorization and
// Cookie on a redirect to another host.
const std::vector<std::string> secret_headers{
    "Authorization: Bearer secret-token", "X-Api-Key: secret-key",
    "PRIVATE-TOKEN: secret-gitlab",       "X-Amz-Security-Token: secret-aws",
    "Proxy-Authorization: Basic secret",  "Cookie: session=secret"};

st::http_options with_secrets(st::http_options o) {
  o.headers = secret_headers;
  o.headers_any_origin = {"X-Trace-Id: trace-42"};
  return o;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The requests of `log` for `path`.
std::vector<st_test::logged_request> requests_for(const st_test::server_stats& s,
                                                  const std::string& path) {
  std::vector<st_test::logged_request> out;
  for (const auto& r : s.log) {
    if (r.path == path) out.push_back(r);
  }
  return out;
}

// How many of the secret headers `r` carried, and whether it carried the any-origin one.
std::size_t secrets_in(const st_test::logged_request& r) {
  std::size_t n = 0;
  for (const auto& h : secret_headers) {
    const std::string name = lower(h.substr(0, h.find(':')));
    for (const auto& [k, v] : r.headers) {
      if (lower(k) == name) ++n;
    }
  }
  return n;
}
bool traced(const st_test::logged_request& r) {
  for (const auto& [k, v] : r.headers) {
    if (lower(k) == "x-trace-id" && v == "trace-42") return true;
  }
  return false;
}

// Opens `url` and reads tensor c through it: the bytes must be the file's.
void read_through(const st_test::served_model& m, const std::string& url,
                  const st::http_options& o) {
  auto reader = st_test::open_remote(url, o);
  REQUIRE(reader);
  auto c = reader->read("c");
  REQUIRE(c);
  CHECK(*c == m.bytes_of("c"));
}

}  // namespace

TEST_CASE("remote: a redirect within the origin is followed with the caller's headers") {
  st_test::served_model m;
  const st::http_options o = with_secrets(st_test::local_http());
  for (const int code : {301, 302, 303, 307, 308}) {
    CAPTURE(code);
    m.server().reset();
    read_through(m, m.server().redirect_url(m.file_url(), code), o);
    const auto s = m.server().stats();
    const auto hops = requests_for(s, "/__redirect");
    const auto files = requests_for(s, "/files/model.safetensors");
    REQUIRE(hops.size() == 3);  // open: 2 requests, read: 1, each through the redirect
    REQUIRE(files.size() == 3);
    for (const auto& r : files) {
      CHECK(secrets_in(r) == secret_headers.size());
      CHECK(traced(r));
    }
  }
}

TEST_CASE("remote: a redirect to another port or host goes without the caller's headers") {
  st_test::served_model m;
  st_test::range_server other(m.dir().path().string());  // another port
  const st::http_options o = with_secrets(st_test::local_http());
  SUBCASE("another port") {
    m.server().reset();
    other.reset();
    read_through(m, m.server().redirect_url(other.url("files", "model.safetensors")), o);
    for (const auto& r : requests_for(m.server().stats(), "/__redirect")) {
      CHECK(secrets_in(r) == secret_headers.size());  // the origin given gets them
    }
    const auto there = requests_for(other.stats(), "/files/model.safetensors");
    REQUIRE(there.size() == 3);
    for (const auto& r : there) {
      CHECK(secrets_in(r) == 0);
      CHECK(traced(r));  // headers_any_origin go everywhere
    }
  }
  SUBCASE("another host name (localhost for 127.0.0.1)") {
    const std::string elsewhere =
        "http://localhost:" + std::to_string(m.server().port()) + "/files/model.safetensors";
    m.server().reset();
    read_through(m, m.server().redirect_url(elsewhere), o);
    const auto there = requests_for(m.server().stats(), "/files/model.safetensors");
    REQUIRE(there.size() == 3);
    for (const auto& r : there) {
      CHECK(lower(r.headers.at("Host")).rfind("localhost:", 0) == 0);
      CHECK(secrets_in(r) == 0);
      CHECK(traced(r));
    }
  }
  SUBCASE("there and back: the origin given gets them again") {
    m.server().reset();
    other.reset();
    read_through(m, m.server().redirect_url(other.redirect_url(m.file_url())), o);
    const auto there = requests_for(other.stats(), "/__redirect");
    REQUIRE(there.size() == 3);
    for (const auto& r : there) CHECK(secrets_in(r) == 0);
    const auto back = requests_for(m.server().stats(), "/files/model.safetensors");
    REQUIRE(back.size() == 3);
    for (const auto& r : back) CHECK(secrets_in(r) == secret_headers.size());
  }
}

TEST_CASE("remote: redirects to other schemes, and too many, are Redirect at once") {
  st_test::served_model m;
  for (const std::string to : {"file:///etc/passwd", "ftp://127.0.0.1/model.safetensors",
                               "gopher://127.0.0.1/x", "javascript:alert(1)"}) {
    CAPTURE(to);
    m.server().reset();
    auto r = st::http_source::open(m.server().redirect_url(to), st_test::local_http());
    REQUIRE_FALSE(r);
    MESSAGE(r.error().to_string());
    CHECK(r.error() == st::errc::io_error);
    REQUIRE(st::http_failure_of(r.error()).has_value());
    CHECK(*st::http_failure_of(r.error()) == st::http_failure::redirect);
    CHECK(r.error().message().find("only http:// and https:// are followed") != std::string::npos);
    CHECK(requests_for(m.server().stats(), "/__redirect").size() == 1);  // not retried
  }
  st::http_options two = st_test::local_http();
  two.max_redirects = 2;
  const std::string hop2 = m.server().redirect_url(m.server().redirect_url(m.file_url()));
  CHECK(st::http_source::open(hop2, two));
  m.server().reset();
  auto three = st::http_source::open(m.server().redirect_url(hop2), two);
  REQUIRE_FALSE(three);
  MESSAGE(three.error().to_string());
  CHECK(*st::http_failure_of(three.error()) == st::http_failure::redirect);
  CHECK(three.error().message().find("more than 2 redirects") != std::string::npos);
  CHECK(requests_for(m.server().stats(), "/__redirect").size() == 3);
  CHECK(requests_for(m.server().stats(), "/files/model.safetensors").empty());
}
