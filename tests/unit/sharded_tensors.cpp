// One lookup on every table (docs/design.md#api-v1): header, file_view, mapped_file,
// source_reader and checkpoint each offer find, at, contains, size and tensors. A checkpoint's
// tensors() opens every shard and lists the index's tensors in the order of the bytes
// (docs/sharded.md#reading).
#include <doctest/doctest.h>

#include <filesystem>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_of(const st::tensor_range& range) {
  std::vector<std::string> out;
  for (const st::tensor_info t : range) out.emplace_back(t.name());
  return out;
}

std::vector<std::string> names_of(const st::result<std::vector<st::tensor_info>>& list) {
  REQUIRE(list.has_value());
  std::vector<std::string> out;
  for (const st::tensor_info& t : *list) out.emplace_back(t.name());
  return out;
}

// The same accessors on every table: `t` holds "a" (U8[3]), "m" (I16[2]) and "z" (F64[1]).
template <class Table>
void same_lookup(const Table& t, const std::vector<std::string>& expected_order) {
  CHECK(t.size() == 3);
  CHECK(t.contains("a"));
  CHECK_FALSE(t.contains("b"));
  const std::optional<st::tensor_info> z = t.find("z");
  REQUIRE(z.has_value());
  CHECK(z->dtype() == st::dtype::F64);
  CHECK_FALSE(t.find("b").has_value());
  const st::result<st::tensor_info> m = t.at("m");
  REQUIRE(m.has_value());
  CHECK(m->dtype() == st::dtype::I16);
  CHECK(m->shape().size() == 1);
  CHECK(m->shape()[0] == 2);
  CHECK(t.at("b").error().code() == st::errc::tensor_not_found);
  CHECK(names_of(t.tensors()) == expected_order);
}

std::vector<st::tensor_spec> three_tensors(const std::vector<std::uint8_t>& a,
                                           const std::vector<std::int16_t>& m,
                                           const std::vector<double>& z) {
  return {{"a", st::dtype::U8, {3}, st::as_bytes(a), {}},
          {"m", st::dtype::I16, {2}, st::as_bytes(m), {}},
          {"z", st::dtype::F64, {1}, st::as_bytes(z), {}}};
}

}  // namespace

TEST_CASE("every table offers find, at, contains, size and tensors") {
  const std::vector<std::uint8_t> a{1, 2, 3};
  const std::vector<std::int16_t> m{-1, 7};
  const std::vector<double> z{0.5};
  st_test::temp_dir dir;
  const auto specs = three_tensors(a, m, z);
  REQUIRE(st::save_file(dir.file("model.safetensors"), specs).has_value());
  // The writer puts the larger alignments first: z (F64), m (I16), a (U8).
  const std::vector<std::string> offset_order{"z", "m", "a"};

  const auto bytes = st_test::read_file(dir.file("model.safetensors"));
  auto view = st::parse(st::as_bytes(bytes));
  REQUIRE(view);
  same_lookup(view->header(), offset_order);
  same_lookup(*view, offset_order);
  auto mapped = st::mapped_file::open(dir.file("model.safetensors"));
  REQUIRE(mapped);
  same_lookup(*mapped, offset_order);
  auto reader = st::source_reader::open(dir.file("model.safetensors"));
  REQUIRE(reader);
  same_lookup(*reader, offset_order);
  auto single = st::checkpoint::open(dir.path());
  REQUIRE(single);
  same_lookup(*single, offset_order);

  // source_reader::tensors() is its header's, entry for entry.
  const st::tensor_range from_reader = reader->tensors();
  const st::tensor_range from_header = reader->header().tensors();
  REQUIRE(from_reader.size() == from_header.size());
  for (std::size_t i = 0; i < from_reader.size(); ++i) {
    CHECK(from_reader[i].name() == from_header[i].name());
    CHECK(from_reader[i].offsets().begin == from_header[i].offsets().begin);
    CHECK(from_reader[i].offsets().end == from_header[i].offsets().end);
  }

  // Sharded: "a" and "m" in shard 1 (offsets: m, a), "z" in shard 2; the index's order is by
  // name, tensors() by shard then offset.
  st::sharded_write_options o;
  o.max_shard_size = 8;  // a (3 bytes) + m (4 bytes), then z (8 bytes)
  const auto layout = st::save_sharded(dir.file("sharded"), specs, o);
  REQUIRE(layout);
  REQUIRE(layout->shard_count() == 2);
  auto sharded = st::checkpoint::open(dir.file("sharded"));
  REQUIRE(sharded);
  same_lookup(*sharded, {"m", "a", "z"});
  std::vector<std::string> by_name;
  for (const st::index_entry& e : sharded->entries()) by_name.push_back(e.name);
  CHECK(by_name == std::vector<std::string>{"a", "m", "z"});
  // The entries are the shards' own: shape, dtype and offsets as each shard's header has them.
  auto list = sharded->tensors();
  REQUIRE(list);
  for (const st::tensor_info& t : *list) {
    const auto s = sharded->shard(*sharded->shard_of(t.name())).value();
    const auto own = s.header().at(t.name()).value();
    CHECK(own.offsets().begin == t.offsets().begin);
    CHECK(own.offsets().end == t.offsets().end);
    CHECK(own.dtype() == t.dtype());
  }
}

TEST_CASE("checkpoint::tensors opens every shard; entries and contains open none") {
  const std::vector<std::uint8_t> a{1, 2, 3};
  const std::vector<std::int16_t> m{-1, 7};
  const std::vector<double> z{0.5};
  st_test::temp_dir dir;
  st::sharded_write_options o;
  o.max_shard_size = 8;
  const auto layout = st::save_sharded(dir.path(), three_tensors(a, m, z), o);
  REQUIRE(layout);
  REQUIRE(layout->shard_count() == 2);
  fs::remove(dir.file(layout->shards()[1]));  // z's shard

  auto ckpt = st::checkpoint::open(dir.path());
  REQUIRE(ckpt);
  CHECK(ckpt->size() == 3);
  CHECK(ckpt->contains("z"));
  CHECK(ckpt->entries().size() == 3);
  CHECK(ckpt->find("a").has_value());  // a's shard opens
  const auto list = ckpt->tensors();
  REQUIRE_FALSE(list.has_value());
  CHECK(list.error().code() == st::errc::io_error);
  CHECK(list.error().message().find(layout->shards()[1]) != std::string::npos);
}

TEST_CASE("checkpoint::tensors lists the index's tensors only, and each must be in its shard") {
  const std::vector<std::uint8_t> a{1, 2, 3};
  const std::vector<std::int16_t> m{-1, 7};
  const std::vector<double> z{0.5};
  st_test::temp_dir dir;
  REQUIRE(st::save_file(dir.file("one.safetensors"), three_tensors(a, m, z)).has_value());

  SUBCASE("a tensor the shard holds but the index does not list is left out") {
    st::shard_index index;
    index.shards = {"one.safetensors"};
    index.weight_map = {{"z", 0}, {"a", 0}};
    auto ckpt = st::checkpoint::open(index, dir.path());
    REQUIRE(ckpt);
    CHECK(names_of(ckpt->tensors()) == std::vector<std::string>{"z", "a"});
  }
  SUBCASE("a listed tensor its shard does not hold is TensorNotFound") {
    st::shard_index index;
    index.shards = {"one.safetensors"};
    index.weight_map = {{"a", 0}, {"ghost", 0}, {"m", 0}, {"z", 0}};
    auto ckpt = st::checkpoint::open(index, dir.path());
    REQUIRE(ckpt);
    const auto list = ckpt->tensors();
    REQUIRE_FALSE(list.has_value());
    CHECK(list.error().code() == st::errc::tensor_not_found);
    CHECK(list.error().message().find("'ghost'") != std::string::npos);
  }
  SUBCASE("an empty checkpoint has no tensors") {
    st::shard_index index;
    auto ckpt = st::checkpoint::open(index, dir.path());
    REQUIRE(ckpt);
    CHECK(names_of(ckpt->tensors()).empty());
  }
}
