// safetensors-bench: target 5, writing a file from memory (save_file) and streaming
// (stream_writer), against a raw write() loop of the same bytes: one that does the same
// durability work as save_file (a temporary file next to the target, fsync, rename, fsync of the
// directory) and one that only writes the target and fsyncs it.
//
// Every sample starts alike (settle()): the target removed and every dirty page written back.
// Without that, a sample that renames over the previous sample's file pays for freeing that
// file's blocks (11-30 ms for 64 MiB on ext4) and one that follows an unsynced write pays for its
// writeback; with two repetitions and a fixed order that fell on save_file more often than on the
// baseline (docs/performance.md#writing).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <safetensors/safetensors.hpp>

#include "bench_common.hpp"

namespace bench {
namespace {

namespace st = safetensors;

constexpr std::size_t chunk_size = std::size_t{8} << 20;  // what a streaming producer hands over

std::vector<st::tensor_spec> specs_of(const std::vector<gen_tensor>& ts, const std::byte* data) {
  std::vector<st::tensor_spec> out;
  for (const gen_tensor& t : ts) {
    st::tensor_spec s;
    s.name = t.name;
    s.dtype = t.dtype == "F32" ? st::dtype::F32 : st::dtype::BF16;
    s.shape = t.shape;
    if (data)
      s.bytes = st::span<const std::byte>(data + t.begin, static_cast<std::size_t>(t.bytes()));
    out.push_back(std::move(s));
  }
  return out;
}

/// Raw POSIX: write() everything, fsync, close, rename, fsync the directory (what save_file does).
class raw_writer {
 public:
  raw_writer(const std::string& target, bool sync)
      : target_(target), temp_(target + ".raw-tmp"), sync_(sync) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) die("cannot create " + temp_);
  }
  void put(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    while (n) {
      const ssize_t w = ::write(fd_, c, std::min<std::size_t>(n, std::size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) die("write failed: " + std::string(std::strerror(errno)));
      c += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void commit() {
    if (sync_ && ::fsync(fd_) != 0) die("fsync failed");
    ::close(fd_);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) die("rename failed");
    if (!sync_) return;
    // Make the rename durable too, as save_file does (fsync of the directory).
    const std::string dir = target_.substr(0, target_.find_last_of('/') + 1);
    const int d = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
      ::fsync(d);
      ::close(d);
    }
  }

 private:
  std::string target_, temp_;
  bool sync_ = true;
  int fd_ = -1;
};

/// Raw POSIX without the atomic replacement: write() the target itself, fsync, close.
double raw_plain(const std::string& target, const std::string& prefix,
                 const std::vector<const gen_tensor*>& order, const std::byte* data, bool sync) {
  const double t0 = now_s();
  const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot create " + target);
  auto put = [fd](const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    while (n) {
      const ssize_t w = ::write(fd, c, std::min<std::size_t>(n, std::size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) die("write failed: " + std::string(std::strerror(errno)));
      c += w;
      n -= static_cast<std::size_t>(w);
    }
  };
  put(prefix.data(), prefix.size());
  for (const gen_tensor* t : order) put(data + t->begin, static_cast<std::size_t>(t->bytes()));
  if (sync && ::fsync(fd) != 0) die("fsync failed");
  ::close(fd);
  return now_s() - t0;
}

/// Before a sample: no file at `target` (so no rename replaces one) and no dirty page left
/// anywhere (so no sample pays for an earlier one's writeback). Untimed.
void settle(const std::string& target) {
  ::unlink(target.c_str());
  ::sync();
}

/// Fills a chunk as a producer would (cheap, the same on both sides).
void fill_chunk(std::vector<std::byte>& chunk, std::uint64_t seed) {
  auto* w = reinterpret_cast<std::uint64_t*>(chunk.data());
  for (std::size_t i = 0; i < chunk.size() / 8; ++i) w[i] = seed * 0x9E3779B97F4A7C15ull + i;
}

/// Streams every tensor in file order, chunk by chunk, through `write(name, ptr, n)`.
template <class Write>
void stream_all(const std::vector<gen_tensor>& ts, std::vector<std::byte>& chunk, Write&& write) {
  std::vector<const gen_tensor*> order;
  for (const auto& t : ts) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const gen_tensor* a, const gen_tensor* b) { return a->begin < b->begin; });
  std::uint64_t seed = 0;
  for (const gen_tensor* t : order) {
    for (std::uint64_t done = 0, n = t->bytes(); done < n;) {
      const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), n - done));
      fill_chunk(chunk, ++seed);
      write(*t, chunk.data(), piece);
      done += piece;
    }
  }
}

double stream_ours(const std::string& target, const std::vector<gen_tensor>& ts,
                   std::vector<std::byte>& chunk, bool sync = true) {
  const double t0 = now_s();
  st::write_options wo;
  wo.sync = sync;
  auto w = st::stream_writer::create(target, specs_of(ts, nullptr),
                                     st::metadata_map{{"format", "pt"}}, wo);
  if (!w) die(w.error().to_string());
  stream_all(ts, chunk, [&](const gen_tensor& t, const std::byte* p, std::size_t n) {
    if (auto r = w->write(t.name, st::span<const std::byte>(p, n)); !r) die(r.error().to_string());
  });
  if (auto r = w->commit(); !r) die(r.error().to_string());
  return now_s() - t0;
}

double stream_raw(const std::string& target, const std::vector<gen_tensor>& ts,
                  const std::string& prefix, std::vector<std::byte>& chunk, bool sync = true) {
  const double t0 = now_s();
  raw_writer w(target, sync);
  w.put(prefix.data(), prefix.size());
  stream_all(ts, chunk, [&](const gen_tensor&, const std::byte* p, std::size_t n) { w.put(p, n); });
  w.commit();
  return now_s() - t0;
}

std::uint64_t peak_of_child(const config& cfg, const char* mode, std::uint64_t size) {
  int fds[2];
  if (::pipe(fds) != 0) die("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    const std::string m = std::string("--child-stream=") + mode;
    const std::string s = "--size=" + std::to_string(size);
    const std::string d = "--dir=" + cfg.dir;
    ::execl("/proc/self/exe", "safetensors-bench", m.c_str(), s.c_str(), d.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the streaming child failed: " + out);
  return std::strtoull(out.c_str(), nullptr, 10);
}

}  // namespace

int child_stream(const config& cfg, const std::string& mode) {
  auto ts = dense_model(cfg.data_bytes);
  std::uint64_t data_size = 0;
  (void)make_prefix(ts, data_size);
  const std::string target =
      cfg.dir + "/safetensors-bench-child-" + std::to_string(::getpid()) + ".safetensors";
  std::vector<std::byte> chunk(chunk_size);
  if (mode == "ours") {
    (void)stream_ours(target, ts, chunk);
  } else {
    auto w = st::stream_writer::create(target + ".plan", specs_of(ts, nullptr),
                                       st::metadata_map{{"format", "pt"}});
    if (!w) die(w.error().to_string());
    const auto p = w->plan().prefix();
    const std::string prefix(reinterpret_cast<const char*>(p.data()), p.size());
    w->discard();
    (void)stream_raw(target, ts, prefix, chunk);
  }
  ::unlink(target.c_str());
  std::printf("%llu\n", static_cast<unsigned long long>(peak_rss_bytes()));
  return 0;
}

void run_write_targets(context& ctx) {
  const config& cfg = ctx.cfg;
  const std::string target =
      cfg.dir + "/safetensors-bench-out-" + std::to_string(::getpid()) + ".safetensors";
  // Unless --reps: quick 3 (2 are too few to see through the disk's variations), full 5.
  const int reps = cfg.reps_given ? std::max(1, cfg.reps) : cfg.quick ? 3 : 5;
  const double bytes = static_cast<double>(ctx.data_size);

  // The data in memory (pre-faulted), as a trainer holds it.
  void* mem = ::mmap(nullptr, static_cast<std::size_t>(ctx.data_size), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("cannot allocate the data");
  auto* data = static_cast<std::byte*>(mem);
  {
    std::vector<std::byte> chunk(chunk_size);
    std::uint64_t at = 0, seed = 0;
    while (at < ctx.data_size) {
      fill_chunk(chunk, ++seed);
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), ctx.data_size - at));
      std::memcpy(data + at, chunk.data(), n);
      at += n;
    }
  }
  const auto specs = specs_of(ctx.tensors, data);
  const st::metadata_map md{{"format", "pt"}};
  auto plan = st::write_plan::create(specs, md);
  if (!plan) die(plan.error().to_string());
  const std::string prefix(reinterpret_cast<const char*>(plan->prefix().data()),
                           plan->prefix().size());
  std::vector<const gen_tensor*> order;
  for (const auto& t : ctx.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const gen_tensor* a, const gen_tensor* b) { return a->begin < b->begin; });

  // 5a: from memory; with fsync (durable, disk-bound) and without (page cache, CPU-bound).
  // Variants in rotation, each sample after settle(): the raw loop with save_file's durability
  // work, the raw loop writing the target directly, save_file, and (fsync, full mode) save_file
  // over an existing file of the same size.
  for (const bool sync : {true, false}) {
    st::write_options wo;
    wo.sync = sync;
    const auto raw_same = [&] {
      settle(target);
      const double t0 = now_s();
      raw_writer w(target, sync);
      w.put(prefix.data(), prefix.size());
      for (const gen_tensor* t : order)
        w.put(data + t->begin, static_cast<std::size_t>(t->bytes()));
      w.commit();
      return now_s() - t0;
    };
    const auto raw_direct = [&] {
      settle(target);
      return raw_plain(target, prefix, order, data, sync);
    };
    const auto ours = [&] {
      settle(target);
      const double t0 = now_s();
      if (auto r = st::save_file(target, specs, md, wo); !r) die(r.error().to_string());
      const double took = now_s() - t0;
      auto check = st::mapped_file::open(target);  // the header only: cheap
      if (!check || check->size() != ctx.tensors.size())
        die("save_file: the file does not read back");
      return took;
    };
    const auto ours_replacing = [&] {
      settle(target);
      if (auto r = st::save_file(target, specs, md, wo); !r) die(r.error().to_string());
      ::sync();
      const double t0 = now_s();
      if (auto r = st::save_file(target, specs, md, wo); !r) die(r.error().to_string());
      return now_s() - t0;
    };
    std::vector<std::function<double()>> fns{raw_same, raw_direct, ours};
    const bool replacing = sync && !cfg.quick;
    if (replacing) fns.push_back(ours_replacing);
    const auto t = run_rotated(reps, fns);
    const char* how = sync ? "fsync both" : "no fsync either";
    row r;
    r.target = sync ? "5" : "5i";
    r.what = std::string("save_file from memory vs raw write() loop, ") + how;
    set_rate(r, bytes, summarize(t[2]).median, summarize(t[0]).median);
    r.ratio = summarize(ratios(t[0], t[2]));
    if (sync) {
      r.kind = goal_kind::at_least;
      r.goal = 0.9;
    }
    r.note = std::string("throughput ratio; temp file + rename") +
             (sync ? " + fsync + dir fsync" : "") + " on both sides; new target each sample";
    add_row(r);
    row d;
    d.target = "5i";
    d.what = std::string("save_file from memory vs raw write() of the target itself, ") + how;
    set_rate(d, bytes, summarize(t[2]).median, summarize(t[1]).median);
    d.ratio = summarize(ratios(t[1], t[2]));
    d.note = sync ? "throughput ratio; the baseline skips the temp file, rename and dir fsync"
                  : "throughput ratio; the baseline skips the temp file and rename";
    add_row(d);
    if (replacing) {
      row x;
      x.target = "5i";
      x.what = "save_file over an existing file vs to a new path, fsync";
      set_rate(x, bytes, summarize(t[3]).median, summarize(t[2]).median);
      x.ratio = summarize(ratios(t[2], t[3]));
      x.note = "rename() frees the replaced file's blocks and drops its cached pages";
      add_row(x);
    }
  }
  ::munmap(mem, static_cast<std::size_t>(ctx.data_size));

  // 5b: streaming, 8 MiB chunks produced on the fly; each sample after settle().
  for (const bool sync : {true, false}) {
    std::vector<std::byte> chunk(chunk_size);
    const auto t = run_rotated(reps, {[&] {
                                        settle(target);
                                        return stream_raw(target, ctx.tensors, prefix, chunk, sync);
                                      },
                                      [&] {
                                        settle(target);
                                        return stream_ours(target, ctx.tensors, chunk, sync);
                                      }});
    row r;
    r.target = sync ? "5" : "5i";
    r.what = std::string("stream_writer (8 MiB chunks) vs raw write() loop, ") +
             (sync ? "fsync both" : "no fsync either");
    set_rate(r, bytes, summarize(t[1]).median, summarize(t[0]).median);
    r.ratio = summarize(ratios(t[0], t[1]));
    if (sync) {
      r.kind = goal_kind::at_least;
      r.goal = 0.9;
    }
    r.note = "throughput ratio; both fill each chunk before writing it";
    add_row(r);
  }
  ::unlink(target.c_str());

  // 5c: peak RSS of the streaming writer, small file vs the full size (fresh processes).
  {
    const std::uint64_t small = cfg.quick ? (std::uint64_t{16} << 20) : (std::uint64_t{256} << 20);
    std::vector<double> ours_small, ours_big, raw_big;
    for (int i = 0; i < std::max(1, std::min(cfg.reps, 3)); ++i) {
      ours_small.push_back(static_cast<double>(peak_of_child(cfg, "ours", small)));
      ours_big.push_back(static_cast<double>(peak_of_child(cfg, "ours", cfg.data_bytes)));
      raw_big.push_back(static_cast<double>(peak_of_child(cfg, "raw", cfg.data_bytes)));
    }
    const stats s = summarize(ours_small), b = summarize(ours_big), w = summarize(raw_big);
    row r;
    r.target = "5";
    r.what = "stream_writer peak RSS: " + fmt_bytes(static_cast<double>(cfg.data_bytes)) +
             " file vs " + fmt_bytes(static_cast<double>(small)) + " file";
    set_bytes(r, b.median, s.median);
    r.ratio = {b.median / s.median, b.min / s.max, b.max / s.min};
    r.kind = goal_kind::at_most;
    r.goal = 1.1;
    r.note = "whole process VmHWM (ru_maxrss) of a fresh child; page cache not counted";
    add_row(r);
    row q;
    q.target = "5i";
    q.what = "stream_writer peak RSS vs raw streaming loop, " +
             fmt_bytes(static_cast<double>(cfg.data_bytes)) + " file";
    set_bytes(q, b.median, w.median);
    q.ratio = {b.median / w.median, b.min / w.max, b.max / w.min};
    q.note = "the library's own memory: plan + one 4 MiB buffer";
    add_row(q);
  }
}

}  // namespace bench
