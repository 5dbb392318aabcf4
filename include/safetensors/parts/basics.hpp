// safetensors for C++, part 1 of 14: basics. Version, configuration, span, dtypes, errors and
// result<T>, and the checked arithmetic and message helpers every later part uses.
// Include <safetensors/safetensors.hpp>, not a part (docs/design.md#the-header-in-parts).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_BASICS_HPP
#define SAFETENSORS_PARTS_BASICS_HPP

#define SAFETENSORS_VERSION_MAJOR 1
#define SAFETENSORS_VERSION_MINOR 0
#define SAFETENSORS_VERSION_PATCH 0

// --- configuration (each may be defined before the first include) -----------------------------

// SAFETENSORS_NO_EXCEPTIONS: 1 when exceptions are off (detected from the compiler). The API never
//   throws either way; only result<T>::value() on an error throws, or aborts without exceptions.
//   Part of the ABI namespace: both modes may be linked into one program.
#ifndef SAFETENSORS_NO_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define SAFETENSORS_NO_EXCEPTIONS 0
#else
#define SAFETENSORS_NO_EXCEPTIONS 1
#endif
#endif

// SAFETENSORS_BIG_ENDIAN: 1 on big-endian hosts (detected). The format is little-endian; typed
//   element access byte-swaps on such hosts. MSVC defines no __BYTE_ORDER__: 0, as every target
//   it has (x86, x64, ARM, ARM64) is little-endian.
#ifndef SAFETENSORS_BIG_ENDIAN
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define SAFETENSORS_BIG_ENDIAN 1
#else
#define SAFETENSORS_BIG_ENDIAN 0
#endif
#endif

// SAFETENSORS_WINDOWS: 1 to use the Win32 file API (detected from _WIN32), else POSIX.
#ifndef SAFETENSORS_WINDOWS
#if defined(_WIN32)
#define SAFETENSORS_WINDOWS 1
#else
#define SAFETENSORS_WINDOWS 0
#endif
#endif

// SAFETENSORS_HEADER_ONLY: 1 (the default) compiles the library in every translation unit that
//   uses it. 0 is the separate-compilation mode (docs/design.md#separate-compilation): the header
//   declares, and exactly one translation unit of the program defines SAFETENSORS_IMPLEMENTATION
//   before including it (src/safetensors.cpp), which compiles the definitions. Defining
//   SAFETENSORS_IMPLEMENTATION alone selects 0. Part of the ABI namespace.
#ifndef SAFETENSORS_HEADER_ONLY
#ifdef SAFETENSORS_IMPLEMENTATION
#define SAFETENSORS_HEADER_ONLY 0
#else
#define SAFETENSORS_HEADER_ONLY 1
#endif
#endif
#if SAFETENSORS_HEADER_ONLY && defined(SAFETENSORS_IMPLEMENTATION)
#error "SAFETENSORS_IMPLEMENTATION needs SAFETENSORS_HEADER_ONLY 0 (docs/design.md)"
#endif

// SAFETENSORS_DEFINITIONS (internal): 1 where the parts' definitions are compiled, i.e. in every
// translation unit in header-only mode, and in the SAFETENSORS_IMPLEMENTATION one otherwise.
// SAFETENSORS_FUNC marks the non-template functions, on their declaration and definition:
// `inline` in header-only mode, nothing otherwise (one definition, in the implementation unit).
#if SAFETENSORS_HEADER_ONLY
#define SAFETENSORS_DEFINITIONS 1
#define SAFETENSORS_FUNC inline
#else
#ifdef SAFETENSORS_IMPLEMENTATION
#define SAFETENSORS_DEFINITIONS 1
#else
#define SAFETENSORS_DEFINITIONS 0
#endif
#define SAFETENSORS_FUNC
#endif

// The ABI namespace: every entity lives in safetensors::<this>, an inline namespace whose name
// carries each setting that changes behaviour or layout, so that translation units built with
// different settings never define the same inline function differently: v1 and v1_noexcept in
// header-only mode, v1_lib and v1_noexcept_lib in the separate-compilation mode, whose
// declarations only the implementation unit of the same settings defines.
#if SAFETENSORS_HEADER_ONLY
#if SAFETENSORS_NO_EXCEPTIONS
#define SAFETENSORS_ABI v1_noexcept
#else
#define SAFETENSORS_ABI v1
#endif
#else
#if SAFETENSORS_NO_EXCEPTIONS
#define SAFETENSORS_ABI v1_noexcept_lib
#else
#define SAFETENSORS_ABI v1_lib
#endif
#endif

// SAFETENSORS_COLD (internal): a function that only builds error messages; kept out of line and
// optimized for size, so that its std::string code is compiled once, not at every caller. Such a
// function, declared before its definition, is declared without SAFETENSORS_FUNC: g++ rejects
// noinline on a definition that follows an inline declaration.
#if defined(__GNUC__)
#define SAFETENSORS_COLD __attribute__((cold, noinline))
#elif defined(_MSC_VER)
#define SAFETENSORS_COLD __declspec(noinline)
#else
#define SAFETENSORS_COLD
#endif

#include <algorithm>
#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>
#if SAFETENSORS_NO_EXCEPTIONS == 0
#include <stdexcept>
#endif
#if defined(__has_include)
#if __has_include(<version>)
#include <version>
#endif
#endif
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#define SAFETENSORS_HAS_STD_SPAN 1
#else
#define SAFETENSORS_HAS_STD_SPAN 0
#endif

namespace safetensors {
inline namespace SAFETENSORS_ABI {

// --- span ------------------------------------------------------------------------------------

#if SAFETENSORS_HAS_STD_SPAN
/// A non-owning view of contiguous objects: std::span itself where the standard library has it.
template <class T>
using span = std::span<T>;
#else
template <class T>
class span;

namespace detail {
template <class T>
struct is_span : std::false_type {};
template <class T>
struct is_span<span<T>> : std::true_type {};

template <class V>
inline constexpr bool is_char_v = std::is_same_v<V, char> || std::is_same_v<V, wchar_t> ||
                                  std::is_same_v<V, char16_t> || std::is_same_v<V, char32_t>;

/// Whether the class type It is an iterator C++17 can tell is contiguous: those of std::vector
/// (not of vector<bool>), std::basic_string and std::basic_string_view, V their value type.
template <class It, class V>
constexpr bool is_contiguous_class_iterator() noexcept {
  if constexpr (!std::is_object_v<V> || std::is_abstract_v<V>) {
    return false;
  } else if constexpr (std::is_same_v<It, typename std::vector<V>::iterator> ||
                       std::is_same_v<It, typename std::vector<V>::const_iterator>) {
    return !std::is_same_v<V, bool>;
  } else if constexpr (is_char_v<V>) {
    return std::is_same_v<It, typename std::basic_string<V>::iterator> ||
           std::is_same_v<It, typename std::basic_string<V>::const_iterator> ||
           std::is_same_v<It, typename std::basic_string_view<V>::const_iterator>;
  } else {
    return false;
  }
}

/// `type` is the element type of It when It is a pointer or a contiguous class iterator (see
/// above); absent otherwise. std::span takes any contiguous_iterator, which C++17 cannot detect.
template <class It, class = void>
struct contiguous_element {};
template <class U>
struct contiguous_element<U*> {
  using type = U;
};
template <class It>
struct contiguous_element<
    It, std::enable_if_t<
            std::is_class_v<It> &&
            is_contiguous_class_iterator<It, typename std::iterator_traits<It>::value_type>()>> {
  using type = std::remove_reference_t<typename std::iterator_traits<It>::reference>;
};

/// True when an array of E may be viewed as an array of T (T is E, or E with more cv).
template <class E, class T>
inline constexpr bool span_compatible_v = std::is_convertible_v<E (*)[], T (*)[]>;

template <class It, class T, class = void>
struct is_span_iterator : std::false_type {};
template <class It, class T>
struct is_span_iterator<It, T, std::void_t<typename contiguous_element<It>::type>>
    : std::bool_constant<span_compatible_v<typename contiguous_element<It>::type, T>> {};

template <class C, class T, class = void>
struct is_span_range : std::false_type {};
template <class C, class T>
struct is_span_range<
    C, T,
    std::void_t<decltype(std::data(std::declval<C&>())), decltype(std::size(std::declval<C&>())),
                decltype(std::begin(std::declval<C&>()))>>
    : std::bool_constant<
          std::is_pointer_v<decltype(std::data(std::declval<C&>()))> &&
          span_compatible_v<std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>, T>> {};

/// std::span's range constructor: a contiguous sized range (not a span or a C array, which
/// have their own constructors) of elements viewable as T; an rvalue only when T is const.
template <class C, class T, class R = std::remove_cv_t<std::remove_reference_t<C>>>
inline constexpr bool span_range_arg_v = !is_span<R>::value && !std::is_array_v<R> &&
                                         is_span_range<std::remove_reference_t<C>, T>::value &&
                                         (std::is_lvalue_reference_v<C> || std::is_const_v<T>);
}  // namespace detail

/// A non-owning view of `size()` contiguous objects of type T: std::span's C++17 stand-in (in
/// C++20 `safetensors::span` is `std::span`). It takes what std::span<T> takes, with the same
/// preconditions: a pointer or contiguous iterator with a count or with an end, a C array (so
/// a braced list inside a second pair of braces for a const T: `{{1, 2, 3}}`), a contiguous
/// sized range (a temporary one only for a const T), another span. Contiguous iterators are
/// pointers and those of std::vector, std::basic_string and std::basic_string_view, the ones
/// C++17 can tell.
template <class T>
class span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using const_pointer = const T*;
  using reference = T&;
  using const_reference = const T&;
  using iterator = T*;
  using reverse_iterator = std::reverse_iterator<T*>;

  constexpr span() noexcept = default;
  template <class It, class = std::enable_if_t<detail::is_span_iterator<It, T>::value>>
  constexpr span(It from, std::size_t count) noexcept  // NOLINT(google-explicit-constructor)
      : data_(address(from, count)), size_(count) {}
  template <class It, class End,
            class = std::enable_if_t<detail::is_span_iterator<It, T>::value &&
                                     detail::is_span_iterator<End, T>::value>,
            class = decltype(std::declval<End>() - std::declval<It>())>
  constexpr span(It from, End to) noexcept  // NOLINT(google-explicit-constructor)
      : data_(address(from, static_cast<std::size_t>(to - from))),
        size_(static_cast<std::size_t>(to - from)) {}
  template <std::size_t N>
  constexpr span(T (&array)[N]) noexcept : data_(array), size_(N) {}  // NOLINT
  /// A span over a contiguous container (std::vector, std::array, std::string, an
  /// initializer_list...); a temporary one only for a const T, whose span must not outlive it.
  template <class C, class = std::enable_if_t<detail::span_range_arg_v<C, T>>>
  constexpr span(C&& container) noexcept  // NOLINT(google-explicit-constructor)
      : data_(std::data(container)), size_(std::size(container)) {}
  /// Conversion from span<U> when U* converts to T* (e.g. span<float> to span<const float>).
  template <class U,
            class = std::enable_if_t<!std::is_same_v<U, T> && detail::span_compatible_v<U, T>>>
  constexpr span(const span<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data_(other.data()), size_(other.size()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }
  constexpr reverse_iterator rbegin() const noexcept { return reverse_iterator(end()); }
  constexpr reverse_iterator rend() const noexcept { return reverse_iterator(begin()); }
  /// Element i (unchecked).
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// The first element (precondition: !empty()).
  constexpr T& front() const noexcept { return data_[0]; }
  /// The last element (precondition: !empty()).
  constexpr T& back() const noexcept { return data_[size_ - 1]; }
  /// The first `count` elements (precondition: count <= size()).
  constexpr span first(std::size_t count) const noexcept { return span(data_, count); }
  /// The last `count` elements (precondition: count <= size()).
  constexpr span last(std::size_t count) const noexcept {
    return span(data_ + (size_ - count), count);
  }
  /// The elements [offset, offset + count), or [offset, size()) without a count. Precondition,
  /// as std::span's: offset <= size() and count <= size() - offset.
  constexpr span subspan(std::size_t offset,
                         std::size_t count = static_cast<std::size_t>(-1)) const noexcept {
    return span(data_ + offset, count == static_cast<std::size_t>(-1) ? size_ - offset : count);
  }

 private:
  // A class iterator is dereferenced only when the range is not empty (an empty span from one
  // has a null data()).
  template <class It>
  static constexpr T* address(It from, std::size_t count) noexcept {
    if constexpr (std::is_pointer_v<It>) {
      (void)count;
      return from;
    } else {
      return count == 0 ? nullptr : std::addressof(*from);
    }
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};
#endif

namespace detail {
template <class R>
using range_element_t = std::remove_reference_t<decltype(*std::data(std::declval<R&>()))>;
}  // namespace detail

/// The bytes of any contiguous range (a span, std::span, std::vector, std::array, C array...),
/// read-only. The range must outlive the result.
template <class R, class T = detail::range_element_t<R>,
          class = std::enable_if_t<std::is_object_v<T>>>
span<const std::byte> as_bytes(R&& range) noexcept {
  static_assert(std::is_trivially_copyable_v<std::remove_cv_t<T>>,
                "as_bytes: elements must be trivially copyable");
  return {reinterpret_cast<const std::byte*>(std::data(range)), std::size(range) * sizeof(T)};
}

/// The bytes of any contiguous range of non-const elements, writable.
template <class R, class T = detail::range_element_t<R>,
          class = std::enable_if_t<std::is_object_v<T> && !std::is_const_v<T>>>
span<std::byte> as_writable_bytes(R&& range) noexcept {
  static_assert(std::is_trivially_copyable_v<T>,
                "as_writable_bytes: elements must be trivially copyable");
  return {reinterpret_cast<std::byte*>(std::data(range)), std::size(range) * sizeof(T)};
}

// --- dtypes (docs/format.md#dtypes) ------------------------------------------------------------

/// The element types of the format, in the reference's rank order (increasing alignment). The
/// enumerator names are the JSON strings.
enum class dtype : std::uint8_t {
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};

inline constexpr std::size_t dtype_count = 22;

namespace detail {
struct dtype_entry {
  std::string_view name;
  std::uint32_t bits;
};
inline constexpr std::array<dtype_entry, dtype_count> dtype_table{{
    {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
    {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
    {"I64", 64},        {"U64", 64},
}};
}  // namespace detail

/// Bits per element: 4 for F4, 6 for F6_*, else 8 times the byte size.
constexpr std::uint32_t bit_size(dtype t) noexcept {
  return detail::dtype_table[static_cast<std::size_t>(t)].bits;
}

/// The dtype's name as it appears in the header JSON ("F32", "BF16", ...).
constexpr std::string_view to_string(dtype t) noexcept {
  return detail::dtype_table[static_cast<std::size_t>(t)].name;
}

/// The dtype whose JSON name is exactly `name` (case-sensitive), or nullopt.
constexpr std::optional<dtype> dtype_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < dtype_count; ++i) {
    if (detail::dtype_table[i].name == name) return static_cast<dtype>(i);
  }
  return std::nullopt;
}

/// Writes the dtype's JSON name; an out-of-range value as "dtype(N)".
inline std::ostream& operator<<(std::ostream& os, dtype t) {
  if (static_cast<std::size_t>(t) >= dtype_count) {
    return os << "dtype(" << static_cast<unsigned>(t) << ')';
  }
  return os << to_string(t);
}

namespace detail {
template <std::size_t Size, bool Signed>
struct integer_dtype;
template <>
struct integer_dtype<1, false> : std::integral_constant<dtype, dtype::U8> {};
template <>
struct integer_dtype<1, true> : std::integral_constant<dtype, dtype::I8> {};
template <>
struct integer_dtype<2, false> : std::integral_constant<dtype, dtype::U16> {};
template <>
struct integer_dtype<2, true> : std::integral_constant<dtype, dtype::I16> {};
template <>
struct integer_dtype<4, false> : std::integral_constant<dtype, dtype::U32> {};
template <>
struct integer_dtype<4, true> : std::integral_constant<dtype, dtype::I32> {};
template <>
struct integer_dtype<8, false> : std::integral_constant<dtype, dtype::U64> {};
template <>
struct integer_dtype<8, true> : std::integral_constant<dtype, dtype::I64> {};

template <class T>
inline constexpr bool is_plain_integer_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>;

template <class T, class = void>
struct dtype_of_base {};
template <class T>
struct dtype_of_base<T, std::enable_if_t<is_plain_integer_v<T>>>
    : integer_dtype<sizeof(T), std::is_signed_v<T>> {};
}  // namespace detail

/// Maps a C++ element type to its dtype, for typed access: dtype_of<float>::value == dtype::F32.
/// Integers map by size and signedness (so both `long` and `long long` work; plain `char` does
/// not). Specialize it for your own trivially copyable element types.
template <class T>
struct dtype_of : detail::dtype_of_base<T> {};
template <>
struct dtype_of<bool> : std::integral_constant<dtype, dtype::BOOL> {};
template <>
struct dtype_of<float> : std::integral_constant<dtype, dtype::F32> {};
template <>
struct dtype_of<double> : std::integral_constant<dtype, dtype::F64> {};
template <>
struct dtype_of<std::complex<float>> : std::integral_constant<dtype, dtype::C64> {};

namespace detail {
template <class T, class = void>
struct has_dtype : std::false_type {};
template <class T>
struct has_dtype<T, std::void_t<decltype(dtype_of<T>::value)>> : std::true_type {};
}  // namespace detail

// --- errors (docs/format.md#error-codes)
// ------------------------------------------------------------

/// Error codes. The first eleven map one to one to the reference implementation's
/// SafeTensorError variants; the rest are this library's (see error_name()).
enum class errc : int {
  header_too_small = 1,            ///< HeaderTooSmall: fewer than 8 bytes
  header_too_large,                ///< HeaderTooLarge: N above the limit
  invalid_header_length,           ///< InvalidHeaderLength: 8 + N beyond the input
  invalid_header,                  ///< InvalidHeader: the header is not valid UTF-8
  invalid_header_deserialization,  ///< InvalidHeaderDeserialization: JSON syntax or shape
  invalid_offset,                  ///< InvalidOffset: gap, overlap, reversed or not from 0
  validation_overflow,             ///< ValidationOverflow: element or bit count overflows 64 bits
  misaligned_slice,                ///< MisalignedSlice: sub-byte tensor not a whole byte count
  tensor_invalid_info,             ///< TensorInvalidInfo: offsets disagree with dtype x shape
  metadata_incomplete_buffer,      ///< MetadataIncompleteBuffer: trailing bytes or truncation
  tensor_not_found,                ///< TensorNotFound: no tensor of that name
  duplicate_key,                   ///< DuplicateKey: a JSON key appears twice
  invalid_tensor_name,             ///< InvalidTensorName: a name the writer cannot use
  dtype_mismatch,                  ///< DtypeMismatch: typed access with the wrong element type
  io_error,                        ///< IoError: the operating system refused an operation
  invalid_argument,                ///< InvalidArgument: a caller-supplied argument is unusable
  cancelled,                       ///< Cancelled: the caller's progress callback stopped the work
  out_of_memory,                   ///< OutOfMemory: an allocation the input asked for failed
};

/// The error's name as used in messages and by the CLI ("HeaderTooSmall", "DuplicateKey", ...).
constexpr std::string_view error_name(errc code) noexcept {
  switch (code) {
    case errc::header_too_small:
      return "HeaderTooSmall";
    case errc::header_too_large:
      return "HeaderTooLarge";
    case errc::invalid_header_length:
      return "InvalidHeaderLength";
    case errc::invalid_header:
      return "InvalidHeader";
    case errc::invalid_header_deserialization:
      return "InvalidHeaderDeserialization";
    case errc::invalid_offset:
      return "InvalidOffset";
    case errc::validation_overflow:
      return "ValidationOverflow";
    case errc::misaligned_slice:
      return "MisalignedSlice";
    case errc::tensor_invalid_info:
      return "TensorInvalidInfo";
    case errc::metadata_incomplete_buffer:
      return "MetadataIncompleteBuffer";
    case errc::tensor_not_found:
      return "TensorNotFound";
    case errc::duplicate_key:
      return "DuplicateKey";
    case errc::invalid_tensor_name:
      return "InvalidTensorName";
    case errc::dtype_mismatch:
      return "DtypeMismatch";
    case errc::io_error:
      return "IoError";
    case errc::invalid_argument:
      return "InvalidArgument";
    case errc::cancelled:
      return "Cancelled";
    case errc::out_of_memory:
      return "OutOfMemory";
  }
  return "Unknown";
}

/// Writes the code's name.
inline std::ostream& operator<<(std::ostream& os, errc code) { return os << error_name(code); }

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "safetensors"; }
  std::string message(int value) const override {
    return std::string(error_name(static_cast<errc>(value)));
  }
};
}  // namespace detail

/// The std::error_category of errc values.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

/// Makes a std::error_code from an errc (found by ADL, so `std::error_code ec = errc::...` works).
inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

/// An error: its code and a readable message naming the rule, the tensor and the numbers.
class error {
 public:
  error(errc code, std::string message) : code_(code), message_(std::move(message)) {}
  errc code() const noexcept { return code_; }
  /// The code's name, e.g. "InvalidOffset".
  std::string_view name() const noexcept { return error_name(code_); }
  /// The detail message, e.g. "tensor 'w': data_offsets [0,12] hold 12 bytes, but F32[2,2] ...".
  const std::string& message() const noexcept { return message_; }
  std::error_code error_code() const noexcept { return make_error_code(code_); }
  /// "<Name>: <message>".
  std::string to_string() const { return std::string(name()) + ": " + message_; }
  friend bool operator==(const error& e, errc code) noexcept { return e.code_ == code; }
  friend bool operator!=(const error& e, errc code) noexcept { return e.code_ != code; }
  /// Writes to_string().
  friend std::ostream& operator<<(std::ostream& os, const error& e) {
    return os << e.name() << ": " << e.message_;
  }

 private:
  errc code_;
  std::string message_;
};

#if SAFETENSORS_NO_EXCEPTIONS == 0
/// Thrown by result<T>::value() on an error, when exceptions are enabled.
class exception : public std::runtime_error {
 public:
  /// Wraps `e`; what() is e.to_string().
  explicit exception(safetensors::error e)
      : std::runtime_error(e.to_string()), error_(std::move(e)) {}
  const safetensors::error& error() const noexcept { return error_; }
  errc code() const noexcept { return error_.code(); }

 private:
  safetensors::error error_;
};
#endif

namespace detail {
/// True for the types that own what the library's views point into (a header's names, a
/// mapping's bytes): result<T>::operator-> is deleted on a temporary result of such a T, so that
/// `open(p)->view()` cannot compile into a dangling view (docs/design.md#api-v1).
template <class T>
struct owns_views : std::false_type {};

[[noreturn]] inline void fail(const error& e) {
#if SAFETENSORS_NO_EXCEPTIONS == 0
  throw exception(e);
#else
  std::fprintf(stderr, "safetensors: value() called on an error: %s\n", e.to_string().c_str());
  std::abort();
#endif
}
}  // namespace detail

/// A value of type T or an error, modelled on std::expected. The library's functions return it
/// instead of throwing. value() throws safetensors::exception on an error (aborts when
/// exceptions are off); check has_value() or `if (r)` first, then use *r or r->.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, safetensors::error>,
                "result<T>: T must be an object type other than error");

 public:
  using value_type = T;
  result(T value) : ok_(true) {
    ::new (static_cast<void*>(&value_)) T(std::move(value));
  }                                            // NOLINT
  result(safetensors::error e) : ok_(false) {  // NOLINT
    ::new (static_cast<void*>(&err_)) safetensors::error(std::move(e));
  }
  result(const result& other) : ok_(other.ok_) { construct_from(other); }
  result(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(other.ok_) {
    construct_from(std::move(other));
  }
  result& operator=(const result& other) {
    if (this != &other) *this = result(other);
    return *this;
  }
  result& operator=(result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      destroy();
      ok_ = other.ok_;
      construct_from(std::move(other));
    }
    return *this;
  }
  ~result() { destroy(); }

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  /// The value; throws (or aborts) on an error.
  T& value() & {
    if (!ok_) detail::fail(err_);
    return value_;
  }
  /// The value; throws (or aborts) on an error.
  const T& value() const& {
    if (!ok_) detail::fail(err_);
    return value_;
  }
  /// The value, moved out; throws (or aborts) on an error.
  T&& value() && {
    if (!ok_) detail::fail(err_);
    return std::move(value_);
  }
  /// The value, or `fallback` on an error.
  template <class U>
  T value_or(U&& fallback) const& {
    return ok_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }
  /// The value moved out, or `fallback` on an error.
  template <class U>
  T value_or(U&& fallback) && {
    return ok_ ? std::move(value_) : static_cast<T>(std::forward<U>(fallback));
  }
  /// The value (precondition: has_value()).
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T&& operator*() && noexcept { return std::move(value_); }
  T* operator->() & noexcept { return &value_; }
  const T* operator->() const& noexcept { return &value_; }
  template <class U = T, std::enable_if_t<!detail::owns_views<U>::value, int> = 0>
  T* operator->() && noexcept {
    return &value_;
  }
  /// Not on a temporary result whose value owns what views point into (a mapped_file, a
  /// header...): the views would outlive it. Keep the result in a variable.
  template <class U = T, std::enable_if_t<detail::owns_views<U>::value, int> = 0>
  T* operator->() && = delete;
  /// The error (precondition: !has_value()).
  const safetensors::error& error() const noexcept { return err_; }

 private:
  using error_type = safetensors::error;
  template <class R>
  void construct_from(R&& other) {
    if (ok_) {
      ::new (static_cast<void*>(&value_)) T(std::forward<R>(other).value_);
    } else {
      ::new (static_cast<void*>(&err_)) error_type(std::forward<R>(other).err_);
    }
  }
  void destroy() noexcept {
    if (ok_) {
      value_.~T();
    } else {
      err_.~error_type();
    }
  }
  // A union, not std::variant: the library instantiates result<T> for ~40 types, and a variant
  // costs every including translation unit several times as much to compile.
  union {
    T value_;
    error_type err_;
  };
  bool ok_;
};

/// Success or an error, for operations without a value.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() noexcept = default;
  result(safetensors::error e) : error_(std::move(e)) {}  // NOLINT
  bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  /// Throws (or aborts) on an error; does nothing on success.
  void value() const {
    if (error_) detail::fail(*error_);
  }
  /// The error (precondition: !has_value()).
  const safetensors::error& error() const noexcept { return *error_; }

 private:
  std::optional<safetensors::error> error_;
};

// --- helpers of every part: checked arithmetic, numbers and names in messages, UTF-8 -----------
namespace detail {

inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

/// a * b, or false on 64-bit overflow.
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  if (a != 0 && b > u64_max / a) return false;
  out = a * b;
  return true;
}

/// a + b, or false on 64-bit overflow.
inline bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  if (b > u64_max - a) return false;
  out = a + b;
  return true;
}

/// `v` converted to the integer type T. For conversions between std::size_t, std::uint64_t and
/// the like, which are no-ops on some hosts and narrowing on others (-Wuseless-cast flags a cast
/// to the same type); the caller has checked the range.
template <class T, class U>
constexpr T int_cast(U v) noexcept {
  if constexpr (std::is_same_v<T, U>) {
    return v;
  } else {
    return static_cast<T>(v);
  }
}

/// `size` as a std::size_t, or InvalidArgument naming `what` when it exceeds the address space.
inline result<std::size_t> to_size_t(std::uint64_t size, const char* what) {
  if (size > detail::int_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::invalid_argument, std::string(what) + " of " + std::to_string(size) +
                                             " bytes exceeds the address space");
  }
  return detail::int_cast<std::size_t>(size);
}

/// Makes room in `c` (a std::vector or std::string of bytes) for `n` elements, or leaves it as it
/// was and returns false when the memory cannot be had: an allocation sized by input is then an
/// error value, not an exception (nor, without exceptions, an abort). Without exceptions a malloc
/// of the same size is tried first; an allocation by another thread between the two can still
/// abort.
template <class C>
bool try_reserve(C& c, std::size_t n) noexcept {
  static_assert(std::is_trivially_copyable_v<typename C::value_type>, "for buffers of bytes");
  if (n <= c.capacity()) return true;
  if (n > c.max_size()) return false;
#if SAFETENSORS_NO_EXCEPTIONS == 0
  try {
    c.reserve(n);
  } catch (...) {  // std::bad_alloc, std::length_error
    return false;
  }
#else
  void* probe = std::malloc(n * sizeof(typename C::value_type) + 1);
  if (probe == nullptr) return false;
  std::free(probe);
  c.reserve(n);
#endif
  return true;
}

/// try_reserve(c, n), then resizes `c` to `n` elements (without a second allocation).
template <class C>
bool try_resize(C& c, std::size_t n) noexcept {
  if (!try_reserve(c, n)) return false;
  c.resize(n);  // within the capacity: resize alone might ask for up to twice as much
  return true;
}

/// OutOfMemory: "WHAT: cannot allocate N bytes (out of memory)".
SAFETENSORS_COLD inline error out_of_memory(std::string_view what, std::uint64_t bytes) {
  return error(errc::out_of_memory, std::string(what) + ": cannot allocate " +
                                        std::to_string(bytes) + " bytes (out of memory)");
}

/// The 8-byte little-endian length prefix, read byte by byte (any host).
inline std::uint64_t read_le64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

SAFETENSORS_COLD inline std::string num(std::uint64_t v) { return std::to_string(v); }

/// `parts` joined: one call in place of a chain of std::string operator+ at each message.
SAFETENSORS_COLD inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (const std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  for (const std::string_view p : parts) out.append(p.data(), p.size());
  return out;
}

/// The lowercase hex digit of the low 4 bits of `v`.
constexpr char hex_digit(unsigned v) noexcept { return "0123456789abcdef"[v & 15u]; }

/// `s` with its control bytes (below 0x20, and 0x7f) escaped as \xNN, so that a name from a
/// file cannot move a terminal's cursor or forge a line of output.
SAFETENSORS_COLD inline std::string escape_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex_digit(c >> 4u);
      out += hex_digit(c);
    } else {
      out += ch;
    }
  }
  return out;
}

/// The two-character JSON escape of `c` (`\"` `\\` `\b` `\t` `\n` `\f` `\r`), or nullptr when it
/// has none; the writers of headers and of indexes escape other bytes each their own way.
constexpr const char* json_short_escape(unsigned char c) noexcept {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\t':
      return "\\t";
    case '\n':
      return "\\n";
    case '\f':
      return "\\f";
    case '\r':
      return "\\r";
    default:
      return nullptr;
  }
}

/// A name or path quoted for messages: control bytes escaped, names over 200 bytes cut.
SAFETENSORS_COLD inline std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 200;
  std::string out = "'" + escape_controls(s.substr(0, max_shown));
  if (s.size() > max_shown) out += "...(" + num(s.size()) + " bytes)";
  return out + "'";
}

/// "tensor 'name'" for messages.
SAFETENSORS_COLD inline std::string tensor_name(std::string_view name) {
  return "tensor " + quote(name);
}

/// DtypeMismatch: "tensor 'name' is HAVE, not WANT" (typed access to a tensor of another dtype).
SAFETENSORS_COLD inline error dtype_mismatch(std::string_view name, dtype have, dtype want) {
  return error(errc::dtype_mismatch,
               cat({tensor_name(name), " is ", to_string(have), ", not ", to_string(want)}));
}

/// "[2,3]"; shapes of more than 16 dimensions are cut, so hostile ranks keep messages short.
SAFETENSORS_COLD inline std::string shape_string(span<const std::uint64_t> shape) {
  constexpr std::size_t max_shown = 16;
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size() && i < max_shown; ++i) {
    if (i != 0) out += ',';
    out += num(shape[i]);
  }
  if (shape.size() > max_shown) out += ",...(" + num(shape.size()) + " dimensions)";
  return out + "]";
}

/// "F32[2,3]".
SAFETENSORS_COLD inline std::string type_shape(dtype t, span<const std::uint64_t> shape) {
  return std::string(to_string(t)) + shape_string(shape);
}

SAFETENSORS_COLD inline std::string offsets_string(std::uint64_t b, std::uint64_t e) {
  return "[" + num(b) + "," + num(e) + "]";
}

/// Offset of the first byte that is not part of valid UTF-8 (RFC 3629: no overlongs, no
/// surrogates, nothing above U+10FFFF), or n when all n bytes are valid.
inline std::size_t utf8_error_offset(const unsigned char* s, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
    } else {
      return i;
    }
    if (n - i < len) return i;
    const unsigned char c1 = s[i + 1];
    if ((c1 & 0xC0) != 0x80) return i;
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 > 0x8F)) {
      return i;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return n;
}

/// InvalidArgument when `s`, a string the writer puts in a header or index, is not UTF-8.
inline std::optional<error> check_utf8(std::string_view s, const char* what) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t bad = utf8_error_offset(p, s.size());
  if (bad == s.size()) return std::nullopt;
  return error(errc::invalid_argument,
               std::string(what) + " " + quote(s) + " is not valid UTF-8 (byte " + num(bad) + ")");
}

}  // namespace detail
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

namespace std {
template <>
struct is_error_code_enum<safetensors::errc> : true_type {};
}  // namespace std

#endif  // SAFETENSORS_PARTS_BASICS_HPP
