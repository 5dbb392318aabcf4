// checkpoint_options::open_shard: a checkpoint whose shards come from sources the caller opens
// (an object store, HTTP: docs/remote.md), here memory_sources over shard bytes held in memory.
// Shards still open lazily and once each, the readers, load() and verify() see the same bytes as
// from files, and the opener's failures are the shard's errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

// A checkpoint of three shards written to a temporary directory, its files also held in memory,
// and an opener over the memory copies that counts its calls.
struct memory_checkpoint {
  st_test::temp_dir dir;
  std::vector<float> a = std::vector<float>(1000), b = std::vector<float>(300);
  std::vector<std::uint8_t> c = std::vector<std::uint8_t>(5000);
  std::map<std::string, std::vector<std::uint8_t>> files;  // shard name -> bytes
  std::string index_text;
  std::mutex mutex;
  std::map<std::string, int> calls;

  memory_checkpoint() {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<std::uint8_t>(i * 13);
    st::sharded_write_options o;
    o.max_shard_size = 4000;  // a, b, c: one shard each
    auto layout = st::save_sharded(dir.path(),
                                   {{"a", st::dtype::F32, {1000}, st::as_bytes(a), {}},
                                    {"b", st::dtype::F32, {3, 100}, st::as_bytes(b), {}},
                                    {"c", st::dtype::U8, {5000}, st::as_bytes(c), {}}},
                                   o)
                      .value();
    REQUIRE(layout.shard_count() == 3);
    for (const std::string& name : layout.shards())
      files[name] = st_test::read_file(dir.file(name));
    index_text = layout.index_json();
  }

  st::checkpoint_options options() {
    st::checkpoint_options o;
    o.access = st::shard_access::reader;
    o.open_shard =
        [this](const std::string& name) -> st::result<std::unique_ptr<st::random_access_source>> {
      std::lock_guard<std::mutex> lock(mutex);
      ++calls[name];
      const auto it = files.find(name);
      if (it == files.end()) return st::error(st::errc::io_error, "no object " + name);
      return std::unique_ptr<st::random_access_source>(
          new st::memory_source(st::as_bytes(it->second)));
    };
    return o;
  }

  int total_calls() {
    std::lock_guard<std::mutex> lock(mutex);
    int n = 0;
    for (const auto& kv : calls) n += kv.second;
    return n;
  }
};

}  // namespace

TEST_CASE("open_shard: shards come from the opener, lazily and once each") {
  memory_checkpoint m;
  for (const auto& kv : m.files) fs::remove(m.dir.file(kv.first));  // only the index is a file
  auto ckpt = st::checkpoint::open(m.dir.file("model.safetensors.index.json"), m.options());
  REQUIRE(ckpt);
  CHECK(m.total_calls() == 0);
  const std::string shard_of_b = ckpt->shard_name(*ckpt->shard_of("b"));
  auto b = ckpt->read("b");
  REQUIRE(b);
  CHECK(*b == std::vector<std::byte>(st::as_bytes(m.b).begin(), st::as_bytes(m.b).end()));
  CHECK(m.calls == std::map<std::string, int>{{shard_of_b, 1}});
  CHECK(ckpt->read("b"));
  CHECK(m.total_calls() == 1);
  auto shard = ckpt->shard(*ckpt->shard_of("b"));
  REQUIRE(shard);
  CHECK(shard->reader() != nullptr);
  CHECK(shard->mapped() == nullptr);
  CHECK(shard->reader()->source().describe() == "memory");
  CHECK(ckpt->tensor("b").error() == st::errc::invalid_argument);  // no mapping to view

  const st::verify_report v = ckpt->verify();
  CHECK(v.ok());
  CHECK(v.shards_opened == 3);
  CHECK(m.total_calls() == 3);
}

TEST_CASE("open_shard: over a parsed index, load() reads the same bytes, shards opened at once") {
  memory_checkpoint m;
  auto ckpt = st::checkpoint::open(st::parse_index(m.index_text).value(), "objects", m.options());
  REQUIRE(ckpt);
  std::vector<float> a(1000), b_col(3 * 10);
  std::vector<std::uint8_t> c(5000);
  std::vector<st::load_request> requests(3);
  requests[0].name = "a";
  requests[0].dst = st::as_writable_bytes(st::span<float>(a));
  requests[1].name = "b";
  requests[1].slice = {{0, 3}, {90, 100}};
  requests[1].dst = st::as_writable_bytes(st::span<float>(b_col));
  requests[2].name = "c";
  requests[2].dst = st::as_writable_bytes(st::span<std::uint8_t>(c));
  st::load_options o;
  o.threads = 4;
  o.chunk_bytes = 512;
  auto report = st::load(*ckpt, requests, o);
  REQUIRE(report);
  CHECK(a == m.a);
  CHECK(c == m.c);
  for (std::size_t row = 0; row < 3; ++row) {
    for (std::size_t col = 0; col < 10; ++col) {
      CHECK(b_col[row * 10 + col] == m.b[row * 100 + 90 + col]);
    }
  }
  CHECK(m.calls.size() == 3);
  for (const auto& kv : m.calls) CHECK(kv.second == 1);
  CHECK(ckpt->shard(0)->path() == fs::path("objects") / ckpt->shard_name(0));
}

TEST_CASE("open_shard: the opener's failures are the shard's errors") {
  memory_checkpoint m;
  const std::string lost = m.files.begin()->first;  // the shard of "a"
  m.files.erase(lost);
  auto ckpt = st::checkpoint::open(st::parse_index(m.index_text).value(), "", m.options());
  REQUIRE(ckpt);
  auto a = ckpt->read("a");
  REQUIRE_FALSE(a);
  CHECK(a.error() == st::errc::io_error);
  CHECK(a.error().message() == "no object " + lost);
  CHECK(ckpt->read("c"));
  CHECK(ckpt->read("a").error().message() == "no object " + lost);  // kept, not retried
  CHECK(m.calls[lost] == 1);
  const st::verify_report v = ckpt->verify();
  REQUIRE(v.problems.size() == 1);  // the shard (its tensors are not looked for)
  CHECK(v.problems[0].message().find("no object") != std::string::npos);

  SUBCASE("a null source is InvalidArgument") {
    st::checkpoint_options o = m.options();
    o.open_shard = [](const std::string&) -> st::result<std::unique_ptr<st::random_access_source>> {
      return std::unique_ptr<st::random_access_source>();
    };
    auto n = st::checkpoint::open(st::parse_index(m.index_text).value(), "", o);
    REQUIRE(n);
    CHECK(n->read("c").error() == st::errc::invalid_argument);
  }
  SUBCASE("a source of bytes that are not a safetensors file: the parse error") {
    const std::vector<std::uint8_t> junk{1, 2, 3};
    st::checkpoint_options o = m.options();
    o.open_shard =
        [&junk](const std::string&) -> st::result<std::unique_ptr<st::random_access_source>> {
      return std::unique_ptr<st::random_access_source>(new st::memory_source(st::as_bytes(junk)));
    };
    auto n = st::checkpoint::open(st::parse_index(m.index_text).value(), "", o);
    REQUIRE(n);
    CHECK(n->read("c").error() == st::errc::header_too_small);
  }
}

TEST_CASE("open_shard needs shard_access::reader") {
  memory_checkpoint m;
  st::checkpoint_options o = m.options();
  o.access = st::shard_access::mapped;
  auto from_index = st::checkpoint::open(st::parse_index(m.index_text).value(), "", o);
  REQUIRE_FALSE(from_index);
  CHECK(from_index.error() == st::errc::invalid_argument);
  CHECK(from_index.error().message().find("open_shard") != std::string::npos);
  auto from_file = st::checkpoint::open(m.dir.file("model.safetensors.index.json"), o);
  REQUIRE_FALSE(from_file);
  CHECK(from_file.error() == st::errc::invalid_argument);
  const std::string one = m.files.begin()->first;
  auto single = st::checkpoint::open(m.dir.file(one), o);  // a single file opens at once
  REQUIRE_FALSE(single);
  CHECK(single.error() == st::errc::invalid_argument);
  CHECK(m.total_calls() == 0);
  o.access = st::shard_access::reader;
  auto single_ok = st::checkpoint::open(m.dir.file(one), o);  // called with the file's name
  REQUIRE(single_ok);
  CHECK(m.calls == std::map<std::string, int>{{one, 1}});
}
