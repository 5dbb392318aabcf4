// Sharded checkpoints compiled and used with -fno-exceptions (for tests/noexcept/): hostile
// indexes give typed errors, and write -> open -> verify -> merge works; value() is never
// called on an error.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

static_assert(SAFETENSORS_NO_EXCEPTIONS == 1, "this file must be compiled with -fno-exceptions");

namespace {
namespace st = safetensors;

#define NXS_REQUIRE(...)        \
  do {                          \
    CHECK(__VA_ARGS__);         \
    if (!(__VA_ARGS__)) return; \
  } while (false)

template <class T>
std::string code_of(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}
}  // namespace

TEST_CASE("noexcept: hostile indexes are typed errors") {
  CHECK(code_of(st::parse_index("")) == "InvalidHeaderDeserialization");
  CHECK(code_of(st::parse_index("{\"weight_map\":{\"a\":1}}")) == "InvalidHeaderDeserialization");
  CHECK(code_of(st::parse_index("{\"weight_map\":{\"a\":\"../x\"}}")) ==
        "InvalidHeaderDeserialization");
  CHECK(code_of(st::parse_index("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}")) == "DuplicateKey");
  CHECK(code_of(st::parse_index(std::string(100000, '['))) == "InvalidHeaderDeserialization");
}

TEST_CASE("noexcept: save_sharded -> open -> verify -> merge") {
  st_test::temp_dir dir;
  std::vector<std::uint8_t> a(40, 1), b(24, 2), c(8, 3);
  auto spec = [](const char* name, const std::vector<std::uint8_t>& bytes) {
    st::tensor_spec s;
    s.name = name;
    s.dtype = st::dtype::U8;
    s.shape = {bytes.size()};
    s.bytes =
        st::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
    return s;
  };
  const std::vector<st::tensor_spec> tensors{spec("a", a), spec("b", b), spec("c", c)};
  st::sharded_write_options o;
  o.max_shard_size = 32;
  o.write.sync = false;
  auto layout = st::save_sharded(dir.path(), tensors, o);
  NXS_REQUIRE(code_of(layout) == "value");
  CHECK(layout->shard_count() == 2);
  auto ckpt = st::checkpoint::open(dir.path());
  NXS_REQUIRE(code_of(ckpt) == "value");
  CHECK(ckpt->verify().ok());
  CHECK(code_of(ckpt->at("missing")) == "TensorNotFound");
  CHECK_FALSE(ckpt->find("missing").has_value());
  auto bytes = ckpt->read("b");
  NXS_REQUIRE(code_of(bytes) == "value");
  CHECK(bytes->size() == 24);
  CHECK(code_of(st::merge_checkpoint(*ckpt, dir.file("merged.safetensors"))) == "value");
  auto merged = st::mapped_file::open(dir.file("merged.safetensors"));
  NXS_REQUIRE(code_of(merged) == "value");
  CHECK(merged->size() == 3);
  std::ofstream(dir.file("model.safetensors.index.json"))
      << "{\"weight_map\":{\"a\":\"/etc/passwd\"}}";
  CHECK(code_of(st::checkpoint::open(dir.path())) == "InvalidHeaderDeserialization");
}
