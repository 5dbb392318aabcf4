// safetensors for C++, part 6 of 14: atomic files, POSIX and Windows. A temporary file next to
// the target, positioned writes, flush, and the atomic rename over the target
// (docs/writer.md#atomic-files); the cleanup of temporary files that killed writers left, and
// the lock that publishes one checkpoint at a time in a directory. All detail. Declared first,
// defined under SAFETENSORS_DEFINITIONS (docs/design.md#separate-compilation) with the operating
// system's headers that platform.hpp includes there.
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_ATOMIC_FILE_HPP
#define SAFETENSORS_PARTS_ATOMIC_FILE_HPP

#include "platform.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

// The operating system's side, defined below for POSIX and for Windows (and documented there).
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
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace detail {

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
                          : slash == 0 ? std::string("/")
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
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#endif  // SAFETENSORS_PARTS_ATOMIC_FILE_HPP
