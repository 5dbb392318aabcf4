// safetensors-bench: the performance targets of issue 6, each measured as a ratio to a raw
// baseline taken in the same run (interleaved repetitions; median [min..max]).
//
//   safetensors-bench [--quick] [--dir=DIR] [--size=BYTES] [--load-size=BYTES] [--reps=N] [--keep]
//                     [--enforce] [--drop-caches] [--only=GROUP] [--json] [--cli=PATH]
//                     [--gbench [google benchmark flags]]
//
// Groups: parse (target 1), open (2), sum (3), read (4), write (5), threads (6), hints, load (the
// parallel loader, bench_load.cpp), load-alloc (load_tensors() into fresh memory, bench_load.cpp),
// cli (safetensors-cli convert vs rewrite, bench_cli.cpp; the CLI built in the same tree, or
// --cli=PATH). --json prints one JSON object per figure on stdout (the text goes to stderr).
// --gbench runs the header-parse microbenchmarks through Google Benchmark's own runner instead.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <safetensors/safetensors.hpp>
#include <set>
#include <thread>

#include "bench_common.hpp"

namespace bench {
namespace {

namespace st = safetensors;

/// A nlohmann SAX handler that accepts everything and stores nothing: the floor of any
/// nlohmann-based parser.
struct null_sax {
  using json = nlohmann::json;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(json::string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
};

bool selected(const config& cfg, const char* group) {
  return cfg.only.empty() || std::string(group).find(cfg.only) != std::string::npos;
}

// ---- target 1: header parse vs nlohmann::json::parse --------------------------------------

void header_parse(const config& cfg, std::size_t count, std::size_t min_json, const char* label,
                  bool is_target) {
  std::vector<gen_tensor> ts;
  std::string prefix;
  std::uint64_t data_size = 0;
  for (std::size_t n = count;; n += 250) {  // grow until the JSON reaches min_json bytes
    ts = moe_model(n);
    prefix = make_prefix(ts, data_size);
    if (prefix.size() - 8 >= min_json) break;
  }
  const virtual_file file(prefix, data_size);
  const char* json = prefix.data() + 8;
  const std::size_t json_size = prefix.size() - 8;
  std::fprintf(human(), "%s: %zu tensors, %zu-byte header, %s of (virtual) data\n", label,
               ts.size(), json_size, fmt_bytes(static_cast<double>(data_size)).c_str());
  {  // sanity: ours accepts it and sees every tensor
    auto r = st::parse({static_cast<const std::byte*>(file.data()), file.size()});
    if (!r) die(r.error().to_string());
    if (r->size() != ts.size()) die("tensor count mismatch");
  }
  const micro ours(
      [&] {
        auto r = st::parse({static_cast<const std::byte*>(file.data()), file.size()});
        benchmark::DoNotOptimize(r);
      },
      cfg.micro_sample_s);
  const micro dom(
      [&] {
        auto j = nlohmann::json::parse(json, json + json_size);
        benchmark::DoNotOptimize(j);
      },
      cfg.micro_sample_s);
  const micro sax(
      [&] {
        null_sax h;
        bool ok = nlohmann::json::sax_parse(json, json + json_size, &h);
        benchmark::DoNotOptimize(ok);
      },
      cfg.micro_sample_s);
  const paired p = run_paired(cfg.micro_reps, std::cref(dom), std::cref(ours));
  const paired q = run_paired(cfg.micro_reps, std::cref(sax), std::cref(ours));
  row r;
  r.target = is_target ? "1" : "1+";
  r.what = std::string("parse+validate ") + label + " vs nlohmann::json::parse";
  set_time(r, summarize(p.ours).median, summarize(p.base).median);
  r.ratio = summarize(p.time_ratios());
  r.kind = is_target ? goal_kind::at_most : goal_kind::none;
  r.goal = 0.6;
  add_row(r);
  row s;
  s.target = "1i";
  s.what = std::string("parse+validate ") + label + " vs nlohmann SAX, null handler";
  set_time(s, summarize(q.ours).median, summarize(q.base).median);
  s.ratio = summarize(q.time_ratios());
  s.note = "the floor of a parser built on nlohmann SAX";
  add_row(s);
}

// ---- target 2: open a mapped file vs the in-memory parse of its header ---------------------

void mapped_open_target(const context& ctx) {
  const config& cfg = ctx.cfg;
  const virtual_file header_only(ctx.prefix, ctx.data_size);
  const micro base(
      [&] {
        auto r = st::parse({static_cast<const std::byte*>(header_only.data()), header_only.size()});
        benchmark::DoNotOptimize(r);
      },
      cfg.micro_sample_s);
  const micro open_close(
      [&] {
        auto m = st::mapped_file::open(ctx.data_path);
        if (!m) die(m.error().to_string());
        benchmark::DoNotOptimize(m);
      },
      cfg.micro_sample_s);
  // Open only: the clock stops before the mapping is closed (munmap is not part of opening).
  const int k = open_close.iterations();
  const auto open_only = [&] {
    double total = 0;
    for (int i = 0; i < k; ++i) {
      const double t0 = cpu_now_s();
      auto m = st::mapped_file::open(ctx.data_path);
      total += cpu_now_s() - t0;
      if (!m) die(m.error().to_string());
      benchmark::DoNotOptimize(m);
    }
    return total / k;
  };
  const std::string file_size = fmt_bytes(static_cast<double>(ctx.data_size + ctx.prefix.size()));
  const paired p = run_paired(cfg.micro_reps, std::cref(base), open_only);
  row r;
  r.target = "2";
  r.what = "mapped_file::open(" + file_size + " file) vs parse of its header in memory";
  set_time(r, summarize(p.ours).median, summarize(p.base).median);
  r.ratio = summarize(p.time_ratios());
  r.kind = goal_kind::at_most;
  r.goal = 1.2;
  r.note = "open, map, parse; the close (munmap) is not timed";
  add_row(r);
  const paired q = run_paired(cfg.micro_reps, std::cref(base), std::cref(open_close));
  row c;
  c.target = "2i";
  c.what = "mapped_file::open + close (" + file_size + " file) vs parse of its header";
  set_time(c, summarize(q.ours).median, summarize(q.base).median);
  c.ratio = summarize(q.time_ratios());
  c.note = "with the munmap and close";
  add_row(c);

  // Resident memory growth after opening (the header is the only page touched).
  for (const bool populate : {false, true}) {
    std::vector<double> growth;
    for (int i = 0; i < std::max(3, cfg.reps); ++i) {
      const std::uint64_t before = current_rss_bytes();
      st::map_options mo;
      mo.populate = populate;
      auto m = st::mapped_file::open(ctx.data_path, {}, mo);
      if (!m) die(m.error().to_string());
      const std::uint64_t after = current_rss_bytes();
      growth.push_back(static_cast<double>(after) - static_cast<double>(before));
    }
    const double limit = static_cast<double>(ctx.prefix.size() - 8) + 4.0 * 1024 * 1024;
    const stats g = summarize(growth);
    row m;
    m.target = populate ? "2i" : "2";
    m.what = populate ? "RSS growth after mapped_file::open(populate=true), vs header+4 MiB"
                      : "RSS growth after mapped_file::open, vs header size + 4 MiB";
    set_bytes(m, g.median, limit);
    m.ratio = {g.median / limit, g.min / limit, g.max / limit};
    if (!populate) {
      m.kind = goal_kind::at_most;
      m.goal = 1.0;
    } else {
      m.note = "populate pre-faults the whole file: for files you read entirely";
    }
    add_row(m);
  }
}

// ---- target 3: sum every byte through views vs raw mmap ------------------------------------

struct raw_map {
  int fd = -1;
  void* p = MAP_FAILED;
  std::size_t size = 0;
  explicit raw_map(const std::string& path) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    struct stat st {};
    ::fstat(fd, &st);
    size = static_cast<std::size_t>(st.st_size);
    p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);  // the library's flags
    if (p == MAP_FAILED) die("mmap " + path);
  }
  ~raw_map() {
    ::munmap(p, size);
    ::close(fd);
  }
  raw_map(const raw_map&) = delete;
  raw_map& operator=(const raw_map&) = delete;
};

std::uint64_t sum_raw(const context& ctx) {
  const raw_map m(ctx.data_path);
  const auto* bytes = static_cast<const std::byte*>(m.p);
  return sum_bytes(bytes + ctx.prefix.size(), static_cast<std::size_t>(ctx.data_size));
}

std::uint64_t sum_views(const context& ctx, const st::map_options& mo = {}) {
  auto m = st::mapped_file::open(ctx.data_path, {}, mo);
  if (!m) die(m.error().to_string());
  std::uint64_t s = 0;
  for (const st::tensor_info t : m->tensors()) {
    const st::tensor_view v = m->tensor(t);
    s += sum_bytes(v.data(), v.byte_size());
  }
  return s;
}

void sum_target(context& ctx) {
  const config& cfg = ctx.cfg;
  std::uint64_t a = 0, b = 0;
  const paired p = run_paired(
      cfg.reps,
      [&] {
        const double t0 = now_s();
        a = sum_raw(ctx);
        return now_s() - t0;
      },
      [&] {
        const double t0 = now_s();
        b = sum_views(ctx);
        return now_s() - t0;
      });
  if (a != b) die("checksums differ between the raw mapping and the views");
  ctx.checksum = a;
  const double bytes = static_cast<double>(ctx.data_size);
  row r;
  r.target = "3";
  r.what = "sum all bytes via views of mapped_file::open vs raw mmap+sum (warm)";
  set_rate(r, bytes, summarize(p.ours).median, summarize(p.base).median);
  r.ratio = summarize(p.speed_ratios());
  r.kind = goal_kind::at_least;
  r.goal = 0.95;
  r.note = "throughput ratio; both map, sum and unmap";
  add_row(r);
}

// ---- target 4: read_into vs a raw pread loop -----------------------------------------------

/// Tensors (begin, end) in offset order, split into `parts` runs of about equal bytes.
std::vector<std::vector<const gen_tensor*>> split(const context& ctx, unsigned parts) {
  std::vector<const gen_tensor*> order;
  for (const auto& t : ctx.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const gen_tensor* a, const gen_tensor* b) { return a->begin < b->begin; });
  std::vector<std::vector<const gen_tensor*>> out(parts);
  const std::uint64_t share = (ctx.data_size + parts - 1) / parts;
  for (const gen_tensor* t : order) {
    auto k = static_cast<std::size_t>(std::min<std::uint64_t>(t->begin / share, parts - 1));
    out[k].push_back(t);
  }
  return out;
}

double raw_pread_load(const context& ctx, const arena& a, unsigned threads) {
  const auto parts = split(ctx, threads);
  const double t0 = now_s();
  const int fd = ::open(ctx.data_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open");
  auto work = [&](unsigned k) {
    for (const gen_tensor* t : parts[k])
      pread_all(fd, a.p + t->begin, ctx.prefix.size() + t->begin,
                static_cast<std::size_t>(t->end - t->begin));
  };
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < threads; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& th : pool) th.join();
  ::close(fd);
  return now_s() - t0;
}

double reader_load(const context& ctx, const arena& a, unsigned threads) {
  const double t0 = now_s();
  auto r = st::source_reader::open(ctx.data_path);
  if (!r) die(r.error().to_string());
  const st::tensor_range all = r->header().tensors();
  // The same split as the raw side: contiguous runs of about equal bytes.
  const std::uint64_t share = (r->header().data_size() + threads - 1) / threads;
  auto work = [&](unsigned k) {
    for (const st::tensor_info t : all) {
      if (std::min<std::uint64_t>(t.offsets().begin / share, threads - 1) != k) continue;
      auto ok = r->read_into(
          t, st::span<std::byte>(a.p + t.offsets().begin, static_cast<std::size_t>(t.byte_size())));
      if (!ok) die(ok.error().to_string());
    }
  };
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < threads; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& th : pool) th.join();
  return now_s() - t0;
}

double mapped_load(const context& ctx, const arena& a, unsigned threads) {
  const double t0 = now_s();
  auto m = st::mapped_file::open(ctx.data_path);
  if (!m) die(m.error().to_string());
  const st::tensor_range all = m->tensors();
  const std::uint64_t share = (m->header().data_size() + threads - 1) / threads;
  auto work = [&](unsigned k) {
    for (const st::tensor_info t : all) {
      if (std::min<std::uint64_t>(t.offsets().begin / share, threads - 1) != k) continue;
      const st::tensor_view v = m->tensor(t);
      std::memcpy(a.p + t.offsets().begin, v.data(), v.byte_size());
    }
  };
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < threads; ++k) pool.emplace_back(work, k);
  work(0);
  for (auto& th : pool) th.join();
  return now_s() - t0;
}

void read_targets(context& ctx) {
  const config& cfg = ctx.cfg;
  const arena a(ctx.data_size);
  const double bytes = static_cast<double>(ctx.data_size);
  if (selected(cfg, "read")) {
    const paired p = run_paired(
        cfg.reps, [&] { return raw_pread_load(ctx, a, 1); },
        [&] { return reader_load(ctx, a, 1); });
    if (ctx.checksum && sum_bytes(a.p, a.size) != ctx.checksum) die("read_into: wrong bytes");
    row r;
    r.target = "4";
    r.what = "read_into every tensor (source_reader) vs raw pread loop (warm)";
    set_rate(r, bytes, summarize(p.ours).median, summarize(p.base).median);
    r.ratio = summarize(p.speed_ratios());
    r.kind = goal_kind::at_least;
    r.goal = 0.9;
    r.note = "throughput ratio; same pre-faulted buffers";
    add_row(r);
  }
  if (selected(cfg, "threads")) {
    struct way {
      const char* name;
      double (*load)(const context&, const arena&, unsigned);
    };
    for (const way w : {way{"pread read_into", reader_load}, way{"mapped memcpy", mapped_load},
                        way{"raw pread (baseline)", raw_pread_load}}) {
      const paired p = run_paired(
          cfg.reps, [&] { return w.load(ctx, a, 1); }, [&] { return w.load(ctx, a, 2); });
      if (ctx.checksum && sum_bytes(a.p, a.size) != ctx.checksum) die("load: wrong bytes");
      row r;
      r.target = "6";
      r.what = std::string("load all tensors, 2 threads vs 1: ") + w.name + " (warm)";
      set_rate(r, bytes, summarize(p.ours).median, summarize(p.base).median);
      r.ratio = summarize(p.speed_ratios());
      r.note = "speed-up; 'baseline' column = 1 thread";
      add_row(r);
    }
    // Fresh memory: what a loader that allocates each tensor pays (page faults on new pages).
    const paired p = run_paired(
        cfg.reps,
        [&] {
          const double t0 = now_s();
          auto r = st::source_reader::open(ctx.data_path);
          if (!r) die(r.error().to_string());
          for (const st::tensor_info t : r->header().tensors()) {
            std::vector<std::byte> v(static_cast<std::size_t>(t.byte_size()));
            if (!r->read_into(t, st::span<std::byte>(v))) die("read_into");
            benchmark::DoNotOptimize(v.data());
          }
          return now_s() - t0;
        },
        [&] { return reader_load(ctx, a, 1); }, false);
    row r;
    r.target = "6i";
    r.what = "read_into pre-faulted buffers vs a new std::vector per tensor";
    set_rate(r, bytes, summarize(p.ours).median, summarize(p.base).median);
    r.ratio = summarize(p.speed_ratios());
    r.note = "fresh memory costs page faults and zeroing";
    add_row(r);
  }
}

// ---- hints: madvise / MAP_POPULATE, cold and warm ------------------------------------------

void hint_table(const context& ctx) {
  const config& cfg = ctx.cfg;
  struct hint {
    const char* name;
    st::map_options mo;
  };
  st::map_options seq, will, pop;
  seq.hint = st::access_hint::sequential;
  will.hint = st::access_hint::will_need;
  pop.populate = true;
  const hint hints[] = {
      {"normal", {}}, {"sequential", seq}, {"will_need", will}, {"populate", pop}};
  const double bytes = static_cast<double>(ctx.data_size);
  const int reps = std::max(1, cfg.quick ? 1 : cfg.reps / 2);
  for (const bool cold : {false, true}) {
    std::vector<std::vector<double>> times(4);
    double worst_resident = 0;
    for (int r = 0; r < reps; ++r) {
      for (std::size_t h = 0; h < 4; ++h) {
        const std::size_t k = (h + static_cast<std::size_t>(r)) % 4;  // rotate the order
        if (cold) {
          worst_resident = std::max(worst_resident, evict(ctx.data_path, cfg));
        } else {
          (void)sum_raw(ctx);  // warm it
        }
        const double t0 = now_s();
        const std::uint64_t s = sum_views(ctx, hints[k].mo);
        times[k].push_back(now_s() - t0);
        if (ctx.checksum && s != ctx.checksum) die("hint: wrong sum");
      }
    }
    const double normal = summarize(times[0]).median;
    for (std::size_t k = 0; k < 4; ++k) {
      const stats t = summarize(times[k]);
      row r;
      r.target = "hint";
      r.what = std::string("mapped_file::open+sum, ") + hints[k].name +
               (cold ? " (cold)" : " (warm)") + " vs normal";
      set_rate(r, bytes, t.median, normal);
      r.ratio = {normal / t.median, normal / t.max, normal / t.min};
      r.note = "throughput ratio";
      if (cold) {
        char b[96];
        std::snprintf(b, sizeof b, "; cold via %s, <=%.1f%% of pages resident before",
                      cfg.drop_caches ? "drop_caches" : "fadvise(DONTNEED)", worst_resident * 100);
        r.note += b;
      }
      add_row(r);
    }
  }
}

// ---- the program ---------------------------------------------------------------------------

void print_machine(const config& cfg) {
  utsname u{};
  ::uname(&u);
  std::string cpu = "?";
  {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("model name", 0) == 0) {
        cpu = line.substr(line.find(':') + 2);
        break;
      }
    }
  }
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  std::fprintf(human(), "machine: %s, %u hardware threads, %s %s; compiler %s\n", cpu.c_str(),
               std::thread::hardware_concurrency(), u.sysname, u.release, __VERSION__);
  std::fprintf(human(), "load average at start: %s\n", load.c_str());
  std::fprintf(
      human(),
      "mode: %s; data file %s in %s; %d repetitions (header figures: %d samples of ~%.0f ms "
      "of thread CPU time)\n",
      cfg.quick ? "quick" : "full", fmt_bytes(static_cast<double>(cfg.data_bytes)).c_str(),
      cfg.dir.c_str(), cfg.reps, cfg.micro_reps, cfg.micro_sample_s * 1e3);
}

void bm_parse(benchmark::State& state) {
  auto ts = moe_model(5000);
  std::uint64_t data_size = 0;
  const std::string prefix = make_prefix(ts, data_size);
  const virtual_file file(prefix, data_size);
  for (auto _ : state) {
    auto r = st::parse({static_cast<const std::byte*>(file.data()), file.size()});
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(prefix.size()));
}
void bm_nlohmann_parse(benchmark::State& state) {
  auto ts = moe_model(5000);
  std::uint64_t data_size = 0;
  const std::string prefix = make_prefix(ts, data_size);
  for (auto _ : state) {
    auto j = nlohmann::json::parse(prefix.begin() + 8, prefix.end());
    benchmark::DoNotOptimize(j);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(prefix.size()));
}
BENCHMARK(bm_parse)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_nlohmann_parse)->Unit(benchmark::kMillisecond);

/// --gbench --json: Google Benchmark's table on stderr, then target 1 (bm_parse vs
/// bm_nlohmann_parse, CPU time) as one JSON line on stdout.
class gbench_json : public benchmark::ConsoleReporter {
 public:
  gbench_json() : ConsoleReporter(OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const std::string name = r.run_name.str();
      if (r.run_type == Run::RT_Iteration && medians_.count(name) == 0) {
        cpu_[name] = r.GetAdjustedCPUTime();
      } else if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        medians_.insert(name);
        cpu_[name] = r.GetAdjustedCPUTime();
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto ours = cpu_.find("bm_parse"), base = cpu_.find("bm_nlohmann_parse");
    if (ours == cpu_.end() || base == cpu_.end()) return;
    // GetAdjustedCPUTime() is in the benchmarks' unit (ms).
    std::printf(
        "{\"name\": \"1 parse+validate 5,000-tensor header vs nlohmann::json::parse (gbench)\", "
        "\"ours\": %.6g, \"baseline\": %.6g, \"ratio\": %.4f, \"unit\": \"s\", \"goal\": 0.6}\n",
        ours->second * 1e-3, base->second * 1e-3, ours->second / base->second);
  }

 private:
  std::map<std::string, double> cpu_;
  std::set<std::string> medians_;
};

int usage() {
  std::fprintf(stderr,
               "usage: safetensors-bench [--quick] [--dir=DIR] [--size=BYTES] [--load-size=BYTES]\n"
               "                         [--reps=N] [--keep] [--enforce] [--drop-caches]\n"
               "                         [--only=GROUP] [--json] [--cli=PATH]\n"
               "       safetensors-bench --gbench [--json] [Google Benchmark flags]\n"
               "groups: parse open sum read threads hints write load load-alloc cli\n");
  return 2;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  config cfg;
  bool have_size = false, have_reps = false, have_load_size = false;
  std::string child, child_load_mode, child_load_path;
  // --json is ours wherever it stands: taken out before anything reaches Google Benchmark.
  {
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--json") == 0) {
        cfg.json = true;
      } else {
        argv[kept++] = argv[i];
      }
    }
    argc = kept;
    set_json_output(cfg.json);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* key) -> const char* {
      const std::size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? argv[i] + n : nullptr;
    };
    if (a == "--gbench") {
      argv[i] = argv[0];
      int n = argc - i;
      benchmark::Initialize(&n, argv + i);
      if (benchmark::ReportUnrecognizedArguments(n, argv + i)) return 2;
      if (cfg.json) {
        gbench_json reporter;
        reporter.SetOutputStream(&std::cerr);
        reporter.SetErrorStream(&std::cerr);
        benchmark::RunSpecifiedBenchmarks(&reporter);
      } else {
        benchmark::RunSpecifiedBenchmarks();
      }
      benchmark::Shutdown();
      return 0;
    } else if (a == "--quick") {
      cfg.quick = true;
    } else if (a == "--keep") {
      cfg.keep = true;
    } else if (a == "--enforce") {
      cfg.enforce = true;
    } else if (a == "--drop-caches") {
      cfg.drop_caches = true;
    } else if (const char* d = value("--dir=")) {
      cfg.dir = d;
    } else if (const char* s = value("--size=")) {
      cfg.data_bytes = std::strtoull(s, nullptr, 10);
      have_size = true;
    } else if (const char* r = value("--reps=")) {
      cfg.reps = std::atoi(r);
      have_reps = true;
    } else if (const char* l = value("--load-size=")) {
      cfg.load_bytes = std::strtoull(l, nullptr, 10);
      have_load_size = true;
    } else if (const char* c = value("--child-stream=")) {
      child = c;
    } else if (const char* cl = value("--child-load=")) {
      child_load_mode = cl;
    } else if (const char* lf = value("--load-file=")) {
      child_load_path = lf;
    } else if (const char* p = value("--cli=")) {
      cfg.cli = p;
    } else if (const char* o = value("--only=")) {
      cfg.only = o;
    } else {
      return usage();
    }
  }
#ifdef SAFETENSORS_BENCH_CLI
  if (cfg.cli.empty()) cfg.cli = SAFETENSORS_BENCH_CLI;
#endif
  if (cfg.dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    cfg.dir = t && *t ? t : "/tmp";
  }
  if (!have_size) cfg.data_bytes = cfg.quick ? (std::uint64_t{64} << 20) : (std::uint64_t{2} << 30);
  if (!have_load_size)
    cfg.load_bytes = cfg.quick ? (std::uint64_t{64} << 20) : (std::uint64_t{1} << 30);
  if (!have_reps) cfg.reps = cfg.quick ? 2 : 7;
  cfg.reps_given = have_reps;
  cfg.micro_reps = cfg.quick ? 3 : 15;
  cfg.micro_sample_s = cfg.quick ? 0.02 : 0.06;
  if (!child.empty()) return child_stream(cfg, child);
  if (!child_load_mode.empty()) return child_load(cfg, child_load_mode, child_load_path);
  print_machine(cfg);

  context ctx;
  ctx.cfg = cfg;
  if (selected(cfg, "parse")) {
    header_parse(cfg, 5000, 0, "5,000-tensor header", true);
    header_parse(cfg, 5000, 1 << 20, "1 MiB header", false);
  }
  const bool need_file = cfg.only.empty() || selected(cfg, "open") || selected(cfg, "sum") ||
                         selected(cfg, "read") || selected(cfg, "threads") ||
                         selected(cfg, "hints") || selected(cfg, "write");
  if (need_file) {
    ctx.tensors = dense_model(cfg.data_bytes);
    ctx.prefix = make_prefix(ctx.tensors, ctx.data_size);
    ctx.data_path = cfg.dir + "/safetensors-bench-" + std::to_string(::getpid()) + ".safetensors";
    if (cfg.keep) ctx.data_path = cfg.dir + "/safetensors-bench-keep.safetensors";
    std::fprintf(human(), "data file: %zu BF16 tensors, %zu-byte header, %s of data\n",
                 ctx.tensors.size(), ctx.prefix.size() - 8,
                 fmt_bytes(static_cast<double>(ctx.data_size)).c_str());
    write_data_file(ctx.data_path, ctx.prefix, ctx.data_size);
    ctx.checksum = sum_raw(ctx);
    if (selected(cfg, "open")) mapped_open_target(ctx);
    if (selected(cfg, "sum")) sum_target(ctx);
    if (selected(cfg, "read") || selected(cfg, "threads")) read_targets(ctx);
    if (selected(cfg, "hints")) hint_table(ctx);
    if (selected(cfg, "write")) run_write_targets(ctx);
    if (!cfg.keep) ::unlink(ctx.data_path.c_str());
  }
  if (selected(cfg, "load")) run_load_targets(cfg);
  if (selected(cfg, "load-alloc")) run_alloc_targets(cfg);
  if (selected(cfg, "cli")) run_cli_targets(cfg);
  std::string load;
  std::getline(std::ifstream("/proc/loadavg"), load);
  std::fprintf(human(), "load average at end: %s\n", load.c_str());
  print_summary(cfg);
  if (cfg.enforce && !cfg.quick && missed_targets() > 0) return 1;
  return 0;
}
