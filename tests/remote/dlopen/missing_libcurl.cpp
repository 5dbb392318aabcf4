// Built with SAFETENSORS_HTTP_DLOPEN and SAFETENSORS_HTTP_LIBCURL set to a library that does not
// exist (tests/remote/CMakeLists.txt): what a program that loads libcurl at run time, such as
// safetensors-cli, reports on a machine without it (docs/remote.md#loading-libcurl-at-run-time).
// Every entry point gives the same IoError, which names the library and what to install; none
// crashes, from one thread or several at once.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <safetensors/http_source.hpp>
#include <string>
#include <thread>
#include <vector>

namespace st = safetensors;

namespace {

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The error of a program whose libcurl cannot be loaded.
void check_missing(const st::error& e) {
  MESSAGE(e.to_string());
  CHECK(e == st::errc::io_error);
  CHECK_FALSE(st::http_failure_of(e).has_value());  // not an HTTP failure: nothing was sent
  CHECK(has(e.message(), "reading URLs needs libcurl, which cannot be loaded ("));
  CHECK(has(e.message(), SAFETENSORS_HTTP_LIBCURL));
  CHECK(has(e.message(), "apt-get install libcurl4"));
  CHECK(has(e.message(), "http://127.0.0.1:9/"));  // the URL, without its query
  CHECK_FALSE(has(e.message(), "secret"));
}

}  // namespace

TEST_CASE("dlopen: without libcurl, every entry point is an IoError that says what to install") {
  const std::string url = "http://127.0.0.1:9/model.safetensors?sig=secret";
  auto s = st::http_source::open(url);
  REQUIRE_FALSE(s);
  check_missing(s.error());
  auto g = st::http_get("http://127.0.0.1:9/config.json?sig=secret");
  REQUIRE_FALSE(g);
  check_missing(g.error());
  auto c = st::open_http_checkpoint("http://127.0.0.1:9/model.safetensors.index.json?sig=secret");
  REQUIRE_FALSE(c);
  check_missing(c.error());
}

TEST_CASE("dlopen: the failed load is the same for threads that ask at once") {
  std::vector<std::string> messages(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    threads.emplace_back([&messages, i] {
      auto s = st::http_source::open("http://127.0.0.1:9/x.safetensors");
      messages[i] = s ? std::string("opened") : s.error().message();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : messages) {
    CHECK(has(m, "cannot be loaded"));
    CHECK(m == messages[0]);
  }
}
