// docs/format.md#reader-rules, rule by rule, each with its boundary, plus the check order,
// DuplicateKey, names-as-data, lookup and the dtype table (docs/format.md#dtypes). Inputs are built
// with the independent test writer (tests/support/test_writer.hpp) or as literal JSON; expected
// values come from the docs/format.md text, never from the library's output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;
using bytes_t = std::vector<std::uint8_t>;

constexpr std::uint64_t rl_u64_max = std::numeric_limits<std::uint64_t>::max();

// le64(N) + json + data_size bytes of `fill` (no padding).
bytes_t rl_raw(std::string_view json, std::size_t data_size = 0, std::uint8_t fill = 0) {
  return st_test::make_raw(json, bytes_t(data_size, fill));
}

// le64(n) + the given bytes, whatever n is.
bytes_t rl_prefixed(std::uint64_t n, std::string_view rest) {
  bytes_t out = st_test::le64(n);
  for (char c : rest) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

st::result<st::file_view> rl_parse(const bytes_t& b, const st::parse_options& opts = {}) {
  return st::parse(st::as_bytes(b), opts);
}

st::result<st::source_reader> rl_source(const bytes_t& b, const st::parse_options& opts = {}) {
  const st::span<const std::byte> span(reinterpret_cast<const std::byte*>(b.data()), b.size());
  return st::source_reader::open(std::make_unique<st::memory_source>(span), opts);
}

// `"name":{"dtype":"D","shape":S,"data_offsets":[b,e]}` (name is JSON string content).
std::string rl_entry(std::string_view name, std::string_view dtype, std::string_view shape,
                     std::uint64_t b, std::uint64_t e) {
  return "\"" + std::string(name) + "\":{\"dtype\":\"" + std::string(dtype) +
         "\",\"shape\":" + std::string(shape) + ",\"data_offsets\":[" + std::to_string(b) + "," +
         std::to_string(e) + "]}";
}

std::string rl_obj(const std::vector<std::string>& members) {
  std::string out = "{";
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i != 0) out += ',';
    out += members[i];
  }
  return out + "}";
}

// A header whose only string value (a metadata value) holds `raw` bytes verbatim.
std::string rl_md_value(std::string_view raw) {
  return "{\"__metadata__\":{\"k\":\"" + std::string(raw) + "\"}}";
}

std::vector<std::uint64_t> rl_dims(st::span<const std::uint64_t> s) {
  return std::vector<std::uint64_t>(s.begin(), s.end());
}

std::vector<std::uint8_t> rl_u8(st::span<const std::byte> s) {
  std::vector<std::uint8_t> out;
  for (std::byte b : s) out.push_back(std::to_integer<std::uint8_t>(b));
  return out;
}

bool rl_contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// A valid one-tensor entry used as filler: "t" U8 [4] at [0,4] (needs 4 data bytes).
const std::string rl_t4 = rl_entry("t", "U8", "[4]", 0, 4);

}  // namespace

// `res` is an error with code `code_` and name `name_`.
#define RL_CHECK_ERROR(res, code_, name_)                             \
  do {                                                                \
    const auto& rl_r_ = (res);                                        \
    CHECK_FALSE(rl_r_.has_value());                                   \
    if (!rl_r_.has_value()) {                                         \
      INFO("error: " << rl_r_.error().to_string());                   \
      CHECK(rl_r_.error().code() == (code_));                         \
      CHECK(std::string(rl_r_.error().name()) == std::string(name_)); \
    }                                                                 \
  } while (false)

// The bytes `b` fail with `code_`/`name_` through parse() and through source_reader, with the
// parse options `opts_`.
#define RL_EXPECT_ERROR_O(b, code_, name_, opts_)          \
  do {                                                     \
    const bytes_t& rl_b_ = (b);                            \
    RL_CHECK_ERROR(rl_parse(rl_b_, opts_), code_, name_);  \
    RL_CHECK_ERROR(rl_source(rl_b_, opts_), code_, name_); \
  } while (false)

// The same with the default options.
#define RL_EXPECT_ERROR(b, code_, name_) RL_EXPECT_ERROR_O(b, code_, name_, st::parse_options{})

#define RL_EXPECT_IHD(b) \
  RL_EXPECT_ERROR(b, st::errc::invalid_header_deserialization, "InvalidHeaderDeserialization")

// `res` holds a value; otherwise fails the test case with the error text.
#define RL_REQUIRE_OK(res)                                                             \
  do {                                                                                 \
    const auto& rl_ok_ = (res);                                                        \
    if (!rl_ok_.has_value()) FAIL("unexpected error: " << rl_ok_.error().to_string()); \
  } while (false)

// Non-fatal variant for loops.
#define RL_CHECK_OK(res)                                                              \
  do {                                                                                \
    const auto& rl_ok_ = (res);                                                       \
    CHECK_MESSAGE(rl_ok_.has_value(),                                                 \
                  (rl_ok_.has_value() ? std::string() : rl_ok_.error().to_string())); \
  } while (false)

TEST_SUITE("rules") {
  // ==========================================================================================
  // Rule 1: fewer than 8 bytes [HeaderTooSmall]
  // ==========================================================================================
  TEST_CASE("rule 1: inputs of 0..7 bytes are HeaderTooSmall") {
    for (std::size_t n = 0; n < 8; ++n) {
      CAPTURE(n);
      RL_EXPECT_ERROR(bytes_t(n, 0), st::errc::header_too_small, "HeaderTooSmall");
      RL_EXPECT_ERROR(bytes_t(n, 0xFF), st::errc::header_too_small, "HeaderTooSmall");
    }
    RL_CHECK_ERROR(st::parse(st::span<const std::byte>()), st::errc::header_too_small,
                   "HeaderTooSmall");
    RL_CHECK_ERROR(st::parse(st::span<const std::byte>(static_cast<const std::byte*>(nullptr), 16)),
                   st::errc::invalid_argument, "InvalidArgument");
  }

  TEST_CASE("rule 1 boundary: exactly 8 bytes passes on to the later rules") {
    // N = 0: an empty header is a JSON EOF error.
    RL_EXPECT_IHD(bytes_t(8, 0));
    // N = 1 with nothing after the prefix.
    RL_EXPECT_ERROR(st_test::le64(1), st::errc::invalid_header_length, "InvalidHeaderLength");
  }

  // ==========================================================================================
  // Rule 2: N > 100,000,000 [HeaderTooLarge]; the limit is parse_options::max_header_size
  // ==========================================================================================
  TEST_CASE("rule 2: N = 100,000,000 is allowed, N = 100,000,001 is HeaderTooLarge (100 MB)") {
    constexpr std::uint64_t limit = 100000000;
    CHECK(st::parse_options{}.max_header_size == limit);
    // One buffer of 8 + 1e8 + 1 bytes: "{}" then spaces.
    bytes_t buf(static_cast<std::size_t>(8 + limit + 1), ' ');
    buf[8] = '{';
    buf[9] = '}';
    const auto set_n = [&buf](std::uint64_t n) {
      const bytes_t p = st_test::le64(n);
      std::copy(p.begin(), p.end(), buf.begin());
    };

    set_n(limit);
    {
      const auto f = st::parse(st::span<const std::byte>(
          reinterpret_cast<const std::byte*>(buf.data()), static_cast<std::size_t>(8 + limit)));
      RL_REQUIRE_OK(f);
      CHECK(f->size() == 0);
      CHECK(f->header().header_size() == limit);
      CHECK(f->header().data_offset() == 8 + limit);
      CHECK(f->header().data_size() == 0);
      CHECK_FALSE(f->metadata().has_value());
    }
    {
      // A limit one below N rejects the same file.
      st::parse_options lowered;
      lowered.max_header_size = limit - 1;
      RL_CHECK_ERROR(
          st::parse(st::span<const std::byte>(reinterpret_cast<const std::byte*>(buf.data()),
                                              static_cast<std::size_t>(8 + limit)),
                    lowered),
          st::errc::header_too_large, "HeaderTooLarge");
    }

    set_n(limit + 1);
    RL_CHECK_ERROR(st::parse(st::as_bytes(buf)), st::errc::header_too_large, "HeaderTooLarge");
    {
      // Raising the limit accepts it (the whole buffer is a valid file).
      st::parse_options raised;
      raised.max_header_size = limit + 1;
      const auto f = st::parse(st::as_bytes(buf), raised);
      RL_REQUIRE_OK(f);
      CHECK(f->header().header_size() == limit + 1);
      CHECK(f->size() == 0);
    }
  }

  TEST_CASE("rule 2: HeaderTooLarge is decided from N alone, before the input length") {
    RL_EXPECT_ERROR(st_test::le64(100000001), st::errc::header_too_large, "HeaderTooLarge");
    RL_EXPECT_ERROR(st_test::le64(std::uint64_t{1} << 63), st::errc::header_too_large,
                    "HeaderTooLarge");
    RL_EXPECT_ERROR(st_test::le64(rl_u64_max), st::errc::header_too_large, "HeaderTooLarge");
  }

  TEST_CASE("rule 2: max_header_size lowered and raised") {
    const std::string json = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
    REQUIRE(json.size() == 60);
    const bytes_t b = rl_raw(json, 16);
    st::parse_options o;
    o.max_header_size = 59;
    RL_EXPECT_ERROR_O(b, st::errc::header_too_large, "HeaderTooLarge", o);
    o.max_header_size = 60;
    RL_CHECK_OK(rl_parse(b, o));
    RL_CHECK_OK(rl_source(b, o));
    o.max_header_size = 0;
    RL_EXPECT_ERROR_O(b, st::errc::header_too_large, "HeaderTooLarge", o);
    o.max_header_size = rl_u64_max;
    RL_CHECK_OK(rl_parse(b, o));
  }

  // ==========================================================================================
  // Rule 3: 8 + N overflows or exceeds the input [InvalidHeaderLength]
  // ==========================================================================================
  TEST_CASE("rule 3: header running past the end of the input") {
    // 8 + N == input size: fine.
    RL_CHECK_OK(rl_parse(rl_prefixed(2, "{}")));
    // 8 + N == input size + 1.
    RL_EXPECT_ERROR(rl_prefixed(3, "{}"), st::errc::invalid_header_length, "InvalidHeaderLength");
    RL_EXPECT_ERROR(rl_prefixed(100, "{}"), st::errc::invalid_header_length, "InvalidHeaderLength");
  }

  TEST_CASE("rule 3: 8 + N near and past 2^64 is InvalidHeaderLength, not a crash") {
    st::parse_options o;
    o.max_header_size = rl_u64_max;  // so that rule 2 lets every N through
    // 8 + N = 2^64 - 1: no overflow, but far beyond the input.
    RL_EXPECT_ERROR_O(rl_prefixed(rl_u64_max - 8, "{}"), st::errc::invalid_header_length,
                      "InvalidHeaderLength", o);
    // 8 + N = 2^64: overflows.
    RL_EXPECT_ERROR_O(rl_prefixed(rl_u64_max - 7, "{}"), st::errc::invalid_header_length,
                      "InvalidHeaderLength", o);
    // N = 2^64 - 1: overflows.
    RL_EXPECT_ERROR_O(rl_prefixed(rl_u64_max, "{}"), st::errc::invalid_header_length,
                      "InvalidHeaderLength", o);
  }

  // ==========================================================================================
  // Rule 4: the N header bytes are valid UTF-8, padding included [InvalidHeader]
  // ==========================================================================================
  TEST_CASE("rule 4: invalid UTF-8 anywhere in the header is InvalidHeader") {
    const std::vector<std::pair<const char*, std::string>> cases{
        {"FF in the trailing padding", std::string("{}  \xff")},
        {"FE in the leading padding", std::string("\xfe{}")},
        {"lone continuation byte", rl_md_value("\x80")},
        {"overlong 2-byte C0 80 (NUL)", rl_md_value("\xC0\x80")},
        {"overlong 2-byte C1 BF", rl_md_value("\xC1\xBF")},
        {"overlong 3-byte E0 80 80", rl_md_value("\xE0\x80\x80")},
        {"overlong 3-byte E0 9F BF", rl_md_value("\xE0\x9F\xBF")},
        {"overlong 4-byte F0 80 80 80", rl_md_value("\xF0\x80\x80\x80")},
        {"overlong 4-byte F0 8F BF BF", rl_md_value("\xF0\x8F\xBF\xBF")},
        {"surrogate U+D800 as ED A0 80", rl_md_value("\xED\xA0\x80")},
        {"surrogate U+DFFF as ED BF BF", rl_md_value("\xED\xBF\xBF")},
        {"surrogate pair as CESU-8", rl_md_value("\xED\xA0\xBD\xED\xB8\x80")},
        {"U+110000 as F4 90 80 80", rl_md_value("\xF4\x90\x80\x80")},
        {"F5 lead byte", rl_md_value("\xF5\x80\x80\x80")},
        {"F8 5-byte lead", rl_md_value("\xF8\x88\x80\x80\x80")},
        {"FC 6-byte lead", rl_md_value("\xFC\x84\x80\x80\x80\x80")},
        {"truncated 2-byte", rl_md_value("\xC3")},
        {"truncated 3-byte", rl_md_value("\xE4\xB8")},
        {"truncated 4-byte", rl_md_value("\xF0\x9F\x98")},
        {"lead byte followed by ASCII", rl_md_value("\xE4"
                                                    "a"
                                                    "\xB8")},
        {"truncated sequence at the very end of the header", std::string("{} \xE4\xB8")},
        {"bad byte in a tensor name",
         "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"},
        {"bad byte in a key", std::string("{\"__metadata__\":{\"\xC0\xAF\":\"v\"}}")},
    };
    for (const auto& c : cases) {
      CAPTURE(c.first);
      RL_EXPECT_ERROR(rl_raw(c.second), st::errc::invalid_header, "InvalidHeader");
    }
  }

  TEST_CASE("rule 4: a bad byte at every position of long ASCII padding is found") {
    for (std::size_t pos = 0; pos < 40; ++pos) {
      CAPTURE(pos);
      std::string header = "{}" + std::string(40, ' ');
      header[2 + pos] = '\x80';
      RL_EXPECT_ERROR(rl_raw(header), st::errc::invalid_header, "InvalidHeader");
    }
  }

  TEST_CASE("rule 4: valid multi-byte UTF-8 (boundaries included) is accepted") {
    const std::vector<std::pair<const char*, std::string>> names{
        {"U+0080", "\xC2\x80"},           {"U+07FF", "\xDF\xBF"},
        {"U+0800", "\xE0\xA0\x80"},       {"U+D7FF", "\xED\x9F\xBF"},
        {"U+E000", "\xEE\x80\x80"},       {"U+FFFF", "\xEF\xBF\xBF"},
        {"U+10000", "\xF0\x90\x80\x80"},  {"U+1F600", "\xF0\x9F\x98\x80"},
        {"U+10FFFF", "\xF4\x8F\xBF\xBF"}, {"DEL (0x7F, not a control character in JSON)", "\x7F"},
    };
    for (const auto& n : names) {
      CAPTURE(n.first);
      const bytes_t b = rl_raw(rl_obj({rl_entry(n.second, "U8", "[1]", 0, 1)}), 1, 0x5A);
      const auto f = rl_parse(b);
      RL_CHECK_OK(f);
      if (f) {
        CHECK(f->header().contains(n.second));
        const auto v = f->tensor(n.second);
        REQUIRE(v.has_value());
        CHECK(rl_u8(v->bytes()) == bytes_t{0x5A});
      }
    }
    // Multi-byte text in metadata and in the padding-free header too.
    const auto f = rl_parse(rl_raw(rl_md_value("\xE6\x9D\x83\xE9\x87\x8D \xF0\x9F\x98\x80")));
    RL_REQUIRE_OK(f);
    REQUIRE(f->metadata().has_value());
    CHECK(f->metadata()->at("k") == "\xE6\x9D\x83\xE9\x87\x8D \xF0\x9F\x98\x80");
  }

  // ==========================================================================================
  // Rule 5: JSON syntax and shape [InvalidHeaderDeserialization]
  // ==========================================================================================
  TEST_CASE("rule 5: the top level must be an object") {
    for (const char* h : {"[]", "[{}]", "\"x\"", "1", "0", "-1", "1.5", "null", "true", "false", "",
                          " ", "\t\r\n "}) {
      CAPTURE(h);
      RL_EXPECT_IHD(rl_raw(h));
    }
    RL_CHECK_OK(rl_parse(rl_raw("{}")));
  }

  TEST_CASE("rule 5: JSON syntax errors") {
    const std::vector<std::string> cases{
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{,}",
        "{'t':1}",
        "{t:1}",
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4],}}",  // trailing comma
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[4,],\"data_offsets\":[0,4]}}",  // trailing comma
        "{\"t\":{\"dtype\":\"U8\" \"shape\":[4],\"data_offsets\":[0,4]}}",   // missing comma
        "{/*c*/}",
        "{}//c",
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[04],\"data_offsets\":[0,4]}}",  // leading zero
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[+4],\"data_offsets\":[0,4]}}",  // plus sign
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}",    // unclosed
        "{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}}",  // extra close
    };
    for (const auto& h : cases) {
      CAPTURE(h);
      RL_EXPECT_IHD(rl_raw(h, 4));
    }
  }

  TEST_CASE("rule 5: __metadata__ is optional, null, or an object of strings") {
    SUBCASE("absent: metadata() is nullopt") {
      const auto f = rl_parse(rl_raw(rl_obj({rl_t4}), 4));
      RL_REQUIRE_OK(f);
      CHECK_FALSE(f->metadata().has_value());
    }
    SUBCASE("null: metadata() is nullopt") {
      const auto f = rl_parse(rl_raw(rl_obj({"\"__metadata__\":null", rl_t4}), 4));
      RL_REQUIRE_OK(f);
      CHECK_FALSE(f->metadata().has_value());
      CHECK(f->size() == 1);
    }
    SUBCASE("{}: present and empty") {
      const auto f = rl_parse(rl_raw(R"({"__metadata__":{}})"));
      RL_REQUIRE_OK(f);
      REQUIRE(f->metadata().has_value());
      CHECK(f->metadata()->empty());
    }
    SUBCASE("string values, any position in the object, keys sorted") {
      const auto f = rl_parse(rl_raw(
          rl_obj({rl_t4, R"("__metadata__":{"z":"last","format":"pt","":"empty key","a":""})"}),
          4));
      RL_REQUIRE_OK(f);
      REQUIRE(f->metadata().has_value());
      const st::metadata_map want{{"", "empty key"}, {"a", ""}, {"format", "pt"}, {"z", "last"}};
      CHECK(*f->metadata() == want);
      CHECK(f->size() == 1);
      CHECK_FALSE(f->header().contains("__metadata__"));
    }
    SUBCASE("escapes in metadata are decoded") {
      const auto f = rl_parse(rl_raw(R"({"__metadata__":{"k\u00e9":"a\"b\\c\/d\n\u0000e"}})"));
      RL_REQUIRE_OK(f);
      REQUIRE(f->metadata().has_value());
      CHECK(f->metadata()->at("k\xC3\xA9") == std::string("a\"b\\c/d\n\0e", 10));
    }
    SUBCASE("__metadata__ not an object or null") {
      for (const char* v : {"\"pt\"", "1", "0", "true", "false", "[]", "[\"a\"]", "-1", "1.5"}) {
        CAPTURE(v);
        RL_EXPECT_IHD(rl_raw(std::string("{\"__metadata__\":") + v + "}"));
      }
    }
    SUBCASE("a metadata value that is not a string") {
      for (const char* v : {"1", "0", "-1", "1.5", "true", "false", "null", "{}", "{\"a\":\"b\"}",
                            "[]", "[\"a\"]"}) {
        CAPTURE(v);
        RL_EXPECT_IHD(rl_raw(std::string("{\"__metadata__\":{\"ok\":\"s\",\"k\":") + v + "}}"));
      }
    }
  }

  TEST_CASE("rule 5: every other top-level key is a tensor entry object") {
    const std::vector<std::string> cases{
        R"({"format":"pt"})",
        R"({"t":null})",
        R"({"t":1})",
        R"({"t":"U8"})",
        R"({"t":true})",
        R"({"t":[]})",
        // The reference's serde also takes a 3-element array; we do not
        // (docs/format.md#stricter-than-the-reference).
        R"({"t":["U8",[4],[0,4]]})",
        R"({"t":{}})",
    };
    for (const auto& h : cases) {
      CAPTURE(h);
      RL_EXPECT_IHD(rl_raw(h, 4));
    }
  }

  TEST_CASE("rule 5: dtype, shape and data_offsets are required") {
    const std::vector<std::string> cases{
        R"({"t":{"shape":[4],"data_offsets":[0,4]}})",
        R"({"t":{"dtype":"U8","data_offsets":[0,4]}})",
        R"({"t":{"dtype":"U8","shape":[4]}})",
        R"({"t":{"dtype":"U8"}})",
        R"({"t":{"other":1}})",
    };
    for (const auto& h : cases) {
      CAPTURE(h);
      RL_EXPECT_IHD(rl_raw(h, 4));
    }
  }

  TEST_CASE("rule 5: dtype must be one of the 22 names, exact case") {
    for (const char* d : {"f32", "F128", "float32", "Bool", "bool", "bf16", "", " F32", "F32 ",
                          "F8_E4M3FN", "F8_E4M3fnuz", "C128", "I4", "U32\\u0000"}) {
      CAPTURE(d);
      RL_EXPECT_IHD(rl_raw(
          std::string("{\"t\":{\"dtype\":\"") + d + "\",\"shape\":[4],\"data_offsets\":[0,4]}}",
          4));
    }
    for (const char* d : {"1", "null", "[\"U8\"]", "{}"}) {
      CAPTURE(d);
      RL_EXPECT_IHD(rl_raw(
          std::string("{\"t\":{\"dtype\":") + d + ",\"shape\":[4],\"data_offsets\":[0,4]}}", 4));
    }
  }

  TEST_CASE("rule 5: shape must be an array of unsigned integers") {
    for (const char* s : {"4", "\"4\"", "null", "{}", "[[4]]", "[\"4\"]", "[null]", "[true]",
                          "[-1]", "[-0]", "[4.0]", "[1e3]", "[1E3]", "[4e0]", "[0.5]",
                          "[18446744073709551616]", "[99999999999999999999999]"}) {
      CAPTURE(s);
      RL_EXPECT_IHD(rl_raw(
          std::string("{\"t\":{\"dtype\":\"U8\",\"shape\":") + s + ",\"data_offsets\":[0,4]}}", 4));
    }
  }

  TEST_CASE("rule 5: data_offsets must be exactly two unsigned integers") {
    for (const char* o :
         {"[0]", "[]", "[0,4,8]", "[0,16,32]", "4", "\"0,4\"", "null", "{}", "[[0,4]]", "[0,\"4\"]",
          "[-0,4]", "[0,-4]", "[-1,3]", "[0,4.0]", "[0.0,4]", "[0,4e0]", "[0,1e3]",
          "[0,18446744073709551616]", "[0,null]"}) {
      CAPTURE(o);
      RL_EXPECT_IHD(rl_raw(
          std::string("{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":") + o + "}}", 4));
    }
  }

  TEST_CASE("rule 5 boundary: 2^64-1 is a valid integer, 2^64 is not") {
    // 18446744073709551615 parses; the element count then overflows at rule 7.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    // As an offset it parses too; the size then disagrees at rule 9.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}})"),
        st::errc::tensor_invalid_info, "TensorInvalidInfo");
    RL_EXPECT_IHD(
        rl_raw(R"({"t":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}})"));
  }

  TEST_CASE("rule 5: strings: lone surrogates, raw control characters, bad escapes") {
    const std::vector<std::pair<const char*, std::string>> names{
        {"lone high surrogate", R"(\ud800)"},
        {"lone high surrogate, upper case", R"(\uD800)"},
        {"lone low surrogate", R"(\udc00)"},
        {"high surrogate then a letter", R"(\ud800\u0041)"},
        {"high surrogate at the end", R"(a\udbff)"},
        {"two high surrogates", R"(\ud800\ud800)"},
        {"raw 0x01", std::string("a\x01"
                                 "b")},
        {"raw 0x1F", std::string("a\x1f"
                                 "b")},
        {"raw tab", std::string("a\tb")},
        {"raw LF", std::string("a\nb")},
        {"raw CR", std::string("a\rb")},
        {"bad escape \\x", R"(\x41)"},
        {"bad escape \\'", R"(\')"},
        {"bad escape \\a", R"(\a)"},
        {"bad escape \\U", R"(\U0041)"},
        {"short \\u", R"(\u12)"},
        {"non-hex \\u", R"(\uZZZZ)"},
        {"escaped newline", "\\\n"},
    };
    for (const auto& n : names) {
      CAPTURE(n.first);
      RL_EXPECT_IHD(rl_raw(rl_obj({rl_entry(n.second, "U8", "[4]", 0, 4)}), 4));
      // The same string as a metadata value.
      RL_EXPECT_IHD(rl_raw(rl_md_value(n.second)));
    }
  }

  TEST_CASE("rule 5: valid escapes and surrogate pairs are decoded") {
    const auto f = rl_parse(rl_raw(rl_obj({rl_entry(R"(\ud83d\ude00)", "U8", "[1]", 0, 1),
                                           rl_entry(R"(q\"\\\/\b\f\n\r\t)", "U8", "[1]", 1, 2)}),
                                   2));
    RL_REQUIRE_OK(f);
    CHECK(f->header().contains("\xF0\x9F\x98\x80"));
    CHECK(f->header().contains("q\"\\/\b\f\n\r\t"));
  }

  TEST_CASE("rule 5: extra keys inside a tensor entry are ignored, whatever they hold") {
    const std::vector<std::string> extras{
        R"("extra":1)",
        R"("extra":"text")",
        R"("extra":null)",
        R"("extra":true)",
        R"("extra":[])",
        R"("extra":{})",
        R"("extra":[1,"a",null,{"b":[2,{"c":{}}]}])",
        R"("extra":{"a":{"b":{"c":[1,2,3]}},"d":[[[]]]})",
        R"("extra":-1)",
        R"("extra":1.5e3)",
        R"("extra":-0)",
        R"("extra":18446744073709551616)",
        R"("__metadata__":{"x":1})",
        R"("offsets":[0,4],"format":"pt","DTYPE":"bogus")",
        R"("e1":{"k":1},"e2":{"k":2})",            // the same nested key in sibling objects
        R"("e":[{"k":1},{"k":2},{"k":{"k":3}}])",  // ... and in sibling array elements
    };
    for (const auto& x : extras) {
      CAPTURE(x);
      const std::string before =
          R"({"t":{)" + x + R"(,"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
      const std::string after =
          R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],)" + x + "}}";
      const std::string middle =
          R"({"t":{"dtype":"U8",)" + x + R"(,"shape":[4],"data_offsets":[0,4]}})";
      for (const std::string& h : {before, after, middle}) {
        const auto f = rl_parse(rl_raw(h, 4, 7));
        RL_CHECK_OK(f);
        if (f) {
          CHECK(f->size() == 1);
          const auto t = f->header().find("t");
          REQUIRE(t.has_value());
          CHECK(t->dtype() == st::dtype::U8);
          CHECK(rl_dims(t->shape()) == std::vector<std::uint64_t>{4});
          CHECK(t->offsets().begin == 0);
          CHECK(t->offsets().end == 4);
        }
        RL_CHECK_OK(rl_source(rl_raw(h, 4, 7)));
      }
    }
    // The same extra key in two different entries is no duplicate.
    RL_CHECK_OK(rl_parse(rl_raw(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1},)"
                                R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2],"x":2}})",
                                2)));
  }

  TEST_CASE("rule 5: nesting: depth 127 is accepted, 128 is InvalidHeaderDeserialization") {
    // Top-level object = level 1, the entry = level 2, so k arrays in an extra field reach 2 + k.
    const auto arrays = [](std::size_t k) {
      return R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":)" + std::string(k, '[') +
             std::string(k, ']') + "}}";
    };
    const auto objects = [](std::size_t k) {
      std::string s = R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":)";
      for (std::size_t i = 1; i < k; ++i) s += "{\"a\":";
      s += "{}";
      s += std::string(k - 1, '}');
      return s + "}}";
    };
    const auto mixed = [](std::size_t k) {  // alternating [ and {"a":
      std::string open;
      std::string close;
      for (std::size_t i = 0; i < k; ++i) {
        if (i % 2 == 0) {
          open += "[";
          close = "]" + close;
        } else {
          open += "{\"a\":";
          close = "}" + close;
        }
      }
      return R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":)" + open + "1" + close +
             "}}";
    };
    RL_CHECK_OK(rl_parse(rl_raw(arrays(125))));
    RL_CHECK_OK(rl_source(rl_raw(arrays(125))));
    RL_EXPECT_IHD(rl_raw(arrays(126)));
    RL_CHECK_OK(rl_parse(rl_raw(objects(125))));
    RL_EXPECT_IHD(rl_raw(objects(126)));
    RL_CHECK_OK(rl_parse(rl_raw(mixed(125))));
    RL_EXPECT_IHD(rl_raw(mixed(126)));
    // Far deeper input fails cleanly (no stack exhaustion).
    RL_EXPECT_IHD(rl_raw(arrays(200000)));
    RL_EXPECT_IHD(rl_raw(std::string(200000, '[') + std::string(200000, ']')));
  }

  TEST_CASE("rule 5: JSON whitespace (space, tab, CR, LF) before, after and inside is fine") {
    const std::string inner = rl_obj({rl_t4});
    for (const char* ws : {" ", "\t", "\r", "\n", " \t\r\n", "\n\n\n\n\n\n\n\n"}) {
      CAPTURE(ws);
      RL_CHECK_OK(rl_parse(rl_raw(std::string(ws) + inner, 4)));
      RL_CHECK_OK(rl_parse(rl_raw(inner + ws, 4)));
      RL_CHECK_OK(rl_parse(rl_raw(std::string(ws) + inner + ws, 4)));
    }
    const auto f = rl_parse(rl_raw(
        "\r\n{ \"t\" :\t{ \"dtype\" : \"U8\" ,\n\"shape\" : [ 4 ] , \"data_offsets\" : [ 0 , 4 ] } "
        "}\r\n   ",
        4));
    RL_REQUIRE_OK(f);
    CHECK(f->header().contains("t"));
  }

  TEST_CASE("rule 5: NUL padding, a BOM and other bytes around the object are rejected") {
    const std::vector<std::pair<const char*, std::string>> cases{
        {"NUL padding after", std::string("{}\0\0\0\0\0\0", 8)},
        {"one NUL after", std::string("{}\0", 3)},
        {"NUL before", std::string("\0{}", 3)},
        {"BOM at the start", "\xEF\xBB\xBF{}"},
        {"BOM after leading space", " \xEF\xBB\xBF{}"},
        {"BOM at the end", "{}\xEF\xBB\xBF"},
        {"form feed", "{}\f"},
        {"vertical tab", "{}\v"},
        {"no-break space U+00A0", "{}\xC2\xA0"},
        {"ideographic space U+3000", "\xE3\x80\x80{}"},
        {"trailing letter", "{}x"},
        {"a second object", "{}{}"},
        {"trailing comma", "{},"},
        {"trailing bracket", "{}]"},
        {"trailing number", "{} 0"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.first);
      RL_EXPECT_IHD(rl_raw(c.second));
    }
  }

  // ==========================================================================================
  // Rule 6: sorted by (begin, end), walked from 0: begin != start || end < begin [InvalidOffset]
  // ==========================================================================================
  TEST_CASE("rule 6: InvalidOffset for a gap, an overlap, a reversed range, a late start") {
    SUBCASE("a gap") {
      const bytes_t b = rl_raw(rl_obj({rl_entry("first", "U8", "[4]", 0, 4),
                                       rl_entry("second.weight", "U8", "[4]", 8, 12)}),
                               12);
      RL_EXPECT_ERROR(b, st::errc::invalid_offset, "InvalidOffset");
      const auto r = rl_parse(b);
      if (!r) CHECK(rl_contains(r.error().message(), "second.weight"));
    }
    SUBCASE("an overlap") {
      const bytes_t b = rl_raw(rl_obj({rl_entry("first", "U8", "[8]", 0, 8),
                                       rl_entry("second.weight", "U8", "[8]", 4, 12)}),
                               12);
      RL_EXPECT_ERROR(b, st::errc::invalid_offset, "InvalidOffset");
      const auto r = rl_parse(b);
      if (!r) CHECK(rl_contains(r.error().message(), "second.weight"));
    }
    SUBCASE("a reversed range that starts where the previous tensor ends") {
      const bytes_t b = rl_raw(rl_obj({rl_entry("first", "U8", "[4]", 0, 4),
                                       rl_entry("second.weight", "U8", "[0]", 4, 0)}),
                               4);
      RL_EXPECT_ERROR(b, st::errc::invalid_offset, "InvalidOffset");
      const auto r = rl_parse(b);
      if (!r) CHECK(rl_contains(r.error().message(), "second.weight"));
    }
    SUBCASE("a reversed range alone") {
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("only", "U8", "[0]", 5, 3)}), 5),
                      st::errc::invalid_offset, "InvalidOffset");
    }
    SUBCASE("a first tensor not starting at 0") {
      const bytes_t b = rl_raw(rl_obj({rl_entry("late.start", "U8", "[4]", 4, 8)}), 8);
      RL_EXPECT_ERROR(b, st::errc::invalid_offset, "InvalidOffset");
      const auto r = rl_parse(b);
      if (!r) CHECK(rl_contains(r.error().message(), "late.start"));
    }
    SUBCASE("an identical range twice (the reference's test_json_attack, two tensors)") {
      RL_EXPECT_ERROR(
          rl_raw(rl_obj({rl_entry("a", "U8", "[4]", 0, 4), rl_entry("b", "U8", "[4]", 0, 4)}), 4),
          st::errc::invalid_offset, "InvalidOffset");
    }
    SUBCASE("a zero-sized tensor in a gap after the data") {
      RL_EXPECT_ERROR(
          rl_raw(rl_obj({rl_entry("a", "U8", "[4]", 0, 4), rl_entry("z", "U8", "[0]", 6, 6)}), 4),
          st::errc::invalid_offset, "InvalidOffset");
    }
  }

  TEST_CASE("rule 6: JSON order does not matter, only the offsets") {
    const bytes_t b =
        rl_raw(rl_obj({rl_entry("c", "U8", "[2]", 4, 6), rl_entry("a", "U8", "[3]", 0, 3),
                       rl_entry("b", "U8", "[1]", 3, 4)}),
               0);
    bytes_t file = b;
    for (std::uint8_t v = 0; v < 6; ++v) file.push_back(v);
    const auto f = rl_parse(file);
    RL_REQUIRE_OK(f);
    REQUIRE(f->size() == 3);
    CHECK(std::string(f->tensors()[0].name()) == "a");
    CHECK(std::string(f->tensors()[1].name()) == "b");
    CHECK(std::string(f->tensors()[2].name()) == "c");
    CHECK(rl_u8(f->tensor("a")->bytes()) == bytes_t{0, 1, 2});
    CHECK(rl_u8(f->tensor("b")->bytes()) == bytes_t{3});
    CHECK(rl_u8(f->tensor("c")->bytes()) == bytes_t{4, 5});
  }

  // ==========================================================================================
  // Rule 7: element count and bit count, checked in shape order [ValidationOverflow]
  // ==========================================================================================
  TEST_CASE("rule 7: the first overflowing multiplication in shape order wins") {
    // 2^32 * 2^32 overflows before the trailing 0 is reached: the reference's try_fold.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    // With the 0 first, every partial product is 0: no overflow, a zero-sized tensor.
    const auto f = rl_parse(
        rl_raw(R"({"t":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})"));
    RL_REQUIRE_OK(f);
    CHECK(f->header().find("t")->element_count() == 0);
    // 2^32 * 2^32 alone.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    // (2^32+1)(2^32-1) = 2^64-1 fits as a count; x 8 bits does not.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"BOOL","shape":[4294967297,4294967295],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
  }

  TEST_CASE("rule 7: the bit product overflows while the element count fits") {
    // 2^61 U8 elements = 2^64 bits.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[2305843009213693952],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    // 2^58 U64 elements = 2^64 bits.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U64","shape":[288230376151711744],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    // Boundary: 2^61 - 1 U8 elements = 2^64 - 8 bits fits; the offsets then disagree (rule 9).
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"U8","shape":[2305843009213693951],"data_offsets":[0,0]}})"),
        st::errc::tensor_invalid_info, "TensorInvalidInfo");
    // F4: 2^62 elements x 4 = 2^64 overflows; 2^62 - 1 elements x 4 fits but is not whole bytes.
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"F4","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
        st::errc::validation_overflow, "ValidationOverflow");
    RL_EXPECT_ERROR(
        rl_raw(R"({"t":{"dtype":"F4","shape":[4611686018427387903],"data_offsets":[0,0]}})"),
        st::errc::misaligned_slice, "MisalignedSlice");
  }

  // ==========================================================================================
  // Rule 8: bit count not a multiple of 8 [MisalignedSlice]
  // ==========================================================================================
  TEST_CASE("rule 8: sub-byte dtypes must fill whole bytes") {
    SUBCASE("F4 with an odd element count") {
      for (const char* shape : {"[1]", "[3]", "[1,3]", "[3,5]", "[]"}) {
        CAPTURE(shape);
        RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F4", shape, 0, 1)}), 1),
                        st::errc::misaligned_slice, "MisalignedSlice");
      }
    }
    SUBCASE("F6_E2M3 / F6_E3M2 with a count not divisible by 4") {
      for (const char* dt : {"F6_E2M3", "F6_E3M2"}) {
        for (const char* shape : {"[1]", "[2]", "[3]", "[5]", "[6]", "[2,3]", "[]"}) {
          CAPTURE(dt);
          CAPTURE(shape);
          RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", dt, shape, 0, 3)}), 3),
                          st::errc::misaligned_slice, "MisalignedSlice");
        }
      }
    }
    SUBCASE("whole bytes load") {
      const auto f = rl_parse(rl_raw(
          rl_obj({rl_entry("a", "F4", "[1,2]", 0, 1), rl_entry("b", "F4", "[2,3]", 1, 4),
                  rl_entry("c", "F6_E2M3", "[4]", 4, 7), rl_entry("d", "F6_E3M2", "[2,4]", 7, 13),
                  rl_entry("e", "F4", "[0]", 13, 13)}),
          13));
      RL_REQUIRE_OK(f);
      const auto a = f->header().find("a");
      REQUIRE(a.has_value());
      CHECK(a->element_count() == 2);
      CHECK(a->byte_size() == 1);
      CHECK(f->header().find("b")->byte_size() == 3);
      CHECK(f->header().find("c")->byte_size() == 3);
      CHECK(f->header().find("d")->element_count() == 8);
      CHECK(f->header().find("d")->byte_size() == 6);
      CHECK(f->header().find("e")->byte_size() == 0);
    }
  }

  // ==========================================================================================
  // Rule 9: end - begin != bits / 8 [TensorInvalidInfo]
  // ==========================================================================================
  TEST_CASE("rule 9: the byte range must match dtype x shape exactly") {
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F32", "[2,2]", 0, 12)}), 12),
                    st::errc::tensor_invalid_info, "TensorInvalidInfo");
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F32", "[2,2]", 0, 20)}), 20),
                    st::errc::tensor_invalid_info, "TensorInvalidInfo");
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F32", "[]", 0, 8)}), 8),
                    st::errc::tensor_invalid_info, "TensorInvalidInfo");
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F32", "[0]", 0, 4)}), 4),
                    st::errc::tensor_invalid_info, "TensorInvalidInfo");
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "U8", "[4]", 0, 0)}), 0),
                    st::errc::tensor_invalid_info, "TensorInvalidInfo");
    // A later tensor.
    RL_EXPECT_ERROR(
        rl_raw(rl_obj({rl_entry("a", "U8", "[4]", 0, 4), rl_entry("b", "I16", "[3]", 4, 9)}), 9),
        st::errc::tensor_invalid_info, "TensorInvalidInfo");
  }

  // ==========================================================================================
  // Rule 10: 8 + N + last end != input size [MetadataIncompleteBuffer]
  // ==========================================================================================
  TEST_CASE("rule 10: one trailing byte, one missing byte") {
    const std::string json = rl_obj({rl_entry("t", "F32", "[2,2]", 0, 16)});
    RL_CHECK_OK(rl_parse(rl_raw(json, 16)));
    RL_EXPECT_ERROR(rl_raw(json, 17), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    RL_EXPECT_ERROR(rl_raw(json, 15), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    RL_EXPECT_ERROR(rl_raw(json, 0), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    // No tensors: the buffer must be empty.
    RL_CHECK_OK(rl_parse(rl_raw("{}")));
    RL_EXPECT_ERROR(rl_raw("{}", 1), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    // Zero-sized tensors only: likewise.
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("z", "F32", "[0]", 0, 0)}), 1),
                    st::errc::metadata_incomplete_buffer, "MetadataIncompleteBuffer");
  }

  TEST_CASE("rule 10: allow_trailing_bytes accepts trailing bytes but never truncation") {
    st::parse_options o;
    o.allow_trailing_bytes = true;
    const std::string json = rl_obj({rl_entry("t", "F32", "[2,2]", 0, 16)});
    bytes_t b = rl_raw(json, 16, 0x22);
    b.push_back(0x99);
    b.push_back(0x98);
    const auto f = rl_parse(b, o);
    RL_REQUIRE_OK(f);
    CHECK(f->header().data_size() == 16);
    CHECK(f->data().size() == 16);
    CHECK(f->header().file_size() == 8 + json.size() + 16);
    CHECK(rl_u8(f->tensor("t")->bytes()) == bytes_t(16, 0x22));
    RL_CHECK_OK(rl_source(b, o));
    RL_CHECK_OK(rl_parse(rl_raw("{}", 5), o));
    // Still strict about a short buffer.
    RL_EXPECT_ERROR_O(rl_raw(json, 15), st::errc::metadata_incomplete_buffer,
                      "MetadataIncompleteBuffer", o);
    // The default stays strict.
    RL_EXPECT_ERROR(b, st::errc::metadata_incomplete_buffer, "MetadataIncompleteBuffer");
  }

  TEST_CASE("rule 10: the final size check cannot overflow") {
    // Eight U8 tensors of 2^61 - 1 bytes each end at 2^64 - 8: 8 + N + end overflows 64 bits.
    const std::uint64_t a = (std::uint64_t{1} << 61) - 1;
    std::vector<std::string> entries;
    for (std::uint64_t k = 0; k < 8; ++k) {
      entries.push_back(rl_entry("t" + std::to_string(k), "U8", "[" + std::to_string(a) + "]",
                                 k * a, (k + 1) * a));
    }
    RL_EXPECT_ERROR(rl_raw(rl_obj(entries), 4), st::errc::metadata_incomplete_buffer,
                    "MetadataIncompleteBuffer");
    st::parse_options o;
    o.allow_trailing_bytes = true;
    RL_EXPECT_ERROR_O(rl_raw(rl_obj(entries), 4), st::errc::metadata_incomplete_buffer,
                      "MetadataIncompleteBuffer", o);
  }

  // ==========================================================================================
  // Check order: the earliest rule wins
  // ==========================================================================================
  TEST_CASE("order: each pair of errors reports the earlier rule") {
    SUBCASE("HeaderTooLarge before InvalidHeaderLength") {
      RL_EXPECT_ERROR(rl_prefixed(100000001, "{}"), st::errc::header_too_large, "HeaderTooLarge");
    }
    SUBCASE("InvalidHeaderLength before invalid UTF-8") {
      RL_EXPECT_ERROR(rl_prefixed(10, "\xff\xff\xff"), st::errc::invalid_header_length,
                      "InvalidHeaderLength");
    }
    SUBCASE("invalid UTF-8 before bad JSON") {
      RL_EXPECT_ERROR(rl_raw("[\xff"), st::errc::invalid_header, "InvalidHeader");
      RL_EXPECT_ERROR(rl_raw("\xEF\xBB\xBF{}\xC0\x80"), st::errc::invalid_header, "InvalidHeader");
      RL_EXPECT_ERROR(rl_raw(std::string("{}\0\xff", 4)), st::errc::invalid_header,
                      "InvalidHeader");
    }
    SUBCASE("a JSON error anywhere before any offset check") {
      // The first tensor has a gap; a later entry has an unknown dtype.
      RL_EXPECT_IHD(rl_raw(
          rl_obj({rl_entry("a", "U8", "[4]", 4, 8), rl_entry("b", "X99", "[4]", 8, 12)}), 12));
      // Offsets overlap; the header ends with garbage.
      RL_EXPECT_IHD(rl_raw(
          rl_obj({rl_entry("a", "U8", "[4]", 0, 4), rl_entry("b", "U8", "[4]", 0, 4)}) + "x", 4));
    }
    SUBCASE("DuplicateKey (JSON stage) before InvalidOffset") {
      RL_EXPECT_ERROR(
          rl_raw(rl_obj({rl_entry("a", "U8", "[4]", 0, 4), rl_entry("a", "U8", "[4]", 8, 12)}), 12),
          st::errc::duplicate_key, "DuplicateKey");
    }
    SUBCASE("InvalidOffset before ValidationOverflow, MisalignedSlice, TensorInvalidInfo") {
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F32", "[2,2]", 4, 8)}), 8),
                      st::errc::invalid_offset, "InvalidOffset");
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "U8", "[4294967296,4294967296]", 4, 8)}), 8),
                      st::errc::invalid_offset, "InvalidOffset");
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F4", "[3]", 4, 8)}), 8),
                      st::errc::invalid_offset, "InvalidOffset");
    }
    SUBCASE("ValidationOverflow before MisalignedSlice and TensorInvalidInfo") {
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F4", "[4611686018427387904,1]", 0, 3)}), 3),
                      st::errc::validation_overflow, "ValidationOverflow");
    }
    SUBCASE("MisalignedSlice before TensorInvalidInfo") {
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "F4", "[3]", 0, 7)}), 7),
                      st::errc::misaligned_slice, "MisalignedSlice");
    }
    SUBCASE("ValidationOverflow / TensorInvalidInfo before MetadataIncompleteBuffer") {
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "I32", "[2,9223372036854775807]", 0, 16)}), 3),
                      st::errc::validation_overflow, "ValidationOverflow");
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", "I32", "[2,2]", 0, 12)}), 100),
                      st::errc::tensor_invalid_info, "TensorInvalidInfo");
    }
    SUBCASE("the reference loop checks each tensor fully before the next one") {
      // Offset order: a (size mismatch, rule 9) comes before b (a gap, rule 6). The reference's
      // validate() visits a first and runs all of its checks, so TensorInvalidInfo wins.
      RL_EXPECT_ERROR(
          rl_raw(rl_obj({rl_entry("b", "U8", "[4]", 8, 12), rl_entry("a", "F32", "[2,2]", 0, 4)}),
                 12),
          st::errc::tensor_invalid_info, "TensorInvalidInfo");
    }
  }

  // ==========================================================================================
  // Legal and must load: zero-sized tensors, scalars
  // ==========================================================================================
  TEST_CASE("zero-sized tensors share offsets, also where a real tensor starts") {
    SUBCASE("(0,0) then (0,16)") {
      bytes_t b = rl_raw(
          rl_obj({rl_entry("real", "F32", "[4]", 0, 16), rl_entry("empty", "F32", "[0]", 0, 0)}),
          0);
      for (std::uint8_t v = 0; v < 16; ++v) b.push_back(v);
      const auto f = rl_parse(b);
      RL_REQUIRE_OK(f);
      REQUIRE(f->size() == 2);
      CHECK(std::string(f->tensors()[0].name()) == "empty");
      CHECK(std::string(f->tensors()[1].name()) == "real");
      CHECK(f->tensor("empty")->bytes().empty());
      CHECK(f->find("real")->byte_size() == 16);
      CHECK(f->tensor("real")->bytes()[15] == std::byte{15});
    }
    SUBCASE("several at one offset, before, between and after real tensors") {
      const auto f = rl_parse(
          rl_raw(rl_obj({rl_entry("z1", "F32", "[0]", 0, 0), rl_entry("z2", "U8", "[2,0]", 0, 0),
                         rl_entry("z3", "I64", "[0,5,7]", 0, 0), rl_entry("a", "U8", "[4]", 0, 4),
                         rl_entry("z4", "BF16", "[3,0]", 4, 4), rl_entry("z5", "F4", "[0]", 4, 4),
                         rl_entry("b", "U8", "[2]", 4, 6), rl_entry("z6", "C64", "[0]", 6, 6),
                         rl_entry("z7", "BOOL", "[0]", 6, 6)}),
                 6));
      RL_REQUIRE_OK(f);
      CHECK(f->size() == 9);
      for (const char* z : {"z1", "z2", "z3", "z4", "z5", "z6", "z7"}) {
        CAPTURE(z);
        const auto t = f->header().find(z);
        REQUIRE(t.has_value());
        CHECK(t->element_count() == 0);
        CHECK(t->byte_size() == 0);
        CHECK(f->tensor(z)->bytes().empty());
      }
      CHECK(f->header().find("z3")->rank() == 3);
      // tensors() is in (begin, end) order.
      std::uint64_t prev_begin = 0;
      std::uint64_t prev_end = 0;
      for (const st::tensor_info t : f->tensors()) {
        const std::string tname(t.name());
        CAPTURE(tname);
        const bool ordered = t.offsets().begin > prev_begin ||
                             (t.offsets().begin == prev_begin && t.offsets().end >= prev_end);
        CHECK(ordered);
        prev_begin = t.offsets().begin;
        prev_end = t.offsets().end;
      }
    }
    SUBCASE("only zero-sized tensors, no data") {
      const auto f = rl_parse(
          rl_raw(rl_obj({rl_entry("a", "F32", "[0]", 0, 0), rl_entry("b", "F32", "[0]", 0, 0)})));
      RL_REQUIRE_OK(f);
      CHECK(f->size() == 2);
      CHECK(f->header().data_size() == 0);
    }
  }

  TEST_CASE("scalars: shape [] holds one element") {
    const auto f =
        rl_parse(rl_raw(rl_obj({rl_entry("f", "F32", "[]", 0, 4), rl_entry("b", "BOOL", "[]", 4, 5),
                                rl_entry("d", "F64", "[]", 5, 13)}),
                        13, 1));
    RL_REQUIRE_OK(f);
    for (const char* n : {"f", "b", "d"}) {
      CAPTURE(n);
      const auto t = f->header().find(n);
      REQUIRE(t.has_value());
      CHECK(t->rank() == 0);
      CHECK(t->shape().empty());
      CHECK(t->element_count() == 1);
    }
    CHECK(f->header().find("f")->byte_size() == 4);
    CHECK(f->header().find("b")->byte_size() == 1);
    CHECK(f->header().find("d")->byte_size() == 8);
    // A sub-byte scalar is not a whole byte.
    RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("s", "F4", "[]", 0, 1)}), 1),
                    st::errc::misaligned_slice, "MisalignedSlice");
  }

  // ==========================================================================================
  // DuplicateKey: stricter than the reference, a key twice anywhere
  // ==========================================================================================
  TEST_CASE("DuplicateKey: every kind of repeated key") {
    const std::string e = R"({"dtype":"U8","shape":[4],"data_offsets":[0,4]})";
    const std::vector<std::tuple<const char*, std::string, std::string>> cases{
        {"two tensors of one name, same offsets (the reference keeps the last)",
         "{\"dup.name\":" + e + ",\"dup.name\":" + e + "}", "dup.name"},
        {"two tensors of one name, different dtype (the parser-differential case)",
         R"({"dup.name":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
         R"("dup.name":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
         "dup.name"},
        {"the same name written with \\u escapes", R"({"\u0074est":)" + e + R"(,"test":)" + e + "}",
         "test"},
        {"the same name, the second escaped", R"({"test":)" + e + R"(,"t\u0065s\u0074":)" + e + "}",
         "test"},
        {"__metadata__ twice", R"({"__metadata__":{"a":"1"},"__metadata__":{"b":"2"}})",
         "__metadata__"},
        {"__metadata__ twice, null first", R"({"__metadata__":null,"__metadata__":{}})",
         "__metadata__"},
        {"__metadata__ twice, the second escaped", R"({"__metadata__":{},"\u005f_metadata__":{}})",
         "__metadata__"},
        {"a metadata key twice", R"({"__metadata__":{"mdkey":"1","mdkey":"2"}})", "mdkey"},
        {"a metadata key twice, same value", R"({"__metadata__":{"mdkey":"1","mdkey":"1"}})",
         "mdkey"},
        {"dtype twice", R"({"t":{"dtype":"U8","shape":[4],"dtype":"U8","data_offsets":[0,4]}})",
         "dtype"},
        {"shape twice", R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"shape":[4]}})",
         "shape"},
        {"data_offsets twice",
         R"({"t":{"data_offsets":[0,4],"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
         "data_offsets"},
        {"an unknown extra field twice",
         R"({"t":{"dtype":"U8","extra_field":1,"shape":[4],"data_offsets":[0,4],"extra_field":1}})",
         "extra_field"},
        {"an unknown extra field twice, escaped",
         R"({"t":{"dtype":"U8","extra_field":1,"shape":[4],"data_offsets":[0,4],"extra_fiel\u0064":[]}})",
         "extra_field"},
        {"a key twice inside a nested ignored object",
         R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":{"nested_key":1,"nested_key":2}}})",
         "nested_key"},
        {"a key twice deep inside an ignored array",
         R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":[1,{"a":{"nested_key":[],"b":0,"nested_key":{}}}]}})",
         "nested_key"},
    };
    for (const auto& c : cases) {
      CAPTURE(std::get<0>(c));
      const bytes_t b = rl_raw(std::get<1>(c), 4);
      RL_EXPECT_ERROR(b, st::errc::duplicate_key, "DuplicateKey");
      const auto r = rl_parse(b);
      if (!r) {
        INFO(r.error().message());
        CHECK(rl_contains(r.error().message(), std::get<2>(c)));  // the message names the key
      }
    }
  }

  TEST_CASE("DuplicateKey: the same text in different scopes is not a duplicate") {
    const auto f = rl_parse(rl_raw(
        R"({"__metadata__":{"dtype":"x","t":"y","shape":"z"},)"
        R"("dtype":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"t":{"dtype":1},"u":[{"k":1},{"k":1}]},)"
        R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2],"dtype_":1,"x":{"a":{"a":{"a":1}}}},)"
        R"("Test":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},)"
        R"("test":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}})",
        4));
    RL_REQUIRE_OK(f);
    CHECK(f->size() == 4);
    CHECK(f->header().contains("dtype"));
    CHECK(f->header().contains("Test"));
    CHECK(f->header().contains("test"));
    REQUIRE(f->metadata().has_value());
    CHECK(f->metadata()->size() == 3);
  }

  // ==========================================================================================
  // Names are data, never paths
  // ==========================================================================================
  TEST_CASE("names: ../x, /abs, a\\u0000b, empty, non-ASCII all load and can be looked up") {
    const std::vector<std::pair<std::string, std::string>> names{
        // {JSON text of the name, decoded name}
        {"../x", "../x"},
        {"/abs", "/abs"},
        {R"(a\u0000b)", std::string("a\0b", 3)},
        {"", ""},
        {"\xE6\x9D\x83\xE9\x87\x8D.\xC3\xBC", "\xE6\x9D\x83\xE9\x87\x8D.\xC3\xBC"},
        {R"(..\\..\\evil)", "..\\..\\evil"},
        {R"(C:\\x)", "C:\\x"},
        {R"(q\"uote)", "q\"uote"},
        {"with space", "with space"},
        {R"(\u0000)", std::string("\0", 1)},
    };
    std::vector<std::string> entries;
    bytes_t data;
    for (std::size_t i = 0; i < names.size(); ++i) {
      entries.push_back(rl_entry(names[i].first, "U8", "[1]", i, i + 1));
      data.push_back(static_cast<std::uint8_t>(0xA0 + i));
    }
    const bytes_t b = st_test::make_raw(rl_obj(entries), data);
    const auto f = rl_parse(b);
    RL_REQUIRE_OK(f);
    CHECK(f->size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i].second;
      CAPTURE(i);
      CHECK(f->header().contains(name));
      const auto t = f->header().find(std::string_view(name.data(), name.size()));
      REQUIRE(t.has_value());
      CHECK(std::string(t->name()) == name);
      CHECK(t->offsets().begin == i);
      const auto at = f->header().at(name);
      REQUIRE(at.has_value());
      CHECK(at->offsets().begin == i);
      const auto v = f->tensor(name);
      REQUIRE(v.has_value());
      CHECK(rl_u8(v->bytes()) == bytes_t{static_cast<std::uint8_t>(0xA0 + i)});
    }
    // The NUL is part of the name: neither half, nor the name without it, matches.
    CHECK_FALSE(f->header().contains("a"));
    CHECK_FALSE(f->header().contains("ab"));
    CHECK_FALSE(f->header().contains(std::string_view("a\0", 2)));
    CHECK_FALSE(f->header().contains(std::string_view("a\0b\0", 4)));
    CHECK(f->header().contains(std::string_view("a\0b", 3)));
    CHECK_FALSE(f->header().contains("x"));
    CHECK_FALSE(f->header().contains("abs"));
    // Through the pread-style reader too.
    const auto r = rl_source(b);
    RL_REQUIRE_OK(r);
    std::byte out[1] = {};
    RL_CHECK_OK(r->read_into(std::string_view("a\0b", 3), st::span<std::byte>(out)));
    CHECK(out[0] == std::byte{0xA2});
  }

  // ==========================================================================================
  // Lookup: find / at / contains, TensorNotFound, iteration orders
  // ==========================================================================================
  TEST_CASE("lookup: find, at, contains, TensorNotFound") {
    const bytes_t b = rl_raw(rl_obj({rl_entry("present", "U8", "[2]", 0, 2)}), 2, 3);
    const auto f = rl_parse(b);
    RL_REQUIRE_OK(f);
    CHECK(f->header().contains("present"));
    CHECK(f->header().find("present").has_value());
    CHECK(f->find("present").has_value());
    CHECK_FALSE(f->header().contains("missing.tensor"));
    CHECK_FALSE(f->header().find("missing.tensor").has_value());
    CHECK_FALSE(f->find("missing.tensor").has_value());
    CHECK_FALSE(f->header().contains("presen"));
    CHECK_FALSE(f->header().contains("present "));
    CHECK_FALSE(f->header().contains("Present"));
    CHECK_FALSE(f->header().contains(""));
    const auto at = f->header().at("missing.tensor");
    RL_CHECK_ERROR(at, st::errc::tensor_not_found, "TensorNotFound");
    if (!at) CHECK(rl_contains(at.error().message(), "missing.tensor"));
    RL_CHECK_ERROR(f->tensor("missing.tensor"), st::errc::tensor_not_found, "TensorNotFound");
    const auto r = rl_source(b);
    RL_REQUIRE_OK(r);
    std::byte out[2] = {};
    RL_CHECK_ERROR(r->read_into("missing.tensor", st::span<std::byte>(out)),
                   st::errc::tensor_not_found, "TensorNotFound");
    RL_CHECK_OK(r->read_into("present", st::span<std::byte>(out)));
    CHECK(out[1] == std::byte{3});
    // An empty file has nothing to find.
    const auto e = rl_parse(rl_raw("{}"));
    RL_REQUIRE_OK(e);
    CHECK_FALSE(e->header().contains(""));
    RL_CHECK_ERROR(e->header().at(""), st::errc::tensor_not_found, "TensorNotFound");
  }

  TEST_CASE("lookup: tensors() in offset order, tensors_by_name() in byte-wise name order") {
    // JSON order, offset order and name order all differ.
    const bytes_t b =
        rl_raw(rl_obj({rl_entry("b", "U8", "[1]", 3, 4), rl_entry("\xC3\xA9", "U8", "[1]", 0, 1),
                       rl_entry("B", "U8", "[1]", 5, 6), rl_entry("", "U8", "[1]", 2, 3),
                       rl_entry("z", "U8", "[1]", 1, 2), rl_entry("a", "U8", "[1]", 4, 5)}),
               6);
    const auto f = rl_parse(b);
    RL_REQUIRE_OK(f);
    const std::vector<std::string> by_offset{"\xC3\xA9", "z", "", "b", "a", "B"};
    // Byte-wise: "" < "B" (0x42) < "a" (0x61) < "b" < "z" (0x7A) < "\xC3\xA9" (0xC3).
    const std::vector<std::string> by_name{"", "B", "a", "b", "z", "\xC3\xA9"};
    std::vector<std::string> got;
    for (const st::tensor_info t : f->tensors()) got.emplace_back(t.name());
    CHECK(got == by_offset);
    got.clear();
    for (const st::tensor_info t : f->header().tensors_by_name()) got.emplace_back(t.name());
    CHECK(got == by_name);
    CHECK(f->header().tensors().size() == 6);
    CHECK(f->header().tensors_by_name().size() == 6);
    for (std::size_t i = 0; i < 6; ++i) {
      CHECK(f->tensors()[i].offsets().begin == i);
    }
  }

  // ==========================================================================================
  // The dtype table (docs/format.md#dtypes): all 22 names, their bits, element_count and byte_size
  // ==========================================================================================
  TEST_CASE("dtypes: every name loads with the right bits, element count and byte size") {
    std::vector<st_test::tensor_spec> specs;
    for (std::size_t i = 0; i < st_test::dtype_table.size(); ++i) {
      const std::string name(st_test::dtype_table[i].name);
      // Shape [2,4]: 8 elements, so the byte size equals the bit width.
      const std::size_t size = st_test::byte_size(name, {2, 4});
      bytes_t data(size);
      for (std::size_t k = 0; k < size; ++k) data[k] = static_cast<std::uint8_t>(i * 16 + k);
      specs.push_back({"t_" + name, name, {2, 4}, data});
    }
    REQUIRE(specs.size() == 22);
    const bytes_t b = st_test::make_file(specs);
    const auto f = rl_parse(b);
    RL_REQUIRE_OK(f);
    REQUIRE(f->size() == 22);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& spec = specs[i];
      CAPTURE(spec.dtype);
      const auto t = f->header().find(spec.name);
      REQUIRE(t.has_value());
      CHECK(std::string(st::to_string(t->dtype())) == spec.dtype);
      CHECK(st::dtype_from_string(spec.dtype) == t->dtype());
      CHECK(static_cast<std::size_t>(t->dtype()) == i);  // reference rank order
      CHECK(st::bit_size(t->dtype()) == st_test::dtype_table[i].bits);
      CHECK(t->element_count() == 8);
      CHECK(t->byte_size() == st_test::dtype_table[i].bits);
      CHECK(rl_dims(t->shape()) == std::vector<std::uint64_t>{2, 4});
      CHECK(rl_u8(f->tensor(spec.name)->bytes()) == spec.data);
    }
    CHECK(st::dtype_count == 22);
    CHECK_FALSE(st::dtype_from_string("f32").has_value());
    CHECK_FALSE(st::dtype_from_string("").has_value());
  }

  TEST_CASE("dtypes: element_count and byte_size for other shapes") {
    struct row {
      const char* dtype;
      const char* shape;
      std::uint64_t elements;
      std::uint64_t bytes;
    };
    const std::vector<row> rows{
        {"BOOL", "[3]", 3, 3},        {"F4", "[6]", 6, 3},          {"F6_E2M3", "[4]", 4, 3},
        {"F6_E3M2", "[8]", 8, 6},     {"U8", "[1,1,1]", 1, 1},      {"I8", "[5]", 5, 5},
        {"F8_E5M2", "[2,3]", 6, 6},   {"F8_E4M3", "[7]", 7, 7},     {"F8_E8M0", "[1]", 1, 1},
        {"F8_E4M3FNUZ", "[2]", 2, 2}, {"F8_E5M2FNUZ", "[3]", 3, 3}, {"I16", "[3]", 3, 6},
        {"U16", "[1,2]", 2, 4},       {"F16", "[5]", 5, 10},        {"BF16", "[1]", 1, 2},
        {"I32", "[3]", 3, 12},        {"U32", "[2,1]", 2, 8},       {"F32", "[1,2,3]", 6, 24},
        {"C64", "[3]", 3, 24},        {"F64", "[2]", 2, 16},        {"I64", "[1]", 1, 8},
        {"U64", "[]", 1, 8},
    };
    REQUIRE(rows.size() == 22);
    for (const row& r : rows) {
      CAPTURE(r.dtype);
      const auto f = rl_parse(rl_raw(rl_obj({rl_entry("t", r.dtype, r.shape, 0, r.bytes)}),
                                     static_cast<std::size_t>(r.bytes)));
      RL_CHECK_OK(f);
      if (f) {
        const auto t = f->header().find("t");
        REQUIRE(t.has_value());
        CHECK(t->element_count() == r.elements);
        CHECK(t->byte_size() == r.bytes);
      }
      // One byte too many is a size mismatch.
      RL_EXPECT_ERROR(rl_raw(rl_obj({rl_entry("t", r.dtype, r.shape, 0, r.bytes + 1)}),
                             static_cast<std::size_t>(r.bytes + 1)),
                      st::errc::tensor_invalid_info, "TensorInvalidInfo");
    }
  }

  // ==========================================================================================
  // Error messages are useful
  // ==========================================================================================
  TEST_CASE("messages: TensorInvalidInfo names the tensor, the offsets and both sizes") {
    const auto r =
        rl_parse(rl_raw(rl_obj({rl_entry("layer.0.weight", "F32", "[2,2]", 0, 12)}), 12));
    RL_CHECK_ERROR(r, st::errc::tensor_invalid_info, "TensorInvalidInfo");
    if (!r) {
      const std::string m = r.error().message();
      INFO(m);
      CHECK(rl_contains(m, "layer.0.weight"));
      CHECK(rl_contains(m, "[0,12]"));
      CHECK(rl_contains(m, "12 bytes"));
      CHECK(rl_contains(m, "F32[2,2]"));
      CHECK(rl_contains(m, "16"));
      CHECK(rl_contains(r.error().to_string(), "TensorInvalidInfo"));
    }
  }

  TEST_CASE("messages: the other validation errors name the tensor") {
    const std::vector<std::pair<std::string, st::errc>> cases{
        {rl_obj({rl_entry("my.tensor", "U8", "[4]", 4, 8)}), st::errc::invalid_offset},
        {rl_obj({rl_entry("my.tensor", "U8", "[18446744073709551615,2]", 0, 0)}),
         st::errc::validation_overflow},
        {rl_obj({rl_entry("my.tensor", "F4", "[3]", 0, 2)}), st::errc::misaligned_slice},
        {rl_obj({rl_entry("my.tensor", "X", "[3]", 0, 2)}),
         st::errc::invalid_header_deserialization},
        {R"({"my.tensor":{"dtype":"U8","shape":[4]}})", st::errc::invalid_header_deserialization},
    };
    for (const auto& c : cases) {
      CAPTURE(c.first);
      const auto r = rl_parse(rl_raw(c.first, 8));
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code() == c.second);
      INFO(r.error().message());
      CHECK(rl_contains(r.error().message(), "my.tensor"));
    }
  }

  TEST_CASE("messages stay short for hostile shapes: a rank-10000 shape is cut after 16 dims") {
    std::string shape = "[";
    for (int i = 0; i < 10000; ++i) shape += i == 0 ? "1" : ",1";
    shape += "]";
    // 1 element of U8 needs 1 byte; data_offsets [0,2] claim 2.
    const bytes_t b = rl_raw(rl_obj({rl_entry("deep", "U8", shape, 0, 2)}), 2);
    auto r = rl_parse(b);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::tensor_invalid_info);
    INFO(r.error().message());
    CHECK(rl_contains(r.error().message(), "(10000 dimensions)"));
    CHECK(r.error().message().size() < 300);
    // The table itself keeps every dimension.
    auto ok = rl_parse(rl_raw(rl_obj({rl_entry("deep", "U8", shape, 0, 1)}), 1));
    RL_REQUIRE_OK(ok);
    CHECK(ok->header().find("deep")->rank() == 10000);
  }
}
