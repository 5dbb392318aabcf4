// A sharded checkpoint whose index and shards are URLs (open_http_checkpoint, docs/remote.md):
// byte-identical to the local copy, read tensor by tensor and by the parallel loader, at the
// documented cost in requests and bytes.
#include <doctest/doctest.h>

#include <filesystem>

#include "remote_model.hpp"

namespace st = safetensors;

TEST_CASE("remote: a sharded checkpoint over HTTP loads byte-identical to the local copy") {
  st_test::served_model m;
  auto local = st::checkpoint::open(m.dir().file("ckpt"));
  REQUIRE(local);
  REQUIRE(local->shard_count() == 3);
  m.server().reset();
  auto remote = st::open_http_checkpoint(m.index_url(), st_test::local_http());
  REQUIRE(remote);
  const std::uint64_t index_size =
      std::filesystem::file_size(m.dir().file("ckpt/model.safetensors.index.json"));
  st_test::server_stats s = m.server().stats();
  CHECK(s.requests == 1);  // the index only: shards open on first use
  CHECK(s.bytes == index_size);
  MESSAGE("open the checkpoint: " << s.requests << " request, " << s.bytes << " bytes (the index)");
  CHECK(remote->sharded());
  CHECK(remote->shard_count() == local->shard_count());
  REQUIRE(remote->size() == local->size());

  SUBCASE("tensor by tensor") {
    std::uint64_t expect_bytes = 0;
    for (std::size_t i = 0; i < local->shard_count(); ++i) {
      auto shard = local->shard(i).value();
      expect_bytes += shard.header().data_offset();  // each shard's 8 + N, fetched once
      CHECK(remote->shard_name(i) == local->shard_name(i));
    }
    const std::uint64_t header_bytes = expect_bytes;
    m.server().reset();
    for (const st::index_entry& e : local->entries()) {
      CAPTURE(e.name);
      auto r = remote->read(e.name);
      REQUIRE(r);
      CHECK(*r == local->read(e.name).value());
      expect_bytes += r->size();
    }
    s = m.server().stats();
    CHECK(s.requests == 2 * local->shard_count() + local->size());
    CHECK(s.bytes == expect_bytes);
    MESSAGE("then read its 4 tensors (3 shards): " << s.requests << " requests, " << s.bytes
                                                   << " bytes (" << header_bytes
                                                   << " of them shard headers)");
    const st::verify_report v = remote->verify();
    CHECK(v.ok());
    CHECK(v.shards_opened == 3);
  }

  SUBCASE("by the parallel loader, a slice included") {
    std::vector<std::vector<std::byte>> out;
    std::vector<st::load_request> requests;
    for (const st::index_entry& e : local->entries()) {
      st::load_request r;
      r.name = e.name;
      if (e.name == "d") r.slice = {{0, 256}, {64, 128}};  // F32[256, 128]: its right half
      out.emplace_back(
          static_cast<std::size_t>(st::load_size(local->at(e.name).value(), r).value()));
      r.dst = st::span<std::byte>(out.back());
      requests.push_back(std::move(r));
    }
    st::load_options o;
    o.threads = 3;
    o.chunk_bytes = 16384;
    auto report = st::load(*remote, requests, o);
    REQUIRE(report);
    std::vector<std::vector<std::byte>> expect(out.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      expect[i].resize(out[i].size());
      requests[i].dst = st::span<std::byte>(expect[i]);
    }
    REQUIRE(st::load(*local, requests));
    for (std::size_t i = 0; i < out.size(); ++i) {
      CAPTURE(requests[i].name);
      CHECK(out[i] == expect[i]);
    }
  }
}

TEST_CASE("remote: a checkpoint whose shard is missing on the server") {
  st_test::served_model m;
  auto remote = st::open_http_checkpoint(m.index_url(), st_test::local_http());
  REQUIRE(remote);
  const std::string lost = remote->shard_name(*remote->shard_of("c"));
  std::filesystem::remove(m.dir().file("ckpt") / lost);
  CHECK(remote->read("a"));
  auto c = remote->read("c");
  REQUIRE_FALSE(c);
  CHECK(c.error() == st::errc::io_error);
  CHECK(st::http_failure_of(c.error()) == st::http_failure::not_found);
  CHECK(c.error().message().find(lost) != std::string::npos);
  const st::verify_report v = remote->verify();
  REQUIRE(v.problems.size() == 1);
  CHECK(st::http_failure_of(v.problems[0]) == st::http_failure::not_found);
}

TEST_CASE("remote: open_http_checkpoint on a single file's URL: one shard, opened at once") {
  st_test::served_model m;
  m.server().reset();
  auto one = st::open_http_checkpoint(m.file_url() + "?download=1", st_test::local_http());
  REQUIRE(one);
  const st_test::server_stats s = m.server().stats();
  CHECK(s.requests == 2);  // 8 bytes, then the header
  CHECK_FALSE(one->sharded());
  CHECK(one->shard_count() == 1);
  CHECK(one->shard_name(0) == "model.safetensors");
  REQUIRE(one->size() == 4);
  for (const char* name : {"a", "b", "c", "d"}) CHECK(one->read(name).value() == m.bytes_of(name));
  CHECK(one->verify().ok());

  auto f = st::open_http_checkpoint("file:///tmp/model.safetensors.index.json");
  REQUIRE_FALSE(f);
  CHECK(f.error() == st::errc::invalid_argument);
  auto missing = st::open_http_checkpoint(m.server().url("files", "absent.safetensors"),
                                          st_test::local_http());
  REQUIRE_FALSE(missing);
  CHECK(st::http_failure_of(missing.error()) == st::http_failure::not_found);
}

TEST_CASE("remote: an index the server does not have, or that is not an index") {
  st_test::served_model m;
  auto missing = st::open_http_checkpoint(m.server().url("files", "nothing.index.json"),
                                          st_test::local_http());
  REQUIRE_FALSE(missing);
  CHECK(st::http_failure_of(missing.error()) == st::http_failure::not_found);
  st_test::write_file(m.dir().file("bad.index.json"), {0x5b, 0x5d});  // "[]"
  auto bad =
      st::open_http_checkpoint(m.server().url("files", "bad.index.json"), st_test::local_http());
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == st::errc::invalid_header_deserialization);
  CHECK(bad.error().message().find("bad.index.json") != std::string::npos);
  st::checkpoint_options small;
  small.max_index_size = 10;
  auto big = st::open_http_checkpoint(m.index_url(), st_test::local_http(), small);
  REQUIRE_FALSE(big);
  CHECK(big.error() == st::errc::header_too_large);
}
