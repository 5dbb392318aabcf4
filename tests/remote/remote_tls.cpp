// TLS and proxies (docs/remote.md#tls, docs/remote.md#proxies): a server whose certificate was
// made at test time by openssl is refused while verification is on (the default) and accepted
// when its certificate is given as the CA; https to http is refused unless allowed; a request
// goes through a proxy when told to.
#include <doctest/doctest.h>

#include "ci_skip.hpp"
#include "remote_model.hpp"
#include "tls_cert.hpp"

namespace st = safetensors;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("remote tls: a server the system does not trust is refused; its CA makes it work") {
  st_test::served_model m;
  st_test::temp_dir keys;
  const auto cert = st_test::make_tls_cert(keys);
  if (!cert) {
    st_test::skip_or_fail_in_ci("no openssl command to make a certificate with");
    return;
  }
  st_test::range_server tls(m.dir().path().string(), cert);
  const std::string url = tls.url("files", "model.safetensors");
  REQUIRE(url.rfind("https://127.0.0.1:", 0) == 0);

  auto refused = st_test::open_remote(url);  // verify_tls on, the system's CAs
  REQUIRE_FALSE(refused);
  MESSAGE(refused.error().to_string());
  CHECK(*st::http_failure_of(refused.error()) == st::http_failure::connection);
  CHECK(contains(refused.error().message(), "certificate"));
  CHECK_FALSE(contains(refused.error().message(), "attempts"));  // not retried

  auto trusted = st_test::open_remote(url, tls.options());  // ca_file: the server's certificate
  REQUIRE(trusted);
  auto c = trusted->read("c");
  REQUIRE(c);
  CHECK(*c == m.bytes_of("c"));

  SUBCASE("https to http is Redirect unless allowed") {
    st::http_options o = tls.options();
    auto down = st::http_source::open(tls.redirect_url(m.file_url()), o);
    REQUIRE_FALSE(down);
    MESSAGE(down.error().to_string());
    CHECK(*st::http_failure_of(down.error()) == st::http_failure::redirect);
    CHECK(contains(down.error().message(), "a redirect from https to"));
    CHECK(contains(down.error().message(), "allow_https_to_http"));
    o.allow_https_to_http = true;
    CHECK(st::http_source::open(tls.redirect_url(m.file_url()), o));
  }
  SUBCASE("http to https on another port is another origin: no caller's headers") {
    st::http_options o = tls.options();
    o.headers = {"X-Api-Key: secret-key"};
    tls.reset();
    auto up = st_test::open_remote(m.server().redirect_url(url), o);
    REQUIRE(up);
    std::size_t there = 0;
    for (const auto& r : tls.stats().log) {
      if (r.path != "/files/model.safetensors") continue;
      ++there;
      CHECK(r.headers.count("X-Api-Key") == 0);
    }
    CHECK(there == 2);
  }
}

TEST_CASE("remote: http_options::proxy sends the requests to the proxy") {
  st_test::served_model m;  // the test server serves absolute URLs by their path, as a proxy
  st::http_options o = st_test::local_http();
  o.proxy = m.server().base();
  m.server().reset();
  auto reader = st_test::open_remote("http://model.invalid/files/model.safetensors", o);
  REQUIRE(reader);
  auto c = reader->read("c");
  REQUIRE(c);
  CHECK(*c == m.bytes_of("c"));
  std::size_t proxied = 0;
  for (const auto& r : m.server().stats().log) {
    if (r.path != "/files/model.safetensors") continue;
    CHECK(r.proxied);
    CHECK(r.headers.at("Host") == "model.invalid");
    ++proxied;
  }
  CHECK(proxied == 3);
}
