// Typed element access, span, result<T>, errors and the dtype table.
//
// Every expected value here is written by hand (little-endian bytes, IEEE-754 bit patterns, the
// names of docs/format.md#error-codes and docs/format.md#dtypes), never taken from the library's
// own output.
#include <doctest/doctest.h>

#include <algorithm>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;

namespace {

template <class T>
std::string outcome(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}

// Bytes copied into 8-byte-aligned storage, so that "offset k in the buffer" has a known
// alignment (k mod 8) whatever the allocator does.
class aligned_bytes {
 public:
  explicit aligned_bytes(const std::vector<std::uint8_t>& bytes)
      : storage_((bytes.size() + 7) / 8 + 1), size_(bytes.size()) {
    if (!bytes.empty()) std::memcpy(storage_.data(), bytes.data(), bytes.size());
  }
  const std::byte* data() const noexcept {
    return reinterpret_cast<const std::byte*>(storage_.data());
  }
  std::size_t size() const noexcept { return size_; }
  st::span<const std::byte> span() const noexcept { return {data(), size_}; }

 private:
  std::vector<std::uint64_t> storage_;
  std::size_t size_;
};

// A file with a header of exactly `n` bytes (the JSON padded with spaces) followed by `data`.
std::vector<std::uint8_t> file_with_header_length(const std::vector<st_test::tensor_spec>& specs,
                                                  std::size_t n) {
  std::string json = st_test::header_json(specs, std::nullopt);
  REQUIRE(json.size() <= n);
  json.append(n - json.size(), ' ');
  std::vector<std::uint8_t> data;
  for (const auto& s : specs) data.insert(data.end(), s.data.begin(), s.data.end());
  return st_test::make_raw(json, data);
}

std::uintptr_t address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The hand-built tensors of the typed tests: one per native dtype, little-endian bytes.
std::vector<st_test::tensor_spec> typed_specs() {
  return {
      {"bool", "BOOL", {4}, {0x00, 0x01, 0x02, 0xFF}},
      {"u8", "U8", {4}, {0x00, 0x7F, 0x80, 0xFF}},
      {"i8", "I8", {4}, {0x00, 0x7F, 0x80, 0xFF}},
      {"i16", "I16", {3}, {0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80}},
      {"u16", "U16", {3}, {0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80}},
      {"i32", "I32", {3}, {0x78, 0x56, 0x34, 0x12, 0xFE, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x80}},
      {"u32", "U32", {2}, {0x78, 0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF, 0xFF}},
      // 1.0f = 0x3F800000, -2.5f = 0xC0200000, 0.5f = 0x3F000000
      {"f32", "F32", {3}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0, 0x00, 0x00, 0x00, 0x3F}},
      // 1.0 = 0x3FF0000000000000, -0.5 = 0xBFE0000000000000
      {"f64", "F64", {2}, {0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0xE0, 0xBF}},
      {"i64",
       "I64",
       {2},
       {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF}},
      {"u64",
       "U64",
       {2},
       {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF}},
      // (1.0f, -2.5f), (0.0f, 0.5f)
      {"c64",
       "C64",
       {2},
       {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x3F}},
  };
}

// Checks every typed tensor of `fv` against the hand-decoded values.
void check_typed_values(const st::file_view& fv) {
  {
    auto v = fv.tensor("bool");
    REQUIRE(v.has_value());
    auto e = v->as<bool>();
    REQUIRE(e.has_value());
    REQUIRE(e->size() == 4);
    CHECK((*e)[0] == false);
    CHECK((*e)[1] == true);
    CHECK((*e)[2] == true);  // any non-zero byte is true
    CHECK((*e)[3] == true);
  }
  {
    auto e = fv.tensor("u8")->as<std::uint8_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::uint8_t>{0, 127, 128, 255});
  }
  {
    auto e = fv.tensor("i8")->as<std::int8_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::int8_t>{0, 127, -128, -1});
  }
  {
    auto e = fv.tensor("i16")->as<std::int16_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::int16_t>{0x1234, -1, -32768});
  }
  {
    auto e = fv.tensor("u16")->as<std::uint16_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::uint16_t>{0x1234, 0xFFFF, 0x8000});
  }
  {
    auto e = fv.tensor("i32")->as<std::int32_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() ==
          std::vector<std::int32_t>{0x12345678, -2, std::numeric_limits<std::int32_t>::min()});
  }
  {
    auto e = fv.tensor("u32")->as<std::uint32_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::uint32_t>{0x12345678u, 0xFFFFFFFFu});
  }
  {
    auto e = fv.tensor("f32")->as<float>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<float>{1.0f, -2.5f, 0.5f});
  }
  {
    auto e = fv.tensor("f64")->as<double>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<double>{1.0, -0.5});
  }
  {
    auto e = fv.tensor("i64")->as<std::int64_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() == std::vector<std::int64_t>{0x0102030405060708LL, -1});
  }
  {
    auto e = fv.tensor("u64")->as<std::uint64_t>();
    REQUIRE(e.has_value());
    CHECK(e->to_vector() ==
          std::vector<std::uint64_t>{0x0102030405060708ULL, 0xFFFFFFFFFFFFFFFFULL});
  }
  {
    auto e = fv.tensor("c64")->as<std::complex<float>>();
    REQUIRE(e.has_value());
    REQUIRE(e->size() == 2);
    CHECK((*e)[0] == std::complex<float>(1.0f, -2.5f));
    CHECK((*e)[1] == std::complex<float>(0.0f, 0.5f));
  }
}

}  // namespace

// A user element type: dtype_of may be specialized for trivially copyable types.
struct user_half {
  std::uint16_t bits;
};
namespace safetensors {
template <>
struct dtype_of<user_half> : std::integral_constant<dtype, dtype::F16> {};
}  // namespace safetensors

// The mapping from C++ types to dtypes is part of the API.
static_assert(st::dtype_of<bool>::value == st::dtype::BOOL);
static_assert(st::dtype_of<std::uint8_t>::value == st::dtype::U8);
static_assert(st::dtype_of<std::int8_t>::value == st::dtype::I8);
static_assert(st::dtype_of<std::int16_t>::value == st::dtype::I16);
static_assert(st::dtype_of<std::uint16_t>::value == st::dtype::U16);
static_assert(st::dtype_of<std::int32_t>::value == st::dtype::I32);
static_assert(st::dtype_of<std::uint32_t>::value == st::dtype::U32);
static_assert(st::dtype_of<float>::value == st::dtype::F32);
static_assert(st::dtype_of<double>::value == st::dtype::F64);
static_assert(st::dtype_of<std::int64_t>::value == st::dtype::I64);
static_assert(st::dtype_of<std::uint64_t>::value == st::dtype::U64);
static_assert(st::dtype_of<std::complex<float>>::value == st::dtype::C64);
// Plain integer types map by size and signedness; char-like types and bool-like misuses do not.
namespace {
template <class T, class = void>
struct has_dtype_of : std::false_type {};
template <class T>
struct has_dtype_of<T, std::void_t<decltype(st::dtype_of<T>::value)>> : std::true_type {};
}  // namespace
static_assert(st::dtype_of<signed char>::value == st::dtype::I8);
static_assert(st::dtype_of<unsigned char>::value == st::dtype::U8);
static_assert(st::dtype_of<short>::value == st::dtype::I16);
static_assert(st::dtype_of<unsigned short>::value == st::dtype::U16);
static_assert(st::dtype_of<long long>::value == st::dtype::I64);
static_assert(st::dtype_of<unsigned long long>::value == st::dtype::U64);
static_assert(st::dtype_of<long>::value == (sizeof(long) == 8 ? st::dtype::I64 : st::dtype::I32));
static_assert(st::dtype_of<unsigned long>::value ==
              (sizeof(long) == 8 ? st::dtype::U64 : st::dtype::U32));
static_assert(has_dtype_of<int>::value);
static_assert(has_dtype_of<user_half>::value);
static_assert(!has_dtype_of<char>::value);
static_assert(!has_dtype_of<std::complex<double>>::value);
static_assert(!has_dtype_of<long double>::value);
static_assert(!has_dtype_of<std::byte>::value);

// The dtype functions are usable at compile time.
static_assert(st::bit_size(st::dtype::F4) == 4);
static_assert(st::bit_size(st::dtype::C64) == 64);
static_assert(st::to_string(st::dtype::BF16) == "BF16");
static_assert(st::dtype_from_string("F8_E4M3FNUZ") == st::dtype::F8_E4M3FNUZ);
static_assert(!st::dtype_from_string("f32").has_value());
static_assert(st::dtype_count == 22);
static_assert(st::error_name(st::errc::duplicate_key) == "DuplicateKey");
// span: const-correct conversions only.
static_assert(std::is_convertible_v<st::span<int>, st::span<const int>>);
static_assert(!std::is_convertible_v<st::span<const int>, st::span<int>>);
static_assert(std::is_convertible_v<std::vector<int>&, st::span<const int>>);
static_assert(!std::is_convertible_v<const std::vector<int>&, st::span<int>>);
// std::error_code interop is enabled for errc.
static_assert(std::is_error_code_enum<st::errc>::value);

TEST_SUITE("typed") {
  TEST_CASE("as<T>() decodes every native dtype from hand-built little-endian bytes") {
    const auto file = st_test::make_file(typed_specs());
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    REQUIRE(fv->size() == 12);
    check_typed_values(*fv);
  }

  TEST_CASE("as<T>() with the wrong T is DtypeMismatch naming both dtypes") {
    const auto file = st_test::make_file(typed_specs());
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());

    auto check_mismatch = [](const st::result<st::tensor_view>& v, auto tag, const char* have,
                             const char* want) {
      using T = decltype(tag);
      REQUIRE(v.has_value());
      auto e = v->template as<T>();
      REQUIRE_FALSE(e.has_value());
      CHECK(outcome(e) == "DtypeMismatch");
      CHECK(e.error().code() == st::errc::dtype_mismatch);
      INFO("message: " << e.error().message());
      CHECK(e.error().message().find(have) != std::string::npos);
      CHECK(e.error().message().find(want) != std::string::npos);
    };
    check_mismatch(fv->tensor("i32"), float{}, "I32", "F32");
    check_mismatch(fv->tensor("i32"), std::uint32_t{}, "I32", "U32");  // same size, other type
    check_mismatch(fv->tensor("f32"), std::int32_t{}, "F32", "I32");
    check_mismatch(fv->tensor("u8"), bool{}, "U8", "BOOL");
    check_mismatch(fv->tensor("bool"), std::uint8_t{}, "BOOL", "U8");
    check_mismatch(fv->tensor("i8"), std::uint8_t{}, "I8", "U8");
    check_mismatch(fv->tensor("i64"), double{}, "I64", "F64");
    check_mismatch(fv->tensor("f64"), std::complex<float>{}, "F64", "C64");
    check_mismatch(fv->tensor("c64"), std::uint64_t{}, "C64", "U64");
    check_mismatch(fv->tensor("u16"), std::int16_t{}, "U16", "I16");
  }

  TEST_CASE("dtypes without a native type reject every native T") {
    const std::vector<st_test::tensor_spec> specs{
        {"h", "F16", {2}, {0x00, 0x3C, 0x00, 0xC0}},
        {"b", "BF16", {1}, {0x80, 0x3F}},
        {"f8", "F8_E4M3", {2}, {0x38, 0xB8}},
        {"f4", "F4", {4}, {0x12, 0x34}},
    };
    const auto file = st_test::make_file(specs);
    auto fv = st::parse(
        st::span<const std::byte>(reinterpret_cast<const std::byte*>(file.data()), file.size()));
    REQUIRE(fv.has_value());
    auto h = fv->tensor("h");
    REQUIRE(h.has_value());
    CHECK(outcome(h->as<std::uint16_t>()) == "DtypeMismatch");
    CHECK(outcome(h->as<std::int16_t>()) == "DtypeMismatch");
    CHECK(outcome(fv->tensor("b")->as<std::uint16_t>()) == "DtypeMismatch");
    CHECK(outcome(fv->tensor("f8")->as<std::uint8_t>()) == "DtypeMismatch");
    CHECK(outcome(fv->tensor("f4")->as<std::uint8_t>()) == "DtypeMismatch");
    // The raw bytes are still there, untouched.
    auto f4 = fv->tensor("f4");
    REQUIRE(f4.has_value());
    CHECK(f4->element_count() == 4);
    REQUIRE(f4->byte_size() == 2);
    CHECK(std::to_integer<int>(f4->bytes()[0]) == 0x12);
    CHECK(std::to_integer<int>(f4->bytes()[1]) == 0x34);
  }

  TEST_CASE("a user-specialized dtype_of gives typed access to F16") {
    // F16 1.0 = 0x3C00, -2.0 = 0xC000, at an odd offset.
    const std::vector<st_test::tensor_spec> specs{{"pad", "U8", {1}, {0}},
                                                  {"h", "F16", {2}, {0x00, 0x3C, 0x00, 0xC0}}};
    const auto file = st_test::make_file(specs);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    auto e = fv->tensor("h")->as<user_half>();
    REQUIRE(e.has_value());
    REQUIRE(e->size() == 2);
    CHECK((*e)[0].bits == 0x3C00);
    CHECK((*e)[1].bits == 0xC000);
    CHECK(e->data() == nullptr);  // offset 1: misaligned for a 2-byte type
    CHECK(outcome(fv->tensor("pad")->as<user_half>()) == "DtypeMismatch");
  }

  TEST_CASE("unaligned data: N = 61 puts the data at an odd address") {
    // One tensor, so that the whole header fits in 61 bytes.
    const std::vector<st_test::tensor_spec> one{
        {"d", "F64", {2}, {0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0xE0, 0xBF}}};
    const auto file = file_with_header_length(one, 61);
    REQUIRE(file.size() == 8 + 61 + 16);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    CHECK(fv->header().header_size() == 61);
    CHECK(fv->header().data_offset() == 69);
    auto d = fv->tensor("d");
    REQUIRE(d.has_value());
    CHECK(d->data() == buf.data() + 69);
    CHECK(address_of(d->data()) % 2 == 1);
    auto e = d->as<double>();
    REQUIRE(e.has_value());
    CHECK((*e)[0] == 1.0);
    CHECK((*e)[1] == -0.5);
    CHECK(e->to_vector() == std::vector<double>{1.0, -0.5});
    CHECK(e->data() == nullptr);  // misaligned: no typed pointer
    CHECK(std::accumulate(e->begin(), e->end(), 0.0) == 0.5);
  }

  TEST_CASE("unaligned data: every native dtype at an odd address") {
    const auto specs = typed_specs();
    // Smallest N >= the JSON length with 8 + N odd (and == 5 mod 8: misaligned for 2, 4, 8).
    std::size_t n = st_test::header_json(specs, std::nullopt).size();
    while ((8 + n) % 8 != 5) ++n;
    const auto file = file_with_header_length(specs, n);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    CHECK(address_of(fv->data().data()) % 8 == 5);
    check_typed_values(*fv);

    // Tensors whose address is misaligned for their type give no typed pointer; 1-byte types
    // are always aligned.
    auto u8 = fv->tensor("u8")->as<std::uint8_t>();
    REQUIRE(u8.has_value());
    REQUIRE(u8->data() != nullptr);
    CHECK(u8->data()[1] == 0x7F);
    auto i16 = fv->tensor("i16");
    auto i32 = fv->tensor("i32");
    auto f64 = fv->tensor("f64");
    auto c64 = fv->tensor("c64");
    REQUIRE((i16 && i32 && f64 && c64));
    if (address_of(i16->data()) % alignof(std::int16_t) != 0) {
      CHECK(i16->as<std::int16_t>()->data() == nullptr);
    }
    if (address_of(i32->data()) % alignof(std::int32_t) != 0) {
      CHECK(i32->as<std::int32_t>()->data() == nullptr);
    }
    if (address_of(f64->data()) % alignof(double) != 0) {
      CHECK(f64->as<double>()->data() == nullptr);
    }
    if (address_of(c64->data()) % alignof(std::complex<float>) != 0) {
      CHECK(c64->as<std::complex<float>>()->data() == nullptr);
    }
    // bool never has a typed pointer (a bool object may not hold 0x02 or 0xFF).
    CHECK(fv->tensor("bool")->as<bool>()->data() == nullptr);
  }

  TEST_CASE("a tensor at an odd offset inside aligned data") {
    const std::vector<st_test::tensor_spec> specs{
        {"pad", "U8", {3}, {1, 2, 3}},
        {"x", "I32", {2}, {0x01, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x7F}},
    };
    const auto file = st_test::make_file(specs);  // data starts at a multiple of 8
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    CHECK(address_of(fv->data().data()) % 8 == 0);
    auto x = fv->tensor("x");
    REQUIRE(x.has_value());
    CHECK(x->info().offsets().begin == 3);
    auto e = x->as<std::int32_t>();
    REQUIRE(e.has_value());
    CHECK(e->data() == nullptr);
    CHECK(e->to_vector() == std::vector<std::int32_t>{1, 0x7FFFFFFF});
  }

  TEST_CASE("element_view::data() is a usable pointer when the data is aligned") {
    const auto file = st_test::make_file(typed_specs(), std::nullopt, 8);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    REQUIRE(address_of(fv->data().data()) % 8 == 0);
    auto f32 = fv->tensor("f32");
    REQUIRE(f32.has_value());
    auto e = f32->as<float>();
    REQUIRE(e.has_value());
    if (address_of(f32->data()) % alignof(float) == 0 && !SAFETENSORS_BIG_ENDIAN) {
      const float* p = e->data();
      REQUIRE(p != nullptr);
      CHECK(static_cast<const void*>(p) == static_cast<const void*>(f32->data()));
      CHECK(p[0] == 1.0f);
      CHECK(p[1] == -2.5f);
      CHECK(p[2] == 0.5f);
    }
    // An aligned layout: the test writer puts every 8-byte tensor at a multiple of 8 when it
    // comes first.
    const std::vector<st_test::tensor_spec> aligned{
        {"a", "F64", {2}, {0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0xE0, 0xBF}},
        {"b", "I32", {1}, {0x2A, 0, 0, 0}}};
    const auto file2 = st_test::make_file(aligned);
    const aligned_bytes buf2(file2);
    auto fv2 = st::parse(buf2.span());
    REQUIRE(fv2.has_value());
    auto a = fv2->tensor("a")->as<double>();
    REQUIRE(a.has_value());
    auto b = fv2->tensor("b")->as<std::int32_t>();
    REQUIRE(b.has_value());
    if (SAFETENSORS_BIG_ENDIAN) {
      // A typed pointer would show byte-swapped values: none for multi-byte types.
      CHECK(a->data() == nullptr);
      CHECK(b->data() == nullptr);
    } else {
      REQUIRE(a->data() != nullptr);
      CHECK(a->data()[0] == 1.0);
      CHECK(a->data()[1] == -0.5);
      REQUIRE(b->data() != nullptr);
      CHECK(*b->data() == 42);
    }
    CHECK((*a)[1] == -0.5);  // element access decodes on every host
    CHECK((*b)[0] == 42);
  }

  TEST_CASE("BOOL bytes 0x00 0x01 0x02 0xFF read false true true true") {
    const std::vector<st_test::tensor_spec> specs{{"m", "BOOL", {2, 2}, {0x00, 0x01, 0x02, 0xFF}}};
    const auto file = st_test::make_file(specs);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    auto e = fv->tensor("m")->as<bool>();
    REQUIRE(e.has_value());
    REQUIRE(e->size() == 4);
    const bool expected[4] = {false, true, true, true};
    for (std::size_t i = 0; i < 4; ++i) CHECK((*e)[i] == expected[i]);
    CHECK(std::count(e->begin(), e->end(), true) == 3);
    bool out[4] = {true, false, false, false};
    REQUIRE(e->copy_to(st::span<bool>(out)).has_value());
    for (std::size_t i = 0; i < 4; ++i) CHECK(out[i] == expected[i]);
    CHECK(e->to_vector() == std::vector<bool>{false, true, true, true});
  }

  TEST_CASE("copy_to: exact, larger and too-small destinations") {
    const std::vector<st_test::tensor_spec> specs{
        {"x", "I16", {4}, {0x01, 0x00, 0x02, 0x00, 0xFF, 0xFF, 0xFE, 0xFF}}};
    const auto file = st_test::make_file(specs);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    auto e = fv->tensor("x")->as<std::int16_t>();
    REQUIRE(e.has_value());

    std::vector<std::int16_t> exact(4, 99);
    REQUIRE(e->copy_to(st::span<std::int16_t>(exact)).has_value());
    CHECK(exact == std::vector<std::int16_t>{1, 2, -1, -2});

    std::vector<std::int16_t> larger(6, 99);
    REQUIRE(e->copy_to(st::span<std::int16_t>(larger)).has_value());
    CHECK(larger == std::vector<std::int16_t>{1, 2, -1, -2, 99, 99});

    std::vector<std::int16_t> small(3, 99);
    auto r = e->copy_to(st::span<std::int16_t>(small));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::invalid_argument);
    CHECK_FALSE(r.error().message().empty());
    CHECK(small == std::vector<std::int16_t>{99, 99, 99});  // untouched

    auto r0 = e->copy_to(st::span<std::int16_t>());
    CHECK(outcome(r0) == "InvalidArgument");
  }

  TEST_CASE("to_vector and empty tensors") {
    const std::vector<st_test::tensor_spec> specs{
        {"empty", "F32", {0, 3}, {}},
        {"scalar", "U32", {}, {0x2A, 0x00, 0x00, 0x00}},
    };
    const auto file = st_test::make_file(specs);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    auto empty = fv->tensor("empty")->as<float>();
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
    CHECK(empty->size() == 0);
    CHECK(empty->begin() == empty->end());
    CHECK(empty->to_vector().empty());
    CHECK(empty->copy_to(st::span<float>()).has_value());  // zero elements fit anywhere
    auto scalar = fv->tensor("scalar")->as<std::uint32_t>();
    REQUIRE(scalar.has_value());
    CHECK(scalar->size() == 1);
    CHECK(scalar->to_vector() == std::vector<std::uint32_t>{42});
  }

  TEST_CASE("element_view iterators work with std algorithms") {
    // I32 [6]: 5, -3, 10, 0, 7, -1
    std::vector<std::uint8_t> bytes;
    const std::int32_t values[6] = {5, -3, 10, 0, 7, -1};
    for (std::int32_t v : values) {
      const auto u = static_cast<std::uint32_t>(v);
      for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<std::uint8_t>((u >> (8 * k)) & 0xFF));
    }
    const std::vector<st_test::tensor_spec> specs{{"v", "I32", {2, 3}, bytes}};
    const auto file = st_test::make_file(specs);
    const aligned_bytes buf(file);
    auto fv = st::parse(buf.span());
    REQUIRE(fv.has_value());
    auto r = fv->tensor("v")->as<std::int32_t>();
    REQUIRE(r.has_value());
    const st::element_view<std::int32_t> e = *r;

    CHECK(std::distance(e.begin(), e.end()) == 6);
    CHECK(e.end() - e.begin() == 6);
    CHECK(std::accumulate(e.begin(), e.end(), 0) == 18);
    CHECK(*std::max_element(e.begin(), e.end()) == 10);
    CHECK(*std::min_element(e.begin(), e.end()) == -3);
    CHECK(std::find(e.begin(), e.end(), 7) - e.begin() == 4);
    CHECK(std::count_if(e.begin(), e.end(), [](std::int32_t x) { return x < 0; }) == 2);

    std::vector<std::int32_t> reversed(std::make_reverse_iterator(e.end()),
                                       std::make_reverse_iterator(e.begin()));
    CHECK(reversed == std::vector<std::int32_t>{-1, 7, 0, 10, -3, 5});
    std::vector<std::int32_t> rev2;
    for (auto it = e.end(); it != e.begin();) rev2.push_back(*--it);
    CHECK(rev2 == reversed);

    std::vector<std::int32_t> forward;
    for (std::int32_t x : e) forward.push_back(x);
    CHECK(forward == std::vector<std::int32_t>{5, -3, 10, 0, 7, -1});
    std::vector<std::int32_t> copied;
    std::copy(e.begin(), e.end(), std::back_inserter(copied));
    CHECK(copied == forward);

    auto it = e.begin();
    CHECK(it[2] == 10);
    it += 3;
    CHECK(*it == 0);
    CHECK(*(it - 1) == 10);
    CHECK(*(1 + it) == 7);
    it -= 2;
    CHECK(*it++ == -3);
    CHECK(*it == 10);
    CHECK(*it-- == 10);
    CHECK(*it == -3);
    CHECK(e.begin() < e.end());
    CHECK(e.end() > e.begin());
    CHECK(e.begin() <= e.begin());
    CHECK(e.end() >= e.end());
    CHECK(std::is_same_v<std::iterator_traits<decltype(e.begin())>::iterator_category,
                         std::random_access_iterator_tag>);
    auto lb = std::lower_bound(e.begin() + 3, e.begin() + 5, 7);  // {0, 7} is sorted
    CHECK(lb - e.begin() == 4);
  }

  TEST_CASE("span basics") {
    std::vector<int> v{1, 2, 3, 4, 5};
    st::span<int> s(v);
    CHECK(s.size() == 5);
    CHECK(s.data() == v.data());
    CHECK(s.size_bytes() == 5 * sizeof(int));
    CHECK_FALSE(s.empty());
    CHECK(s[2] == 3);
    s[2] = 30;  // writable view
    CHECK(v[2] == 30);
    CHECK(std::accumulate(s.begin(), s.end(), 0) == 1 + 2 + 30 + 4 + 5);

    int arr[3] = {7, 8, 9};
    st::span<int> a(arr);
    CHECK(a.size() == 3);
    CHECK(a.data() == arr);
    int sum = 0;
    for (int x : a) sum += x;
    CHECK(sum == 24);

    const st::span<const int> c = s;  // conversion to const
    CHECK(c.data() == v.data());
    CHECK(c.size() == 5);

    auto sub = s.subspan(1, 3);
    CHECK(sub.data() == v.data() + 1);
    CHECK(sub.size() == 3);
    CHECK(s.subspan(3).size() == 2);
    CHECK(s.subspan(3).data() == v.data() + 3);
    CHECK(s.subspan(4, 1).size() == 1);
    CHECK(s.subspan(5).empty());  // (subspan has std::span's preconditions: nothing is clamped)

    st::span<const int> empty;
    CHECK(empty.empty());
    CHECK(empty.size() == 0);
    CHECK(empty.data() == nullptr);
    CHECK(empty.begin() == empty.end());

    const st::span<const int> ptr(v.data() + 1, 2);
    CHECK(ptr[0] == 2);
    CHECK(ptr[1] == 30);

    const std::string str = "abc";
    st::span<const char> cs(str);
    CHECK(cs.size() == 3);
    CHECK(cs[1] == 'b');

    auto bytes = st::as_bytes(c);
    CHECK(bytes.size() == 5 * sizeof(int));
    CHECK(static_cast<const void*>(bytes.data()) == static_cast<const void*>(v.data()));
    auto wbytes = st::as_writable_bytes(s);
    CHECK(wbytes.size() == 5 * sizeof(int));
    std::memset(wbytes.data(), 0, wbytes.size());
    CHECK(v == std::vector<int>(5, 0));
  }

  TEST_CASE("result<T> and result<void>") {
    st::result<int> ok = 42;
    CHECK(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK(*ok == 42);
    CHECK(ok.value() == 42);
    ok.value() = 43;
    CHECK(*ok == 43);

    st::result<std::string> s = std::string("hello");
    CHECK(s->size() == 5);
    const std::string moved = std::move(s).value();
    CHECK(moved == "hello");

    st::result<int> bad = st::error(st::errc::invalid_offset, "the detail");
    CHECK_FALSE(bad.has_value());
    CHECK_FALSE(static_cast<bool>(bad));
    CHECK(bad.error().code() == st::errc::invalid_offset);
    CHECK(bad.error() == st::errc::invalid_offset);
    CHECK(bad.error() != st::errc::invalid_header);
    CHECK(bad.error().name() == "InvalidOffset");
    CHECK(bad.error().message() == "the detail");
    CHECK(bad.error().to_string() == "InvalidOffset: the detail");
    CHECK(bad.error().error_code() == std::error_code(st::errc::invalid_offset));

#if SAFETENSORS_NO_EXCEPTIONS == 0
    CHECK_THROWS_AS((void)bad.value(), st::exception);
    CHECK_THROWS_AS((void)bad.value(), std::runtime_error);
    try {
      (void)bad.value();
      FAIL("value() on an error did not throw");
    } catch (const st::exception& ex) {
      CHECK(ex.code() == st::errc::invalid_offset);
      CHECK(ex.error().code() == st::errc::invalid_offset);
      CHECK(ex.error().message() == "the detail");
      CHECK(std::string(ex.what()) == "InvalidOffset: the detail");
    }
    const st::result<int>& cbad = bad;
    CHECK_THROWS_AS((void)cbad.value(), st::exception);
    CHECK_THROWS_AS((void)std::move(bad).value(), st::exception);
    CHECK_NOTHROW((void)ok.value());
#endif

    st::result<void> v_ok;
    CHECK(v_ok.has_value());
    CHECK(static_cast<bool>(v_ok));
    st::result<void> v_bad = st::error(st::errc::io_error, "disk on fire");
    CHECK_FALSE(v_bad.has_value());
    CHECK_FALSE(static_cast<bool>(v_bad));
    CHECK(v_bad.error().code() == st::errc::io_error);
    CHECK(v_bad.error().message() == "disk on fire");
#if SAFETENSORS_NO_EXCEPTIONS == 0
    CHECK_NOTHROW(v_ok.value());
    CHECK_THROWS_AS(v_bad.value(), st::exception);
    try {
      v_bad.value();
      FAIL("value() on an error did not throw");
    } catch (const st::exception& ex) {
      CHECK(ex.code() == st::errc::io_error);
      CHECK(ex.error().message() == "disk on fire");
    }
#endif

    // A library result: value() on TensorNotFound throws the same error.
    const auto file = st_test::make_file({});
    auto fv = st::parse(
        st::span<const std::byte>(reinterpret_cast<const std::byte*>(file.data()), file.size()));
    REQUIRE(fv.has_value());
    auto missing = fv->tensor("nope");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code() == st::errc::tensor_not_found);
#if SAFETENSORS_NO_EXCEPTIONS == 0
    try {
      (void)missing.value();
      FAIL("value() on an error did not throw");
    } catch (const st::exception& ex) {
      CHECK(ex.code() == st::errc::tensor_not_found);
      CHECK(ex.error().message() == missing.error().message());
    }
#endif
  }

  TEST_CASE("std::error_code interop") {
    std::error_code ec = st::errc::invalid_offset;
    CHECK(ec.value() == 6);
    CHECK(std::string(ec.category().name()) == "safetensors");
    CHECK(ec.message() == "InvalidOffset");
    CHECK(ec == st::errc::invalid_offset);
    CHECK(ec != st::errc::invalid_header);
    CHECK(&ec.category() == &st::error_category());
    CHECK(static_cast<bool>(ec));
    CHECK(ec != std::make_error_code(std::errc::invalid_argument));
    const std::error_code io = st::make_error_code(st::errc::io_error);
    CHECK(io.message() == "IoError");
    CHECK(io.value() == 15);
  }

  TEST_CASE("error_name for every errc") {
    // docs/format.md#error-codes: the reference's names, then this library's own.
    const char* const expected[] = {
        "HeaderTooSmall",
        "HeaderTooLarge",
        "InvalidHeaderLength",
        "InvalidHeader",
        "InvalidHeaderDeserialization",
        "InvalidOffset",
        "ValidationOverflow",
        "MisalignedSlice",
        "TensorInvalidInfo",
        "MetadataIncompleteBuffer",
        "TensorNotFound",
        "DuplicateKey",
        "InvalidTensorName",
        "DtypeMismatch",
        "IoError",
        "InvalidArgument",
        "Cancelled",
        "OutOfMemory",
    };
    for (int i = 0; i < 18; ++i) {
      const auto code = static_cast<st::errc>(i + 1);
      CAPTURE(i);
      CHECK(st::error_name(code) == expected[i]);
      CHECK(std::error_code(code).message() == expected[i]);
      CHECK(st::error(code, "m").name() == expected[i]);
    }
    CHECK(st::error_name(static_cast<st::errc>(0)) == "Unknown");
    CHECK(st::error_name(static_cast<st::errc>(19)) == "Unknown");
    CHECK(static_cast<int>(st::errc::header_too_small) == 1);
    CHECK(static_cast<int>(st::errc::invalid_argument) == 16);
    CHECK(static_cast<int>(st::errc::cancelled) == 17);
  }

  TEST_CASE("dtype names and bit sizes round trip for all 22 dtypes") {
    // The test writer's own table (docs/format.md#dtypes), in rank order.
    REQUIRE(st_test::dtype_table.size() == st::dtype_count);
    for (std::size_t i = 0; i < st_test::dtype_table.size(); ++i) {
      const auto& entry = st_test::dtype_table[i];
      CAPTURE(entry.name);
      const auto d = st::dtype_from_string(entry.name);
      REQUIRE(d.has_value());
      CHECK(static_cast<std::size_t>(*d) == i);  // enum order is the reference rank order
      CHECK(st::to_string(*d) == entry.name);
      CHECK(st::bit_size(*d) == entry.bits);
      CHECK(st::dtype_from_string(st::to_string(*d)) == d);
    }
    CHECK(st::dtype_from_string("BOOL") == st::dtype::BOOL);
    CHECK(st::dtype_from_string("U64") == st::dtype::U64);
    CHECK(st::bit_size(st::dtype::F6_E2M3) == 6);
    CHECK(st::bit_size(st::dtype::F6_E3M2) == 6);
    CHECK(st::bit_size(st::dtype::F8_E8M0) == 8);
    CHECK(st::bit_size(st::dtype::BF16) == 16);

    const std::string_view rejected[] = {
        "f32",
        "",
        "F32 ",
        " F32",
        "FP32",
        "float32",
        "bool",
        "Bool",
        "F8_E4M3fnuz",
        "c64",
        "F",
        "F3",
        "F320",
        "U128",
        "F8",
        "F6",
        "__metadata__",
        std::string_view("F32\0", 4),
        "F32\n",
    };
    for (std::string_view name : rejected) {
      CAPTURE(std::string(name));
      CHECK_FALSE(st::dtype_from_string(name).has_value());
    }
  }
}
