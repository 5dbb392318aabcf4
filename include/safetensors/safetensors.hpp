// safetensors for C++: a strict, zero-copy, header-only reader and an atomic, deterministic
// writer of the safetensors model format (https://github.com/huggingface/safetensors), with
// sharded checkpoints and exact dtype conversions.
//
// SPDX-License-Identifier: MIT
//
// Layout of this header, top to bottom:
//   1. version              2. configuration macros   3. includes
//   4. public types: span, dtype table, errors and result<T>, options, tensor table, views
//   5. detail: checked arithmetic, UTF-8, the JSON SAX handler, validation, platform I/O
//   6. reader: parse(), file_view, mapped_file, mapped_view, random_access_source, source_reader
//   7. writer: write_plan, serialize(), save_file() (atomic), stream_writer
//   8. sharded checkpoints (model.safetensors.index.json)
//   9. dtype conversion helpers: bf16/f16/f8 element types, decoding to float, encoding, slicing
#ifndef SAFETENSORS_SAFETENSORS_HPP
#define SAFETENSORS_SAFETENSORS_HPP

// ---------------------------------------------------------------------------------------------
// 1. Version
// ---------------------------------------------------------------------------------------------
#define SAFETENSORS_VERSION_MAJOR 0
#define SAFETENSORS_VERSION_MINOR 1
#define SAFETENSORS_VERSION_PATCH 0

// ---------------------------------------------------------------------------------------------
// 2. Configuration macros (each may be defined by the user before including this header)
// ---------------------------------------------------------------------------------------------
// SAFETENSORS_NO_EXCEPTIONS: 1 when exceptions are off (detected from the compiler). The API never
//   throws either way; only result<T>::value() on an error throws, or aborts without exceptions.
#ifndef SAFETENSORS_NO_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define SAFETENSORS_NO_EXCEPTIONS 0
#else
#define SAFETENSORS_NO_EXCEPTIONS 1
#endif
#endif

// SAFETENSORS_BIG_ENDIAN: 1 on big-endian hosts (detected). The format is little-endian; typed
//   element access byte-swaps on such hosts.
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

// SAFETENSORS_DEFAULT_MAX_HEADER_SIZE: the default of parse_options::max_header_size, in bytes.
#ifndef SAFETENSORS_DEFAULT_MAX_HEADER_SIZE
#define SAFETENSORS_DEFAULT_MAX_HEADER_SIZE 100000000
#endif

// ---------------------------------------------------------------------------------------------
// 3. Includes
// ---------------------------------------------------------------------------------------------
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
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
#include <ranges>
#include <span>
#define SAFETENSORS_HAS_STD_SPAN 1
#else
#define SAFETENSORS_HAS_STD_SPAN 0
#endif

#if SAFETENSORS_WINDOWS
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#define SAFETENSORS_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#define SAFETENSORS_UNDEF_NOMINMAX
#endif
#include <windows.h>
#ifdef SAFETENSORS_UNDEF_WIN32_LEAN_AND_MEAN
#undef WIN32_LEAN_AND_MEAN
#undef SAFETENSORS_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifdef SAFETENSORS_UNDEF_NOMINMAX
#undef NOMINMAX
#undef SAFETENSORS_UNDEF_NOMINMAX
#endif
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace safetensors {
inline namespace v0 {

// ---------------------------------------------------------------------------------------------
// 4. Public types
// ---------------------------------------------------------------------------------------------

// --- span ------------------------------------------------------------------------------------

/// A non-owning view of `size()` contiguous objects of type T (std::span's C++17 stand-in).
template <class T>
class span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using pointer = T*;
  using reference = T&;
  using iterator = T*;

  /// An empty span.
  constexpr span() noexcept = default;
  /// A span of `size` objects starting at `data`.
  constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  /// A span over a C array.
  template <std::size_t N>
  constexpr span(T (&array)[N]) noexcept : data_(array), size_(N) {}  // NOLINT
  /// A span over any contiguous container with data() and size() (std::vector, std::string...).
  template <class C,
            class = std::enable_if_t<
                !std::is_same_v<std::remove_cv_t<C>, span> &&
                std::is_convertible_v<decltype(std::data(std::declval<C&>())), T*> &&
                std::is_convertible_v<decltype(std::size(std::declval<C&>())), std::size_t>>>
  constexpr span(C& container) noexcept  // NOLINT(google-explicit-constructor)
      : data_(std::data(container)), size_(std::size(container)) {}
  /// Conversion from span<U> when U* converts to T* (e.g. span<float> to span<const float>).
  template <class U, class = std::enable_if_t<!std::is_same_v<U, T> &&
                                              std::is_convertible_v<U (*)[], T (*)[]>>>
  constexpr span(const span<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data_(other.data()), size_(other.size()) {}
#if SAFETENSORS_HAS_STD_SPAN
  /// Conversion from std::span (C++20). std::span converts from this span through its range
  /// constructor (this span is a borrowed contiguous range).
  template <class U, std::size_t E,
            class = std::enable_if_t<std::is_convertible_v<U (*)[], T (*)[]>>>
  constexpr span(std::span<U, E> other) noexcept  // NOLINT(google-explicit-constructor)
      : data_(other.data()), size_(other.size()) {}
#endif

  /// Pointer to the first element.
  constexpr T* data() const noexcept { return data_; }
  /// Number of elements.
  constexpr std::size_t size() const noexcept { return size_; }
  /// Size in bytes.
  constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  /// True when size() == 0.
  constexpr bool empty() const noexcept { return size_ == 0; }
  /// Iterator to the first element.
  constexpr T* begin() const noexcept { return data_; }
  /// Iterator past the last element.
  constexpr T* end() const noexcept { return data_ + size_; }
  /// Element i (unchecked).
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// The elements [offset, offset + count), clamped to the span.
  constexpr span subspan(std::size_t offset,
                         std::size_t count = static_cast<std::size_t>(-1)) const noexcept {
    if (offset > size_) offset = size_;
    if (count > size_ - offset) count = size_ - offset;
    return span(data_ + offset, count);
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// The bytes of an object range, read-only.
template <class T>
span<const std::byte> as_bytes(span<T> s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size_bytes()};
}

/// The bytes of an object range, writable.
template <class T, class = std::enable_if_t<!std::is_const_v<T>>>
span<std::byte> as_writable_bytes(span<T> s) noexcept {
  return {reinterpret_cast<std::byte*>(s.data()), s.size_bytes()};
}

// --- dtypes ----------------------------------------------------------------------------------

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

/// Number of dtypes.
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

// --- errors ----------------------------------------------------------------------------------

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
  }
  return "Unknown";
}

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
  /// An error with `code` and a message.
  error(errc code, std::string message) : code_(code), message_(std::move(message)) {}
  /// The error code.
  errc code() const noexcept { return code_; }
  /// The code's name, e.g. "InvalidOffset".
  std::string_view name() const noexcept { return error_name(code_); }
  /// The detail message, e.g. "tensor 'w': data_offsets [0,12] hold 12 bytes, but F32[2,2] ...".
  const std::string& message() const noexcept { return message_; }
  /// The code as a std::error_code.
  std::error_code error_code() const noexcept { return make_error_code(code_); }
  /// "<Name>: <message>".
  std::string to_string() const { return std::string(name()) + ": " + message_; }
  /// True when the code equals `code`.
  friend bool operator==(const error& e, errc code) noexcept { return e.code_ == code; }
  /// True when the code differs from `code`.
  friend bool operator!=(const error& e, errc code) noexcept { return e.code_ != code; }

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
  /// The error.
  const safetensors::error& error() const noexcept { return error_; }
  /// The error code.
  errc code() const noexcept { return error_.code(); }

 private:
  safetensors::error error_;
};
#endif

namespace detail {
[[noreturn]] inline void fail(const error& e) {
#if SAFETENSORS_NO_EXCEPTIONS == 0
  throw exception(e);
#else
  std::fprintf(stderr, "safetensors: value() called on an error: %s\n", e.to_string().c_str());
  std::abort();
#endif
}
}  // namespace detail

/// A value of type T or an error. The library's functions return it instead of throwing.
/// value() throws safetensors::exception on an error (aborts when exceptions are off); check
/// has_value() or `if (r)` first, or use *r / r-> after checking.
template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;
  /// A result holding `value`.
  result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  /// A result holding the error `e`.
  result(safetensors::error e) : storage_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  /// True when a value is held.
  bool has_value() const noexcept { return storage_.index() == 0; }
  /// True when a value is held.
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; throws (or aborts) on an error.
  T& value() & {
    if (!has_value()) detail::fail(error());
    return *std::get_if<0>(&storage_);
  }
  /// The value; throws (or aborts) on an error.
  const T& value() const& {
    if (!has_value()) detail::fail(error());
    return *std::get_if<0>(&storage_);
  }
  /// The value, moved out; throws (or aborts) on an error.
  T&& value() && {
    if (!has_value()) detail::fail(error());
    return std::move(*std::get_if<0>(&storage_));
  }
  /// The value (precondition: has_value()).
  T& operator*() & noexcept { return *std::get_if<0>(&storage_); }
  /// The value (precondition: has_value()).
  const T& operator*() const& noexcept { return *std::get_if<0>(&storage_); }
  /// The value, moved out (precondition: has_value()).
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&storage_)); }
  /// Member access to the value (precondition: has_value()).
  T* operator->() noexcept { return std::get_if<0>(&storage_); }
  /// Member access to the value (precondition: has_value()).
  const T* operator->() const noexcept { return std::get_if<0>(&storage_); }
  /// The error (precondition: !has_value()).
  const safetensors::error& error() const noexcept { return *std::get_if<1>(&storage_); }

 private:
  std::variant<T, safetensors::error> storage_;
};

/// Success or an error, for operations without a value.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  /// Success.
  result() noexcept = default;
  /// The error `e`.
  result(safetensors::error e) : error_(std::move(e)) {}  // NOLINT
  /// True on success.
  bool has_value() const noexcept { return !error_.has_value(); }
  /// True on success.
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

// --- options ---------------------------------------------------------------------------------

/// Options of every parse. The defaults are the strict reference behaviour.
struct parse_options {
  /// Largest accepted header length N in bytes (the reference's limit is 100,000,000).
  std::uint64_t max_header_size = SAFETENSORS_DEFAULT_MAX_HEADER_SIZE;
  /// Accept bytes after the end of the last tensor (the reference rejects them).
  bool allow_trailing_bytes = false;
};

/// How a mapped file will be accessed (madvise hints on POSIX; ignored on Windows).
enum class access_hint : std::uint8_t { normal, sequential, random, will_need };

/// Options of a memory mapping.
struct map_options {
  /// The access pattern hint given to the kernel.
  access_hint hint = access_hint::normal;
  /// Pre-fault the whole mapping at open (MAP_POPULATE on Linux; ignored elsewhere).
  bool populate = false;
};

// --- the tensor table ------------------------------------------------------------------------

/// Begin and end of a tensor's bytes, relative to the start of the data buffer.
struct data_offsets {
  std::uint64_t begin = 0;  ///< first byte
  std::uint64_t end = 0;    ///< one past the last byte
};

/// One entry of the tensor table. A lightweight view: valid while its header lives.
class tensor_info {
 public:
  tensor_info() = default;
  /// Builds an entry (the parser does this; useful for tests).
  tensor_info(std::string_view name, safetensors::dtype type, span<const std::uint64_t> shape,
              data_offsets offsets, std::uint64_t element_count) noexcept
      : name_(name), shape_(shape), offsets_(offsets), elements_(element_count), type_(type) {}

  /// The tensor's name (any UTF-8 string; it is data, never a path).
  std::string_view name() const noexcept { return name_; }
  /// The element type.
  safetensors::dtype dtype() const noexcept { return type_; }
  /// The shape; empty for a scalar.
  span<const std::uint64_t> shape() const noexcept { return shape_; }
  /// The number of dimensions.
  std::size_t rank() const noexcept { return shape_.size(); }
  /// [begin, end) relative to the data buffer.
  data_offsets offsets() const noexcept { return offsets_; }
  /// end - begin.
  std::uint64_t byte_size() const noexcept { return offsets_.end - offsets_.begin; }
  /// The product of the shape (1 for a scalar).
  std::uint64_t element_count() const noexcept { return elements_; }

 private:
  std::string_view name_;
  span<const std::uint64_t> shape_;
  data_offsets offsets_;
  std::uint64_t elements_ = 0;
  safetensors::dtype type_ = safetensors::dtype::BOOL;
};

/// The `__metadata__` map: string keys to string values, sorted by key bytes.
using metadata_map = std::map<std::string, std::string, std::less<>>;

namespace detail {
/// A random-access iterator over an indexable sequence whose operator[] returns by value.
template <class Seq, class Value>
class index_iterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Value;

  index_iterator() = default;
  index_iterator(const Seq* seq, std::size_t i) noexcept : seq_(seq), i_(i) {}
  Value operator*() const { return (*seq_)[i_]; }
  Value operator[](difference_type n) const {
    return (*seq_)[static_cast<std::size_t>(static_cast<difference_type>(i_) + n)];
  }
  index_iterator& operator++() noexcept {
    ++i_;
    return *this;
  }
  index_iterator operator++(int) noexcept {
    auto t = *this;
    ++i_;
    return t;
  }
  index_iterator& operator--() noexcept {
    --i_;
    return *this;
  }
  index_iterator operator--(int) noexcept {
    auto t = *this;
    --i_;
    return t;
  }
  index_iterator& operator+=(difference_type n) noexcept {
    i_ = static_cast<std::size_t>(static_cast<difference_type>(i_) + n);
    return *this;
  }
  index_iterator& operator-=(difference_type n) noexcept { return *this += -n; }
  friend index_iterator operator+(index_iterator it, difference_type n) noexcept { return it += n; }
  friend index_iterator operator+(difference_type n, index_iterator it) noexcept { return it += n; }
  friend index_iterator operator-(index_iterator it, difference_type n) noexcept { return it -= n; }
  friend difference_type operator-(const index_iterator& a, const index_iterator& b) noexcept {
    return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
  }
  friend bool operator==(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ == b.i_;
  }
  friend bool operator!=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ != b.i_;
  }
  friend bool operator<(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ < b.i_;
  }
  friend bool operator>(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ > b.i_;
  }
  friend bool operator<=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ <= b.i_;
  }
  friend bool operator>=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ >= b.i_;
  }

 private:
  const Seq* seq_ = nullptr;
  std::size_t i_ = 0;
};

struct tensor_record {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t elements = 0;
  std::size_t name_offset = 0;
  std::size_t name_size = 0;
  std::size_t shape_offset = 0;
  std::size_t rank = 0;
  dtype type = dtype::BOOL;
};

class header_builder;
}  // namespace detail

class header;

/// The tensors of a header in one order (offset order or name order), as tensor_info values.
class tensor_range {
 public:
  using iterator = detail::index_iterator<tensor_range, tensor_info>;
  /// Number of tensors.
  std::size_t size() const noexcept { return size_; }
  /// True when there are no tensors.
  bool empty() const noexcept { return size_ == 0; }
  /// Entry i in this order (unchecked).
  tensor_info operator[](std::size_t i) const;
  /// Iterator to the first entry.
  iterator begin() const noexcept { return {this, 0}; }
  /// Iterator past the last entry.
  iterator end() const noexcept { return {this, size_}; }

 private:
  friend class header;
  tensor_range(const header* h, const std::size_t* order, std::size_t size) noexcept
      : header_(h), order_(order), size_(size) {}
  const header* header_;
  const std::size_t* order_;
  std::size_t size_;
};

/// A parsed and validated header: the tensor table, the metadata and the sizes. Owns its data;
/// holds no tensor bytes. Immutable, so safe to share between threads.
class header {
 public:
  header() = default;

  /// Number of tensors.
  std::size_t size() const noexcept { return records_.size(); }
  /// True when the file holds no tensors.
  bool empty() const noexcept { return records_.empty(); }
  /// The tensors in data offset order (ties, which only zero-sized tensors have, by name).
  tensor_range tensors() const noexcept { return {this, by_offset_.data(), by_offset_.size()}; }
  /// The tensors in name order (byte-wise, as std::string_view compares).
  tensor_range tensors_by_name() const noexcept { return {this, by_name_.data(), by_name_.size()}; }
  /// The tensor named `name`, or nullopt. O(1) on average.
  std::optional<tensor_info> find(std::string_view name) const noexcept;
  /// The tensor named `name`, or a TensorNotFound error.
  result<tensor_info> at(std::string_view name) const;
  /// True when a tensor named `name` exists.
  bool contains(std::string_view name) const noexcept { return find(name).has_value(); }
  /// The `__metadata__` map; nullopt when the header has none (or `null`), distinct from empty.
  const std::optional<metadata_map>& metadata() const noexcept { return metadata_; }
  /// N, the header's length in bytes (padding included).
  std::uint64_t header_size() const noexcept { return header_size_; }
  /// 8 + N: where the data buffer starts in the file.
  std::uint64_t data_offset() const noexcept { return 8 + header_size_; }
  /// The data buffer's size: the end offset of the last tensor.
  std::uint64_t data_size() const noexcept { return data_size_; }
  /// 8 + N + data_size(): the size of a file holding exactly this header and its data.
  std::uint64_t file_size() const noexcept { return data_offset() + data_size_; }

 private:
  friend class tensor_range;
  friend class detail::header_builder;
  tensor_info make_info(std::size_t record) const noexcept {
    const detail::tensor_record& r = records_[record];
    return tensor_info(std::string_view(names_.data() + r.name_offset, r.name_size), r.type,
                       span<const std::uint64_t>(dims_.data() + r.shape_offset, r.rank),
                       data_offsets{r.begin, r.end}, r.elements);
  }
  std::string_view record_name(std::size_t record) const noexcept {
    const detail::tensor_record& r = records_[record];
    return std::string_view(names_.data() + r.name_offset, r.name_size);
  }

  std::string names_;                           // every name's bytes, back to back
  std::vector<std::uint64_t> dims_;             // every shape's dimensions, back to back
  std::vector<detail::tensor_record> records_;  // in header order
  std::vector<std::size_t> by_offset_;          // record indices in offset order
  std::vector<std::size_t> by_name_;            // record indices in name order
  std::vector<std::size_t> slots_;              // open-addressing hash index: record + 1, 0 = free
  std::optional<metadata_map> metadata_;
  std::uint64_t header_size_ = 0;
  std::uint64_t data_size_ = 0;
};

inline tensor_info tensor_range::operator[](std::size_t i) const {
  return header_->make_info(order_[i]);
}

namespace detail {
template <class T>
struct component {
  using type = T;
};
template <class T>
struct component<std::complex<T>> {
  using type = T;
};

/// Reads one little-endian element of type T from possibly unaligned memory.
template <class T>
T load_le(const std::byte* p) noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    return std::to_integer<unsigned char>(*p) != 0;  // any non-zero byte is true
  } else {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, p, sizeof(T));
#if SAFETENSORS_BIG_ENDIAN
    constexpr std::size_t w = sizeof(typename component<T>::type);
    for (std::size_t c = 0; c < sizeof(T); c += w) std::reverse(raw + c, raw + c + w);
#endif
    T value;
    std::memcpy(static_cast<void*>(&value), raw, sizeof(T));
    return value;
  }
}
}  // namespace detail

/// Typed, read-only access to a tensor's elements. Reads go through memcpy, so the data may have
/// any alignment; on big-endian hosts each element is byte-swapped as it is read. BOOL bytes
/// read as `byte != 0`. Valid while the underlying bytes live.
template <class T>
class element_view {
 public:
  using value_type = T;
  using iterator = detail::index_iterator<element_view, T>;

  element_view() = default;
  /// A view of `count` elements starting at `data` (unchecked; tensor_view::as() checks).
  element_view(const std::byte* data, std::size_t count) noexcept : data_(data), size_(count) {}
  /// Number of elements.
  std::size_t size() const noexcept { return size_; }
  /// True when there are no elements.
  bool empty() const noexcept { return size_ == 0; }
  /// Element i, decoded from little-endian (unchecked index).
  T operator[](std::size_t i) const noexcept { return detail::load_le<T>(data_ + i * sizeof(T)); }
  /// Iterator to the first element.
  iterator begin() const noexcept { return {this, 0}; }
  /// Iterator past the last element.
  iterator end() const noexcept { return {this, size_}; }
  /// A typed pointer for true zero-copy use: non-null when the data is aligned for T, T is not
  /// bool, and the host is little-endian or T is a 1-byte type (a big-endian host would see
  /// wider elements byte-swapped: use operator[] or copy_to there). Files from the canonical
  /// writer are aligned.
  const T* data() const noexcept {
    if constexpr (std::is_same_v<T, bool> || (SAFETENSORS_BIG_ENDIAN && sizeof(T) > 1)) {
      return nullptr;
    } else {
      if (reinterpret_cast<std::uintptr_t>(data_) % alignof(T) != 0) return nullptr;
      return reinterpret_cast<const T*>(data_);
    }
  }
  /// Copies every element into `out` (decoding as operator[] does). InvalidArgument when `out`
  /// holds fewer than size() elements.
  result<void> copy_to(span<T> out) const {
    if (out.size() < size_) {
      return safetensors::error(errc::invalid_argument,
                                "copy_to: the destination holds " + std::to_string(out.size()) +
                                    " elements, the tensor has " + std::to_string(size_));
    }
    if constexpr (!std::is_same_v<T, bool> && !SAFETENSORS_BIG_ENDIAN) {
      if (size_ != 0) std::memcpy(static_cast<void*>(out.data()), data_, size_ * sizeof(T));
    } else {
      for (std::size_t i = 0; i < size_; ++i) out[i] = (*this)[i];
    }
    return {};
  }
  /// The elements as a new vector.
  std::vector<T> to_vector() const {
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
      std::vector<bool> out(size_);
      for (std::size_t i = 0; i < size_; ++i) out[i] = (*this)[i];
      return out;
    } else {
      std::vector<T> out(size_);
      (void)copy_to(span<T>(out));
      return out;
    }
  }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A tensor's entry and its bytes (non-owning, zero copy).
class tensor_view {
 public:
  tensor_view() = default;
  /// A view of `bytes` described by `info` (the readers build these).
  tensor_view(tensor_info info, span<const std::byte> bytes) noexcept
      : info_(info), bytes_(bytes) {}

  /// The table entry.
  const tensor_info& info() const noexcept { return info_; }
  /// The tensor's name.
  std::string_view name() const noexcept { return info_.name(); }
  /// The element type.
  safetensors::dtype dtype() const noexcept { return info_.dtype(); }
  /// The shape.
  span<const std::uint64_t> shape() const noexcept { return info_.shape(); }
  /// The number of elements.
  std::uint64_t element_count() const noexcept { return info_.element_count(); }
  /// The raw little-endian bytes. No alignment is promised: a file may place a tensor anywhere.
  span<const std::byte> bytes() const noexcept { return bytes_; }
  /// Pointer to the first byte.
  const std::byte* data() const noexcept { return bytes_.data(); }
  /// Number of bytes.
  std::size_t byte_size() const noexcept { return bytes_.size(); }
  /// Typed access: DtypeMismatch unless dtype_of<T> is this tensor's dtype.
  template <class T>
  result<element_view<T>> as() const {
    static_assert(std::is_trivially_copyable_v<T>, "element types must be trivially copyable");
    static_assert(detail::has_dtype<T>::value, "no dtype_of<T> for this element type");
    if (dtype_of<T>::value != info_.dtype()) {
      return safetensors::error(errc::dtype_mismatch,
                                "tensor '" + std::string(info_.name().substr(0, 200)) + "' is " +
                                    std::string(to_string(info_.dtype())) + ", not " +
                                    std::string(to_string(dtype_of<T>::value)));
    }
    return element_view<T>(bytes_.data(), static_cast<std::size_t>(info_.element_count()));
  }

 private:
  tensor_info info_;
  span<const std::byte> bytes_;
};

// ---------------------------------------------------------------------------------------------
// 5. detail: arithmetic, UTF-8, the JSON handler, validation, platform I/O
// ---------------------------------------------------------------------------------------------
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

/// The 8-byte little-endian length prefix, read byte by byte (any host).
inline std::uint64_t read_le64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline std::string num(std::uint64_t v) { return std::to_string(v); }

/// A name or path quoted for messages: control bytes escaped as \xNN, long names cut.
inline std::string quote(std::string_view s) {
  constexpr std::size_t max_shown = 200;
  std::string out = "'";
  const std::size_t n = std::min(s.size(), max_shown);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_shown) out += "...(" + num(s.size()) + " bytes)";
  out += "'";
  return out;
}

/// "[2,3]"; shapes of more than 16 dimensions are cut, so hostile ranks keep messages short.
inline std::string shape_string(span<const std::uint64_t> shape) {
  constexpr std::size_t max_shown = 16;
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size() && i < max_shown; ++i) {
    if (i != 0) out += ',';
    out += num(shape[i]);
  }
  if (shape.size() > max_shown) out += ",...(" + num(shape.size()) + " dimensions)";
  return out + "]";
}

inline std::string offsets_string(std::uint64_t b, std::uint64_t e) {
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

/// Builds a header while the JSON is parsed, then validates it. Friend of header.
class header_builder {
 public:
  explicit header_builder(header& h) noexcept : h_(h) {}

  /// Adds a tensor name; false when the name is already present.
  bool add_name(const std::string& name) {
    const std::size_t record = h_.records_.size();
    tensor_record r;
    r.name_offset = h_.names_.size();
    r.name_size = name.size();
    h_.names_ += name;
    h_.records_.push_back(r);
    if ((h_.records_.size() * 2) > h_.slots_.size())
      rehash(h_.slots_.empty() ? 16 : h_.slots_.size() * 2);
    return insert(record);
  }
  /// Sizes the tables for a header of n bytes: no rehash, few reallocations while parsing.
  void reserve_for(std::size_t n) {
    // The shortest tensor entry, "":{"dtype":"I8","shape":[],"data_offsets":[0,0]}, has 47 bytes.
    const std::size_t most = n / 48 + 1;
    std::size_t slots = 16;
    while (slots < 2 * most && slots < (std::size_t{1} << 17)) slots *= 2;  // at most 1 MiB
    h_.slots_.assign(slots, 0);
  }
  tensor_record& current() noexcept { return h_.records_.back(); }
  std::vector<std::uint64_t>& dims() noexcept { return h_.dims_; }
  std::optional<metadata_map>& metadata() noexcept { return h_.metadata_; }
  std::string_view current_name() const noexcept { return h_.record_name(h_.records_.size() - 1); }

  /// Rules 6 to 10 of DESIGN §3, in the reference's order.
  std::optional<error> validate(std::uint64_t header_size, std::uint64_t input_size,
                                const parse_options& opts) {
    header& h = h_;
    h.header_size_ = header_size;
    const std::size_t n = h.records_.size();
    h.by_offset_.resize(n);
    for (std::size_t i = 0; i < n; ++i) h.by_offset_[i] = i;
    const auto by_offset = [&h](std::size_t a, std::size_t b) {
      const tensor_record& ra = h.records_[a];
      const tensor_record& rb = h.records_[b];
      if (ra.begin != rb.begin) return ra.begin < rb.begin;
      if (ra.end != rb.end) return ra.end < rb.end;
      return h.record_name(a) < h.record_name(b);
    };
    // Writers emit the members in offset order (the reference does): then no sort is needed.
    if (!std::is_sorted(h.by_offset_.begin(), h.by_offset_.end(), by_offset))
      std::sort(h.by_offset_.begin(), h.by_offset_.end(), by_offset);
    std::uint64_t start = 0;
    std::size_t previous = n;
    for (std::size_t idx : h.by_offset_) {
      tensor_record& r = h.records_[idx];
      if (r.begin != start || r.end < r.begin) return offset_error(idx, previous, start);
      start = r.end;
      previous = idx;
      const span<const std::uint64_t> shape(h.dims_.data() + r.shape_offset, r.rank);
      std::uint64_t elements = 1;
      for (std::size_t d = 0; d < shape.size(); ++d) {
        if (!checked_mul(elements, shape[d], elements)) {
          return error(errc::validation_overflow,
                       "tensor " + quote(h.record_name(idx)) + ": the element count of shape " +
                           shape_string(shape) + " overflows 64 bits at dimension " + num(d));
        }
      }
      const std::uint32_t bits_per = bit_size(r.type);
      std::uint64_t bits = 0;
      if (!checked_mul(elements, bits_per, bits)) {
        return error(errc::validation_overflow, "tensor " + quote(h.record_name(idx)) + ": " +
                                                    type_shape(r, shape) + " has " + num(elements) +
                                                    " elements, and " + num(elements) + " x " +
                                                    num(bits_per) + " bits overflows 64 bits");
      }
      if (bits % 8 != 0) {
        return error(errc::misaligned_slice, "tensor " + quote(h.record_name(idx)) + ": " +
                                                 type_shape(r, shape) + " is " + num(bits) +
                                                 " bits, not a whole number of bytes");
      }
      if (r.end - r.begin != bits / 8) {
        return error(errc::tensor_invalid_info,
                     "tensor " + quote(h.record_name(idx)) + ": data_offsets " +
                         offsets_string(r.begin, r.end) + " hold " + num(r.end - r.begin) +
                         " bytes, but " + type_shape(r, shape) + " needs " + num(bits / 8));
      }
      r.elements = elements;
    }
    h.data_size_ = start;
    std::uint64_t expected = 0;
    const bool fits = checked_add(8 + header_size, start, expected);
    if (!fits || expected > input_size) {
      return error(errc::metadata_incomplete_buffer,
                   "the tensors need a data buffer of " + num(start) + " bytes after the " +
                       num(8 + header_size) + "-byte header" +
                       (fits ? " (" + num(expected) + " bytes in all)" : std::string()) +
                       ", but the input has " + num(input_size) +
                       " bytes: truncated or not a safetensors file");
    }
    if (expected < input_size && !opts.allow_trailing_bytes) {
      return error(errc::metadata_incomplete_buffer,
                   num(input_size - expected) + " bytes follow the end of the last tensor (at " +
                       num(expected) + " of " + num(input_size) +
                       " bytes); parse_options::allow_trailing_bytes accepts them");
    }
    h.by_name_ = h.by_offset_;
    sort_runs(h.by_name_,
              [&h](std::size_t a, std::size_t b) { return h.record_name(a) < h.record_name(b); });
    return std::nullopt;
  }

  static std::optional<std::size_t> find(const header& h, std::string_view name) noexcept {
    if (h.slots_.empty()) return std::nullopt;
    const std::size_t mask = h.slots_.size() - 1;
    for (std::size_t i = std::hash<std::string_view>{}(name)&mask;; i = (i + 1) & mask) {
      const std::size_t slot = h.slots_[i];
      if (slot == 0) return std::nullopt;
      if (h.record_name(slot - 1) == name) return slot - 1;
    }
  }

 private:
  /// Sorts `v`, fast when it is made of a few ascending runs: the offset order of a file is
  /// name order within each dtype (the reference writer's layout), so by-name is a merge of
  /// one run per dtype. Many runs: a plain sort.
  template <class Less>
  static void sort_runs(std::vector<std::size_t>& v, Less less) {
    std::size_t bounds[17];
    std::size_t runs = 0;
    bounds[0] = 0;
    for (std::size_t i = 1; i < v.size(); ++i) {
      if (less(v[i], v[i - 1])) {
        if (++runs == 16) {
          std::sort(v.begin(), v.end(), less);
          return;
        }
        bounds[runs] = i;
      }
    }
    bounds[++runs] = v.size();
    // Merge neighbouring runs pairwise until one is left.
    while (runs > 1) {
      std::size_t merged = 0;
      for (std::size_t r = 0; r < runs; r += 2) {
        if (r + 1 < runs) {
          const auto at = [&v](std::size_t i) {
            return v.begin() + static_cast<std::ptrdiff_t>(i);
          };
          std::inplace_merge(at(bounds[r]), at(bounds[r + 1]), at(bounds[r + 2]), less);
        }
        bounds[++merged] = bounds[std::min(r + 2, runs)];
      }
      runs = merged;
    }
  }
  static std::string type_shape(const tensor_record& r, span<const std::uint64_t> shape) {
    return std::string(to_string(r.type)) + shape_string(shape);
  }
  error offset_error(std::size_t idx, std::size_t previous, std::uint64_t start) const {
    const header& h = h_;
    const tensor_record& r = h.records_[idx];
    std::string why;
    if (r.end < r.begin) {
      why = "end is before begin";
    } else if (previous == h.records_.size()) {
      why = "the first tensor must start at offset 0";
    } else if (r.begin > start) {
      why = "a gap of " + num(r.begin - start) + " bytes after tensor " +
            quote(h.record_name(previous)) + ", which ends at " + num(start);
    } else {
      why = "overlaps tensor " + quote(h.record_name(previous)) + ", which ends at " + num(start);
    }
    return error(errc::invalid_offset, "tensor " + quote(h.record_name(idx)) + ": data_offsets " +
                                           offsets_string(r.begin, r.end) + ": " + why);
  }
  bool insert(std::size_t record) {
    const std::size_t mask = h_.slots_.size() - 1;
    const std::string_view name = h_.record_name(record);
    for (std::size_t i = std::hash<std::string_view>{}(name)&mask;; i = (i + 1) & mask) {
      std::size_t& slot = h_.slots_[i];
      if (slot == 0) {
        slot = record + 1;
        return true;
      }
      if (h_.record_name(slot - 1) == name) return false;
    }
  }
  void rehash(std::size_t capacity) {
    h_.slots_.assign(capacity, 0);
    // Every record but the newest (which the caller inserts) is known to be unique.
    for (std::size_t r = 0; r + 1 < h_.records_.size(); ++r) (void)insert(r);
  }

  header& h_;
};

/// The nlohmann SAX handler: builds the table as the JSON streams by, rejecting wrong shapes,
/// duplicate keys and deep nesting at the first offending token.
class header_sax {
 public:
  using json = nlohmann::json;
  static constexpr std::size_t max_depth = 127;  // the top-level object is level 1

  explicit header_sax(header_builder& b) noexcept : b_(b) {}

  std::optional<error>& failure() noexcept { return error_; }
  bool complete() const noexcept { return state_ == state::done; }

  bool null() {
    if (state_ == state::metadata_value) {  // "__metadata__": null means no metadata
      state_ = state::top_members;
      return true;
    }
    return ignored() || unexpected("null");
  }
  bool boolean(bool /*unused*/) { return ignored() || unexpected("a boolean"); }
  bool number_integer(json::number_integer_t v) {
    // nlohmann reports "-0" as the integer 0; JSON's -0 is no unsigned integer either.
    return ignored() ||
           unexpected("the negative number " + (v == 0 ? std::string("-0") : std::to_string(v)));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    switch (state_) {
      case state::shape_items:
        b_.dims().push_back(v);
        ++b_.current().rank;
        return true;
      case state::offsets_items:
        if (offsets_count_ == 0) {
          b_.current().begin = v;
        } else if (offsets_count_ == 1) {
          b_.current().end = v;
        } else {
          return fail(errc::invalid_header_deserialization,
                      in_tensor() + "data_offsets must hold exactly two integers, found more");
        }
        ++offsets_count_;
        return true;
      default:
        return ignored() || unexpected("the number " + std::to_string(v));
    }
  }
  bool number_float(json::number_float_t /*unused*/, const json::string_t& text) {
    return ignored() || unexpected("the number " + text + " (not a 64-bit unsigned integer)");
  }
  bool string(json::string_t& v) {
    switch (state_) {
      case state::metadata_members: {
        auto& md = *b_.metadata();
        md.emplace_hint(md.end(), std::move(pending_key_), std::move(v));
        return true;
      }
      case state::dtype_value: {
        const auto t = dtype_from_string(v);
        if (!t) {
          return fail(errc::invalid_header_deserialization,
                      in_tensor() + "unknown dtype " + quote(v));
        }
        b_.current().type = *t;
        state_ = state::entry;
        return true;
      }
      default:
        return ignored() || unexpected("a string");
    }
  }
  bool binary(json::binary_t& /*unused*/) { return ignored() || unexpected("binary data"); }

  bool start_object(std::size_t /*unused*/) {
    if (!enter()) return false;
    switch (state_) {
      case state::top:
        state_ = state::top_members;
        return true;
      case state::metadata_value:
        b_.metadata().emplace();
        state_ = state::metadata_members;
        return true;
      case state::tensor_value:
        have_dtype_ = have_shape_ = have_offsets_ = false;
        if (!extra_keys_.empty()) extra_keys_.clear();
        b_.current().shape_offset = b_.dims().size();
        state_ = state::entry;
        return true;
      case state::skip:
        ++skip_depth_;
        skip_keys_.emplace_back();
        return true;
      default:
        return unexpected("an object");
    }
  }

  bool key(json::string_t& k) {
    switch (state_) {
      case state::top_members:
        if (std::string_view(k) == "__metadata__") {
          if (seen_metadata_) {
            return fail(errc::duplicate_key, "the key \"__metadata__\" appears twice");
          }
          seen_metadata_ = true;
          state_ = state::metadata_value;
          return true;
        }
        if (!b_.add_name(k)) {
          return fail(errc::duplicate_key,
                      "two tensors are named " + quote(k) + " (duplicate JSON key)");
        }
        state_ = state::tensor_value;
        return true;
      case state::metadata_members:
        if (b_.metadata()->count(k) != 0) {
          return fail(errc::duplicate_key, "__metadata__: the key " + quote(k) + " appears twice");
        }
        pending_key_ = std::move(k);
        return true;
      case state::entry: {
        bool* seen = nullptr;
        state next = state::skip;
        const std::string_view field(k);
        if (field == "dtype") {
          seen = &have_dtype_;
          next = state::dtype_value;
        } else if (field == "shape") {
          seen = &have_shape_;
          next = state::shape_value;
        } else if (field == "data_offsets") {
          seen = &have_offsets_;
          next = state::offsets_value;
        }
        const bool duplicate = seen ? *seen : !extra_keys_.insert(k).second;
        if (duplicate) {
          return fail(errc::duplicate_key,
                      in_tensor() + "the field " + quote(k) + " appears twice");
        }
        if (seen) *seen = true;
        skip_depth_ = 0;
        state_ = next;
        return true;
      }
      case state::skip:
        if (!skip_keys_.back().insert(k).second) {
          return fail(errc::duplicate_key, in_tensor() + "the key " + quote(k) +
                                               " appears twice in an ignored field's object");
        }
        return true;
      default:
        return unexpected("a key");
    }
  }

  bool end_object() {
    --depth_;
    switch (state_) {
      case state::top_members:
        state_ = state::done;
        return true;
      case state::metadata_members:
        state_ = state::top_members;
        return true;
      case state::entry: {
        const char* missing = !have_dtype_     ? "dtype"
                              : !have_shape_   ? "shape"
                              : !have_offsets_ ? "data_offsets"
                                               : nullptr;
        if (missing) {
          return fail(errc::invalid_header_deserialization,
                      in_tensor() + "missing field \"" + missing + "\"");
        }
        state_ = state::top_members;
        return true;
      }
      case state::skip:
        skip_keys_.pop_back();
        return leave_skip();
      default:
        return unexpected("the end of an object");
    }
  }

  bool start_array(std::size_t /*unused*/) {
    if (!enter()) return false;
    switch (state_) {
      case state::shape_value:
        b_.current().shape_offset = b_.dims().size();
        state_ = state::shape_items;
        return true;
      case state::offsets_value:
        offsets_count_ = 0;
        state_ = state::offsets_items;
        return true;
      case state::skip:
        ++skip_depth_;
        return true;
      default:
        return unexpected("an array");
    }
  }

  bool end_array() {
    --depth_;
    switch (state_) {
      case state::shape_items:
        state_ = state::entry;
        return true;
      case state::offsets_items:
        if (offsets_count_ != 2) {
          return fail(errc::invalid_header_deserialization,
                      in_tensor() + "data_offsets must hold exactly two integers, found " +
                          std::to_string(offsets_count_));
        }
        state_ = state::entry;
        return true;
      case state::skip:
        return leave_skip();
      default:
        return unexpected("the end of an array");
    }
  }

  template <class Exception>
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const Exception& ex) {
    std::string_view what = ex.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (!what.empty() && what[0] == '[') {
      const auto close = what.find("] ");
      if (close != std::string_view::npos) what.remove_prefix(close + 2);
    }
    // nlohmann quotes the last token read, which can be a 100 MB string: keep messages short.
    constexpr std::size_t keep_head = 200, keep_tail = 100;
    if (what.size() > keep_head + keep_tail + 64) {
      return fail(errc::invalid_header_deserialization,
                  "invalid JSON: " + std::string(what.substr(0, keep_head)) + "...(" +
                      num(what.size() - keep_head - keep_tail) + " bytes cut)..." +
                      std::string(what.substr(what.size() - keep_tail)));
    }
    return fail(errc::invalid_header_deserialization, "invalid JSON: " + std::string(what));
  }

 private:
  enum class state : std::uint8_t {
    top,               // before the top-level value
    top_members,       // inside the top-level object, between members
    metadata_value,    // after the "__metadata__" key
    metadata_members,  // inside the metadata object
    tensor_value,      // after a tensor name
    entry,             // inside a tensor entry, between fields
    dtype_value,
    shape_value,
    shape_items,
    offsets_value,
    offsets_items,
    skip,  // inside the value of an unknown entry field (ignored, but still checked)
    done,
  };

  std::string in_tensor() const { return "tensor " + quote(b_.current_name()) + ": "; }

  bool fail(errc code, std::string message) {
    if (!error_) error_.emplace(code, std::move(message));
    return false;
  }

  bool enter() {
    if (++depth_ > max_depth) {
      return fail(errc::invalid_header_deserialization,
                  "JSON nesting deeper than " + std::to_string(max_depth) + " levels");
    }
    return true;
  }

  bool leave_skip() {
    if (--skip_depth_ == 0) state_ = state::entry;
    return true;
  }

  // True when a scalar belongs to the value of an unknown entry field (accepted, not stored).
  bool ignored() noexcept {
    if (state_ != state::skip) return false;
    if (skip_depth_ == 0) state_ = state::entry;
    return true;
  }

  bool unexpected(const std::string& what) {
    std::string m;
    switch (state_) {
      case state::top:
        m = "the header must be a JSON object, found " + what;
        break;
      case state::metadata_value:
        m = "__metadata__ must be an object of strings or null, found " + what;
        break;
      case state::metadata_members:
        m = "__metadata__: the value of " + quote(pending_key_) + " must be a string, found " +
            what;
        break;
      case state::tensor_value:
        m = in_tensor() + "the entry must be a JSON object, found " + what;
        break;
      case state::dtype_value:
        m = in_tensor() + "dtype must be a string, found " + what;
        break;
      case state::shape_value:
        m = in_tensor() + "shape must be an array, found " + what;
        break;
      case state::shape_items:
        m = in_tensor() + "shape must hold unsigned 64-bit integers, found " + what;
        break;
      case state::offsets_value:
        m = in_tensor() + "data_offsets must be an array, found " + what;
        break;
      case state::offsets_items:
        m = in_tensor() + "data_offsets must hold unsigned 64-bit integers, found " + what;
        break;
      default:
        m = "unexpected " + what;
        break;
    }
    return fail(errc::invalid_header_deserialization, std::move(m));
  }

  header_builder& b_;
  std::optional<error> error_;
  state state_ = state::top;
  std::size_t depth_ = 0;
  std::size_t skip_depth_ = 0;
  std::size_t offsets_count_ = 0;
  bool seen_metadata_ = false;
  bool have_dtype_ = false;
  bool have_shape_ = false;
  bool have_offsets_ = false;
  std::string pending_key_;
  std::unordered_set<std::string> extra_keys_;
  std::vector<std::unordered_set<std::string>> skip_keys_;
};

/// How many leading bytes describe_first_bytes looks at (callers pass at most this many).
inline constexpr std::size_t sniff_size = 512;

/// What an input that failed rules 1 to 3 of DESIGN §3 probably is, from its first bytes
/// `p[0, n)` (n <= sniff_size is enough) and its total size. Returns "" when nothing is
/// recognized, else text that starts with "; " to append to the error message.
inline std::string describe_first_bytes(const unsigned char* p, std::size_t n,
                                        std::uint64_t total_size) {
  if (total_size == 0) return "; the file is empty (an interrupted download or copy?)";
  if (p == nullptr) return {};
  const std::string_view s(reinterpret_cast<const char*>(p), n);
  auto starts = [&s](std::string_view magic) { return s.substr(0, magic.size()) == magic; };
  // Skip a UTF-8 byte order mark and leading whitespace for the text formats.
  std::string_view text = s;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty() &&
         (text[0] == ' ' || text[0] == '\t' || text[0] == '\r' || text[0] == '\n')) {
    text.remove_prefix(1);
  }
  auto text_starts_nocase = [&text](std::string_view word) {
    if (text.size() < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[i]) return false;
    }
    return true;
  };

  // A length prefix that is plausible, followed by the start of a JSON object, in a file too
  // short for it: a truncated download.
  if (n >= 9) {
    std::uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | p[i];
    std::size_t k = 8;
    while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n')) ++k;
    if (k < n && p[k] == '{' && len <= 100000000 && len > total_size - 8) {
      return "; the file ends inside its header: it looks truncated (an interrupted download?)";
    }
  }
  if (starts("version https://git-lfs.github.com/spec/")) {
    std::string out = "; this looks like a git-lfs pointer file";
    const auto at = s.find("\nsize ");
    if (at != std::string_view::npos) {
      std::size_t i = at + 6;
      std::string digits;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits.size() < 20) digits += s[i++];
      if (!digits.empty()) out += " (the real file is " + digits + " bytes)";
    }
    return out + ": run `git lfs pull`, or download the file itself";
  }
  if (text_starts_nocase("<!doctype html") || text_starts_nocase("<html") ||
      text_starts_nocase("<head") || text_starts_nocase("<body")) {
    return "; this looks like an HTML page (an error or login page saved instead of the file?)";
  }
  if (text_starts_nocase("<?xml")) {
    return "; this looks like an XML document (an error response from a storage service?)";
  }
  if (starts("PK\x03\x04") || starts("PK\x05\x06")) {
    return "; this looks like a zip archive (a PyTorch .pt/.bin checkpoint is one: load it with "
           "PyTorch and save it with safetensors)";
  }
  // PROTO 2..5, then an opcode torch.save and pickle.dump start with (LONG1 for torch's magic
  // number, FRAME, EMPTY_DICT, GLOBAL, MARK, ...).
  if (n >= 3 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5 &&
      std::memchr("\x8a\x95\x7d\x63\x5d\x28\x4b\x58\x8c\x71", p[2], 10) != nullptr) {
    return "; this looks like a Python pickle (a legacy PyTorch checkpoint): it is not "
           "safetensors, and loading a pickle can run code";
  }
  if (starts("\x1f\x8b")) return "; this looks like a gzip file: decompress it first";
  if (starts("\x28\xb5\x2f\xfd")) return "; this looks like a zstd file: decompress it first";
  if (starts("\xfd"
             "7zXZ"))
    return "; this looks like an xz file: decompress it first";
  if (n >= 262 && s.substr(257, 5) == "ustar") return "; this looks like a tar archive";
  if (starts("GGUF")) return "; this looks like a GGUF file (llama.cpp), not safetensors";
  if (starts("\x89HDF\r\n\x1a\n")) return "; this looks like an HDF5 file (Keras .h5?)";
  if (starts("\x93NUMPY")) return "; this looks like a NumPy .npy file";
  // JSON text: only when the first 8 bytes are text too (a real header length like 123 also
  // starts with '{', followed by NUL bytes).
  bool text8 = true;
  for (std::size_t i = 0; i < n && i < 8; ++i) {
    if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') text8 = false;
  }
  if (text8 && !text.empty() && (text[0] == '{' || text[0] == '[')) {
    return "; this looks like JSON text (a model.safetensors.index.json or config.json, or an "
           "error response?), not a safetensors file";
  }
  return {};
}

/// Rules 1 to 3 of DESIGN §3: the length prefix against the limit and the input size. `hint`
/// (from describe_first_bytes) says what the input probably is instead.
inline std::optional<error> check_length(std::uint64_t n, std::uint64_t input_size,
                                         const parse_options& opts, const std::string& hint = {}) {
  // The second test is the reference's u64 -> usize conversion: it only fails on 32-bit hosts.
  if (n > opts.max_header_size || n > std::numeric_limits<std::size_t>::max()) {
    return error(errc::header_too_large,
                 "the header length is " + num(n) + " bytes, above the limit of " +
                     num(opts.max_header_size) + " (parse_options::max_header_size)" +
                     (hint.empty() ? std::string("; is this a safetensors file?") : hint));
  }
  std::uint64_t end = 0;
  if (!checked_add(8, n, end) || end > input_size) {
    return error(errc::invalid_header_length,
                 "the header length is " + num(n) + " bytes, so the header ends at byte " +
                     (end != 0 ? num(end) : std::string("2^64 or later")) +
                     ", but the input has only " + num(input_size) + " bytes" + hint);
  }
  return std::nullopt;
}

/// Rules 4 to 10 of DESIGN §3 over the N header bytes; input_size is the whole file's size.
inline result<header> parse_header_bytes(const unsigned char* json, std::size_t n,
                                         std::uint64_t input_size, const parse_options& opts) {
  const std::size_t bad = utf8_error_offset(json, n);
  if (bad != n) {
    static const char hex[] = "0123456789abcdef";
    return error(errc::invalid_header, std::string("the header is not valid UTF-8: byte 0x") +
                                           hex[json[bad] >> 4] + hex[json[bad] & 15] +
                                           " at header offset " + num(bad) + " (file offset " +
                                           num(8 + bad) + ")");
  }
  // nlohmann skips a leading UTF-8 BOM and stops at a NUL byte; JSON allows neither.
  if (n >= 3 && json[0] == 0xEF && json[1] == 0xBB && json[2] == 0xBF) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: the header starts with a UTF-8 byte order mark");
  }
  if (const void* nul = n == 0 ? nullptr : std::memchr(json, 0, n)) {
    const auto at = static_cast<std::size_t>(static_cast<const unsigned char*>(nul) - json);
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: NUL byte at header offset " + num(at) +
                     " (only spaces, tabs, CR and LF may pad the header)");
  }
  header h;
  header_builder builder(h);
  builder.reserve_for(n);
  header_sax sax(builder);
  // Trim the JSON whitespace around the object first: nlohmann keeps every byte it reads in a
  // token buffer, so 100 MB of padding would cost 100 MB more.
  const char* first = reinterpret_cast<const char*>(json);
  const char* last = first + n;
  const auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (last != first && is_ws(last[-1])) --last;
  while (first != last && is_ws(*first)) ++first;
  if (last - first >= 3 && std::memcmp(first, "\xEF\xBB\xBF", 3) == 0) {  // nlohmann skips it
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: a UTF-8 byte order mark after leading whitespace");
  }
  const bool ok = nlohmann::json::sax_parse(first, last, &sax, nlohmann::json::input_format_t::json,
                                            true, false);
  if (!ok || !sax.complete()) {
    if (auto& e = sax.failure()) return std::move(*e);
    return error(errc::invalid_header_deserialization, "invalid JSON: incomplete header");
  }
  if (auto e = builder.validate(n, input_size, opts)) return std::move(*e);
  return h;
}

// --- platform I/O ---------------------------------------------------------------------------

#if SAFETENSORS_WINDOWS
using native_string = std::wstring;

inline std::string last_error_message(DWORD code) {
  char* buffer = nullptr;
  const DWORD len = FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, code, 0, reinterpret_cast<LPSTR>(&buffer), 0, nullptr);
  std::string msg = len ? std::string(buffer, len) : "error " + std::to_string(code);
  if (buffer) LocalFree(buffer);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' || msg.back() == '.'))
    msg.pop_back();
  return msg;
}

inline result<native_string> to_native(std::string_view utf8) {
  if (utf8.empty()) return native_string();
  if (utf8.find('\0') != std::string_view::npos) {
    return error(errc::invalid_argument, "the path contains a NUL byte");
  }
  if (utf8.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return error(errc::invalid_argument, "path too long");
  }
  const int len = static_cast<int>(utf8.size());
  const int wlen = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), len, nullptr, 0);
  if (wlen <= 0) return error(errc::invalid_argument, "the path is not valid UTF-8");
  native_string w(static_cast<std::size_t>(wlen), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), len, w.data(), wlen);
  return w;
}

struct os_file {
  HANDLE handle = INVALID_HANDLE_VALUE;
  os_file() = default;
  os_file(const os_file&) = delete;
  os_file& operator=(const os_file&) = delete;
  os_file(os_file&& o) noexcept : handle(std::exchange(o.handle, INVALID_HANDLE_VALUE)) {}
  os_file& operator=(os_file&& o) noexcept {
    std::swap(handle, o.handle);
    return *this;
  }
  ~os_file() {
    if (handle != INVALID_HANDLE_VALUE) CloseHandle(handle);
  }
};

inline result<os_file> open_read(const native_string& path, const std::string& shown) {
  os_file f;
  f.handle = CreateFileW(path.c_str(), GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (f.handle == INVALID_HANDLE_VALUE) {
    return error(errc::io_error,
                 "cannot open " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return f;
}

inline result<std::uint64_t> file_size(const os_file& f, const std::string& shown) {
  LARGE_INTEGER size;
  if (!GetFileSizeEx(f.handle, &size)) {
    return error(errc::io_error, "cannot get the size of " + quote(shown) + ": " +
                                     last_error_message(GetLastError()));
  }
  return static_cast<std::uint64_t>(size.QuadPart);
}

inline result<void> read_at(const os_file& f, std::uint64_t offset, void* dst, std::size_t n,
                            const std::string& shown) {
  auto* out = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(n, 1u << 30));
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(offset & 0xFFFFFFFFu);
    ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
    DWORD got = 0;
    if (!ReadFile(f.handle, out, chunk, &got, &ov)) {
      const DWORD code = GetLastError();
      if (code != ERROR_HANDLE_EOF) {
        return error(errc::io_error, "cannot read " + quote(shown) + " at offset " + num(offset) +
                                         ": " + last_error_message(code));
      }
      got = 0;
    }
    if (got == 0) {
      return error(errc::io_error, "unexpected end of " + quote(shown) + " at offset " +
                                       num(offset) + " (was the file truncated?)");
    }
    out += got;
    offset += got;
    n -= got;
  }
  return {};
}

struct os_mapping {
  const void* address = nullptr;
  std::size_t size = 0;
  static void unmap(const void* address, std::size_t /*size*/) noexcept {
    if (address) UnmapViewOfFile(address);
  }
};

inline result<os_mapping> map_file(const os_file& f, std::uint64_t size, const map_options&,
                                   const std::string& shown) {
  os_mapping m;
  if (size == 0) return m;  // nothing to map; parsing reports HeaderTooSmall
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + num(size) +
                                     " bytes exceed the address space; use source_reader");
  }
  HANDLE mapping = CreateFileMappingW(f.handle, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!mapping) {
    return error(errc::io_error,
                 "cannot map " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  m.address = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
  const DWORD code = GetLastError();
  CloseHandle(mapping);  // the view keeps the mapping alive
  if (!m.address) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + last_error_message(code));
  }
  m.size = static_cast<std::size_t>(size);
  return m;
}
#else
using native_string = std::string;

inline std::string errno_message(int code) { return std::generic_category().message(code); }

inline result<native_string> to_native(std::string_view utf8) {
  if (utf8.find('\0') != std::string_view::npos) {
    return error(errc::invalid_argument, "the path contains a NUL byte");  // the OS would cut it
  }
  return native_string(utf8);
}

struct os_file {
  int fd = -1;
  os_file() = default;
  os_file(const os_file&) = delete;
  os_file& operator=(const os_file&) = delete;
  os_file(os_file&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  os_file& operator=(os_file&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~os_file() {
    if (fd >= 0) ::close(fd);
  }
};

inline result<os_file> open_read(const native_string& path, const std::string& shown) {
  os_file f;
  int flags = O_RDONLY;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  do {
    f.fd = ::open(path.c_str(), flags);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0)
    return error(errc::io_error, "cannot open " + quote(shown) + ": " + errno_message(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return error(errc::io_error, "cannot stat " + quote(shown) + ": " + errno_message(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return error(errc::io_error, "cannot open " + quote(shown) + ": it is a directory");
  }
  return f;
}

inline result<std::uint64_t> file_size(const os_file& f, const std::string& shown) {
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return error(errc::io_error, "cannot stat " + quote(shown) + ": " + errno_message(errno));
  }
  if (st.st_size < 0) return error(errc::io_error, "cannot size " + quote(shown));
  return static_cast<std::uint64_t>(st.st_size);
}

inline result<void> read_at(const os_file& f, std::uint64_t offset, void* dst, std::size_t n,
                            const std::string& shown) {
  auto* out = static_cast<unsigned char*>(dst);
  while (n > 0) {
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return error(errc::io_error,
                   "offset " + num(offset) + " is beyond what this system can read");
    }
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t got = ::pread(f.fd, out, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return error(errc::io_error, "cannot read " + quote(shown) + " at offset " + num(offset) +
                                       ": " + errno_message(errno));
    }
    if (got == 0) {
      return error(errc::io_error, "unexpected end of " + quote(shown) + " at offset " +
                                       num(offset) + " (was the file truncated?)");
    }
    out += got;
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
  return {};
}

struct os_mapping {
  const void* address = nullptr;
  std::size_t size = 0;
  static void unmap(const void* address, std::size_t size) noexcept {
    if (address) ::munmap(const_cast<void*>(address), size);
  }
};

inline result<os_mapping> map_file(const os_file& f, std::uint64_t size, const map_options& opts,
                                   const std::string& shown) {
  os_mapping m;
  if (size == 0) return m;  // mmap rejects length 0; parsing reports HeaderTooSmall
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + num(size) +
                                     " bytes exceed the address space; use source_reader");
  }
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  if (opts.populate) flags |= MAP_POPULATE;
#endif
  void* address = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, flags, f.fd, 0);
  if (address == MAP_FAILED) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + errno_message(errno));
  }
  int advice = -1;
  switch (opts.hint) {
    case access_hint::normal:
      break;
    case access_hint::sequential:
      advice = MADV_SEQUENTIAL;
      break;
    case access_hint::random:
      advice = MADV_RANDOM;
      break;
    case access_hint::will_need:
      advice = MADV_WILLNEED;
      break;
  }
  if (advice >= 0) (void)::madvise(address, static_cast<std::size_t>(size), advice);  // a hint only
  m.address = address;
  m.size = static_cast<std::size_t>(size);
  return m;
}
#endif

inline result<native_string> to_native(const std::filesystem::path& p) {
  if (p.native().find(std::filesystem::path::value_type{}) !=
      std::filesystem::path::string_type::npos) {
    return error(errc::invalid_argument, "the path contains a NUL byte");  // the OS would cut it
  }
#if SAFETENSORS_WINDOWS
  return native_string(p.wstring());
#else
  return native_string(p.string());
#endif
}

inline std::string display_path(const std::filesystem::path& p) {
#if SAFETENSORS_WINDOWS
  const auto u8 = p.u8string();
  return std::string(u8.begin(), u8.end());
#else
  return p.string();
#endif
}

inline std::string display_path(std::string_view utf8) { return std::string(utf8); }

template <class P>
inline constexpr bool is_path_v =
    std::is_same_v<std::remove_cv_t<std::remove_reference_t<P>>, std::filesystem::path>;

// --- platform I/O: the write side (temporary file, positioned writes, sync, atomic replace) ---

/// A name for a temporary file next to `target`: "<dir>/.<name>.<16 hex digits>.tmp", with the
/// name cut to 200 units so that a target name of NAME_MAX (255) still gives a legal name.
inline native_string temp_name_for(const native_string& target, unsigned attempt) {
  using char_type = typename native_string::value_type;
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= (counter.fetch_add(1) + attempt) * 0x9E3779B97F4A7C15ULL;
  x ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&counter)) << 7;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
#if SAFETENSORS_WINDOWS
  const std::size_t slash = target.find_last_of(L"/\\");
#else
  const std::size_t slash = target.find_last_of('/');
#endif
  const std::size_t base = slash == native_string::npos ? 0 : slash + 1;
  native_string out = target.substr(0, base);
  out += static_cast<char_type>('.');
  std::size_t keep = std::min<std::size_t>(target.size() - base, 200);
  if (keep < target.size() - base) {  // cut on a character boundary
#if SAFETENSORS_WINDOWS
    if ((static_cast<unsigned>(target[base + keep - 1]) & 0xFC00u) == 0xD800u) --keep;
#else
    while (keep > 0 && (static_cast<unsigned char>(target[base + keep]) & 0xC0u) == 0x80u) --keep;
#endif
  }
  out += target.substr(base, keep);
  out += static_cast<char_type>('.');
  static const char hex[] = "0123456789abcdef";
  for (int i = 60; i >= 0; i -= 4) out += static_cast<char_type>(hex[(x >> i) & 15]);
  for (const char c : std::string_view(".tmp")) out += static_cast<char_type>(c);
  return out;
}

#if SAFETENSORS_WINDOWS
inline result<os_file> create_new(const native_string& path, const std::string& shown,
                                  bool& exists) {
  os_file f;
  exists = false;
  f.handle = CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ, nullptr,
                         CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (f.handle == INVALID_HANDLE_VALUE) {
    const DWORD code = GetLastError();
    exists = code == ERROR_FILE_EXISTS;
    return error(errc::io_error, "cannot create " + quote(shown) + ": " + last_error_message(code));
  }
  return f;
}

inline result<void> write_at(const os_file& f, std::uint64_t offset, const void* src, std::size_t n,
                             const std::string& shown) {
  const auto* in = static_cast<const unsigned char*>(src);
  while (n > 0) {
    const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(n, 1u << 30));
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(offset & 0xFFFFFFFFu);
    ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
    DWORD put = 0;
    if (!WriteFile(f.handle, in, chunk, &put, &ov)) {
      return error(errc::io_error, "cannot write " + quote(shown) + " at offset " + num(offset) +
                                       ": " + last_error_message(GetLastError()));
    }
    if (put == 0) {
      return error(errc::io_error,
                   "cannot write " + quote(shown) + " at offset " + num(offset) + ": no progress");
    }
    in += put;
    offset += put;
    n -= put;
  }
  return {};
}

inline result<void> set_size(const os_file& f, std::uint64_t size, const std::string& shown) {
  FILE_END_OF_FILE_INFO info{};
  info.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
  if (!SetFileInformationByHandle(f.handle, FileEndOfFileInfo, &info, sizeof(info))) {
    return error(errc::io_error, "cannot set the size of " + quote(shown) + ": " +
                                     last_error_message(GetLastError()));
  }
  return {};
}

inline result<void> sync_file(const os_file& f, const std::string& shown) {
  if (!FlushFileBuffers(f.handle)) {
    return error(errc::io_error,
                 "cannot flush " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

inline result<void> close_file(os_file& f, const std::string& shown) {
  const HANDLE h = std::exchange(f.handle, INVALID_HANDLE_VALUE);
  if (h != INVALID_HANDLE_VALUE && !CloseHandle(h)) {
    return error(errc::io_error,
                 "cannot close " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

inline result<void> replace_file(const native_string& from, const native_string& to,
                                 const std::string& shown) {
  if (!MoveFileExW(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return error(errc::io_error,
                 "cannot replace " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

inline void remove_file(const native_string& path) noexcept { DeleteFileW(path.c_str()); }

inline void sync_parent_dir(const native_string&) noexcept {}  // MOVEFILE_WRITE_THROUGH

inline void keep_mode_of(const native_string&, const os_file&) noexcept {}
#else
inline result<os_file> create_new(const native_string& path, const std::string& shown,
                                  bool& exists) {
  os_file f;
  exists = false;
  int flags = O_RDWR | O_CREAT | O_EXCL;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  do {
    f.fd = ::open(path.c_str(), flags, 0666);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0) {
    const int code = errno;
    exists = code == EEXIST;
    return error(errc::io_error, "cannot create " + quote(shown) + ": " + errno_message(code));
  }
  return f;
}

inline result<void> write_at(const os_file& f, std::uint64_t offset, const void* src, std::size_t n,
                             const std::string& shown) {
  const auto* in = static_cast<const unsigned char*>(src);
  while (n > 0) {
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) - n) {
      return error(errc::io_error,
                   "offset " + num(offset) + " is beyond what this system can write");
    }
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t put = ::pwrite(f.fd, in, chunk, static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      return error(errc::io_error, "cannot write " + quote(shown) + " at offset " + num(offset) +
                                       ": " + errno_message(errno));
    }
    if (put == 0) {
      return error(errc::io_error,
                   "cannot write " + quote(shown) + " at offset " + num(offset) + ": no progress");
    }
    in += put;
    offset += static_cast<std::uint64_t>(put);
    n -= static_cast<std::size_t>(put);
  }
  return {};
}

inline result<void> set_size(const os_file& f, std::uint64_t size, const std::string& shown) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) ||
      ::ftruncate(f.fd, static_cast<off_t>(size)) != 0) {
    return error(errc::io_error, "cannot set the size of " + quote(shown) + " to " + num(size) +
                                     " bytes: " + errno_message(errno));
  }
  return {};
}

inline result<void> sync_file(const os_file& f, const std::string& shown) {
  if (::fsync(f.fd) != 0) {
    return error(errc::io_error, "cannot flush " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

inline result<void> close_file(os_file& f, const std::string& shown) {
  const int fd = std::exchange(f.fd, -1);
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) {
    return error(errc::io_error, "cannot close " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

inline result<void> replace_file(const native_string& from, const native_string& to,
                                 const std::string& shown) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return error(errc::io_error, "cannot replace " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

inline void remove_file(const native_string& path) noexcept { (void)::unlink(path.c_str()); }

/// Gives the new file the permissions of the file it replaces (best effort), so that overwriting
/// keeps a file's mode; a new file gets 0666 minus the umask, as any created file.
inline void keep_mode_of(const native_string& target, const os_file& f) noexcept {
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    (void)::fchmod(f.fd, st.st_mode & 07777);
  }
}

/// Makes a completed rename durable: fsync of the directory that holds `path` (best effort).
inline void sync_parent_dir(const native_string& path) noexcept {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == native_string::npos ? std::string(".")
                          : slash == 0 ? std::string("/")
                                       : path.substr(0, slash);
  int flags = O_RDONLY;
#ifdef O_DIRECTORY
  flags |= O_DIRECTORY;
#endif
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  const int fd = ::open(dir.c_str(), flags);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}
#endif

/// A file written under a temporary name next to its target and renamed over the target only by
/// commit(); destroying it before removes the temporary file. Move-only.
class atomic_file {
 public:
  atomic_file() = default;
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  atomic_file(atomic_file&& o) noexcept
      : file_(std::move(o.file_)),
        target_(std::move(o.target_)),
        temp_(std::move(o.temp_)),
        shown_(std::move(o.shown_)),
        live_(std::exchange(o.live_, false)) {}
  atomic_file& operator=(atomic_file&& o) noexcept {
    if (this != &o) {
      discard();
      file_ = std::move(o.file_);
      target_ = std::move(o.target_);
      temp_ = std::move(o.temp_);
      shown_ = std::move(o.shown_);
      live_ = std::exchange(o.live_, false);
    }
    return *this;
  }
  ~atomic_file() { discard(); }

  /// Creates the temporary file for `target`.
  static result<atomic_file> create(native_string target, std::string shown) {
    for (unsigned attempt = 0;; ++attempt) {
      native_string temp = temp_name_for(target, attempt);
      bool exists = false;
      auto file = create_new(temp, shown + " (temporary file)", exists);
      if (!file) {
        if (exists && attempt < 64) continue;
        return error(errc::io_error, "cannot write " + quote(shown) +
                                         ": cannot create a temporary file in its directory (" +
                                         file.error().message() + ")");
      }
      keep_mode_of(target, *file);
      atomic_file out;
      out.file_ = std::move(*file);
      out.target_ = std::move(target);
      out.temp_ = std::move(temp);
      out.shown_ = std::move(shown);
      out.live_ = true;
      return out;
    }
  }

  /// Writes n bytes at `offset` of the temporary file.
  result<void> write_at(std::uint64_t offset, const void* data, std::size_t n) {
    return detail::write_at(file_, offset, data, n, shown_);
  }
  /// Sets the temporary file's size.
  result<void> set_size(std::uint64_t size) { return detail::set_size(file_, size, shown_); }
  /// Flushes (when `sync`), closes and renames the temporary file over the target.
  result<void> commit(bool sync) {
    if (!live_) return error(errc::invalid_argument, "the file was already committed or discarded");
    if (sync) {
      if (auto r = sync_file(file_, shown_); !r) return fail_with(r.error());
    }
    if (auto r = close_file(file_, shown_); !r) return fail_with(r.error());
    if (auto r = replace_file(temp_, target_, shown_); !r) return fail_with(r.error());
    live_ = false;
    if (sync) sync_parent_dir(target_);
    return {};
  }
  /// Closes and removes the temporary file (no-op after commit).
  void discard() noexcept {
    if (!live_) return;
    live_ = false;
    os_file closing = std::move(file_);
    { os_file gone = std::move(closing); }  // close before removing (Windows needs it)
    remove_file(temp_);
  }
  /// The target's path for messages.
  const std::string& shown() const noexcept { return shown_; }

 private:
  error fail_with(error e) {
    discard();
    return e;
  }
  os_file file_;
  native_string target_;
  native_string temp_;
  std::string shown_;
  bool live_ = false;
};

}  // namespace detail

inline std::optional<tensor_info> header::find(std::string_view name) const noexcept {
  const auto record = detail::header_builder::find(*this, name);
  if (!record) return std::nullopt;
  return make_info(*record);
}

inline result<tensor_info> header::at(std::string_view name) const {
  if (auto info = find(name)) return *info;
  return error(errc::tensor_not_found, "no tensor named " + detail::quote(name));
}

// ---------------------------------------------------------------------------------------------
// 6. Reader
// ---------------------------------------------------------------------------------------------

/// A parsed file over bytes the caller keeps alive: the header plus zero-copy tensor views.
class file_view {
 public:
  file_view() = default;
  /// The parsed header (tensor table, metadata, sizes).
  const safetensors::header& header() const noexcept { return header_; }
  /// Number of tensors.
  std::size_t size() const noexcept { return header_.size(); }
  /// The tensors in offset order.
  tensor_range tensors() const noexcept { return header_.tensors(); }
  /// The `__metadata__` map, or nullopt.
  const std::optional<metadata_map>& metadata() const noexcept { return header_.metadata(); }
  /// The data buffer (the bytes after the header, up to the end of the last tensor).
  span<const std::byte> data() const noexcept { return data_; }
  /// A view of the tensor `info` (an entry of this file's header).
  tensor_view view(const tensor_info& info) const noexcept {
    return tensor_view(info, data_.subspan(static_cast<std::size_t>(info.offsets().begin),
                                           static_cast<std::size_t>(info.byte_size())));
  }
  /// The tensor named `name`, or nullopt.
  std::optional<tensor_view> find(std::string_view name) const noexcept {
    if (auto info = header_.find(name)) return view(*info);
    return std::nullopt;
  }
  /// The tensor named `name`, or TensorNotFound.
  result<tensor_view> tensor(std::string_view name) const {
    auto info = header_.at(name);
    if (!info) return info.error();
    return view(*info);
  }

 private:
  friend result<file_view> parse(const void* data, std::size_t size, const parse_options& opts);
  file_view(safetensors::header h, span<const std::byte> data) noexcept
      : header_(std::move(h)), data_(data) {}
  safetensors::header header_;
  span<const std::byte> data_;
};

/// Parses and validates a whole file held in memory (8-byte length, header, data buffer).
/// Zero copy: the result's views point into `data`, which must outlive it.
inline result<file_view> parse(const void* data, std::size_t size, const parse_options& opts = {}) {
  if (data == nullptr && size != 0)
    return error(errc::invalid_argument, "parse: null data with non-zero size");
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (size < 8) {
    return error(errc::header_too_small,
                 "the input has " + detail::num(size) +
                     " bytes; a safetensors file starts with an 8-byte header length" +
                     detail::describe_first_bytes(bytes, size, size));
  }
  const std::uint64_t n = detail::read_le64(bytes);
  if (detail::check_length(n, size, opts)) {  // rules 2 or 3 fail: say what the input is
    const auto hint = detail::describe_first_bytes(bytes, std::min(size, detail::sniff_size), size);
    return std::move(*detail::check_length(n, size, opts, hint));
  }
  auto h = detail::parse_header_bytes(bytes + 8, static_cast<std::size_t>(n), size, opts);
  if (!h) return h.error();
  const auto* start = reinterpret_cast<const std::byte*>(bytes) + 8 + n;
  const auto data_size = static_cast<std::size_t>(h->data_size());
  return file_view(std::move(*h), span<const std::byte>(start, data_size));
}

/// Parses and validates a whole file held in memory (see parse(const void*, size_t, options)).
inline result<file_view> parse(span<const std::byte> bytes, const parse_options& opts = {}) {
  return parse(bytes.data(), bytes.size(), opts);
}

/// A read-only memory mapping of a whole file. RAII and move-only.
///
/// POSIX: if another process truncates the file while it is mapped, touching the lost pages
/// raises SIGBUS; use source_reader for files that may change underneath you.
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  /// Takes over the mapping of `other`, which becomes empty.
  mapped_file(mapped_file&& other) noexcept
      : mapping_(std::exchange(other.mapping_, {})), path_(std::move(other.path_)) {}
  /// Unmaps this mapping and takes over `other`'s; `other` becomes empty.
  mapped_file& operator=(mapped_file&& other) noexcept {
    if (this != &other) {
      detail::os_mapping::unmap(mapping_.address, mapping_.size);
      mapping_ = std::exchange(other.mapping_, {});
      path_ = std::move(other.path_);
    }
    return *this;
  }
  ~mapped_file() { detail::os_mapping::unmap(mapping_.address, mapping_.size); }

  /// Maps the file at `utf8_path` (UTF-8 on every platform). IoError with the OS message.
  static result<mapped_file> open(std::string_view utf8_path, const map_options& opts = {}) {
    auto native = detail::to_native(utf8_path);
    if (!native) return native.error();
    return open_native(*native, detail::display_path(utf8_path), opts);
  }
  /// Maps the file at `path`.
  template <class P, std::enable_if_t<detail::is_path_v<P>, int> = 0>
  static result<mapped_file> open(const P& path, const map_options& opts = {}) {
    auto native = detail::to_native(path);
    if (!native) return native.error();
    return open_native(*native, detail::display_path(path), opts);
  }

  /// The mapped bytes (nullptr for an empty file).
  const std::byte* data() const noexcept { return static_cast<const std::byte*>(mapping_.address); }
  /// The file's size in bytes.
  std::size_t size() const noexcept { return mapping_.size; }
  /// The mapped bytes as a span.
  span<const std::byte> bytes() const noexcept { return {data(), size()}; }
  /// The path the file was opened with.
  const std::string& path() const noexcept { return path_; }

 private:
  static result<mapped_file> open_native(const detail::native_string& native, std::string shown,
                                         const map_options& opts) {
    auto file = detail::open_read(native, shown);
    if (!file) return file.error();
    auto size = detail::file_size(*file, shown);
    if (!size) return size.error();
    auto mapping = detail::map_file(*file, *size, opts, shown);
    if (!mapping) return mapping.error();
    mapped_file out;
    out.mapping_ = *mapping;
    out.path_ = std::move(shown);
    return out;
  }
  detail::os_mapping mapping_;
  std::string path_;
};

class mapped_view;

/// Maps the file at `path` (a UTF-8 string or a std::filesystem::path) and parses it.
template <class P>
result<mapped_view> open_mapped(const P& path, const parse_options& popts = {},
                                const map_options& mopts = {});

/// A mapped file and its parsed header: a file_view that owns its bytes. Move-only.
class mapped_view : public file_view {
 public:
  mapped_view() = default;
  /// The mapping.
  const mapped_file& file() const noexcept { return file_; }

 private:
  template <class P>
  friend result<mapped_view> open_mapped(const P& path, const parse_options& popts,
                                         const map_options& mopts);
  mapped_view(file_view view, mapped_file file) noexcept
      : file_view(std::move(view)), file_(std::move(file)) {}
  mapped_file file_;  // the mapping's address does not change when moved
};

template <class P>
result<mapped_view> open_mapped(const P& path, const parse_options& popts,
                                const map_options& mopts) {
  auto file = [&] {
    if constexpr (detail::is_path_v<P>) {
      return mapped_file::open(path, mopts);
    } else {
      return mapped_file::open(std::string_view(path), mopts);
    }
  }();
  if (!file) return file.error();
  auto view = parse(file->data(), file->size(), popts);
  if (!view) {
    return error(view.error().code(), detail::quote(file->path()) + ": " + view.error().message());
  }
  return mapped_view(std::move(*view), std::move(*file));
}

/// Random access to bytes: a file, a buffer, or your own (HTTP range requests, object stores).
/// source_reader reads only the header and the tensors you ask for through it.
class random_access_source {
 public:
  virtual ~random_access_source() = default;
  /// Total size in bytes.
  virtual std::uint64_t size() const noexcept = 0;
  /// Reads exactly `size` bytes at `offset` into `dst`; a short read is an error. Must be safe
  /// to call from several threads at once if the reader is shared between threads.
  virtual result<void> read_at(std::uint64_t offset, void* dst, std::size_t size) const = 0;
  /// A short description for messages, such as the path.
  virtual std::string describe() const { return "source"; }
};

/// A file read with pread (ReadFile with an offset on Windows); no mapping. Thread-safe.
class file_source final : public random_access_source {
 public:
  /// Opens the file at `utf8_path` (UTF-8 on every platform). IoError with the OS message.
  static result<std::unique_ptr<file_source>> open(std::string_view utf8_path) {
    auto native = detail::to_native(utf8_path);
    if (!native) return native.error();
    return open_native(*native, detail::display_path(utf8_path));
  }
  /// Opens the file at `path`.
  template <class P, std::enable_if_t<detail::is_path_v<P>, int> = 0>
  static result<std::unique_ptr<file_source>> open(const P& path) {
    auto native = detail::to_native(path);
    if (!native) return native.error();
    return open_native(*native, detail::display_path(path));
  }
  /// The file's size when it was opened.
  std::uint64_t size() const noexcept override { return size_; }
  /// Reads `size` bytes at `offset`; IoError on failure or end of file.
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t size) const override {
    return detail::read_at(file_, offset, dst, size, path_);
  }
  /// The path.
  std::string describe() const override { return path_; }

 private:
  file_source(detail::os_file file, std::uint64_t size, std::string path) noexcept
      : file_(std::move(file)), size_(size), path_(std::move(path)) {}
  static result<std::unique_ptr<file_source>> open_native(const detail::native_string& native,
                                                          std::string shown) {
    auto file = detail::open_read(native, shown);
    if (!file) return file.error();
    auto size = detail::file_size(*file, shown);
    if (!size) return size.error();
    return std::unique_ptr<file_source>(new file_source(std::move(*file), *size, std::move(shown)));
  }
  detail::os_file file_;
  std::uint64_t size_;
  std::string path_;
};

/// Bytes in memory as a random_access_source (the caller keeps them alive).
class memory_source final : public random_access_source {
 public:
  /// A source over `bytes`.
  explicit memory_source(span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  /// The number of bytes.
  std::uint64_t size() const noexcept override { return bytes_.size(); }
  /// Copies `size` bytes at `offset`; IoError past the end.
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t size) const override {
    if (offset > bytes_.size() || size > bytes_.size() - offset) {
      return error(errc::io_error, "read of " + detail::num(size) + " bytes at offset " +
                                       detail::num(offset) + " is past the end of " +
                                       detail::num(bytes_.size()) + " bytes");
    }
    if (size != 0) std::memcpy(dst, bytes_.data() + offset, size);
    return {};
  }
  /// "memory".
  std::string describe() const override { return "memory"; }

 private:
  span<const std::byte> bytes_;
};

/// Reads a file through a random_access_source: only the 8 + N header bytes at open, then each
/// tensor's bytes on request into caller buffers. No mapping: the path for network filesystems,
/// Windows, and files that may change underneath you. Move-only; read_into is thread-safe when
/// the source is (file_source is).
class source_reader {
 public:
  /// Reads and validates the header of `source` (its size is the file size of the rules).
  static result<source_reader> open(std::unique_ptr<random_access_source> source,
                                    const parse_options& opts = {}) {
    if (!source) return error(errc::invalid_argument, "source_reader::open: null source");
    const std::uint64_t size = source->size();
    const std::string where = detail::quote(source->describe()) + ": ";
    auto fail = [&](const error& e) { return error(e.code(), where + e.message()); };
    // What the input probably is, for rules 1 to 3 (a best-effort read of its first bytes).
    const auto describe = [&source, size] {
      unsigned char first[detail::sniff_size];
      const auto got = static_cast<std::size_t>(std::min<std::uint64_t>(size, detail::sniff_size));
      if (got != 0 && !source->read_at(0, first, got)) return std::string();
      return detail::describe_first_bytes(first, got, size);
    };
    if (size < 8) {
      return fail(error(errc::header_too_small,
                        "the input has " + detail::num(size) +
                            " bytes; a safetensors file starts with an 8-byte header length" +
                            describe()));
    }
    unsigned char prefix[8];
    if (auto r = source->read_at(0, prefix, 8); !r) return r.error();
    const std::uint64_t n = detail::read_le64(prefix);
    if (detail::check_length(n, size, opts)) {  // rules 2 or 3 fail: say what the input is
      return fail(*detail::check_length(n, size, opts, describe()));
    }
    std::vector<unsigned char> json(static_cast<std::size_t>(n));
    if (n != 0) {
      if (auto r = source->read_at(8, json.data(), json.size()); !r) return r.error();
    }
    auto h = detail::parse_header_bytes(json.data(), json.size(), size, opts);
    if (!h) return fail(h.error());
    return source_reader(std::move(source), std::move(*h));
  }

  /// The parsed header.
  const safetensors::header& header() const noexcept { return header_; }
  /// The source.
  const random_access_source& source() const noexcept { return *source_; }

  /// Copies the bytes of tensor `info` (an entry of this reader's header) into `dst`, which
  /// must hold at least info.byte_size() bytes (InvalidArgument otherwise).
  result<void> read_into(const tensor_info& info, span<std::byte> dst) const {
    const data_offsets o = info.offsets();
    if (o.end < o.begin || o.end > header_.data_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " is not an entry of this file");
    }
    if (dst.size() < info.byte_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " has " + detail::num(info.byte_size()) +
                                               " bytes, the buffer holds " +
                                               detail::num(dst.size()));
    }
    if (info.byte_size() == 0) return {};
    return source_->read_at(header_.data_offset() + o.begin, dst.data(),
                            static_cast<std::size_t>(info.byte_size()));
  }
  /// Copies the bytes of the tensor named `name` into `dst` (TensorNotFound if absent).
  result<void> read_into(std::string_view name, span<std::byte> dst) const {
    auto info = header_.at(name);
    if (!info) return info.error();
    return read_into(*info, dst);
  }
  /// The bytes of tensor `info` in a new vector.
  result<std::vector<std::byte>> read(const tensor_info& info) const {
    if (info.byte_size() > header_.data_size()) {
      return error(errc::invalid_argument,
                   "read: tensor " + detail::quote(info.name()) + " is not an entry of this file");
    }
    std::vector<std::byte> out(static_cast<std::size_t>(info.byte_size()));
    if (auto r = read_into(info, span<std::byte>(out)); !r) return r.error();
    return out;
  }

 private:
  source_reader(std::unique_ptr<random_access_source> source, safetensors::header h) noexcept
      : source_(std::move(source)), header_(std::move(h)) {}
  std::unique_ptr<random_access_source> source_;
  safetensors::header header_;
};

/// Opens the file at `path` (UTF-8 string or std::filesystem::path) for reading without a
/// mapping, and parses its header.
template <class P>
result<source_reader> open_reader(const P& path, const parse_options& opts = {}) {
  auto source = [&] {
    if constexpr (detail::is_path_v<P>) {
      return file_source::open(path);
    } else {
      return file_source::open(std::string_view(path));
    }
  }();
  if (!source) return source.error();
  return source_reader::open(std::move(*source), opts);
}

// ---------------------------------------------------------------------------------------------
// 7. Writer (DESIGN §6): validate, sort, lay out, then write to memory, to a file atomically, or
//    tensor by tensor through stream_writer.
// ---------------------------------------------------------------------------------------------

/// Progress of a file writer: bytes written so far and the file's total size.
using progress_callback = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// Produces a tensor's bytes on demand: fills all of `out` with the tensor's bytes that start at
/// byte `offset` of the tensor (little-endian). An error aborts the write.
using tensor_producer = std::function<result<void>(std::uint64_t offset, span<std::byte> out)>;

/// One tensor to write: name, dtype, shape and its little-endian bytes, either referenced
/// (`bytes`, never copied; must stay alive during the write) or generated by `producer`.
struct tensor_spec {
  std::string name;                  ///< the tensor's name (UTF-8; `__metadata__` is reserved)
  safetensors::dtype dtype{};        ///< element type
  std::vector<std::uint64_t> shape;  ///< dimensions; empty for a scalar
  span<const std::byte> bytes;       ///< the bytes, when `producer` is empty
  tensor_producer producer;          ///< generates the bytes instead of `bytes`
};

/// The spec of a tensor read from a file: same name, dtype and shape, bytes referenced.
inline tensor_spec to_spec(const tensor_view& view) {
  const auto shape = view.shape();
  return tensor_spec{std::string(view.name()),
                     view.dtype(),
                     std::vector<std::uint64_t>(shape.begin(), shape.end()),
                     view.bytes(),
                     {}};
}

/// Options of every writer.
struct write_options {
  /// The data buffer starts at a multiple of this (a power of two, 8 to 65536) from the file
  /// start; the header is padded with spaces to get there. 8 gives the reference's bytes.
  std::uint64_t alignment = 8;
  /// Largest header (N, padding included) to write; larger is HeaderTooLarge.
  std::uint64_t max_header_size = SAFETENSORS_DEFAULT_MAX_HEADER_SIZE;
  /// Files: flush to stable storage (fsync / FlushFileBuffers) before the rename.
  bool sync = true;
  /// Files: called after every write with (bytes done, total bytes).
  progress_callback progress;
};

/// One tensor of a write plan, in file order.
struct planned_tensor {
  std::string name;                  ///< the tensor's name
  safetensors::dtype dtype{};        ///< element type
  std::vector<std::uint64_t> shape;  ///< dimensions
  data_offsets offsets;              ///< byte range in the data buffer
  std::size_t input_index = 0;       ///< position in the list given to the writer
  /// Size in bytes.
  std::uint64_t byte_size() const noexcept { return offsets.end - offsets.begin; }
};

namespace detail {
/// Appends `s` as a JSON string escaped exactly as serde_json does (the reference's bytes).
inline void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

/// Checks a string the writer puts in the header: it must be valid UTF-8.
inline std::optional<error> check_utf8(std::string_view s, const char* what) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t bad = utf8_error_offset(p, s.size());
  if (bad == s.size()) return std::nullopt;
  return error(errc::invalid_argument,
               std::string(what) + " " + quote(s) + " is not valid UTF-8 (byte " + num(bad) + ")");
}

/// The byte size of dtype x shape with rules 7 and 8 of DESIGN §3, for the writer's messages.
inline result<std::uint64_t> spec_byte_size(std::string_view name, dtype type,
                                            span<const std::uint64_t> shape) {
  std::uint64_t elements = 1;
  for (const std::uint64_t d : shape) {
    if (!checked_mul(elements, d, elements)) {
      return error(errc::validation_overflow, "tensor " + quote(name) + ": the element count of " +
                                                  std::string(to_string(type)) +
                                                  shape_string(shape) + " overflows 64 bits");
    }
  }
  std::uint64_t bits = 0;
  if (!checked_mul(elements, bit_size(type), bits)) {
    return error(errc::validation_overflow, "tensor " + quote(name) + ": the bit count of " +
                                                std::string(to_string(type)) + shape_string(shape) +
                                                " overflows 64 bits");
  }
  if (bits % 8 != 0) {
    return error(errc::misaligned_slice, "tensor " + quote(name) + ": " +
                                             std::string(to_string(type)) + shape_string(shape) +
                                             " has " + num(bits) +
                                             " bits, not a whole number of bytes");
  }
  return bits / 8;
}

enum class plan_mode { with_bytes, declare_only };
}  // namespace detail

/// A validated layout, ready to write: tensors sorted as the reference writer sorts them (dtype
/// rank descending, then name bytes), their offsets, and the header bytes with the padding.
class write_plan {
 public:
  /// Validates `tensors` and `metadata` and lays them out. Errors: TensorInvalidInfo (bytes do
  /// not match dtype x shape), MisalignedSlice, ValidationOverflow, DuplicateKey,
  /// InvalidTensorName (`__metadata__`), HeaderTooLarge, InvalidArgument (bad alignment, a name
  /// or metadata string that is not UTF-8, both bytes and a producer given).
  static result<write_plan> create(const std::vector<tensor_spec>& tensors,
                                   const std::optional<metadata_map>& metadata = std::nullopt,
                                   const write_options& options = {}) {
    return make(tensors, metadata, options, detail::plan_mode::with_bytes);
  }

  /// The first bytes of the file: the 8-byte length N, the JSON header and its padding.
  span<const std::byte> prefix() const noexcept {
    return {reinterpret_cast<const std::byte*>(prefix_.data()), prefix_.size()};
  }
  /// N, the header's length (padding included).
  std::uint64_t header_size() const noexcept { return prefix_.empty() ? 0 : prefix_.size() - 8; }
  /// The data buffer's size.
  std::uint64_t data_size() const noexcept { return data_size_; }
  /// The whole file's size: 8 + N + data size.
  std::uint64_t file_size() const noexcept { return prefix_.size() + data_size_; }
  /// The tensors in file order.
  const std::vector<planned_tensor>& tensors() const noexcept { return tensors_; }

 private:
  friend class stream_writer;
  static result<write_plan> make(const std::vector<tensor_spec>& tensors,
                                 const std::optional<metadata_map>& metadata,
                                 const write_options& options, detail::plan_mode mode);
  std::string prefix_;
  std::vector<planned_tensor> tensors_;
  std::uint64_t data_size_ = 0;
};

inline result<write_plan> write_plan::make(const std::vector<tensor_spec>& tensors,
                                           const std::optional<metadata_map>& metadata,
                                           const write_options& options, detail::plan_mode mode) {
  using detail::num;
  using detail::quote;
  const std::uint64_t align = options.alignment;
  if (align < 8 || align > 65536 || (align & (align - 1)) != 0) {
    return error(errc::invalid_argument, "write_options::alignment is " + num(align) +
                                             "; it must be a power of two from 8 to 65536");
  }
  write_plan plan;
  plan.tensors_.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor_spec& t = tensors[i];
    if (t.name == "__metadata__") {
      return error(errc::invalid_tensor_name,
                   "a tensor cannot be named '__metadata__': that key holds the metadata");
    }
    if (auto e = detail::check_utf8(t.name, "the tensor name")) return std::move(*e);
    if (static_cast<std::size_t>(t.dtype) >= dtype_count) {
      return error(errc::invalid_argument, "tensor " + quote(t.name) + ": invalid dtype value " +
                                               num(static_cast<std::uint64_t>(t.dtype)));
    }
    const span<const std::uint64_t> shape(t.shape.data(), t.shape.size());
    auto size = detail::spec_byte_size(t.name, t.dtype, shape);
    if (!size) return size.error();
    if (mode == detail::plan_mode::with_bytes) {
      if (t.producer) {
        if (!t.bytes.empty()) {
          return error(errc::invalid_argument,
                       "tensor " + quote(t.name) + ": give either bytes or a producer, not both");
        }
      } else if (t.bytes.size() != *size) {
        return error(errc::tensor_invalid_info,
                     "tensor " + quote(t.name) + ": " + std::string(to_string(t.dtype)) +
                         detail::shape_string(shape) + " needs " + num(*size) + " bytes, but " +
                         num(t.bytes.size()) + " were given");
      } else if (t.bytes.data() == nullptr && *size != 0) {
        return error(errc::invalid_argument, "tensor " + quote(t.name) + ": null bytes");
      }
    }
    planned_tensor p;
    p.name = t.name;
    p.dtype = t.dtype;
    p.shape = t.shape;
    p.offsets = {0, *size};  // sizes for now; offsets after the sort
    p.input_index = i;
    plan.tensors_.push_back(std::move(p));
  }
  std::sort(plan.tensors_.begin(), plan.tensors_.end(),
            [](const planned_tensor& a, const planned_tensor& b) {
              if (a.dtype != b.dtype) return a.dtype > b.dtype;  // dtype rank descending
              return a.name < b.name;                            // then name bytes
            });
  for (std::size_t i = 1; i < plan.tensors_.size(); ++i) {
    if (plan.tensors_[i].name == plan.tensors_[i - 1].name) {
      return error(errc::duplicate_key, "two tensors are named " + quote(plan.tensors_[i].name));
    }
  }
  // Same name with different dtypes sorts apart: check names globally too.
  if (plan.tensors_.size() > 1) {
    std::vector<std::string_view> names;
    names.reserve(plan.tensors_.size());
    for (const auto& p : plan.tensors_) names.emplace_back(p.name);
    std::sort(names.begin(), names.end());
    const auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) {
      return error(errc::duplicate_key, "two tensors are named " + quote(*dup));
    }
  }
  std::uint64_t offset = 0;
  for (planned_tensor& p : plan.tensors_) {
    const std::uint64_t size = p.offsets.end;
    std::uint64_t end = 0;
    if (!detail::checked_add(offset, size, end)) {
      return error(errc::validation_overflow,
                   "the data buffer's size overflows 64 bits at tensor " + quote(p.name));
    }
    p.offsets = {offset, end};
    offset = end;
  }
  plan.data_size_ = offset;

  // The header JSON, compact, as the reference's serde writes it.
  std::string& json = plan.prefix_;
  json.assign(8, '\0');
  json += '{';
  bool first = true;
  if (metadata) {
    json += "\"__metadata__\":{";
    bool first_key = true;
    for (const auto& [key, value] : *metadata) {  // std::map: keys in byte order
      if (auto e = detail::check_utf8(key, "the metadata key")) return std::move(*e);
      if (auto e = detail::check_utf8(value, "the metadata value")) return std::move(*e);
      if (!first_key) json += ',';
      first_key = false;
      detail::append_json_string(json, key);
      json += ':';
      detail::append_json_string(json, value);
      if (json.size() - 8 > options.max_header_size) break;  // reported below
    }
    json += '}';
    first = false;
  }
  for (const planned_tensor& p : plan.tensors_) {
    if (json.size() - 8 > options.max_header_size) break;  // reported below
    if (!first) json += ',';
    first = false;
    detail::append_json_string(json, p.name);
    json += ":{\"dtype\":\"";
    json += to_string(p.dtype);
    json += "\",\"shape\":[";
    for (std::size_t d = 0; d < p.shape.size(); ++d) {
      if (d != 0) json += ',';
      json += num(p.shape[d]);
    }
    json += "],\"data_offsets\":[";
    json += num(p.offsets.begin);
    json += ',';
    json += num(p.offsets.end);
    json += "]}";
  }
  json += '}';
  // Pad with spaces so that the data starts at a multiple of the alignment.
  const std::uint64_t unpadded = json.size();
  const std::uint64_t padded = (unpadded + align - 1) / align * align;
  const std::uint64_t n = padded - 8;
  if (n > options.max_header_size) {
    return error(
        errc::header_too_large,
        "the header would be " +
            (unpadded - 8 > options.max_header_size ? "more than " + num(options.max_header_size)
                                                    : num(n)) +
            " bytes, above the limit of " + num(options.max_header_size) +
            " (write_options::max_header_size)");
  }
  std::uint64_t total = 0;
  if (!detail::checked_add(padded, plan.data_size_, total)) {
    return error(errc::validation_overflow, "the file's size overflows 64 bits");
  }
  json.append(static_cast<std::size_t>(padded - unpadded), ' ');
  for (int i = 0; i < 8; ++i)
    json[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return plan;
}

namespace detail {
constexpr std::size_t write_buffer_size = std::size_t{4} << 20;

/// Sequential buffered output into an atomic_file: small pieces are gathered into one buffer,
/// large ones go straight from the caller's memory. Reports progress after every write.
class buffered_output {
 public:
  buffered_output(atomic_file& file, std::uint64_t total, const progress_callback& progress)
      : file_(file), total_(total), progress_(progress) {}

  result<void> put(const std::byte* data, std::size_t n) {
    if (n >= write_buffer_size / 2) {  // large: straight from the caller's memory
      if (auto r = flush(); !r) return r;
      return write(data, n);
    }
    if (buffer_.empty()) buffer_.resize(write_buffer_size);
    if (n > buffer_.size() - used_) {
      if (auto r = flush(); !r) return r;
    }
    if (n != 0) std::memcpy(buffer_.data() + used_, data, n);
    used_ += n;
    return {};
  }

  /// Lets `producer` fill `n` bytes, in pieces of at most the buffer's size.
  result<void> produce(const tensor_producer& producer, std::uint64_t n, std::string_view name) {
    if (buffer_.empty()) buffer_.resize(write_buffer_size);
    std::uint64_t done = 0;
    while (done < n) {
      if (used_ == buffer_.size()) {
        if (auto r = flush(); !r) return r;
      }
      const auto room = static_cast<std::uint64_t>(buffer_.size() - used_);
      const auto piece = static_cast<std::size_t>(std::min(room, n - done));
      auto r = producer(done, span<std::byte>(buffer_.data() + used_, piece));
      if (!r) {
        return error(r.error().code(), "tensor " + quote(name) + ": the producer failed at byte " +
                                           num(done) + ": " + r.error().message());
      }
      used_ += piece;
      done += piece;
    }
    return {};
  }

  result<void> flush() {
    if (used_ == 0) return {};
    const std::size_t n = std::exchange(used_, 0);
    return write(buffer_.data(), n);
  }

 private:
  result<void> write(const std::byte* data, std::size_t n) {
    if (auto r = file_.write_at(position_, data, n); !r) return r;
    position_ += n;
    if (progress_) progress_(position_, total_);
    return {};
  }
  atomic_file& file_;
  std::uint64_t total_;
  const progress_callback& progress_;
  std::vector<std::byte> buffer_;
  std::size_t used_ = 0;
  std::uint64_t position_ = 0;
};

inline result<void> check_size_t(std::uint64_t size, const char* what) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::invalid_argument,
                 std::string(what) + " of " + num(size) + " bytes exceeds the address space");
  }
  return {};
}

template <class P>
result<atomic_file> create_atomic(const P& path) {
  if constexpr (is_path_v<P>) {
    auto native = to_native(path);
    if (!native) return native.error();
    return atomic_file::create(std::move(*native), display_path(path));
  } else {
    const std::string_view utf8(path);
    auto native = to_native(utf8);
    if (!native) return native.error();
    return atomic_file::create(std::move(*native), display_path(utf8));
  }
}

template <class P>
inline constexpr bool is_path_like_v =
    is_path_v<P> || std::is_convertible_v<const P&, std::string_view>;
}  // namespace detail

/// Serializes tensors and metadata into memory, byte-identical to the reference writer (with
/// metadata keys sorted). The input order does not matter.
inline result<std::vector<std::byte>> serialize(
    const std::vector<tensor_spec>& tensors,
    const std::optional<metadata_map>& metadata = std::nullopt, const write_options& options = {}) {
  auto plan = write_plan::create(tensors, metadata, options);
  if (!plan) return plan.error();
  if (auto r = detail::check_size_t(plan->file_size(), "a file"); !r) return r.error();
  std::vector<std::byte> out(static_cast<std::size_t>(plan->file_size()));
  const auto prefix = plan->prefix();
  std::memcpy(out.data(), prefix.data(), prefix.size());
  std::byte* data = out.data() + prefix.size();
  for (const planned_tensor& p : plan->tensors()) {
    const tensor_spec& t = tensors[p.input_index];
    const auto size = static_cast<std::size_t>(p.byte_size());
    std::byte* dst = data + p.offsets.begin;
    if (size == 0) continue;  // producers are never called for zero bytes
    if (t.producer) {
      auto r = t.producer(0, span<std::byte>(dst, size));
      if (!r) {
        return error(r.error().code(), "tensor " + detail::quote(p.name) +
                                           ": the producer failed: " + r.error().message());
      }
    } else {
      std::memcpy(dst, t.bytes.data(), size);
    }
  }
  return out;
}

/// Writes tensors and metadata to `path` (UTF-8 string or std::filesystem::path) atomically: a
/// temporary file in the same directory, flushed, then renamed over `path`. On any error the
/// temporary file is removed and an existing file at `path` is left untouched. On POSIX, readers
/// that have the old file mapped keep seeing the old bytes; on Windows, replacing a file that is
/// mapped fails with IoError and leaves both files as they were.
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<void> save_file(const P& path, const std::vector<tensor_spec>& tensors,
                       const std::optional<metadata_map>& metadata = std::nullopt,
                       const write_options& options = {}) {
  auto plan = write_plan::create(tensors, metadata, options);
  if (!plan) return plan.error();
  auto file = detail::create_atomic(path);
  if (!file) return file.error();
  detail::buffered_output out(*file, plan->file_size(), options.progress);
  const auto prefix = plan->prefix();
  if (auto r = out.put(prefix.data(), prefix.size()); !r) return r;
  for (const planned_tensor& p : plan->tensors()) {
    const tensor_spec& t = tensors[p.input_index];
    if (t.producer) {
      if (auto r = out.produce(t.producer, p.byte_size(), p.name); !r) return r;
    } else {
      if (auto r = out.put(t.bytes.data(), t.bytes.size()); !r) return r;
    }
  }
  if (auto r = out.flush(); !r) return r;
  return file->commit(options.sync);
}

/// A file written tensor by tensor, for data larger than memory: declare every tensor first
/// (this fixes the header), then write each tensor's bytes in chunks (a tensor's chunks in
/// order, tensors in any order), then commit(). Memory: the plan plus one I/O buffer. The file
/// appears at its path only on a successful commit(); destruction without commit discards it.
/// Move-only; not thread-safe.
class stream_writer {
 public:
  stream_writer() = default;
  stream_writer(stream_writer&&) noexcept = default;
  stream_writer& operator=(stream_writer&&) noexcept = default;
  ~stream_writer() = default;  // atomic_file's destructor removes an uncommitted temporary file

  /// Declares the tensors (their bytes and producers are ignored) and creates the temporary
  /// file. The same validation as write_plan::create, minus the byte counts.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<stream_writer> create(const P& path, const std::vector<tensor_spec>& tensors,
                                      const std::optional<metadata_map>& metadata = std::nullopt,
                                      const write_options& options = {}) {
    auto plan = write_plan::make(tensors, metadata, options, detail::plan_mode::declare_only);
    if (!plan) return plan.error();
    auto file = detail::create_atomic(path);
    if (!file) return file.error();
    stream_writer w;
    w.state_ = std::make_unique<state>(std::move(*plan), std::move(*file), options);
    if (auto r = w.state_->start(); !r) return r.error();
    return w;
  }

  /// Writes the next `chunk` of the tensor `name` (after the bytes already written for it).
  /// InvalidArgument when the chunk goes past the tensor's end; TensorNotFound for an unknown name.
  result<void> write(std::string_view name, span<const std::byte> chunk) {
    if (!state_) return error(errc::invalid_argument, "stream_writer: no file (moved from?)");
    return state_->write(name, chunk);
  }
  /// Bytes written so far for the tensor `name` (0 for an unknown name).
  std::uint64_t bytes_written(std::string_view name) const noexcept {
    if (!state_) return 0;
    const auto it = state_->index.find(name);
    return it == state_->index.end() ? 0 : state_->written[it->second];
  }
  /// The layout being written.
  const write_plan& plan() const noexcept {
    static const write_plan empty;
    return state_ ? state_->plan : empty;
  }
  /// Checks that every tensor is complete, flushes, syncs (write_options::sync) and renames the
  /// temporary file over the target. TensorInvalidInfo names an incomplete tensor (the writer
  /// stays usable); after any other error (or a write that failed with an I/O error, which
  /// commit() reports again) the writer is discarded.
  result<void> commit() {
    if (!state_) return error(errc::invalid_argument, "stream_writer: no file (moved from?)");
    if (!state_->failure) {
      if (auto e = state_->incomplete()) return std::move(*e);
    }
    auto r = state_->commit();
    state_.reset();
    return r;
  }
  /// Removes the temporary file; the target is left as it was.
  void discard() noexcept { state_.reset(); }

 private:
  struct state {
    state(write_plan p, detail::atomic_file f, const write_options& o)
        : plan(std::move(p)), file(std::move(f)), progress(o.progress), sync(o.sync) {
      written.assign(plan.tensors().size(), 0);
      index.reserve(plan.tensors().size());
      for (std::size_t i = 0; i < plan.tensors().size(); ++i)
        index.emplace(plan.tensors()[i].name, i);
    }
    result<void> start() {
      if (auto r = file.set_size(plan.file_size()); !r) return r;
      const auto prefix = plan.prefix();
      return put(0, prefix.data(), prefix.size());
    }
    result<void> write(std::string_view name, span<const std::byte> chunk) {
      if (failure) return *failure;
      const auto it = index.find(name);
      if (it == index.end()) {
        return error(errc::tensor_not_found,
                     "stream_writer: no tensor named " + detail::quote(name) + " was declared");
      }
      const planned_tensor& t = plan.tensors()[it->second];
      std::uint64_t& done = written[it->second];
      if (chunk.size() > t.byte_size() - done) {
        return error(errc::invalid_argument, "stream_writer: tensor " + detail::quote(name) +
                                                 " has " + detail::num(t.byte_size() - done) +
                                                 " bytes left, but the chunk has " +
                                                 detail::num(chunk.size()));
      }
      if (chunk.empty()) return {};
      if (chunk.data() == nullptr)
        return error(errc::invalid_argument, "stream_writer: null chunk");
      const std::uint64_t at = plan.prefix().size() + t.offsets.begin + done;
      if (auto r = put(at, chunk.data(), chunk.size()); !r) {
        failure = r.error();
        return r;
      }
      done += chunk.size();
      return {};
    }
    result<void> put(std::uint64_t at, const std::byte* data, std::size_t n) {
      // Gather a chunk into the buffer when it continues the buffered bytes.
      if (used != 0 && at == buffer_at + used && n <= buffer.size() - used) {
        std::memcpy(buffer.data() + used, data, n);
        used += n;
        accepted += n;
        return {};
      }
      if (auto r = flush(); !r) return r;
      accepted += n;
      if (n >= detail::write_buffer_size / 2) {
        if (auto r = file.write_at(at, data, n); !r) return r;
        report();
        return {};
      }
      if (buffer.empty()) buffer.resize(detail::write_buffer_size);
      std::memcpy(buffer.data(), data, n);
      buffer_at = at;
      used = n;
      return {};
    }
    result<void> flush() {
      if (used == 0) return {};
      const std::size_t n = std::exchange(used, 0);
      if (auto r = file.write_at(buffer_at, buffer.data(), n); !r) return r;
      report();
      return {};
    }
    void report() {
      if (progress) progress(accepted, plan.file_size());
    }
    std::optional<error> incomplete() const {
      for (std::size_t i = 0; i < written.size(); ++i) {
        const planned_tensor& t = plan.tensors()[i];
        if (written[i] != t.byte_size()) {
          return error(errc::tensor_invalid_info, "stream_writer: tensor " + detail::quote(t.name) +
                                                      " is incomplete: " + detail::num(written[i]) +
                                                      " of " + detail::num(t.byte_size()) +
                                                      " bytes written");
        }
      }
      return std::nullopt;
    }
    result<void> commit() {
      if (failure) return *failure;
      if (auto r = flush(); !r) return r;
      return file.commit(sync);
    }

    write_plan plan;
    detail::atomic_file file;
    progress_callback progress;
    bool sync;
    std::optional<error> failure;  // the first failed write: every later call reports it
    std::vector<std::uint64_t> written;
    std::unordered_map<std::string_view, std::size_t> index;  // views into plan's names
    std::vector<std::byte> buffer;
    std::uint64_t buffer_at = 0;
    std::size_t used = 0;
    std::uint64_t accepted = 0;
  };
  std::unique_ptr<state> state_;  // stable address: index holds views into the plan's names
};

// ---------------------------------------------------------------------------------------------
// 8. Sharded checkpoints (DESIGN §7): the Hugging Face `<prefix>.safetensors.index.json`
//    convention. Read: parse_index → checkpoint (shards opened lazily) → lookup, iteration,
//    verify, merge. Write: shard_layout (greedy packing) → save_sharded / sharded_stream_writer.
// ---------------------------------------------------------------------------------------------

/// The default maximum shard size of the Hub tools: 5 GB in decimal units (tensor bytes only).
inline constexpr std::uint64_t default_max_shard_size = 5'000'000'000;

/// One entry of an index's `weight_map`: a tensor name and the index of its shard's file name.
struct index_entry {
  std::string name;       ///< the tensor's name
  std::size_t shard = 0;  ///< position in shard_index::shards
};

/// A parsed `model.safetensors.index.json`.
struct shard_index {
  /// The `metadata` object with every key (any JSON values); null when absent or `null`.
  nlohmann::json metadata;
  /// The distinct shard file names, sorted by bytes; each a plain file name (validated).
  std::vector<std::string> shards;
  /// The `weight_map`, sorted by tensor name bytes.
  std::vector<index_entry> weight_map;

  /// `metadata.total_size` when it is a non-negative integer; nullopt otherwise (informational).
  std::optional<std::uint64_t> total_size() const noexcept {
    if (!metadata.is_object()) return std::nullopt;
    const auto it = metadata.find("total_size");
    if (it == metadata.end()) return std::nullopt;
    if (const auto* u = it->get_ptr<const nlohmann::json::number_unsigned_t*>()) return *u;
    return std::nullopt;
  }
  /// The shard (position in `shards`) of the tensor `name`, or nullopt. O(log n).
  std::optional<std::size_t> find(std::string_view name) const noexcept {
    const auto it = std::lower_bound(
        weight_map.begin(), weight_map.end(), name,
        [](const index_entry& e, std::string_view n) { return std::string_view(e.name) < n; });
    if (it == weight_map.end() || it->name != name) return std::nullopt;
    return it->shard;
  }
};

namespace detail {
/// Nesting limit of an index: the same as a header's (the top-level object is level 1).
inline constexpr std::size_t index_max_depth = 127;

/// Why `name` is not a plain file name that stays inside the index's directory, or nullopt.
/// Rejected: empty, "." and "..", '/', '\\', ':' (drive and stream designators on Windows),
/// control characters (NUL included), Windows device names (CON, NUL, COM1, ...).
inline std::optional<std::string> shard_name_problem(std::string_view name) {
  if (name.empty()) return std::string("is empty");
  if (name == "." || name == "..") return std::string("names a directory, not a file");
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '\\') return std::string("contains a path separator");
    if (c == ':') return std::string("contains ':' (a drive or stream designator on Windows)");
    if (c < 0x20 || c == 0x7f) return std::string("contains a control character");
  }
  // Windows device names, with or without an extension, in any case.
  std::string stem(name.substr(0, name.find('.')));
  while (!stem.empty() && stem.back() == ' ') stem.pop_back();
  for (char& ch : stem) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  const bool device =
      stem == "CON" || stem == "PRN" || stem == "AUX" || stem == "NUL" ||
      (stem.size() == 4 && (stem.compare(0, 3, "COM") == 0 || stem.compare(0, 3, "LPT") == 0) &&
       stem[3] >= '0' && stem[3] <= '9');
  if (device) return std::string("is a Windows device name");
  return std::nullopt;
}

/// A std::filesystem::path from a UTF-8 string on every platform (not the ANSI code page).
inline result<std::filesystem::path> path_from_utf8(std::string_view utf8) {
#if SAFETENSORS_WINDOWS
  auto native = to_native(utf8);
  if (!native) return native.error();
  return std::filesystem::path(std::move(*native));
#else
  return std::filesystem::path(std::string(utf8));
#endif
}

template <class P>
result<std::filesystem::path> to_fs_path(const P& path) {
  if constexpr (is_path_v<P>) {
    return path;
  } else {
    return path_from_utf8(std::string_view(path));
  }
}

/// The index parser: one SAX pass that checks the shape, the nesting depth and duplicate keys
/// in every object (nlohmann's DOM would keep the last duplicate silently), collects the
/// weight_map as (name, shard) pairs and builds the JSON of `metadata` (and, to check them, of
/// other top-level values, then dropped).
class index_sax {
 public:
  using json = nlohmann::json;

  bool null() { return value(json(nullptr), "null"); }
  bool boolean(bool v) { return value(json(v), "boolean"); }
  bool number_integer(json::number_integer_t v) { return value(json(v), "number"); }
  bool number_unsigned(json::number_unsigned_t v) { return value(json(v), "number"); }
  bool number_float(json::number_float_t v, const std::string&) { return value(json(v), "number"); }
  bool string(std::string& v) {
    if (region_ == region::weight_map && stack_.empty() && depth_ == 2) {
      entries_.emplace_back(std::move(key_), std::move(v));
      return true;
    }
    return value(json(std::move(v)), "string");
  }
  bool binary(json::binary_t&) { return fail("binary values are not JSON"); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (depth_ == 1) {  // a top-level key
      if (std::find(top_keys_.begin(), top_keys_.end(), k) != top_keys_.end()) {
        return fail(errc::duplicate_key, "the key " + quote(k) + " appears twice in the index");
      }
      top_keys_.push_back(k);
      region_ = k == "metadata"     ? region::metadata
                : k == "weight_map" ? region::weight_map
                                    : region::other;
      return true;
    }
    if (!stack_.empty()) {  // inside a value being built
      const json& obj = *stack_.back();
      if (obj.contains(k)) {
        return fail(errc::duplicate_key,
                    "the key " + quote(k) + " appears twice in an object of " + region_name());
      }
    }
    key_ = std::move(k);
    return true;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    std::string what = ex.what();
    if (!what.empty() && what[0] == '[') {  // drop "[json.exception.parse_error.101] "
      const auto close_at = what.find("] ");
      if (close_at != std::string::npos) what.erase(0, close_at + 2);
    }
    return fail(errc::invalid_header_deserialization, "invalid JSON: " + what);
  }

  const std::optional<error>& failure() const noexcept { return failure_; }
  bool saw_weight_map() const noexcept {
    return std::find(top_keys_.begin(), top_keys_.end(), "weight_map") != top_keys_.end();
  }
  json& metadata() noexcept { return metadata_; }
  std::vector<std::pair<std::string, std::string>>& entries() noexcept { return entries_; }

 private:
  enum class region : std::uint8_t { top, metadata, weight_map, other };

  bool fail(std::string message) {
    return fail(errc::invalid_header_deserialization, std::move(message));
  }
  bool fail(errc code, std::string message) {
    if (!failure_) failure_.emplace(code, std::move(message));
    return false;
  }
  std::string region_name() const {
    return region_ == region::metadata ? "\"metadata\""
                                       : "the top-level key " + quote(top_keys_.back());
  }

  /// A scalar (or a finished container, via close()) at the current position.
  bool value(json v, const char* type) {
    if (depth_ == 0) return fail(std::string("the index is a JSON ") + type + ", not an object");
    if (!stack_.empty()) {
      json& parent = *stack_.back();
      if (parent.is_array()) {
        parent.get_ptr<json::array_t*>()->push_back(std::move(v));
      } else {
        (*parent.get_ptr<json::object_t*>())[std::move(key_)] = std::move(v);
      }
      return true;
    }
    // A direct value of a top-level key.
    switch (region_) {
      case region::metadata:
        if (!v.is_null()) {
          return fail(std::string("\"metadata\" is a JSON ") + type + ", not an object");
        }
        metadata_ = nullptr;
        return true;
      case region::weight_map:
        if (depth_ == 1) {
          return fail(std::string("\"weight_map\" is a JSON ") + type + ", not an object");
        }
        return fail("weight_map[" + quote(key_) + "] is a JSON " + type +
                    ", not a shard file name");
      default:
        return true;  // another top-level key's scalar: ignored
    }
  }

  bool open(bool object) {
    if (depth_ >= index_max_depth) {
      return fail("the index nests deeper than " + num(index_max_depth) + " levels");
    }
    ++depth_;
    if (depth_ == 1) {
      if (!object) return fail("the index is a JSON array, not an object");
      return true;
    }
    const char* type = object ? "object" : "array";
    json fresh = object ? json::object() : json::array();
    if (!stack_.empty()) {
      json& parent = *stack_.back();
      json* child = nullptr;
      if (parent.is_array()) {
        auto& a = *parent.get_ptr<json::array_t*>();
        a.push_back(std::move(fresh));
        child = &a.back();  // stable: the parent does not grow while the child is open
      } else {
        child = &((*parent.get_ptr<json::object_t*>())[std::move(key_)] = std::move(fresh));
      }
      stack_.push_back(child);
      return true;
    }
    switch (region_) {
      case region::metadata:
        if (!object) return fail(std::string("\"metadata\" is a JSON ") + type + ", not an object");
        metadata_ = std::move(fresh);
        stack_.push_back(&metadata_);
        return true;
      case region::weight_map:
        if (depth_ == 2) {
          if (!object) return fail("\"weight_map\" is a JSON array, not an object");
          return true;  // entries are collected by string()
        }
        return fail("weight_map[" + quote(key_) + "] is a JSON " + type +
                    ", not a shard file name");
      default:
        other_ = std::move(fresh);  // built only to check it, then dropped
        stack_.push_back(&other_);
        return true;
    }
  }

  bool close() {
    if (!stack_.empty()) stack_.pop_back();
    --depth_;
    if (stack_.empty() && depth_ == 1 && region_ == region::other) other_ = nullptr;
    return true;
  }

  std::size_t depth_ = 0;
  region region_ = region::top;
  std::vector<std::string> top_keys_;
  std::string key_;
  std::vector<json*> stack_;  // containers being built (metadata or another top-level value)
  json metadata_;
  json other_;
  std::vector<std::pair<std::string, std::string>> entries_;
  std::optional<error> failure_;
};

/// Appends `s` as a JSON string the way Python's json.dumps(ensure_ascii=True) writes it:
/// `\"` `\\` `\b\f\n\r\t`, other bytes below 0x20 and 0x7f and every non-ASCII character as
/// lowercase `\uXXXX` (surrogate pairs above U+FFFF). False when `s` is not valid UTF-8.
inline bool append_python_string(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  if (utf8_error_offset(p, n) != n) return false;
  static const char hex[] = "0123456789abcdef";
  auto u = [&out](std::uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 15];
  };
  out += '"';
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            u(c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else if (c >= 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else {
      len = 2;
      cp = c & 0x1Fu;
    }
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3Fu);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u(0xD800 + (cp >> 10));
      u(0xDC00 + (cp & 0x3FF));
    } else {
      u(cp);
    }
  }
  out += '"';
  return true;
}

/// A double as Python's repr() writes it: the shortest digits that read back as the same
/// double (the closest such when there are several), fixed notation for exponents -4 to 15,
/// else `1e+16` style; NaN and infinities as Python's json writes them.
inline std::string python_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-Infinity" : "Infinity";
  char buf[64];
  for (int precision = 0; precision < 17; ++precision) {  // %.Ne is correctly rounded
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string digits;
  bool negative = false;
  int exponent = 0;
  const char* s = buf;
  if (*s == '-') {
    negative = true;
    ++s;
  }
  for (; *s != '\0' && *s != 'e' && *s != 'E'; ++s) {
    if (*s >= '0' && *s <= '9') digits += *s;  // skips the locale's decimal point
  }
  if (*s != '\0') exponent = std::atoi(s + 1);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int point = exponent + 1;  // digits before the decimal point
  const auto n = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    } else if (point >= n) {
      out += digits + std::string(static_cast<std::size_t>(point - n), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(point)) + "." +
             digits.substr(static_cast<std::size_t>(point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  const int e = point - 1;
  out += e < 0 ? "e-" : "e+";
  const int magnitude = e < 0 ? -e : e;
  if (magnitude < 10) out += '0';
  out += std::to_string(magnitude);
  return out;
}

/// Appends `j` as Python's json.dumps(j, indent=2, sort_keys=True, ensure_ascii=True) does,
/// at indentation `level`. InvalidArgument for a string that is not UTF-8 or deep nesting.
inline result<void> append_python_json(std::string& out, const nlohmann::json& j,
                                       std::size_t level) {
  if (level >= index_max_depth) {
    return error(errc::invalid_argument,
                 "index metadata nests deeper than " + num(index_max_depth) + " levels");
  }
  auto newline = [&out](std::size_t l) {
    out += '\n';
    out.append(2 * l, ' ');
  };
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out += "null";
      return {};
    case nlohmann::json::value_t::boolean:
      out += *j.get_ptr<const nlohmann::json::boolean_t*>() ? "true" : "false";
      return {};
    case nlohmann::json::value_t::number_integer:
      out += std::to_string(*j.get_ptr<const nlohmann::json::number_integer_t*>());
      return {};
    case nlohmann::json::value_t::number_unsigned:
      out += std::to_string(*j.get_ptr<const nlohmann::json::number_unsigned_t*>());
      return {};
    case nlohmann::json::value_t::number_float:
      out += python_float(*j.get_ptr<const nlohmann::json::number_float_t*>());
      return {};
    case nlohmann::json::value_t::string:
      if (!append_python_string(out, *j.get_ptr<const std::string*>())) {
        return error(errc::invalid_argument, "index metadata: a string is not valid UTF-8");
      }
      return {};
    case nlohmann::json::value_t::binary:
      return error(errc::invalid_argument, "index metadata: binary values have no JSON form");
    case nlohmann::json::value_t::array: {
      const auto& a = *j.get_ptr<const nlohmann::json::array_t*>();
      if (a.empty()) {
        out += "[]";
        return {};
      }
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i != 0) out += ',';
        newline(level + 1);
        if (auto r = append_python_json(out, a[i], level + 1); !r) return r;
      }
      newline(level);
      out += ']';
      return {};
    }
    case nlohmann::json::value_t::object: {
      const auto& o = *j.get_ptr<const nlohmann::json::object_t*>();  // std::map: byte order
      if (o.empty()) {
        out += "{}";
        return {};
      }
      out += '{';
      bool first = true;
      for (const auto& [key, value] : o) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        if (!append_python_string(out, key)) {
          return error(errc::invalid_argument, "index metadata: a key is not valid UTF-8");
        }
        out += ": ";
        if (auto r = append_python_json(out, value, level + 1); !r) return r;
      }
      newline(level);
      out += '}';
      return {};
    }
  }
  return {};
}
}  // namespace detail

/// Parses an index (`{"metadata": {...}, "weight_map": {tensor: shard file}}`) held in memory.
/// Errors: InvalidHeaderDeserialization (JSON syntax, a BOM or NUL byte, nesting deeper than
/// 127, no `weight_map` object, a shard name that is not a string or not a plain file name of
/// the index's directory, `metadata` neither an object nor null), DuplicateKey (a key twice in
/// any object, `weight_map` included). Other top-level keys are ignored.
inline result<shard_index> parse_index(std::string_view json) {
  using detail::quote;
  const auto* bytes = reinterpret_cast<const unsigned char*>(json.data());
  if (json.size() >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) {
    return error(errc::invalid_header_deserialization,
                 "invalid JSON: the index starts with a UTF-8 byte order mark");
  }
  if (const void* nul = json.empty() ? nullptr : std::memchr(json.data(), 0, json.size())) {
    return error(
        errc::invalid_header_deserialization,
        "invalid JSON: NUL byte at offset " +
            detail::num(static_cast<std::uint64_t>(static_cast<const char*>(nul) - json.data())));
  }
  detail::index_sax sax;
  const char* first = json.data();
  const bool ok = nlohmann::json::sax_parse(first, first + json.size(), &sax,
                                            nlohmann::json::input_format_t::json, true, false);
  if (!ok) {
    if (sax.failure()) return *sax.failure();
    return error(errc::invalid_header_deserialization, "invalid JSON");
  }
  if (!sax.saw_weight_map()) {
    return error(errc::invalid_header_deserialization, "the index has no \"weight_map\"");
  }
  auto& entries = sax.entries();
  const auto by_name = [](const auto& x, const auto& y) { return x.first < y.first; };
  if (!std::is_sorted(entries.begin(), entries.end(), by_name)) {  // sort_keys=True: sorted
    std::sort(entries.begin(), entries.end(), by_name);
  }
  // Distinct shard names, each checked once; then sorted, and the entries renumbered.
  std::unordered_map<std::string_view, std::size_t> first_seen;
  std::vector<std::size_t> shard_of(entries.size());
  std::vector<std::string_view> distinct;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0 && entries[i].first == entries[i - 1].first) {
      return error(errc::duplicate_key,
                   "the key " + quote(entries[i].first) + " appears twice in \"weight_map\"");
    }
    const std::string_view file = entries[i].second;
    const auto [it, inserted] = first_seen.emplace(file, distinct.size());
    if (inserted) {
      if (auto why = detail::shard_name_problem(file)) {
        return error(errc::invalid_header_deserialization,
                     "weight_map[" + quote(entries[i].first) + "]: the shard name " + quote(file) +
                         " " + *why + "; shards must be plain file names in the index's directory");
      }
      distinct.push_back(file);
    }
    shard_of[i] = it->second;
  }
  std::vector<std::size_t> order(distinct.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&distinct](std::size_t x, std::size_t y) { return distinct[x] < distinct[y]; });
  std::vector<std::size_t> rank(distinct.size());
  shard_index out;
  out.shards.reserve(distinct.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = k;
    out.shards.emplace_back(distinct[order[k]]);
  }
  out.metadata = std::move(sax.metadata());
  out.weight_map.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out.weight_map.push_back(index_entry{std::move(entries[i].first), rank[shard_of[i]]});
  }
  return out;
}

/// The index as `transformers` writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`
/// (ASCII only: other characters as \uXXXX). `metadata` is omitted when null. InvalidArgument
/// for a string that is not UTF-8 or a shard position out of range.
inline result<std::string> format_index(const shard_index& index) {
  std::string out = "{";
  bool first = true;
  if (!index.metadata.is_null()) {
    out += "\n  \"metadata\": ";
    if (auto r = detail::append_python_json(out, index.metadata, 1); !r) return r.error();
    first = false;
  }
  if (!first) out += ',';
  out += "\n  \"weight_map\": ";
  if (index.weight_map.empty()) {
    out += "{}";
  } else {
    out += '{';
    for (std::size_t i = 0; i < index.weight_map.size(); ++i) {
      const index_entry& e = index.weight_map[i];
      if (e.shard >= index.shards.size()) {
        return error(errc::invalid_argument,
                     "format_index: tensor " + detail::quote(e.name) + " has no shard");
      }
      if (i != 0) out += ',';
      out += "\n    ";
      if (!detail::append_python_string(out, e.name)) {
        return error(errc::invalid_argument,
                     "format_index: the tensor name " + detail::quote(e.name) + " is not UTF-8");
      }
      out += ": ";
      if (!detail::append_python_string(out, index.shards[e.shard])) {
        return error(errc::invalid_argument, "format_index: a shard name is not UTF-8");
      }
    }
    out += "\n  }";
  }
  out += "\n}\n";
  return out;
}

/// How a checkpoint reads its shards.
enum class shard_access : std::uint8_t {
  mapped,  ///< memory-mapped (open_mapped): zero-copy tensor views
  reader,  ///< pread / ReadFile (open_reader): read_into only, no mapping
};

/// Options of checkpoint::open.
struct checkpoint_options {
  /// Mapped (zero copy) or pread shards.
  shard_access access = shard_access::mapped;
  /// Applied to every shard.
  parse_options parse;
  /// Applied to every mapped shard.
  map_options map;
  /// A directory holds `<prefix>.safetensors.index.json` or `<prefix>.safetensors`.
  std::string prefix = "model";
  /// Largest index file accepted, in bytes (HeaderTooLarge above).
  std::uint64_t max_index_size = 100'000'000;
};

/// What verify() found. ok() when there is no problem.
struct verify_report {
  std::vector<error> problems;     ///< every problem, in the order found
  std::size_t tensor_count = 0;    ///< index entries found in their shards
  std::uint64_t tensor_bytes = 0;  ///< their byte sizes, summed
  std::size_t shards_opened = 0;   ///< shards that opened and validated
  /// True when no problem was found.
  bool ok() const noexcept { return problems.empty(); }
};

/// Options of checkpoint::verify.
struct verify_options {
  /// Do not report tensors that a shard holds but the index does not list (the index is the
  /// authority; some tools leave such tensors behind).
  bool allow_unlisted_tensors = false;
};

namespace detail {
struct shard_slot {
  std::string name;  // as in the index
  std::filesystem::path path;
  std::atomic<bool> ready{false};  // set (release) once the open was attempted
  std::mutex opening;
  std::optional<mapped_view> mapped;
  std::optional<source_reader> reader;
  std::optional<error> failure;

  void open(const checkpoint_options& o) {
    if (o.access == shard_access::mapped) {
      auto v = open_mapped(path, o.parse, o.map);
      if (v) {
        mapped.emplace(std::move(*v));
      } else {
        failure.emplace(v.error());
      }
    } else {
      auto r = open_reader(path, o.parse);
      if (r) {
        reader.emplace(std::move(*r));
      } else {
        failure.emplace(r.error());
      }
    }
  }
  const safetensors::header& header() const noexcept {
    return mapped ? mapped->header() : reader->header();
  }
};
}  // namespace detail

/// An opened shard of a checkpoint. A handle: valid while its checkpoint lives.
class shard_view {
 public:
  /// The shard's file name as the index gives it.
  const std::string& file_name() const noexcept { return slot_->name; }
  /// The shard's path (the index's directory joined with the file name).
  const std::filesystem::path& path() const noexcept { return slot_->path; }
  /// The shard's parsed header.
  const safetensors::header& header() const noexcept { return slot_->header(); }
  /// The mapped file, or nullptr when the checkpoint reads with shard_access::reader.
  const mapped_view* mapped() const noexcept { return slot_->mapped ? &*slot_->mapped : nullptr; }
  /// The pread reader, or nullptr when the checkpoint maps its shards.
  const source_reader* reader() const noexcept { return slot_->reader ? &*slot_->reader : nullptr; }
  /// Copies the bytes of `info` (an entry of this shard's header) into `dst`.
  result<void> read_into(const tensor_info& info, span<std::byte> dst) const {
    if (slot_->reader) return slot_->reader->read_into(info, dst);
    const data_offsets o = info.offsets();
    const auto& v = *slot_->mapped;
    if (o.end < o.begin || o.end > v.header().data_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " is not an entry of this shard");
    }
    if (dst.size() < info.byte_size()) {
      return error(errc::invalid_argument, "read_into: tensor " + detail::quote(info.name()) +
                                               " has " + detail::num(info.byte_size()) +
                                               " bytes, the buffer holds " +
                                               detail::num(dst.size()));
    }
    const auto bytes = v.view(info).bytes();
    if (!bytes.empty()) std::memcpy(dst.data(), bytes.data(), bytes.size());
    return {};
  }

 private:
  friend class checkpoint;
  explicit shard_view(const detail::shard_slot* slot) noexcept : slot_(slot) {}
  const detail::shard_slot* slot_;
};

/// A model in one file or in shards with an index, read as one: lookup, iteration in name order
/// with each tensor's shard, typed views (mapped) or read_into (both access modes), verify.
/// Shards are opened and validated on first use; a shard that fails to open keeps its error.
/// Thread-safety: every const member function may be called from several threads at once
/// (each shard opens once, under a lock); views and shard handles live as long as the checkpoint.
/// Move-only (moving does not invalidate views; do not move it while other threads use it).
class checkpoint {
 public:
  checkpoint() = default;
  checkpoint(checkpoint&&) noexcept = default;
  checkpoint& operator=(checkpoint&&) noexcept = default;

  /// Opens `path` (UTF-8 string or std::filesystem::path): a directory (its
  /// `<prefix>.safetensors.index.json`, else `<prefix>.safetensors`, else its only
  /// `*.safetensors.index.json`, else its only `*.safetensors`), an index file (`*.json`) or a
  /// single safetensors file. An index is parsed at once (parse_index's errors, prefixed with
  /// its path); shards open lazily, except a single file, which opens here.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<checkpoint> open(const P& path, const checkpoint_options& options = {}) {
    auto p = detail::to_fs_path(path);
    if (!p) return p.error();
    return open_path(*p, options);
  }

  /// A checkpoint over a parsed index whose shard names are relative to `directory` (the names
  /// are checked as parse_index does; the weight_map is sorted; a name twice is DuplicateKey).
  static result<checkpoint> from_index(shard_index index, const std::filesystem::path& directory,
                                       const checkpoint_options& options = {}) {
    checkpoint c;
    c.options_ = options;
    c.directory_ = directory;
    c.sharded_ = true;
    for (const std::string& name : index.shards) {
      if (auto why = detail::shard_name_problem(name)) {
        return error(errc::invalid_header_deserialization,
                     "the shard name " + detail::quote(name) + " " + *why);
      }
      auto file = detail::path_from_utf8(name);
      if (!file) return file.error();
      auto slot = std::make_unique<detail::shard_slot>();
      slot->name = name;
      slot->path = directory / *file;
      c.slots_.push_back(std::move(slot));
    }
    for (const index_entry& e : index.weight_map) {
      if (e.shard >= c.slots_.size()) {
        return error(errc::invalid_argument,
                     "from_index: tensor " + detail::quote(e.name) + " has no shard");
      }
    }
    auto& map = index.weight_map;  // parse_index sorts it; an index built by hand may not be
    if (!std::is_sorted(map.begin(), map.end(), [](const index_entry& a, const index_entry& b) {
          return a.name < b.name;
        })) {
      std::stable_sort(map.begin(), map.end(),
                       [](const index_entry& a, const index_entry& b) { return a.name < b.name; });
    }
    for (std::size_t i = 1; i < map.size(); ++i) {
      if (map[i].name == map[i - 1].name) {
        return error(errc::duplicate_key,
                     "the weight_map lists tensor " + detail::quote(map[i].name) + " twice");
      }
    }
    c.index_ = std::move(index);
    return c;
  }

  /// True when opened from an index (false for a single file).
  bool sharded() const noexcept { return sharded_; }
  /// The directory that holds the shards.
  const std::filesystem::path& directory() const noexcept { return directory_; }
  /// The index file's path (empty for a single file).
  const std::filesystem::path& index_path() const noexcept { return index_path_; }
  /// The index (for a single file: one shard, every tensor, null metadata).
  const shard_index& index() const noexcept { return index_; }
  /// Number of tensors (weight_map entries).
  std::size_t size() const noexcept { return index_.weight_map.size(); }
  /// The weight_map in tensor name order: each tensor's name and shard (see shard_name()).
  const std::vector<index_entry>& entries() const noexcept { return index_.weight_map; }
  /// Number of shard files.
  std::size_t shard_count() const noexcept { return slots_.size(); }
  /// The file name of shard `i` (unchecked).
  const std::string& shard_name(std::size_t i) const noexcept { return slots_[i]->name; }
  /// The shard of tensor `name` per the index, or nullopt.
  std::optional<std::size_t> shard_of(std::string_view name) const noexcept {
    return index_.find(name);
  }
  /// True when the index lists `name`.
  bool contains(std::string_view name) const noexcept { return index_.find(name).has_value(); }

  /// Shard `i`, opened (and fully validated) on first use: IoError, a parse error, or
  /// InvalidArgument for `i` out of range.
  result<shard_view> shard(std::size_t i) const {
    if (i >= slots_.size()) {
      return error(errc::invalid_argument, "shard " + detail::num(i) + " of " +
                                               detail::num(slots_.size()) + " does not exist");
    }
    detail::shard_slot& s = *slots_[i];
    // Double-checked: std::mutex needs no -pthread on older glibc, unlike std::call_once.
    if (!s.ready.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(s.opening);
      if (!s.ready.load(std::memory_order_relaxed)) {
        s.open(options_);
        s.ready.store(true, std::memory_order_release);
      }
    }
    if (s.failure) return *s.failure;
    return shard_view(&s);
  }

  /// The table entry of tensor `name` (opens its shard). TensorNotFound when the index does not
  /// list it or its shard does not hold it.
  result<tensor_info> info(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    return s->second;
  }
  /// A zero-copy view of tensor `name` (shard_access::mapped; InvalidArgument with reader).
  result<tensor_view> tensor(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    const mapped_view* m = s->first.mapped();
    if (m == nullptr) {
      return error(errc::invalid_argument,
                   "tensor(): the checkpoint reads its shards with shard_access::reader; use "
                   "read_into or read");
    }
    return m->view(s->second);
  }
  /// Copies the bytes of tensor `name` into `dst` (at least its byte size), in either mode.
  result<void> read_into(std::string_view name, span<std::byte> dst) const {
    auto s = locate(name);
    if (!s) return s.error();
    return s->first.read_into(s->second, dst);
  }
  /// The bytes of tensor `name` in a new vector.
  result<std::vector<std::byte>> read(std::string_view name) const {
    auto s = locate(name);
    if (!s) return s.error();
    if (auto r = detail::check_size_t(s->second.byte_size(), "a tensor"); !r) return r.error();
    std::vector<std::byte> out(static_cast<std::size_t>(s->second.byte_size()));
    if (auto r = s->first.read_into(s->second, span<std::byte>(out)); !r) return r.error();
    return out;
  }

  /// Opens every shard and checks the checkpoint against its index, reporting every problem:
  /// a shard that cannot be opened (IoError) or is invalid (its error), a listed tensor its
  /// shard does not hold (TensorNotFound), a tensor in two shards (DuplicateKey), a tensor of a
  /// shard the index does not list (TensorNotFound; see verify_options), and `total_size`
  /// (when present) that is not an integer or not the sum of the listed tensors' byte sizes
  /// (InvalidHeaderDeserialization).
  verify_report verify(const verify_options& options = {}) const {
    using detail::quote;
    verify_report report;
    std::vector<const safetensors::header*> headers(slots_.size(), nullptr);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto s = shard(i);
      if (!s) {
        report.problems.push_back(error(
            s.error().code(), "shard " + quote(slots_[i]->name) + ": " + s.error().message()));
        continue;
      }
      headers[i] = &s->header();
      ++report.shards_opened;
    }
    // Where each tensor name first appears, across shards in name order.
    std::unordered_map<std::string_view, std::size_t> holder;
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (headers[i] == nullptr) continue;
      for (const tensor_info t : headers[i]->tensors_by_name()) {
        const auto [it, inserted] = holder.emplace(t.name(), i);
        if (!inserted) {
          report.problems.push_back(
              error(errc::duplicate_key, "tensor " + quote(t.name()) + " is in shards " +
                                             quote(slots_[it->second]->name) + " and " +
                                             quote(slots_[i]->name)));
        }
      }
    }
    bool complete = true;
    for (const index_entry& e : index_.weight_map) {
      const safetensors::header* h = headers[e.shard];
      if (h == nullptr) {
        complete = false;
        continue;
      }
      if (auto t = h->find(e.name)) {
        ++report.tensor_count;
        report.tensor_bytes += t->byte_size();  // each <= a shard's size: no overflow in practice
      } else {
        complete = false;
        std::string elsewhere;
        if (const auto it = holder.find(e.name); it != holder.end()) {
          elsewhere = " (it is in shard " + quote(slots_[it->second]->name) + ")";
        }
        report.problems.push_back(
            error(errc::tensor_not_found, "tensor " + quote(e.name) + " is listed in shard " +
                                              quote(slots_[e.shard]->name) +
                                              ", which does not hold it" + elsewhere));
      }
    }
    if (!options.allow_unlisted_tensors) {
      for (std::size_t i = 0; i < headers.size(); ++i) {
        if (headers[i] == nullptr) continue;
        for (const tensor_info t : headers[i]->tensors_by_name()) {
          if (!index_.find(t.name())) {
            report.problems.push_back(error(
                errc::tensor_not_found, "shard " + quote(slots_[i]->name) + " holds tensor " +
                                            quote(t.name()) + ", which the index does not list"));
          }
        }
      }
    }
    if (sharded_ && index_.metadata.is_object()) {
      const auto it = index_.metadata.find("total_size");
      if (it != index_.metadata.end()) {
        const auto total = index_.total_size();
        if (!total) {
          report.problems.push_back(error(errc::invalid_header_deserialization,
                                          std::string("metadata.total_size is a JSON ") +
                                              it->type_name() + ", not a non-negative integer"));
        } else if (complete && *total != report.tensor_bytes) {
          report.problems.push_back(error(errc::invalid_header_deserialization,
                                          "metadata.total_size is " + detail::num(*total) +
                                              ", but the listed tensors hold " +
                                              detail::num(report.tensor_bytes) + " bytes"));
        }
      }
    }
    return report;
  }

  /// Every listed tensor as a tensor_spec for the writer, in name order: bytes referenced in the
  /// mapping (mapped) or a producer reading the shard (reader). Valid while the checkpoint lives.
  result<std::vector<tensor_spec>> specs() const {
    std::vector<tensor_spec> out;
    out.reserve(index_.weight_map.size());
    for (const index_entry& e : index_.weight_map) {
      auto s = locate(e.name);
      if (!s) return s.error();
      const tensor_info& t = s->second;
      tensor_spec spec;
      spec.name = e.name;
      spec.dtype = t.dtype();
      spec.shape.assign(t.shape().begin(), t.shape().end());
      if (const mapped_view* m = s->first.mapped()) {
        spec.bytes = m->view(t).bytes();
      } else {
        const source_reader* r = s->first.reader();
        const random_access_source* src = &r->source();
        const std::uint64_t base = r->header().data_offset() + t.offsets().begin;
        spec.producer = [src, base](std::uint64_t offset, span<std::byte> dst) -> result<void> {
          return src->read_at(base + offset, dst.data(), dst.size());
        };
      }
      out.push_back(std::move(spec));
    }
    return out;
  }

  /// The shards' `__metadata__` merged (shards in name order; the first value of a key wins);
  /// nullopt when no shard has metadata. Opens every shard.
  result<std::optional<metadata_map>> merged_metadata() const {
    std::optional<metadata_map> out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto s = shard(i);
      if (!s) return s.error();
      const auto& md = s->header().metadata();
      if (!md) continue;
      if (!out) out.emplace();
      for (const auto& kv : *md) out->insert(kv);
    }
    return out;
  }

 private:
  static result<checkpoint> open_path(const std::filesystem::path& p,
                                      const checkpoint_options& options) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return open_directory(p, options);
    if (p.extension() == ".json") return open_index_file(p, options);
    return open_single(p, options);
  }

  static result<checkpoint> open_directory(const std::filesystem::path& dir,
                                           const checkpoint_options& options) {
    namespace fs = std::filesystem;
    if (auto why = detail::shard_name_problem(options.prefix)) {
      return error(errc::invalid_argument,
                   "checkpoint_options::prefix " + detail::quote(options.prefix) + " " + *why);
    }
    auto index_name = detail::path_from_utf8(options.prefix + ".safetensors.index.json");
    if (!index_name) return index_name.error();
    auto single_name = detail::path_from_utf8(options.prefix + ".safetensors");
    if (!single_name) return single_name.error();
    std::error_code ec;
    if (fs::is_regular_file(dir / *index_name, ec))
      return open_index_file(dir / *index_name, options);
    if (fs::is_regular_file(dir / *single_name, ec))
      return open_single(dir / *single_name, options);
    std::vector<fs::path> indexes;
    std::vector<fs::path> files;
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = detail::display_path(it->path().filename());
      auto ends_with = [&name](std::string_view suffix) {
        return name.size() > suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      std::error_code fec;
      if (!fs::is_regular_file(it->path(), fec)) continue;
      if (ends_with(".safetensors.index.json")) indexes.push_back(it->path());
      if (ends_with(".safetensors")) files.push_back(it->path());
    }
    const std::string shown = detail::display_path(dir);
    if (ec) {
      return error(errc::io_error, "cannot list " + detail::quote(shown) + ": " + ec.message());
    }
    if (indexes.size() == 1) return open_index_file(indexes.front(), options);
    if (indexes.empty() && files.size() == 1) return open_single(files.front(), options);
    if (indexes.size() > 1 || files.size() > 1) {
      return error(errc::invalid_argument,
                   "the directory " + detail::quote(shown) + " holds several " +
                       (indexes.size() > 1 ? "indexes" : "safetensors files") + " and no " +
                       detail::quote(options.prefix + ".safetensors.index.json") + " or " +
                       detail::quote(options.prefix + ".safetensors") +
                       "; name the file, or set checkpoint_options::prefix");
    }
    return error(errc::io_error, "the directory " + detail::quote(shown) + " holds no " +
                                     detail::quote(options.prefix + ".safetensors.index.json") +
                                     " and no safetensors file");
  }

  static result<checkpoint> open_index_file(const std::filesystem::path& p,
                                            const checkpoint_options& options) {
    const std::string shown = detail::display_path(p);
    auto source = file_source::open(p);
    if (!source) return source.error();
    const std::uint64_t size = (*source)->size();
    if (size > options.max_index_size) {
      return error(errc::header_too_large, detail::quote(shown) + ": the index has " +
                                               detail::num(size) + " bytes, above the limit of " +
                                               detail::num(options.max_index_size) +
                                               " (checkpoint_options::max_index_size)");
    }
    if (auto r = detail::check_size_t(size, "an index"); !r) return r.error();
    std::string text(static_cast<std::size_t>(size), '\0');
    if (size != 0) {
      if (auto r = (*source)->read_at(0, text.data(), text.size()); !r) return r.error();
    }
    auto index = parse_index(text);
    if (!index) {
      return error(index.error().code(), detail::quote(shown) + ": " + index.error().message());
    }
    auto c = from_index(std::move(*index), p.parent_path(), options);
    if (!c) return c.error();
    c->index_path_ = p;
    return c;
  }

  static result<checkpoint> open_single(const std::filesystem::path& p,
                                        const checkpoint_options& options) {
    checkpoint c;
    c.options_ = options;
    c.directory_ = p.parent_path();
    auto slot = std::make_unique<detail::shard_slot>();
    slot->name = detail::display_path(p.filename());
    slot->path = p;
    c.slots_.push_back(std::move(slot));
    c.index_.shards.push_back(c.slots_.front()->name);
    auto s = c.shard(0);
    if (!s) return s.error();
    const safetensors::header& h = s->header();
    c.index_.weight_map.reserve(h.size());
    for (const tensor_info t : h.tensors_by_name()) {
      c.index_.weight_map.push_back(index_entry{std::string(t.name()), 0});
    }
    return c;
  }

  result<std::pair<shard_view, tensor_info>> locate(std::string_view name) const {
    const auto i = index_.find(name);
    if (!i) {
      return error(errc::tensor_not_found,
                   "the checkpoint has no tensor named " + detail::quote(name));
    }
    auto s = shard(*i);
    if (!s) return s.error();
    auto t = s->header().find(name);
    if (!t) {
      return error(errc::tensor_not_found,
                   "tensor " + detail::quote(name) + " is listed in shard " +
                       detail::quote(slots_[*i]->name) + ", which does not hold it");
    }
    return std::pair<shard_view, tensor_info>(*s, *t);
  }

  checkpoint_options options_;
  std::filesystem::path directory_;
  std::filesystem::path index_path_;
  shard_index index_;
  std::vector<std::unique_ptr<detail::shard_slot>> slots_;  // stable addresses for views
  bool sharded_ = false;
};

/// Writes every listed tensor of `ckpt` into one file at `path`, atomically, with the shards'
/// merged `__metadata__` (checkpoint::merged_metadata). Tensors a shard holds but the index
/// does not list are not written. Byte-identical to a file the canonical writer wrote with the
/// same tensors and metadata (a split of it merges back to the same bytes).
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<void> merge_checkpoint(const checkpoint& ckpt, const P& path,
                              const write_options& options = {}) {
  auto specs = ckpt.specs();
  if (!specs) return specs.error();
  auto md = ckpt.merged_metadata();
  if (!md) return md.error();
  return save_file(path, *specs, *md, options);
}

/// Parses a size: plain bytes ("1048576", "512B"), decimal units as the Hub uses them ("5GB" =
/// 5,000,000,000; KB, MB, GB, TB), or binary units ("10GiB"; KiB, MiB, GiB, TiB). Units are
/// case-insensitive, a decimal fraction is allowed ("1.5GB"; the result is rounded down),
/// spaces around the number and unit are ignored. InvalidArgument otherwise or on overflow.
inline result<std::uint64_t> parse_size(std::string_view text) {
  const std::string shown = detail::quote(text);
  auto bad = [&shown](const std::string& why) {
    return error(errc::invalid_argument,
                 "the size " + shown + " " + why + " (examples: 5GB, 500MB, 10GiB, 1048576)");
  };
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::size_t i = 0;
  std::uint64_t mantissa = 0;
  std::size_t digits = 0;
  std::size_t fraction = 0;
  bool dot = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    if (!detail::checked_mul(mantissa, 10, mantissa) ||
        !detail::checked_add(mantissa, static_cast<std::uint64_t>(c - '0'), mantissa) ||
        fraction > 18) {
      return bad("is too large or too precise");
    }
    ++digits;
    if (dot) ++fraction;
  }
  if (digits == 0) return bad("does not start with a number");
  while (i < text.size() && is_space(text[i])) ++i;
  std::string unit(text.substr(i));
  for (char& c : unit) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  std::uint64_t multiplier = 0;
  static const std::pair<std::string_view, std::uint64_t> units[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1'000},
      {"MB", 1'000'000},
      {"GB", 1'000'000'000},
      {"TB", 1'000'000'000'000},
      {"KIB", std::uint64_t{1} << 10},
      {"MIB", std::uint64_t{1} << 20},
      {"GIB", std::uint64_t{1} << 30},
      {"TIB", std::uint64_t{1} << 40},
  };
  for (const auto& [name, value] : units) {
    if (unit == name) multiplier = value;
  }
  if (multiplier == 0) return bad("has an unknown unit");
  std::uint64_t scaled = 0;
  if (!detail::checked_mul(mantissa, multiplier, scaled)) return bad("is too large");
  std::uint64_t divisor = 1;
  for (std::size_t k = 0; k < fraction; ++k) divisor *= 10;
  return scaled / divisor;
}

/// Options of the sharded writers.
struct sharded_write_options {
  /// Largest sum of tensor byte sizes in one shard (headers not counted), as the Hub tools
  /// count. A tensor larger than this gets a shard of its own.
  std::uint64_t max_shard_size = default_max_shard_size;
  /// File names: `<prefix>-00001-of-00003.safetensors`, `<prefix>.safetensors.index.json`, or
  /// `<prefix>.safetensors` for a single shard ("model", "diffusion_pytorch_model", ...).
  std::string prefix = "model";
  /// Every shard's `__metadata__` (transformers' loader wants "format" in pt/tf/flax/mlx).
  std::optional<metadata_map> shard_metadata = metadata_map{{"format", "pt"}};
  /// Extra keys for the index's `metadata` object (any JSON values; must be an object or null).
  /// `total_size` is always the computed sum and replaces a `total_size` given here.
  nlohmann::json index_metadata;
  /// Alignment, header limit, sync and progress of every shard file (progress: bytes over all
  /// shards for save_sharded, per shard file for sharded_stream_writer).
  write_options write;
};

/// How tensors are assigned to shards, as huggingface_hub's split_state_dict_into_shards does:
/// tensors in the caller's order are packed greedily until the next one would exceed
/// max_shard_size; a tensor larger than the limit gets a shard of its own, placed before the
/// shard being filled. Only tensor bytes count; the names and the index are computed here.
class shard_layout {
 public:
  /// Plans `tensors` (their bytes are not read; dtype and shape give the sizes). Errors:
  /// DuplicateKey, InvalidTensorName (`__metadata__`), InvalidArgument (a prefix that is not a
  /// plain file name, a name that is not UTF-8, index_metadata not an object), ValidationOverflow,
  /// MisalignedSlice.
  static result<shard_layout> create(const std::vector<tensor_spec>& tensors,
                                     const sharded_write_options& options = {}) {
    using detail::quote;
    auto why = detail::shard_name_problem(options.prefix);
    if (!why) why = detail::shard_name_problem(options.prefix + ".safetensors");
    if (why) {
      return error(errc::invalid_argument,
                   "sharded_write_options::prefix " + quote(options.prefix) + " " + *why);
    }
    if (auto e = detail::check_utf8(options.prefix, "the prefix")) return std::move(*e);
    if (!options.index_metadata.is_object() && !options.index_metadata.is_null()) {
      return error(errc::invalid_argument,
                   "sharded_write_options::index_metadata must be a JSON object");
    }
    std::vector<std::uint64_t> sizes(tensors.size());
    std::vector<std::string_view> names;
    names.reserve(tensors.size());
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const tensor_spec& t = tensors[i];
      if (t.name == "__metadata__") {
        return error(errc::invalid_tensor_name,
                     "a tensor cannot be named '__metadata__': that key holds the metadata");
      }
      if (auto e = detail::check_utf8(t.name, "the tensor name")) return std::move(*e);
      if (static_cast<std::size_t>(t.dtype) >= dtype_count) {
        return error(errc::invalid_argument, "tensor " + quote(t.name) + ": invalid dtype value");
      }
      auto size = detail::spec_byte_size(t.name, t.dtype,
                                         span<const std::uint64_t>(t.shape.data(), t.shape.size()));
      if (!size) return size.error();
      sizes[i] = *size;
      if (!detail::checked_add(total, *size, total)) {
        return error(errc::validation_overflow, "the checkpoint's size overflows 64 bits");
      }
      names.emplace_back(t.name);
    }
    std::sort(names.begin(), names.end());
    if (const auto dup = std::adjacent_find(names.begin(), names.end()); dup != names.end()) {
      return error(errc::duplicate_key, "two tensors are named " + quote(*dup));
    }

    shard_layout out;
    out.total_size_ = total;
    std::vector<std::size_t> current;
    std::uint64_t current_size = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (sizes[i] > options.max_shard_size) {
        out.shards_.push_back({i});
        continue;
      }
      if (current_size + sizes[i] > options.max_shard_size) {  // both <= the limit: no overflow
        out.shards_.push_back(std::move(current));
        current.clear();
        current_size = 0;
      }
      current.push_back(i);
      current_size += sizes[i];
    }
    if (!current.empty() || out.shards_.empty()) out.shards_.push_back(std::move(current));

    const std::size_t n = out.shards_.size();
    if (n == 1) {
      out.files_.push_back(options.prefix + ".safetensors");
      return out;
    }
    auto pad5 = [](std::size_t v) {
      std::string s = std::to_string(v);
      return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
    };
    for (std::size_t k = 0; k < n; ++k) {
      out.files_.push_back(options.prefix + "-" + pad5(k + 1) + "-of-" + pad5(n) + ".safetensors");
    }
    shard_index index;
    index.metadata =
        options.index_metadata.is_object() ? options.index_metadata : nlohmann::json::object();
    index.metadata["total_size"] = total;
    index.shards = out.files_;  // already in byte order: same prefix, zero-padded numbers
    index.weight_map.reserve(tensors.size());
    for (std::size_t k = 0; k < n; ++k) {
      for (const std::size_t i : out.shards_[k]) index.weight_map.push_back({tensors[i].name, k});
    }
    std::sort(index.weight_map.begin(), index.weight_map.end(),
              [](const index_entry& a, const index_entry& b) { return a.name < b.name; });
    auto json = format_index(index);
    if (!json) return json.error();
    out.index_json_ = std::move(*json);
    return out;
  }

  /// Number of shard files.
  std::size_t shard_count() const noexcept { return files_.size(); }
  /// True when there is more than one shard (and so an index).
  bool sharded() const noexcept { return files_.size() > 1; }
  /// The shard file names, in shard order.
  const std::vector<std::string>& file_names() const noexcept { return files_; }
  /// For each shard, the positions of its tensors in the writer's input, in input order.
  const std::vector<std::vector<std::size_t>>& shards() const noexcept { return shards_; }
  /// The sum of every tensor's byte size (the index's `metadata.total_size`).
  std::uint64_t total_size() const noexcept { return total_size_; }
  /// The index's contents, exactly as transformers writes them; empty when not sharded().
  const std::string& index_json() const noexcept { return index_json_; }

 private:
  std::vector<std::string> files_;
  std::vector<std::vector<std::size_t>> shards_;
  std::uint64_t total_size_ = 0;
  std::string index_json_;
};

namespace detail {
inline std::vector<tensor_spec> shard_specs(const std::vector<tensor_spec>& tensors,
                                            const std::vector<std::size_t>& which) {
  std::vector<tensor_spec> out;
  out.reserve(which.size());
  for (const std::size_t i : which) out.push_back(tensors[i]);
  return out;
}

/// Removes a stale index before shards are replaced, so that it never points at new shards.
inline result<void> remove_stale_index(const std::filesystem::path& index) {
  std::error_code ec;
  std::filesystem::remove(index, ec);
  if (ec) {
    return error(errc::io_error,
                 "cannot remove the old index " + quote(display_path(index)) + ": " + ec.message());
  }
  return {};
}

inline result<void> write_text_atomic(const std::filesystem::path& path, std::string_view text,
                                      bool sync) {
  auto file = create_atomic(path);
  if (!file) return file.error();
  if (auto r = file->write_at(0, text.data(), text.size()); !r) return r;
  return file->commit(sync);
}

inline result<std::filesystem::path> index_path_in(const std::filesystem::path& dir,
                                                   const std::string& prefix) {
  auto name = path_from_utf8(prefix + ".safetensors.index.json");
  if (!name) return name.error();
  return dir / *name;
}
}  // namespace detail

/// Writes `tensors` into the directory `dir` (which must exist) as a checkpoint: shards per
/// shard_layout, each written atomically, then the index (atomically, last), so an index never
/// points at missing or partial shards. Every shard is validated before anything is written.
/// An existing `<prefix>.safetensors.index.json` is removed before the first shard is written
/// (also when the result is a single `<prefix>.safetensors`); other old files are left alone.
/// Returns the layout (file names, assignment). The writer's errors, plus shard_layout's.
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<shard_layout> save_sharded(const P& dir, const std::vector<tensor_spec>& tensors,
                                  const sharded_write_options& options = {}) {
  auto root = detail::to_fs_path(dir);
  if (!root) return root.error();
  auto layout = shard_layout::create(tensors, options);
  if (!layout) return layout.error();
  std::vector<std::vector<tensor_spec>> groups;
  std::vector<std::uint64_t> file_sizes;
  std::uint64_t grand_total = 0;
  for (const auto& which : layout->shards()) {
    groups.push_back(detail::shard_specs(tensors, which));
    auto plan = write_plan::create(groups.back(), options.shard_metadata, options.write);
    if (!plan) return plan.error();
    file_sizes.push_back(plan->file_size());
    grand_total += plan->file_size();
  }
  auto index_path = detail::index_path_in(*root, options.prefix);
  if (!index_path) return index_path.error();
  if (auto r = detail::remove_stale_index(*index_path); !r) return r.error();
  std::uint64_t base = 0;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    auto file = detail::path_from_utf8(layout->file_names()[k]);
    if (!file) return file.error();
    write_options wo = options.write;
    if (options.write.progress) {
      wo.progress = [&options, base, grand_total](std::uint64_t done, std::uint64_t) {
        options.write.progress(base + done, grand_total);
      };
    }
    if (auto r = save_file(*root / *file, groups[k], options.shard_metadata, wo); !r) {
      return r.error();
    }
    base += file_sizes[k];
  }
  if (layout->sharded()) {
    if (auto r = detail::write_text_atomic(*index_path, layout->index_json(), options.write.sync);
        !r) {
      return r.error();
    }
  }
  return std::move(*layout);
}

/// A checkpoint written tensor by tensor across shards, for data larger than memory: declare
/// every tensor (this fixes the layout and every shard's header), write each tensor's bytes in
/// chunks (tensors in any order), then commit(): it checks that every tensor is complete,
/// commits the shards and writes the index last. Nothing appears before commit(); destruction
/// without commit removes every temporary file. One temporary file per shard is open until
/// commit. Move-only; not thread-safe.
class sharded_stream_writer {
 public:
  sharded_stream_writer() = default;
  sharded_stream_writer(sharded_stream_writer&&) noexcept = default;
  sharded_stream_writer& operator=(sharded_stream_writer&&) noexcept = default;
  ~sharded_stream_writer() = default;

  /// Plans the shards of `tensors` (bytes and producers ignored) in the existing directory
  /// `dir` and creates a temporary file per shard.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<sharded_stream_writer> create(const P& dir, const std::vector<tensor_spec>& tensors,
                                              const sharded_write_options& options = {}) {
    auto root = detail::to_fs_path(dir);
    if (!root) return root.error();
    auto layout = shard_layout::create(tensors, options);
    if (!layout) return layout.error();
    auto index_path = detail::index_path_in(*root, options.prefix);
    if (!index_path) return index_path.error();
    auto s = std::make_unique<state>();
    s->index_path = std::move(*index_path);
    s->sync = options.write.sync;
    for (std::size_t k = 0; k < layout->shard_count(); ++k) {
      auto file = detail::path_from_utf8(layout->file_names()[k]);
      if (!file) return file.error();
      auto w =
          stream_writer::create(*root / *file, detail::shard_specs(tensors, layout->shards()[k]),
                                options.shard_metadata, options.write);
      if (!w) return w.error();
      s->writers.push_back(std::move(*w));
      for (const std::size_t i : layout->shards()[k]) s->shard_of.emplace(tensors[i].name, k);
    }
    s->layout = std::move(*layout);
    sharded_stream_writer out;
    out.state_ = std::move(s);
    return out;
  }

  /// Writes the next `chunk` of tensor `name` (TensorNotFound for an undeclared name,
  /// InvalidArgument past its end).
  result<void> write(std::string_view name, span<const std::byte> chunk) {
    if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
    const auto it = state_->shard_of.find(std::string(name));
    if (it == state_->shard_of.end()) {
      return error(errc::tensor_not_found, "sharded_stream_writer: no tensor named " +
                                               detail::quote(name) + " was declared");
    }
    return state_->writers[it->second].write(name, chunk);
  }
  /// Bytes written so far for tensor `name` (0 for an unknown name).
  std::uint64_t bytes_written(std::string_view name) const {
    if (!state_) return 0;
    const auto it = state_->shard_of.find(std::string(name));
    return it == state_->shard_of.end() ? 0 : state_->writers[it->second].bytes_written(name);
  }
  /// The layout being written.
  const shard_layout& layout() const noexcept {
    static const shard_layout empty;
    return state_ ? state_->layout : empty;
  }
  /// Checks that every tensor of every shard is complete (TensorInvalidInfo names one, and the
  /// writer stays usable), removes a stale index, commits the shards in order and writes the
  /// index. After any other error the writer is discarded (shards already committed remain,
  /// without an index).
  result<void> commit() {
    if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
    for (const stream_writer& w : state_->writers) {
      for (const planned_tensor& t : w.plan().tensors()) {
        if (w.bytes_written(t.name) != t.byte_size()) {
          return error(errc::tensor_invalid_info,
                       "sharded_stream_writer: tensor " + detail::quote(t.name) +
                           " is incomplete: " + detail::num(w.bytes_written(t.name)) + " of " +
                           detail::num(t.byte_size()) + " bytes written");
        }
      }
    }
    auto s = std::move(state_);
    if (auto r = detail::remove_stale_index(s->index_path); !r) return r;
    for (stream_writer& w : s->writers) {
      if (auto r = w.commit(); !r) return r;
    }
    if (s->layout.sharded()) {
      return detail::write_text_atomic(s->index_path, s->layout.index_json(), s->sync);
    }
    return {};
  }
  /// Removes every temporary file; nothing is written.
  void discard() noexcept { state_.reset(); }

 private:
  struct state {
    shard_layout layout;
    std::vector<stream_writer> writers;
    std::unordered_map<std::string, std::size_t> shard_of;
    std::filesystem::path index_path;
    bool sync = true;
  };
  std::unique_ptr<state> state_;
};

// ---------------------------------------------------------------------------------------------
// 9. Dtype conversion helpers: element types, exact decoding of every dtype to float, encoding
//    float to F16 / BF16 / 8-bit floats, sub-byte unpacking, tensor-level conversion, slicing.
// ---------------------------------------------------------------------------------------------
//
// Sub-byte packing (the format leaves it unspecified; this is the ecosystem's convention, that of
// PyTorch's float4_e2m1fn_x2, and other producers may differ): a tensor's bytes are one
// little-endian bit stream, bit j of the stream being bit (j % 8) of byte j / 8, and element i
// occupies stream bits [b*i, b*i + b) with its sign as the highest of those b bits. For F4 (b = 4)
// element 0 is the low nibble of byte 0 and element 1 the high nibble. For F6_* (b = 6) four
// elements fill three bytes: with w = byte0 | byte1 << 8 | byte2 << 16, element k of the group is
// (w >> 6k) & 63.

/// What an encoder to an 8-bit float does with a finite value beyond the largest finite one (and
/// with an infinity). The default, non_saturating, is what PyTorch's casts do.
enum class overflow_mode : std::uint8_t {
  /// Overflow becomes infinity where the format has one (F8_E5M2), else NaN (F8_E4M3, FNUZ).
  non_saturating,
  /// Overflow and infinities clamp to the largest finite value of the same sign (OCP "SAT").
  saturating,
};

namespace detail {

inline float f32_from_bits(std::uint32_t bits) noexcept {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t f32_to_bits(float f) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

/// How a small float format spends its all-ones exponent and its sign.
enum class special_rule : std::uint8_t {
  ieee,  ///< exponent all ones: infinity (mantissa 0) or NaN (F16, F8_E5M2)
  fn,    ///< no infinities; exponent and mantissa all ones is NaN (F8_E4M3)
  fnuz,  ///< no infinities, no negative zero; sign bit alone (0x80) is the one NaN
  none,  ///< every pattern is finite (F4, F6_*)
};

/// A sign-exponent-mantissa format of 1 + E + M bits with exponent bias `bias`.
struct minifloat_format {
  std::uint32_t exp_bits;
  std::uint32_t man_bits;
  std::uint32_t bias;
  special_rule rule;
};

inline constexpr minifloat_format fmt_f16{5, 10, 15, special_rule::ieee};
inline constexpr minifloat_format fmt_e4m3{4, 3, 7, special_rule::fn};
inline constexpr minifloat_format fmt_e5m2{5, 2, 15, special_rule::ieee};
inline constexpr minifloat_format fmt_e4m3fnuz{4, 3, 8, special_rule::fnuz};
inline constexpr minifloat_format fmt_e5m2fnuz{5, 2, 16, special_rule::fnuz};
inline constexpr minifloat_format fmt_f4{2, 1, 1, special_rule::none};
inline constexpr minifloat_format fmt_f6_e2m3{2, 3, 1, special_rule::none};
inline constexpr minifloat_format fmt_f6_e3m2{3, 2, 3, special_rule::none};

/// Exact value of the pattern `code` (low 1 + E + M bits) of format F. Every value of these
/// formats is a normal float, so the result is built from bits, with no rounding anywhere.
template <const minifloat_format& F>
inline float minifloat_to_float(std::uint32_t code) noexcept {
  constexpr std::uint32_t width = 1 + F.exp_bits + F.man_bits;
  constexpr std::uint32_t sign_bit = 1u << (width - 1);
  constexpr std::uint32_t exp_max = (1u << F.exp_bits) - 1;
  constexpr std::uint32_t man_mask = (1u << F.man_bits) - 1;
  const std::uint32_t sign = (code & sign_bit) != 0 ? 0x80000000u : 0u;
  const std::uint32_t e = (code >> F.man_bits) & exp_max;
  const std::uint32_t m = code & man_mask;
  if constexpr (F.rule == special_rule::fnuz) {
    if ((code & ((1u << width) - 1)) == sign_bit) return f32_from_bits(0x7FC00000u);
  }
  if constexpr (F.rule == special_rule::fn) {
    if (e == exp_max && m == man_mask) return f32_from_bits(sign | 0x7FC00000u);
  }
  if constexpr (F.rule == special_rule::ieee) {
    if (e == exp_max) return f32_from_bits(sign | 0x7F800000u | (m << (23 - F.man_bits)));
  }
  if (e == 0) {
    // Subnormal: m * 2^(1 - bias - M). m is small, so the int-to-float conversion is exact, and
    // the scaling by a power of two lands on a normal float: exact, independent of FTZ/DAZ.
    constexpr std::uint32_t scale_exp = 127 + 1 - F.bias - F.man_bits;  // biased float exponent
    const float v = static_cast<float>(m) * f32_from_bits(scale_exp << 23);
    return f32_from_bits(sign | f32_to_bits(v));
  }
  return f32_from_bits(sign | ((e + 127 - F.bias) << 23) | (m << (23 - F.man_bits)));
}

/// The pattern of format F nearest to `x`, ties to even. Formats without infinities take the
/// overflow rule of `mode`; NaN becomes the format's NaN (quiet, sign kept where the format has
/// signed NaNs). Only for formats whose smallest subnormal is above float's subnormal range.
template <const minifloat_format& F>
inline std::uint32_t float_to_minifloat(float x, overflow_mode mode) noexcept {
  constexpr std::uint32_t width = 1 + F.exp_bits + F.man_bits;
  constexpr std::uint32_t sign_bit = 1u << (width - 1);
  constexpr std::uint32_t exp_max = (1u << F.exp_bits) - 1;
  constexpr std::uint32_t man_mask = (1u << F.man_bits) - 1;
  constexpr std::uint32_t shift = 23 - F.man_bits;
  // Largest finite magnitude pattern, and what an overflow becomes in each mode.
  constexpr std::uint32_t max_finite = F.rule == special_rule::ieee ? (exp_max << F.man_bits) - 1
                                       : F.rule == special_rule::fn ? (sign_bit - 1) - 1
                                                                    : sign_bit - 1;
  constexpr std::uint32_t nan_code = F.rule == special_rule::ieee ? (sign_bit - 1)
                                     : F.rule == special_rule::fn ? (sign_bit - 1)
                                                                  : sign_bit;
  constexpr bool signed_nan = F.rule != special_rule::fnuz;

  const std::uint32_t u = f32_to_bits(x);
  const std::uint32_t sign = (u & 0x80000000u) != 0 ? sign_bit : 0u;
  const std::uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) {  // NaN
    if constexpr (F.rule == special_rule::ieee && F.man_bits >= 8) {
      // Wide enough to keep payload: quiet bit plus the payload's top bits (F16).
      return sign | (exp_max << F.man_bits) | (1u << (F.man_bits - 1)) | ((a >> shift) & man_mask);
    } else {
      return (signed_nan ? sign : 0u) | nan_code;
    }
  }
  const auto overflowed = [&]() noexcept -> std::uint32_t {
    if (mode == overflow_mode::saturating) return sign | max_finite;
    if constexpr (F.rule == special_rule::ieee) {
      return sign | (exp_max << F.man_bits);  // infinity
    } else {
      return (signed_nan ? sign : 0u) | nan_code;
    }
  };
  if (a == 0x7F800000u) return overflowed();
  if (a < 0x00800000u) {  // zero or a float subnormal: far below half the smallest subnormal
    return F.rule == special_rule::fnuz ? 0u : sign;
  }
  const std::uint32_t fe = a >> 23;  // biased float exponent, 1..254
  std::uint32_t mag;
  if (fe + F.bias >= 128) {  // normal in the target: unbiased exponent >= 1 - bias
    const std::uint32_t r = a + ((1u << (shift - 1)) - 1) + ((a >> shift) & 1u);
    mag = (r >> shift) - ((127 - F.bias) << F.man_bits);  // a carry moves into the exponent
  } else {                                                // subnormal (or zero) in the target
    const std::uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t s = shift + (128 - F.bias - fe);  // >= shift + 1
    if (s > 24) {
      mag = 0;  // below half the smallest subnormal
    } else {
      mag = (mant + ((1u << (s - 1)) - 1) + ((mant >> s) & 1u)) >> s;
    }
  }
  if (mag > max_finite) return overflowed();
  if (F.rule == special_rule::fnuz && mag == 0) return 0u;  // no negative zero
  return sign | mag;
}

}  // namespace detail

// --- scalar decoders (exact for every bit pattern) -------------------------------------------

/// IEEE binary16 bits to float (exact; NaN payloads and signs kept).
inline float f16_bits_to_float(std::uint16_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f16>(bits);
}
/// bfloat16 bits to float: the upper half of the float's bits (exact, NaNs bit for bit).
inline float bf16_bits_to_float(std::uint16_t bits) noexcept {
  return detail::f32_from_bits(static_cast<std::uint32_t>(bits) << 16);
}
/// F8_E4M3 (OCP E4M3FN, bias 7, no infinities, S.1111.111 is NaN) to float, exact.
inline float f8_e4m3_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e4m3>(bits);
}
/// F8_E5M2 (OCP E5M2, bias 15, IEEE-like infinities and NaNs) to float, exact.
inline float f8_e5m2_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e5m2>(bits);
}
/// F8_E4M3FNUZ (bias 8, no infinities, no -0, 0x80 is NaN) to float, exact.
inline float f8_e4m3fnuz_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e4m3fnuz>(bits);
}
/// F8_E5M2FNUZ (bias 16, no infinities, no -0, 0x80 is NaN) to float, exact.
inline float f8_e5m2fnuz_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_e5m2fnuz>(bits);
}
/// F8_E8M0 (unsigned scale 2^(bits - 127); 0xFF is NaN) to float, exact (0x00 is the float
/// subnormal 2^-127).
inline float f8_e8m0_bits_to_float(std::uint8_t bits) noexcept {
  if (bits == 0xFF) return detail::f32_from_bits(0x7FC00000u);
  if (bits == 0) return detail::f32_from_bits(0x00400000u);
  return detail::f32_from_bits(static_cast<std::uint32_t>(bits) << 23);
}
/// F4 (OCP E2M1, bias 1, all finite: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives) from the low 4
/// bits of `bits`, exact.
inline float f4_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f4>(bits & 0x0Fu);
}
/// F6_E2M3 (OCP, bias 1, all finite, max 7.5) from the low 6 bits of `bits`, exact.
inline float f6_e2m3_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f6_e2m3>(bits & 0x3Fu);
}
/// F6_E3M2 (OCP, bias 3, all finite, max 28) from the low 6 bits of `bits`, exact.
inline float f6_e3m2_bits_to_float(std::uint8_t bits) noexcept {
  return detail::minifloat_to_float<detail::fmt_f6_e3m2>(bits & 0x3Fu);
}

// --- scalar encoders (round to nearest, ties to even) ----------------------------------------

/// float to IEEE binary16 bits: round to nearest even, overflow to infinity, NaN to a quiet NaN
/// (sign and top payload bits kept), values below half the smallest subnormal to signed zero.
inline std::uint16_t float_to_f16_bits(float x) noexcept {
  return static_cast<std::uint16_t>(
      detail::float_to_minifloat<detail::fmt_f16>(x, overflow_mode::non_saturating));
}
/// float to bfloat16 bits: round to nearest even, overflow to infinity, NaN to a quiet NaN (sign
/// and top payload bits kept).
inline std::uint16_t float_to_bf16_bits(float x) noexcept {
  const std::uint32_t u = detail::f32_to_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
/// float to F8_E4M3 bits (round to nearest even). Beyond 448 after rounding: NaN (0x7F with the
/// sign) by default, as PyTorch; ±448 when saturating. Infinity: NaN, or ±448 when saturating.
inline std::uint8_t float_to_f8_e4m3_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::float_to_minifloat<detail::fmt_e4m3>(x, mode));
}
/// float to F8_E5M2 bits (round to nearest even). Beyond 57344 after rounding: infinity by
/// default, as PyTorch; ±57344 when saturating (infinities too). NaN: 0x7F with the sign.
inline std::uint8_t float_to_f8_e5m2_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::float_to_minifloat<detail::fmt_e5m2>(x, mode));
}
/// float to F8_E4M3FNUZ bits (round to nearest even; overflow, infinities and NaN to 0x80 by
/// default, ±240 when saturating; -0 becomes +0).
inline std::uint8_t float_to_f8_e4m3fnuz_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::float_to_minifloat<detail::fmt_e4m3fnuz>(x, mode));
}
/// float to F8_E5M2FNUZ bits (round to nearest even; overflow, infinities and NaN to 0x80 by
/// default, ±57344 when saturating; -0 becomes +0).
inline std::uint8_t float_to_f8_e5m2fnuz_bits(
    float x, overflow_mode mode = overflow_mode::non_saturating) noexcept {
  return static_cast<std::uint8_t>(detail::float_to_minifloat<detail::fmt_e5m2fnuz>(x, mode));
}

// --- element types ---------------------------------------------------------------------------

namespace detail {
template <dtype D>
struct small_float_traits;
template <>
struct small_float_traits<dtype::F16> {
  using storage = std::uint16_t;
  static float decode(storage b) noexcept { return f16_bits_to_float(b); }
  static storage encode(float x, overflow_mode) noexcept { return float_to_f16_bits(x); }
};
template <>
struct small_float_traits<dtype::BF16> {
  using storage = std::uint16_t;
  static float decode(storage b) noexcept { return bf16_bits_to_float(b); }
  static storage encode(float x, overflow_mode) noexcept { return float_to_bf16_bits(x); }
};
template <>
struct small_float_traits<dtype::F8_E4M3> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e4m3_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept { return float_to_f8_e4m3_bits(x, m); }
};
template <>
struct small_float_traits<dtype::F8_E5M2> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e5m2_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept { return float_to_f8_e5m2_bits(x, m); }
};
template <>
struct small_float_traits<dtype::F8_E4M3FNUZ> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e4m3fnuz_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept {
    return float_to_f8_e4m3fnuz_bits(x, m);
  }
};
template <>
struct small_float_traits<dtype::F8_E5M2FNUZ> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e5m2fnuz_bits_to_float(b); }
  static storage encode(float x, overflow_mode m) noexcept {
    return float_to_f8_e5m2fnuz_bits(x, m);
  }
};
template <>
struct small_float_traits<dtype::F8_E8M0> {
  using storage = std::uint8_t;
  static float decode(storage b) noexcept { return f8_e8m0_bits_to_float(b); }
};
}  // namespace detail

/// A 1- or 2-byte floating-point element of dtype D (F16, BF16, F8_*), trivially copyable and
/// holding the format's raw bits, so `view.as<bf16>()` reads a tensor in place. Converts to float
/// exactly and implicitly; constructing from float rounds to nearest even (not for F8_E8M0).
template <dtype D>
class small_float {
 public:
  /// The raw bits' type (std::uint16_t or std::uint8_t).
  using storage_type = typename detail::small_float_traits<D>::storage;
  /// The dtype of the element.
  static constexpr safetensors::dtype dtype_value = D;

  /// Uninitialized, like float.
  small_float() = default;
  /// The value nearest to `x` (round to nearest even; `mode` matters only for 8-bit floats).
  template <safetensors::dtype E = D, class = std::enable_if_t<E != safetensors::dtype::F8_E8M0>>
  explicit small_float(float x, overflow_mode mode = overflow_mode::non_saturating) noexcept
      : bits_(detail::small_float_traits<D>::encode(x, mode)) {}
  /// The element with these raw bits.
  static constexpr small_float from_bits(storage_type raw) noexcept {
    small_float r{};
    r.bits_ = raw;
    return r;
  }
  /// The raw bits.
  constexpr storage_type bits() const noexcept { return bits_; }
  /// The exact value as float.
  operator float() const noexcept {  // NOLINT(google-explicit-constructor)
    return detail::small_float_traits<D>::decode(bits_);
  }

 private:
  storage_type bits_;
};

/// IEEE binary16 element (dtype F16).
using f16 = small_float<dtype::F16>;
/// bfloat16 element (dtype BF16).
using bf16 = small_float<dtype::BF16>;
/// OCP E4M3FN element (dtype F8_E4M3).
using f8_e4m3 = small_float<dtype::F8_E4M3>;
/// OCP E5M2 element (dtype F8_E5M2).
using f8_e5m2 = small_float<dtype::F8_E5M2>;
/// AMD E4M3FNUZ element (dtype F8_E4M3FNUZ).
using f8_e4m3fnuz = small_float<dtype::F8_E4M3FNUZ>;
/// AMD E5M2FNUZ element (dtype F8_E5M2FNUZ).
using f8_e5m2fnuz = small_float<dtype::F8_E5M2FNUZ>;
/// OCP E8M0 scale element (dtype F8_E8M0): decodes to 2^(bits - 127), 0xFF is NaN.
using f8_e8m0 = small_float<dtype::F8_E8M0>;
/// The complex element of C64 (two little-endian floats, real then imaginary).
using c64 = std::complex<float>;

/// Typed access for the small float element types: `view.as<bf16>()` checks for BF16.
template <dtype D>
struct dtype_of<small_float<D>> : std::integral_constant<dtype, D> {};

// --- tensor-level conversion -----------------------------------------------------------------

namespace detail {

/// Bytes holding the first `count` elements of dtype `t` (rounded up for sub-byte dtypes), or
/// false on overflow.
inline bool bytes_for_elements(dtype t, std::uint64_t count, std::uint64_t& out) noexcept {
  std::uint64_t bits = 0;
  if (!checked_mul(count, bit_size(t), bits)) return false;
  out = bits / 8 + (bits % 8 != 0 ? 1 : 0);
  return true;
}

/// The float bits of the 256 values of an 8-bit float dtype, built on first use.
template <float (*Decode)(std::uint8_t)>
inline const std::array<std::uint32_t, 256>& byte_table() noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i)
      t[i] = f32_to_bits(Decode(static_cast<std::uint8_t>(i)));
    return t;
  }();
  return table;
}

inline std::uint32_t le16(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8;
}

// The conversion loops. `in` holds the little-endian bytes, `out` n floats. `kernel(p, i)` gives
// the float bits of element i of the block starting at p. Full blocks have a constant trip count
// and write to a local buffer (no aliasing with `in`), so compilers vectorize them at -O2.
inline constexpr std::size_t convert_block = 256;

template <std::size_t InWidth, class Kernel>
inline void convert_blocks(const unsigned char* in, float* out, std::size_t n,
                           Kernel kernel) noexcept {
  std::uint32_t tmp[convert_block];
  std::size_t done = 0;
  for (; n - done >= convert_block; done += convert_block) {
    const unsigned char* p = in + done * InWidth;
    for (std::size_t i = 0; i < convert_block; ++i) tmp[i] = kernel(p, i);
    std::memcpy(out + done, tmp, sizeof tmp);
  }
  const unsigned char* p = in + done * InWidth;
  const std::size_t rest = n - done;
  for (std::size_t i = 0; i < rest; ++i) tmp[i] = kernel(p, i);
  if (rest != 0) std::memcpy(out + done, tmp, rest * sizeof(float));
}

inline void bf16_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  convert_blocks<2>(in, out, n, [](const unsigned char* p, std::size_t i) noexcept {
    return le16(p + 2 * i) << 16;
  });
}

inline void f16_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  convert_blocks<2>(in, out, n, [](const unsigned char* p, std::size_t i) noexcept {
    const std::uint32_t h = le16(p + 2 * i);
    const std::uint32_t sign = (h & 0x8000u) << 16;
    const std::uint32_t e = (h >> 10) & 0x1Fu;
    const std::uint32_t m = h & 0x3FFu;
    // Three candidates, selected with masks (no branches): subnormal m * 2^-24 (exact: m is
    // small and the product is a normal float), normal (rebias 15 -> 127), infinity/NaN.
    const std::uint32_t sub =
        f32_to_bits(static_cast<float>(static_cast<std::int32_t>(m)) * 0x1p-24f);
    const std::uint32_t normal = ((e + 112) << 23) | (m << 13);
    const std::uint32_t special = 0x7F800000u | (m << 13);
    const std::uint32_t is_sub = 0u - static_cast<std::uint32_t>(e == 0);
    const std::uint32_t is_special = 0u - static_cast<std::uint32_t>(e == 31);
    return sign | (sub & is_sub) | (special & is_special) | (normal & ~(is_sub | is_special));
  });
}

inline void table_to_float_n(const std::array<std::uint32_t, 256>& table, const unsigned char* in,
                             float* out, std::size_t n) noexcept {
  const std::uint32_t* t = table.data();
  convert_blocks<1>(in, out, n,
                    [t](const unsigned char* p, std::size_t i) noexcept { return t[p[i]]; });
}

inline void f4_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  float lut[16];
  for (std::uint32_t i = 0; i < 16; ++i) lut[i] = f4_bits_to_float(static_cast<std::uint8_t>(i));
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    out[i] = lut[in[i / 2] & 0x0Fu];
    out[i + 1] = lut[in[i / 2] >> 4];
  }
  if (n % 2 != 0) out[n - 1] = lut[in[n / 2] & 0x0Fu];
}

template <float (*Decode)(std::uint8_t)>
inline void f6_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  float lut[64];
  for (std::uint32_t i = 0; i < 64; ++i) lut[i] = Decode(static_cast<std::uint8_t>(i));
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const unsigned char* p = in + i / 4 * 3;
    const std::uint32_t w = static_cast<std::uint32_t>(p[0]) |
                            static_cast<std::uint32_t>(p[1]) << 8 |
                            static_cast<std::uint32_t>(p[2]) << 16;
    out[i] = lut[w & 63u];
    out[i + 1] = lut[(w >> 6) & 63u];
    out[i + 2] = lut[(w >> 12) & 63u];
    out[i + 3] = lut[w >> 18];
  }
  for (; i < n; ++i) {  // a partial group: only the bytes that hold its elements are read
    const std::size_t bit = i * 6;
    std::uint32_t w = in[bit / 8];
    if (bit % 8 > 2) w |= static_cast<std::uint32_t>(in[bit / 8 + 1]) << 8;
    out[i] = lut[(w >> (bit % 8)) & 63u];
  }
}

template <class T>
inline void cast_to_float_n(const unsigned char* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(load_le<T>(reinterpret_cast<const std::byte*>(in) + i * sizeof(T)));
  }
}

}  // namespace detail

/// Decodes the first `out.size()` elements of a little-endian (packed, for sub-byte dtypes) byte
/// range of dtype `type` into floats: exact for every float dtype except F64, which rounds to
/// nearest; integers round to nearest (exact up to 2^24); BOOL gives 0 or 1 (any non-zero byte
/// is 1). InvalidArgument when `bytes` is too short; DtypeMismatch for C64 (use
/// as<c64>() or to_complex()).
inline result<void> decode_to_float(dtype type, span<const std::byte> bytes, span<float> out) {
  if (type == dtype::C64) {
    return error(errc::dtype_mismatch,
                 "decode_to_float: C64 is complex; read it as std::complex<float> (to_complex)");
  }
  std::uint64_t need = 0;
  if (!detail::bytes_for_elements(type, out.size(), need) || need > bytes.size()) {
    return error(errc::invalid_argument, "decode_to_float: " + detail::num(out.size()) + " " +
                                             std::string(to_string(type)) +
                                             " elements need more than the " +
                                             detail::num(bytes.size()) + " bytes given");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  float* o = out.data();
  const std::size_t n = out.size();
  if (n == 0) return {};
  switch (type) {
    case dtype::BOOL:
      for (std::size_t i = 0; i < n; ++i) o[i] = in[i] != 0 ? 1.0f : 0.0f;
      break;
    case dtype::F4:
      detail::f4_to_float_n(in, o, n);
      break;
    case dtype::F6_E2M3:
      detail::f6_to_float_n<f6_e2m3_bits_to_float>(in, o, n);
      break;
    case dtype::F6_E3M2:
      detail::f6_to_float_n<f6_e3m2_bits_to_float>(in, o, n);
      break;
    case dtype::U8:
      for (std::size_t i = 0; i < n; ++i) o[i] = static_cast<float>(in[i]);
      break;
    case dtype::I8:
      for (std::size_t i = 0; i < n; ++i) {
        o[i] = static_cast<float>(static_cast<int>(in[i]) - (in[i] >= 0x80 ? 256 : 0));
      }
      break;
    case dtype::F8_E5M2:
      detail::table_to_float_n(detail::byte_table<f8_e5m2_bits_to_float>(), in, o, n);
      break;
    case dtype::F8_E4M3:
      detail::table_to_float_n(detail::byte_table<f8_e4m3_bits_to_float>(), in, o, n);
      break;
    case dtype::F8_E8M0:
      detail::table_to_float_n(detail::byte_table<f8_e8m0_bits_to_float>(), in, o, n);
      break;
    case dtype::F8_E4M3FNUZ:
      detail::table_to_float_n(detail::byte_table<f8_e4m3fnuz_bits_to_float>(), in, o, n);
      break;
    case dtype::F8_E5M2FNUZ:
      detail::table_to_float_n(detail::byte_table<f8_e5m2fnuz_bits_to_float>(), in, o, n);
      break;
    case dtype::I16:
      detail::cast_to_float_n<std::int16_t>(in, o, n);
      break;
    case dtype::U16:
      detail::cast_to_float_n<std::uint16_t>(in, o, n);
      break;
    case dtype::F16:
      detail::f16_to_float_n(in, o, n);
      break;
    case dtype::BF16:
      detail::bf16_to_float_n(in, o, n);
      break;
    case dtype::I32:
      detail::cast_to_float_n<std::int32_t>(in, o, n);
      break;
    case dtype::U32:
      detail::cast_to_float_n<std::uint32_t>(in, o, n);
      break;
    case dtype::F32:
      detail::cast_to_float_n<float>(in, o, n);
      break;
    case dtype::F64:
      detail::cast_to_float_n<double>(in, o, n);
      break;
    case dtype::I64:
      detail::cast_to_float_n<std::int64_t>(in, o, n);
      break;
    case dtype::U64:
      detail::cast_to_float_n<std::uint64_t>(in, o, n);
      break;
    case dtype::C64:
      break;  // rejected above
  }
  return {};
}

/// Decodes every element of `view` into `out`, which must hold at least element_count() floats
/// (InvalidArgument otherwise). Semantics as decode_to_float.
inline result<void> to_float(const tensor_view& view, span<float> out) {
  const std::uint64_t n = view.element_count();
  if (out.size() < n) {
    return error(errc::invalid_argument,
                 "to_float: tensor " + detail::quote(view.name()) + " has " + detail::num(n) +
                     " elements, the buffer holds " + detail::num(out.size()));
  }
  return decode_to_float(view.dtype(), view.bytes(), out.subspan(0, static_cast<std::size_t>(n)));
}

/// Every element of `view` as a new vector of floats (see to_float(view, out)).
inline result<std::vector<float>> to_float(const tensor_view& view) {
  const std::uint64_t n = view.element_count();
  if (n > view.byte_size() * 2) {  // no dtype packs more than 2 elements per byte
    return error(errc::invalid_argument, "to_float: tensor " + detail::quote(view.name()) +
                                             " has fewer bytes than its elements need");
  }
  std::vector<float> out(static_cast<std::size_t>(n));
  if (auto r = to_float(view, span<float>(out)); !r) return r.error();
  return out;
}

/// Every element of a C64 tensor as std::complex<float> (DtypeMismatch for other dtypes).
inline result<std::vector<c64>> to_complex(const tensor_view& view) {
  auto v = view.as<c64>();
  if (!v) return v.error();
  return v->to_vector();
}

/// Encodes floats as dtype `type` into little-endian bytes: F32 (bytes as is), F16 and BF16
/// (round to nearest even, overflow to infinity), F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ
/// (round to nearest even, overflow per `mode`). `out` must hold in.size() elements' bytes
/// (InvalidArgument otherwise); other dtypes are InvalidArgument.
inline result<void> encode_from_float(span<const float> in, dtype type, span<std::byte> out,
                                      overflow_mode mode = overflow_mode::non_saturating) {
  std::size_t width = 0;
  switch (type) {
    case dtype::F32:
      width = 4;
      break;
    case dtype::F16:
    case dtype::BF16:
      width = 2;
      break;
    case dtype::F8_E4M3:
    case dtype::F8_E5M2:
    case dtype::F8_E4M3FNUZ:
    case dtype::F8_E5M2FNUZ:
      width = 1;
      break;
    default:
      return error(errc::invalid_argument,
                   "encode_from_float: cannot encode to " + std::string(to_string(type)));
  }
  if (out.size() / width < in.size()) {
    return error(errc::invalid_argument,
                 "encode_from_float: " + detail::num(in.size()) + " " +
                     std::string(to_string(type)) + " elements need " +
                     detail::num(static_cast<std::uint64_t>(in.size()) * width) +
                     " bytes, the buffer holds " + detail::num(out.size()));
  }
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const auto put16 = [o](std::size_t i, std::uint32_t v) noexcept {
    o[2 * i] = static_cast<unsigned char>(v & 0xFFu);
    o[2 * i + 1] = static_cast<unsigned char>(v >> 8);
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float x = in[i];
    switch (type) {
      case dtype::F32: {
        const std::uint32_t b = detail::f32_to_bits(x);
        for (std::size_t k = 0; k < 4; ++k) o[4 * i + k] = static_cast<unsigned char>(b >> (8 * k));
        break;
      }
      case dtype::F16:
        put16(i, float_to_f16_bits(x));
        break;
      case dtype::BF16:
        put16(i, float_to_bf16_bits(x));
        break;
      case dtype::F8_E4M3:
        o[i] = float_to_f8_e4m3_bits(x, mode);
        break;
      case dtype::F8_E5M2:
        o[i] = float_to_f8_e5m2_bits(x, mode);
        break;
      case dtype::F8_E4M3FNUZ:
        o[i] = float_to_f8_e4m3fnuz_bits(x, mode);
        break;
      default:  // F8_E5M2FNUZ
        o[i] = float_to_f8_e5m2fnuz_bits(x, mode);
        break;
    }
  }
  return {};
}

// --- slicing ---------------------------------------------------------------------------------

/// The half-open range [start, stop) of one dimension (step 1).
struct dim_range {
  std::uint64_t start = 0;  ///< first index taken
  std::uint64_t stop = 0;   ///< one past the last index taken (never clamped)
};

/// Where a slice's bytes are in its tensor: run_count() contiguous runs of run_size() bytes,
/// the first at first_offset(), the others reached by an odometer over counts() with byte
/// strides strides() (outermost first). Copying the runs in order gives the slice in row-major
/// order. Offsets are relative to the tensor's first byte.
class slice_plan {
 public:
  /// The slice's shape (same rank as the tensor).
  span<const std::uint64_t> shape() const noexcept { return shape_; }
  /// The slice's element count.
  std::uint64_t element_count() const noexcept { return elements_; }
  /// The slice's size in bytes (run_count() * run_size()).
  std::uint64_t byte_size() const noexcept { return run_count_ * run_size_; }
  /// Bytes per contiguous run.
  std::uint64_t run_size() const noexcept { return run_size_; }
  /// Number of runs (0 for an empty slice).
  std::uint64_t run_count() const noexcept { return run_count_; }
  /// Byte offset of the first run in the tensor.
  std::uint64_t first_offset() const noexcept { return first_; }
  /// The bytes the whole tensor's shape needs (a view must hold at least these).
  std::uint64_t tensor_byte_size() const noexcept { return tensor_bytes_; }
  /// How many steps each outer dimension takes (only dimensions with more than one step).
  span<const std::uint64_t> counts() const noexcept { return counts_; }
  /// The byte stride of each of those dimensions.
  span<const std::uint64_t> strides() const noexcept { return strides_; }
  /// Calls f(offset, size) for each run in order. If f returns bool, false stops the walk;
  /// returns false then, true when every run was visited.
  template <class F>
  bool for_each_run(F&& f) const {
    if (run_count_ == 0) return true;
    std::vector<std::uint64_t> index(counts_.size(), 0);
    std::uint64_t offset = first_;
    for (std::uint64_t r = 0; r < run_count_; ++r) {
      if constexpr (std::is_same_v<decltype(f(offset, run_size_)), bool>) {
        if (!f(offset, run_size_)) return false;
      } else {
        f(offset, run_size_);
      }
      for (std::size_t d = counts_.size(); d-- > 0;) {  // odometer, innermost first
        if (++index[d] < counts_[d]) {
          offset += strides_[d];
          break;
        }
        offset -= strides_[d] * (counts_[d] - 1);
        index[d] = 0;
      }
    }
    return true;
  }

 private:
  friend result<slice_plan> plan_slice(const tensor_info& info, span<const dim_range> ranges);
  std::vector<std::uint64_t> shape_;
  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> strides_;
  std::uint64_t elements_ = 0;
  std::uint64_t run_size_ = 0;
  std::uint64_t run_count_ = 0;
  std::uint64_t first_ = 0;
  std::uint64_t tensor_bytes_ = 0;
};

/// Plans the slice of `info` taking `ranges[d]` of dimension d; dimensions without a range are
/// taken whole. Errors: more ranges than dimensions, start > stop or stop > the dimension's size
/// (InvalidArgument; nothing is clamped), a sub-byte slice (F4, F6_*) whose runs do not start
/// and end on byte boundaries (MisalignedSlice), a shape whose sizes overflow
/// (ValidationOverflow).
inline result<slice_plan> plan_slice(const tensor_info& info, span<const dim_range> ranges) {
  const span<const std::uint64_t> dims = info.shape();
  const std::size_t rank = dims.size();
  if (ranges.size() > rank) {
    return error(errc::invalid_argument, "slice of tensor " + detail::quote(info.name()) + ": " +
                                             detail::num(ranges.size()) + " ranges for " +
                                             detail::num(rank) + " dimensions");
  }
  slice_plan p;
  p.shape_.resize(rank);
  std::vector<std::uint64_t> start(rank, 0);
  for (std::size_t d = 0; d < rank; ++d) {
    const dim_range r = d < ranges.size() ? ranges[d] : dim_range{0, dims[d]};
    if (r.start > r.stop || r.stop > dims[d]) {
      return error(errc::invalid_argument,
                   "slice of tensor " + detail::quote(info.name()) + ": dimension " +
                       detail::num(d) + " of size " + detail::num(dims[d]) + " cannot take [" +
                       detail::num(r.start) + ", " + detail::num(r.stop) + ")");
    }
    start[d] = r.start;
    p.shape_[d] = r.stop - r.start;
  }
  // Element strides, checked (a hand-made tensor_info may not have been validated).
  std::vector<std::uint64_t> stride(rank, 1);
  std::uint64_t total = 1;
  for (std::size_t d = rank; d-- > 0;) {
    stride[d] = total;
    if (!detail::checked_mul(total, dims[d], total)) {
      return error(errc::validation_overflow,
                   "slice of tensor " + detail::quote(info.name()) + ": the shape overflows");
    }
  }
  const std::uint64_t bits = bit_size(info.dtype());
  std::uint64_t total_bits = 0;
  if (!detail::checked_mul(total, bits, total_bits)) {
    return error(errc::validation_overflow,
                 "slice of tensor " + detail::quote(info.name()) + ": the bit count overflows");
  }
  p.tensor_bytes_ = total_bits / 8 + (total_bits % 8 != 0 ? 1 : 0);
  p.elements_ = 1;
  for (std::size_t d = 0; d < rank; ++d) p.elements_ *= p.shape_[d];  // <= total, no overflow
  if (p.elements_ == 0) return p;                                     // no runs
  // The innermost dimensions taken whole merge with the next one into a single run.
  std::size_t k = rank;  // dimensions [k, rank) are whole
  while (k > 0 && p.shape_[k - 1] == dims[k - 1]) --k;
  std::uint64_t run_elements = 1;
  std::size_t outer = 0;  // dimensions [0, outer) step between runs
  if (k == 0) {
    run_elements = total;
  } else {
    run_elements = p.shape_[k - 1] * stride[k - 1];
    outer = k - 1;
  }
  std::uint64_t first_element = 0;
  for (std::size_t d = 0; d < rank; ++d) first_element += start[d] * stride[d];
  const auto misaligned = [&](std::uint64_t elements) { return elements * bits % 8 != 0; };
  const bool sub_byte = bits % 8 != 0;
  if (sub_byte && (misaligned(first_element) || misaligned(run_elements))) {
    return error(errc::misaligned_slice, "slice of tensor " + detail::quote(info.name()) + ": " +
                                             std::string(to_string(info.dtype())) + " runs of " +
                                             detail::num(run_elements) + " elements from element " +
                                             detail::num(first_element) +
                                             " do not start and end on byte boundaries");
  }
  p.run_count_ = 1;
  for (std::size_t d = 0; d < outer; ++d) {
    if (p.shape_[d] == 1) continue;
    if (sub_byte && misaligned(stride[d])) {
      return error(errc::misaligned_slice, "slice of tensor " + detail::quote(info.name()) +
                                               ": rows of dimension " + detail::num(d) + " are " +
                                               detail::num(stride[d]) + " " +
                                               std::string(to_string(info.dtype())) +
                                               " elements apart, not a whole number of bytes");
    }
    p.counts_.push_back(p.shape_[d]);
    p.strides_.push_back(stride[d] * bits / 8);
    p.run_count_ *= p.shape_[d];
  }
  p.run_size_ = run_elements * bits / 8;
  p.first_ = first_element * bits / 8;
  return p;
}

/// plan_slice with the ranges in a braced list: plan_slice(info, {{0, 2}, {4, 8}}).
inline result<slice_plan> plan_slice(const tensor_info& info,
                                     std::initializer_list<dim_range> ranges) {
  return plan_slice(info, span<const dim_range>(ranges.begin(), ranges.size()));
}

/// Copies the slice of `view` (see plan_slice) into `out`, which must hold its byte_size()
/// bytes (InvalidArgument otherwise, or when the view holds fewer bytes than its shape needs).
inline result<void> slice_into(const tensor_view& view, span<const dim_range> ranges,
                               span<std::byte> out) {
  auto plan = plan_slice(view.info(), ranges);
  if (!plan) return plan.error();
  if (out.size() < plan->byte_size()) {
    return error(errc::invalid_argument, "slice_into: the slice of tensor " +
                                             detail::quote(view.name()) + " has " +
                                             detail::num(plan->byte_size()) +
                                             " bytes, the buffer holds " + detail::num(out.size()));
  }
  if (plan->tensor_byte_size() > view.byte_size()) {
    return error(errc::invalid_argument, "slice_into: tensor " + detail::quote(view.name()) +
                                             " holds fewer bytes than its shape needs");
  }
  std::byte* dst = out.data();
  const std::byte* src = view.data();
  plan->for_each_run([&](std::uint64_t offset, std::uint64_t size) {
    std::memcpy(dst, src + offset, static_cast<std::size_t>(size));
    dst += size;
  });
  return {};
}

/// slice_into with the ranges in a braced list.
inline result<void> slice_into(const tensor_view& view, std::initializer_list<dim_range> ranges,
                               span<std::byte> out) {
  return slice_into(view, span<const dim_range>(ranges.begin(), ranges.size()), out);
}

/// The slice of `view` as a new byte vector (see slice_into).
inline result<std::vector<std::byte>> slice(const tensor_view& view, span<const dim_range> ranges) {
  auto plan = plan_slice(view.info(), ranges);
  if (!plan) return plan.error();
  if (plan->tensor_byte_size() > view.byte_size()) {
    return error(errc::invalid_argument, "slice: tensor " + detail::quote(view.name()) +
                                             " holds fewer bytes than its shape needs");
  }
  std::vector<std::byte> out(static_cast<std::size_t>(plan->byte_size()));
  if (auto r = slice_into(view, ranges, span<std::byte>(out)); !r) return r.error();
  return out;
}

/// slice with the ranges in a braced list.
inline result<std::vector<std::byte>> slice(const tensor_view& view,
                                            std::initializer_list<dim_range> ranges) {
  return slice(view, span<const dim_range>(ranges.begin(), ranges.size()));
}

/// Reads only the slice's bytes of tensor `info` (an entry of this reader's header) from the
/// reader's source, one read per run, into `out` (which must hold the slice's byte_size()).
inline result<void> read_slice_into(const source_reader& reader, const tensor_info& info,
                                    span<const dim_range> ranges, span<std::byte> out) {
  const data_offsets o = info.offsets();
  if (o.end < o.begin || o.end > reader.header().data_size()) {
    return error(errc::invalid_argument, "read_slice_into: tensor " + detail::quote(info.name()) +
                                             " is not an entry of this file");
  }
  auto plan = plan_slice(info, ranges);
  if (!plan) return plan.error();
  if (out.size() < plan->byte_size()) {
    return error(errc::invalid_argument, "read_slice_into: the slice of tensor " +
                                             detail::quote(info.name()) + " has " +
                                             detail::num(plan->byte_size()) +
                                             " bytes, the buffer holds " + detail::num(out.size()));
  }
  if (plan->tensor_byte_size() > info.byte_size()) {
    return error(errc::invalid_argument, "read_slice_into: tensor " + detail::quote(info.name()) +
                                             " holds fewer bytes than its shape needs");
  }
  const std::uint64_t base = reader.header().data_offset() + o.begin;
  std::byte* dst = out.data();
  std::optional<error> failure;
  plan->for_each_run([&](std::uint64_t offset, std::uint64_t size) {
    auto r = reader.source().read_at(base + offset, dst, static_cast<std::size_t>(size));
    if (!r) {
      failure = r.error();
      return false;
    }
    dst += size;
    return true;
  });
  if (failure) return std::move(*failure);
  return {};
}

/// read_slice_into with the ranges in a braced list.
inline result<void> read_slice_into(const source_reader& reader, const tensor_info& info,
                                    std::initializer_list<dim_range> ranges, span<std::byte> out) {
  return read_slice_into(reader, info, span<const dim_range>(ranges.begin(), ranges.size()), out);
}

}  // namespace v0
}  // namespace safetensors

namespace std {
template <>
struct is_error_code_enum<safetensors::errc> : true_type {};
}  // namespace std

#if SAFETENSORS_HAS_STD_SPAN
/// safetensors::span does not own its elements, like std::span.
template <class T>
inline constexpr bool std::ranges::enable_borrowed_range<safetensors::span<T>> = true;
#endif

#endif  // SAFETENSORS_SAFETENSORS_HPP
