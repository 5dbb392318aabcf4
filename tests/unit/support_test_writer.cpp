// The test-only writer checked against the reference implementation's literal bytes
// (docs/writer.md#conformance-vectors: Python test_simple.py test_serialization, Rust tensor.rs
// test_empty).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace {
std::vector<std::uint8_t> concat(std::vector<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
}  // namespace

TEST_SUITE("test_writer") {
  TEST_CASE("le64 is little endian, byte by byte") {
    CHECK(st_test::le64(0) == std::vector<std::uint8_t>(8, 0));
    CHECK(st_test::le64(0x0102030405060708ULL) ==
          std::vector<std::uint8_t>{8, 7, 6, 5, 4, 3, 2, 1});
    CHECK(st_test::le64(~0ULL) == std::vector<std::uint8_t>(8, 0xFF));
  }

  TEST_CASE("I32 [2,2] zeros named test matches the reference bytes") {
    const std::vector<st_test::tensor_spec> tensors{
        {"test", "I32", {2, 2}, std::vector<std::uint8_t>(16, 0)}};
    const std::string json = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
    CHECK(st_test::header_json(tensors, std::nullopt) == json);
    const auto expected = concat({st_test::le64(64), st_test::bytes_of(json),
                                  st_test::bytes_of("    "), std::vector<std::uint8_t>(16, 0)});
    const auto file = st_test::make_file(tensors);
    CHECK(file == expected);
    CHECK(file.size() == 8 + 64 + 16);
    CHECK(file[0] == '@');
  }

  TEST_CASE("no tensors and no metadata") {
    const auto file = st_test::make_file({});
    const std::vector<std::uint8_t> expected{8,   0,   0,   0,   0,   0,   0,   0,
                                             '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    CHECK(file == expected);
  }

  TEST_CASE("metadata only") {
    const st_test::metadata_t md =
        std::vector<std::pair<std::string, std::string>>{{"framework", "pt"}};
    const auto file = st_test::make_file({}, md);
    const auto expected =
        concat({st_test::le64(40), st_test::bytes_of(R"({"__metadata__":{"framework":"pt"}})"),
                st_test::bytes_of("     ")});
    CHECK(file == expected);
  }

  TEST_CASE("make_raw is le64(N) + header + data, no padding") {
    const auto raw = st_test::make_raw("{}", {1, 2, 3});
    CHECK(raw == std::vector<std::uint8_t>{2, 0, 0, 0, 0, 0, 0, 0, '{', '}', 1, 2, 3});
    const std::string b = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
    const auto vec_b = st_test::make_raw(b, std::vector<std::uint8_t>(16, 0));
    CHECK(vec_b.size() == 8 + 60 + 16);
    CHECK(vec_b[0] == '<');  // the reference's literal prefix b"<\x00..."
    CHECK(std::vector<std::uint8_t>(vec_b.begin(), vec_b.begin() + 8) == st_test::le64(60));
    CHECK(st_test::make_raw("") == st_test::le64(0));
  }

  TEST_CASE("tensors keep the given order; metadata comes first; alignment") {
    const std::vector<st_test::tensor_spec> tensors{
        {"b", "U8", {2}, {1, 2}}, {"a", "F16", {}, {3, 4}}, {"z", "F32", {0}, {}}};
    const st_test::metadata_t md =
        std::vector<std::pair<std::string, std::string>>{{"y", "1"}, {"x", "2"}};
    const std::string json = R"({"__metadata__":{"y":"1","x":"2"},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("a":{"dtype":"F16","shape":[],"data_offsets":[2,4]},)"
                             R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
    CHECK(st_test::header_json(tensors, md) == json);
    const auto unpadded = st_test::make_file(tensors, md, 1);
    CHECK(unpadded == concat({st_test::make_raw(json), {1, 2, 3, 4}}));
    for (std::size_t align : {1u, 2u, 8u, 64u, 4096u}) {
      const auto f = st_test::make_file(tensors, md, align);
      CHECK((f.size() - 4) % align == 0);
    }
  }

  TEST_CASE("dtype table and byte_size") {
    const auto names = st_test::dtype_names();
    REQUIRE(names.size() == 22);
    CHECK(names.front() == "BOOL");
    CHECK(names[10] == "F8_E5M2FNUZ");
    CHECK(names.back() == "U64");
    CHECK(st_test::dtype_bits("F6_E3M2") == 6);
    CHECK(st_test::byte_size("I32", {2, 2}) == 16);
    CHECK(st_test::byte_size("F4", {1, 2}) == 1);
    CHECK(st_test::byte_size("F6_E2M3", {4}) == 3);
    CHECK(st_test::byte_size("C64", {}) == 8);
    CHECK(st_test::byte_size("BOOL", {3, 0}) == 0);
  }

  TEST_CASE("temp_dir and file helpers") {
    std::filesystem::path kept;
    {
      st_test::temp_dir dir;
      kept = dir.path();
      CHECK(std::filesystem::is_directory(kept));
      const std::vector<std::uint8_t> bytes{0, 1, 2, 255, 10, 13};
      st_test::write_file(dir.file("a.bin"), bytes);
      CHECK(st_test::read_file(dir.file("a.bin")) == bytes);
      st_test::write_file(dir.file("empty.bin"), {});
      CHECK(st_test::read_file(dir.file("empty.bin")).empty());
      st_test::temp_dir other;
      CHECK(other.path() != dir.path());
    }
    CHECK_FALSE(std::filesystem::exists(kept));
  }
}
