// Crash consistency of the file writers (docs/writing.md#crash-safety): a child process saves in
// a loop, alternating between two known versions of a file or checkpoint, and the parent kills it
// with SIGKILL at random moments. After every kill the target must be one whole version, never a
// torn or partial file, and a sharded checkpoint's index must never name a missing, partial or
// stale shard. What kills leave behind (temporary files) must not pile up: the next save removes
// the temporaries of dead writers (docs/writing.md#what-a-kill-leaves).
//
//   crash_writer kill WRITER DIR [KILLS [SEED]]   the kill loop; WRITER is file, stream, sharded
//                                                  or sharded_stream; prints the counts (KILLS:
//                                                  200, 50 under AddressSanitizer)
//   crash_writer cleanup DIR                      a live writer's temporary file is kept by
//                                                  another process's save, a dead one's removed
//   crash_writer race WRITER DIR [ROUNDS [SEED]]  4 threads, then 4 processes, save to one
//                                                  target at once (ROUNDS: 20), in an order and
//                                                  in an order drawn from SEED; readers opened
//                                                  on the first version keep reading it
//
// SEED is the time when not given; every run prints it, and a failure prints the command that
// repeats the run (the interleaving of the processes also depends on the scheduler).
// SAFETENSORS_CRASH_KILLS and SAFETENSORS_CRASH_SEED override KILLS and SEED. A failure kills the
// children still running and exits with 1 at once. Expected file
// bytes come from the independent test writer (tests/support/test_writer.hpp). POSIX only.
#include <poll.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <safetensors/safetensors.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

// The children this process started and has not reaped yet (spawn, reap): a failure kills them,
// so that it ends the test at once rather than when CTest's timeout kills a paused child.
std::vector<pid_t> live_children;

// How to run the failed test again with the same seed (set by the modes that take one).
std::string replay_hint;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "crash_writer: FAILED: %s\n", what.c_str());
  if (!replay_hint.empty()) std::fprintf(stderr, "crash_writer: replay: %s\n", replay_hint.c_str());
  std::fflush(stderr);
  const std::vector<pid_t> children = live_children;
  for (const pid_t pid : children) ::kill(pid, SIGKILL);
  for (const pid_t pid : children) {
    int status = 0;
    (void)::waitpid(pid, &status, 0);
  }
  std::exit(1);
}

void require(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// Waits for the child `pid` to end.
void reap(pid_t pid, int& status) {
  pid_t got = -1;
  do {
    got = ::waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  live_children.erase(std::remove(live_children.begin(), live_children.end(), pid),
                      live_children.end());
  if (got != pid) fail("waitpid " + std::to_string(pid));
}

// ---- the two versions of each writer's output ----

struct tensor_data {
  std::string name;
  st::dtype type;
  std::string type_name;  // for the test writer
  std::vector<std::uint64_t> shape;
  std::vector<std::uint8_t> bytes;
};

std::vector<std::uint8_t> random_bytes(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> out(n);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t k = 0; k < 8; ++k) out[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
  }
  for (; i < n; ++i) out[i] = static_cast<std::uint8_t>(rng());
  return out;
}

tensor_data make_tensor(int version, std::string name, st::dtype type, std::string type_name,
                        std::vector<std::uint64_t> shape, std::size_t element_size) {
  std::size_t n = element_size;
  for (const std::uint64_t d : shape) n *= static_cast<std::size_t>(d);
  std::uint64_t seed = static_cast<std::uint64_t>(version) * 1000003u;
  for (const char c : name) seed = seed * 131u + static_cast<unsigned char>(c);
  auto bytes = random_bytes(seed, n);
  return {std::move(name), type, std::move(type_name), std::move(shape), std::move(bytes)};
}

// Version 0 ("old", ~380 KiB) and version 1 ("new", ~3.4 MiB) of a single file: different
// tensors, shapes and bytes. Given in the writer's canonical order (dtype rank descending, then
// name), so that the test writer, which keeps the given order, makes the expected bytes.
std::vector<tensor_data> file_version(int version) {
  std::vector<tensor_data> t;
  if (version == 0) {
    t.push_back(make_tensor(0, "a.weight", st::dtype::F32, "F32", {256, 256}, 4));
    t.push_back(make_tensor(0, "b.bias", st::dtype::BF16, "BF16", {1024}, 2));
    t.push_back(make_tensor(0, "c.mask", st::dtype::U8, "U8", {123457}, 1));
  } else {
    t.push_back(make_tensor(1, "d.extra", st::dtype::I64, "I64", {1000}, 8));
    t.push_back(make_tensor(1, "a.weight", st::dtype::F32, "F32", {768, 1024}, 4));
    t.push_back(make_tensor(1, "b.bias", st::dtype::BF16, "BF16", {4096}, 2));
    t.push_back(make_tensor(1, "c.mask", st::dtype::U8, "U8", {300001}, 1));
  }
  return t;
}

// Checkpoints. "sharded": both versions have the same tensors and shapes, so the same 3 shard
// names and byte-identical indexes: only the bytes tell them apart (the case where an index
// written before its shards would name replaced shards). "sharded_stream": version 0 has 3 shards,
// version 1 (other shapes) is a single model.safetensors, so each save makes the other version's
// files stale, and a directory without an index may still open as the single file.
std::vector<tensor_data> checkpoint_version(const std::string& writer, int version) {
  std::vector<tensor_data> t;
  const int layout = writer == "sharded" ? 0 : version;
  const int count = layout == 0 ? 6 : 4;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t rows = layout == 0 ? 256 : 448;
    t.push_back(make_tensor(version, "layers." + std::to_string(i) + ".weight", st::dtype::F32,
                            "F32", {rows, 256}, 4));
  }
  return t;
}

// Two tensors of 256 KiB per shard (3 shards), or one file for the single-file version.
std::uint64_t max_shard_size(const std::string& writer, int version) {
  return writer == "sharded_stream" && version == 1 ? st::default_max_shard_size : 600'000;
}

std::vector<st::tensor_spec> specs_of(const std::vector<tensor_data>& tensors, bool with_bytes) {
  std::vector<st::tensor_spec> out;
  for (const tensor_data& t : tensors) {
    st::tensor_spec s;
    s.name = t.name;
    s.dtype = t.type;
    s.shape = t.shape;
    if (with_bytes) s.bytes = {reinterpret_cast<const std::byte*>(t.bytes.data()), t.bytes.size()};
    out.push_back(std::move(s));
  }
  return out;
}

st::metadata_map metadata_of(int version) {
  return {{"format", "pt"}, {"version", version == 0 ? "old" : "new"}};
}

std::vector<std::uint8_t> expected_file(int version) {
  std::vector<st_test::tensor_spec> t;
  for (const tensor_data& d : file_version(version))
    t.push_back({d.name, d.type_name, d.shape, d.bytes});
  const auto md = metadata_of(version);
  return st_test::make_file(
      t,
      st_test::metadata_t{std::vector<std::pair<std::string, std::string>>(md.begin(), md.end())},
      8);
}

bool is_file_writer(const std::string& writer) { return writer == "file" || writer == "stream"; }

// ---- the child: saves in a loop until it is killed ----

struct saver {
  std::string writer;
  fs::path dir;
  bool sync = false;
  std::vector<tensor_data> versions[2];

  fs::path target() const { return dir / "model.safetensors"; }

  st::result<void> save(int v) const {
    st::write_options wo;
    wo.sync = sync;
    const auto& data = versions[v];
    if (writer == "file") return st::save_file(target(), specs_of(data, true), metadata_of(v), wo);
    if (writer == "stream") {
      auto w = st::stream_writer::create(target(), specs_of(data, false), metadata_of(v), wo);
      if (!w) return w.error();
      for (auto t = data.rbegin(); t != data.rend(); ++t) {  // not in file order
        constexpr std::size_t chunk = 64 * 1024;
        for (std::size_t at = 0; at < t->bytes.size(); at += chunk) {
          const std::size_t n = std::min(chunk, t->bytes.size() - at);
          if (auto r =
                  w->write(t->name, {reinterpret_cast<const std::byte*>(t->bytes.data()) + at, n});
              !r) {
            return r;
          }
        }
      }
      return w->commit();
    }
    st::sharded_write_options so;
    so.max_shard_size = max_shard_size(writer, v);
    so.write = wo;
    if (writer == "sharded") {
      auto r = st::save_sharded(dir, specs_of(data, true), so);
      if (!r) return r.error();
      return {};
    }
    auto w = st::sharded_stream_writer::create(dir, specs_of(data, false), so);
    if (!w) return w.error();
    for (const tensor_data& t : data) {
      if (auto r = w->write(t.name,
                            {reinterpret_cast<const std::byte*>(t.bytes.data()), t.bytes.size()});
          !r) {
        return r;
      }
    }
    return w->commit();
  }
};

saver make_saver(const std::string& writer, const fs::path& dir, bool sync) {
  saver s;
  s.writer = writer;
  s.dir = dir;
  s.sync = sync;
  for (int v = 0; v < 2; ++v) {
    s.versions[v] = is_file_writer(writer) ? file_version(v) : checkpoint_version(writer, v);
  }
  return s;
}

// Saves version `start`, then the other, and so on, writing one byte to `fd` when ready and one
// after each completed save.
int run_child(const saver& s, int start, int fd) {
  const char ready = 'r';
  if (::write(fd, &ready, 1) != 1) return 3;
  for (int v = start;; v ^= 1) {
    if (auto r = s.save(v); !r) {
      std::fprintf(stderr, "crash_writer child: save failed: %s\n", r.error().to_string().c_str());
      return 2;
    }
    const char done = 's';
    if (::write(fd, &done, 1) != 1) return 3;
  }
}

// ---- the parent ----

// Forks a child that runs `body(write_fd)` and then ends; returns the read end of its pipe.
template <class Body>
pid_t spawn(Body&& body, int& read_fd) {
  int fds[2];
  require(::pipe(fds) == 0, "pipe");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  require(pid >= 0, "fork");
  if (pid == 0) {
    live_children.clear();  // the parent's, not this process's
#if defined(__linux__)
    // Ends with the parent, however the parent ends (a crash, a sanitizer's abort).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) std::_Exit(4);
#else
    (void)parent;
#endif
    ::close(fds[0]);
    std::_Exit(body(fds[1]));
  }
  live_children.push_back(pid);
  ::close(fds[1]);
  read_fd = fds[0];
  return pid;
}

// Waits up to 20 s for one byte from the child: true when it came.
bool wait_byte(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 20000) != 1) return false;
  char c = 0;
  return ::read(fd, &c, 1) == 1;
}

// Bytes the child wrote after its ready byte (one per completed save).
std::size_t drain(int fd) {
  std::size_t n = 0;
  char buf[256];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) return n;
    n += static_cast<std::size_t>(got);
  }
}

void kill_and_reap(pid_t pid, bool expect_alive) {
  ::kill(pid, SIGKILL);
  int status = 0;
  reap(pid, status);
  if (expect_alive && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
    fail("the child ended on its own before it was killed (status " + std::to_string(status) +
         "); see its message above");
  }
}

bool is_temp_name(const std::string& name) {
  // .<target>.<16 hex>.tmp, as docs/writer.md#atomic-files names them.
  if (name.size() < 1 + 1 + 16 + 4 || name[0] != '.') return false;
  if (name.compare(name.size() - 4, 4, ".tmp") != 0) return false;
  const std::size_t dot = name.size() - 4 - 16 - 1;
  if (name[dot] != '.') return false;
  for (std::size_t i = dot + 1; i < dot + 17; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
std::string temp_target(const std::string& name) { return name.substr(1, name.size() - 22); }

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct counts {
  std::size_t kills = 0, old_version = 0, new_version = 0, no_index = 0;
  std::size_t index_removed[2] = {0, 0};  // kills during the renames, without/with fsync
  std::size_t with_temporaries = 0, max_temporaries = 0, with_stale_shards = 0, saves = 0;
  std::size_t synced_children = 0;
  double start_s = 0, delay_s = 0, reap_s = 0;  // starting children, delays, killing and reaping
};

// The version a file target holds (0 or 1); fails on anything else.
int check_file(const fs::path& path, const std::vector<std::uint8_t> (&expected)[2],
               std::size_t kill) {
  const std::string at = "kill " + std::to_string(kill) + ": ";
  auto mapping = st::file_mapping::open(path);
  require(mapping.has_value(),
          at + "the target cannot be opened: " + (mapping ? "" : mapping.error().to_string()));
  const auto bytes = mapping->bytes();
  int version = -1;
  for (int v = 0; v < 2; ++v) {
    if (bytes.size() == expected[v].size() &&
        std::memcmp(bytes.data(), expected[v].data(), bytes.size()) == 0) {
      version = v;
    }
  }
  auto parsed = st::mapped_file::open(path);
  if (version < 0) {
    const auto& e = expected[bytes.size() == expected[1].size() ? 1 : 0];
    std::size_t first = 0;
    while (first < bytes.size() && first < e.size() &&
           std::to_integer<std::uint8_t>(bytes[first]) == e[first]) {
      ++first;
    }
    fail(at + "the target is neither version: " + std::to_string(bytes.size()) +
         " bytes (expected " + std::to_string(expected[0].size()) + " or " +
         std::to_string(expected[1].size()) + "), first difference at byte " +
         std::to_string(first) +
         ", parse: " + (parsed ? std::string("ok") : parsed.error().to_string()));
  }
  require(parsed.has_value(),
          at + "the target does not parse: " + (parsed ? "" : parsed.error().to_string()));
  require(parsed->tensors().size() == (version == 0 ? 3u : 4u), at + "tensor count");
  return version;
}

// The version a checkpoint directory holds (0 or 1), or -1 when it does not open as a checkpoint;
// fails when it opens but is not one whole version: an index that names a missing, partial or
// stale shard, or tensors of both versions.
int check_checkpoint(const saver& s, std::size_t kill) {
  const std::string at = "kill " + std::to_string(kill) + ": ";
  const fs::path index = s.dir / "model.safetensors.index.json";
  auto c = st::checkpoint::open(s.dir);
  if (!c) {
    // Only a kill between the removal of the old index and the rename of the new one leaves a
    // directory that does not open: no index, and several shard files.
    require(!fs::exists(index), at + "the index does not open: " + c.error().to_string());
    return -1;
  }
  const auto report = c->verify();
  if (!report.ok()) fail(at + "verify: " + report.problems.front().to_string());
  int version = -1;
  for (int v = 0; v < 2 && version < 0; ++v) {
    const auto& first = s.versions[v].front();
    auto got = c->read(first.name);
    if (got && got->size() == first.bytes.size() &&
        std::memcmp(got->data(), first.bytes.data(), first.bytes.size()) == 0) {
      version = v;
    }
  }
  require(version >= 0, at + "the first tensor is neither version");
  const auto& want = s.versions[version];
  require(c->entries().size() == want.size(),
          at + "the index lists " + std::to_string(c->entries().size()) + " tensors, version " +
              std::to_string(version) + " has " + std::to_string(want.size()));
  for (const tensor_data& t : want) {
    auto got = c->read(t.name);
    require(got.has_value(), at + "tensor " + t.name + ": " + (got ? "" : got.error().to_string()));
    require(got->size() == t.bytes.size() &&
                std::memcmp(got->data(), t.bytes.data(), t.bytes.size()) == 0,
            at + "tensor " + t.name + " is not version " + std::to_string(version) +
                " (mixed or stale shards)");
  }
  return version;
}

// Shard names of either version's layout, and the index.
std::set<std::string> checkpoint_names(const saver& s) {
  std::set<std::string> out{"model.safetensors.index.json"};
  for (int v = 0; v < 2; ++v) {
    st::sharded_write_options so;
    so.max_shard_size = max_shard_size(s.writer, v);
    auto layout = st::shard_layout::create(specs_of(s.versions[v], false), so);
    require(layout.has_value(), "layout");
    for (const auto& n : layout->shards()) out.insert(n);
  }
  return out;
}

// 200 kills per writer; 50 under AddressSanitizer, where every child process costs several
// times as much (the children still run the writers under it).
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t default_kills = 50;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::uint64_t default_kills = 50;
#else
constexpr std::uint64_t default_kills = 200;
#endif
#else
constexpr std::uint64_t default_kills = 200;
#endif

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

int run_kills(const std::string& writer, const fs::path& dir, std::uint64_t kills,
              std::uint64_t seed) {
  std::printf(
      "crash_writer: writer %s, %llu kills, seed %llu (SAFETENSORS_CRASH_SEED=%llu "
      "repeats the delays)\n",
      writer.c_str(), static_cast<unsigned long long>(kills), static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  saver s = make_saver(writer, dir, false);
  const bool file_mode = is_file_writer(writer);
  std::vector<std::uint8_t> expected[2];
  if (file_mode) {
    for (int v = 0; v < 2; ++v) {
      expected[v] = expected_file(v);
      auto mine = st::serialize(specs_of(s.versions[v], true), metadata_of(v));
      require(mine.has_value() && mine->size() == expected[v].size() &&
                  std::memcmp(mine->data(), expected[v].data(), mine->size()) == 0,
              "the library's bytes differ from the test writer's for version " + std::to_string(v));
    }
  }
  const std::set<std::string> known =
      file_mode ? std::set<std::string>{"model.safetensors"} : checkpoint_names(s);
  // Three saves, timed: the kills' delays are measured in saves, whatever the machine's speed.
  const auto timing = std::chrono::steady_clock::now();
  for (int v : {1, 0, 0}) require(s.save(v).has_value(), "the first saves");
  const auto save_us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      1000, std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  timing)
                    .count() /
                3));
  int on_disk = 0;
  std::mt19937_64 rng(seed);
  counts n;
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t k = 0; k < kills; ++k) {
    // Delays: half of them within the first save, half within the first four (some saves
    // complete first); one child in four flushes with fsync.
    const bool sync = rng() % 4 == 0;
    const std::uint64_t delay_us = rng() % (rng() % 2 == 0 ? save_us : 4 * save_us);
    int fd = -1;
    const int start = on_disk < 0 ? 0 : on_disk ^ 1;
    s.sync = sync;  // the child's copy of it
    const pid_t pid = spawn([&s, start](int out) { return run_child(s, start, out); }, fd);
    s.sync = false;
    const auto t0 = std::chrono::steady_clock::now();
    require(wait_byte(fd), "the child did not start");
    const auto t1 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    const auto t2 = std::chrono::steady_clock::now();
    kill_and_reap(pid, true);
    const auto t3 = std::chrono::steady_clock::now();
    n.start_s += std::chrono::duration<double>(t1 - t0).count();
    n.delay_s += std::chrono::duration<double>(t2 - t1).count();
    n.reap_s += std::chrono::duration<double>(t3 - t2).count();
    const std::size_t completed = drain(fd);
    n.saves += completed;
    ::close(fd);
    ++n.kills;
    n.synced_children += sync ? 1 : 0;

    const int before = on_disk;
    // What the kill left.
    std::map<std::string, std::size_t> temps_per_target;
    std::size_t temps = 0;
    bool stale = false;
    for (const std::string& name : listing(dir)) {
      if (is_temp_name(name)) {
        ++temps;
        ++temps_per_target[temp_target(name)];
        require(known.count(temp_target(name)) == 1,
                "a temporary file of an unknown target: " + name);
        continue;
      }
      require(known.count(name) == 1,
              "kill " + std::to_string(k) + ": an unexpected file: " + name);
    }
    for (const auto& [target, count] : temps_per_target) {
      // Each save first removes its target's temporaries of dead writers: one per target at most.
      require(count <= 1, "kill " + std::to_string(k) + ": " + std::to_string(count) +
                              " temporary files of " + target + " (stale ones are not removed)");
    }
    n.with_temporaries += temps > 0 ? 1 : 0;
    n.max_temporaries = std::max(n.max_temporaries, temps);
    if (file_mode) {
      on_disk = check_file(dir / "model.safetensors", expected, k);
    } else {
      on_disk = check_checkpoint(s, k);
      if (on_disk >= 0) {
        std::set<std::string> in_use{"model.safetensors.index.json"};  // when it exists
        auto c = st::checkpoint::open(dir);
        for (const auto& shard : c->index().shards) in_use.insert(shard);
        for (const std::string& name : listing(dir)) {
          if (!is_temp_name(name) && in_use.count(name) == 0) stale = true;
        }
      }
    }
    if (on_disk == 0) ++n.old_version;
    if (on_disk == 1) ++n.new_version;
    if (on_disk < 0) ++n.no_index;
    // A checkpoint that does not open, after one that did or after a completed save: this kill
    // came during the renames. Otherwise the directory stayed so since an earlier kill.
    if (on_disk < 0 && (before >= 0 || completed > 0)) ++n.index_removed[sync ? 1 : 0];
    n.with_stale_shards += stale ? 1 : 0;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::printf(
      "crash_writer: %s: %zu kills in %.1f s (%zu children with fsync; one save takes %.1f ms "
      "here), %zu saves completed between them\n",
      writer.c_str(), n.kills, seconds, n.synced_children, static_cast<double>(save_us) / 1000,
      n.saves);
  std::printf(
      "crash_writer: %s: %.1f s starting children, %.1f s in delays, %.1f s killing "
      "and reaping, %.1f s checking\n",
      writer.c_str(), n.start_s, n.delay_s, n.reap_s, seconds - n.start_s - n.delay_s - n.reap_s);
  std::printf(
      "crash_writer: %s: after the kills: old version %zu, new version %zu%s, torn or "
      "partial 0\n",
      writer.c_str(), n.old_version, n.new_version,
      file_mode ? ""
                : (", not a checkpoint (no index) " + std::to_string(n.no_index) + " (" +
                   std::to_string(n.index_removed[0] + n.index_removed[1]) +
                   " kills during the renames, " + std::to_string(n.index_removed[1]) +
                   " of them with fsync; the others came before a save repaired it)")
                      .c_str());
  std::printf(
      "crash_writer: %s: temporaries left by %zu kills (at most %zu at once, removed by "
      "the next save)%s\n",
      writer.c_str(), n.with_temporaries, n.max_temporaries,
      file_mode ? ""
                : (", stale shards left by " + std::to_string(n.with_stale_shards) +
                   " kills (not in the index; removed by the next save)")
                      .c_str());
  // A last save, uninterrupted, leaves exactly the new version and nothing else.
  const int last = on_disk == 0 ? 1 : 0;
  require(s.save(last).has_value(), "the last save");
  if (file_mode) {
    require(check_file(dir / "model.safetensors", expected, kills) == last,
            "the last save's version");
    require(listing(dir) == std::vector<std::string>{"model.safetensors"},
            "files left after the last save");
  } else {
    require(check_checkpoint(s, kills) == last, "the last save's version");
    auto c = st::checkpoint::open(dir);
    std::vector<std::string> want(c->index().shards.begin(), c->index().shards.end());
    if (want.size() > 1) want.push_back("model.safetensors.index.json");
    std::sort(want.begin(), want.end());
    require(listing(dir) == want, "files left after the last save");
  }

  // The loop must have exercised both outcomes, and kills in the middle of a write.
  require(n.old_version > 0 && n.new_version > 0, "the kills never saw both versions");
  require(n.with_temporaries > 0, "no kill landed in the middle of a write");
  fs::remove_all(dir, ec);
  std::printf("crash_writer: %s: ok\n", writer.c_str());
  return 0;
}

// Holds a stream_writer's temporary file open (half written) until killed.
int run_hold(const fs::path& dir, int fd) {
  const auto data = file_version(1);
  auto w = st::stream_writer::create(dir / "model.safetensors", specs_of(data, false));
  if (!w) return 2;
  const auto& t = data.front();
  if (!w->write(t.name, {reinterpret_cast<const std::byte*>(t.bytes.data()), t.bytes.size() / 2}))
    return 2;
  const char ready = 'r';
  if (::write(fd, &ready, 1) != 1) return 3;
  for (;;) ::pause();
}

// A live writer's temporary file is kept by another process's save to the same target; once
// that writer is killed, the next save removes it; other names are never touched.
int run_cleanup(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const fs::path target = dir / "model.safetensors";
  const saver s = make_saver("file", dir, false);
  require(s.save(0).has_value(), "first save");
  // Names that are not a temporary of this target, or not one the library makes.
  const std::vector<std::string> others{
      ".other.safetensors.0123456789abcdef.tmp", ".model.safetensors.ABCDEF0123456789.tmp",
      ".model.safetensors.0123456789abcde.tmp", "model.safetensors.0123456789abcdef.tmp",
      ".model.safetensors.0123456789abcdef.tmp.bak"};
  for (const auto& o : others) st_test::write_file(dir / o, {1, 2, 3});
  auto temps = [&] {
    std::vector<std::string> out;
    for (const auto& name : listing(dir)) {
      if (is_temp_name(name) && temp_target(name) == "model.safetensors") out.push_back(name);
    }
    return out;
  };
  int fd = -1;
  const pid_t pid = spawn([&dir](int out) { return run_hold(dir, out); }, fd);
  require(wait_byte(fd), "the holding child did not start");
  const auto live = temps();
  require(live.size() == 1, "the holding child's temporary file: " + std::to_string(live.size()));
  require(s.save(1).has_value(), "a save next to a live writer");
  require(temps() == live, "a save removed a live writer's temporary file");
  kill_and_reap(pid, true);
  ::close(fd);
  require(temps() == live, "the dead writer's temporary file is still there before a save");
  require(s.save(0).has_value(), "a save after the writer died");
  require(temps().empty(), "a save did not remove the dead writer's temporary file");
  for (const auto& o : others) require(fs::exists(dir / o), "a save removed " + o);
  std::printf(
      "crash_writer: cleanup: a live writer's temporary file kept, a dead one's removed, "
      "%zu other names untouched: ok\n",
      others.size());
  fs::remove_all(dir, ec);
  return 0;
}

// ---- concurrent saves to one target, and readers of the version being replaced ----

// Contender `c`'s data: the layout of version c % 2, bytes of its own.
saver contender(const std::string& writer, const fs::path& dir, int c) {
  saver s = make_saver(writer, dir, false);
  auto& data = s.versions[c % 2];
  for (tensor_data& t : data) {
    std::uint64_t seed = std::uint64_t{0x9e3779b97f4a7c15} * static_cast<std::uint64_t>(c + 17);
    for (const char ch : t.name) seed = seed * 131u + static_cast<unsigned char>(ch);
    t.bytes = random_bytes(seed, t.bytes.size());
  }
  return s;
}

// The contender whose whole output the target holds; fails on a mix, a torn file, stale shards
// or leftover temporary files.
int race_winner(const std::vector<saver>& contenders, const std::string& at) {
  const saver& any = contenders.front();
  for (const std::string& name : listing(any.dir)) {
    require(!is_temp_name(name), at + ": a temporary file is left: " + name);
  }
  if (is_file_writer(any.writer)) {
    const auto bytes = st_test::read_file(any.target());
    for (std::size_t c = 0; c < contenders.size(); ++c) {
      const int v = static_cast<int>(c % 2);
      auto want = st::serialize(specs_of(contenders[c].versions[v], true), metadata_of(v));
      require(want.has_value(), "serialize");
      if (want->size() == bytes.size() &&
          std::memcmp(want->data(), bytes.data(), bytes.size()) == 0) {
        return static_cast<int>(c);
      }
    }
    fail(at + ": the file is no single writer's output (" + std::to_string(bytes.size()) +
         " bytes)");
  }
  auto ckpt = st::checkpoint::open(any.dir);
  require(ckpt.has_value(), at + ": the checkpoint does not open: " +
                                (ckpt ? std::string() : ckpt.error().to_string()));
  const auto report = ckpt->verify();
  require(report.ok(),
          at + ": verify: " + (report.ok() ? std::string() : report.problems.front().to_string()));
  int winner = -1;
  for (std::size_t c = 0; c < contenders.size() && winner < 0; ++c) {
    const auto& want = contenders[c].versions[c % 2];
    bool all = ckpt->entries().size() == want.size();
    for (std::size_t i = 0; all && i < want.size(); ++i) {
      auto got = ckpt->read(want[i].name);
      all = got && got->size() == want[i].bytes.size() &&
            std::memcmp(got->data(), want[i].bytes.data(), got->size()) == 0;
    }
    if (all) winner = static_cast<int>(c);
  }
  require(winner >= 0, at + ": the checkpoint is no single writer's output (mixed shards)");
  std::set<std::string> files{ckpt->index().shards.begin(), ckpt->index().shards.end()};
  if (ckpt->shard_count() > 1) files.insert("model.safetensors.index.json");
  for (const std::string& name : listing(any.dir)) {
    require(files.count(name) == 1, at + ": a stale file is left: " + name);
  }
  return winner;
}

// Every tensor of `want` read through a mapping, a pread reader or a checkpoint opened earlier.
void require_reads(const st::mapped_file& src, const std::vector<tensor_data>& want,
                   const std::string& at) {
  for (const tensor_data& t : want) {
    auto got = src.tensor(t.name);
    require(got && got->byte_size() == t.bytes.size() &&
                std::memcmp(got->data(), t.bytes.data(), t.bytes.size()) == 0,
            at + ": tensor " + t.name + " changed under a reader opened before the replacement");
  }
}
template <class Source>
void require_reads(const Source& src, const std::vector<tensor_data>& want, const std::string& at) {
  for (const tensor_data& t : want) {
    auto got = src.read(t.name);
    require(got && got->size() == t.bytes.size() &&
                std::memcmp(got->data(), t.bytes.data(), t.bytes.size()) == 0,
            at + ": tensor " + t.name + " changed under a reader opened before the replacement");
  }
}

// Four writers save to one target at once, as threads and as processes, for `rounds` rounds
// each (docs/writing.md#concurrent-saves): every save succeeds and the target is exactly one
// writer's output. Readers opened on the first version (a mapping, a pread reader, a
// checkpoint with every shard opened) read it intact during and after all the replacements.
int run_race(const std::string& writer, const fs::path& dir, int rounds, std::uint64_t seed) {
  std::printf("crash_writer: race %s, %d rounds, seed %llu\n", writer.c_str(), rounds,
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  constexpr int writers = 4;
  std::vector<saver> contenders;
  for (int c = 0; c < writers; ++c) contenders.push_back(contender(writer, dir, c));
  // The first version, held open by readers through all the rounds.
  require(contenders[0].save(0).has_value(), "the first save");
  const auto& first = contenders[0].versions[0];
  std::optional<st::mapped_file> mapped;
  std::optional<st::source_reader> reader;
  std::optional<st::checkpoint> ckpt[2];
  if (is_file_writer(writer)) {
    mapped.emplace(st::mapped_file::open(contenders[0].target()).value());
    reader.emplace(st::source_reader::open(contenders[0].target()).value());
  } else {
    const st::shard_access modes[2] = {st::shard_access::mapped, st::shard_access::reader};
    for (int m = 0; m < 2; ++m) {
      st::checkpoint_options co;
      co.access = modes[m];
      ckpt[m].emplace(st::checkpoint::open(dir, co).value());
      require(ckpt[m]->verify().ok(), "verify opens every shard");  // pins this version's shards
    }
  }
  const auto check_readers = [&](const std::string& at) {
    if (mapped) require_reads(*mapped, first, at + " (mapping)");
    if (reader) require_reads(*reader, first, at + " (pread reader)");
    for (const auto& c : ckpt) {
      if (c) require_reads(*c, first, at + " (checkpoint)");
    }
  };
  std::size_t wins[writers] = {0, 0, 0, 0};
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    const std::string at = writer + " round " + std::to_string(round);
    // Threads: each save's result, then the target.
    // Each round starts the writers in a random order (without delays: they contend the most).
    int order[writers] = {0, 1, 2, 3};
    std::shuffle(std::begin(order), std::end(order), rng);
    std::vector<std::string> failures(writers);
    std::vector<std::thread> threads;
    for (const int c : order) {
      threads.emplace_back([&, c] {
        if (auto r = contenders[static_cast<std::size_t>(c)].save(c % 2); !r) {
          failures[static_cast<std::size_t>(c)] = r.error().to_string();
        }
      });
    }
    check_readers(at + ", during the thread saves");
    for (auto& t : threads) t.join();
    for (int c = 0; c < writers; ++c) {
      require(failures[static_cast<std::size_t>(c)].empty(),
              at + ": thread " + std::to_string(c) + ": " + failures[static_cast<std::size_t>(c)]);
    }
    ++wins[race_winner(contenders, at + " (threads)")];
    // Processes: each exits with 0 only after a successful save.
    std::shuffle(std::begin(order), std::end(order), rng);
    std::vector<pid_t> pids;
    std::vector<int> fds;
    std::vector<int> started_as;
    for (const int c : order) {
      int fd = -1;
      const saver& s = contenders[static_cast<std::size_t>(c)];
      started_as.push_back(c);
      pids.push_back(spawn(
          [&s, c](int) {
            auto r = s.save(c % 2);
            if (!r) std::fprintf(stderr, "crash_writer: %s\n", r.error().to_string().c_str());
            return r ? 0 : 2;
          },
          fd));
      fds.push_back(fd);
    }
    check_readers(at + ", during the process saves");
    for (std::size_t c = 0; c < pids.size(); ++c) {
      int status = 0;
      reap(pids[c], status);
      ::close(fds[c]);
      require(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              at + ": process " + std::to_string(started_as[c]) + " failed (status " +
                  std::to_string(status) + ")");
    }
    ++wins[race_winner(contenders, at + " (processes)")];
    check_readers(at + ", after the saves");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "crash_writer: race %s: %d rounds of %d threads and %d processes in %.1f s, every save "
      "succeeded, the target was one writer's whole output every time (writer 0..3 won %zu, %zu, "
      "%zu, %zu times); readers opened before kept reading the first version: ok\n",
      writer.c_str(), rounds, writers, writers, seconds, wins[0], wins[1], wins[2], wins[3]);
  fs::remove_all(dir, ec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  auto usage = [] {
    std::fprintf(
        stderr,
        "usage: crash_writer kill file|stream|sharded|sharded_stream DIR [KILLS [SEED]]\n"
        "       crash_writer cleanup DIR\n"
        "       crash_writer race file|stream|sharded|sharded_stream DIR [ROUNDS [SEED]]\n");
    return 64;
  };
  const bool kill_mode = args.size() >= 4 && args.size() <= 6 && args[1] == "kill";
  const bool race_mode = args.size() >= 4 && args.size() <= 6 && args[1] == "race";
  if (kill_mode || race_mode) {
    const std::string& writer = args[2];
    if (writer != "file" && writer != "stream" && writer != "sharded" &&
        writer != "sharded_stream") {
      return usage();
    }
    std::uint64_t count = args.size() > 4 ? std::strtoull(args[4].c_str(), nullptr, 10)
                          : kill_mode     ? default_kills
                                          : 20;
    std::uint64_t seed = args.size() > 5
                             ? std::strtoull(args[5].c_str(), nullptr, 10)
                             : static_cast<std::uint64_t>(
                                   std::chrono::system_clock::now().time_since_epoch().count());
    if (kill_mode) count = env_or("SAFETENSORS_CRASH_KILLS", count);
    seed = env_or("SAFETENSORS_CRASH_SEED", seed);
    // The same run again: the same count and seed as arguments (the environment overrides them).
    replay_hint = args[0] + " " + args[1] + " " + writer + " " + args[3] + " " +
                  std::to_string(count) + " " + std::to_string(seed);
    if (kill_mode) return run_kills(writer, args[3], count, seed);
    return run_race(writer, args[3], static_cast<int>(count), seed);
  }
  if (args.size() == 3 && args[1] == "cleanup") return run_cleanup(args[2]);
  return usage();
}
