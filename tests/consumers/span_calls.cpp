// The same calls built twice, as C++17 (safetensors::span is the library's stand-in) and as
// C++20 (it is std::span), by tests/CMakeLists.txt: every argument std::span<const T> takes (a
// temporary container, an initializer_list, a std::array, a C array, a braced list inside a
// second pair of braces, iterators), passed to parse, as_bytes, the conversions, slicing and
// load(), and load()'s braced list of requests (docs/design.md#api-v1). What a span does not
// take is checked the same way in both. Run with a directory for its files.
#include <array>
#include <cstddef>
#include <deque>
#include <initializer_list>
#include <iostream>
#include <list>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#if SAFETENSORS_HAS_STD_SPAN != SPAN_CALLS_STD_SPAN
#error "safetensors::span is not the span this build of the test is for"
#endif

namespace st = safetensors;

namespace {
struct base {
  int a;
};
struct derived : base {
  int b;
};

// What converts to a span: std::span's rules, the same in both standards.
static_assert(std::is_convertible_v<std::vector<float>, st::span<const float>>);
static_assert(!std::is_convertible_v<std::vector<float>, st::span<float>>);
static_assert(std::is_convertible_v<std::vector<float>&, st::span<float>>);
static_assert(!std::is_convertible_v<const std::vector<float>&, st::span<float>>);
static_assert(std::is_convertible_v<std::array<float, 2>, st::span<const float>>);
static_assert(!std::is_convertible_v<std::array<float, 2>, st::span<float>>);
static_assert(std::is_convertible_v<std::initializer_list<float>, st::span<const float>>);
static_assert(std::is_convertible_v<std::string, st::span<const char>>);
static_assert(std::is_convertible_v<std::string_view, st::span<const char>>);
static_assert(!std::is_convertible_v<std::string_view, st::span<char>>);
static_assert(std::is_convertible_v<float (&)[3], st::span<const float>>);
static_assert(!std::is_convertible_v<const float (&)[3], st::span<float>>);
static_assert(std::is_convertible_v<st::span<float>, st::span<const float>>);
static_assert(!std::is_convertible_v<st::span<const float>, st::span<float>>);
static_assert(!std::is_convertible_v<std::vector<derived>&, st::span<const base>>);
static_assert(!std::is_convertible_v<derived (&)[2], st::span<const base>>);
static_assert(!std::is_convertible_v<std::vector<bool>&, st::span<const bool>>);
static_assert(!std::is_convertible_v<std::deque<float>&, st::span<const float>>);
static_assert(!std::is_convertible_v<std::list<float>&, st::span<const float>>);
// A pointer or contiguous iterator and a count, or two of them; not 0 or nullptr.
static_assert(std::is_constructible_v<st::span<const float>, const float*, std::size_t>);
static_assert(std::is_constructible_v<st::span<const float>, float*, float*>);
static_assert(
    std::is_constructible_v<st::span<const float>, std::vector<float>::iterator, std::size_t>);
static_assert(std::is_constructible_v<st::span<const float>, std::vector<float>::const_iterator,
                                      std::vector<float>::const_iterator>);
static_assert(std::is_constructible_v<st::span<const char>, std::string::const_iterator,
                                      std::string::const_iterator>);
static_assert(
    !std::is_constructible_v<st::span<float>, std::vector<float>::const_iterator, std::size_t>);
static_assert(
    !std::is_constructible_v<st::span<const float>, std::deque<float>::iterator, std::size_t>);
static_assert(!std::is_constructible_v<st::span<const float>, int, int>);
static_assert(!std::is_constructible_v<st::span<const float>, std::nullptr_t, std::size_t>);
static_assert(!std::is_constructible_v<st::span<const base>, derived*, std::size_t>);

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}

// Counts the bytes a sink receives.
class counting_sink final : public st::load_sink {
 public:
  st::result<void> write(std::size_t, std::uint64_t, st::span<const std::byte> bytes) override {
    bytes_ += bytes.size();
    return {};
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::uint64_t bytes_ = 0;
};

// w holds 0..5 as F32[2,3], b holds 10..13 as F32[4].
const std::vector<float> w_values{0, 1, 2, 3, 4, 5};
const std::vector<float> b_values{10, 11, 12, 13};

struct targets {
  std::vector<float> w = std::vector<float>(6, -1.0f);
  std::vector<float> b = std::vector<float>(4, -1.0f);
  st::load_request w_request() { return {"w", st::as_writable_bytes(w), {}, std::nullopt}; }
  st::load_request b_request() { return {"b", st::as_writable_bytes(b), {}, std::nullopt}; }
  bool ok() const { return w == w_values && b == b_values; }
  bool w_only() const { return w == w_values && b == std::vector<float>(4, -1.0f); }
};

// Every spelling of a load() call on `source`, each checked by what it delivers.
template <class Source>
void load_calls(const Source& source, const char* name) {
  const std::string prefix = std::string(name) + ": load(";
  auto check = [&](const st::result<st::load_report>& r, bool delivered, const char* how) {
    expect(r.has_value() && delivered, (prefix + how + ")").c_str());
    if (!r) std::cerr << "  " << r.error() << "\n";
  };
  {
    targets t;
    auto r = st::load(source, std::vector<st::load_request>{t.w_request(), t.b_request()});
    check(r, t.ok(), "temporary std::vector");
  }
  {
    targets t;
    auto r = st::load(source, {t.w_request(), t.b_request()});
    check(r, t.ok(), "braced list");
  }
  {
    targets t;
    auto r = st::load(source, {{"w", st::as_writable_bytes(t.w), {}, std::nullopt},
                               {"b", st::as_writable_bytes(t.b), {}, std::nullopt}});
    check(r, t.ok(), "braced list of braced requests");
  }
  {
    targets t;
    auto r = st::load(source, {{t.w_request(), t.b_request()}});
    check(r, t.ok(), "braced list in braces");
  }
  {
    targets t;
    auto r = st::load(source, {t.w_request()});
    check(r, t.w_only(), "braced list of one");
  }
  {
    targets t;
    auto r = st::load(source, std::array<st::load_request, 2>{t.w_request(), t.b_request()});
    check(r, t.ok(), "temporary std::array");
  }
  {
    targets t;
    const st::load_request list[] = {t.w_request(), t.b_request()};
    auto r = st::load(source, list);
    check(r, t.ok(), "C array");
  }
  {
    targets t;
    std::vector<st::load_request> requests{t.w_request(), t.b_request()};
    auto r = st::load(source, requests);
    check(r, t.ok(), "std::vector");
  }
  {
    targets t;
    const std::vector<st::load_request> requests{t.w_request(), t.b_request()};
    auto r = st::load(source, {requests.begin(), requests.end()});
    check(r, t.ok(), "iterators");
    targets u;
    const std::vector<st::load_request> more{u.w_request(), u.b_request()};
    auto r2 = st::load(source, {more.data(), 1});
    check(r2, u.w_only(), "pointer and count");
  }
  {
    targets t;
    st::load_options options;
    options.threads = 2;
    auto r = st::load(source, {t.w_request(), t.b_request()}, options);
    check(r, t.ok(), "braced list, options");
  }
  {
    targets t;
    counting_sink sink;
    auto r = st::load(source, {t.w_request(), t.b_request()}, sink);
    check(r, sink.bytes() == 40 && t.w == std::vector<float>(6, -1.0f), "braced list, sink");
  }
  {
    auto r = st::load(source, {});
    check(r, r.has_value() && r->tensors == 0, "{}");
  }
  {
    targets t;
    auto r = st::load(source, {t.w_request(), {"missing", st::as_writable_bytes(t.b), {}, {}}});
    expect(!r && r.error().code() == st::errc::tensor_not_found,
           (prefix + "braced list naming a missing tensor) is TensorNotFound").c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: span_calls DIRECTORY\n";
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/span_calls_" +
                           std::to_string(SAFETENSORS_HAS_STD_SPAN) + ".safetensors";

  // as_bytes of an lvalue container, of a temporary one, of a string.
  std::vector<st::tensor_spec> specs{
      {"w", st::dtype::F32, {2, 3}, st::as_bytes(w_values), {}},
      {"b", st::dtype::F32, {4}, st::as_bytes(b_values), {}},
  };
  expect(st::as_bytes(std::vector<float>{1, 2, 3}).size() == 12, "as_bytes(temporary vector)");
  expect(st::as_bytes(std::string("abc")).size() == 3, "as_bytes(temporary std::string)");
  expect(st::as_bytes(std::array<std::uint16_t, 5>{}).size() == 10, "as_bytes(temporary array)");

  auto file = st::serialize(specs);
  if (!file) {
    std::cerr << file.error() << "\n";
    return 1;
  }
  if (auto r = st::save_file(path, specs); !r) {
    std::cerr << r.error() << "\n";
    return 1;
  }

  // parse: an lvalue vector, iterators, a pointer and a count, a temporary vector.
  auto parsed = st::parse(*file);
  expect(parsed.has_value() && parsed->size() == 2, "parse(std::vector)");
  auto from_iterators = st::parse({file->cbegin(), file->cend()});
  expect(from_iterators.has_value() && from_iterators->size() == 2, "parse({begin, end})");
  auto from_pointer = st::parse({file->data(), file->size()});
  expect(from_pointer.has_value() && from_pointer->size() == 2, "parse({data, size})");
  expect(st::parse(std::vector<std::byte>(*file)).has_value(), "parse(temporary vector)");
  expect(st::parse({}).error().code() == st::errc::header_too_small, "parse({})");
  if (!parsed) return 1;

  // The conversions: temporaries, braced lists in braces, std::array, initializer_list.
  std::vector<float> decoded(4);
  expect(st::decode_to_float(st::dtype::F32, st::as_bytes(std::vector<float>{1, 2, 3, 4}), decoded)
                 .has_value() &&
             decoded == std::vector<float>{1, 2, 3, 4},
         "decode_to_float(as_bytes(temporary vector))");
  std::array<std::byte, 4> f16{};
  expect(st::encode_from_float(std::vector<float>{1.0f, -2.0f}, st::dtype::F16, f16).has_value() &&
             std::to_integer<int>(f16[1]) == 0x3c && std::to_integer<int>(f16[3]) == 0xc0,
         "encode_from_float(temporary vector)");
  f16 = {};
  expect(st::encode_from_float({{1.0f, -2.0f}}, st::dtype::F16, f16).has_value() &&
             std::to_integer<int>(f16[1]) == 0x3c && std::to_integer<int>(f16[3]) == 0xc0,
         "encode_from_float({{...}})");
  f16 = {};
  expect(
      st::encode_from_float(std::array<float, 2>{1.0f, -2.0f}, st::dtype::F16, f16).has_value() &&
          std::to_integer<int>(f16[3]) == 0xc0,
      "encode_from_float(temporary std::array)");
  f16 = {};
  const std::initializer_list<float> two{1.0f, -2.0f};
  expect(st::encode_from_float(two, st::dtype::F16, f16).has_value() &&
             std::to_integer<int>(f16[3]) == 0xc0,
         "encode_from_float(initializer_list)");

  // Slicing: ranges as a temporary vector, a braced list, a braced list in braces.
  const st::tensor_view w = parsed->tensor("w").value();
  auto column = st::plan_slice(w.info(), std::vector<st::dim_range>{{0, 2}, {1, 2}});
  expect(column.has_value() && column->element_count() == 2, "plan_slice(temporary vector)");
  auto row = st::slice(w, {{1, 2}, {0, 3}});
  expect(row.has_value() && row->size() == 12, "slice(view, braced list)");
  auto row_too = st::slice(w, {{{1, 2}, {0, 3}}});
  expect(row_too.has_value() && *row_too == *row, "slice(view, braced list in braces)");
  std::vector<float> second_row(3);
  expect(st::slice_into(w, std::vector<st::dim_range>{{1, 2}, {0, 3}},
                        st::as_writable_bytes(second_row))
                 .has_value() &&
             second_row == std::vector<float>{3, 4, 5},
         "slice_into(temporary vector)");

  // The three sources of load().
  auto reader = st::source_reader::open(std::make_unique<st::memory_source>(*file));
  auto mapped = st::mapped_file::open(path);
  auto ckpt = st::checkpoint::open(path);
  if (!reader || !mapped || !ckpt) {
    std::cerr << "cannot open " << path << "\n";
    return 1;
  }
  std::vector<float> part(3);
  expect(
      reader->read_slice_into(reader->at("w").value(), std::vector<st::dim_range>{{1, 2}, {0, 3}},
                              st::as_writable_bytes(part))
              .has_value() &&
          part == std::vector<float>{3, 4, 5},
      "read_slice_into(temporary vector)");
  load_calls(*reader, "source_reader");
  load_calls(*mapped, "mapped_file");
  load_calls(*ckpt, "checkpoint");

  if (failures != 0) return 1;
  std::cout << "span calls ok (" << (SAFETENSORS_HAS_STD_SPAN ? "std::span" : "stand-in") << ")\n";
  return 0;
}
