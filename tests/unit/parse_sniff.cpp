// What a file that is not safetensors probably is (a git-lfs pointer, an HTML page, a zip or
// pickle checkpoint, an empty or truncated file): detail::describe_first_bytes, and its hint at
// the end of the HeaderTooSmall / HeaderTooLarge / InvalidHeaderLength messages of every reader.
#include <doctest/doctest.h>

#include <cstdint>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;
using sn_bytes = std::vector<std::uint8_t>;

sn_bytes sn_of(std::string_view s) { return st_test::bytes_of(s); }

std::string sn_describe(const sn_bytes& b) {
  return st::detail::describe_first_bytes(b.data(), b.size() < 512 ? b.size() : 512, b.size());
}

const char* const sn_lfs =
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a2143f9c1b5e1d6f0e0b5d1c0c3f1a7d6e2b8c9f0a1b2c3d4e5f60718293a\n"
    "size 548105171\n";

const char* const sn_html =
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>";

sn_bytes sn_pickle() {
  // torch.save's legacy (non-zip) format: PROTO 2, LONG1 magic number...
  return {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
}

sn_bytes sn_zip() {
  sn_bytes z = sn_of("PK\x03\x04");
  const sn_bytes rest = {0x14, 0, 0, 0, 8, 0, 0, 0, 0x21, 0};
  z.insert(z.end(), rest.begin(), rest.end());
  for (char c : std::string_view("archive/data.pkl")) z.push_back(static_cast<std::uint8_t>(c));
  return z;
}

sn_bytes sn_truncated() {
  st_test::tensor_spec t{"w", "F32", {64, 64}, std::vector<std::uint8_t>(64 * 64 * 4, 1)};
  sn_bytes full = st_test::make_file({t});
  full.resize(30);  // cut inside the header
  return full;
}

TEST_CASE("sniff: git-lfs pointer, with the real size") {
  const std::string d = sn_describe(sn_of(sn_lfs));
  CHECK(d.find("git-lfs pointer") != std::string::npos);
  CHECK(d.find("548105171 bytes") != std::string::npos);
  CHECK(d.find("git lfs pull") != std::string::npos);
  CHECK(d.rfind("; ", 0) == 0);
}

TEST_CASE("sniff: HTML pages, any case, after a BOM or whitespace") {
  CHECK(sn_describe(sn_of(sn_html)).find("HTML page") != std::string::npos);
  CHECK(sn_describe(sn_of("\xEF\xBB\xBF\r\n  <HTML lang=en>")).find("HTML page") !=
        std::string::npos);
  CHECK(sn_describe(sn_of("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>"))
            .find("XML") != std::string::npos);
}

TEST_CASE("sniff: zip and pickle checkpoints") {
  CHECK(sn_describe(sn_zip()).find("zip archive") != std::string::npos);
  const std::string p = sn_describe(sn_pickle());
  CHECK(p.find("pickle") != std::string::npos);
  // PROTO without a following pickle opcode is not called a pickle.
  CHECK(sn_describe({0x80, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b}).find("pickle") ==
        std::string::npos);
}

TEST_CASE("sniff: empty, truncated, JSON, compressed and other formats") {
  CHECK(st::detail::describe_first_bytes(nullptr, 0, 0).find("empty") != std::string::npos);
  CHECK(sn_describe(sn_truncated()).find("truncated") != std::string::npos);
  CHECK(sn_describe(sn_of("{\n  \"metadata\": {\"total_size\": 1}, \"weight_map\": {}}"))
            .find("JSON text") != std::string::npos);
  CHECK(sn_describe(sn_of("\x1f\x8b\x08\x00\x00\x00\x00\x00")).find("gzip") != std::string::npos);
  CHECK(sn_describe(sn_of("GGUF\x03\x00\x00\x00\x00\x00")).find("GGUF") != std::string::npos);
  CHECK(sn_describe(sn_of("\x89HDF\r\n\x1a\n\x00\x00")).find("HDF5") != std::string::npos);
  CHECK(sn_describe(sn_of("\x93NUMPY\x01\x00v\x00{'descr'")).find("NumPy") != std::string::npos);
}

TEST_CASE("sniff: a safetensors header length is never mistaken for text") {
  // N = 123 ('{' then NUL bytes) and N = 91 ('['): a real, truncated file, not JSON text.
  for (std::uint8_t first : {std::uint8_t{'{'}, std::uint8_t{'['}}) {
    sn_bytes b = st_test::le64(first);
    for (char c : std::string_view("{\"a\":{\"dtype\"")) b.push_back(static_cast<std::uint8_t>(c));
    const std::string d = sn_describe(b);
    CHECK(d.find("JSON text") == std::string::npos);
    CHECK(d.find("truncated") != std::string::npos);
  }
  // Random binary garbage gets no hint.
  CHECK(sn_describe({0x13, 0x37, 0xc0, 0xde, 0xff, 0xff, 0xff, 0xff, 0x00}).empty());
}

TEST_CASE(
    "sniff: parse(), mapped_file::open() and source_reader::open() messages say what the file is") {
  struct sn_case {
    sn_bytes bytes;
    st::errc code;
    const char* hint;
  };
  const std::vector<sn_case> cases{
      {sn_of(sn_lfs), st::errc::header_too_large, "git-lfs pointer"},
      {sn_of(sn_html), st::errc::header_too_large, "HTML page"},
      {sn_zip(), st::errc::header_too_large, "zip archive"},
      {sn_pickle(), st::errc::header_too_large, "pickle"},
      {{}, st::errc::header_too_small, "empty"},
      {sn_truncated(), st::errc::invalid_header_length, "truncated"},
  };
  st_test::temp_dir dir;
  for (const auto& c : cases) {
    INFO(c.hint);
    const auto r = st::parse(st::as_bytes(c.bytes));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == c.code);
    CHECK(r.error().message().find(c.hint) != std::string::npos);
    const auto path = dir.file("model.safetensors");
    st_test::write_file(path, c.bytes);
    const auto m = st::mapped_file::open(path);
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().message().find(c.hint) != std::string::npos);
    const auto rd = st::source_reader::open(path);
    REQUIRE_FALSE(rd.has_value());
    CHECK(rd.error().message().find(c.hint) != std::string::npos);
  }
}

}  // namespace
