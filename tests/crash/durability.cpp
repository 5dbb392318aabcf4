// The order of the writers' durability calls (docs/writing.md#crash-safety), which the kill tests
// cannot see (SIGKILL keeps the page cache, so a file renamed before it was flushed still reads
// whole): with write_options::sync, every file is flushed (fsync) after its last write and before
// its rename, and the directory is flushed after the renames; the sharded writers also flush the
// directory after removing the old index and between the shards' renames and the index's, and
// rename the index last. Without sync, nothing is flushed.
//
// This program defines fsync, fdatasync, pwrite, ftruncate, rename, renameat, renameat2, unlink,
// unlinkat and remove itself: the library's calls (compiled into this program) and the C++
// runtime's bind to these definitions, which record the call (with the path of the descriptor,
// from /proc/self/fd) and then call the C library's function (dlsym(RTLD_NEXT)). Linux only.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#if __has_include(<sys/cdefs.h>)
#include <sys/cdefs.h>  // glibc's __THROW: the exception specification of its declarations
#endif
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

#ifndef __THROW
#define __THROW
#endif

namespace {
namespace st = safetensors;
namespace fs = std::filesystem;

// ---- the recording ----

struct call {
  std::string op;    // fsync, write (pwrite, ftruncate), rename, unlink
  std::string path;  // the file or directory (rename: the old name)
  std::string to;    // rename: the new name
};

std::mutex calls_mutex;
std::vector<call> calls;
bool recording = false;  // under calls_mutex

// The absolute path of `p` (relative to the working directory).
std::string absolute(const char* p) {
  if (p == nullptr) return {};
  if (p[0] == '/') return fs::path(p).lexically_normal().string();
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return p;
  return (fs::path(cwd) / p).lexically_normal().string();
}

// The path of descriptor `fd` (relative to directory descriptor `dirfd` for a relative `p`).
std::string fd_path(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[4096];
  const ssize_t n = ::readlink(link, buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "fd " + std::to_string(fd);
}
std::string at_path(int dirfd, const char* p) {
  if (p == nullptr || p[0] == '/' || dirfd == AT_FDCWD) return absolute(p);
  return (fs::path(fd_path(dirfd)) / p).lexically_normal().string();
}

void record(const char* op, std::string path, std::string to = {}) {
  const std::lock_guard<std::mutex> lock(calls_mutex);
  if (recording) calls.push_back({op, std::move(path), std::move(to)});
}

template <class F>
F real(const char* name) {
  void* f = ::dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "durability: no %s in the C library\n", name);
    std::abort();
  }
  F out;
  std::memcpy(&out, &f, sizeof out);
  return out;
}
}  // namespace

// ---- the C library's functions, recorded ----

extern "C" {
int fsync(int fd) {
  static const auto f = real<int (*)(int)>("fsync");
  const int r = f(fd);
  if (r == 0) record("fsync", fd_path(fd));
  return r;
}
int fdatasync(int fd) {
  static const auto f = real<int (*)(int)>("fdatasync");
  const int r = f(fd);
  if (r == 0) record("fsync", fd_path(fd));
  return r;
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static const auto f = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  const ssize_t r = f(fd, buf, n, offset);
  record("write", fd_path(fd));
  return r;
}
int ftruncate(int fd, off_t size) __THROW {
  static const auto f = real<int (*)(int, off_t)>("ftruncate");
  const int r = f(fd, size);
  record("write", fd_path(fd));
  return r;
}
int rename(const char* from, const char* to) __THROW {
  static const auto f = real<int (*)(const char*, const char*)>("rename");
  const int r = f(from, to);
  if (r == 0) record("rename", absolute(from), absolute(to));
  return r;
}
int renameat(int fromfd, const char* from, int tofd, const char* to) __THROW {
  static const auto f = real<int (*)(int, const char*, int, const char*)>("renameat");
  const int r = f(fromfd, from, tofd, to);
  if (r == 0) record("rename", at_path(fromfd, from), at_path(tofd, to));
  return r;
}
int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) __THROW {
  static const auto f = real<int (*)(int, const char*, int, const char*, unsigned)>("renameat2");
  const int r = f(fromfd, from, tofd, to, flags);
  if (r == 0) record("rename", at_path(fromfd, from), at_path(tofd, to));
  return r;
}
int unlink(const char* p) __THROW {
  static const auto f = real<int (*)(const char*)>("unlink");
  const std::string path = absolute(p);
  const int r = f(p);
  if (r == 0) record("unlink", path);
  return r;
}
int unlinkat(int dirfd, const char* p, int flags) __THROW {
  static const auto f = real<int (*)(int, const char*, int)>("unlinkat");
  const std::string path = at_path(dirfd, p);
  const int r = f(dirfd, p, flags);
  if (r == 0) record("unlink", path);
  return r;
}
int remove(const char* p) __THROW {
  static const auto f = real<int (*)(const char*)>("remove");
  const std::string path = absolute(p);
  const int r = f(p);
  if (r == 0) record("unlink", path);
  return r;
}
}

namespace {

// Records the calls made while it lives (only those under `dir`).
struct recorder {
  std::string dir;
  explicit recorder(const fs::path& d) : dir(d.string()) {
    const std::lock_guard<std::mutex> lock(calls_mutex);
    calls.clear();
    recording = true;
  }
  ~recorder() {
    const std::lock_guard<std::mutex> lock(calls_mutex);
    recording = false;
  }
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;
  std::vector<call> taken() const {
    const std::lock_guard<std::mutex> lock(calls_mutex);
    std::vector<call> out;
    for (const call& c : calls) {
      if (c.path == dir || fs::path(c.path).parent_path().string() == dir) out.push_back(c);
    }
    return out;
  }
};

// The calls, one a line (repeated writes to one file on one line).
std::string show(const std::vector<call>& log) {
  std::string out;
  for (std::size_t i = 0; i < log.size();) {
    const call& c = log[i];
    std::size_t n = 1;
    while (c.op == "write" && i + n < log.size() && log[i + n].op == "write" &&
           log[i + n].path == c.path) {
      ++n;
    }
    out += "  " + c.op + " " + fs::path(c.path).filename().string();
    if (!c.to.empty()) out += " -> " + fs::path(c.to).filename().string();
    if (n > 1) out += " (" + std::to_string(n) + " times)";
    out += "\n";
    i += n;
  }
  return out;
}

bool is_temp(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  return name.size() > 5 && name[0] == '.' && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

// Positions in `log` of the calls `op` on `path`.
std::vector<std::size_t> find(const std::vector<call>& log, const std::string& op,
                              const std::string& path) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].op == op && log[i].path == path) out.push_back(i);
  }
  return out;
}

// Whether the directory is flushed somewhere in (after, before).
bool dir_synced_between(const std::vector<call>& log, const std::string& dir, std::size_t after,
                        std::size_t before) {
  for (std::size_t i = after + 1; i < before && i < log.size(); ++i) {
    if (log[i].op == "fsync" && log[i].path == dir) return true;
  }
  return false;
}

// The renames of a synced save: each renames a temporary file of the directory, flushed after
// its last write and before the rename, to one of `targets` (each renamed once); the directory is
// flushed after the last rename. Returns the renames' positions, in order.
std::vector<std::size_t> check_synced_renames(const std::vector<call>& log, const std::string& dir,
                                              const std::vector<std::string>& targets) {
  INFO("calls:\n" << show(log));
  std::vector<std::size_t> renames;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].op == "rename") renames.push_back(i);
  }
  std::vector<std::string> renamed;
  for (const std::size_t i : renames) {
    const call& r = log[i];
    CAPTURE(r.path);
    CHECK(is_temp(r.path));
    renamed.push_back(fs::path(r.to).filename().string());
    std::size_t last_write = 0;
    bool written = false;
    for (const std::size_t w : find(log, "write", r.path)) {
      if (w < i) {
        last_write = w;
        written = true;
      }
    }
    CHECK(written);
    bool synced = false;
    for (const std::size_t s : find(log, "fsync", r.path)) synced |= s > last_write && s < i;
    CHECK_MESSAGE(synced, "the file is not flushed after its last write and before its rename");
  }
  std::vector<std::string> want = targets;
  std::sort(renamed.begin(), renamed.end());
  std::sort(want.begin(), want.end());
  CHECK(renamed == want);
  REQUIRE_FALSE(renames.empty());
  CHECK_MESSAGE(dir_synced_between(log, dir, renames.back(), log.size()),
                "the directory is not flushed after the last rename");
  return renames;
}

// A sharded publication's order: the old index removed, the directory flushed, the shards
// renamed, the directory flushed, the index renamed (last), the directory flushed.
void check_sharded_order(const std::vector<call>& log, const std::string& dir,
                         const std::vector<std::size_t>& renames, const std::string& index,
                         bool sharded) {
  INFO("calls:\n" << show(log));
  const std::vector<std::size_t> removed = find(log, "unlink", index);
  REQUIRE(removed.size() == 1);  // the previous checkpoint's index
  CHECK(removed[0] < renames.front());
  CHECK_MESSAGE(dir_synced_between(log, dir, removed[0], renames.front()),
                "the directory is not flushed between the old index's removal and the renames");
  if (sharded) {
    REQUIRE(renames.size() >= 2);
    const std::size_t last = renames.back();
    CHECK_MESSAGE(log[last].to == index, "the index is not renamed last");
    CHECK_MESSAGE(dir_synced_between(log, dir, renames[renames.size() - 2], last),
                  "the directory is not flushed between the shards' renames and the index's");
  }
}

// ---- the data ----

struct checkpoint_data {
  std::vector<std::string> names;
  std::vector<std::vector<float>> values;
  std::vector<st::tensor_spec> specs(bool with_bytes) const {
    std::vector<st::tensor_spec> out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      st::tensor_spec s;
      s.name = names[i];
      s.dtype = st::dtype::F32;
      s.shape = {values[i].size()};
      if (with_bytes) s.bytes = st::as_bytes(st::span<const float>(values[i]));
      out.push_back(std::move(s));
    }
    return out;
  }
};

// Six tensors of 64 KiB; `version` changes the values.
checkpoint_data make_data(int version) {
  checkpoint_data d;
  for (int t = 0; t < 6; ++t) {
    d.names.push_back("layers." + std::to_string(t) + ".weight");
    std::vector<float> v(16384);
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<float>(version * 1000 + t) + static_cast<float>(i) / 16384.0f;
    }
    d.values.push_back(std::move(v));
  }
  return d;
}

// Saves `d` as one file with `save_file` or `stream_writer`.
st::result<void> save_one(const std::string& writer, const fs::path& target,
                          const checkpoint_data& d, bool sync) {
  st::write_options wo;
  wo.sync = sync;
  if (writer == "save_file") return st::save_file(target, d.specs(true), {}, wo);
  auto w = st::stream_writer::create(target, d.specs(false), {}, wo);
  if (!w) return w.error();
  for (std::size_t i = 0; i < d.names.size(); ++i) {
    if (auto r = w->write(d.names[i], st::as_bytes(st::span<const float>(d.values[i]))); !r) {
      return r;
    }
  }
  return w->commit();
}

// Saves `d` as a checkpoint with `save_sharded` or `sharded_stream_writer`: 3 shards, or one file.
st::result<void> save_checkpoint(const std::string& writer, const fs::path& dir,
                                 const checkpoint_data& d, bool sharded, bool sync) {
  st::sharded_write_options so;
  so.max_shard_size = sharded ? 150'000 : st::default_max_shard_size;
  so.write.sync = sync;
  if (writer == "save_sharded") {
    auto r = st::save_sharded(dir, d.specs(true), so);
    if (!r) return r.error();
    return {};
  }
  auto w = st::sharded_stream_writer::create(dir, d.specs(false), so);
  if (!w) return w.error();
  for (std::size_t i = 0; i < d.names.size(); ++i) {
    if (auto r = w->write(d.names[i], st::as_bytes(st::span<const float>(d.values[i]))); !r) {
      return r;
    }
  }
  return w->commit();
}

// Every tensor of `d`, read back from `dir` as a checkpoint.
void check_contents(const fs::path& dir, const checkpoint_data& d) {
  auto c = st::checkpoint::open(dir);
  REQUIRE(c.has_value());
  CHECK(c->verify().ok());
  for (std::size_t i = 0; i < d.names.size(); ++i) {
    auto got = c->read(d.names[i]);
    REQUIRE(got.has_value());
    CHECK(got->size() == d.values[i].size() * 4);
    CHECK(std::memcmp(got->data(), d.values[i].data(), got->size()) == 0);
  }
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::weakly_canonical(fs::path(SAFETENSORS_TEST_TMPDIR)) / "durability" / name;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return fs::canonical(dir);
}

TEST_CASE("the recording sees the calls of this program and of the C++ runtime") {
  const fs::path dir = fresh_dir("recording");
  const recorder rec(dir);
  st_test::write_file(dir / "a", {1, 2, 3});
  fs::rename(dir / "a", dir / "b");
  fs::remove(dir / "b");
  const auto log = rec.taken();
  INFO("calls:\n" << show(log));
  REQUIRE(log.size() == 2);
  CHECK(log[0].op == "rename");
  CHECK(log[0].path == (dir / "a").string());
  CHECK(log[0].to == (dir / "b").string());
  CHECK(log[1].op == "unlink");
  CHECK(log[1].path == (dir / "b").string());
}

TEST_CASE("save_file and stream_writer: the file flushed, renamed, then the directory flushed") {
  for (const std::string writer : {"save_file", "stream_writer"}) {
    CAPTURE(writer);
    const fs::path dir = fresh_dir(writer);
    const fs::path target = dir / "model.safetensors";
    REQUIRE(save_one(writer, target, make_data(0), true));  // a file to replace
    const checkpoint_data d = make_data(1);
    std::vector<call> log;
    {
      const recorder rec(dir);
      REQUIRE(save_one(writer, target, d, true));
      log = rec.taken();
    }
    check_synced_renames(log, dir.string(), {"model.safetensors"});
    check_contents(target, d);
  }
}

TEST_CASE("save_sharded and sharded_stream_writer: shards, then the index, each step flushed") {
  for (const std::string writer : {"save_sharded", "sharded_stream_writer"}) {
    for (const bool sharded : {true, false}) {
      CAPTURE(writer);
      CAPTURE(sharded);
      const fs::path dir = fresh_dir(writer + (sharded ? "_sharded" : "_single"));
      // The previous checkpoint: 3 shards and an index, which the save removes first.
      REQUIRE(save_checkpoint(writer, dir, make_data(0), true, true));
      const std::string index = (dir / "model.safetensors.index.json").string();
      REQUIRE(fs::exists(index));
      const checkpoint_data d = make_data(1);
      std::vector<call> log;
      {
        const recorder rec(dir);
        REQUIRE(save_checkpoint(writer, dir, d, sharded, true));
        log = rec.taken();
      }
      const std::vector<std::string> targets =
          sharded ? std::vector<std::string>{"model-00001-of-00003.safetensors",
                                             "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors",
                                             "model.safetensors.index.json"}
                  : std::vector<std::string>{"model.safetensors"};
      const auto renames = check_synced_renames(log, dir.string(), targets);
      check_sharded_order(log, dir.string(), renames, index, sharded);
      check_contents(dir, d);
    }
  }
}

TEST_CASE("without write_options::sync nothing is flushed, and the renames are the same") {
  const fs::path dir = fresh_dir("nosync");
  for (const std::string writer : {"save_file", "stream_writer"}) {
    CAPTURE(writer);
    const recorder rec(dir);
    REQUIRE(save_one(writer, dir / "model.safetensors", make_data(0), false));
    const auto log = rec.taken();
    INFO("calls:\n" << show(log));
    CHECK(std::none_of(log.begin(), log.end(), [](const call& c) { return c.op == "fsync"; }));
    const auto renames = std::count_if(log.begin(), log.end(), [&dir](const call& c) {
      return c.op == "rename" && c.to == (dir / "model.safetensors").string();
    });
    CHECK(renames == 1);
  }
  for (const std::string writer : {"save_sharded", "sharded_stream_writer"}) {
    CAPTURE(writer);
    const fs::path sub = fresh_dir("nosync_" + writer);
    const recorder rec(sub);
    REQUIRE(save_checkpoint(writer, sub, make_data(0), true, false));
    const auto log = rec.taken();
    INFO("calls:\n" << show(log));
    CHECK(std::none_of(log.begin(), log.end(), [](const call& c) { return c.op == "fsync"; }));
    CHECK(std::count_if(log.begin(), log.end(), [](const call& c) { return c.op == "rename"; }) ==
          4);
    check_contents(sub, make_data(0));
  }
}

}  // namespace
