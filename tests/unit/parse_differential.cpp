// Differential tests: safetensors::parse against the test-only reference checker
// (tests/support/reference_checker.hpp, a DOM-based validator that follows
// docs/format.md#reader-rules literally). Both must agree on the verdict, the error name and, for
// accepted inputs, the whole table, on the reference's test vectors, on hand-written edge cases and
// on deterministic random mutations of valid files (byte flips, truncations, insertions, JSON-level
// edits of offsets, shapes, dtypes, keys and metadata).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <safetensors/safetensors.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../fuzz/fuzz_checks.hpp"
#include "reference_checker.hpp"
#include "test_writer.hpp"

namespace {
namespace st = safetensors;
using df_bytes = std::vector<std::uint8_t>;

// "" when the library and the checker agree on `b`, else a description of the disagreement.
std::string df_compare(const df_bytes& b, const st::parse_options& opts = {}) {
  st_ref::options ropts;
  ropts.max_header_size = opts.max_header_size;
  ropts.allow_trailing_bytes = opts.allow_trailing_bytes;
  const st_ref::verdict want = st_ref::check(b.data(), b.size(), ropts);
  const auto got = st::parse(st::as_bytes(b), opts);
  const std::string got_name = got ? std::string("ok") : std::string(got.error().name());
  const std::string want_name = want.ok ? std::string("ok") : want.error;
  if (got_name != want_name) {
    return "library " + got_name + (got ? "" : " (" + got.error().message() + ")") + ", checker " +
           want_name;
  }
  if (!got) return {};
  const st::header& h = got->header();
  if (h.header_size() != want.header_size) return "header_size differs";
  if (h.data_size() != want.data_size) return "data_size differs";
  if (h.size() != want.tensors.size()) return "tensor count differs";
  if (h.metadata().has_value() != want.metadata.has_value()) return "metadata presence differs";
  if (want.metadata) {
    if (h.metadata()->size() != want.metadata->size()) return "metadata size differs";
    for (const auto& [k, v] : *want.metadata) {
      const auto it = h.metadata()->find(k);
      if (it == h.metadata()->end() || it->second != v) return "metadata value differs";
    }
  }
  std::size_t i = 0;
  for (const st::tensor_info t : h.tensors()) {
    const st_ref::tensor& w = want.tensors[i++];
    if (t.name() != w.name) return "name differs at " + std::to_string(i - 1);
    if (st::to_string(t.dtype()) != w.dtype) return "dtype differs for " + w.name;
    if (std::vector<std::uint64_t>(t.shape().begin(), t.shape().end()) != w.shape)
      return "shape differs for " + w.name;
    if (t.offsets().begin != w.begin || t.offsets().end != w.end)
      return "offsets differ for " + w.name;
    const auto v = got->tensor(t);
    if (v.byte_size() != w.end - w.begin) return "view size differs for " + w.name;
    if (v.byte_size() != 0 &&
        v.data() != reinterpret_cast<const std::byte*>(b.data()) + 8 + want.header_size + w.begin)
      return "view address differs for " + w.name;
  }
  return {};
}

df_bytes df_raw(std::string_view json, std::size_t data = 0) {
  return st_test::make_raw(json, df_bytes(data, 0));
}

df_bytes df_prefixed(std::uint64_t n, std::string_view rest) {
  df_bytes out = st_test::le64(n);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

std::string df_show(const df_bytes& b) {
  std::string s;
  for (std::size_t i = 0; i < b.size() && i < 300; ++i) {
    const auto c = b[i];
    if (c >= 0x20 && c < 0x7f) {
      s += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      s += "\\x";
      s += hex[c >> 4];
      s += hex[c & 15];
    }
  }
  return s;
}

#define DF_AGREE(bytes)                          \
  do {                                           \
    const df_bytes df_b_ = (bytes);              \
    const std::string df_d_ = df_compare(df_b_); \
    INFO("input: " << df_show(df_b_));           \
    CHECK_MESSAGE(df_d_.empty(), df_d_);         \
  } while (0)

const char* const df_vector_b = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";

// The reference's test vectors (docs/format.md#conformance-vectors), rebuilt byte by byte.
std::vector<df_bytes> df_reference_vectors() {
  std::vector<df_bytes> v;
  v.push_back(df_raw(df_vector_b, 16));
  v.push_back(df_raw(R"({"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})", 4));
  v.push_back(df_raw(R"({"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}})"));
  v.push_back(df_raw("{}\r \t\n"));
  v.push_back(df_raw("\t\n{}\r "));
  df_bytes polyglot = df_raw(df_vector_b, 16);
  for (char c : std::string_view("extra_bogus_data_for_polyglot_file")) {
    polyglot.push_back(static_cast<std::uint8_t>(c));
  }
  v.push_back(polyglot);
  df_bytes short2 = df_raw(df_vector_b, 16);
  short2.resize(short2.size() - 2);
  v.push_back(short2);
  df_bytes too_large = df_raw(df_vector_b, 16);
  const std::uint8_t prefix[8] = {0x3C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF};
  std::copy(prefix, prefix + 8, too_large.begin());
  v.push_back(too_large);
  v.push_back({});
  v.push_back(st_test::le64(60));
  v.push_back(df_prefixed(1, "\xff"));
  v.push_back(df_prefixed(1, "{"));
  v.push_back(df_raw(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}})"));
  v.push_back(df_raw(
      R"({"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}})", 16));
  v.push_back(df_raw(
      R"({"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}})", 16));
  std::string attack = "{";
  for (int i = 0; i < 10; ++i) {
    if (i) attack += ',';
    attack += "\"weight_" + std::to_string(i) +
              R"(":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  }
  attack += "}";
  v.push_back(df_raw(attack, 16));
  v.push_back(df_raw(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})", 24));
  v.push_back(df_raw(R"({"attn.0":{"dtype":"F4","shape":[1,2],"data_offsets":[0,1]}}    )", 1));
  v.push_back(df_raw("{}      "));
  v.push_back(df_raw(R"({"__metadata__":{"framework":"pt"}}     )"));
  v.push_back(df_raw(R"({"test":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}    )", 8));
  v.push_back(df_raw(R"({"test":{"dtype":"C64","shape":[2,2],"data_offsets":[0,32]}}    )", 32));
  v.push_back(df_raw(
      R"({"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}       )",
      16));
  v.push_back(
      df_raw(R"({"liar":{"dtype":"F32","shape":[1024,1024],"data_offsets":[0,4194304]}})", 1));
  return v;
}

// Hand-written headers at the edges of rule 5 and of DuplicateKey's precedence.
std::vector<std::string> df_edge_headers() {
  const std::string t = R"("t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  return {
      "{" + t + "}",
      "{" + t + "," + t + "}",
      "{\"__metadata__\":null," + t + "}",
      "{\"__metadata__\":{}," + t + "}",
      "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}," + t + "}",
      "{\"__metadata__\":{\"a\":1,\"a\":\"2\"}," + t + "}",
      "{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":null," + t + "}",
      "{\"__metadata__\":[],\"__metadata__\":null," + t + "}",
      "{\"__metadata__\":{\"a\":{\"b\":1,\"b\":2}}," + t + "}",
      "{\"t\":{\"dtype\":\"BAD\"}," + t + "}",
      "{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"shape\":[-1],\"dtype\":\"U8\",\"dtype\":\"U8\"}}",
      "{\"t\":{\"x\":{\"a\":1,\"a\":2},\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"x\":[{\"a\":1},{\"a\":1,\"b\":[{\"c\":0,\"c\":0}]}],\"dtype\":\"U8\"}}",
      "{\"t\":{\"shape\":[{\"a\":1,\"a\":2}]}}",
      "{\"t\":{\"x\":1,\"x\":2}}",
      "{\"t\":[{\"a\":1,\"a\":1}]}",
      "[{\"a\":1,\"a\":1}]",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"a\":1,,}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},,\"a\":1}",
      "{\"a\":{},\"\\u0061\":{}}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"\\u0061\":{}}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"a\"",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1e999],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"t\":{\"x\":1e999}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}",
      "{\"t\":{\"dtype\":\"u8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":[1,{}]}}",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x",
      "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}\t\r\n ",
      "\xEF\xBB\xBF{}",
      std::string("{}\0\0", 4),
      "{\"\\ud800\":{}}",
      "{\"a\x01\":{}}",
      "\"just a string\"",
      "null",
      "",
      "{\"t\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}",
      "{\"t\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[0,3]}}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
      "\"b\":{\"dtype\":\"U64\",\"shape\":[9223372036854775808,0],\"data_offsets\":[0,0]}}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,0]}}",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}",
  };
}

std::string df_nest(std::size_t levels) {
  std::string s = "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":";
  s += std::string(levels, '[') + std::string(levels, ']') + "}}";
  return s;
}

TEST_CASE(
    "differential: the checker's own verdicts on the reference vectors "
    "(docs/format.md#conformance-vectors)") {
  // Expected names from the reference's tests, so that the checker is not only compared with
  // the library.
  const std::vector<std::string> want{"ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "MetadataIncompleteBuffer",
                                      "MetadataIncompleteBuffer",
                                      "HeaderTooLarge",
                                      "HeaderTooSmall",
                                      "InvalidHeaderLength",
                                      "InvalidHeader",
                                      "InvalidHeaderDeserialization",
                                      "TensorInvalidInfo",
                                      "ValidationOverflow",
                                      "ValidationOverflow",
                                      "InvalidOffset",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "ok",
                                      "MetadataIncompleteBuffer"};
  const auto vectors = df_reference_vectors();
  REQUIRE(vectors.size() == want.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    const auto v = st_ref::check(vectors[i].data(), vectors[i].size());
    INFO("vector " << i);
    CHECK((v.ok ? std::string("ok") : v.error) == want[i]);
  }
  const std::string dup = R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"\u0061":{}})";
  const df_bytes b = df_raw(dup);
  CHECK(st_ref::check(b.data(), b.size()).error == "DuplicateKey");
}

TEST_CASE("differential: the reference test vectors") {
  for (const df_bytes& b : df_reference_vectors()) DF_AGREE(b);
}

TEST_CASE("differential: hand-written edge headers, with and without data") {
  for (const std::string& h : df_edge_headers()) {
    DF_AGREE(df_raw(h));
    DF_AGREE(df_raw(h, 1));
    DF_AGREE(df_raw(h, 3));
  }
}

TEST_CASE("differential: nesting around the 127-level limit, and before a duplicate key") {
  // The extra field's value is level 3: 125 brackets reach level 127, 126 reach 128.
  for (std::size_t levels : {123u, 124u, 125u, 126u, 300u}) {
    DF_AGREE(df_raw(df_nest(levels), 1));
    std::string dup = df_nest(levels);
    dup.insert(dup.size() - 1, ",\"t\":1");
    DF_AGREE(df_raw(dup, 1));
  }
}

TEST_CASE("differential: header limits and trailing bytes by option") {
  const df_bytes b = df_raw(df_vector_b, 16);
  for (std::uint64_t limit : {0u, 59u, 60u, 61u}) {
    st::parse_options o;
    o.max_header_size = limit;
    CHECK(df_compare(b, o).empty());
  }
  df_bytes trailing = b;
  trailing.push_back(7);
  st::parse_options o;
  o.allow_trailing_bytes = true;
  CHECK(df_compare(trailing, o).empty());
  CHECK(df_compare(trailing).empty());
  for (std::uint64_t n :
       {std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::uint64_t>::max() - 7,
        std::uint64_t{100000000}, std::uint64_t{100000001}}) {
    DF_AGREE(df_prefixed(n, "{}"));
  }
}

// ---- random files and mutations ---------------------------------------------------------------

st_test::tensor_spec df_random_tensor(std::mt19937_64& rng, std::size_t index) {
  const auto names = st_test::dtype_names();
  st_test::tensor_spec t;
  t.name = "t" + std::to_string(index) + (rng() % 4 == 0 ? "/x.y" : "");
  for (;;) {
    t.dtype = names[rng() % names.size()];
    t.shape.clear();
    const std::size_t rank = rng() % 4;
    for (std::size_t d = 0; d < rank; ++d) t.shape.push_back(rng() % 5);
    std::uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    if (elements * st_test::dtype_bits(t.dtype) % 8 == 0) break;
  }
  t.data.resize(st_test::byte_size(t.dtype, t.shape));
  for (auto& x : t.data) x = static_cast<std::uint8_t>(rng());
  return t;
}

df_bytes df_random_file(std::mt19937_64& rng) {
  std::vector<st_test::tensor_spec> tensors;
  const std::size_t count = rng() % 5;
  for (std::size_t i = 0; i < count; ++i) tensors.push_back(df_random_tensor(rng, i));
  st_test::metadata_t md;
  if (rng() % 2) md = std::vector<std::pair<std::string, std::string>>{{"format", "pt"}};
  return st_test::make_file(tensors, md, rng() % 2 ? 8 : 1);
}

std::uint64_t df_interesting(std::mt19937_64& rng) {
  static const std::uint64_t values[] = {0,
                                         1,
                                         2,
                                         3,
                                         4,
                                         7,
                                         8,
                                         16,
                                         255,
                                         4294967296ull,
                                         9223372036854775807ull,
                                         9223372036854775808ull,
                                         18446744073709551614ull,
                                         18446744073709551615ull};
  return values[rng() % (sizeof values / sizeof values[0])];
}

// JSON-level mutation of the header (keeps the JSON valid); returns the new file.
df_bytes df_json_mutation(const df_bytes& file, std::mt19937_64& rng) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[static_cast<std::size_t>(i)];
  const std::string header(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  const df_bytes data(file.begin() + 8 + static_cast<std::ptrdiff_t>(n), file.end());
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(header);
  std::vector<std::string> names;
  for (const auto& item : j.items()) {
    if (item.key() != "__metadata__") names.push_back(item.key());
  }
  std::string text;
  const unsigned kind = static_cast<unsigned>(rng() % 12);
  if (!names.empty() && kind < 8) {
    auto& e = j[names[rng() % names.size()]];
    switch (kind) {
      case 0:
        e["data_offsets"][rng() % 2] = df_interesting(rng);
        break;
      case 1:
        e["data_offsets"][rng() % 2] = e["data_offsets"][rng() % 2].get<std::uint64_t>() + 1;
        break;
      case 2:
        if (!e["shape"].empty()) e["shape"][rng() % e["shape"].size()] = df_interesting(rng);
        break;
      case 3:
        e["shape"].push_back(rng() % 3);
        break;
      case 4: {
        const auto all = st_test::dtype_names();
        e["dtype"] = rng() % 8 == 0 ? std::string("f32") : all[rng() % all.size()];
        break;
      }
      case 5:
        e.erase(rng() % 2 ? "shape" : "data_offsets");
        break;
      case 6:
        e["extra"] = nlohmann::ordered_json::parse(R"({"k":[1,{"z":null}]})");
        break;
      default:
        e["data_offsets"] = nlohmann::ordered_json::array({rng() % 3, rng() % 3, 1});
        break;
    }
    text = j.dump();
  } else if (kind == 8) {
    j["__metadata__"] = rng() % 2 ? nlohmann::ordered_json(nullptr)
                                  : nlohmann::ordered_json::parse(R"({"a":"b","c":1})");
    text = j.dump();
  } else {
    // Textual edits the DOM cannot express: duplicate a key, or negative / float numbers.
    text = j.dump();
    const std::size_t at = text.find('"', 1 + rng() % std::max<std::size_t>(1, text.size() - 1));
    switch (kind) {
      case 9:
        if (names.empty()) break;
        text.insert(text.size() - 1,
                    ",\"" + names[rng() % names.size()] + "\":" + j[names[0]].dump());
        break;
      case 10:
        if (at != std::string::npos) text.insert(at, "\"dtype\":\"U8\",");
        break;
      default: {
        const std::size_t digit = text.find_first_of("0123456789", rng() % text.size());
        if (digit != std::string::npos) text.insert(digit, rng() % 2 ? "-" : "0.");
        break;
      }
    }
  }
  if (rng() % 4 == 0) text.append(rng() % 9, ' ');
  return st_test::make_raw(text, data);
}

df_bytes df_byte_mutation(df_bytes b, std::mt19937_64& rng) {
  if (b.empty()) return b;
  switch (rng() % 5) {
    case 0:
      b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      break;
    case 1:
      b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      break;
    case 2:
      b.resize(rng() % b.size());
      break;
    case 3:
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng() % b.size()),
               static_cast<std::uint8_t>("{}[],:\" \\0-e\x80"[rng() % 14]));
      break;
    default:
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(rng() % b.size()));
      break;
  }
  return b;
}

TEST_CASE("differential: deterministic random mutations of valid files") {
  std::mt19937_64 rng(0x5AFE7E45u);
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    const df_bytes base = df_random_file(rng);
    df_bytes b = base;
    const unsigned how = static_cast<unsigned>(rng() % 3);
    if (how == 0) {
      b = df_json_mutation(b, rng);
    } else if (how == 1) {
      b = df_byte_mutation(b, rng);
    } else {
      b = df_byte_mutation(df_json_mutation(b, rng), rng);
    }
    const std::string d = df_compare(b);
    if (!d.empty()) {
      INFO("round " << round << " input: " << df_show(b));
      FAIL_CHECK(d);
    }
    (st::parse(st::as_bytes(b)) ? accepted : rejected) += 1;
  }
  // The mutations must exercise both outcomes.
  CHECK(accepted > 100);
  CHECK(rejected > 1000);
}

// A failed check of the fuzz target bodies, thrown instead of the abort that libFuzzer needs.
struct df_fuzz_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// While it lives, a failed fuzz check throws df_fuzz_failure (st_fuzz::on_failure).
struct df_failures_reported {
  df_failures_reported() {
    st_fuzz::on_failure = [](const std::string& message) { throw df_fuzz_failure(message); };
  }
  ~df_failures_reported() { st_fuzz::on_failure = nullptr; }
  df_failures_reported(const df_failures_reported&) = delete;
  df_failures_reported& operator=(const df_failures_reported&) = delete;
};

TEST_CASE("differential: a failed fuzz check is a failed test case, not an abort") {
  const df_failures_reported reported;
  const std::string detail = "the detail";
  CHECK_THROWS_WITH_AS(ST_FUZZ_REQUIRE(detail.empty(), detail), "detail.empty(): the detail",
                       df_fuzz_failure);
  CHECK_NOTHROW(ST_FUZZ_REQUIRE(!detail.empty(), detail));
}

TEST_CASE("differential: fuzz regressions and seeds through the fuzz target bodies") {
  // tests/fuzz/regressions/<target>/ holds each fuzz target's seeds and every input that once
  // made it fail. fuzz_parse, fuzz_files and fuzz_roundtrip take the same input (a safetensors
  // file), so each of their files runs through all three targets' checks, then the reference
  // vectors and edge headers do; fuzz_index/ runs through the index target's checks and the JSON
  // target's, fuzz_json/ through the JSON target's. A failed check is a failed test case, with
  // the input (df_failures_reported).
  const std::filesystem::path root =
      std::filesystem::path(__FILE__).parent_path().parent_path() / "fuzz" / "regressions";
  REQUIRE(std::filesystem::is_directory(root));
  std::vector<df_bytes> files;
  std::vector<df_bytes> indexes;
  std::vector<df_bytes> texts;
  for (const char* target :
       {"fuzz_parse", "fuzz_files", "fuzz_roundtrip", "fuzz_index", "fuzz_json"}) {
    CAPTURE(target);
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(root / target)) {
      CAPTURE(entry.path());
      REQUIRE(entry.is_regular_file());
      const std::string_view t(target);
      (t == "fuzz_index"  ? indexes
       : t == "fuzz_json" ? texts
                          : files)
          .push_back(st_test::read_file(entry.path()));
      ++count;
    }
    CHECK(count > 0);  // every target has its seeds here
  }
  // Nothing else: an input left elsewhere would never be replayed.
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    CAPTURE(name);
    CHECK((name == "README.md" || name == "fuzz_parse" || name == "fuzz_files" ||
           name == "fuzz_roundtrip" || name == "fuzz_index" || name == "fuzz_json"));
  }
  for (const df_bytes& b : df_reference_vectors()) files.push_back(b);
  for (const std::string& h : df_edge_headers()) files.push_back(df_raw(h, 1));
  st_test::temp_dir tmp;
  const auto file = tmp.file("fuzz.safetensors");
  const df_failures_reported reported;
  const auto replay = [](const char* target, const df_bytes& b, auto&& check) {
    try {
      check(b.data(), b.size());
    } catch (const df_fuzz_failure& e) {
      FAIL_CHECK(std::string(target) << " fails on input " << df_show(b) << ": " << e.what());
    }
  };
  for (const df_bytes& b : files) {
    replay("fuzz_parse", b, st_fuzz::check_parse);
    replay("fuzz_files", b,
           [&file](const std::uint8_t* d, std::size_t n) { st_fuzz::check_files(d, n, file); });
    replay("fuzz_roundtrip", b, st_fuzz::check_roundtrip);
  }
  for (const df_bytes& b : indexes) {
    replay("fuzz_index", b, st_fuzz::check_index);
    replay("fuzz_json", b, st_fuzz::check_json);
  }
  for (const df_bytes& b : texts) replay("fuzz_json", b, st_fuzz::check_json);
  CHECK(files.size() > 100);
  CHECK(indexes.size() >= 7);
  CHECK(texts.size() >= 8);
}

}  // namespace
