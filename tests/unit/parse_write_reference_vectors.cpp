// The reference implementation's own test vectors, read back through this library.
//
// Every input is written out as the literal bytes of docs/format.md#conformance-vectors and
// docs/writer.md#conformance-vectors (Rust safetensors/src/tensor.rs `mod tests` and Python
// bindings/python/tests), never built with the library. Valid files: the whole table is checked
// (names, dtype, shape, offsets, sizes, metadata, header size, data bytes, decoded values). Invalid
// files: the error code AND the reference's error name (SafeTensorError variant) are checked.
#include <doctest/doctest.h>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;
using namespace std::string_literals;

st::result<st::file_view> ref_parse(const std::string& bytes, const st::parse_options& opts = {}) {
  return st::parse(st::as_bytes(bytes), opts);
}

// The same bytes through the pread-style reader (the reference's Python `pread` backend runs the
// same read_metadata as mmap, so both must agree).
st::result<st::source_reader> ref_source(const std::string& bytes,
                                         const st::parse_options& opts = {}) {
  const st::span<const std::byte> span(reinterpret_cast<const std::byte*>(bytes.data()),
                                       bytes.size());
  return st::source_reader::open(std::make_unique<st::memory_source>(span), opts);
}

std::vector<std::uint8_t> ref_u8(st::span<const std::byte> s) {
  std::vector<std::uint8_t> out;
  for (std::byte b : s) out.push_back(std::to_integer<std::uint8_t>(b));
  return out;
}

std::vector<std::uint8_t> ref_u8(const std::string& s) {
  std::vector<std::uint8_t> out;
  for (char c : s) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

std::vector<std::uint64_t> ref_dims(st::span<const std::uint64_t> s) {
  return std::vector<std::uint64_t>(s.begin(), s.end());
}

// An IEEE binary32 from its little-endian bytes, decoded by hand (independent of the library).
float ref_f32(const std::uint8_t* p) {
  const std::uint32_t bits =
      static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
      (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  float f = 0;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// A bfloat16 from its two little-endian bytes: the high half of a binary32.
float ref_bf16(const std::uint8_t* p) {
  const std::uint8_t wide[4] = {0, 0, p[0], p[1]};
  return ref_f32(wide);
}

struct ref_tensor {
  std::string name;
  st::dtype type;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
  std::uint64_t elements;
  std::vector<std::uint8_t> data;
};

// Checks the full table of `f` against `want` (given in offset order).
void ref_check_table(const st::file_view& f, const std::vector<ref_tensor>& want) {
  REQUIRE(f.size() == want.size());
  REQUIRE(f.tensors().size() == want.size());
  CHECK(f.header().size() == want.size());
  CHECK(f.header().empty() == want.empty());
  std::uint64_t data_end = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const ref_tensor& w = want[i];
    INFO("tensor #" << i << " '" << w.name << "'");
    const st::tensor_info t = f.tensors()[i];
    CHECK(std::string(t.name()) == w.name);
    CHECK(t.dtype() == w.type);
    CHECK(ref_dims(t.shape()) == w.shape);
    CHECK(t.rank() == w.shape.size());
    CHECK(t.offsets().begin == w.begin);
    CHECK(t.offsets().end == w.end);
    CHECK(t.byte_size() == w.end - w.begin);
    CHECK(t.element_count() == w.elements);
    CHECK(f.header().contains(w.name));
    const auto found = f.header().find(w.name);
    REQUIRE(found.has_value());
    CHECK(found->offsets().begin == w.begin);
    CHECK(found->offsets().end == w.end);
    const auto at = f.header().at(w.name);
    REQUIRE(at.has_value());
    CHECK(std::string(at->name()) == w.name);
    const auto view = f.tensor(w.name);
    REQUIRE(view.has_value());
    CHECK(view->byte_size() == w.data.size());
    CHECK(ref_u8(view->bytes()) == w.data);
    CHECK(view->element_count() == w.elements);
    CHECK(view->dtype() == w.type);
    if (w.end > data_end) data_end = w.end;
  }
  CHECK(f.header().data_size() == data_end);
  CHECK(f.data().size() == data_end);
}

}  // namespace

// Checks that `res` (a result<...>) is an error with code `code_` and reference name `name_`.
#define REF_CHECK_ERROR(res, code_, name_)                             \
  do {                                                                 \
    const auto& ref_r_ = (res);                                        \
    CHECK_FALSE(ref_r_.has_value());                                   \
    if (!ref_r_.has_value()) {                                         \
      INFO("error: " << ref_r_.error().to_string());                   \
      CHECK(ref_r_.error().code() == (code_));                         \
      CHECK(std::string(ref_r_.error().name()) == std::string(name_)); \
    }                                                                  \
  } while (false)

TEST_SUITE("reference") {
  // ------------------------------------------------------------------------------------------
  // Rust unit tests (safetensors/src/tensor.rs; docs/format.md#conformance-vectors)
  // ------------------------------------------------------------------------------------------

  // Vector B (docs/format.md#conformance-vectors): N8(60) + the unpadded 60-byte JSON + 16 zeros.
  TEST_CASE("test_deserialization / test_lifetimes: vector B") {
    const std::string b = "<\0\0\0\0\0\0\0"s +
                          R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
                          "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(b.size() == 8 + 60 + 16);
    const auto f = ref_parse(b);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 60);
    CHECK(f->header().data_offset() == 68);
    CHECK(f->header().file_size() == 84);
    CHECK_FALSE(f->metadata().has_value());
    ref_check_table(*f,
                    {{"test", st::dtype::I32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)}});
    // The data span starts right after the header, inside the caller's buffer (zero copy).
    CHECK(static_cast<const void*>(f->data().data()) == static_cast<const void*>(b.data() + 68));
    const auto view = f->tensor("test");
    REQUIRE(view.has_value());
    const auto ints = view->as<std::int32_t>();
    REQUIRE(ints.has_value());
    CHECK(ints->to_vector() == std::vector<std::int32_t>{0, 0, 0, 0});
    CHECK(f->header().tensors_by_name().size() == 1);
    CHECK(std::string(f->header().tensors_by_name()[0].name()) == "test");

    // The pread-style reader sees the same table.
    const auto r = ref_source(b);
    REQUIRE(r.has_value());
    CHECK(r->header().size() == 1);
    CHECK(r->header().header_size() == 60);
    const auto bytes = r->read(*r->header().find("test"));
    REQUIRE(bytes.has_value());
    CHECK(bytes->size() == 16);
  }

  TEST_CASE("test_empty_shapes_allowed: a scalar I32") {
    const std::string bytes = "8\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})" +
                              "\0\0\0\0"s;
    REQUIRE(bytes.size() == 8 + 56 + 4);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 56);
    CHECK_FALSE(f->metadata().has_value());
    ref_check_table(*f, {{"test", st::dtype::I32, {}, 0, 4, 1, {0, 0, 0, 0}}});
  }

  TEST_CASE("test_zero_sized_tensor: I32 [2,0] at [0, 0], no data") {
    const std::string bytes =
        "<\0\0\0\0\0\0\0"s + R"({"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}})";
    REQUIRE(bytes.size() == 8 + 60);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 60);
    CHECK(f->header().file_size() == 68);
    ref_check_table(*f, {{"test", st::dtype::I32, {2, 0}, 0, 0, 0, {}}});
    const auto view = f->tensor("test");
    REQUIRE(view.has_value());
    CHECK(view->bytes().empty());
  }

  TEST_CASE("test_whitespace_padded_header: {}\\r \\t\\n") {
    const std::string bytes = "\x06\0\0\0\0\0\0\0{}\x0D\x20\x09\x0A"s;
    REQUIRE(bytes.size() == 14);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->size() == 0);
    CHECK(f->header().empty());
    CHECK(f->header().header_size() == 6);
    CHECK(f->header().data_size() == 0);
    CHECK_FALSE(f->metadata().has_value());
    CHECK(ref_source(bytes).has_value());
  }

  TEST_CASE("test_whitespace_leading_padded_header: \\t\\n{}\\r ") {
    const std::string bytes = "\x06\0\0\0\0\0\0\0\x09\x0A{}\x0D\x20"s;
    REQUIRE(bytes.size() == 14);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->size() == 0);
    CHECK(f->header().header_size() == 6);
    CHECK_FALSE(f->metadata().has_value());
    CHECK(ref_source(bytes).has_value());
  }

  TEST_CASE("test_metadata_incomplete_buffer: polyglot trailing data") {
    const std::string bytes =
        "<\0\0\0\0\0\0\0"s + R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s + "extra_bogus_data_for_polyglot_file";
    REQUIRE(bytes.size() == 84 + 34);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
  }

  TEST_CASE("test_metadata_incomplete_buffer: missing 2 bytes") {
    const std::string bytes = "<\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
                              "\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 82);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
  }

  TEST_CASE("test_header_too_large: prefix 3C 00 00 00 00 FF FF FF") {
    const std::string bytes = "<\0\0\0\0\xff\xff\xff"s +
                              R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
                              "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 84);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::header_too_large, "HeaderTooLarge");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::header_too_large, "HeaderTooLarge");
  }

  TEST_CASE("test_header_too_small: empty input") {
    const std::string bytes;
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::header_too_small, "HeaderTooSmall");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::header_too_small, "HeaderTooSmall");
  }

  TEST_CASE("test_invalid_header_length: N8(60) only") {
    const std::string bytes = "<\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 8);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::invalid_header_length, "InvalidHeaderLength");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::invalid_header_length, "InvalidHeaderLength");
  }

  TEST_CASE("test_invalid_header_non_utf8: N8(1) FF") {
    const std::string bytes = "\x01\0\0\0\0\0\0\0\xff"s;
    REQUIRE(bytes.size() == 9);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::invalid_header, "InvalidHeader");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::invalid_header, "InvalidHeader");
  }

  TEST_CASE("test_invalid_header_not_json: N8(1) {") {
    const std::string bytes = "\x01\0\0\0\0\0\0\0{"s;
    REQUIRE(bytes.size() == 9);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::invalid_header_deserialization,
                    "InvalidHeaderDeserialization");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::invalid_header_deserialization,
                    "InvalidHeaderDeserialization");
  }

  TEST_CASE("test_invalid_info: I32 [2,2] at [0, 4], no data") {
    const std::string bytes =
        "<\0\0\0\0\0\0\0"s + R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}})";
    REQUIRE(bytes.size() == 68);
    // validate() fails before the buffer-length check (which would also fail here).
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::tensor_invalid_info, "TensorInvalidInfo");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::tensor_invalid_info, "TensorInvalidInfo");
  }

  TEST_CASE("test_validation_overflow: element product [2,18446744073709551614]") {
    const std::string json =
        R"({"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}})";
    REQUIRE(json.size() == 79);
    const std::string bytes = "O\0\0\0\0\0\0\0"s + json + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::validation_overflow, "ValidationOverflow");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::validation_overflow, "ValidationOverflow");
  }

  TEST_CASE("test_validation_overflow: bit product [2,9223372036854775807] x 32") {
    const std::string json =
        R"({"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}})";
    REQUIRE(json.size() == 78);
    const std::string bytes = "N\0\0\0\0\0\0\0"s + json + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::validation_overflow, "ValidationOverflow");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::validation_overflow, "ValidationOverflow");
  }

  TEST_CASE("test_json_attack: 10 tensors all at [0,16]") {
    const std::string json = R"({"weight_0":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_1":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_2":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_3":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_4":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_5":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_6":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_7":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_8":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("weight_9":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
    const auto n = st_test::le64(json.size());
    const std::string bytes =
        std::string(n.begin(), n.end()) + json + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    const auto r = ref_parse(bytes);
    REF_CHECK_ERROR(r, st::errc::invalid_offset, "InvalidOffset");
    if (!r) CHECK(r.error().message().find("weight_") != std::string::npos);
    REF_CHECK_ERROR(ref_source(bytes), st::errc::invalid_offset, "InvalidOffset");
  }

  // Writer-side Rust vectors, read back: the bytes the reference writes must load.
  TEST_CASE("test_serialization (Rust writer bytes): attn.0 F32 [1,2,3] = 0..5") {
    const std::string bytes =
        "@\0\0\0\0\0\0\0"s + R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})" +
        "\x00\x00\x00\x00"
        "\x00\x00\x80\x3f"
        "\x00\x00\x00\x40"
        "\x00\x00\x40\x40"
        "\x00\x00\x80\x40"
        "\x00\x00\xa0\x40"s;
    REQUIRE(bytes.size() == 8 + 64 + 24);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 64);
    const std::vector<std::uint8_t> data = ref_u8(bytes.substr(72));
    ref_check_table(*f, {{"attn.0", st::dtype::F32, {1, 2, 3}, 0, 24, 6, data}});
    const auto floats = f->tensor("attn.0")->as<float>();
    REQUIRE(floats.has_value());
    CHECK(floats->to_vector() == std::vector<float>{0.f, 1.f, 2.f, 3.f, 4.f, 5.f});
    for (std::size_t i = 0; i < 6; ++i)
      CHECK(ref_f32(data.data() + 4 * i) == static_cast<float>(i));
  }

  TEST_CASE("test_serialization_fp4 (Rust writer bytes): attn.0 F4 [1,2] in one byte") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"attn.0":{"dtype":"F4","shape":[1,2],"data_offsets":[0,1]}})" +
                              "    \0"s;
    REQUIRE(bytes.size() == 73);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 64);
    ref_check_table(*f, {{"attn.0", st::dtype::F4, {1, 2}, 0, 1, 2, {0}}});
  }

  TEST_CASE("test_empty (Rust writer bytes): no tensors; then metadata only") {
    const std::string empty = "\x08\0\0\0\0\0\0\0{}      "s;
    REQUIRE(empty.size() == 16);
    const auto f = ref_parse(empty);
    REQUIRE(f.has_value());
    CHECK(f->size() == 0);
    CHECK(f->header().header_size() == 8);
    CHECK_FALSE(f->metadata().has_value());

    const std::string md = "(\0\0\0\0\0\0\0"s + R"({"__metadata__":{"framework":"pt"}})" + "     ";
    REQUIRE(md.size() == 48);
    const auto g = ref_parse(md);
    REQUIRE(g.has_value());
    CHECK(g->size() == 0);
    CHECK(g->header().header_size() == 40);
    REQUIRE(g->metadata().has_value());
    CHECK(*g->metadata() == st::metadata_map{{"framework", "pt"}});
  }

  TEST_CASE("test_serialization_forced_alignement (Rust writer bytes): N=72, data 8-aligned") {
    const std::string json = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
    REQUIRE(json.size() == 65);
    const std::string bytes = "H\0\0\0\0\0\0\0"s + json + "       " + std::string(24, '\x11');
    REQUIRE(bytes.size() == 8 + 72 + 24);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 72);
    CHECK(f->header().data_offset() % 8 == 0);
    ref_check_table(
        *f,
        {{"attn0", st::dtype::F32, {1, 1, 2, 3}, 0, 24, 6, std::vector<std::uint8_t>(24, 0x11)}});
  }

  // ------------------------------------------------------------------------------------------
  // Python tests (bindings/python/tests; docs/writer.md#conformance-vectors)
  // ------------------------------------------------------------------------------------------

  TEST_CASE("test_simple.py test_serialization: I32 [2,2] zeros, N=64") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
                              "    " + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 88);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 64);
    CHECK(f->header().data_offset() == 72);
    CHECK_FALSE(f->metadata().has_value());
    ref_check_table(*f,
                    {{"test", st::dtype::I32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)}});
  }

  TEST_CASE("test_simple.py test_serialization: I32 [2,2] with [1,1] = 1") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
                              "    " + "\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0"s;
    REQUIRE(bytes.size() == 88);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    ref_check_table(*f, {{"test",
                          st::dtype::I32,
                          {2, 2},
                          0,
                          16,
                          4,
                          {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}}});
    const auto ints = f->tensor("test")->as<std::int32_t>();
    REQUIRE(ints.has_value());
    CHECK(ints->to_vector() == std::vector<std::int32_t>{0, 0, 0, 1});
  }

  TEST_CASE("test_simple.py test_deserialization_metadata: N=102, unaligned, metadata") {
    const std::string json =
        R"({"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
    REQUIRE(json.size() == 95);
    const std::string bytes =
        "f\0\0\0\0\0\0\0"s + json + "       " + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 8 + 102 + 16);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 102);
    CHECK(f->header().data_offset() == 110);  // not a multiple of 8: unaligned data is legal
    REQUIRE(f->metadata().has_value());
    CHECK(*f->metadata() == st::metadata_map{{"framework", "pt"}});
    ref_check_table(
        *f, {{"test1", st::dtype::I32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)}});
    // Typed access copes with the unaligned data.
    const auto ints = f->tensor("test1")->as<std::int32_t>();
    REQUIRE(ints.has_value());
    CHECK(ints->to_vector() == std::vector<std::int32_t>{0, 0, 0, 0});
    const auto r = ref_source(bytes);
    REQUIRE(r.has_value());
    REQUIRE(r->header().metadata().has_value());
    CHECK(r->header().metadata()->at("framework") == "pt");
  }

  TEST_CASE("test_simple.py test_serialization_metadata: N=96") {
    const std::string bytes =
        "`\0\0\0\0\0\0\0"s +
        R"({"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" +
        " " + "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"s;
    REQUIRE(bytes.size() == 8 + 96 + 16);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 96);
    REQUIRE(f->metadata().has_value());
    CHECK(*f->metadata() == st::metadata_map{{"framework", "pt"}});
    ref_check_table(
        *f, {{"test1", st::dtype::I32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)}});
  }

  TEST_CASE("test_simple.py test_serialization_forces_alignment: N=128, data at 136") {
    const std::string json = R"({"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("test2":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}})";
    REQUIRE(json.size() == 122);
    const std::string bytes = "\x80\0\0\0\0\0\0\0"s + json + "      " + std::string(24, '\0');
    REQUIRE(bytes.size() == 8 + 128 + 24);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 128);
    CHECK(f->header().data_offset() == 136);
    CHECK(f->header().data_offset() % 8 == 0);
    CHECK(f->header().file_size() == bytes.size());
    CHECK_FALSE(f->metadata().has_value());
    ref_check_table(
        *f, {{"test1", st::dtype::I32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)},
             {"test2", st::dtype::F16, {2, 2}, 16, 24, 4, std::vector<std::uint8_t>(8, 0)}});
  }

  TEST_CASE("test_pt_comparison.py test_in_memory: F32 [2,2] zeros") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})" +
                              "    " + std::string(16, '\0');
    REQUIRE(bytes.size() == 88);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    ref_check_table(*f,
                    {{"test", st::dtype::F32, {2, 2}, 0, 16, 4, std::vector<std::uint8_t>(16, 0)}});
    const auto floats = f->tensor("test")->as<float>();
    REQUIRE(floats.has_value());
    CHECK(floats->to_vector() == std::vector<float>{0.f, 0.f, 0.f, 0.f});
  }

  TEST_CASE("test_pt_comparison.py test_serialization: BF16 [2,2], [0,0] = 2.25, rest 1") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})" +
                              "    " + "\x10\x40\x80\x3f\x80\x3f\x80\x3f"s;
    REQUIRE(bytes.size() == 8 + 64 + 8);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    CHECK(f->header().header_size() == 64);
    const std::vector<std::uint8_t> data{0x10, 0x40, 0x80, 0x3f, 0x80, 0x3f, 0x80, 0x3f};
    ref_check_table(*f, {{"test", st::dtype::BF16, {2, 2}, 0, 8, 4, data}});
    const auto view = f->tensor("test");
    REQUIRE(view.has_value());
    const auto got = ref_u8(view->bytes());
    REQUIRE(got.size() == 8);
    CHECK(ref_bf16(got.data() + 0) == 2.25f);
    CHECK(ref_bf16(got.data() + 2) == 1.0f);
    CHECK(ref_bf16(got.data() + 4) == 1.0f);
    CHECK(ref_bf16(got.data() + 6) == 1.0f);
  }

  TEST_CASE("test_pt_comparison.py test_complex: C64 [2,2] zeros") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"C64","shape":[2,2],"data_offsets":[0,32]}})" +
                              "    " + std::string(32, '\0');
    REQUIRE(bytes.size() == 8 + 64 + 32);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    ref_check_table(*f,
                    {{"test", st::dtype::C64, {2, 2}, 0, 32, 4, std::vector<std::uint8_t>(32, 0)}});
    const auto c = f->tensor("test")->as<std::complex<float>>();
    REQUIRE(c.has_value());
    CHECK(c->to_vector() == std::vector<std::complex<float>>(4, {0.f, 0.f}));
  }

  TEST_CASE("test_pt_comparison.py test_complex: C64 [2,2], [1,1] = -1+1j") {
    const std::string bytes = "@\0\0\0\0\0\0\0"s +
                              R"({"test":{"dtype":"C64","shape":[2,2],"data_offsets":[0,32]}})" +
                              "    " + std::string(24, '\0') + "\x00\x00\x80\xbf\x00\x00\x80\x3f"s;
    REQUIRE(bytes.size() == 8 + 64 + 32);
    const auto f = ref_parse(bytes);
    REQUIRE(f.has_value());
    std::vector<std::uint8_t> data(24, 0);
    const std::vector<std::uint8_t> last{0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x80, 0x3f};
    data.insert(data.end(), last.begin(), last.end());
    ref_check_table(*f, {{"test", st::dtype::C64, {2, 2}, 0, 32, 4, data}});
    // Decoded by hand: each element is (re f32 LE, im f32 LE).
    CHECK(ref_f32(data.data() + 24) == -1.0f);
    CHECK(ref_f32(data.data() + 28) == 1.0f);
    // And through the typed view.
    const auto c = f->tensor("test")->as<std::complex<float>>();
    REQUIRE(c.has_value());
    REQUIRE(c->size() == 4);
    CHECK((*c)[0] == std::complex<float>(0.f, 0.f));
    CHECK((*c)[1] == std::complex<float>(0.f, 0.f));
    CHECK((*c)[2] == std::complex<float>(0.f, 0.f));
    CHECK((*c)[3] == std::complex<float>(-1.f, 1.f));
  }

  TEST_CASE("test_pread_backend.py test_truncated_header_is_rejected: half the header") {
    // A complete file (the BF16 vector), cut after 8 + N/2 bytes.
    const std::string full = "@\0\0\0\0\0\0\0"s +
                             R"({"test":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}})" +
                             "    " + "\x10\x40\x80\x3f\x80\x3f\x80\x3f"s;
    const std::string bytes = full.substr(0, 8 + 64 / 2);
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::invalid_header_length, "InvalidHeaderLength");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::invalid_header_length, "InvalidHeaderLength");
    // Through a real file and pread, as the Python test does.
    st_test::temp_dir dir;
    const auto path = dir.file("truncated.safetensors");
    st_test::write_file(path, ref_u8(bytes));
    REF_CHECK_ERROR(st::source_reader::open(path), st::errc::invalid_header_length,
                    "InvalidHeaderLength");
    REF_CHECK_ERROR(st::mapped_file::open(path), st::errc::invalid_header_length,
                    "InvalidHeaderLength");
  }

  TEST_CASE("test_pread_backend.py test_data_offset_overflow_is_rejected: the liar") {
    const std::string json =
        R"({"liar":{"dtype":"F32","shape":[1024,1024],"data_offsets":[0,4194304]}})";
    REQUIRE(json.size() == 71);
    const std::string bytes = "G\0\0\0\0\0\0\0"s + json + "\0"s;
    REQUIRE(bytes.size() == 8 + 71 + 1);
    // Offsets and shape agree (1024*1024*4 bytes), but the buffer holds 1 byte.
    REF_CHECK_ERROR(ref_parse(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    REF_CHECK_ERROR(ref_source(bytes), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    st_test::temp_dir dir;
    const auto path = dir.file("lying.safetensors");
    st_test::write_file(path, ref_u8(bytes));
    REF_CHECK_ERROR(st::source_reader::open(path), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    REF_CHECK_ERROR(st::mapped_file::open(path), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    // Trailing bytes may be allowed by option, truncation never.
    st::parse_options lenient;
    lenient.allow_trailing_bytes = true;
    REF_CHECK_ERROR(ref_parse(bytes, lenient), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
  }
}
