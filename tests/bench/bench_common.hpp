// Shared pieces of safetensors-bench: timing harness, statistics, memory figures, input
// generation and the summary table. Not part of the library.
#ifndef SAFETENSORS_BENCH_COMMON_HPP
#define SAFETENSORS_BENCH_COMMON_HPP

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace bench {

/// Run-wide settings.
struct config {
  bool quick = false;            // small sizes, few repetitions, no targets enforced
  bool enforce = false;          // exit 1 when a target is missed (full mode only)
  bool keep = false;             // keep the generated data file
  bool drop_caches = false;      // cold cache through /proc/sys/vm/drop_caches instead of fadvise
  bool json = false;             // one JSON object per figure on stdout; the rest on stderr
  std::string dir;               // where the data files go
  std::uint64_t data_bytes = 0;  // size of the data file
  std::uint64_t load_bytes = 0;  // size of the file of the load group
  int reps = 0;                  // repetitions of the large (file) measurements
  bool reps_given = false;       // --reps=N: every group uses N
  int micro_reps = 0;            // repetitions of the small (header) measurements
  double micro_sample_s = 0;     // target duration of one micro sample
  std::string only;              // run only the groups whose name contains this
  std::string cli;               // safetensors-cli, for the "cli" group (empty: skipped)
};

/// Where the human-readable output goes: stdout, or stderr with --json (stdout is then only the
/// JSON lines).
std::FILE* human();
void set_json_output(bool json);

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "safetensors-bench: %s\n", what.c_str());
  std::exit(2);
}

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// CPU time of the calling thread (user + system): what the short, single-threaded header
/// figures use, so that time spent descheduled on a shared machine does not count.
inline double cpu_now_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Median, min and max of samples.
struct stats {
  double median = 0, min = 0, max = 0;
};
inline stats summarize(std::vector<double> v) {
  stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

/// Samples of a baseline and of ours, taken interleaved (order alternating per repetition, one
/// discarded warm-up pair first) so that the load of a shared machine hits both alike.
struct paired {
  std::vector<double> base, ours;
  /// ours / base per repetition (time ratio).
  std::vector<double> time_ratios() const {
    std::vector<double> r;
    for (std::size_t i = 0; i < base.size(); ++i) r.push_back(ours[i] / base[i]);
    return r;
  }
  /// base / ours per repetition (throughput ratio).
  std::vector<double> speed_ratios() const {
    std::vector<double> r;
    for (std::size_t i = 0; i < base.size(); ++i) r.push_back(base[i] / ours[i]);
    return r;
  }
};

/// Each function returns the seconds of one sample.
inline paired run_paired(int reps, const std::function<double()>& base,
                         const std::function<double()>& ours, bool warmup = true) {
  paired p;
  if (warmup) {
    (void)base();
    (void)ours();
  }
  for (int r = 0; r < reps; ++r) {
    if (r % 2 == 0) {
      p.base.push_back(base());
      p.ours.push_back(ours());
    } else {
      const double o = ours();
      p.base.push_back(base());
      p.ours.push_back(o);
    }
  }
  return p;
}

/// Samples of several variants, each function returning the seconds of one sample: every
/// repetition runs all of them, the order rotated by one each time (so that none always follows
/// the same one), after one discarded warm-up round.
inline std::vector<std::vector<double>> run_rotated(int reps,
                                                    const std::vector<std::function<double()>>& fs,
                                                    bool warmup = true) {
  std::vector<std::vector<double>> t(fs.size());
  if (warmup) {
    for (const auto& f : fs) (void)f();
  }
  for (int r = 0; r < reps; ++r) {
    for (std::size_t i = 0; i < fs.size(); ++i) {
      const std::size_t k = (i + static_cast<std::size_t>(r)) % fs.size();
      t[k].push_back(fs[k]());
    }
  }
  return t;
}

/// Per-repetition ratios a[i] / b[i].
inline std::vector<double> ratios(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) r.push_back(a[i] / b[i]);
  return r;
}

/// A sample of a short, single-threaded operation: the mean thread CPU time of k calls, k chosen
/// so a sample lasts about `sample_s` (calibrated once, at the first call).
class micro {
 public:
  micro(std::function<void()> op, double sample_s) : op_(std::move(op)) {
    const double t0 = cpu_now_s();
    op_();
    const double one = std::max(cpu_now_s() - t0, 1e-7);
    k_ = std::max(1, static_cast<int>(sample_s / one));
  }
  double operator()() const {
    const double t0 = cpu_now_s();
    for (int i = 0; i < k_; ++i) op_();
    return (cpu_now_s() - t0) / k_;
  }
  int iterations() const { return k_; }

 private:
  std::function<void()> op_;
  int k_ = 1;
};

/// Memory figures of this process.
std::uint64_t current_rss_bytes();  // resident now (/proc/self/statm)
std::uint64_t peak_rss_bytes();     // high-water mark (getrusage)
/// A "<key>: <n> kB" field of /proc/self/status (VmHWM, VmRSS, RssAnon, RssFile) in bytes.
std::uint64_t proc_status_bytes(const char* key);

// ---- the summary ---------------------------------------------------------------------------

enum class goal_kind { none, at_most, at_least };

/// One line of the summary.
struct row {
  std::string target;  // "1", "2", "6", "hint", ...
  std::string what;
  std::string ours;                       // median figure of ours, formatted
  std::string base;                       // median figure of the baseline, formatted
  double ours_value = 0, base_value = 0;  // the same two in `unit` (for --json)
  std::string unit;                       // "s", "GB/s" or "bytes"
  stats ratio;                            // per-repetition ratios
  bool has_ratio = true;
  goal_kind kind = goal_kind::none;
  double goal = 0;
  std::string note;
};
/// Sets ours/base (formatted and as values): throughput of `bytes` in the seconds given.
void set_rate(row& r, double bytes, double ours_s, double base_s);
/// ... durations in seconds.
void set_time(row& r, double ours_s, double base_s);
/// ... sizes in bytes.
void set_bytes(row& r, double ours_b, double base_b);
/// Prints the row as it comes (a line of text, or a JSON object with --json) and keeps it for
/// the summary. JSON: {"name", "ours", "baseline", "ratio", "unit", "goal"}; "ratio" is the
/// median of the per-repetition ratios ours / baseline in `unit`, "goal" the bound it must meet
/// (at most for "s" and "bytes", at least for "GB/s") or null.
void add_row(row r);
void print_summary(const config& cfg);
/// Number of enforced targets missed.
int missed_targets();

// ---- formatting ----------------------------------------------------------------------------
std::string fmt_time(double s);
std::string fmt_bytes(double b);
std::string fmt_rate(double bytes, double s);

// ---- generated inputs ----------------------------------------------------------------------

struct gen_tensor {
  std::string name;
  int dtype_rank = 0;  // reference rank (docs/format.md#dtypes): BF16 14, F32 17
  std::string dtype;
  std::uint64_t elem_bytes = 2;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;
  std::uint64_t bytes() const {
    std::uint64_t n = elem_bytes;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// A mixture-of-experts model's tensors (BF16, F32 router biases), `count` of them.
std::vector<gen_tensor> moe_model(std::size_t count);
/// A dense decoder (TinyLlama-like: ~2.2 GB, 201 BF16 tensors at 2 GiB) of about `bytes`.
std::vector<gen_tensor> dense_model(std::uint64_t bytes);
/// Assigns offsets as the reference writer does (dtype rank descending, then name) and returns
/// the file prefix: 8-byte length, compact JSON in offset order (the reference writer's), space
/// padding to 8. `data_size` receives the end of the last tensor.
std::string make_prefix(std::vector<gen_tensor>& tensors, std::uint64_t& data_size);
/// Writes (or reuses, if identical) a file of `prefix` followed by pseudo-random tensor bytes.
void write_data_file(const std::string& path, const std::string& prefix, std::uint64_t data_size);

/// A file image in memory: the prefix in real pages, the data as reserved, never touched
/// address space (PROT_NONE), so a parse of "the whole file" costs only its header.
class virtual_file {
 public:
  virtual_file(const std::string& prefix, std::uint64_t data_size);
  ~virtual_file();
  virtual_file(const virtual_file&) = delete;
  virtual_file& operator=(const virtual_file&) = delete;
  const void* data() const { return base_; }
  std::size_t size() const { return size_; }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

/// Caller buffers: one pre-faulted anonymous mapping (both sides of a comparison write into
/// resident memory).
struct arena {
  std::byte* p = nullptr;
  std::size_t size = 0;
  explicit arena(std::uint64_t n) : size(static_cast<std::size_t>(n)) {
    void* m = ::mmap(nullptr, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (m == MAP_FAILED) die("cannot allocate the buffers");
    p = static_cast<std::byte*>(m);
    std::memset(p, 1, size);  // fault every page in now
  }
  ~arena() { ::munmap(p, size ? size : 1); }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
};

/// pread of exactly n bytes (dies on an error or a short file).
void pread_all(int fd, std::byte* dst, std::uint64_t off, std::size_t n);

/// Sum of every byte (the same loop for ours and the baselines).
std::uint64_t sum_bytes(const std::byte* p, std::size_t n);

/// Drops `path` from the page cache (fadvise DONTNEED, or drop_caches when configured) and
/// returns the fraction of its pages still resident afterwards.
double evict(const std::string& path, const config& cfg);
/// The fraction of `path`'s pages in the page cache (mincore).
double resident_fraction(const std::string& path);

/// Context handed to the groups of benchmarks.
struct context {
  config cfg;
  std::string data_path;            // the ~2 GiB file
  std::vector<gen_tensor> tensors;  // its tensors
  std::string prefix;
  std::uint64_t data_size = 0;
  std::uint64_t checksum = 0;  // sum of all its tensor bytes (set by the first full pass)
};

void run_write_targets(context& ctx);  // bench_write.cpp
/// The child process of the peak-RSS measurement: streams a file of cfg.data_bytes with
/// stream_writer ("ours") or a raw write() loop ("raw") and prints its peak RSS in bytes.
int child_stream(const config& cfg, const std::string& mode);

/// The "load" group (bench_load.cpp): load() against raw parallel pread, warm and cold, chunk
/// sizes, pread vs mapping, fused BF16 -> F32, peak memory.
void run_load_targets(const config& cfg);
/// The child process of its peak-memory measurement: loads `path` with 2 threads (`mode`:
/// reader, reader-f32 or mapped into fresh buffers; owned or owned-mapped with load_tensors())
/// and prints its memory figures.
int child_load(const config& cfg, const std::string& mode, const std::string& path);
/// The "load-alloc" group (bench_load.cpp): every tensor into fresh memory, load_tensors()
/// against a raw pread loop into one malloc'ed buffer and the caller-buffer patterns; peak RSS.
void run_alloc_targets(const config& cfg);

/// The "cli" group (bench_cli.cpp): safetensors-cli convert against rewrite, as child processes.
void run_cli_targets(const config& cfg);

}  // namespace bench

#endif
