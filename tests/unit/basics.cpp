// Part 1, basics: span and as_bytes, dtype names, errors and their printing, result<T>
// (value_or, moves, the operator-> that temporaries of view owners do not have), int_cast.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <safetensors/safetensors.hpp>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {
namespace st = safetensors;

// Whether `std::declval<R>()->size()` compiles, i.e. operator-> is usable on an R.
template <class R, class = void>
struct has_arrow : std::false_type {};
template <class R>
struct has_arrow<R, std::void_t<decltype(std::declval<R>().operator->())>> : std::true_type {};

// Temporaries of results whose value owns what views point into have no operator->; others do.
static_assert(has_arrow<st::result<st::mapped_file>&>::value);
static_assert(!has_arrow<st::result<st::mapped_file>&&>::value);
static_assert(!has_arrow<st::result<st::file_view>&&>::value);
static_assert(!has_arrow<st::result<st::header>&&>::value);
static_assert(!has_arrow<st::result<st::source_reader>&&>::value);
static_assert(!has_arrow<st::result<st::checkpoint>&&>::value);
static_assert(has_arrow<st::result<st::tensor_view>&&>::value);
static_assert(has_arrow<st::result<st::tensor_info>&&>::value);
static_assert(has_arrow<const st::result<st::file_view>&>::value);

// A mapped_file owns its file_view; it is not one.
static_assert(!std::is_convertible_v<st::mapped_file, st::file_view>);
static_assert(!std::is_base_of_v<st::file_view, st::mapped_file>);

// The exception mode names the ABI namespace.
#if SAFETENSORS_NO_EXCEPTIONS
static_assert(std::is_same_v<st::error, st::v1_noexcept::error>);
#else
static_assert(std::is_same_v<st::error, st::v1::error>);
#endif

template <class T>
std::string printed(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

TEST_SUITE("basics") {
  TEST_CASE("as_bytes takes any contiguous range of trivially copyable objects") {
    const std::vector<float> v{1.0F, 2.0F, 3.0F};
    const auto b = st::as_bytes(v);
    CHECK(b.size() == 12);
    CHECK(static_cast<const void*>(b.data()) == static_cast<const void*>(v.data()));
    const std::array<std::uint16_t, 4> a{1, 2, 3, 4};
    CHECK(st::as_bytes(a).size() == 8);
    const std::int32_t c_array[3] = {1, 2, 3};
    CHECK(st::as_bytes(c_array).size() == 12);
    CHECK(st::as_bytes(st::span<const float>(v)).size() == 12);
    CHECK(st::as_bytes(std::vector<double>()).empty());
    std::vector<std::uint8_t> w(5);
    const auto wb = st::as_writable_bytes(w);
    wb[2] = std::byte{7};
    CHECK(w[2] == 7);
  }

  TEST_CASE("span: subspan with and without a count") {
    std::vector<int> v{1, 2, 3, 4, 5};
    const st::span<int> s(v);
    CHECK(s.subspan(1, 3).size() == 3);
    CHECK(s.subspan(1, 3).data() == v.data() + 1);
    CHECK(s.subspan(2).size() == 3);
    CHECK(s.subspan(5).empty());
  }

  TEST_CASE("dtype, errc and error print their names") {
    CHECK(printed(st::dtype::BF16) == "BF16");
    CHECK(printed(st::dtype::F8_E4M3FNUZ) == "F8_E4M3FNUZ");
    CHECK(printed(static_cast<st::dtype>(200)) == "dtype(200)");
    CHECK(printed(st::errc::invalid_offset) == "InvalidOffset");
    const st::error e(st::errc::tensor_not_found, "no tensor named 'x'");
    CHECK(printed(e) == "TensorNotFound: no tensor named 'x'");
    CHECK(printed(e) == e.to_string());
  }

  TEST_CASE("result: value_or, copies and moves keep the value or the error") {
    const st::result<int> ok(3);
    const st::result<int> bad(st::error(st::errc::io_error, "gone"));
    CHECK(ok.value_or(7) == 3);
    CHECK(bad.value_or(7) == 7);
    CHECK(st::result<std::string>(std::string("kept")).value_or("fallback") == "kept");
    CHECK(st::result<std::string>(st::error(st::errc::io_error, "x")).value_or("fallback") ==
          "fallback");

    st::result<std::vector<int>> a(std::vector<int>{1, 2, 3});
    st::result<std::vector<int>> b = a;  // copy
    CHECK(b->size() == 3);
    st::result<std::vector<int>> c = std::move(a);  // move
    CHECK(c->size() == 3);
    c = st::result<std::vector<int>>(st::error(st::errc::invalid_argument, "now an error"));
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code() == st::errc::invalid_argument);
    c = b;  // from an error back to a value
    REQUIRE(c.has_value());
    CHECK((*c)[2] == 3);
    st::result<std::vector<int>> d(st::error(st::errc::io_error, "e"));
    d = std::move(b);
    CHECK(d->size() == 3);
  }

  TEST_CASE("as<T>() refuses a view over fewer bytes than its elements need") {
    // 1.0F and 2.0F as the format stores them: little-endian IEEE-754 bytes (any host).
    const std::vector<std::byte> data{std::byte{0x00}, std::byte{0x00}, std::byte{0x80},
                                      std::byte{0x3f}, std::byte{0x00}, std::byte{0x00},
                                      std::byte{0x00}, std::byte{0x40}};
    std::vector<st::tensor_spec> specs{
        {"w", st::dtype::F32, {2}, st::span<const std::byte>(data), {}}};
    const auto file = st::serialize(specs).value();
    const auto f = st::parse(file);
    REQUIRE(f.has_value());
    REQUIRE(f->tensor("w")->as<float>().has_value());
    CHECK((*f->tensor("w")->as<float>())[1] == 2.0F);
    // An entry of another, larger file: its range is outside this file's data.
    const std::vector<std::uint64_t> shape = {16};
    const st::tensor_info foreign("w", st::dtype::F32, st::span<const std::uint64_t>(shape),
                                  {0, 64}, 16);
    const st::tensor_view v = f->tensor(foreign);
    CHECK(v.byte_size() == 0);
    const auto typed = v.as<float>();
    REQUIRE_FALSE(typed.has_value());
    CHECK(typed.error().code() == st::errc::invalid_argument);
    // A hand-made view whose element count overflows with the element size.
    const st::tensor_info huge("h", st::dtype::F32, st::span<const std::uint64_t>(shape), {0, 8},
                               std::uint64_t{1} << 62);
    CHECK(st::tensor_view(huge, st::span<const std::byte>(data)).as<float>().error().code() ==
          st::errc::invalid_argument);
  }

  TEST_CASE("int_cast converts between the size types without a warning on any host") {
    CHECK(st::detail::int_cast<std::size_t>(std::uint64_t{42}) == 42);
    CHECK(st::detail::int_cast<std::uint64_t>(std::size_t{42}) == 42);
    CHECK(st::detail::int_cast<std::uint32_t>(std::uint64_t{0x1'0000'0005}) == 5);
  }

  TEST_CASE("checked_add and checked_mul: exact at 2^64 - 1, false one past it") {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t out = 7;
    CHECK(st::detail::checked_add(max - 5, 5, out));
    CHECK(out == max);
    CHECK(st::detail::checked_add(0, max, out));
    CHECK(out == max);
    out = 7;
    CHECK_FALSE(st::detail::checked_add(max - 5, 6, out));
    CHECK_FALSE(st::detail::checked_add(max, 1, out));
    CHECK(out == 7);  // untouched on overflow
    // 2^64 - 1 = 3 * 5 * 17 * 257 * 641 * 65537 * 6700417.
    const std::uint64_t third = max / 3;
    CHECK(st::detail::checked_mul(third, 3, out));
    CHECK(out == max);
    CHECK(st::detail::checked_mul(0, max, out));
    CHECK(out == 0);
    CHECK(st::detail::checked_mul(max, 1, out));
    CHECK(out == max);
    out = 7;
    CHECK_FALSE(st::detail::checked_mul(third + 1, 3, out));
    CHECK_FALSE(st::detail::checked_mul(std::uint64_t{1} << 32, std::uint64_t{1} << 32, out));
    CHECK(out == 7);
  }

  TEST_CASE("quote and escape_controls keep messages on one line") {
    CHECK(st::detail::escape_controls("a\nb\x7f") == "a\\x0ab\\x7f");
    CHECK(st::detail::quote("w") == "'w'");
    CHECK(st::detail::quote(std::string(300, 'x')) ==
          "'" + std::string(200, 'x') + "...(300 bytes)'");
  }
}
