// The file writers: atomic replacement (a mapped reader of the old file keeps its bytes), fault
// injection (failing and throwing producers, a file size limit, a full tmpfs, a read-only
// directory, a missing directory, a target that is a directory) leaving the old file byte for
// byte and no temporary file, the stream_writer's contract, and progress reporting.
//
// Expected bytes come from the independent test writer (tests/support/test_writer.hpp), never
// from the library's output. POSIX-only parts are under #if !defined(_WIN32).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ci_skip.hpp"
#include "test_writer.hpp"

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#endif

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

using bytes_t = std::vector<std::uint8_t>;

template <class T>
std::string outcome(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}

st::span<const std::byte> bspan(const bytes_t& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}
[[maybe_unused]] bytes_t to_u8(st::span<const std::byte> s) {  // used by POSIX-only cases
  bytes_t out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = std::to_integer<std::uint8_t>(s[i]);
  return out;
}

st::tensor_spec spec(std::string name, st::dtype type, std::vector<std::uint64_t> shape,
                     const bytes_t& data) {
  st::tensor_spec s;
  s.name = std::move(name);
  s.dtype = type;
  s.shape = std::move(shape);
  s.bytes = bspan(data);
  return s;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A byte pattern that differs per seed and per position.
std::uint8_t pattern(std::uint64_t seed, std::uint64_t i) {
  return static_cast<std::uint8_t>((i * 131u + seed * 29u + (i >> 11)) & 0xFFu);
}
bytes_t pattern_bytes(std::uint64_t seed, std::size_t n) {
  bytes_t out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = pattern(seed, i);
  return out;
}

// The whole file, read at once (large files).
bytes_t slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary | std::ios::ate);
  REQUIRE(static_cast<bool>(f));
  const auto size = static_cast<std::size_t>(f.tellg());
  bytes_t out(size);
  f.seekg(0);
  if (size != 0) f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
  REQUIRE(static_cast<bool>(f));
  return out;
}

// A file holding one U8 tensor `name` with `data`, by the independent writer.
bytes_t u8_file(const std::string& name, const bytes_t& data) {
  return st_test::make_file({{name, "U8", {data.size()}, data}});
}

// A directory holding an existing target "model.safetensors" with known bytes.
struct old_target {
  st_test::temp_dir dir;
  fs::path path = dir.file("model.safetensors");
  bytes_t bytes = u8_file("old", pattern_bytes(99, 1000));
  old_target() { st_test::write_file(path, bytes); }
  // The old file is intact and nothing else is in the directory.
  void check_untouched() const {
    CHECK(listing(dir.path()) == std::vector<std::string>{"model.safetensors"});
    CHECK(slurp(path) == bytes);
  }
};

// The progress reports of one write.
struct progress_log {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  st::progress_callback callback() {
    return [this](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); };
  }
  void check(std::uint64_t file_size) const {
    REQUIRE_FALSE(calls.empty());
    std::uint64_t last = 0;
    for (const auto& [done, total] : calls) {
      CHECK(total == file_size);
      CHECK(done >= last);
      CHECK(done <= total);
      last = done;
    }
    CHECK(calls.back().first == file_size);
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Atomic replacement.
// ---------------------------------------------------------------------------------------------

#if !defined(_WIN32)
TEST_CASE("writer: overwriting a file that is mapped leaves the mapped bytes alone") {
  st_test::temp_dir dir;
  const fs::path path = dir.file("model.safetensors");
  const bytes_t a = pattern_bytes(1, 3 * 4096 + 5);
  const bytes_t b = pattern_bytes(2, 2 * 4096 + 1);  // smaller: an in-place truncate would SIGBUS
  const bytes_t c = pattern_bytes(3, 5 * 4096);
  REQUIRE(st::save_file(path, {spec("t", st::dtype::U8, {a.size()}, a)}).has_value());
  REQUIRE(slurp(path) == u8_file("t", a));

  auto old_map = st::mapped_file::open(path);
  REQUIRE(old_map.has_value());
  auto old_reader = st::source_reader::open(path);
  REQUIRE(old_reader.has_value());
  const bytes_t old_file = to_u8(old_map->mapping().bytes());

  REQUIRE(st::save_file(path, {spec("t", st::dtype::U8, {b.size()}, b)}).has_value());
  CHECK(to_u8(old_map->mapping().bytes()) == old_file);
  REQUIRE(old_map->find("t").has_value());
  CHECK(to_u8(old_map->tensor("t")->bytes()) == a);
  std::vector<std::byte> buf(a.size());
  REQUIRE(old_reader->read_into("t", st::span<std::byte>(buf)).has_value());
  CHECK(to_u8(st::span<const std::byte>(buf.data(), buf.size())) == a);

  auto new_map = st::mapped_file::open(path);
  REQUIRE(new_map.has_value());
  CHECK(to_u8(new_map->tensor("t")->bytes()) == b);
  CHECK(slurp(path) == u8_file("t", b));

  // The stream writer replaces the same way.
  auto w = st::stream_writer::create(path, {spec("t", st::dtype::U8, {c.size()}, {})});
  REQUIRE(w.has_value());
  REQUIRE(w->write("t", bspan(c)).has_value());
  CHECK(to_u8(new_map->tensor("t")->bytes()) == b);  // nothing visible before the commit
  REQUIRE(w->commit().has_value());
  CHECK(to_u8(new_map->tensor("t")->bytes()) == b);
  CHECK(to_u8(old_map->tensor("t")->bytes()) == a);
  CHECK(slurp(path) == u8_file("t", c));
  CHECK(listing(dir.path()) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("writer: rewriting a mapped file onto itself from its own mapping (reference #762)") {
  st_test::temp_dir dir;
  const fs::path path = dir.file("model.safetensors");
  const bytes_t w = pattern_bytes(61, 4 * 4096), bias = pattern_bytes(62, 12), flag{1, 0, 1};
  // Not canonical: name order, no padding.
  const bytes_t source = st_test::make_file(
      {{"a.flag", "BOOL", {3}, flag}, {"b.bias", "F32", {3}, bias}, {"c.w", "U8", {w.size()}, w}},
      st_test::metadata_t{{{"format", "pt"}}}, 1);
  st_test::write_file(path, source);
  auto mapped = st::mapped_file::open(path);
  REQUIRE(mapped.has_value());
  std::vector<st::tensor_spec> specs;
  for (const auto& info : mapped->tensors()) specs.push_back(st::to_spec(mapped->tensor(info)));
  st::write_options opts;
  opts.alignment = 4096;
  REQUIRE(st::save_file(path, specs, mapped->metadata(), opts).has_value());
  CHECK(to_u8(mapped->mapping().bytes()) == source);
  CHECK(slurp(path) == st_test::make_file({{"b.bias", "F32", {3}, bias},
                                           {"c.w", "U8", {w.size()}, w},
                                           {"a.flag", "BOOL", {3}, flag}},
                                          st_test::metadata_t{{{"format", "pt"}}}, 4096));
  CHECK(listing(dir.path()) == std::vector<std::string>{"model.safetensors"});
}
#endif

// ---------------------------------------------------------------------------------------------
// Fault injection: the old target survives byte for byte, no temporary file remains.
// ---------------------------------------------------------------------------------------------

TEST_CASE("writer: a failing producer leaves the old file and no temporary file") {
  old_target t;
  const bytes_t small(8, 1);
  const std::uint64_t size = 9u << 20;  // 9 MiB: three buffers
  const bytes_t data = pattern_bytes(5, static_cast<std::size_t>(size));
  std::vector<std::pair<std::uint64_t, std::size_t>> calls;
  std::uint64_t fail_from = 0;
  st::tensor_spec big;
  big.name = "big";
  big.dtype = st::dtype::U8;
  big.shape = {size};
  big.producer = [&](std::uint64_t offset, st::span<std::byte> out) -> st::result<void> {
    calls.emplace_back(offset, out.size());
    if (offset + out.size() > fail_from) return st::error(st::errc::dtype_mismatch, "boom");
    std::memcpy(out.data(), data.data() + offset, out.size());
    return {};
  };
  const std::vector<st::tensor_spec> tensors{spec("a", st::dtype::F64, {1}, small), big};

  SUBCASE("at the start") {
    fail_from = 0;
    const auto r = st::save_file(t.path, tensors);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::dtype_mismatch);  // the producer's code, passed on
    CHECK(r.error().message().find("boom") != std::string::npos);
    CHECK(r.error().message().find("big") != std::string::npos);
    CHECK(calls.size() == 1);
    t.check_untouched();
    calls.clear();
    CHECK(outcome(st::serialize(tensors)) == "DtypeMismatch");
  }
  SUBCASE("midway, after megabytes reached the temporary file") {
    fail_from = 5u << 20;
    const auto r = st::save_file(t.path, tensors);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::dtype_mismatch);
    CHECK(calls.size() >= 2);
    t.check_untouched();
  }
  SUBCASE("never: the producer is asked for every byte once, in order") {
    fail_from = ~std::uint64_t{0};
    const fs::path out = t.dir.file("new.safetensors");
    st::write_options no_sync;
    no_sync.sync = false;
    REQUIRE(st::save_file(out, tensors, {}, no_sync).has_value());
    std::uint64_t next = 0;
    for (const auto& [offset, n] : calls) {
      CHECK(offset == next);
      CHECK(n > 0);
      next += n;
    }
    CHECK(next == size);
    CHECK(slurp(out) ==
          st_test::make_file({{"a", "F64", {1}, small}, {"big", "U8", {size}, data}}));
  }
}

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
TEST_CASE("writer: a throwing producer or progress callback leaves no temporary file") {
  old_target t;
  const bytes_t data(16, 3);
  st::tensor_spec thrower;
  thrower.name = "t";
  thrower.dtype = st::dtype::U8;
  thrower.shape = {64};
  thrower.producer = [](std::uint64_t, st::span<std::byte>) -> st::result<void> {
    throw std::runtime_error("producer threw");
  };
  CHECK_THROWS_AS((void)st::save_file(t.path, {thrower}), std::runtime_error);
  t.check_untouched();
  st::write_options opts;
  opts.progress = [](std::uint64_t, std::uint64_t) { throw std::runtime_error("progress threw"); };
  CHECK_THROWS_AS((void)st::save_file(t.path, {spec("t", st::dtype::U8, {16}, data)}, {}, opts),
                  std::runtime_error);
  t.check_untouched();
  {
    auto w = st::stream_writer::create(t.path, {spec("t", st::dtype::U8, {16}, {})}, {}, opts);
    REQUIRE(w.has_value());
    REQUIRE(w->write("t", bspan(data)).has_value());
    CHECK_THROWS_AS((void)w->commit(), std::runtime_error);
  }
  t.check_untouched();
}
#endif

#if !defined(_WIN32)
namespace {
// Lowers RLIMIT_FSIZE (soft limit) with SIGXFSZ ignored; restores both on destruction.
class file_size_limit {
 public:
  explicit file_size_limit(rlim_t soft) {
    ok_ = ::getrlimit(RLIMIT_FSIZE, &old_) == 0;
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    if (ok_) {
      rlimit lim = old_;
      lim.rlim_cur = std::min(soft, old_.rlim_max);
      ok_ = ::setrlimit(RLIMIT_FSIZE, &lim) == 0;
    }
  }
  ~file_size_limit() {
    (void)::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  file_size_limit(const file_size_limit&) = delete;
  file_size_limit& operator=(const file_size_limit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

int run(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return rc;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// A 1 MiB tmpfs mounted at `at` when this process may mount one; unmounted on destruction.
class small_tmpfs {
 public:
  explicit small_tmpfs(fs::path at) : at_(std::move(at)) {
    fs::create_directory(at_);
    if (::geteuid() != 0) return;
    mounted_ = run("mount -t tmpfs -o size=1m tmpfs " + quoted(at_)) == 0;
  }
  ~small_tmpfs() {
    if (mounted_) (void)run("umount " + quoted(at_));
  }
  small_tmpfs(const small_tmpfs&) = delete;
  small_tmpfs& operator=(const small_tmpfs&) = delete;
  bool mounted() const { return mounted_; }

 private:
  fs::path at_;
  bool mounted_ = false;
};

// Makes `dir` refuse new entries: as root (chmod does not stop root) `chattr +i`, or, where the
// filesystem has no immutable flag, a read-only bind mount of the directory onto itself; chmod
// 0555 otherwise. Checked with a probe file. Undone on destruction.
class read_only_dir {
 public:
  explicit read_only_dir(fs::path dir) : dir_(std::move(dir)) {
    if (::geteuid() == 0) {
      if (run("chattr +i " + quoted(dir_)) == 0) how_ = 1;
      if (how_ != 0 && can_create()) undo();
      if (how_ == 0 && run("mount --bind " + quoted(dir_) + " " + quoted(dir_)) == 0) {
        how_ = 3;
        if (run("mount -o remount,bind,ro " + quoted(dir_)) != 0) undo();
      }
    } else if (::chmod(dir_.c_str(), 0555) == 0) {
      how_ = 2;
    }
    if (how_ != 0 && can_create()) undo();
  }
  ~read_only_dir() { undo(); }
  read_only_dir(const read_only_dir&) = delete;
  read_only_dir& operator=(const read_only_dir&) = delete;
  bool active() const { return how_ != 0; }

 private:
  bool can_create() const {
    const fs::path probe = dir_ / "probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return false;
    ::close(fd);
    ::unlink(probe.c_str());
    return true;
  }
  void undo() {
    if (how_ == 1) (void)run("chattr -i " + quoted(dir_));
    if (how_ == 2) (void)::chmod(dir_.c_str(), 0755);
    if (how_ == 3) (void)run("umount " + quoted(dir_));
    how_ = 0;
  }
  fs::path dir_;
  int how_ = 0;
};
}  // namespace

TEST_CASE("writer: a file size limit (EFBIG) leaves the old file and no temporary file") {
  old_target t;
  const bytes_t big = pattern_bytes(7, 3u << 20);
  std::optional<st::result<void>> with_bytes, with_producer;
  std::string stream_outcome;
  {
    file_size_limit limit(1u << 20);
    REQUIRE(limit.ok());
    with_bytes.emplace(st::save_file(t.path, {spec("big", st::dtype::U8, {big.size()}, big)}));
    st::tensor_spec produced;
    produced.name = "big";
    produced.dtype = st::dtype::U8;
    produced.shape = {big.size()};
    produced.producer = [&](std::uint64_t offset, st::span<std::byte> out) {
      std::memcpy(out.data(), big.data() + offset, out.size());
      return st::result<void>{};
    };
    with_producer.emplace(st::save_file(t.path, {produced}));
    auto w = st::stream_writer::create(t.path, {spec("big", st::dtype::U8, {big.size()}, {})});
    st::result<void> r = w.has_value() ? st::result<void>{} : st::result<void>(w.error());
    if (r) r = w->write("big", bspan(big));
    if (r) r = w->commit();
    stream_outcome = outcome(r);
  }
  CHECK(stream_outcome == "IoError");
  REQUIRE(with_bytes->has_value() == false);
  CHECK(with_bytes->error().code() == st::errc::io_error);
  REQUIRE(with_producer->has_value() == false);
  CHECK(with_producer->error().code() == st::errc::io_error);
  t.check_untouched();
  // Without the limit the same write succeeds.
  REQUIRE(st::save_file(t.path, {spec("big", st::dtype::U8, {big.size()}, big)}).has_value());
  CHECK(slurp(t.path) == u8_file("big", big));
}

TEST_CASE(
    "writer: a full disk (ENOSPC on a 1 MiB tmpfs) leaves the old file and no temporary file") {
  st_test::temp_dir dir;
  small_tmpfs fs_(dir.file("mnt"));
  if (!fs_.mounted()) {
    st_test::skip_or_fail_in_ci("cannot mount a tmpfs here (needs root and mount permission)");
    return;
  }
  const fs::path path = dir.file("mnt") / "model.safetensors";
  const bytes_t old_bytes = u8_file("old", pattern_bytes(11, 100000));
  st_test::write_file(path, old_bytes);
  const auto untouched = [&] {
    CHECK(listing(dir.file("mnt")) == std::vector<std::string>{"model.safetensors"});
    CHECK(slurp(path) == old_bytes);
  };
  const bytes_t big = pattern_bytes(12, 2u << 20);
  const auto r = st::save_file(path, {spec("big", st::dtype::U8, {big.size()}, big)});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::io_error);
  untouched();
  {
    auto w = st::stream_writer::create(path, {spec("big", st::dtype::U8, {big.size()}, {})});
    st::result<void> s = w.has_value() ? st::result<void>{} : st::result<void>(w.error());
    for (std::size_t at = 0; s && at < big.size(); at += 65536) {
      s = w->write("big", st::span<const std::byte>(bspan(big).data() + at, 65536));
    }
    if (s) s = w->commit();
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code() == st::errc::io_error);
  }
  untouched();
  // The space of the removed temporary files is free again: a file that fits can be written.
  const bytes_t fits = pattern_bytes(13, 600000);
  REQUIRE(st::save_file(path, {spec("fits", st::dtype::U8, {fits.size()}, fits)}).has_value());
  CHECK(slurp(path) == u8_file("fits", fits));
  CHECK(listing(dir.file("mnt")) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("stream_writer: after a failed write, commit() reports the I/O error") {
  // After an IoError in write(), every later write() and commit() report that error, not
  // TensorInvalidInfo ("incomplete", which would promise that the writer is still usable).
  st_test::temp_dir dir;
  small_tmpfs fs_(dir.file("mnt"));
  if (!fs_.mounted()) {
    st_test::skip_or_fail_in_ci("cannot mount a tmpfs here (needs root and mount permission)");
    return;
  }
  const fs::path path = dir.file("mnt") / "model.safetensors";
  const bytes_t big = pattern_bytes(14, 5u << 20);  // one chunk larger than the buffer
  auto w = st::stream_writer::create(path, {spec("big", st::dtype::U8, {big.size()}, {})});
  REQUIRE(w.has_value());
  CHECK(outcome(w->write("big", bspan(big))) == "IoError");
  CHECK(outcome(w->commit()) == "IoError");
  CHECK(listing(dir.file("mnt")).empty());
}

TEST_CASE("writer: a directory that refuses new files leaves the old file and no temporary file") {
  old_target t;
  read_only_dir guard(t.dir.path());
  if (!guard.active()) {
    st_test::skip_or_fail_in_ci(
        "cannot make a directory read-only here (root, without chattr +i or a bind mount)");
    return;
  }
  const bytes_t data = pattern_bytes(3, 100);
  const auto r = st::save_file(t.path, {spec("t", st::dtype::U8, {data.size()}, data)});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::io_error);
  CHECK(outcome(st::stream_writer::create(t.path, {spec("t", st::dtype::U8, {100}, {})})) ==
        "IoError");
  t.check_untouched();
}
#endif

TEST_CASE("writer: a missing directory, a target that is a directory, a parent that is a file") {
  st_test::temp_dir dir;
  const bytes_t data = pattern_bytes(4, 64);
  const std::vector<st::tensor_spec> tensors{spec("t", st::dtype::U8, {data.size()}, data)};
  // Missing directory: IoError, and nothing is created.
  CHECK(outcome(st::save_file(dir.file("missing") / "model.safetensors", tensors)) == "IoError");
  CHECK(outcome(st::stream_writer::create(dir.file("missing") / "model.safetensors", tensors)) ==
        "IoError");
  CHECK(listing(dir.path()).empty());
  // A parent that is a file.
  const bytes_t file_bytes{1, 2, 3};
  st_test::write_file(dir.file("plain"), file_bytes);
  CHECK(outcome(st::save_file(dir.file("plain") / "model.safetensors", tensors)) == "IoError");
  CHECK(slurp(dir.file("plain")) == file_bytes);
  fs::remove(dir.file("plain"));
  // The target is a directory: IoError; the directory and its contents stay as they were.
  const fs::path target = dir.file("target");
  fs::create_directory(target);
  st_test::write_file(target / "inside", file_bytes);
  CHECK(outcome(st::save_file(target, tensors)) == "IoError");
  {
    auto w = st::stream_writer::create(target, tensors);
    if (w) {
      REQUIRE(w->write("t", bspan(data)).has_value());
      CHECK(outcome(w->commit()) == "IoError");
    } else {
      CHECK(w.error().code() == st::errc::io_error);
    }
  }
  CHECK(listing(dir.path()) == std::vector<std::string>{"target"});
  CHECK(listing(target) == std::vector<std::string>{"inside"});
  CHECK(slurp(target / "inside") == file_bytes);
}

#if !defined(_WIN32)  // NAME_MAX is POSIX; Windows limits whole paths (MAX_PATH) instead
TEST_CASE("writer: a target name of 255 bytes (NAME_MAX) can be written") {
  // The temporary file's name is cut so that it stays legal next to a NAME_MAX target name.
  st_test::temp_dir dir;
  const bytes_t data{1, 2, 3, 4};
  const fs::path target = dir.file(std::string(255, 'n'));
  const auto r = st::save_file(target, {spec("t", st::dtype::U8, {4}, data)});
  CHECK(outcome(r) == "value");
  CHECK(listing(dir.path()) == std::vector<std::string>{std::string(255, 'n')});
  if (r) CHECK(slurp(target) == u8_file("t", data));
}
#endif

#if !defined(_WIN32)
namespace {
// Strict UTF-8 check (own implementation): no overlongs, surrogates or code points > U+10FFFF.
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}
}  // namespace

TEST_CASE("writer: overwriting keeps the target's permissions; a new file gets 0666 & ~umask") {
  st_test::temp_dir dir;
  const fs::path path = dir.file("model.safetensors");
  const bytes_t data{1, 2, 3};
  const std::vector<st::tensor_spec> tensors{spec("t", st::dtype::U8, {3}, data)};
  const mode_t mask = ::umask(022);
  ::umask(mask);
  REQUIRE(st::save_file(path, tensors).has_value());
  struct stat st_new {};
  REQUIRE(::stat(path.c_str(), &st_new) == 0);
  CHECK((st_new.st_mode & 0777) == (0666 & ~mask));
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  REQUIRE(st::save_file(path, tensors).has_value());
  struct stat st_kept {};
  REQUIRE(::stat(path.c_str(), &st_kept) == 0);
  CHECK((st_kept.st_mode & 0777) == 0640);
}

TEST_CASE("writer: the temporary file's name stays valid UTF-8 for a long non-ASCII target") {
  // The temporary name keeps at most 200 bytes of the target's name, cut on a character boundary
  // (file systems that require UTF-8 names, such as APFS, refuse a cut character with EILSEQ).
  st_test::temp_dir dir;
  std::string name = "a";
  for (int i = 0; i < 127; ++i) name += "\xC3\xA9";  // 255 bytes
  REQUIRE(valid_utf8(name));
  const fs::path target = dir.path() / name;
  auto w = st::stream_writer::create(target, {spec("t", st::dtype::U8, {1}, {})});
  REQUIRE(w.has_value());
  const auto names = listing(dir.path());
  REQUIRE(names.size() == 1);  // the temporary file only
  CHECK(valid_utf8(names[0]));
  const bytes_t one{1};
  REQUIRE(w->write("t", bspan(one)).has_value());
  REQUIRE(w->commit().has_value());
  CHECK(listing(dir.path()) == std::vector<std::string>{name});
}
#endif

TEST_CASE("writer: a path with a NUL byte is InvalidArgument, and nothing is written") {
  // The OS would stop at the NUL: save_file("dir/a\0b") must not write "dir/a" (nor
  // mapped_file::open("dir/a\0b") map "dir/a").
  st_test::temp_dir dir;
  const bytes_t data{1, 2, 3, 4};
  const std::string with_nul = dir.path().string() + "/a" + std::string(1, '\0') + "b";
  const std::vector<st::tensor_spec> tensors{spec("t", st::dtype::U8, {4}, data)};
  CHECK(outcome(st::save_file(with_nul, tensors)) == "InvalidArgument");
  CHECK(outcome(st::save_file(fs::path(with_nul), tensors)) == "InvalidArgument");
  CHECK(outcome(st::stream_writer::create(with_nul, tensors)) == "InvalidArgument");
  CHECK(listing(dir.path()).empty());
}

// ---------------------------------------------------------------------------------------------
// stream_writer.
// ---------------------------------------------------------------------------------------------

TEST_CASE("stream_writer: chunks, errors that keep it usable, commit") {
  old_target t;
  const bytes_t a = pattern_bytes(21, 24), b = pattern_bytes(22, 10), z;
  const std::vector<st::tensor_spec> decl{spec("b", st::dtype::U8, {10}, {}),
                                          spec("a", st::dtype::F32, {2, 3}, {}),
                                          spec("z", st::dtype::F16, {0, 4}, {})};
  const bytes_t expected =
      st_test::make_file({{"a", "F32", {2, 3}, a}, {"z", "F16", {0, 4}, z}, {"b", "U8", {10}, b}},
                         st_test::metadata_t{{{"k", "v"}}});
  progress_log progress;
  st::write_options opts;
  opts.progress = progress.callback();
  auto w = st::stream_writer::create(t.path, decl, st::metadata_map{{"k", "v"}}, opts);
  REQUIRE(w.has_value());
  CHECK(w->plan().file_size() == expected.size());
  CHECK(w->plan().tensors().size() == 3);
  // While writing: the target is the old file; the temporary file sits in the same directory.
  CHECK(slurp(t.path) == t.bytes);
  CHECK(listing(t.dir.path()).size() == 2);

  const auto chunk = [](const bytes_t& v, std::size_t from, std::size_t n) {
    return st::span<const std::byte>(bspan(v).data() + from, n);
  };
  REQUIRE(w->write("b", chunk(b, 0, 3)).has_value());
  REQUIRE(w->write("a", chunk(a, 0, 5)).has_value());
  CHECK(outcome(w->write("b", chunk(b, 3, 7))) == "value");
  CHECK(w->bytes_written("b") == 10);
  // Past the end: InvalidArgument, nothing taken.
  const bytes_t extra{0};
  CHECK(outcome(w->write("b", bspan(extra))) == "InvalidArgument");
  CHECK(w->bytes_written("b") == 10);
  CHECK(outcome(w->write("a", st::span<const std::byte>(bspan(a).data(), 20))) ==
        "InvalidArgument");
  CHECK(w->bytes_written("a") == 5);
  // Unknown names.
  CHECK(outcome(w->write("nope", chunk(a, 0, 1))) == "TensorNotFound");
  CHECK(outcome(w->write("__metadata__", chunk(a, 0, 1))) == "TensorNotFound");
  CHECK(w->bytes_written("nope") == 0);
  // Empty chunks are fine, including for a zero-sized tensor.
  CHECK(outcome(w->write("z", {})) == "value");
  CHECK(outcome(w->write("a", {})) == "value");
  // Commit with an incomplete tensor: TensorInvalidInfo, still usable, nothing replaced.
  const auto early = w->commit();
  REQUIRE_FALSE(early.has_value());
  CHECK(early.error().code() == st::errc::tensor_invalid_info);
  CHECK(early.error().message().find("'a'") != std::string::npos);
  CHECK(slurp(t.path) == t.bytes);
  CHECK(listing(t.dir.path()).size() == 2);
  // Finish in small chunks, then commit.
  for (std::size_t at = 5; at < a.size(); at += 7) {
    REQUIRE(w->write("a", chunk(a, at, std::min<std::size_t>(7, a.size() - at))).has_value());
  }
  CHECK(w->bytes_written("a") == 24);
  REQUIRE(w->commit().has_value());
  CHECK(slurp(t.path) == expected);
  CHECK(listing(t.dir.path()) == std::vector<std::string>{"model.safetensors"});
  progress.check(expected.size());
  // After the commit: the writer is spent.
  CHECK(outcome(w->commit()) == "InvalidArgument");
  CHECK(outcome(w->write("a", {})) == "InvalidArgument");
  CHECK(slurp(t.path) == expected);
}

TEST_CASE("stream_writer: destruction without commit and discard() leave nothing") {
  old_target t;
  const bytes_t a = pattern_bytes(31, 40);
  const std::vector<st::tensor_spec> decl{spec("a", st::dtype::U8, {40}, {})};
  {
    auto w = st::stream_writer::create(t.path, decl);
    REQUIRE(w.has_value());
    REQUIRE(w->write("a", bspan(a)).has_value());  // complete, but never committed
    CHECK(listing(t.dir.path()).size() == 2);
  }
  t.check_untouched();
  {
    auto w = st::stream_writer::create(t.path, decl);
    REQUIRE(w.has_value());
    REQUIRE(w->write("a", bspan(a)).has_value());
    w->discard();
    t.check_untouched();
    CHECK(outcome(w->write("a", {})) == "InvalidArgument");
    CHECK(outcome(w->commit()) == "InvalidArgument");
    w->discard();  // twice is fine
  }
  t.check_untouched();
  {  // a new file that is never committed
    const fs::path fresh = t.dir.file("fresh.safetensors");
    auto w = st::stream_writer::create(fresh, decl);
    REQUIRE(w.has_value());
  }
  t.check_untouched();
  // A default-constructed writer refuses everything.
  st::stream_writer none;
  CHECK(outcome(none.write("a", {})) == "InvalidArgument");
  CHECK(outcome(none.commit()) == "InvalidArgument");
  CHECK(none.bytes_written("a") == 0);
  CHECK(none.plan().tensors().empty());
}

TEST_CASE("stream_writer: move construction and assignment") {
  old_target t;
  const bytes_t a = pattern_bytes(41, 16);
  const std::vector<st::tensor_spec> decl{spec("a", st::dtype::I32, {4}, {})};
  auto made = st::stream_writer::create(t.path, decl);
  REQUIRE(made.has_value());
  st::stream_writer w1 = std::move(*made);
  REQUIRE(w1.write("a", st::span<const std::byte>(bspan(a).data(), 6)).has_value());
  st::stream_writer w2(std::move(w1));
  CHECK(outcome(w1.write("a", {})) == "InvalidArgument");  // NOLINT(bugprone-use-after-move)
  CHECK(w2.bytes_written("a") == 6);
  // Assigning over a live writer discards its temporary file.
  auto other = st::stream_writer::create(t.dir.file("other.safetensors"), decl);
  REQUIRE(other.has_value());
  CHECK(listing(t.dir.path()).size() == 3);
  *other = std::move(w2);
  CHECK(listing(t.dir.path()).size() == 2);
  REQUIRE(other->write("a", st::span<const std::byte>(bspan(a).data() + 6, 10)).has_value());
  REQUIRE(other->commit().has_value());
  CHECK(slurp(t.path) == st_test::make_file({{"a", "I32", {4}, a}}));
  CHECK(listing(t.dir.path()) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("stream_writer: no tensors gives the reference's empty file") {
  st_test::temp_dir dir;
  auto w = st::stream_writer::create(dir.file("e.safetensors"), {});
  REQUIRE(w.has_value());
  REQUIRE(w->commit().has_value());
  CHECK(slurp(dir.file("e.safetensors")) ==
        bytes_t{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '});
}

TEST_CASE("writer: progress reports of save_file, with bytes and with producers") {
  st_test::temp_dir dir;
  const bytes_t big = pattern_bytes(51, (5u << 20) + 3);  // more than one 4 MiB buffer
  const bytes_t small = pattern_bytes(52, 12);
  const bytes_t expected =
      st_test::make_file({{"s", "F32", {3}, small}, {"big", "U8", {big.size()}, big}});
  {
    progress_log log;
    st::write_options opts;
    opts.progress = log.callback();
    opts.sync = false;
    REQUIRE(st::save_file(dir.file("a"),
                          {spec("big", st::dtype::U8, {big.size()}, big),
                           spec("s", st::dtype::F32, {3}, small)},
                          {}, opts)
                .has_value());
    CHECK(slurp(dir.file("a")) == expected);
    log.check(expected.size());
    CHECK(log.calls.size() >= 2);
  }
  {
    progress_log log;
    st::write_options opts;
    opts.progress = log.callback();
    opts.sync = false;
    st::tensor_spec p;
    p.name = "big";
    p.dtype = st::dtype::U8;
    p.shape = {big.size()};
    p.producer = [&](std::uint64_t offset, st::span<std::byte> out) {
      std::memcpy(out.data(), big.data() + offset, out.size());
      return st::result<void>{};
    };
    REQUIRE(st::save_file(dir.file("p"), {p, spec("s", st::dtype::F32, {3}, small)}, {}, opts)
                .has_value());
    CHECK(slurp(dir.file("p")) == expected);
    log.check(expected.size());
    CHECK(log.calls.size() >= 2);
  }
  {  // the stream writer, big chunks and small ones
    progress_log log;
    st::write_options opts;
    opts.progress = log.callback();
    opts.sync = false;
    auto w = st::stream_writer::create(
        dir.file("s"),
        {spec("big", st::dtype::U8, {big.size()}, {}), spec("s", st::dtype::F32, {3}, {})}, {},
        opts);
    REQUIRE(w.has_value());
    REQUIRE(w->write("s", bspan(small)).has_value());
    const std::size_t cut = 3u << 20;
    REQUIRE(w->write("big", st::span<const std::byte>(bspan(big).data(), 100)).has_value());
    REQUIRE(
        w->write("big", st::span<const std::byte>(bspan(big).data() + 100, cut - 100)).has_value());
    REQUIRE(w->write("big", st::span<const std::byte>(bspan(big).data() + cut, big.size() - cut))
                .has_value());
    REQUIRE(w->commit().has_value());
    CHECK(slurp(dir.file("s")) == expected);
    log.check(expected.size());
  }
  CHECK(listing(dir.path()) == std::vector<std::string>{"a", "p", "s"});
}
