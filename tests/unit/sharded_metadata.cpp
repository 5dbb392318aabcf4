// The sharded writers take the shards' `__metadata__` as save_file takes a file's
// (docs/sharded.md#writing): save_sharded(dir, tensors, metadata, options) and
// sharded_stream_writer::create(dir, tensors, metadata, options) write `metadata` into every
// shard exactly, nullopt as no `__metadata__`; without the argument, shard_metadata
// ({"format":"pt"} by default) is written.
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

// Three F32 tensors of 16 bytes each; with max_shard_size 32: two shards.
struct model {
  std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c{9, 10, 11, 12};
  std::vector<st::tensor_spec> specs() const {
    return {{"a", st::dtype::F32, {4}, st::as_bytes(a), {}},
            {"b", st::dtype::F32, {2, 2}, st::as_bytes(b), {}},
            {"c", st::dtype::F32, {4}, st::as_bytes(c), {}}};
  }
};

st::sharded_write_options two_shards() {
  st::sharded_write_options o;
  o.max_shard_size = 32;
  return o;
}

// The `__metadata__` of every shard of the checkpoint in `dir`, opened one by one.
std::vector<std::optional<st::metadata_map>> shard_metadata(const fs::path& dir) {
  auto ckpt = st::checkpoint::open(dir);
  REQUIRE(ckpt);
  std::vector<std::optional<st::metadata_map>> out;
  for (std::size_t i = 0; i < ckpt->shard_count(); ++i) {
    auto s = ckpt->shard(i);
    REQUIRE(s);
    out.push_back(s->header().metadata());
  }
  return out;
}

const st::metadata_map user_metadata{{"author", "me"}, {"format", "pt"}, {"license", "mit"}};

}  // namespace

TEST_CASE("save_sharded writes the metadata argument into every shard, exactly") {
  model m;
  st_test::temp_dir dir;
  SUBCASE("sharded") {
    const auto layout = st::save_sharded(dir.path(), m.specs(), user_metadata, two_shards());
    REQUIRE(layout);
    REQUIRE(layout->shard_count() == 2);
    const auto md = shard_metadata(dir.path());
    REQUIRE(md.size() == 2);
    for (const auto& one : md) CHECK(one == std::optional<st::metadata_map>(user_metadata));
    // The index's metadata is not the shards': total_size alone.
    auto ckpt = st::checkpoint::open(dir.path());
    REQUIRE(ckpt);
    CHECK(ckpt->index().metadata->size() == 1);
    CHECK(ckpt->index().metadata->contains("total_size"));
  }
  SUBCASE("one shard, default options") {
    const st::metadata_map no_format{{"author", "me"}};
    const auto layout = st::save_sharded(dir.path(), m.specs(), no_format);
    REQUIRE(layout);
    CHECK_FALSE(layout->sharded());
    auto file = st::mapped_file::open(dir.file("model.safetensors"));
    REQUIRE(file);
    CHECK(file->metadata() == std::optional<st::metadata_map>(no_format));  // no "format" added
  }
  SUBCASE("nullopt: no __metadata__, whatever shard_metadata holds") {
    const auto layout = st::save_sharded(dir.path(), m.specs(), std::nullopt, two_shards());
    REQUIRE(layout);
    for (const auto& one : shard_metadata(dir.path())) CHECK_FALSE(one.has_value());
  }
  SUBCASE("the same bytes as save_file writes for each shard's tensors and metadata") {
    const auto layout = st::save_sharded(dir.path(), m.specs(), user_metadata, two_shards());
    REQUIRE(layout);
    for (std::size_t k = 0; k < layout->shard_count(); ++k) {
      std::vector<st::tensor_spec> group;
      for (const std::size_t i : layout->members()[k]) group.push_back(m.specs()[i]);
      const auto expected = st::serialize(group, user_metadata).value();
      const auto written = st_test::read_file(dir.file(layout->shards()[k]));
      CHECK(std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(expected.data()),
                                      reinterpret_cast<const std::uint8_t*>(expected.data()) +
                                          expected.size()) == written);
    }
  }
  SUBCASE("metadata the writer refuses: nothing is written") {
    const st::metadata_map bad{{std::string("\xff"), "v"}};
    const auto layout = st::save_sharded(dir.file("out"), m.specs(), bad, two_shards());
    REQUIRE_FALSE(layout);
    CHECK(layout.error().code() == st::errc::invalid_argument);
    CHECK_FALSE(fs::exists(dir.file("out")));
  }
}

TEST_CASE("save_sharded without a metadata argument writes shard_metadata") {
  model m;
  st_test::temp_dir dir;
  SUBCASE("the default, {\"format\":\"pt\"}") {
    REQUIRE(st::save_sharded(dir.path(), m.specs(), two_shards()));
    for (const auto& one : shard_metadata(dir.path())) {
      CHECK(one == std::optional<st::metadata_map>(st::metadata_map{{"format", "pt"}}));
    }
  }
  SUBCASE("set in the options") {
    auto o = two_shards();
    o.shard_metadata = user_metadata;
    REQUIRE(st::save_sharded(dir.path(), m.specs(), o));
    for (const auto& one : shard_metadata(dir.path())) {
      CHECK(one == std::optional<st::metadata_map>(user_metadata));
    }
  }
}

TEST_CASE("a file's metadata survives a split by save_sharded and a merge, byte for byte") {
  model m;
  st_test::temp_dir dir;
  const st::metadata_map md{{"step", "1200"}, {"tokenizer", "bpe"}};  // no "format"
  REQUIRE(st::save_file(dir.file("in.safetensors"), m.specs(), md));
  auto in = st::checkpoint::open(dir.file("in.safetensors"));
  REQUIRE(in);
  auto specs = in->specs();
  REQUIRE(specs);
  auto file_md = in->merged_metadata();
  REQUIRE(file_md);
  REQUIRE(st::save_sharded(dir.file("split"), *specs, *file_md, two_shards()));
  auto split = st::checkpoint::open(dir.file("split"));
  REQUIRE(split);
  CHECK(split->shard_count() == 2);
  REQUIRE(st::merge_checkpoint(*split, dir.file("out.safetensors")));
  CHECK(st_test::read_file(dir.file("out.safetensors")) ==
        st_test::read_file(dir.file("in.safetensors")));
}

TEST_CASE("sharded_stream_writer::create takes the metadata argument too") {
  model m;
  st_test::temp_dir dir;
  auto declared = m.specs();
  for (auto& s : declared) s.bytes = {};
  SUBCASE("given") {
    auto w = st::sharded_stream_writer::create(dir.path(), declared, user_metadata, two_shards());
    REQUIRE(w);
    REQUIRE(w->write("a", st::as_bytes(m.a)));
    REQUIRE(w->write("b", st::as_bytes(m.b)));
    REQUIRE(w->write("c", st::as_bytes(m.c)));
    REQUIRE(w->commit());
    const auto md = shard_metadata(dir.path());
    REQUIRE(md.size() == 2);
    for (const auto& one : md) CHECK(one == std::optional<st::metadata_map>(user_metadata));
  }
  SUBCASE("without: shard_metadata") {
    auto w = st::sharded_stream_writer::create(dir.path(), declared, two_shards());
    REQUIRE(w);
    REQUIRE(w->write("a", st::as_bytes(m.a)));
    REQUIRE(w->write("b", st::as_bytes(m.b)));
    REQUIRE(w->write("c", st::as_bytes(m.c)));
    REQUIRE(w->commit());
    for (const auto& one : shard_metadata(dir.path())) {
      CHECK(one == std::optional<st::metadata_map>(st::metadata_map{{"format", "pt"}}));
    }
  }
}

TEST_CASE("a braced {} third argument still means default options, as before metadata existed") {
  // save_sharded(dir, tensors, {}) compiled before the metadata overloads existed: it must keep
  // compiling (the metadata argument is deduced, so a braced list cannot pick that overload) and
  // keep writing the default shard_metadata.
  model m;
  st_test::temp_dir dir;
  REQUIRE(st::save_sharded(dir.path(), m.specs(), {}));
  for (const auto& md : shard_metadata(dir.path())) {
    REQUIRE(md);
    CHECK(*md == st::sharded_write_options{}.shard_metadata);
  }
  st_test::temp_dir dir2;
  auto w = st::sharded_stream_writer::create(dir2.path(), m.specs(), {});
  REQUIRE(w);
  CHECK(st::save_sharded(dir2.path() / "x", m.specs(), std::nullopt));
  const auto none = shard_metadata(dir2.path() / "x");
  REQUIRE(none.size() == 1);
  CHECK_FALSE(none[0].has_value());
}
