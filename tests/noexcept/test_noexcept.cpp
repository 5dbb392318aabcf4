// The reader compiled and used with -fno-exceptions: every outcome is checked through
// has_value()/error(); value() is never called on an error (it would abort).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <safetensors/safetensors.hpp>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "test_writer.hpp"

static_assert(SAFETENSORS_NO_EXCEPTIONS == 1, "this file must be compiled with -fno-exceptions");

namespace st = safetensors;

// REQUIRE needs exceptions in doctest; this stops the test case instead.
#define NX_REQUIRE(...)         \
  do {                          \
    CHECK(__VA_ARGS__);         \
    if (!(__VA_ARGS__)) return; \
  } while (false)

namespace {

st::span<const std::byte> byte_span(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

bool same_bytes(st::span<const std::byte> a, const std::vector<std::uint8_t>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (std::to_integer<std::uint8_t>(a[i]) != b[i]) return false;
  }
  return true;
}

template <class T>
bool is_error(const st::result<T>& r, st::errc code) {
  return !r.has_value() && r.error().code() == code && !r.error().message().empty();
}

// F32 [2] = {1.0, -2.5}; I16 [3] = {1, -1, 256}; U8 [0].
std::vector<st_test::tensor_spec> specs() {
  return {
      {"w", "F32", {2}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0}},
      {"b", "I16", {3}, {0x01, 0x00, 0xFF, 0xFF, 0x00, 0x01}},
      {"e", "U8", {0}, {}},
  };
}

}  // namespace

TEST_SUITE("noexcept") {
  TEST_CASE("parse a valid file and read its tensors") {
    const st_test::metadata_t md = std::vector<std::pair<std::string, std::string>>{{"k", "v"}};
    const auto file = st_test::make_file(specs(), md);
    auto fv = st::parse(byte_span(file));
    NX_REQUIRE(fv.has_value());
    CHECK(fv->size() == 3);
    NX_REQUIRE(fv->metadata().has_value());
    CHECK(fv->metadata()->size() == 1);
    CHECK(fv->metadata()->begin()->first == "k");
    CHECK(fv->metadata()->begin()->second == "v");
    CHECK(fv->header().data_size() == 14);
    CHECK(fv->header().file_size() == file.size());

    auto w = fv->tensor("w");
    NX_REQUIRE(w.has_value());
    CHECK(w->info().offsets().begin == 0);
    CHECK(w->info().offsets().end == 8);
    CHECK(same_bytes(w->bytes(), specs()[0].data));
    auto wf = w->as<float>();
    NX_REQUIRE(wf.has_value());
    CHECK(wf->size() == 2);
    CHECK((*wf)[0] == 1.0f);
    CHECK((*wf)[1] == -2.5f);

    auto b = fv->tensor("b");
    NX_REQUIRE(b.has_value());
    auto bi = b->as<std::int16_t>();
    NX_REQUIRE(bi.has_value());
    CHECK(bi->to_vector() == std::vector<std::int16_t>{1, -1, 256});

    auto e = fv->tensor("e");
    NX_REQUIRE(e.has_value());
    CHECK(e->byte_size() == 0);
    auto eu = e->as<std::uint8_t>();
    NX_REQUIRE(eu.has_value());
    CHECK(eu->empty());
  }

  TEST_CASE("typed access errors are values") {
    const auto file = st_test::make_file(specs());
    auto fv = st::parse(byte_span(file));
    NX_REQUIRE(fv.has_value());
    auto w = fv->tensor("w");
    NX_REQUIRE(w.has_value());
    auto wrong = w->as<std::int32_t>();
    CHECK(is_error(wrong, st::errc::dtype_mismatch));
    if (!wrong.has_value()) {
      CHECK(wrong.error().message().find("F32") != std::string::npos);
      CHECK(wrong.error().message().find("I32") != std::string::npos);
    }
    auto wf = w->as<float>();
    NX_REQUIRE(wf.has_value());
    float one[1] = {0.0f};
    auto r = wf->copy_to(st::span<float>(one));
    CHECK(is_error(r, st::errc::invalid_argument));
    float two[2] = {0.0f, 0.0f};
    auto ok = wf->copy_to(st::span<float>(two));
    CHECK(ok.has_value());
    CHECK(two[1] == -2.5f);
  }

  TEST_CASE("invalid files give typed errors") {
    auto trailing = st_test::make_file(specs());
    trailing.push_back(0);
    CHECK(is_error(st::parse(byte_span(trailing)), st::errc::metadata_incomplete_buffer));

    const std::vector<std::uint8_t> tiny{1, 2, 3};
    CHECK(is_error(st::parse(byte_span(tiny)), st::errc::header_too_small));
    CHECK(is_error(st::parse(st::span<const std::byte>()), st::errc::header_too_small));

    CHECK(is_error(st::parse(byte_span(st_test::make_raw("[1,2]"))),
                   st::errc::invalid_header_deserialization));
    CHECK(is_error(st::parse(byte_span(st_test::le64(200000000))), st::errc::header_too_large));

    const auto dup = st_test::make_raw(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                       R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                       {1, 2});
    auto d = st::parse(byte_span(dup));
    CHECK(is_error(d, st::errc::duplicate_key));
    if (!d.has_value()) CHECK(d.error().to_string().rfind("DuplicateKey: ", 0) == 0);

    const auto dup_md = st_test::make_raw(R"({"__metadata__":{"a":"1","a":"2"}})");
    CHECK(is_error(st::parse(byte_span(dup_md)), st::errc::duplicate_key));
  }

  TEST_CASE("TensorNotFound paths") {
    const auto file = st_test::make_file(specs());
    auto fv = st::parse(byte_span(file));
    NX_REQUIRE(fv.has_value());
    CHECK(is_error(fv->tensor("missing"), st::errc::tensor_not_found));
    CHECK(is_error(fv->header().at("missing"), st::errc::tensor_not_found));
    CHECK_FALSE(fv->find("missing").has_value());
    CHECK_FALSE(fv->header().contains("missing"));
    CHECK(fv->header().contains("w"));

    auto r = st::source_reader::open(std::make_unique<st::memory_source>(byte_span(file)));
    NX_REQUIRE(r.has_value());
    std::vector<std::byte> buf(8);
    CHECK(is_error(r->read_into("missing", st::span<std::byte>(buf)), st::errc::tensor_not_found));
  }

  TEST_CASE("mapped_file::open and source_reader::open over temporary files") {
    st_test::temp_dir dir;
    const auto file = st_test::make_file(specs());
    const std::filesystem::path p = dir.file("nx.safetensors");
    st_test::write_file(p, file);

    auto m = st::mapped_file::open(p.string());
    NX_REQUIRE(m.has_value());
    CHECK(m->size() == 3);
    auto mw = m->tensor("w");
    NX_REQUIRE(mw.has_value());
    CHECK(same_bytes(mw->bytes(), specs()[0].data));
    auto mb = m->tensor("b");
    NX_REQUIRE(mb.has_value());
    auto mbi = mb->as<std::int16_t>();
    NX_REQUIRE(mbi.has_value());
    CHECK((*mbi)[2] == 256);

    auto r = st::source_reader::open(p);
    NX_REQUIRE(r.has_value());
    CHECK(r->header().size() == 3);
    auto info = r->header().find("b");
    NX_REQUIRE(info.has_value());
    std::vector<std::byte> buf(6);
    auto ok = r->read_into(*info, st::span<std::byte>(buf));
    NX_REQUIRE(ok.has_value());
    CHECK(same_bytes(st::span<const std::byte>(buf.data(), buf.size()), specs()[1].data));
    std::vector<std::byte> small(5);
    CHECK(is_error(r->read_into(*info, st::span<std::byte>(small)), st::errc::invalid_argument));
    auto v = r->read(*info);
    NX_REQUIRE(v.has_value());
    CHECK(v->size() == 6);

    // Errors from the file paths.
    const std::filesystem::path missing = dir.file("missing.safetensors");
    auto em = st::mapped_file::open(missing.string());
    CHECK(is_error(em, st::errc::io_error));
    if (!em.has_value()) CHECK(em.error().message().find(missing.string()) != std::string::npos);
    CHECK(is_error(st::source_reader::open(missing), st::errc::io_error));
    CHECK(is_error(st::file_mapping::open(missing.string()), st::errc::io_error));

    const std::filesystem::path bad = dir.file("bad.safetensors");
    auto bad_bytes = file;
    bad_bytes.pop_back();
    st_test::write_file(bad, bad_bytes);
    auto eb = st::mapped_file::open(bad);
    CHECK(is_error(eb, st::errc::metadata_incomplete_buffer));
    if (!eb.has_value()) CHECK(eb.error().message().find("bad.safetensors") != std::string::npos);
    CHECK(is_error(st::source_reader::open(bad.string()), st::errc::metadata_incomplete_buffer));

    const std::filesystem::path empty = dir.file("empty.safetensors");
    st_test::write_file(empty, {});
    CHECK(is_error(st::mapped_file::open(empty), st::errc::header_too_small));
    CHECK(is_error(st::source_reader::open(empty), st::errc::header_too_small));
  }

  TEST_CASE("result and error without exceptions") {
    st::result<int> ok = 7;
    CHECK(ok.has_value());
    CHECK(ok.value() == 7);  // value() on a value is fine
    st::result<int> bad = st::error(st::errc::invalid_offset, "detail");
    CHECK_FALSE(bad);
    CHECK(bad.error().code() == st::errc::invalid_offset);
    CHECK(bad.error().to_string() == "InvalidOffset: detail");
    st::result<void> v;
    CHECK(v.has_value());
    v.value();  // success: does nothing
    st::result<void> verr = st::error(st::errc::io_error, "x");
    CHECK_FALSE(verr.has_value());
    const std::error_code ec = st::errc::io_error;
    CHECK(ec.message() == "IoError");
    CHECK(std::string(ec.category().name()) == "safetensors");
  }
}
