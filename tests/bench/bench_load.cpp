// safetensors-bench, group "load": the parallel loader (load(), docs/loading.md) against raw
// pread of the same bytes into the same buffers, 1 and 2 threads, page cache warm and cold; its
// chunk size; pread (source_reader) vs mapping (mapped_file); the fused BF16 -> F32 conversion;
// its peak memory. Figures: docs/performance.md#parallel-load.
//
// The file: dense_model(--load-size) (1.06 GiB, 93 BF16 tensors from 4 KiB to 125 MiB; --quick:
// 68 MiB, 93 tensors from 1 KiB to 7.8 MiB). Every variant writes into the same pre-faulted
// buffers, each tensor at its data offset (F32: at twice it). Variants run in rotation, one
// warm-up round first (which also checks every variant's bytes). Cold: the file is fsynced and
// evicted (posix_fadvise DONTNEED, or --drop-caches) before every sample, and the fraction of
// its pages still resident is measured (mincore) and reported.
//
// Group "load-alloc": every tensor of the same file into fresh memory, as a program that loads a
// model does. load_tensors() (from a source_reader and from a mapped_file) against a raw loop of
// 2 threads that preads 4 MiB pieces into one malloc'ed, never zero-filled buffer; and, for
// information, against the same raw loop into one 2 MiB-aligned MADV_HUGEPAGE arena and the
// caller-buffer patterns (a zero-filled std::vector or a new std::byte[] per tensor, then
// load()), and load_tensors() with load_options::huge_pages. Each sample opens the file,
// allocates and loads; freeing is not timed; in full runs each sample starts 3 s after the
// previous one ended (see run_alloc_targets). The page faults of each variant's last sample are
// in the note. Then the peak RSS of a fresh process that loads the file with load_tensors().
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <safetensors/safetensors.hpp>
#include <thread>

#include "bench_common.hpp"

namespace bench {
namespace {

namespace st = safetensors;

constexpr std::size_t default_chunk = std::size_t{4} << 20;  // load_options' default

struct load_file {
  std::string path;
  std::vector<gen_tensor> tensors;  // in offset order
  std::string prefix;
  std::uint64_t data_size = 0;
};

/// A piece of raw work: n bytes at file offset `from` to destination offset `to`.
struct piece {
  std::uint64_t from = 0, to = 0;
  std::size_t n = 0;
};

/// Every tensor, whole (chunk 0) or cut into pieces of at most `chunk` bytes.
std::vector<piece> pieces_of(const load_file& f, std::uint64_t chunk) {
  std::vector<piece> out;
  for (const gen_tensor& t : f.tensors) {
    const std::uint64_t n = t.end - t.begin;
    const std::uint64_t step = chunk == 0 ? std::max<std::uint64_t>(n, 1) : chunk;
    for (std::uint64_t at = 0; at < n; at += step) {
      out.push_back({f.prefix.size() + t.begin + at, t.begin + at,
                     static_cast<std::size_t>(std::min(step, n - at))});
    }
  }
  return out;
}

/// Raw POSIX: open, `threads` threads taking pieces from a shared counter, pread each into dst.
double raw_dynamic(const load_file& f, const std::vector<piece>& ps, std::byte* dst,
                   unsigned threads) {
  const double t0 = now_s();
  const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + f.path);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < ps.size();)
      pread_all(fd, dst + ps[i].to, ps[i].from, ps[i].n);
  };
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  ::close(fd);
  return now_s() - t0;
}

/// Raw POSIX, static split: 2 threads, each the whole tensors of one half of the data.
double raw_static(const load_file& f, std::byte* dst) {
  const double t0 = now_s();
  const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + f.path);
  auto work = [&](unsigned half) {
    for (const gen_tensor& t : f.tensors) {
      if ((t.begin >= f.data_size / 2) != (half == 1)) continue;
      pread_all(fd, dst + t.begin, f.prefix.size() + t.begin,
                static_cast<std::size_t>(t.end - t.begin));
    }
  };
  std::thread other(work, 1u);
  work(0);
  other.join();
  ::close(fd);
  return now_s() - t0;
}

/// A request per tensor into `dst` at its data offset (at twice it for F32).
std::vector<st::load_request> requests_of(const load_file& f, std::byte* dst, bool f32) {
  std::vector<st::load_request> out;
  const std::uint64_t k = f32 ? 2 : 1;
  for (const gen_tensor& t : f.tensors) {
    st::load_request r;
    r.name = t.name;
    r.dst = st::span<std::byte>(dst + k * t.begin, static_cast<std::size_t>(k * (t.end - t.begin)));
    if (f32) r.to = st::dtype::F32;
    out.push_back(std::move(r));
  }
  return out;
}

st::load_options options_of(unsigned threads, std::size_t chunk) {
  st::load_options o;
  o.threads = threads;
  o.chunk_bytes = chunk;
  return o;
}

/// The library: open a source_reader, load() every request.
double lib_reader(const load_file& f, const std::vector<st::load_request>& rq, unsigned threads,
                  std::size_t chunk) {
  const double t0 = now_s();
  auto r = st::source_reader::open(f.path);
  if (!r) die(r.error().to_string());
  auto rep = st::load(*r, st::span<const st::load_request>(rq.data(), rq.size()),
                      options_of(threads, chunk));
  if (!rep) die(rep.error().to_string());
  return now_s() - t0;
}

/// The library: open a mapped_file, load() every request.
double lib_mapped(const load_file& f, const std::vector<st::load_request>& rq, unsigned threads,
                  std::size_t chunk) {
  const double t0 = now_s();
  auto m = st::mapped_file::open(f.path);
  if (!m) die(m.error().to_string());
  auto rep = st::load(*m, st::span<const st::load_request>(rq.data(), rq.size()),
                      options_of(threads, chunk));
  if (!rep) die(rep.error().to_string());
  return now_s() - t0;
}

std::string chunk_name(std::size_t c) {
  return c >= (std::size_t{1} << 20) ? std::to_string(c >> 20) + " MiB"
                                     : std::to_string(c >> 10) + " KiB";
}

/// One measured variant: its samples' function, and what its bytes are checked against.
struct variant {
  std::string name;
  std::function<double()> run;
  bool f32 = false;  // writes the F32 buffers
};

/// Reads /proc/self/status VmHWM etc. of a child that only loads (see child_load).
struct child_figures {
  double before = 0, hwm = 0, dest = 0, anon_growth = 0, file_after = 0;
};

child_figures run_child(const std::string& mode, const std::string& path) {
  int fds[2];
  if (::pipe(fds) != 0) die("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    const std::string m = "--child-load=" + mode;
    const std::string p = "--load-file=" + path;
    ::execl("/proc/self/exe", "safetensors-bench", m.c_str(), p.c_str(),
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
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the loading child failed: " + out);
  child_figures c;
  if (std::sscanf(out.c_str(), "%lf %lf %lf %lf %lf", &c.before, &c.hwm, &c.dest, &c.anon_growth,
                  &c.file_after) != 5)
    die("the loading child printed: " + out);
  return c;
}

/// The file of the load groups: dense_model(--load-size), written (or reused) in --dir.
load_file make_load_file(const config& cfg) {
  load_file f;
  f.tensors = dense_model(cfg.load_bytes);
  f.prefix = make_prefix(f.tensors, f.data_size);
  std::sort(f.tensors.begin(), f.tensors.end(),
            [](const gen_tensor& a, const gen_tensor& b) { return a.begin < b.begin; });
  f.path = cfg.dir + "/safetensors-bench-load-" +
           (cfg.keep ? std::string("keep") : std::to_string(::getpid())) + ".safetensors";
  std::uint64_t smallest = f.data_size, largest = 0;
  for (const gen_tensor& t : f.tensors) {
    smallest = std::min(smallest, t.bytes());
    largest = std::max(largest, t.bytes());
  }
  std::fprintf(human(), "load file: %zu BF16 tensors of %s to %s, %s of data\n", f.tensors.size(),
               fmt_bytes(static_cast<double>(smallest)).c_str(),
               fmt_bytes(static_cast<double>(largest)).c_str(),
               fmt_bytes(static_cast<double>(f.data_size)).c_str());
  write_data_file(f.path, f.prefix, f.data_size);
  return f;
}

// ---- group "load-alloc": every tensor into fresh memory
// (docs/performance.md#load-into-fresh-memory)

/// Minor page faults of the whole process so far.
long minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

/// Times a sample from its construction to stop(), and counts the page faults in between.
struct stopwatch {
  long f0 = minor_faults();
  double t0 = now_s();
  double seconds = 0;
  long faults = 0;
  void stop() {
    seconds = now_s() - t0;
    faults = minor_faults() - f0;
  }
};

/// Fresh anonymous memory of `n` bytes, 2 MiB-aligned and advised MADV_HUGEPAGE: one arena for
/// every tensor, the alternative to a buffer per tensor.
struct thp_arena {
  void* base = MAP_FAILED;
  std::size_t reserved = 0;
  std::byte* p = nullptr;
  explicit thp_arena(std::uint64_t n) {
    constexpr std::size_t huge = std::size_t{2} << 20;
    reserved = static_cast<std::size_t>(n) + huge;
    base = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) die("cannot allocate the arena");
    const auto at = (reinterpret_cast<std::uintptr_t>(base) + huge - 1) / huge * huge;
    p = reinterpret_cast<std::byte*>(at);
#ifdef MADV_HUGEPAGE
    ::madvise(p, static_cast<std::size_t>(n) / huge * huge, MADV_HUGEPAGE);
#endif
  }
  ~thp_arena() { ::munmap(base, reserved); }
  thp_arena(const thp_arena&) = delete;
  thp_arena& operator=(const thp_arena&) = delete;
};

/// The sum of every loaded tensor's bytes.
std::uint64_t sum_loaded(const st::loaded_tensors& all) {
  std::uint64_t s = 0;
  for (const st::loaded_tensor& t : all) s += sum_bytes(t.data(), t.byte_size());
  return s;
}

/// The library's one-call load: open, load_tensors() with 2 threads (and huge pages when
/// `huge`). The memory is freed after the clock stops. `verify`: the bytes' sum against
/// `checksum`, and nothing copied from a mapping.
template <class File>
double lib_owned(const load_file& f, bool huge, std::uint64_t checksum, bool verify, long& faults) {
  stopwatch w;
  auto file = File::open(f.path);
  if (!file) die(file.error().to_string());
  st::load_options o = options_of(2, default_chunk);
  o.huge_pages = huge;
  auto all = st::load_tensors(*file, o);
  if (!all) die(all.error().to_string());
  w.stop();
  faults = w.faults;
  if (verify) {
    if (all->size() != f.tensors.size() || sum_loaded(*all) != checksum)
      die("load_tensors: wrong bytes");
    if (all->report().mapped_bytes != 0) die("load_tensors: copied from the mapping");
  }
  return w.seconds;
}

/// Raw POSIX into fresh memory: malloc (never zero-filled; or a THP arena), 2 threads taking
/// 4 MiB pieces from a shared counter, pread each. The memory is freed after the clock stops.
double raw_fresh(const load_file& f, const std::vector<piece>& ps, bool thp, std::uint64_t checksum,
                 bool verify, long& faults) {
  stopwatch w;
  std::unique_ptr<thp_arena> arena;
  std::byte* p = nullptr;
  if (thp) {
    arena.reset(new thp_arena(f.data_size));
    p = arena->p;
  } else {
    p = static_cast<std::byte*>(std::malloc(static_cast<std::size_t>(f.data_size)));
    if (p == nullptr) die("malloc failed");
  }
  (void)raw_dynamic(f, ps, p, 2);
  w.stop();
  faults = w.faults;
  if (verify && sum_bytes(p, static_cast<std::size_t>(f.data_size)) != checksum)
    die("raw: wrong bytes");
  if (!thp) std::free(p);
  return w.seconds;
}

/// The caller-buffer patterns: a buffer per tensor (std::vector, zero-filled; or new std::byte[],
/// default-initialised), then load() with 2 threads from a source_reader or a mapped_file.
template <class File>
double lib_caller_buffers(const load_file& f, bool zero_filled, std::uint64_t checksum, bool verify,
                          long& faults) {
  stopwatch w;
  auto file = File::open(f.path);
  if (!file) die(file.error().to_string());
  std::vector<std::vector<std::byte>> vectors;
  std::vector<std::unique_ptr<std::byte[]>> arrays;
  std::vector<st::load_request> rq;
  for (const gen_tensor& t : f.tensors) {
    const auto n = static_cast<std::size_t>(t.end - t.begin);
    st::load_request r;
    r.name = t.name;
    if (zero_filled) {
      vectors.emplace_back(n);
      r.dst = st::span<std::byte>(vectors.back().data(), n);
    } else {
      arrays.emplace_back(new std::byte[n]);
      r.dst = st::span<std::byte>(arrays.back().get(), n);
    }
    rq.push_back(std::move(r));
  }
  auto rep = st::load(*file, st::span<const st::load_request>(rq.data(), rq.size()),
                      options_of(2, default_chunk));
  if (!rep) die(rep.error().to_string());
  w.stop();
  faults = w.faults;
  if (verify) {
    std::uint64_t s = 0;
    for (const auto& r : rq) s += sum_bytes(r.dst.data(), r.dst.size());
    if (s != checksum) die("load into caller buffers: wrong bytes");
  }
  return w.seconds;
}

/// The child of the peak-memory figure of load_tensors(): opens `path` (a source_reader, or a
/// mapped_file when `mapped`), loads every tensor with 2 threads, prints its memory figures as
/// child_load does.
int child_owned(bool mapped, const std::string& path) {
  std::optional<st::source_reader> reader;
  std::optional<st::mapped_file> file;
  if (mapped) {
    auto m = st::mapped_file::open(path);
    if (!m) die(m.error().to_string());
    file.emplace(std::move(*m));
  } else {
    auto r = st::source_reader::open(path);
    if (!r) die(r.error().to_string());
    reader.emplace(std::move(*r));
  }
  const double before = static_cast<double>(proc_status_bytes("VmRSS"));
  const double anon_before = static_cast<double>(proc_status_bytes("RssAnon"));
  auto all = mapped ? st::load_tensors(*file, options_of(2, default_chunk))
                    : st::load_tensors(*reader, options_of(2, default_chunk));
  if (!all) die(all.error().to_string());
  double dest = 0;
  for (const st::loaded_tensor& t : *all) dest += static_cast<double>(t.byte_size());
  std::printf("%.0f %.0f %.0f %.0f %.0f\n", before, static_cast<double>(proc_status_bytes("VmHWM")),
              dest, static_cast<double>(proc_status_bytes("RssAnon")) - anon_before,
              static_cast<double>(proc_status_bytes("RssFile")));
  return 0;
}

}  // namespace

int child_load(const config&, const std::string& mode, const std::string& path) {
  if (mode == "owned" || mode == "owned-mapped") return child_owned(mode == "owned-mapped", path);
  const bool mapped = mode == "mapped";
  const bool f32 = mode == "reader-f32";
  if (!mapped && !f32 && mode != "reader") die("unknown --child-load mode " + mode);
  std::optional<st::source_reader> reader;
  std::optional<st::mapped_file> file;
  if (mapped) {
    auto m = st::mapped_file::open(path);
    if (!m) die(m.error().to_string());
    file.emplace(std::move(*m));
  } else {
    auto r = st::source_reader::open(path);
    if (!r) die(r.error().to_string());
    reader.emplace(std::move(*r));
  }
  const st::tensor_range all = mapped ? file->tensors() : reader->header().tensors();
  // Fresh, untouched destinations, one allocation per tensor, as a model loader makes them.
  std::vector<std::unique_ptr<std::byte[]>> buffers;
  std::vector<st::load_request> rq;
  double dest = 0;
  for (const st::tensor_info t : all) {
    st::load_request r;
    r.name = std::string(t.name());
    if (f32) r.to = st::dtype::F32;
    auto n = st::load_size(t, r);
    if (!n) die(n.error().to_string());
    buffers.emplace_back(new std::byte[static_cast<std::size_t>(*n)]);
    r.dst = st::span<std::byte>(buffers.back().get(), static_cast<std::size_t>(*n));
    dest += static_cast<double>(*n);
    rq.push_back(std::move(r));
  }
  const double before = static_cast<double>(proc_status_bytes("VmRSS"));
  const double anon_before = static_cast<double>(proc_status_bytes("RssAnon"));
  const st::span<const st::load_request> requests(rq.data(), rq.size());
  auto rep = mapped ? st::load(*file, requests, options_of(2, default_chunk))
                    : st::load(*reader, requests, options_of(2, default_chunk));
  if (!rep) die(rep.error().to_string());
  std::printf("%.0f %.0f %.0f %.0f %.0f\n", before, static_cast<double>(proc_status_bytes("VmHWM")),
              dest, static_cast<double>(proc_status_bytes("RssAnon")) - anon_before,
              static_cast<double>(proc_status_bytes("RssFile")));
  return 0;
}

void run_load_targets(const config& cfg) {
  const load_file f = make_load_file(cfg);
  const double bytes = static_cast<double>(f.data_size);

  const arena plain(f.data_size), wide(2 * f.data_size);
  const auto rq_plain = requests_of(f, plain.p, false);
  const auto rq_f32 = requests_of(f, wide.p, true);
  const auto whole = pieces_of(f, 0), chunked = pieces_of(f, default_chunk);

  // The reference bytes: one raw read and their sum. The fused variants are checked against
  // decode_to_float of them, piece by piece (the plain buffers hold them again whenever a fused
  // variant is checked: every plain variant's check reloads them).
  (void)raw_dynamic(f, whole, plain.p, 1);
  const std::uint64_t checksum = sum_bytes(plain.p, plain.size);
  const auto check = [&](const variant& v) {
    if (!v.f32) {
      std::memset(plain.p, 0, plain.size);
      (void)v.run();
      if (sum_bytes(plain.p, plain.size) != checksum) die(v.name + ": wrong bytes");
      return;
    }
    std::memset(wide.p, 0, wide.size);
    (void)v.run();
    std::vector<float> expect(std::size_t{1} << 19);
    for (std::size_t at = 0; at < plain.size;) {
      const std::size_t n = std::min(plain.size - at, expect.size() * 2);
      auto r = st::decode_to_float(st::dtype::BF16, st::span<const std::byte>(plain.p + at, n),
                                   st::span<float>(expect.data(), n / 2));
      if (!r) die(r.error().to_string());
      if (std::memcmp(wide.p + 2 * at, expect.data(), 2 * n) != 0) die(v.name + ": wrong floats");
      at += n;
    }
  };

  // Chunk sizes tried against the default (4 MiB); quick mode: one, warm only.
  const std::vector<std::size_t> sweep =
      cfg.quick ? std::vector<std::size_t>{std::size_t{256} << 10}
                : std::vector<std::size_t>{std::size_t{256} << 10, std::size_t{1} << 20,
                                           std::size_t{16} << 20};

  double worst_resident = 0;
  for (const bool cold : {false, true}) {
    const auto prepare = [&, cold] {
      if (cold) worst_resident = std::max(worst_resident, evict(f.path, cfg));
    };
    const auto timed = [&prepare](std::function<double()> fn) {
      return [prepare, fn] {
        prepare();
        return fn();
      };
    };
    std::vector<variant> vs;
    const auto add = [&](std::string name, std::function<double()> fn, bool f32 = false) {
      vs.push_back({std::move(name), timed(std::move(fn)), f32});
      return vs.size() - 1;
    };
    const std::size_t raw1 = add("raw1", [&] { return raw_dynamic(f, whole, plain.p, 1); });
    const std::size_t raw2 = add("raw2", [&] { return raw_dynamic(f, chunked, plain.p, 2); });
    const std::size_t raw2s = add("raw2s", [&] { return raw_static(f, plain.p); });
    const std::size_t r1 = add("r1", [&] { return lib_reader(f, rq_plain, 1, default_chunk); });
    const std::size_t r2 = add("r2", [&] { return lib_reader(f, rq_plain, 2, default_chunk); });
    const std::size_t m1 = add("m1", [&] { return lib_mapped(f, rq_plain, 1, default_chunk); });
    const std::size_t m2 = add("m2", [&] { return lib_mapped(f, rq_plain, 2, default_chunk); });
    const std::size_t fr2 = add(
        "fr2", [&] { return lib_reader(f, rq_f32, 2, default_chunk); }, true);
    const std::size_t fm2 = add(
        "fm2", [&] { return lib_mapped(f, rq_f32, 2, default_chunk); }, true);
    std::vector<std::pair<std::size_t, std::size_t>> sweep_r, sweep_m;  // (chunk, variant)
    for (const std::size_t c : sweep) {
      if (cold && cfg.quick) break;
      sweep_r.emplace_back(
          c, add("r2@" + chunk_name(c), [&, c] { return lib_reader(f, rq_plain, 2, c); }));
      sweep_m.emplace_back(
          c, add("m2@" + chunk_name(c), [&, c] { return lib_mapped(f, rq_plain, 2, c); }));
    }
    // The warm-up round: each variant once, its bytes checked.
    for (const variant& v : vs) {
      prepare();
      check(v);
    }
    std::vector<std::function<double()>> fns;
    for (const variant& v : vs) fns.push_back(v.run);
    const auto t = run_rotated(cfg.reps, fns, false);

    const std::string state = cold ? " (cold)" : " (warm)";
    const auto speed_row = [&](const std::string& target, const std::string& what, std::size_t ours,
                               std::size_t base, goal_kind kind, double goal,
                               const std::string& note) {
      row r;
      r.target = target;
      r.what = what + state;
      set_rate(r, bytes, summarize(t[ours]).median, summarize(t[base]).median);
      r.ratio = summarize(ratios(t[base], t[ours]));  // throughput ratio ours / base
      r.kind = kind;
      r.goal = goal;
      r.note = note;
      if (cold) {
        char b[96];
        std::snprintf(b, sizeof b, "%s<=%.1f%% of the file resident before each sample",
                      note.empty() ? "" : "; ", worst_resident * 100);
        r.note += b;
      }
      add_row(r);
    };
    const goal_kind none = goal_kind::none, at_least = goal_kind::at_least;
    if (!cold) {
      speed_row("L1", "load(source_reader) 2 threads vs raw pread 2 threads, 4 MiB pieces", r2,
                raw2, at_least, 0.95, "both: the same pieces from a shared counter");
      speed_row("L1i", "load(source_reader) 2 threads vs raw pread, static halves", r2, raw2s, none,
                0, "");
      speed_row("L1i", "load(source_reader) 1 thread vs raw pread 1 thread, whole tensors", r1,
                raw1, none, 0, "");
      speed_row("L2", "load(source_reader), 2 threads vs 1 thread", r2, r1, at_least, 1.7,
                "speed-up; 'baseline' column = 1 thread");
      speed_row("L2i", "raw pread, 2 threads vs 1 thread", raw2, raw1, none, 0,
                "what the machine allows");
      speed_row("L2i", "load(mapped_file), 2 threads vs 1 thread", m2, m1, none, 0, "");
      speed_row("L4", "fused BF16->F32 load(source_reader) vs plain load, 2 threads", fr2, r2,
                at_least, 0.9, "source bytes per second; writes twice the bytes");
      speed_row("L4i", "fused BF16->F32 load(mapped_file) vs plain load(mapped_file), 2 threads",
                fm2, m2, none, 0, "");
    } else {
      speed_row("L3", "load(source_reader) 2 threads vs raw pread 2 threads, 4 MiB pieces", r2,
                raw2, at_least, 0.95, "");
      speed_row("L3i", "load(source_reader) 2 threads vs raw pread, static halves", r2, raw2s, none,
                0, "");
      speed_row("L3i", "load(source_reader), 2 threads vs 1 thread", r2, r1, none, 0, "");
      speed_row("L3i", "raw pread, 2 threads vs 1 thread", raw2, raw1, none, 0, "");
      speed_row("L3i", "fused BF16->F32 load(source_reader) vs plain load, 2 threads", fr2, r2,
                none, 0, "");
    }
    speed_row("Lmap", "load(mapped_file) vs load(source_reader), 2 threads", m2, r2, none, 0,
              "mapping vs pread");
    speed_row("Lmap", "load(mapped_file) vs load(source_reader), 1 thread", m1, r1, none, 0,
              "mapping vs pread");
    for (const auto& [c, v] : sweep_r) {
      speed_row("Lchk", "load(source_reader) 2 threads, chunk " + chunk_name(c) + " vs 4 MiB", v,
                r2, none, 0, "");
    }
    for (const auto& [c, v] : sweep_m) {
      speed_row("Lchk", "load(mapped_file) 2 threads, chunk " + chunk_name(c) + " vs 4 MiB", v, m2,
                none, 0, "");
    }
  }

  // Peak memory: a fresh process that opens the file, allocates untouched destinations and
  // loads with 2 threads; its high-water mark against the destinations.
  {
    const int reps = cfg.quick ? 1 : 3;
    for (const char* mode : {"reader", "reader-f32", "mapped"}) {
      std::vector<double> growth, over, anon;
      child_figures c;
      for (int i = 0; i < reps; ++i) {
        c = run_child(mode, f.path);
        growth.push_back((c.hwm - c.before) / c.dest);
        over.push_back(c.hwm - c.before - c.dest);
        anon.push_back(c.anon_growth - c.dest);
      }
      row r;
      r.target = "Lmem";
      r.what = std::string("load() peak RSS growth vs destinations, 2 threads, ") +
               (std::string(mode) == "mapped"       ? "mapped_file"
                : std::string(mode) == "reader-f32" ? "source_reader, BF16->F32"
                                                    : "source_reader");
      set_bytes(r, c.hwm - c.before, c.dest);
      r.ratio = summarize(growth);
      const stats o = summarize(over), a = summarize(anon);
      char b[200];
      std::snprintf(b, sizeof b,
                    "peak - before - destinations: %s [%s..%s]; anonymous memory beyond the "
                    "destinations: %s",
                    fmt_bytes(o.median).c_str(), fmt_bytes(o.min).c_str(), fmt_bytes(o.max).c_str(),
                    fmt_bytes(a.median).c_str());
      r.note = b;
      if (std::string(mode) == "mapped") r.note += "; the mapped file's pages count in RSS";
      add_row(r);
    }
  }
  if (!cfg.keep) ::unlink(f.path.c_str());
}

void run_alloc_targets(const config& cfg) {
  const load_file f = make_load_file(cfg);
  const double bytes = static_cast<double>(f.data_size);
  const auto chunked = pieces_of(f, default_chunk);
  std::uint64_t checksum = 0;
  {
    const arena plain(f.data_size);
    (void)raw_dynamic(f, pieces_of(f, 0), plain.p, 1);
    checksum = sum_bytes(plain.p, plain.size);
  }
  // Full runs wait before each sample, so that every variant starts from memory as settled as
  // a program that starts and loads a model finds it: a VM's free page reporting hands freed
  // memory back to the hypervisor 2 s after it was freed (docs/loading.md#huge-pages).
  const double settle = cfg.quick ? 0.0 : 3.0;
  for (const bool cold : {false, true}) {
    std::vector<std::string> names;
    std::vector<std::function<double(bool)>> runs;
    std::vector<long> faults;
    const auto add = [&](std::string name, std::function<double(bool, long&)> fn) {
      const std::size_t k = names.size();
      names.push_back(std::move(name));
      faults.push_back(0);
      runs.push_back([&faults, k, fn, &f, &cfg, cold, settle](bool verify) {
        if (settle > 0) std::this_thread::sleep_for(std::chrono::duration<double>(settle));
        if (cold) (void)evict(f.path, cfg);
        return fn(verify, faults[k]);
      });
      return k;
    };
    const std::size_t raw =
        add("raw", [&](bool v, long& n) { return raw_fresh(f, chunked, false, checksum, v, n); });
    const std::size_t own_r = add("own_r", [&](bool v, long& n) {
      return lib_owned<st::source_reader>(f, false, checksum, v, n);
    });
    const std::size_t own_m = add("own_m", [&](bool v, long& n) {
      return lib_owned<st::mapped_file>(f, false, checksum, v, n);
    });
    const std::size_t new_m = add("new_m", [&](bool v, long& n) {
      return lib_caller_buffers<st::mapped_file>(f, false, checksum, v, n);
    });
    std::size_t thp = 0, own_h = 0, vec_r = 0, new_r = 0;
    if (!cold) {
      own_h = add("own_h", [&](bool v, long& n) {
        return lib_owned<st::source_reader>(f, true, checksum, v, n);
      });
      thp =
          add("thp", [&](bool v, long& n) { return raw_fresh(f, chunked, true, checksum, v, n); });
      vec_r = add("vec_r", [&](bool v, long& n) {
        return lib_caller_buffers<st::source_reader>(f, true, checksum, v, n);
      });
      new_r = add("new_r", [&](bool v, long& n) {
        return lib_caller_buffers<st::source_reader>(f, false, checksum, v, n);
      });
    }
    for (const auto& run : runs) (void)run(true);  // the warm-up round checks every variant
    std::vector<std::function<double()>> fns;
    for (const auto& run : runs) fns.push_back([run] { return run(false); });
    const auto t = run_rotated(cfg.reps, fns, false);

    const std::string state = cold ? " (cold)" : " (warm)";
    const auto speed_row = [&](const std::string& target, const std::string& what, std::size_t ours,
                               std::size_t base, goal_kind kind, double goal,
                               const std::string& note) {
      row r;
      r.target = target;
      r.what = what + state;
      set_rate(r, bytes, summarize(t[ours]).median, summarize(t[base]).median);
      r.ratio = summarize(ratios(t[base], t[ours]));  // throughput ratio ours / base
      r.kind = kind;
      r.goal = goal;
      char b[160];
      std::snprintf(b, sizeof b, "%spage faults %ld vs %ld", note.empty() ? "" : "; ", faults[ours],
                    faults[base]);
      r.note = note + b;
      add_row(r);
    };
    // At most 1.1 times the raw loop's time: at least 1 / 1.1 of its throughput.
    const goal_kind none = goal_kind::none, at_least = goal_kind::at_least;
    const double goal = 1 / 1.1;
    if (!cold) {
      speed_row("Lown", "load_tensors(source_reader) vs raw pread into fresh malloc, 2 threads",
                own_r, raw, at_least, goal,
                "every tensor; both open, allocate, read; no zero-fill");
      speed_row("Lown", "load_tensors(mapped_file) vs raw pread into fresh malloc, 2 threads",
                own_m, raw, at_least, goal, "copies by pread from the reopened file");
      speed_row("Lowni", "load_tensors(source_reader), huge_pages, vs raw pread into fresh malloc",
                own_h, raw, none, 0, "MADV_HUGEPAGE vs 4 KiB pages");
      speed_row("Lowni", "load_tensors(source_reader), huge_pages, vs raw pread into one THP arena",
                own_h, thp, none, 0, "a buffer per tensor vs one arena, both MADV_HUGEPAGE");
      speed_row("Lowni", "raw pread: one THP arena vs fresh malloc, 2 threads", thp, raw, none, 0,
                "huge pages vs 4 KiB pages");
      speed_row("Lowni", "load_tensors(source_reader) vs std::vector per tensor + load()", own_r,
                vec_r, none, 0, "zero-filled buffers");
      speed_row("Lowni", "load_tensors(source_reader) vs new std::byte[] per tensor + load()",
                own_r, new_r, none, 0, "default-initialised buffers");
      speed_row("Lowni", "load_tensors(mapped_file) vs new std::byte[] + load(mapped_file)", own_m,
                new_m, none, 0, "pread vs copying from the mapping");
    } else {
      speed_row("Lownc", "load_tensors(source_reader) vs raw pread into fresh malloc, 2 threads",
                own_r, raw, none, 0, "");
      speed_row("Lownc", "load_tensors(mapped_file) vs raw pread into fresh malloc, 2 threads",
                own_m, raw, none, 0, "");
      speed_row("Lownc", "load_tensors(mapped_file) vs new std::byte[] + load(mapped_file)", own_m,
                new_m, none, 0, "pread vs copying from the mapping");
    }
  }

  // Peak memory: a fresh process opens the file and loads every tensor with load_tensors();
  // its high-water mark against the tensors' bytes plus 64 MiB.
  const int reps = cfg.quick ? 1 : 3;
  for (const char* mode : {"owned", "owned-mapped"}) {
    std::vector<double> over, ratio;
    child_figures c;
    for (int i = 0; i < reps; ++i) {
      c = run_child(mode, f.path);
      over.push_back(c.hwm - c.before - c.dest);
      ratio.push_back((c.hwm - c.before) / (c.dest + 64.0 * 1024 * 1024));
    }
    row r;
    r.target = "Lmem";
    r.what = std::string("load_tensors(") +
             (std::string(mode) == "owned" ? "source_reader" : "mapped_file") +
             ") peak RSS growth vs tensor bytes + 64 MiB, 2 threads";
    set_bytes(r, c.hwm - c.before, c.dest + 64.0 * 1024 * 1024);
    r.ratio = summarize(ratio);
    r.kind = goal_kind::at_most;
    r.goal = 1.0;
    const stats o = summarize(over);
    char b[160];
    std::snprintf(b, sizeof b, "peak - before - tensor bytes: %s [%s..%s]",
                  fmt_bytes(o.median).c_str(), fmt_bytes(o.min).c_str(), fmt_bytes(o.max).c_str());
    r.note = b;
    add_row(r);
  }
  if (!cfg.keep) ::unlink(f.path.c_str());
}

}  // namespace bench
