// Randomized tests: a round trip over random valid files, and random corruptions of valid files.
//
// The seed is printed; set SAFETENSORS_TEST_SEED=<decimal> to replay a run. Files are written by
// this file's own generator (on top of nlohmann::ordered_json and st_test::le64), independent of
// the library; the expected tables are what the generator wrote.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <safetensors/safetensors.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;

namespace {

std::uint64_t test_seed() {
  static const std::uint64_t seed = [] {
    if (const char* env = std::getenv("SAFETENSORS_TEST_SEED")) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(env, &end, 10);
      if (end != env) return static_cast<std::uint64_t>(v);
    }
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ static_cast<std::uint64_t>(rd());
  }();
  return seed;
}

using rng_t = std::mt19937_64;

std::uint64_t uniform(rng_t& rng, std::uint64_t lo, std::uint64_t hi) {  // inclusive
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}
std::size_t pick(rng_t& rng, std::size_t n) {  // [0, n)
  return static_cast<std::size_t>(uniform(rng, 0, n - 1));
}
bool chance(rng_t& rng, int percent) {
  return uniform(rng, 0, 99) < static_cast<std::uint64_t>(percent);
}

// UTF-8 encoding of a Unicode scalar value (own encoder, independent of the library).
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A random string of valid UTF-8: ASCII, JSON escapes (quote, backslash, control characters,
// DEL), 2-, 3- and 4-byte sequences.
std::string random_string(rng_t& rng, std::size_t max_len) {
  std::string s;
  const std::size_t len = pick(rng, max_len + 1);
  static const char specials[] = {'"',  '\\', '/',  '.',  ' ',    '\b',   '\f',
                                  '\n', '\r', '\t', '\0', '\x01', '\x1f', '\x7f',
                                  '_',  ':',  ',',  '{',  '}',    '[',    ']'};
  for (std::size_t i = 0; i < len; ++i) {
    switch (pick(rng, 7)) {
      case 0:
      case 1:
        s.push_back(static_cast<char>(uniform(rng, 'a', 'z')));
        break;
      case 2:
        s.push_back(specials[pick(rng, sizeof specials)]);
        break;
      case 3:
        s.push_back(static_cast<char>(uniform(rng, 0x20, 0x7E)));
        break;
      case 4:
        append_utf8(s, static_cast<std::uint32_t>(uniform(rng, 0x80, 0x7FF)));
        break;
      case 5: {
        std::uint32_t cp = static_cast<std::uint32_t>(uniform(rng, 0x800, 0xFFFF - 0x800));
        if (cp >= 0xD800) cp += 0x800;  // skip the surrogates
        append_utf8(s, cp);
        break;
      }
      default:
        append_utf8(s, static_cast<std::uint32_t>(uniform(rng, 0x10000, 0x10FFFF)));
        break;
    }
  }
  return s;
}

struct gen_tensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> data;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct gen_file {
  std::vector<gen_tensor> tensors;
  std::optional<st::metadata_map> metadata;  // what the reader must report
  std::vector<std::uint8_t> bytes;
  std::uint64_t header_size = 0;
  std::uint64_t data_size = 0;
};

// A random valid file. Tensor order in the header, tensor order in the data buffer, the position
// of __metadata__, the field order inside entries, extra ignored fields, whitespace, escaping and
// padding are all random.
gen_file random_file(rng_t& rng, std::size_t max_tensors) {
  gen_file f;
  const auto names = st_test::dtype_names();
  const std::size_t n = pick(rng, max_tensors + 1);
  std::set<std::string> used;
  for (std::size_t i = 0; i < n; ++i) {
    gen_tensor t;
    do {
      t.name = random_string(rng, chance(rng, 10) ? 40 : 8);
    } while (t.name == "__metadata__" || !used.insert(t.name).second);
    t.dtype = names[pick(rng, names.size())];
    const std::size_t rank = pick(rng, 5);
    for (std::size_t d = 0; d < rank; ++d) t.shape.push_back(uniform(rng, 0, 5));
    const std::size_t bits = st_test::dtype_bits(t.dtype);
    std::uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    if (elements * bits % 8 != 0) {
      // Sub-byte dtypes (F4: 4 bits, F6_*: 6 bits): make the count a multiple of 4 (or 0).
      if (t.shape.empty()) t.shape.push_back(0);
      t.shape.back() = chance(rng, 20) ? 0 : 4;
    }
    t.data.resize(st_test::byte_size(t.dtype, t.shape));
    for (auto& b : t.data) b = static_cast<std::uint8_t>(rng());
    f.tensors.push_back(std::move(t));
  }
  // Data order: a random permutation.
  std::vector<std::size_t> data_order(n);
  std::iota(data_order.begin(), data_order.end(), std::size_t{0});
  std::shuffle(data_order.begin(), data_order.end(), rng);
  std::uint64_t offset = 0;
  for (std::size_t i : data_order) {
    f.tensors[i].begin = offset;
    offset += f.tensors[i].data.size();
    f.tensors[i].end = offset;
  }
  f.data_size = offset;

  // Metadata: absent, null, empty or some keys.
  nlohmann::ordered_json md_json;
  bool have_md_key = false;
  switch (pick(rng, 4)) {
    case 0:
      break;
    case 1:
      have_md_key = true;
      md_json = nullptr;
      break;
    default: {
      have_md_key = true;
      md_json = nlohmann::ordered_json::object();
      f.metadata.emplace();
      const std::size_t keys = pick(rng, 6);
      for (std::size_t k = 0; k < keys; ++k) {
        std::string key = random_string(rng, 6);
        if (f.metadata->count(key) != 0) continue;
        std::string value = random_string(rng, 12);
        md_json[key] = value;
        (*f.metadata)[key] = value;
      }
    }
  }

  // Header order: another permutation, with __metadata__ at a random position.
  std::vector<std::size_t> header_order(n);
  std::iota(header_order.begin(), header_order.end(), std::size_t{0});
  std::shuffle(header_order.begin(), header_order.end(), rng);
  const std::size_t md_position = pick(rng, n + 1);
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t pos = 0; pos <= n; ++pos) {
    if (pos == md_position && have_md_key) j["__metadata__"] = md_json;
    if (pos == n) break;
    const gen_tensor& t = f.tensors[header_order[pos]];
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    std::array<int, 4> fields{0, 1, 2, 3};
    std::shuffle(fields.begin(), fields.end(), rng);
    const bool extra = chance(rng, 15);
    for (int field : fields) {
      switch (field) {
        case 0:
          entry["dtype"] = t.dtype;
          break;
        case 1: {
          nlohmann::ordered_json shape = nlohmann::ordered_json::array();
          for (auto d : t.shape) shape.push_back(d);
          entry["shape"] = std::move(shape);
          break;
        }
        case 2:
          entry["data_offsets"] = nlohmann::ordered_json::array({t.begin, t.end});
          break;
        default:
          if (extra) {
            entry["extra"] = nlohmann::ordered_json::parse(
                R"({"nested":[1,2,{"a":null,"b":[true,false]}],"s":"x"})");
          }
          break;
      }
    }
    j[t.name] = std::move(entry);
  }
  const bool ascii = chance(rng, 30);
  std::string header;
  switch (pick(rng, 3)) {
    case 0:
      header = j.dump(-1, ' ', ascii);
      break;
    case 1:
      header = j.dump(static_cast<int>(pick(rng, 3)), ' ', ascii);
      break;
    default:
      header = j.dump(1, '\t', ascii);
      break;
  }
  // Padding: trailing JSON whitespace up to a random alignment.
  static const std::size_t aligns[] = {1, 2, 4, 8, 8, 8, 16, 64, 0};
  std::size_t align = aligns[pick(rng, sizeof aligns / sizeof aligns[0])];
  if (align == 0) align = static_cast<std::size_t>(uniform(rng, 1, 100));
  const bool mixed_ws = chance(rng, 25);
  static const char ws[] = {' ', '\t', '\r', '\n'};
  while ((8 + header.size()) % align != 0) header.push_back(mixed_ws ? ws[pick(rng, 4)] : ' ');
  if (chance(rng, 10)) header.insert(0, std::string(pick(rng, 4) + 1, ws[pick(rng, 4)]));
  f.header_size = header.size();

  f.bytes = st_test::make_raw(header);
  for (std::size_t i : data_order) {
    f.bytes.insert(f.bytes.end(), f.tensors[i].data.begin(), f.tensors[i].data.end());
  }
  return f;
}

std::vector<std::uint8_t> to_u8(st::span<const std::byte> s) {
  std::vector<std::uint8_t> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = std::to_integer<std::uint8_t>(s[i]);
  return out;
}

// The codes a parse of bytes may produce (docs/format.md#reader-rules: rules 1-10 plus
// DuplicateKey).
bool is_parse_error(st::errc c) {
  switch (c) {
    case st::errc::header_too_small:
    case st::errc::header_too_large:
    case st::errc::invalid_header_length:
    case st::errc::invalid_header:
    case st::errc::invalid_header_deserialization:
    case st::errc::invalid_offset:
    case st::errc::validation_overflow:
    case st::errc::misaligned_slice:
    case st::errc::tensor_invalid_info:
    case st::errc::metadata_incomplete_buffer:
    case st::errc::duplicate_key:
      return true;
    default:
      return false;
  }
}

// Round trip: the parsed header says exactly what the generator wrote.
void check_round_trip(const st::header& h, const gen_file& f) {
  REQUIRE(h.size() == f.tensors.size());
  CHECK(h.empty() == f.tensors.empty());
  CHECK(h.header_size() == f.header_size);
  CHECK(h.data_offset() == 8 + f.header_size);
  CHECK(h.data_size() == f.data_size);
  CHECK(h.file_size() == f.bytes.size());
  CHECK(h.metadata() == f.metadata);
  for (const auto& t : f.tensors) {
    CAPTURE(t.name);
    auto info = h.find(t.name);
    REQUIRE(info.has_value());
    CHECK(h.contains(t.name));
    CHECK(info->name() == t.name);
    CHECK(st::to_string(info->dtype()) == t.dtype);
    CHECK(std::vector<std::uint64_t>(info->shape().begin(), info->shape().end()) == t.shape);
    CHECK(info->offsets().begin == t.begin);
    CHECK(info->offsets().end == t.end);
    CHECK(info->byte_size() == t.data.size());
    std::uint64_t elements = 1;
    for (auto d : t.shape) elements *= d;
    CHECK(info->element_count() == elements);
  }
  // Offset order: by (begin, end), ties by name.
  std::vector<const gen_tensor*> by_offset;
  for (const auto& t : f.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const gen_tensor* a, const gen_tensor* b) {
    if (a->begin != b->begin) return a->begin < b->begin;
    if (a->end != b->end) return a->end < b->end;
    return a->name < b->name;
  });
  std::vector<std::string> by_name;
  for (const auto& t : f.tensors) by_name.push_back(t.name);
  std::sort(by_name.begin(), by_name.end());
  for (std::size_t i = 0; i < f.tensors.size(); ++i) {
    CHECK(h.tensors()[i].name() == by_offset[i]->name);
    CHECK(h.tensors_by_name()[i].name() == by_name[i]);
  }
}

// Invariants every accepted header must satisfy, whatever bytes it came from.
void check_invariants(const st::file_view& fv, const unsigned char* input, std::size_t size,
                      bool strict) {
  const st::header& h = fv.header();
  if (strict) {
    CHECK(h.header_size() + 8 + h.data_size() == size);
  } else {
    CHECK(h.header_size() + 8 + h.data_size() <= size);
  }
  CHECK(h.file_size() == h.header_size() + 8 + h.data_size());
  REQUIRE(fv.data().size() == h.data_size());
  if (h.data_size() != 0) {
    CHECK(static_cast<const void*>(fv.data().data()) ==
          static_cast<const void*>(input + 8 + h.header_size()));
  }
  std::uint64_t expected_begin = 0;
  std::uint64_t view_sum = 0;
  std::string previous_name;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const st::tensor_info info = h.tensors()[i];
    const auto o = info.offsets();
    CHECK(o.begin == expected_begin);  // contiguous, from 0, in offset order
    CHECK(o.end >= o.begin);
    CHECK(o.end <= h.data_size());
    expected_begin = o.end;
    // element_count is the product of the shape, and byte_size its bit count / 8.
    std::uint64_t elements = 1;
    bool overflow = false;
    for (auto d : info.shape()) {
      if (d != 0 && elements > ~std::uint64_t{0} / d) overflow = true;
      elements *= d;
    }
    CHECK_FALSE(overflow);
    CHECK(info.element_count() == elements);
    const std::uint64_t bits = st_test::dtype_bits(st::to_string(info.dtype()));
    CHECK((elements == 0 || elements <= ~std::uint64_t{0} / bits));
    CHECK(elements * bits % 8 == 0);
    CHECK(info.byte_size() == elements * bits / 8);
    // The name finds this very entry.
    auto found = h.find(info.name());
    REQUIRE(found.has_value());
    CHECK(found->offsets().begin == o.begin);
    CHECK(found->offsets().end == o.end);
    // Names are unique (tensors_by_name is strictly increasing).
    const std::string name(h.tensors_by_name()[i].name());
    if (i > 0) CHECK(previous_name < name);
    previous_name = name;
    // Touch every byte of the view.
    const st::tensor_view v = fv.tensor(info);
    REQUIRE(v.byte_size() == info.byte_size());
    if (v.byte_size() != 0) CHECK(v.data() == fv.data().data() + o.begin);
    for (std::byte b : v.bytes()) view_sum += std::to_integer<std::uint64_t>(b);
    // Typed access, for the dtypes with a native type: every element read.
    auto touch = [&](auto tag) {
      using T = decltype(tag);
      auto e = v.as<T>();
      REQUIRE(e.has_value());
      CHECK(e->size() == elements);
      std::size_t n = 0;
      for (T x : *e) {
        (void)x;
        ++n;
      }
      CHECK(n == elements);
    };
    switch (info.dtype()) {
      case st::dtype::BOOL:
        touch(bool{});
        break;
      case st::dtype::U8:
        touch(std::uint8_t{});
        break;
      case st::dtype::I8:
        touch(std::int8_t{});
        break;
      case st::dtype::I16:
        touch(std::int16_t{});
        break;
      case st::dtype::U16:
        touch(std::uint16_t{});
        break;
      case st::dtype::I32:
        touch(std::int32_t{});
        break;
      case st::dtype::U32:
        touch(std::uint32_t{});
        break;
      case st::dtype::F32:
        touch(float{});
        break;
      case st::dtype::F64:
        touch(double{});
        break;
      case st::dtype::I64:
        touch(std::int64_t{});
        break;
      case st::dtype::U64:
        touch(std::uint64_t{});
        break;
      case st::dtype::C64:
        touch(std::complex<float>{});
        break;
      default:
        break;
    }
  }
  CHECK(expected_begin == h.data_size());  // full coverage
  std::uint64_t data_sum = 0;
  for (std::byte b : fv.data()) data_sum += std::to_integer<std::uint64_t>(b);
  CHECK(view_sum == data_sum);
  if (h.metadata()) {
    for (const auto& kv : *h.metadata()) CHECK(kv.first.size() + kv.second.size() < size);
  }
}

void check_same_table(const st::header& a, const st::header& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.header_size() == b.header_size());
  CHECK(a.data_size() == b.data_size());
  CHECK(a.metadata() == b.metadata());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = a.tensors()[i];
    const auto y = b.tensors()[i];
    CHECK(x.name() == y.name());
    CHECK(x.dtype() == y.dtype());
    CHECK(std::equal(x.shape().begin(), x.shape().end(), y.shape().begin(), y.shape().end()));
    CHECK(x.offsets().begin == y.offsets().begin);
    CHECK(x.offsets().end == y.offsets().end);
  }
}

template <class T>
bool outcome_is_not_found(const st::result<T>& r) {
  return !r.has_value() && r.error().code() == st::errc::tensor_not_found;
}

void check_error(const st::error& e) {
  INFO("error: " << e.to_string());
  const int code = static_cast<int>(e.code());
  CHECK(code >= 1);
  CHECK(code <= 16);
  CHECK(st::error_name(e.code()) != "Unknown");
  CHECK(is_parse_error(e.code()));
  CHECK_FALSE(e.message().empty());
}

// JSON fragments spliced into headers.
const std::vector<std::string>& json_tokens() {
  static const std::vector<std::string> tokens{
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      "\"",
      "\"\"",
      "\"a\"",
      "0",
      "1",
      "7",
      "-1",
      "-0",
      "1.5",
      "1e3",
      "18446744073709551615",
      "18446744073709551616",
      "4294967296",
      "99999999999999999999",
      "null",
      "true",
      "false",
      "\"__metadata__\"",
      "\"dtype\"",
      "\"shape\"",
      "\"data_offsets\"",
      "\"F32\"",
      "\"F4\"",
      "\"F6_E2M3\"",
      "\"BOOL\"",
      "\"U64\"",
      "\"f32\"",
      "[0,0]",
      "[]",
      "{}",
      "[1]",
      "[0,1,2]",
      "\"\\u0000\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud83d\\ude00\"",
      "\"\\u00e9\"",
      "\"\\x\"",
      "\\",
      " ",
      "\t",
      "\n",
      "\r",
      std::string(1, '\0'),
      "\xEF\xBB\xBF",
      "\xC3",
      "\xFF",
      "\xED\xA0\x80",
      "\x01",
      std::string(130, '['),
      std::string(126, '['),
      R"("x":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)",
      R"("__metadata__":null,)",
      R"("__metadata__":{"k":"v"},)",
      R"("__metadata__":{"k":1},)",
      R"("dtype":"I8",)",
      R"("shape":[2],)",
      R"("data_offsets":[0,2],)",
      R"("extra":[[{}]],)",
  };
  return tokens;
}

std::size_t header_length_of(const std::vector<std::uint8_t>& b) {
  if (b.size() < 8) return 0;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[static_cast<std::size_t>(i)];
  return static_cast<std::size_t>(std::min<std::uint64_t>(n, b.size() - 8));
}

void set_header_length(std::vector<std::uint8_t>& b, std::uint64_t n) {
  if (b.size() < 8) return;
  const auto le = st_test::le64(n);
  std::copy(le.begin(), le.end(), b.begin());
}

// One random mutation of `b` (which is modified).
void mutate(rng_t& rng, std::vector<std::uint8_t>& b) {
  const std::size_t hn = header_length_of(b);
  const bool has_header = b.size() >= 8 && hn > 0;
  auto header_pos = [&]() { return 8 + pick(rng, hn + 1); };  // in [8, 8 + hn]
  switch (pick(rng, 14)) {
    case 0: {  // flip random bits anywhere
      if (b.empty()) break;
      const std::size_t flips = pick(rng, 4) + 1;
      for (std::size_t i = 0; i < flips; ++i) {
        b[pick(rng, b.size())] ^= static_cast<std::uint8_t>(1u << pick(rng, 8));
      }
      break;
    }
    case 1: {  // flip a bit in the length prefix or the header
      if (b.empty()) break;
      const std::size_t limit = std::min(b.size(), 8 + hn);
      b[pick(rng, limit)] ^= static_cast<std::uint8_t>(1u << pick(rng, 8));
      break;
    }
    case 2: {  // overwrite random bytes
      if (b.empty()) break;
      const std::size_t n = pick(rng, 4) + 1;
      for (std::size_t i = 0; i < n; ++i) b[pick(rng, b.size())] = static_cast<std::uint8_t>(rng());
      break;
    }
    case 3:  // truncate
      b.resize(pick(rng, b.size() + 1));
      break;
    case 4: {  // extend with random bytes, or with zeros
      const std::size_t n = pick(rng, 16) + 1;
      const bool zeros = chance(rng, 30);
      for (std::size_t i = 0; i < n; ++i) b.push_back(zeros ? 0 : static_cast<std::uint8_t>(rng()));
      break;
    }
    case 5:
    case 6: {  // splice a JSON token into the header, usually fixing the length prefix
      if (!has_header) break;
      const std::string& tok = json_tokens()[pick(rng, json_tokens().size())];
      const std::size_t at = header_pos();
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), tok.begin(), tok.end());
      if (chance(rng, 85)) set_header_length(b, hn + tok.size());
      break;
    }
    case 7: {  // change, insert or delete a digit of the header, fixing the length prefix
      if (!has_header) break;
      std::vector<std::size_t> digits;
      for (std::size_t i = 8; i < 8 + hn; ++i) {
        if (b[i] >= '0' && b[i] <= '9') digits.push_back(i);
      }
      if (digits.empty()) break;
      const std::size_t at = digits[pick(rng, digits.size())];
      switch (pick(rng, 3)) {
        case 0:
          b[at] = static_cast<std::uint8_t>('0' + pick(rng, 10));
          break;
        case 1:
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at),
                   static_cast<std::uint8_t>('0' + pick(rng, 10)));
          set_header_length(b, hn + 1);
          break;
        default:
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at));
          set_header_length(b, hn - 1);
          break;
      }
      break;
    }
    case 8: {  // a new length prefix: near the old one, or anything
      if (b.size() < 8) break;
      std::uint64_t n = hn;
      switch (pick(rng, 3)) {
        case 0:
          n = hn + pick(rng, 17) - 8;
          break;
        case 1:
          n = rng();
          break;
        default:
          n = pick(rng, b.size() + 16);
          break;
      }
      set_header_length(b, n);
      break;
    }
    case 9: {  // delete a range of the header, fixing the length prefix
      if (!has_header) break;
      const std::size_t from = 8 + pick(rng, hn);
      const std::size_t len = std::min<std::size_t>(pick(rng, 12) + 1, 8 + hn - from);
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(from),
              b.begin() + static_cast<std::ptrdiff_t>(from + len));
      set_header_length(b, hn - len);
      break;
    }
    case 11:
    case 12: {  // replace a whole number of the header with an interesting one
      if (!has_header) break;
      std::vector<std::pair<std::size_t, std::size_t>> numbers;  // [from, to)
      for (std::size_t i = 8; i < 8 + hn;) {
        if (b[i] >= '0' && b[i] <= '9') {
          std::size_t j = i;
          while (j < 8 + hn && b[j] >= '0' && b[j] <= '9') ++j;
          numbers.emplace_back(i, j);
          i = j;
        } else {
          ++i;
        }
      }
      if (numbers.empty()) break;
      const auto [from, to] = numbers[pick(rng, numbers.size())];
      const std::uint64_t old_value =
          std::strtoull(std::string(b.begin() + static_cast<std::ptrdiff_t>(from),
                                    b.begin() + static_cast<std::ptrdiff_t>(to))
                            .c_str(),
                        nullptr, 10);
      static const std::uint64_t interesting[] = {0,
                                                  1,
                                                  2,
                                                  3,
                                                  4,
                                                  5,
                                                  7,
                                                  8,
                                                  16,
                                                  255,
                                                  4294967295ULL,
                                                  4294967296ULL,
                                                  4294967297ULL,
                                                  (1ULL << 61),
                                                  (1ULL << 62) + 1,
                                                  (1ULL << 63),
                                                  ~0ULL - 1,
                                                  ~0ULL};
      std::uint64_t v = 0;
      switch (pick(rng, 3)) {
        case 0:
          v = interesting[pick(rng, sizeof interesting / sizeof interesting[0])];
          break;
        case 1:
          v = old_value + pick(rng, 9) - 4;
          break;
        default:
          v = rng() >> pick(rng, 64);
          break;
      }
      const std::string text = std::to_string(v);
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(from),
              b.begin() + static_cast<std::ptrdiff_t>(to));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(from), text.begin(), text.end());
      set_header_length(b, hn - (to - from) + text.size());
      break;
    }
    case 13: {  // replace a dtype name with another (or a near miss)
      if (!has_header) break;
      const std::string h(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(hn));
      std::vector<std::pair<std::size_t, std::size_t>> found;
      for (const auto& name : st_test::dtype_names()) {
        const std::string quoted = "\"" + name + "\"";
        for (std::size_t at = h.find(quoted); at != std::string::npos;
             at = h.find(quoted, at + 1)) {
          found.emplace_back(8 + at + 1, name.size());
        }
      }
      if (found.empty()) break;
      const auto [at, len] = found[pick(rng, found.size())];
      const auto names = st_test::dtype_names();
      std::string repl = chance(rng, 90) ? names[pick(rng, names.size())] : std::string("F16 ");
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
              b.begin() + static_cast<std::ptrdiff_t>(at + len));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), repl.begin(), repl.end());
      set_header_length(b, hn - len + repl.size());
      break;
    }
    default: {  // duplicate a range of the header in place, fixing the length prefix
      if (!has_header) break;
      const std::size_t from = 8 + pick(rng, hn);
      const std::size_t len = std::min<std::size_t>(pick(rng, 40) + 1, 8 + hn - from);
      const std::vector<std::uint8_t> piece(b.begin() + static_cast<std::ptrdiff_t>(from),
                                            b.begin() + static_cast<std::ptrdiff_t>(from + len));
      const std::size_t at = header_pos();
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
      set_header_length(b, hn + len);
      break;
    }
  }
}

}  // namespace

TEST_SUITE("random") {
  TEST_CASE("round trip: random valid files parse back to exactly what was written") {
    const std::uint64_t seed = test_seed();
    MESSAGE("random round trip seed: " << seed << " (replay with SAFETENSORS_TEST_SEED=" << seed
                                       << ")");
    INFO("seed: " << seed);
    rng_t rng(seed);
    constexpr int files = 400;
    std::size_t tensors = 0;
    std::set<std::string> dtypes_seen;
    for (int i = 0; i < files; ++i) {
      CAPTURE(i);
      const gen_file f = random_file(rng, 12);
      tensors += f.tensors.size();
      for (const auto& t : f.tensors) dtypes_seen.insert(t.dtype);
      // Exact-size heap copy, so any over-read is caught by the sanitizers.
      std::unique_ptr<unsigned char[]> input(new unsigned char[f.bytes.size()]);
      std::memcpy(input.get(), f.bytes.data(), f.bytes.size());
      auto fv = st::parse(st::span<const std::byte>(reinterpret_cast<const std::byte*>(input.get()),
                                                    f.bytes.size()));
      if (!fv.has_value()) {
        FAIL_CHECK(
            "a valid random file was rejected: "
            << fv.error().to_string() << "; header: "
            << std::string(f.bytes.begin() + 8,
                           f.bytes.begin() + 8 + static_cast<std::ptrdiff_t>(f.header_size)));
        continue;
      }
      check_round_trip(fv->header(), f);
      check_invariants(*fv, input.get(), f.bytes.size(), true);
      for (const auto& t : f.tensors) {
        CAPTURE(t.name);
        auto v = fv->tensor(t.name);
        REQUIRE(v.has_value());
        CHECK(to_u8(v->bytes()) == t.data);
      }
      CHECK(fv->metadata() == f.metadata);
      auto missing = fv->tensor(
          "\x01missing-name-never-generated-because-too-long-for-the-generator"
          "-which-stops-at-forty-characters");
      CHECK(outcome_is_not_found(missing));

      // The same bytes through the pread path (source_reader over memory).
      auto r =
          st::source_reader::open(std::make_unique<st::memory_source>(st::span<const std::byte>(
              reinterpret_cast<const std::byte*>(input.get()), f.bytes.size())));
      REQUIRE(r.has_value());
      check_round_trip(r->header(), f);
      for (const auto& t : f.tensors) {
        auto bytes = r->read(*r->header().find(t.name));
        REQUIRE(bytes.has_value());
        CHECK(to_u8(st::span<const std::byte>(bytes->data(), bytes->size())) == t.data);
      }
    }
    MESSAGE(files << " files, " << tensors << " tensors, " << dtypes_seen.size() << " dtypes");
    CHECK(dtypes_seen.size() == 22);
  }

  TEST_CASE("corruption: mutated files give a typed error or a valid table, never a crash") {
    const std::uint64_t seed = test_seed() ^ 0x9E3779B97F4A7C15ULL;
    MESSAGE("random corruption seed: " << test_seed() << " (replay with SAFETENSORS_TEST_SEED="
                                       << test_seed() << ")");
    INFO("seed: " << test_seed());
    rng_t rng(seed);
    constexpr int mutations = 4000;
    std::map<std::string, int> histogram;
    st::parse_options lenient;
    lenient.allow_trailing_bytes = true;
    for (int i = 0; i < mutations; ++i) {
      CAPTURE(i);
      const gen_file base = random_file(rng, 5);
      std::vector<std::uint8_t> b = base.bytes;
      const std::size_t rounds = pick(rng, 3) + 1;
      for (std::size_t k = 0; k < rounds; ++k) mutate(rng, b);

      const std::size_t size = b.size();
      std::unique_ptr<unsigned char[]> input(new unsigned char[size == 0 ? 1 : size]);
      if (size != 0) std::memcpy(input.get(), b.data(), size);

      auto strict = st::parse(
          st::span<const std::byte>(reinterpret_cast<const std::byte*>(input.get()), size));
      auto loose = st::parse(
          st::span<const std::byte>(reinterpret_cast<const std::byte*>(input.get()), size),
          lenient);
      auto reader = st::source_reader::open(std::make_unique<st::memory_source>(
          st::span<const std::byte>(reinterpret_cast<const std::byte*>(input.get()), size)));

      if (strict.has_value()) {
        ++histogram["(accepted)"];
        check_invariants(*strict, input.get(), size, true);
        REQUIRE(loose.has_value());
        check_same_table(strict->header(), loose->header());
        REQUIRE(reader.has_value());
        check_same_table(strict->header(), reader->header());
        // The pread path reads the same bytes as the zero-copy views.
        for (std::size_t t = 0; t < strict->header().size(); ++t) {
          const auto info = strict->header().tensors()[t];
          auto got = reader->read(*reader->header().find(info.name()));
          REQUIRE(got.has_value());
          CHECK(to_u8(st::span<const std::byte>(got->data(), got->size())) ==
                to_u8(strict->tensor(info).bytes()));
        }
      } else {
        ++histogram[std::string(st::error_name(strict.error().code()))];
        check_error(strict.error());
        REQUIRE_FALSE(reader.has_value());
        CHECK(reader.error().code() == strict.error().code());
        check_error(reader.error());
        if (strict.error().code() != st::errc::metadata_incomplete_buffer) {
          REQUIRE_FALSE(loose.has_value());
          CHECK(loose.error().code() == strict.error().code());
        }
        if (loose.has_value()) {
          check_invariants(*loose, input.get(), size, false);
        } else {
          check_error(loose.error());
        }
      }
    }
    std::string summary;
    for (const auto& kv : histogram) summary += kv.first + "=" + std::to_string(kv.second) + " ";
    MESSAGE(mutations << " mutations: " << summary);
    // The mutations must reach deep into the reader, not stop at the length prefix.
    CHECK(histogram["(accepted)"] > 0);
    CHECK(histogram["HeaderTooLarge"] > 0);
    CHECK(histogram["InvalidHeaderLength"] > 0);
    CHECK(histogram["InvalidHeaderDeserialization"] > 0);
    CHECK(histogram["MetadataIncompleteBuffer"] > 0);
    CHECK(histogram["InvalidOffset"] > 0);
    CHECK(histogram["TensorInvalidInfo"] > 0);
    CHECK(histogram.size() >= 10);
  }
}
