// safetensors for C++, part 7 of 14: the readers. One opener per kind of source:
//   parse(bytes)              bytes the caller holds      -> file_view (zero copy, non-owning)
//   mapped_file::open(path)   a file, memory-mapped       -> mapped_file (zero copy, owning)
//   source_reader::open(...)  a file read with pread, or any random_access_source
//                                                         -> source_reader (read_into your buffers)
// Every table has the same lookup: find(name) -> optional<tensor_info>, at(name) ->
// result<tensor_info>, contains(name) -> bool; size() counts tensors; tensors() lists them.
// `template <class = void>` marks what is compiled only when used (docs/design.md#compile-cost).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_READER_HPP
#define SAFETENSORS_PARTS_READER_HPP

#include <memory>

#include "platform.hpp"
#include "table.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

class file_view;

/// Parses and validates a whole file held in memory (8-byte length, header, data buffer) by
/// every rule of docs/format.md. Zero copy: the result's views point into `bytes`, which must
/// outlive it.
template <class = void>
result<file_view> parse(span<const std::byte> bytes, const parse_options& opts = {});

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
  const std::optional<metadata_map>& metadata() const noexcept { return header_.metadata(); }
  /// The data buffer: the bytes after the header, up to the end of the last tensor.
  span<const std::byte> data() const noexcept { return data_; }
  std::optional<tensor_info> find(std::string_view name) const noexcept {
    return header_.find(name);
  }
  result<tensor_info> at(std::string_view name) const { return header_.at(name); }
  bool contains(std::string_view name) const noexcept { return header_.contains(name); }
  /// The bytes of the tensor `name`, or TensorNotFound.
  result<tensor_view> tensor(std::string_view name) const {
    auto info = header_.at(name);
    if (!info) return info.error();
    return tensor(*info);
  }
  /// The bytes of `info`, an entry of this file's header (a range outside the data buffer gives
  /// an empty view, whose as<T>() fails).
  tensor_view tensor(const tensor_info& info) const noexcept {
    if (!header_.holds(info)) return tensor_view(info, {});
    return tensor_view(info, data_.subspan(detail::int_cast<std::size_t>(info.offsets().begin),
                                           detail::int_cast<std::size_t>(info.byte_size())));
  }

 private:
  template <class>
  friend result<file_view> parse(span<const std::byte> bytes, const parse_options& opts);
  file_view(safetensors::header h, span<const std::byte> data) noexcept
      : header_(std::move(h)), data_(data) {}
  safetensors::header header_;
  span<const std::byte> data_;
};

#if SAFETENSORS_DEFINITIONS
template <class>
result<file_view> parse(span<const std::byte> bytes, const parse_options& opts) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  if (p == nullptr && size != 0) {
    return error(errc::invalid_argument, "parse: null data with non-zero size");
  }
  auto n = detail::read_length_prefix(p, size, opts, [p, size] {
    return p == nullptr
               ? std::string()
               : std::string(reinterpret_cast<const char*>(p), std::min(size, detail::sniff_size));
  });
  if (!n) return n.error();
  auto t = detail::parse_header_json(p + 8, static_cast<std::size_t>(*n), size, opts);
  if (!t) return t.error();
  const auto data_size = detail::int_cast<std::size_t>(t->data_size);
  return file_view(safetensors::header(std::move(*t)), bytes.subspan(8 + *n, data_size));
}
#endif  // SAFETENSORS_DEFINITIONS

template <>
struct detail::owns_views<file_view> : std::true_type {};

/// A memory-mapped file and its parsed header: owns both, and hands out zero-copy views that
/// live as long as it does. Move-only; moving keeps every view valid.
class mapped_file {
 public:
  mapped_file() = default;

  /// Maps the file at `path` (a UTF-8 string or a std::filesystem::path) and parses it. IoError
  /// with the operating system's message, or the rule it breaks, prefixed with the path.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<mapped_file> open(const P& path, const parse_options& popts = {},
                                  const map_options& mopts = {}) {
    return open_mapping(file_mapping::open(path, mopts), popts);
  }

  /// The parsed file. Not from a temporary: the views would outlive the mapping.
  const file_view& view() const& noexcept { return view_; }
  const file_view& view() && = delete;
  const file_mapping& mapping() const noexcept { return mapping_; }
  const std::string& path() const noexcept { return mapping_.path(); }
  const safetensors::header& header() const noexcept { return view_.header(); }
  /// Number of tensors.
  std::size_t size() const noexcept { return view_.size(); }
  tensor_range tensors() const noexcept { return view_.tensors(); }
  const std::optional<metadata_map>& metadata() const noexcept { return view_.metadata(); }
  span<const std::byte> data() const noexcept { return view_.data(); }
  std::optional<tensor_info> find(std::string_view name) const noexcept { return view_.find(name); }
  result<tensor_info> at(std::string_view name) const { return view_.at(name); }
  bool contains(std::string_view name) const noexcept { return view_.contains(name); }
  result<tensor_view> tensor(std::string_view name) const { return view_.tensor(name); }
  tensor_view tensor(const tensor_info& info) const noexcept { return view_.tensor(info); }

 private:
  template <class = void>
  static result<mapped_file> open_mapping(result<file_mapping> mapping, const parse_options& popts);
  mapped_file(file_view view, file_mapping mapping) noexcept
      : view_(std::move(view)), mapping_(std::move(mapping)) {}
  file_view view_;
  file_mapping mapping_;  // the mapping's address does not change when moved
};

template <>
struct detail::owns_views<mapped_file> : std::true_type {};

/// Random access to bytes: a file, a buffer, or your own (HTTP range requests, object stores).
/// source_reader reads only the header and the tensors you ask for through it.
class random_access_source {
 public:
  virtual ~random_access_source() = default;
  /// Total size in bytes.
  virtual std::uint64_t byte_size() const noexcept = 0;
  /// Reads exactly `n` bytes at `offset` into `dst`; a short read is an error. Must be safe to
  /// call from several threads at once if the reader is shared between threads.
  virtual result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const = 0;
  /// A short description for messages, such as the path.
  virtual std::string describe() const { return "source"; }
};

namespace detail {

/// What read_growing reads before its buffer first grows: the most memory a size stated by the
/// input (a header length, a tensor's byte size) costs before any of those bytes arrives.
constexpr std::size_t growing_read_first = std::size_t{4} << 20;

/// Reads `size` bytes at `offset` of `source` into `out`, growing it as the bytes arrive: the
/// first growing_read_first bytes, then as many again as already read, each in one read_at. A
/// claim that the source does not back with bytes (a server that then fails, a file that
/// shrank) never costs more than three times the bytes received plus 4 MiB; a size beyond memory
/// is OutOfMemory, prefixed with `what`.
template <class Byte>
result<void> read_growing(const random_access_source& source, std::uint64_t offset,
                          std::uint64_t size, std::vector<Byte>& out, const std::string& what) {
  static_assert(sizeof(Byte) == 1, "bytes");
  auto total = to_size_t(size, what.c_str());
  if (!total) return total.error();
  out.clear();
  std::size_t done = 0;
  while (done < *total) {
    const std::size_t want =
        done > *total / 2 ? *total : std::min(*total, std::max(done * 2, growing_read_first));
    if (!try_resize(out, want)) return out_of_memory(what, size);
    if (auto r = source.read_at(offset + done, out.data() + done, want - done); !r) return r;
    done = want;
  }
  return {};
}

}  // namespace detail

/// A file read with pread (ReadFile with an offset on Windows); no mapping. Thread-safe.
class file_source final : public random_access_source {
 public:
  /// Opens the file at `path` (a UTF-8 string or a std::filesystem::path). IoError with the
  /// operating system's message.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<std::unique_ptr<file_source>> open(const P& path) {
    return open_at(detail::to_os_path(path));
  }
  /// The file's size when it was opened.
  std::uint64_t byte_size() const noexcept override { return size_; }
  /// IoError on failure or end of file.
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    return detail::read_at(file_, offset, dst, n, path_);
  }
  /// The path.
  std::string describe() const override { return path_; }

 private:
  SAFETENSORS_FUNC static result<std::unique_ptr<file_source>> open_at(result<detail::os_path> os);
  file_source(detail::os_file file, std::uint64_t size, std::string path) noexcept
      : file_(std::move(file)), size_(size), path_(std::move(path)) {}
  detail::os_file file_;
  std::uint64_t size_;
  std::string path_;
};

/// Bytes in memory as a random_access_source (the caller keeps them alive).
class memory_source final : public random_access_source {
 public:
  explicit memory_source(span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  std::uint64_t byte_size() const noexcept override { return bytes_.size(); }
  /// IoError past the end.
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    if (offset > bytes_.size() || n > bytes_.size() - offset) {
      return error(errc::io_error, "read of " + detail::num(n) + " bytes at offset " +
                                       detail::num(offset) + " is past the end of " +
                                       detail::num(bytes_.size()) + " bytes");
    }
    if (n != 0) std::memcpy(dst, bytes_.data() + offset, n);
    return {};
  }
  /// "memory".
  std::string describe() const override { return "memory"; }

 private:
  span<const std::byte> bytes_;
};

/// Reads a file through a random_access_source: only the 8 + N header bytes at open, then each
/// tensor's bytes on request into caller buffers. No mapping: the path for network filesystems,
/// Windows, and files that may change underneath you. Move-only; the read functions are
/// thread-safe when the source is (file_source is).
class source_reader {
 public:
  /// Opens the file at `path` (a UTF-8 string or a std::filesystem::path) with a file_source and
  /// reads its header.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<source_reader> open(const P& path, const parse_options& opts = {}) {
    auto source = file_source::open(path);
    if (!source) return source.error();
    return open(std::move(*source), opts);
  }
  /// Reads and validates the header of `source` (its byte_size() is the file size of the rules).
  /// Messages are prefixed with the source's describe().
  template <class Source,
            std::enable_if_t<std::is_base_of_v<random_access_source, Source>, int> = 0>
  static result<source_reader> open(std::unique_ptr<Source> source,
                                    const parse_options& opts = {}) {
    return open_source(std::unique_ptr<random_access_source>(std::move(source)), opts);
  }

  const safetensors::header& header() const noexcept { return header_; }
  const random_access_source& source() const noexcept { return *source_; }
  /// Number of tensors.
  std::size_t size() const noexcept { return header_.size(); }
  /// The tensors in offset order.
  tensor_range tensors() const noexcept { return header_.tensors(); }
  std::optional<tensor_info> find(std::string_view name) const noexcept {
    return header_.find(name);
  }
  result<tensor_info> at(std::string_view name) const { return header_.at(name); }
  bool contains(std::string_view name) const noexcept { return header_.contains(name); }

  /// Copies the bytes of tensor `info` (an entry of this reader's header) into `dst`, which
  /// must hold at least info.byte_size() bytes (InvalidArgument otherwise).
  result<void> read_into(const tensor_info& info, span<std::byte> dst) const {
    if (auto r = check(info, "read_into"); !r) return r;
    if (dst.size() < info.byte_size()) {
      return error(errc::invalid_argument, "read_into: " + detail::tensor_name(info.name()) +
                                               " has " + detail::num(info.byte_size()) +
                                               " bytes, the buffer holds " +
                                               detail::num(dst.size()));
    }
    if (info.byte_size() == 0) return {};
    return source_->read_at(header_.data_offset() + info.offsets().begin, dst.data(),
                            detail::int_cast<std::size_t>(info.byte_size()));
  }
  /// Copies the bytes of the tensor named `name` into `dst` (TensorNotFound if absent).
  result<void> read_into(std::string_view name, span<std::byte> dst) const {
    auto info = header_.at(name);
    if (!info) return info.error();
    return read_into(*info, dst);
  }
  /// The bytes of tensor `info` in a new vector, grown as they arrive (detail::read_growing: one
  /// read up to 4 MiB, then one more each time the size doubles); read_into reads once.
  /// OutOfMemory when the vector cannot be had.
  result<std::vector<std::byte>> read(const tensor_info& info) const {
    if (auto r = check(info, "read"); !r) return r.error();
    std::vector<std::byte> out;
    if (auto r = detail::read_growing(*source_, header_.data_offset() + info.offsets().begin,
                                      info.byte_size(), out,
                                      "read: " + detail::tensor_name(info.name()));
        !r) {
      return r.error();
    }
    return out;
  }
  /// The bytes of the tensor named `name` in a new vector (TensorNotFound if absent).
  result<std::vector<std::byte>> read(std::string_view name) const {
    auto info = header_.at(name);
    if (!info) return info.error();
    return read(*info);
  }
  /// Reads only the bytes of a slice of tensor `info` (see plan_slice), one read per contiguous
  /// run, into `out`, which must hold the slice's byte_size().
  result<void> read_slice_into(const tensor_info& info, span<const dim_range> ranges,
                               span<std::byte> out) const {
    if (auto r = check(info, "read_slice_into"); !r) return r;
    auto plan = plan_slice(info, ranges);
    if (!plan) return plan.error();
    if (out.size() < plan->byte_size()) {
      return error(errc::invalid_argument,
                   "read_slice_into: the slice of " + detail::tensor_name(info.name()) + " has " +
                       detail::num(plan->byte_size()) + " bytes, the buffer holds " +
                       detail::num(out.size()));
    }
    if (plan->tensor_byte_size() > info.byte_size()) {
      return error(errc::invalid_argument, "read_slice_into: " + detail::tensor_name(info.name()) +
                                               " holds fewer bytes than its shape needs");
    }
    const std::uint64_t base = header_.data_offset() + info.offsets().begin;
    std::byte* dst = out.data();
    std::optional<error> failure;
    plan->for_each_run([&](std::uint64_t offset, std::uint64_t size) {
      auto r = source_->read_at(base + offset, dst, detail::int_cast<std::size_t>(size));
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
  /// read_slice_into with the ranges in a braced list: {{0, 2}, {4, 8}}.
  result<void> read_slice_into(const tensor_info& info, std::initializer_list<dim_range> ranges,
                               span<std::byte> out) const {
    return read_slice_into(info, span<const dim_range>(ranges.begin(), ranges.size()), out);
  }

 private:
  template <class = void>
  static result<source_reader> open_source(std::unique_ptr<random_access_source> source,
                                           const parse_options& opts);
  source_reader(std::unique_ptr<random_access_source> source, safetensors::header h) noexcept
      : source_(std::move(source)), header_(std::move(h)) {}
  result<void> check(const tensor_info& info, const char* what) const {
    if (header_.holds(info)) return {};
    return error(errc::invalid_argument, std::string(what) + ": " +
                                             detail::tensor_name(info.name()) +
                                             " is not an entry of this file");
  }
  std::unique_ptr<random_access_source> source_;
  safetensors::header header_;
};

template <>
struct detail::owns_views<source_reader> : std::true_type {};

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {

template <class>
result<mapped_file> mapped_file::open_mapping(result<file_mapping> mapping,
                                              const parse_options& popts) {
  if (!mapping) return mapping.error();
  auto view = parse(mapping->bytes(), popts);
  if (!view) {
    return error(view.error().code(),
                 detail::cat({detail::quote(mapping->path()), ": ", view.error().message()}));
  }
  return mapped_file(std::move(*view), std::move(*mapping));
}

SAFETENSORS_FUNC result<std::unique_ptr<file_source>> file_source::open_at(
    result<detail::os_path> os) {
  if (!os) return os.error();
  auto file = detail::open_read(os->native, os->shown);
  if (!file) return file.error();
  auto size = detail::file_size(*file, os->shown);
  if (!size) return size.error();
  return std::unique_ptr<file_source>(
      new file_source(std::move(*file), *size, std::move(os->shown)));
}

template <class>
result<source_reader> source_reader::open_source(std::unique_ptr<random_access_source> source,
                                                 const parse_options& opts) {
  if (!source) return error(errc::invalid_argument, "source_reader::open: null source");
  const std::uint64_t size = source->byte_size();
  const std::string where = detail::quote(source->describe()) + ": ";
  auto fail = [&where](const error& e) { return error(e.code(), where + e.message()); };
  unsigned char prefix[8] = {};
  if (size >= 8) {
    if (auto r = source->read_at(0, prefix, 8); !r) return r.error();
  }
  auto n = detail::read_length_prefix(prefix, size, opts, [&source, size] {
    std::string first(static_cast<std::size_t>(std::min<std::uint64_t>(size, detail::sniff_size)),
                      '\0');
    if (!first.empty() && !source->read_at(0, first.data(), first.size())) first.clear();
    return first;
  });
  if (!n) return fail(n.error());
  std::vector<unsigned char> json;  // grown as the bytes arrive: N is the input's claim
  if (auto r = detail::read_growing(*source, 8, *n, json, where + "the header"); !r) {
    return r.error();
  }
  auto t = detail::parse_header_json(json.data(), json.size(), size, opts);
  if (!t) return fail(t.error());
  return source_reader(std::move(source), safetensors::header(std::move(*t)));
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template result<file_view> parse<void>(span<const std::byte>, const parse_options&);
template result<mapped_file> mapped_file::open_mapping<void>(result<file_mapping>,
                                                             const parse_options&);
template result<source_reader> source_reader::open_source<void>(
    std::unique_ptr<random_access_source>, const parse_options&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_READER_HPP
