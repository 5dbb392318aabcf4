// safetensors for C++, part 5 of 14: platform I/O, POSIX and Windows. UTF-8 paths to native
// ones, files read with pread / ReadFile, read-only mappings, file identity and uninitialised
// aligned buffers; the write side is atomic_file.hpp. Everything here is detail but file_mapping
// and map_options.
// Each part declares, then defines under SAFETENSORS_DEFINITIONS, which the translation units of
// the separate-compilation mode do not see (docs/design.md#separate-compilation): the operating
// system's headers are included for the definitions only.
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_PLATFORM_HPP
#define SAFETENSORS_PARTS_PLATFORM_HPP

#include <atomic>  // for sharded.hpp's shard_slot
#include <filesystem>

#include "basics.hpp"

#if SAFETENSORS_DEFINITIONS
#include <chrono>

#if SAFETENSORS_WINDOWS
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#define SAFETENSORS_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#define SAFETENSORS_UNDEF_NOMINMAX
#endif
#include <malloc.h>
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
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#endif
#endif

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// How a mapped file will be accessed (madvise hints on POSIX; ignored on Windows).
enum class access_hint : std::uint8_t { normal, sequential, random, will_need };

/// Options of a memory mapping.
struct map_options {
  /// The access pattern hint given to the kernel.
  access_hint hint = access_hint::normal;
  /// Pre-fault the whole mapping at open (MAP_POPULATE on Linux; ignored elsewhere).
  bool populate = false;
  /// Map the pages writable and private (copy on write): a write to a page copies it for this
  /// process only and never reaches the file (POSIX PROT_WRITE with MAP_PRIVATE, Windows
  /// FILE_MAP_COPY). Untouched pages stay shared with the page cache. The library itself never
  /// writes through a mapping; this is for views handed to code that may (docs/torch.md#zero-copy).
  bool copy_on_write = false;
};

namespace detail {

#if SAFETENSORS_WINDOWS
using native_string = std::wstring;

/// An open file: a Win32 HANDLE (void*; closed() is INVALID_HANDLE_VALUE), closed on
/// destruction. Move-only.
struct os_file {
  static void* closed() noexcept { return reinterpret_cast<void*>(static_cast<std::intptr_t>(-1)); }
  void* handle = closed();
  os_file() = default;
  os_file(const os_file&) = delete;
  os_file& operator=(const os_file&) = delete;
  os_file(os_file&& o) noexcept : handle(std::exchange(o.handle, closed())) {}
  os_file& operator=(os_file&& o) noexcept {
    std::swap(handle, o.handle);
    return *this;
  }
  SAFETENSORS_FUNC ~os_file();
};
#else
using native_string = std::string;

/// An open file descriptor (-1 when none), closed on destruction. Move-only.
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
  SAFETENSORS_FUNC ~os_file();
};
#endif

/// A read-only mapping of a whole file; unmap() releases it.
struct os_mapping {
  const void* address = nullptr;
  std::size_t size = 0;
  SAFETENSORS_FUNC static void unmap(const void* address, std::size_t size) noexcept;
};

// The operating system's side, defined below for POSIX and for Windows (and documented there).
SAFETENSORS_FUNC result<native_string> to_native(std::string_view utf8);
SAFETENSORS_FUNC result<native_string> to_native(const std::filesystem::path& p);
SAFETENSORS_FUNC std::string display_path(const std::filesystem::path& p);
SAFETENSORS_FUNC result<os_file> open_read(const native_string& path, const std::string& shown);
SAFETENSORS_FUNC result<std::uint64_t> file_size(const os_file& f, const std::string& shown);
SAFETENSORS_FUNC result<void> read_at(const os_file& f, std::uint64_t offset, void* dst,
                                      std::size_t n, const std::string& shown);
SAFETENSORS_FUNC result<os_mapping> map_file(const os_file& f, std::uint64_t size,
                                             const map_options& opts, const std::string& shown);

template <class P>
inline constexpr bool is_path_v =
    std::is_same_v<std::remove_cv_t<std::remove_reference_t<P>>, std::filesystem::path>;

/// True for the path arguments the API takes: std::filesystem::path, or a UTF-8 string
/// (std::string, std::string_view, const char*), on every platform.
template <class P>
inline constexpr bool is_path_like_v = is_path_v<P> ||
                                       (std::is_convertible_v<const P&, std::string_view> &&
                                        !std::is_same_v<std::decay_t<P>, std::nullptr_t>);

/// A path argument as the operating system takes it and as messages show it (UTF-8).
struct os_path {
  native_string native;
  std::string shown;
};

/// The one place a path argument is told apart: std::filesystem::path or a UTF-8 string.
template <class P>
result<os_path> to_os_path(const P& path) {
  static_assert(is_path_like_v<P>, "a path is a std::filesystem::path or a UTF-8 string");
  if constexpr (is_path_v<P>) {
    auto native = to_native(path);
    if (!native) return native.error();
    return os_path{std::move(*native), display_path(path)};
  } else {
    if constexpr (std::is_pointer_v<P>) {  // not an array: never null
      if (path == nullptr) return error(errc::invalid_argument, "the path is a null pointer");
    }
    const std::string_view utf8(path);
    auto native = to_native(utf8);
    if (!native) return native.error();
    return os_path{std::move(*native), std::string(utf8)};
  }
}

/// A std::filesystem::path from a path argument; a UTF-8 string stays UTF-8 on every platform
/// (not the ANSI code page).
template <class P>
result<std::filesystem::path> to_fs_path(const P& path) {
  static_assert(is_path_like_v<P>, "a path is a std::filesystem::path or a UTF-8 string");
  if constexpr (is_path_v<P>) {
    return path;
  } else {
    if constexpr (std::is_pointer_v<P>) {  // not an array: never null
      if (path == nullptr) return error(errc::invalid_argument, "the path is a null pointer");
    }
#if SAFETENSORS_WINDOWS
    auto native = to_native(std::string_view(path));
    if (!native) return native.error();
    return std::filesystem::path(std::move(*native));
#else
    return std::filesystem::path(std::string(std::string_view(path)));
#endif
  }
}

// --- the file a mapping shows, reopened; memory for loaded tensors ----------------------------

/// What tells one file from another while it is open: (device, inode) on POSIX, (volume serial
/// number, file index) on Windows. `known` is false when the system would not say.
struct file_identity {
  std::uint64_t volume = 0;
  std::uint64_t file = 0;
  bool known = false;
  bool operator==(const file_identity& o) const noexcept {
    return known && o.known && volume == o.volume && file == o.file;
  }
};

/// Alignment of every buffer allocate_uninit() gives (a cache line, and enough for any SIMD
/// load of the element types).
inline constexpr std::size_t buffer_alignment = 64;
/// From this size on, a buffer is whole pages of its own from the operating system (mmap /
/// VirtualAlloc) instead of the heap: page-aligned, and returned to the system when freed.
inline constexpr std::size_t page_buffer_threshold = std::size_t{64} << 10;

SAFETENSORS_FUNC file_identity identity_of(const os_file& f) noexcept;
/// Opens `path` for reading when it names the file `id` (the file was not replaced since);
/// IoError otherwise.
SAFETENSORS_FUNC result<os_file> open_same(const native_string& path, const file_identity& id,
                                           const std::string& shown);
/// n > 0 bytes of fresh pages, untouched; from the size of a transparent huge page on, aligned
/// to one (Linux), so that the kernel can back them with huge pages: where THP is "always", or
/// when `huge_pages` advises MADV_HUGEPAGE (then one fault per 2 MiB instead of 512).
/// `reserved` receives the bytes to unmap. nullptr when the system refuses.
SAFETENSORS_FUNC std::byte* allocate_pages(std::size_t n, std::size_t& reserved,
                                           bool huge_pages) noexcept;
SAFETENSORS_FUNC void free_pages(std::byte* p, std::size_t reserved) noexcept;
SAFETENSORS_FUNC std::byte* allocate_aligned(std::size_t n) noexcept;
SAFETENSORS_FUNC void free_aligned(std::byte* p) noexcept;

/// Memory that is never initialised, aligned to buffer_alignment: the first write to each page
/// is its first touch, by whichever thread makes it. From page_buffer_threshold bytes on, pages
/// of its own (allocate_pages); below, the heap. Move-only.
class uninit_buffer {
 public:
  uninit_buffer() = default;
  uninit_buffer(const uninit_buffer&) = delete;
  uninit_buffer& operator=(const uninit_buffer&) = delete;
  uninit_buffer(uninit_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        reserved_(std::exchange(o.reserved_, 0)) {}
  uninit_buffer& operator=(uninit_buffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      reserved_ = std::exchange(o.reserved_, 0);
    }
    return *this;
  }
  ~uninit_buffer() { release(); }

  /// `n` bytes, or false when the system refuses them (`out` is then empty). No allocation for
  /// n == 0 (data() is nullptr). `huge_pages`: see allocate_pages.
  static bool allocate(std::size_t n, uninit_buffer& out, bool huge_pages) noexcept {
    out.release();
    if (n == 0) return true;
    std::size_t reserved = 0;
    std::byte* p =
        n >= page_buffer_threshold ? allocate_pages(n, reserved, huge_pages) : allocate_aligned(n);
    if (p == nullptr) return false;
    out.data_ = p;
    out.size_ = n;
    out.reserved_ = reserved;
    return true;
  }
  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void release() noexcept {
    if (reserved_ != 0) {
      free_pages(data_, reserved_);
    } else if (data_ != nullptr) {
      free_aligned(data_);
    }
    data_ = nullptr;
    size_ = 0;
    reserved_ = 0;
  }
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t reserved_ = 0;  // pages to return (0: from the heap)
};

}  // namespace detail

class file_mapping;
namespace detail {
/// The file `m` shows, opened again for pread (IoError when its path now names another file,
/// or no file): the loader reads copies through it instead of faulting the mapping's pages in
/// (docs/loading.md#which-read-when).
SAFETENSORS_FUNC result<os_file> reopen_mapped(const file_mapping& m);
}  // namespace detail

/// A read-only memory mapping of a whole file, RAII and move-only: the bytes only, unparsed
/// (mapped_file maps and parses). POSIX: if another process truncates the file while it is
/// mapped, touching the lost pages raises SIGBUS; use source_reader for files that may change
/// underneath you.
class file_mapping {
 public:
  file_mapping() = default;
  file_mapping(const file_mapping&) = delete;
  file_mapping& operator=(const file_mapping&) = delete;
  file_mapping(file_mapping&& other) noexcept
      : mapping_(std::exchange(other.mapping_, {})),
        path_(std::move(other.path_)),
        native_(std::move(other.native_)),
        identity_(other.identity_),
        copy_on_write_(other.copy_on_write_) {}
  SAFETENSORS_FUNC file_mapping& operator=(file_mapping&& other) noexcept;
  ~file_mapping() { detail::os_mapping::unmap(mapping_.address, mapping_.size); }

  /// Maps the file at `path` (a UTF-8 string or a std::filesystem::path) read-only. IoError
  /// with the operating system's message.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<file_mapping> open(const P& path, const map_options& opts = {}) {
    auto os = detail::to_os_path(path);
    if (!os) return os.error();
    return open_native(os->native, std::move(os->shown), opts);
  }

  /// The mapped bytes (nullptr for an empty file).
  const std::byte* data() const noexcept { return static_cast<const std::byte*>(mapping_.address); }
  /// The file's size in bytes.
  std::size_t byte_size() const noexcept { return mapping_.size; }
  span<const std::byte> bytes() const noexcept { return {data(), byte_size()}; }
  /// The path the file was opened with.
  const std::string& path() const noexcept { return path_; }
  /// True when mapped with map_options::copy_on_write: the pages may be written (privately).
  bool copy_on_write() const noexcept { return copy_on_write_; }

 private:
  SAFETENSORS_FUNC static result<file_mapping> open_native(const detail::native_string& native,
                                                           std::string shown,
                                                           const map_options& opts);
  friend result<detail::os_file> detail::reopen_mapped(const file_mapping& m);
  detail::os_mapping mapping_;
  std::string path_;
  detail::native_string native_;    // the path as opened, to reopen it (reopen_mapped)
  detail::file_identity identity_;  // the file mapped
  bool copy_on_write_ = false;      // map_options::copy_on_write
};

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

#if SAFETENSORS_WINDOWS
static_assert(std::is_same_v<HANDLE, void*>, "os_file::handle holds a HANDLE");

SAFETENSORS_FUNC os_file::~os_file() {
  if (handle != INVALID_HANDLE_VALUE) CloseHandle(handle);
}

SAFETENSORS_FUNC void os_mapping::unmap(const void* address, std::size_t /*size*/) noexcept {
  if (address) UnmapViewOfFile(address);
}

SAFETENSORS_FUNC std::string last_error_message(DWORD code) {
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

SAFETENSORS_FUNC result<native_string> to_native(std::string_view utf8) {
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

SAFETENSORS_FUNC result<os_file> open_read(const native_string& path, const std::string& shown) {
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

SAFETENSORS_FUNC result<std::uint64_t> file_size(const os_file& f, const std::string& shown) {
  LARGE_INTEGER size;
  if (!GetFileSizeEx(f.handle, &size)) {
    return error(errc::io_error, "cannot get the size of " + quote(shown) + ": " +
                                     last_error_message(GetLastError()));
  }
  return static_cast<std::uint64_t>(size.QuadPart);
}

SAFETENSORS_FUNC result<void> read_at(const os_file& f, std::uint64_t offset, void* dst,
                                      std::size_t n, const std::string& shown) {
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

SAFETENSORS_FUNC result<os_mapping> map_file(const os_file& f, std::uint64_t size,
                                             const map_options& opts, const std::string& shown) {
  os_mapping m;
  if (size == 0) return m;  // nothing to map; parsing reports HeaderTooSmall
  if (size > static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + num(size) +
                                     " bytes exceed the address space; use source_reader");
  }
  HANDLE mapping = CreateFileMappingW(
      f.handle, nullptr, opts.copy_on_write ? PAGE_WRITECOPY : PAGE_READONLY, 0, 0, nullptr);
  if (!mapping) {
    return error(errc::io_error,
                 "cannot map " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  m.address = MapViewOfFile(mapping, opts.copy_on_write ? FILE_MAP_COPY : FILE_MAP_READ, 0, 0, 0);
  const DWORD code = GetLastError();
  CloseHandle(mapping);  // the view keeps the mapping alive
  if (!m.address) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + last_error_message(code));
  }
  m.size = static_cast<std::size_t>(size);
  return m;
}
#else
SAFETENSORS_FUNC os_file::~os_file() {
  if (fd >= 0) ::close(fd);
}

SAFETENSORS_FUNC void os_mapping::unmap(const void* address, std::size_t size) noexcept {
  if (address) ::munmap(const_cast<void*>(address), size);
}

SAFETENSORS_FUNC std::string errno_message(int code) {
  return std::generic_category().message(code);
}

SAFETENSORS_FUNC result<native_string> to_native(std::string_view utf8) {
  if (utf8.find('\0') != std::string_view::npos) {
    return error(errc::invalid_argument, "the path contains a NUL byte");  // the OS would cut it
  }
  return native_string(utf8);
}

SAFETENSORS_FUNC result<os_file> open_read(const native_string& path, const std::string& shown) {
  os_file f;
  int flags = O_RDONLY;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  do {
    f.fd = ::open(path.c_str(), flags);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0)
    return error(errc::io_error, cat({"cannot open ", quote(shown), ": ", errno_message(errno)}));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return error(errc::io_error, cat({"cannot stat ", quote(shown), ": ", errno_message(errno)}));
  }
  if (S_ISDIR(st.st_mode)) {
    return error(errc::io_error, cat({"cannot open ", quote(shown), ": it is a directory"}));
  }
  return f;
}

SAFETENSORS_FUNC result<std::uint64_t> file_size(const os_file& f, const std::string& shown) {
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return error(errc::io_error, cat({"cannot stat ", quote(shown), ": ", errno_message(errno)}));
  }
  if (st.st_size < 0) return error(errc::io_error, cat({"cannot size ", quote(shown)}));
  return static_cast<std::uint64_t>(st.st_size);
}

SAFETENSORS_FUNC result<void> read_at(const os_file& f, std::uint64_t offset, void* dst,
                                      std::size_t n, const std::string& shown) {
  auto* out = static_cast<unsigned char*>(dst);
  while (n > 0) {
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
      return error(errc::io_error,
                   cat({"offset ", num(offset), " is beyond what this system can read"}));
    }
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);
    const ssize_t got = ::pread(f.fd, out, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return error(errc::io_error, cat({"cannot read ", quote(shown), " at offset ", num(offset),
                                        ": ", errno_message(errno)}));
    }
    if (got == 0) {
      return error(errc::io_error, cat({"unexpected end of ", quote(shown), " at offset ",
                                        num(offset), " (was the file truncated?)"}));
    }
    out += got;
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
  return {};
}

SAFETENSORS_FUNC result<os_mapping> map_file(const os_file& f, std::uint64_t size,
                                             const map_options& opts, const std::string& shown) {
  os_mapping m;
  if (size == 0) return m;  // mmap rejects length 0; parsing reports HeaderTooSmall
  if (size > detail::int_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::io_error, cat({"cannot map ", quote(shown), ": ", num(size),
                                      " bytes exceed the address space; use source_reader"}));
  }
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  if (opts.populate) flags |= MAP_POPULATE;
#endif
  const int prot = opts.copy_on_write ? PROT_READ | PROT_WRITE : PROT_READ;
  void* address = ::mmap(nullptr, detail::int_cast<std::size_t>(size), prot, flags, f.fd, 0);
  if (address == MAP_FAILED) {
    return error(errc::io_error, cat({"cannot map ", quote(shown), ": ", errno_message(errno)}));
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
  if (advice >= 0)
    (void)::madvise(address, detail::int_cast<std::size_t>(size), advice);  // a hint only
  m.address = address;
  m.size = detail::int_cast<std::size_t>(size);
  return m;
}
#endif

SAFETENSORS_FUNC result<native_string> to_native(const std::filesystem::path& p) {
  if (p.native().find(std::filesystem::path::value_type{}) !=
      std::filesystem::path::string_type::npos) {
    return error(errc::invalid_argument, "the path contains a NUL byte");  // the OS would cut it
  }
#if SAFETENSORS_WINDOWS
  return native_string(p.wstring());
#else
  return p.string();
#endif
}

SAFETENSORS_FUNC std::string display_path(const std::filesystem::path& p) {
#if SAFETENSORS_WINDOWS
  const auto u8 = p.u8string();
  return std::string(u8.begin(), u8.end());
#else
  return p.string();
#endif
}

#if SAFETENSORS_WINDOWS
SAFETENSORS_FUNC file_identity identity_of(const os_file& f) noexcept {
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(f.handle, &info)) return {};
  return {info.dwVolumeSerialNumber,
          (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow, true};
}

SAFETENSORS_FUNC result<os_file> open_same(const native_string& path, const file_identity& id,
                                           const std::string& shown) {
  auto f = open_read(path, shown);
  if (!f) return f.error();
  if (!(identity_of(*f) == id)) {
    return error(errc::io_error, quote(shown) + " now names another file");
  }
  return f;
}

SAFETENSORS_FUNC std::byte* allocate_pages(std::size_t n, std::size_t& reserved, bool) noexcept {
  void* p = VirtualAlloc(nullptr, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  reserved = p != nullptr ? n : 0;
  return static_cast<std::byte*>(p);
}
SAFETENSORS_FUNC void free_pages(std::byte* p, std::size_t) noexcept {
  if (p != nullptr) VirtualFree(p, 0, MEM_RELEASE);
}
SAFETENSORS_FUNC std::byte* allocate_aligned(std::size_t n) noexcept {
  return static_cast<std::byte*>(_aligned_malloc(n, buffer_alignment));
}
SAFETENSORS_FUNC void free_aligned(std::byte* p) noexcept { _aligned_free(p); }
#else
SAFETENSORS_FUNC file_identity identity_of(const os_file& f) noexcept {
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return {};
  return {int_cast<std::uint64_t>(st.st_dev), int_cast<std::uint64_t>(st.st_ino), true};
}

/// POSIX: a non-blocking open, so that a FIFO put at the path cannot hang it.
SAFETENSORS_FUNC result<os_file> open_same(const native_string& path, const file_identity& id,
                                           const std::string& shown) {
  os_file f;
  int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  do {
    f.fd = ::open(path.c_str(), flags);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0)
    return error(errc::io_error, cat({"cannot open ", quote(shown), ": ", errno_message(errno)}));
  if (!(identity_of(f) == id)) {
    return error(errc::io_error, quote(shown) + " now names another file");
  }
  return f;  // a regular file, as when it was mapped: O_NONBLOCK changes nothing for pread
}

SAFETENSORS_FUNC std::size_t os_page_size() noexcept {
  static const std::size_t size = [] {
    const long n = ::sysconf(_SC_PAGESIZE);
    return n > 0 ? static_cast<std::size_t>(n) : std::size_t{4096};
  }();
  return size;
}

/// The size of a transparent huge page (Linux: hpage_pmd_size), or 0 where there are none.
SAFETENSORS_FUNC std::size_t huge_page_size() noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  static const std::size_t size = [] {
    int flags = O_RDONLY;
#ifdef O_CLOEXEC
    flags |= O_CLOEXEC;
#endif
    const int fd = ::open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", flags);
    if (fd < 0) return std::size_t{0};
    char text[32] = {};
    const ssize_t got = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    std::size_t n = 0;
    for (ssize_t i = 0; i < got && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (n > (std::numeric_limits<std::size_t>::max() - 9) / 10) return std::size_t{0};
      n = n * 10 + static_cast<std::size_t>(text[i] - '0');
    }
    return n;
  }();
  return size;
#else
  return 0;
#endif
}

SAFETENSORS_FUNC std::byte* allocate_pages(std::size_t n, std::size_t& reserved,
                                           bool huge_pages) noexcept {
  reserved = 0;
  const std::size_t page = os_page_size();
  const std::size_t huge = huge_page_size();
  if (n > std::numeric_limits<std::size_t>::max() - page) return nullptr;
  const std::size_t length = (n + page - 1) / page * page;
  const std::size_t align = huge > page && n >= huge ? huge : page;
  if (length > std::numeric_limits<std::size_t>::max() - align) return nullptr;
  const std::size_t span_size = length + (align > page ? align : 0);  // room to align the start
  void* m = ::mmap(nullptr, span_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = (start + (align - 1)) / align * align;
  if (aligned > start) (void)::munmap(m, aligned - start);
  const std::uintptr_t tail = start + span_size - (aligned + length);
  if (tail != 0) (void)::munmap(reinterpret_cast<void*>(aligned + length), tail);
  auto* p = reinterpret_cast<std::byte*>(aligned);
#ifdef MADV_HUGEPAGE
  if (huge_pages && align == huge) (void)::madvise(p, length, MADV_HUGEPAGE);  // a hint only
#else
  (void)huge_pages;
#endif
  reserved = length;
  return p;
}
SAFETENSORS_FUNC void free_pages(std::byte* p, std::size_t reserved) noexcept {
  if (p != nullptr) (void)::munmap(p, reserved);
}
SAFETENSORS_FUNC std::byte* allocate_aligned(std::size_t n) noexcept {
  void* p = nullptr;
  if (::posix_memalign(&p, buffer_alignment, n) != 0) return nullptr;
  return static_cast<std::byte*>(p);
}
SAFETENSORS_FUNC void free_aligned(std::byte* p) noexcept { std::free(p); }
#endif

}  // namespace detail

SAFETENSORS_FUNC file_mapping& file_mapping::operator=(file_mapping&& other) noexcept {
  if (this != &other) {
    detail::os_mapping::unmap(mapping_.address, mapping_.size);
    mapping_ = std::exchange(other.mapping_, {});
    path_ = std::move(other.path_);
    native_ = std::move(other.native_);
    identity_ = other.identity_;
    copy_on_write_ = other.copy_on_write_;
  }
  return *this;
}

SAFETENSORS_FUNC result<file_mapping> file_mapping::open_native(const detail::native_string& native,
                                                                std::string shown,
                                                                const map_options& opts) {
  auto file = detail::open_read(native, shown);
  if (!file) return file.error();
  auto size = detail::file_size(*file, shown);
  if (!size) return size.error();
  auto mapping = detail::map_file(*file, *size, opts, shown);
  if (!mapping) return mapping.error();
  file_mapping out;
  out.mapping_ = *mapping;
  out.path_ = std::move(shown);
  out.native_ = native;
  out.identity_ = detail::identity_of(*file);
  out.copy_on_write_ = opts.copy_on_write;
  return out;
}

namespace detail {
SAFETENSORS_FUNC result<os_file> reopen_mapped(const file_mapping& m) {
  return open_same(m.native_, m.identity_, m.path_);
}
}  // namespace detail

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#endif  // SAFETENSORS_PARTS_PLATFORM_HPP
