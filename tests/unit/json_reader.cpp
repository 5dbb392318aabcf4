// The JSON reader (include/safetensors/parts/json.hpp) against nlohmann/json's parser, token by
// token (st_fuzz::check_json: the same verdict, the same keys and strings decoded, the same
// numbers classified and valued alike, up to the first error), and the same texts as headers
// against the reference checker (the same verdict, error name and table). The texts: every
// escape, surrogates, numbers at the edges of the integer and double ranges, literals,
// whitespace, nesting around the limit, every truncation, and seeded random mutations of real
// headers and indexes. Then the reader's own errors: where and what.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <safetensors/safetensors.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../fuzz/fuzz_checks.hpp"

namespace {
namespace st = safetensors;

struct jr_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// While it lives, a failed check throws jr_failure instead of aborting.
struct jr_failures_reported {
  jr_failures_reported() {
    st_fuzz::on_failure = [](const std::string& message) { throw jr_failure(message); };
  }
  ~jr_failures_reported() { st_fuzz::on_failure = nullptr; }
  jr_failures_reported(const jr_failures_reported&) = delete;
  jr_failures_reported& operator=(const jr_failures_reported&) = delete;
};

std::string jr_show(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 400; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Runs st_fuzz::check_json on `text`; true when the reader accepts it. A disagreement is a failed
// check that shows the text.
bool jr_agree(const std::string& text) {
  try {
    st_fuzz::check_json(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  } catch (const jr_failure& e) {
    FAIL_CHECK("on " << jr_show(text) << ": " << e.what());
  }
  struct sink {
    bool start_object() { return true; }
    bool end_object() { return true; }
    bool start_array() { return true; }
    bool end_array() { return true; }
    bool key(std::string&) { return true; }
    bool string(std::string&) { return true; }
    bool number_unsigned(std::uint64_t) { return true; }
    bool number_integer(std::int64_t) { return true; }
    bool number_float(double, std::string&) { return true; }
    bool boolean(bool) { return true; }
    bool null() { return true; }
    bool parse_error(std::size_t, const std::string&) { return false; }
  } s;
  return st::detail::json_sax_parse(text.data(), text.data() + text.size(), s);
}

// Values: every escape, surrogates, numbers at the edges, literals, broken forms of each.
std::vector<std::string> jr_values() {
  std::vector<std::string> v{
      // strings and escapes
      R"("")", R"("abc")", R"("\"\\\/\b\f\n\r\t")", R"("\u0000")", R"("\u001f")", R"("\u007F")",
      R"("\u00e9\u00C9")", R"("\u20ac")", R"("\uffff")", R"("\ud83d\ude00")", R"("\uD83D\uDE00")",
      R"("\udbff\udfff")", R"("\ud800\udc00")", R"("\ud800")", R"("\udc00")", R"("\udfff")",
      R"("\ud800\u0041")", R"("\ud800x")", R"("\ud800\")", R"("\ud800\ud800")", R"("\udc00\ud800")",
      R"("\ud83d\ude0")", R"("\u12")", R"("\u12g4")", R"("\U0041")", R"("\x41")", R"("\a")",
      R"("\0")", R"("\ ")", R"("\)", R"("\")", R"("abc)", "\"a\x01\"", "\"a\x1f\"", "\"a\x7f\"",
      "\"a\tb\"", "\"a\nb\"", "\"\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"",
      "\"\xc3\"", "\"\xe2\x82\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"",
      "\"\xff\"", "\"\x80\"", "\"0123456789abcdef\\n0123456789abcdef\"",
      // numbers
      "0", "-0", "1", "-1", "9", "10", "00", "-00", "01", "-01", "0.0", "-0.0", "0.5", "1.", ".5",
      "-.5", "1.e1", "1e", "1e+", "1e-", "1E5", "1e+5", "1e-5", "1E-0", "0e0", "-0e-0", "+1", "-",
      "--1", "- 1", "1 2", "0x10", "1_000", "Infinity", "-Infinity", "NaN", "18446744073709551615",
      "18446744073709551616", "18446744073709551625", "99999999999999999999",
      "184467440737095516150", "9223372036854775807", "9223372036854775808", "-9223372036854775807",
      "-9223372036854775808", "-9223372036854775809", "-18446744073709551615",
      "-18446744073709551616", "4294967296", "1e308", "1.7976931348623157e308",
      "1.7976931348623158e308", "1.7976931348623159e308", "-1.7976931348623159e308", "1e309",
      "-1e309", "1e400", "1e-400", "4.9e-324", "2.4e-324", "2.5e-324", "0e99999999999999999999",
      "1e99999999999999999999", "1e-99999999999999999999", "123456789012345678901234567890",
      "0.30000000000000004", "1" + std::string(308, '0'), "1" + std::string(309, '0'),
      "0." + std::string(400, '0') + "1", "-" + std::string(400, '9'),
      // literals
      "true", "false", "null", "tru", "fals", "nul", "True", "NULL", "truee", "nulll", "t", "n",
      // containers
      "{}", "[]", "[1]", "[1,]", "[,1]", "[1,,2]", "[1 2]", R"({"a":1})", R"({"a":1,})",
      R"({"a" 1})", R"({"a":})", R"({"a"})", R"({a:1})", R"({'a':1})", R"({1:1})",
      R"({"a":1 "b":2})", R"({"a":1,"a":2})", R"({"":[{}],"b":{"c":[null,true,false]}})", "[", "]",
      "{", "}", "[}", "{]",
      // whitespace and other bytes
      " 1 ", "\t\r\n[\t1\r,\n2 ]\n", "\f1", "\v1", "\xc2\xa0 1", "1 /* c */", "1 // c", "/**/1",
      "#1", "\xef\xbb\xbf{}", " \xef\xbb\xbf{}", "", " ", std::string("\0", 1),
      std::string("[1,\0]", 5), std::string("\"a\0b\"", 5), std::string("{}\0", 3)};
  return v;
}

TEST_CASE("json reader: the same tokens as nlohmann on every value, alone and in context") {
  const jr_failures_reported reported;
  const std::string entry = R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":)";
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  for (const std::string& v : jr_values()) {
    CAPTURE(jr_show(v));
    for (const std::string& text :
         {v, "[" + v + "]", "[1," + v + ",2]", R"({"k":)" + v + "}", "{" + v + ":1}",
          "[[[" + v + "]]]", v + " " + v,
          // as headers: an ignored field, a metadata value, a dimension, a name, a dtype
          entry + v + "}}", R"({"__metadata__":{"k":)" + v + "}}",
          R"({"t":{"dtype":"U8","shape":[)" + v + R"(],"data_offsets":[0,4]}})",
          "{" + v + R"(:{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
          R"({"t":{"dtype":)" + v + R"(,"shape":[0],"data_offsets":[0,0]}})"}) {
      (jr_agree(text) ? accepted : rejected) += 1;
    }
  }
  // Both outcomes, many times each.
  CHECK(accepted > 500);
  CHECK(rejected > 500);
}

TEST_CASE("json reader: nesting around the limit") {
  const jr_failures_reported reported;
  const std::size_t limit = st::detail::json_reader::max_depth;
  for (std::size_t levels = limit - 2; levels <= limit + 2; ++levels) {
    CAPTURE(levels);
    const std::string arrays = std::string(levels, '[') + std::string(levels, ']');
    std::string objects;
    for (std::size_t i = 0; i < levels; ++i) objects += "{\"a\":";
    objects += "1" + std::string(levels, '}');
    std::string mixed;
    for (std::size_t i = 0; i < levels; ++i) mixed += i % 2 ? "{\"k\":" : "[";
    mixed += "1";
    for (std::size_t i = levels; i-- > 0;) mixed += i % 2 ? "}" : "]";
    CHECK(jr_agree(arrays) == (levels <= limit));
    CHECK(jr_agree(objects) == (levels <= limit));
    CHECK(jr_agree(mixed) == (levels <= limit));
    // As an ignored field of a header (two levels above it): the header allows 127 in all.
    jr_agree(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":)" + arrays + "}}");
  }
}

// Real texts: headers (with metadata, escapes, many tensors) and an index.
std::vector<std::string> jr_documents() {
  std::string many = "{";
  for (int i = 0; i < 20; ++i) {
    many += (i ? "," : "") + std::string("\"layers.") + std::to_string(i) +
            R"(.w":{"dtype":"F16","shape":[2,2],"data_offsets":[)" + std::to_string(8 * i) + "," +
            std::to_string(8 * i + 8) + "]}";
  }
  many += "}";
  return {
      many,
      R"({"__metadata__":{"format":"pt","k\u00e9":"a\"b\\c\/d\n\u0000e"},"w":{"dtype":"BF16",)"
      R"("shape":[1,2],"data_offsets":[0,4],"extra":[-1,2.5e-3,null,true,{"z":"\ud83d\ude00"}]}} )",
      "\t{\"\xe6\x9d\x83\":{\"data_offsets\":[0,0],\"shape\":[0,18446744073709551615],"
      "\"dtype\":\"F64\"}}\r\n",
      R"({"metadata":{"total_size":1e3,"n":[1,-2,3.5]},"weight_map":{"a":"m-1.safetensors"}})",
  };
}

TEST_CASE("json reader: every truncation of real headers and indexes") {
  const jr_failures_reported reported;
  for (const std::string& doc : jr_documents()) {
    CHECK(jr_agree(doc));
    // Complete from the closing brace on (whitespace may follow it).
    const std::size_t complete = doc.find_last_of('}') + 1;
    for (std::size_t n = 0; n < doc.size(); ++n) {
      CAPTURE(n);
      CHECK(jr_agree(doc.substr(0, n)) == (n >= complete));
    }
  }
}

TEST_CASE("json reader: seeded random mutations of real headers and indexes") {
  const jr_failures_reported reported;
  const std::vector<std::string> docs = jr_documents();
  // Bytes that change the meaning of JSON text.
  static const char special_bytes[] =
      "{}[]:,\"\\/ u0123456789abcdefABCDEF.eE+-tfnrl\x01\x1f\x7f\x80\xc3\xed\xef\xff";
  const std::string_view special(special_bytes, sizeof special_bytes);  // with the NUL
  std::mt19937_64 rng(0x750Au);
  std::size_t accepted = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string s = docs[rng() % docs.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      const char c = special[rng() % special.size()];
      switch (rng() % 4) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(at, 1, c);
          break;
        case 2:
          s.erase(at, 1);
          break;
        default:
          s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
          break;
      }
    }
    if (jr_agree(s)) ++accepted;
  }
  CHECK(accepted > 200);
}

// The reader's first error, as json_reader reports it.
std::pair<std::size_t, std::string> jr_error(std::string_view text) {
  st::detail::json_reader r(text.data(), text.data() + text.size());
  for (;;) {
    const auto t = r.next();
    if (t == st::detail::json_token::error) return {r.error_offset(), r.error_what()};
    if (t == st::detail::json_token::end) return {0, "no error"};
  }
}

TEST_CASE("json reader: errors say where and what, and show a short excerpt") {
  using p = std::pair<std::size_t, std::string>;
  CHECK(jr_error(R"({"a":tru})") == p{5, "invalid literal, found 'tru}'"});
  CHECK(jr_error(R"({"a":1,})") == p{7, "expected a string (an object key), found '}'"});
  CHECK(jr_error(R"([1 2])") == p{3, "expected ',' or ']' after an array element, found '2]'"});
  CHECK(jr_error(R"({"a" 1})") == p{5, "expected ':' after an object key, found '1}'"});
  CHECK(jr_error(R"({"a":1 "b":2})") ==
        p{7, "expected ',' or '}' after an object member, found '\"b\":2}'"});
  CHECK(jr_error("{") ==
        p{1, "expected a string (an object key) or '}', found the end of the text"});
  CHECK(jr_error("[") == p{1, "expected a value, found the end of the text"});
  CHECK(jr_error("{} x") == p{3, "only whitespace may follow the JSON value, found 'x'"});
  CHECK(jr_error("[01]") == p{2, "expected ',' or ']' after an array element, found '1]'"});
  CHECK(jr_error("[-x]") == p{2, "a digit must follow '-', found 'x]'"});
  CHECK(jr_error("[1.]") == p{3, "a digit must follow the decimal point, found ']'"});
  CHECK(jr_error("[1e+]") == p{4, "a digit must follow the exponent, found ']'"});
  CHECK(jr_error("[1,1e400]") ==
        p{3, "the number is out of the range of a double, found '1e400]'"});
  CHECK(jr_error(R"(["ab\q"])") == p{4, "invalid escape, found '\\q\"]'"});
  CHECK(jr_error(R"(["\u12x4"])") ==
        p{2, "\\u must be followed by 4 hex digits, found '\\u12x4\"]'"});
  CHECK(jr_error(R"(["a\udc00"])") ==
        p{3, "a low surrogate escape without a high surrogate before it, found '\\udc00\"]'"});
  CHECK(
      jr_error(R"(["\ud800\u0041"])") ==
      p{2, "a high surrogate escape without a low surrogate after it, found '\\ud800\\u0041\"]'"});
  CHECK(jr_error("[\"a\nb\"]") ==
        p{3, "a control character in a string (it must be escaped), found '\\x0ab\"]'"});
  CHECK(jr_error("[\"a\xc3(\"]") == p{3, "invalid UTF-8 in a string, found '\\xc3(\"]'"});
  CHECK(jr_error("[\"abc") == p{5, "the string is not closed, found the end of the text"});
  // The excerpt is 16 bytes at most, whatever follows.
  const std::string long_tail = "[1 " + std::string(1 << 20, 'x') + "]";
  CHECK(jr_error(long_tail) ==
        p{3, "expected ',' or ']' after an array element, found 'xxxxxxxxxxxxxxxx'..."});
  // Nesting: the reader's own limit (the header's and the index's handlers stop at 127 first).
  const std::string deep(st::detail::json_reader::max_depth + 1, '[');
  CHECK(jr_error(deep) ==
        p{st::detail::json_reader::max_depth, "nesting deeper than 128 levels, found '['"});
}

TEST_CASE("json reader: parse() and parse_index() name the header or index offset") {
  const std::string h = R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},})";
  std::vector<std::uint8_t> file(8);
  for (std::size_t i = 0; i < 8; ++i) file[i] = static_cast<std::uint8_t>(h.size() >> (8 * i));
  file.insert(file.end(), h.begin(), h.end());
  file.insert(file.end(), 4, 0);
  const auto f = st::parse(st::as_bytes(file));
  REQUIRE_FALSE(f.has_value());
  CHECK(f.error().code() == st::errc::invalid_header_deserialization);
  CHECK(f.error().message() ==
        "invalid JSON at header offset 53 (file offset 61): expected a string (an object key), "
        "found '}'");
  const auto i = st::parse_index(R"({"weight_map":{"a":"b.safetensors"}]})");
  REQUIRE_FALSE(i.has_value());
  CHECK(i.error().code() == st::errc::invalid_header_deserialization);
  CHECK(i.error().message() ==
        "invalid JSON at offset 35 of the index: expected ',' or '}' after an object member, "
        "found ']}'");
}

}  // namespace
