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
