// safetensors-cli built with libcurl takes URLs wherever it takes paths: inspect, validate, diff
// and stats, on a single file's URL and on a sharded checkpoint's index URL
// (docs/remote.md#the-command-line), with the same output as for the local copy.
#include <doctest/doctest.h>

#include <cstdlib>

#include "cli_runner.hpp"
#include "remote_model.hpp"

namespace st = safetensors;

namespace {

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The CLI reads URLs with its default options: no proxy between it and the local server.
void no_proxy_for_localhost() { setenv("no_proxy", "127.0.0.1", 1); }

}  // namespace

TEST_CASE("remote cli: inspect and validate a file's URL, fetching only what they print") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  const std::string local = m.dir().file("model.safetensors").string();
  m.server().reset();
  auto r = st_test::run_cli(out, {"inspect", m.file_url()});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  st_test::server_stats s = m.server().stats();
  CHECK(s.requests == 2);  // the header only
  CHECK(s.bytes < 300);
  auto l = st_test::run_cli(out, {"inspect", local});
  REQUIRE(l.code == 0);
  // The same table, under the URL instead of the path.
  CHECK(r.out.substr(r.out.find('\n')) == l.out.substr(l.out.find('\n')));
  CHECK(has(st_test::first_line(r.out), m.file_url()));

  m.server().reset();
  auto values = st_test::run_cli(out, {"inspect", "--values", "2", m.file_url()});
  CHECK(values.code == 0);
  const std::string values_local = st_test::run_cli(out, {"inspect", "--values", "2", local}).out;
  CHECK(values.out.substr(values.out.find('\n')) == values_local.substr(values_local.find('\n')));
  CHECK(m.server().stats().requests == 2 + 4);  // the header, then 2 values of each tensor

  auto v = st_test::run_cli(out, {"validate", m.file_url(), m.index_url()});
  CHECK(v.code == 0);
  CHECK(has(v.out, m.file_url() + ": OK (4 tensors, "));
  CHECK(has(v.out, m.index_url() + ": OK (4 tensors, 247522 bytes in 3 shards)"));
}

TEST_CASE("remote cli: inspect a checkpoint's index URL") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  auto r = st_test::run_cli(out, {"inspect", m.index_url()});
  CHECK(r.code == 0);
  CHECK(has(r.out, "index:    " + m.index_url()));
  CHECK(has(r.out, "tensors:  4 (247522 bytes"));
  auto j = st_test::run_cli(out, {"inspect", "--json", m.index_url()});
  CHECK(j.code == 0);
  const auto json = nlohmann::json::parse(j.out);
  CHECK(json.at("index") == m.index_url());
  CHECK(json.at("tensors").size() == 4);
}

TEST_CASE("remote cli: diff and stats take URLs") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  const std::string local = m.dir().file("model.safetensors").string();
  auto same = st_test::run_cli(out, {"diff", m.index_url(), m.dir().file("ckpt").string()});
  CHECK(same.code == 0);
  CHECK(same.err.empty());
  auto same2 = st_test::run_cli(out, {"diff", "--quiet", m.file_url(), local});
  CHECK(same2.code == 0);
  // The shards carry {"format": "pt"}, the single file no metadata: the tensors are the same.
  auto other = st_test::run_cli(out, {"diff", m.file_url(), m.index_url()});
  CHECK(other.code == 1);
  CHECK(has(other.out, "metadata"));
  auto stats = st_test::run_cli(out, {"stats", m.file_url()});
  CHECK(stats.code == 0);
  auto stats_local = st_test::run_cli(out, {"stats", local});
  REQUIRE(stats_local.code == 0);
  CHECK(stats.out.substr(stats.out.find('\n')) ==
        stats_local.out.substr(stats_local.out.find('\n')));
}

TEST_CASE("remote cli: a failing URL is the usual error line, with the HTTP failure") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  auto r = st_test::run_cli(out, {"inspect", m.server().url("files", "absent.safetensors")});
  CHECK(r.code == 2);
  CHECK(has(r.err, "error: IoError: [NotFound] GET "));
  CHECK(has(r.err, "HTTP 404"));
  auto v = st_test::run_cli(out, {"validate", m.file_url("norange"), m.file_url()});
  CHECK(v.code == 2);
  CHECK(has(v.err, "[RangeIgnored]"));
  CHECK(has(v.out, m.file_url() + ": OK"));  // validate goes on after a failure
}

TEST_CASE("remote cli: URLs are shown without user information or query, --json included") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  // The test server ignores both: the query is a signature, user:password a login.
  const auto secret = [](const std::string& url) {
    return "http://user:hunter2@" + url.substr(std::string("http://").size()) +
           "?X-Amz-Signature=deadbeef";
  };
  const std::string file = secret(m.file_url()), index = secret(m.index_url());
  const std::string shown_file = m.file_url() + "?...", shown_index = m.index_url() + "?...";
  std::vector<std::vector<std::string>> runs{{"inspect", file},
                                             {"inspect", "--json", index},
                                             {"inspect", index},
                                             {"validate", file, index},
                                             {"stats", file},
                                             {"stats", "--json", index},
                                             {"diff", "--json", file, index}};
  for (const auto& args : runs) {
    CAPTURE(args[0]);
    CAPTURE(args[1]);
    auto r = st_test::run_cli(out, args);
    CHECK((r.code == 0 || (args[0] == "diff" && r.code == 1)));
    CHECK(r.err.empty());
    CHECK_FALSE(has(r.out + r.err, "hunter2"));
    CHECK_FALSE(has(r.out + r.err, "deadbeef"));
    CHECK((has(r.out, shown_file) || has(r.out, shown_index) || args[1] == "--json"));
  }
  // And in errors.
  auto e = st_test::run_cli(
      out, {"validate", secret(m.server().url("files", "absent.safetensors")), index});
  CHECK(e.code == 2);
  CHECK(has(e.err, "[NotFound]"));
  CHECK_FALSE(has(e.out + e.err, "hunter2"));
  CHECK_FALSE(has(e.out + e.err, "deadbeef"));
}

TEST_CASE("remote cli: --header goes with every request to the URL's origin") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  m.server().reset();
  auto r = st_test::run_cli(out, {"validate", "--header", "Authorization: Bearer tok-1",
                                  "--header=X-Api-Key: key-2", m.index_url()});
  CHECK(r.code == 0);
  std::size_t seen = 0;
  for (const auto& q : m.server().stats().log) {
    if (q.path.rfind("/files/", 0) != 0) continue;
    ++seen;
    CHECK(q.headers.count("Authorization") == 1);
    CHECK(q.headers.count("X-Api-Key") == 1);
    if (q.headers.count("X-Api-Key")) CHECK(q.headers.at("X-Api-Key") == "key-2");
  }
  CHECK(seen == 1 + 2 * 3);  // the index, 8 + N bytes of each of 3 shards
  auto bad = st_test::run_cli(out, {"inspect", "--header", "no colon", m.file_url()});
  CHECK(bad.code == 2);
  CHECK(has(bad.err, "error: usage: inspect: --header needs 'NAME: VALUE'"));
  auto bad_timeout = st_test::run_cli(out, {"inspect", "--timeout", "0", m.file_url()});
  CHECK(bad_timeout.code == 2);
  CHECK(has(bad_timeout.err, "--timeout needs a number of seconds"));
}

TEST_CASE("remote cli: --timeout bounds each request to a URL") {
  no_proxy_for_localhost();
  st_test::served_model m;
  st_test::temp_dir out;
  // The header's first request drips its 264 bytes over 13 s (the default limits let it finish);
  // with --timeout 1 that attempt ends after 1 s and the next one is served at once.
  const std::string url = m.file_url("drip-after-1-once");
  m.server().reset();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = st_test::run_cli(out, {"inspect", "--timeout", "1", url});
  const double seconds = st_test::seconds_since(t0);
  MESSAGE("inspect --timeout 1 on a server that drips once: " << seconds << " s");
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(m.server().stats().requests == 3);  // 8 bytes, the header (dripping), the header again
  CHECK(seconds > 1.0);
  CHECK(seconds < 8.0);
}

TEST_CASE("remote cli: the proxy variables libcurl reads (http_proxy, ALL_PROXY)") {
  st_test::served_model m;  // the test server serves absolute URLs by their path, as a proxy
  st_test::temp_dir out;
  const std::string url = "http://model.invalid/files/model.safetensors";
  for (const char* variable : {"http_proxy", "ALL_PROXY"}) {
    CAPTURE(variable);
    setenv(variable, m.server().base().c_str(), 1);
    m.server().reset();
    auto r = st_test::run_cli(out, {"validate", url});
    unsetenv(variable);
    CHECK(r.code == 0);
    CHECK(has(r.out, url + ": OK"));
    std::size_t proxied = 0;
    for (const auto& q : m.server().stats().log) proxied += q.proxied ? 1 : 0;
    CHECK(proxied == 2);
  }
}
