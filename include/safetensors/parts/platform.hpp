// safetensors for C++, part 4 of 11: platform I/O, POSIX and Windows. UTF-8 paths to native
// ones, files read with pread / ReadFile, read-only mappings, and the write side: a temporary
// file next to the target, positioned writes, flush, and the atomic rename over the target
// (docs/writer.md#atomic-files). Everything here is detail but file_mapping and map_options.
// Each part declares, then defines under SAFETENSORS_DEFINITIONS, which the translation units of
// the separate-compilation mode do not see (docs/design.md#separate-compilation): the operating
// system's headers are included for the definitions only.
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_PLATFORM_HPP
#define SAFETENSORS_PARTS_PLATFORM_HPP

#include <atomic>  // also for sharded.hpp, which does not include it yet
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
SAFETENSORS_FUNC native_string temp_prefix_for(const native_string& target);
SAFETENSORS_FUNC native_string temp_name_for(const native_string& target, unsigned attempt);
SAFETENSORS_FUNC bool is_temp_name(const native_string& name, const native_string& stem) noexcept;
SAFETENSORS_FUNC native_string temp_target_of(const native_string& name);
SAFETENSORS_FUNC result<os_file> create_new(const native_string& path, const std::string& shown,
                                            bool& exists);
SAFETENSORS_FUNC result<void> write_at(const os_file& f, std::uint64_t offset, const void* src,
                                       std::size_t n, const std::string& shown);
SAFETENSORS_FUNC result<void> set_size(const os_file& f, std::uint64_t size,
                                       const std::string& shown);
SAFETENSORS_FUNC result<void> sync_file(const os_file& f, const std::string& shown);
SAFETENSORS_FUNC result<void> close_file(os_file& f, const std::string& shown);
SAFETENSORS_FUNC result<void> replace_file(const native_string& from, const native_string& to,
                                           const std::string& shown);
SAFETENSORS_FUNC void remove_file(const native_string& path) noexcept;
SAFETENSORS_FUNC void keep_mode_of(const native_string& target, const os_file& f) noexcept;
SAFETENSORS_FUNC result<bool> lock_temp(const native_string& path, const os_file& f,
                                        const std::string& shown, bool& lost);
SAFETENSORS_FUNC result<os_file> keep_lock(const os_file& f, const std::string& shown);
SAFETENSORS_FUNC void remove_if_stale(const native_string& path) noexcept;
SAFETENSORS_FUNC void remove_stale_temps(const native_string& target) noexcept;
SAFETENSORS_FUNC os_file lock_publication(const native_string& path) noexcept;
SAFETENSORS_FUNC void start_writeback(const os_file& f) noexcept;
SAFETENSORS_FUNC bool is_open(const os_file& f) noexcept;
SAFETENSORS_FUNC void sync_parent_dir(const native_string& path) noexcept;

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

/// A file written under a temporary name next to its target and renamed over the target only by
/// commit() (or finish() then replace()); destroying it before removes the temporary file. On
/// POSIX the temporary file is flock-ed from its creation until the rename, so that the cleanup
/// of other writers (remove_stale_temps) leaves it alone. Move-only.
class atomic_file {
 public:
  atomic_file() = default;
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  SAFETENSORS_FUNC atomic_file(atomic_file&& o) noexcept;
  SAFETENSORS_FUNC atomic_file& operator=(atomic_file&& o) noexcept;
  SAFETENSORS_FUNC ~atomic_file();

  /// Removes the stale temporary files of `target` (remove_stale_temps), then creates and locks
  /// a new one.
  SAFETENSORS_FUNC static result<atomic_file> create(native_string target, std::string shown);

  /// Writes n bytes at `offset` of the temporary file.
  result<void> write_at(std::uint64_t offset, const void* data, std::size_t n) {
    return detail::write_at(file_, offset, data, n, shown_);
  }
  /// Sets the temporary file's size.
  result<void> set_size(std::uint64_t size) { return detail::set_size(file_, size, shown_); }
  /// Everything of commit() but the rename: flushes (when `sync`) and closes the temporary file
  /// (its lock stays held). On error the temporary file is removed.
  SAFETENSORS_FUNC result<void> finish(bool sync);
  /// After finish() without sync: starts writing the data back (start_writeback), so that the
  /// rename is quick.
  void start_writeback() noexcept { detail::start_writeback(finished_ ? lock_ : file_); }
  /// POSIX: the file the rename will replace, opened, so that its blocks are freed when the
  /// caller closes it rather than during the rename; an empty os_file when there is none (or on
  /// Windows, where an open target could not be replaced).
  SAFETENSORS_FUNC os_file open_target() const noexcept;
  /// Renames the temporary file over the target (after finish(); no directory flush). On error
  /// the temporary file is removed.
  SAFETENSORS_FUNC result<void> replace();
  /// Flushes (when `sync`), closes and renames the temporary file over the target, then (when
  /// `sync`) flushes the target's directory.
  SAFETENSORS_FUNC result<void> commit(bool sync);
  /// Closes and removes the temporary file (no-op after commit).
  SAFETENSORS_FUNC void discard() noexcept;
  /// The target's path for messages.
  const std::string& shown() const noexcept { return shown_; }

 private:
  SAFETENSORS_FUNC error fail_with(error e);
  os_file file_;
  os_file lock_;  // POSIX, after finish(): holds the flock until the rename
  native_string target_;
  native_string temp_;
  std::string shown_;
  bool live_ = false;
  bool locked_ = false;    // lock_temp took the flock
  bool finished_ = false;  // finish() closed file_
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
        identity_(other.identity_) {}
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

 private:
  SAFETENSORS_FUNC static result<file_mapping> open_native(const detail::native_string& native,
                                                           std::string shown,
                                                           const map_options& opts);
  friend result<detail::os_file> detail::reopen_mapped(const file_mapping& m);
  detail::os_mapping mapping_;
  std::string path_;
  detail::native_string native_;    // the path as opened, to reopen it (reopen_mapped)
  detail::file_identity identity_;  // the file mapped
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
                                             const map_options&, const std::string& shown) {
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

SAFETENSORS_FUNC result<std::uint64_t> file_size(const os_file& f, const std::string& shown) {
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return error(errc::io_error, "cannot stat " + quote(shown) + ": " + errno_message(errno));
  }
  if (st.st_size < 0) return error(errc::io_error, "cannot size " + quote(shown));
  return static_cast<std::uint64_t>(st.st_size);
}

SAFETENSORS_FUNC result<void> read_at(const os_file& f, std::uint64_t offset, void* dst,
                                      std::size_t n, const std::string& shown) {
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

SAFETENSORS_FUNC result<os_mapping> map_file(const os_file& f, std::uint64_t size,
                                             const map_options& opts, const std::string& shown) {
  os_mapping m;
  if (size == 0) return m;  // mmap rejects length 0; parsing reports HeaderTooSmall
  if (size > detail::int_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max())) {
    return error(errc::io_error, "cannot map " + quote(shown) + ": " + num(size) +
                                     " bytes exceed the address space; use source_reader");
  }
  int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
  if (opts.populate) flags |= MAP_POPULATE;
#endif
  void* address = ::mmap(nullptr, detail::int_cast<std::size_t>(size), PROT_READ, flags, f.fd, 0);
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

// --- platform I/O: the write side (temporary file, positioned writes, sync, atomic replace) ---

/// The part of every temporary file name for `target` before its 16 hex digits:
/// "<dir>/.<name>.", with the name cut to 200 units so that a target name of NAME_MAX (255)
/// still gives a legal name.
SAFETENSORS_FUNC native_string temp_prefix_for(const native_string& target) {
  using char_type = typename native_string::value_type;
#if SAFETENSORS_WINDOWS
  const std::size_t slash = target.find_last_of(L"/\\");
#else
  const std::size_t slash = target.find_last_of('/');
#endif
  const std::size_t base = slash == native_string::npos ? 0 : slash + 1;
  native_string out = target.substr(0, base);
  out += detail::int_cast<char_type>('.');
  std::size_t keep = std::min<std::size_t>(target.size() - base, 200);
  if (keep < target.size() - base) {  // cut on a character boundary
#if SAFETENSORS_WINDOWS
    if ((static_cast<unsigned>(target[base + keep - 1]) & 0xFC00u) == 0xD800u) --keep;
#else
    while (keep > 0 && (static_cast<unsigned char>(target[base + keep]) & 0xC0u) == 0x80u) --keep;
#endif
  }
  out += target.substr(base, keep);
  out += detail::int_cast<char_type>('.');
  return out;
}

/// A name for a temporary file next to `target`: "<dir>/.<name>.<16 hex digits>.tmp"
/// (temp_prefix_for, then digits that mix a clock, a counter and an address).
SAFETENSORS_FUNC native_string temp_name_for(const native_string& target, unsigned attempt) {
  using char_type = typename native_string::value_type;
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  x ^= (counter.fetch_add(1) + attempt) * 0x9E3779B97F4A7C15ULL;
  x ^= detail::int_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&counter)) << 7;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  native_string out = temp_prefix_for(target);
  for (unsigned i = 0; i < 16; ++i)
    out += detail::int_cast<char_type>(hex_digit(static_cast<unsigned>(x >> (60 - 4 * i))));
  for (const char c : std::string_view(".tmp")) out += static_cast<char_type>(c);
  return out;
}

/// True when the file name `name` (no directory) is one temp_name_for gives: `stem` (the file
/// name part of temp_prefix_for, ".<name>."), 16 lowercase hex digits, ".tmp".
SAFETENSORS_FUNC bool is_temp_name(const native_string& name, const native_string& stem) noexcept {
  constexpr std::size_t digits = 16;
  constexpr std::string_view tail = ".tmp";
  if (name.size() != stem.size() + digits + tail.size()) return false;
  if (name.compare(0, stem.size(), stem) != 0) return false;
  for (std::size_t i = 0; i < digits; ++i) {
    const auto c = name[stem.size() + i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  for (std::size_t i = 0; i < tail.size(); ++i) {
    if (name[stem.size() + digits + i] != static_cast<typename native_string::value_type>(tail[i]))
      return false;
  }
  return true;
}

/// The target file name in a file name that has the shape temp_name_for gives, ".<name>.<16 hex
/// digits>.tmp" (`<name>` possibly cut, as temp_prefix_for cuts it); empty for any other name.
SAFETENSORS_FUNC native_string temp_target_of(const native_string& name) {
  constexpr std::size_t extra = 1 + 1 + 16 + 4;  // ".", ".", the digits, ".tmp"
  if (name.size() <= extra || name[0] != '.') return {};
  const native_string target = name.substr(1, name.size() - extra);
  native_string stem;
  stem += name[0];
  stem += target;
  stem += name[0];
  return is_temp_name(name, stem) ? target : native_string();
}

#if SAFETENSORS_WINDOWS
SAFETENSORS_FUNC result<os_file> create_new(const native_string& path, const std::string& shown,
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

SAFETENSORS_FUNC result<void> write_at(const os_file& f, std::uint64_t offset, const void* src,
                                       std::size_t n, const std::string& shown) {
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

SAFETENSORS_FUNC result<void> set_size(const os_file& f, std::uint64_t size,
                                       const std::string& shown) {
  FILE_END_OF_FILE_INFO info{};
  info.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
  if (!SetFileInformationByHandle(f.handle, FileEndOfFileInfo, &info, sizeof(info))) {
    return error(errc::io_error, "cannot set the size of " + quote(shown) + ": " +
                                     last_error_message(GetLastError()));
  }
  return {};
}

SAFETENSORS_FUNC result<void> sync_file(const os_file& f, const std::string& shown) {
  if (!FlushFileBuffers(f.handle)) {
    return error(errc::io_error,
                 "cannot flush " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

SAFETENSORS_FUNC result<void> close_file(os_file& f, const std::string& shown) {
  const HANDLE h = std::exchange(f.handle, INVALID_HANDLE_VALUE);
  if (h != INVALID_HANDLE_VALUE && !CloseHandle(h)) {
    return error(errc::io_error,
                 "cannot close " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

SAFETENSORS_FUNC result<void> replace_file(const native_string& from, const native_string& to,
                                           const std::string& shown) {
  if (!MoveFileExW(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return error(errc::io_error,
                 "cannot replace " + quote(shown) + ": " + last_error_message(GetLastError()));
  }
  return {};
}

SAFETENSORS_FUNC void remove_file(const native_string& path) noexcept { DeleteFileW(path.c_str()); }

SAFETENSORS_FUNC void sync_parent_dir(const native_string&) noexcept {}  // MOVEFILE_WRITE_THROUGH

SAFETENSORS_FUNC void start_writeback(const os_file&) noexcept {}  // a Linux hint only

SAFETENSORS_FUNC bool is_open(const os_file& f) noexcept {
  return f.handle != INVALID_HANDLE_VALUE;
}

SAFETENSORS_FUNC void keep_mode_of(const native_string&, const os_file&) noexcept {}

/// Windows needs no lock: a temporary file being written is open without FILE_SHARE_DELETE,
/// which already keeps remove_stale_temps from deleting it.
SAFETENSORS_FUNC result<bool> lock_temp(const native_string&, const os_file&, const std::string&,
                                        bool& lost) {
  lost = false;
  return false;
}
SAFETENSORS_FUNC result<os_file> keep_lock(const os_file&, const std::string&) { return os_file(); }

/// Removes the temporary files that writers killed before their commit left next to `target`
/// (docs/writing.md#what-a-kill-leaves): regular files named as temp_name_for names them for
/// `target` that DeleteFileW can delete, i.e. no process has them open (a writer holds its
/// temporary file open without FILE_SHARE_DELETE). Best effort and silent.
SAFETENSORS_FUNC void remove_stale_temps(const native_string& target) noexcept {
  const native_string prefix = temp_prefix_for(target);
  const std::size_t slash = prefix.find_last_of(L"/\\");
  const native_string dir =
      slash == native_string::npos ? native_string() : prefix.substr(0, slash + 1);
  const native_string stem = prefix.substr(dir.size());
  const native_string pattern = prefix + L"*.tmp";
  WIN32_FIND_DATAW found{};
  const HANDLE h = FindFirstFileW(pattern.c_str(), &found);
  if (h == INVALID_HANDLE_VALUE) return;
  do {
    if ((found.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) != 0)
      continue;
    const native_string name(found.cFileName);
    if (is_temp_name(name, stem)) DeleteFileW((dir + name).c_str());
  } while (FindNextFileW(h, &found));
  FindClose(h);
}

/// Windows: nothing (docs/writing.md#concurrent-saves); see the POSIX lock_publication.
SAFETENSORS_FUNC os_file lock_publication(const native_string&) noexcept { return os_file(); }

/// Removes the temporary file `path` when no process has it open (remove_stale_temps' test for
/// one file); not a directory or a link.
SAFETENSORS_FUNC void remove_if_stale(const native_string& path) noexcept {
  const DWORD attributes = GetFileAttributesW(path.c_str());
  if (attributes == INVALID_FILE_ATTRIBUTES ||
      (attributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) != 0) {
    return;
  }
  DeleteFileW(path.c_str());
}
#else
SAFETENSORS_FUNC result<os_file> create_new(const native_string& path, const std::string& shown,
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

SAFETENSORS_FUNC result<void> write_at(const os_file& f, std::uint64_t offset, const void* src,
                                       std::size_t n, const std::string& shown) {
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

SAFETENSORS_FUNC result<void> set_size(const os_file& f, std::uint64_t size,
                                       const std::string& shown) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) ||
      ::ftruncate(f.fd, static_cast<off_t>(size)) != 0) {
    return error(errc::io_error, "cannot set the size of " + quote(shown) + " to " + num(size) +
                                     " bytes: " + errno_message(errno));
  }
  return {};
}

SAFETENSORS_FUNC result<void> sync_file(const os_file& f, const std::string& shown) {
  if (::fsync(f.fd) != 0) {
    return error(errc::io_error, "cannot flush " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

SAFETENSORS_FUNC result<void> close_file(os_file& f, const std::string& shown) {
  const int fd = std::exchange(f.fd, -1);
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) {
    return error(errc::io_error, "cannot close " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

SAFETENSORS_FUNC result<void> replace_file(const native_string& from, const native_string& to,
                                           const std::string& shown) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return error(errc::io_error, "cannot replace " + quote(shown) + ": " + errno_message(errno));
  }
  return {};
}

SAFETENSORS_FUNC void remove_file(const native_string& path) noexcept {
  (void)::unlink(path.c_str());
}

/// Gives the new file the permissions of the file it replaces (best effort), so that overwriting
/// keeps a file's mode; a new file gets 0666 minus the umask, as any created file.
SAFETENSORS_FUNC void keep_mode_of(const native_string& target, const os_file& f) noexcept {
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    (void)::fchmod(f.fd, st.st_mode & 07777);
  }
}

/// Marks the new temporary file `f` at `path` as being written: an exclusive flock, held until
/// the rename (keep_lock), which remove_stale_temps cannot take. `lost` when the cleanup of
/// another writer took the file first (it is being removed; the caller tries another name).
/// The value: whether the file is locked; false on a file system without flock, where no
/// cleanup can take a lock either, so none removes the file.
SAFETENSORS_FUNC result<bool> lock_temp(const native_string& path, const os_file& f,
                                        const std::string& shown, bool& lost) {
  lost = false;
  int rc = 0;
  do {
    rc = ::flock(f.fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno != EWOULDBLOCK) return false;
    lost = true;
    return error(errc::io_error, "cannot lock " + quote(shown) + ": another process holds it");
  }
  struct stat opened {};
  struct stat named {};
  if (::fstat(f.fd, &opened) != 0 || ::lstat(path.c_str(), &named) != 0 ||
      opened.st_dev != named.st_dev || opened.st_ino != named.st_ino) {
    lost = true;
    return error(errc::io_error, "cannot create " + quote(shown) + ": removed by another process");
  }
  return true;
}

/// A second descriptor of `f`, which holds f's flock after `f` is closed (a flock belongs to the
/// open file, not to one descriptor).
SAFETENSORS_FUNC result<os_file> keep_lock(const os_file& f, const std::string& shown) {
  os_file out;
#ifdef F_DUPFD_CLOEXEC
  out.fd = ::fcntl(f.fd, F_DUPFD_CLOEXEC, 0);
#else
  out.fd = ::dup(f.fd);
#endif
  if (out.fd < 0) {
    return error(errc::io_error, "cannot duplicate the descriptor of " + quote(shown) + ": " +
                                     errno_message(errno));
  }
  return out;
}

/// Removes the temporary file `path` when it is a regular file whose flock can be taken, i.e.
/// that no process is writing (lock_temp). Best effort and silent: a file that cannot be opened,
/// locked or removed stays as it is.
SAFETENSORS_FUNC void remove_if_stale(const native_string& path) noexcept {
  int flags = O_RDONLY | O_NONBLOCK;
#ifdef O_NOFOLLOW
  flags |= O_NOFOLLOW;
#endif
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  struct stat opened {};
  struct stat named {};
  if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
      ::lstat(path.c_str(), &named) == 0 && named.st_dev == opened.st_dev &&
      named.st_ino == opened.st_ino) {
    (void)::unlink(path.c_str());  // locked by us: its writer is gone
  }
  ::close(fd);
}

/// Removes the temporary files that writers killed before their commit left next to `target`
/// (docs/writing.md#what-a-kill-leaves): files named as temp_name_for names them for `target`
/// that no process is writing (remove_if_stale). Best effort and silent, as is a directory that
/// cannot be read.
SAFETENSORS_FUNC void remove_stale_temps(const native_string& target) noexcept {
  const native_string prefix = temp_prefix_for(target);
  const std::size_t slash = prefix.find_last_of('/');
  const native_string dir =
      slash == native_string::npos ? native_string() : prefix.substr(0, slash + 1);
  const native_string stem = prefix.substr(dir.size());
  DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
  if (d == nullptr) return;
  std::vector<native_string> candidates;
  while (const dirent* e = ::readdir(d)) {
    const native_string name(e->d_name);
    if (is_temp_name(name, stem)) candidates.push_back(dir + name);
  }
  ::closedir(d);
  for (const native_string& path : candidates) remove_if_stale(path);
}

/// A read-only descriptor of the directory that holds `path` (-1 when it cannot be opened).
SAFETENSORS_FUNC int open_parent_dir(const native_string& path) noexcept {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == native_string::npos ? std::string(".")
                          : slash == 0                 ? std::string("/")
                                                       : path.substr(0, slash);
  int flags = O_RDONLY;
#ifdef O_DIRECTORY
  flags |= O_DIRECTORY;
#endif
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  return ::open(dir.c_str(), flags);
}

/// Serializes the publication of checkpoints in the directory that holds `path` across threads
/// and processes (docs/writing.md#concurrent-saves): an exclusive flock on the directory itself,
/// waited for and released when the returned descriptor closes. Best effort: where the directory
/// cannot be opened or locked (a file system without flock), no lock and no error.
SAFETENSORS_FUNC os_file lock_publication(const native_string& path) noexcept {
  os_file f;
  f.fd = open_parent_dir(path);
  if (f.fd < 0) return f;
  int rc = 0;
  do {
    rc = ::flock(f.fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return os_file();  // closes it
  return f;
}

/// Starts writing the file's data back to the disk, without waiting (Linux: sync_file_range),
/// so that a rename over an existing file later does not do it (ext4 does, for a file whose
/// blocks are not allocated yet). A hint: elsewhere, and on error, nothing.
SAFETENSORS_FUNC void start_writeback(const os_file& f) noexcept {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
  if (f.fd >= 0) (void)::sync_file_range(f.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
  (void)f;
#endif
}

SAFETENSORS_FUNC bool is_open(const os_file& f) noexcept { return f.fd >= 0; }

/// Makes a completed rename durable: fsync of the directory that holds `path` (best effort).
SAFETENSORS_FUNC void sync_parent_dir(const native_string& path) noexcept {
  const int fd = open_parent_dir(path);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}
#endif

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
    return error(errc::io_error, "cannot open " + quote(shown) + ": " + errno_message(errno));
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

SAFETENSORS_FUNC atomic_file::atomic_file(atomic_file&& o) noexcept
    : file_(std::move(o.file_)),
      lock_(std::move(o.lock_)),
      target_(std::move(o.target_)),
      temp_(std::move(o.temp_)),
      shown_(std::move(o.shown_)),
      live_(std::exchange(o.live_, false)),
      locked_(o.locked_),
      finished_(o.finished_) {}

SAFETENSORS_FUNC atomic_file& atomic_file::operator=(atomic_file&& o) noexcept {
  if (this != &o) {
    discard();
    file_ = std::move(o.file_);
    lock_ = std::move(o.lock_);
    target_ = std::move(o.target_);
    temp_ = std::move(o.temp_);
    shown_ = std::move(o.shown_);
    live_ = std::exchange(o.live_, false);
    locked_ = o.locked_;
    finished_ = o.finished_;
  }
  return *this;
}

SAFETENSORS_FUNC atomic_file::~atomic_file() { discard(); }

SAFETENSORS_FUNC result<atomic_file> atomic_file::create(native_string target, std::string shown) {
  remove_stale_temps(target);
  for (unsigned attempt = 0;; ++attempt) {
    native_string temp = temp_name_for(target, attempt);
    const std::string shown_temp = display_path(std::filesystem::path(temp));
    bool retry = false;
    auto file = create_new(temp, shown_temp, retry);
    auto locked = file ? lock_temp(temp, *file, shown_temp, retry) : result<bool>(file.error());
    if (!locked) {
      if (retry && attempt < 64) continue;
      // The system's reason, without the temporary file's generated name.
      std::string why = locked.error().message();
      const std::string named = "cannot create " + quote(shown_temp) + ": ";
      if (why.compare(0, named.size(), named) == 0) why.erase(0, named.size());
      return error(errc::io_error, "cannot write " + quote(shown) +
                                       ": cannot create a temporary file in its directory: " + why);
    }
    keep_mode_of(target, *file);
    atomic_file out;
    out.file_ = std::move(*file);
    out.target_ = std::move(target);
    out.temp_ = std::move(temp);
    out.shown_ = std::move(shown);
    out.live_ = true;
    out.locked_ = *locked;
    return out;
  }
}

SAFETENSORS_FUNC result<void> atomic_file::finish(bool sync) {
  if (!live_) return error(errc::invalid_argument, "the file was already committed or discarded");
  if (finished_) return {};
  if (sync) {
    if (auto r = sync_file(file_, shown_); !r) return fail_with(r.error());
  }
  if (locked_) {
    auto lock = keep_lock(file_, shown_);
    if (!lock) return fail_with(lock.error());
    lock_ = std::move(*lock);
  }
  if (auto r = close_file(file_, shown_); !r) return fail_with(r.error());
  finished_ = true;
  return {};
}

SAFETENSORS_FUNC os_file atomic_file::open_target() const noexcept {
  os_file out;
#if !SAFETENSORS_WINDOWS
  int flags = O_RDONLY | O_NONBLOCK;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  out.fd = ::open(target_.c_str(), flags);
#endif
  return out;
}

SAFETENSORS_FUNC result<void> atomic_file::replace() {
  if (!live_ || !finished_) {
    return error(errc::invalid_argument, "the file is not finished, or was already committed");
  }
  if (auto r = replace_file(temp_, target_, shown_); !r) return fail_with(r.error());
  live_ = false;
  { os_file released = std::move(lock_); }  // the temporary name is gone: so can the lock
  return {};
}

SAFETENSORS_FUNC result<void> atomic_file::commit(bool sync) {
  if (auto r = finish(sync); !r) return r;
  if (auto r = replace(); !r) return r;
  if (sync) sync_parent_dir(target_);
  return {};
}

SAFETENSORS_FUNC void atomic_file::discard() noexcept {
  if (!live_) return;
  live_ = false;
  os_file closing = std::move(file_);
  { os_file gone = std::move(closing); }  // close before removing (Windows needs it)
  remove_file(temp_);
  { os_file released = std::move(lock_); }  // unlock last: no cleanup races the removal
}

SAFETENSORS_FUNC error atomic_file::fail_with(error e) {
  discard();
  return e;
}

}  // namespace detail

SAFETENSORS_FUNC file_mapping& file_mapping::operator=(file_mapping&& other) noexcept {
  if (this != &other) {
    detail::os_mapping::unmap(mapping_.address, mapping_.size);
    mapping_ = std::exchange(other.mapping_, {});
    path_ = std::move(other.path_);
    native_ = std::move(other.native_);
    identity_ = other.identity_;
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
