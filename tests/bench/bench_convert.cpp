// Throughput of the tensor-level conversions to float (decode_to_float) of BF16, F16 and every
// 8-bit float, on every conversion path this machine can run (scalar, avx2, avx512 or neon; the
// best one is what users get), against a plain memcpy of the output size (n floats), at 64 Ki
// elements (output 256 KiB: in cache) and 4 Mi elements (16 MiB: from memory). Then the
// conversions load() fuses into its reads (detail::convert_elements, on the best path) for pairs
// of float dtypes, A->B, against the same memcpy of n floats.
//
// Inputs are like a model's weights (no NaN or infinity); the F16-with-inf rows show what vectors
// holding an infinity cost (an attention mask's -inf), without a goal.
//
// Prints Google Benchmark's table, then each conversion's time divided by memcpy's time at the
// same n (1.0 = as fast as copying n floats). With --json, prints instead one JSON object per
// line and figure: {"name", "ours", "baseline", "ratio", "unit", "goal"}, times in ns of CPU time
// per call; "goal" (the largest ratio accepted: 1.5 in cache, 1.1 from memory) is set on the best
// path's decoding figures and null on the others. Other flags go to Google Benchmark
// (e.g. --benchmark_repetitions=5: the figures then use the medians). docs/performance.md.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <safetensors/safetensors.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace st = safetensors;
using st::detail::convert_path;

namespace {

constexpr std::int64_t in_cache = std::int64_t{1} << 16;     // 64 Ki elements
constexpr std::int64_t from_memory = std::int64_t{1} << 22;  // 4 Mi elements

constexpr st::dtype dtypes[] = {st::dtype::BF16,    st::dtype::F16,         st::dtype::F8_E4M3,
                                st::dtype::F8_E5M2, st::dtype::F8_E4M3FNUZ, st::dtype::F8_E5M2FNUZ,
                                st::dtype::F8_E8M0};

constexpr convert_path paths[] = {convert_path::scalar, convert_path::avx2, convert_path::avx512,
                                  convert_path::neon};

// Inputs like a model's weights: n values drawn from N(0, 1) and encoded in dtype t (F8_E8M0:
// scales 2^-9 .. 2^9); `with_inf`: every 16th value -inf (as an attention mask's), so that each
// vector of the F16 kernels holds an infinity. Made once per (dtype, n, with_inf).
const std::vector<std::byte>& input(st::dtype t, std::size_t n, bool with_inf) {
  static std::map<std::tuple<st::dtype, std::size_t, bool>, std::vector<std::byte>> cache;
  std::vector<std::byte>& bytes = cache[{t, n, with_inf}];
  if (!bytes.empty() || n == 0) return bytes;
  std::mt19937 rng(1);
  bytes.resize(n * st::bit_size(t) / 8);
  if (t == st::dtype::F8_E8M0) {
    for (auto& b : bytes) b = static_cast<std::byte>(118 + rng() % 19);
    return bytes;
  }
  if (st::bit_size(t) < 8) {  // F4, F6_*: every pattern is a number
    for (auto& b : bytes) b = static_cast<std::byte>(rng());
    return bytes;
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  if (t == st::dtype::F64) {  // little-endian doubles
    for (std::size_t i = 0; i < n; ++i) {
      const double d = normal(rng);
      std::uint64_t u = 0;
      std::memcpy(&u, &d, sizeof d);
      for (std::size_t k = 0; k < 8; ++k) bytes[8 * i + k] = static_cast<std::byte>(u >> (8 * k));
    }
    return bytes;
  }
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = with_inf && i % 16 == 5 ? -std::numeric_limits<float>::infinity()
                                        : static_cast<float>(normal(rng));
  }
  if (!st::encode_from_float(values, t, bytes)) std::abort();
  return bytes;
}

void bm_memcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> src(n, 1.0f), dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * sizeof(float)));
}

void bm_convert(benchmark::State& state, st::dtype t, convert_path p, bool with_inf) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<std::byte>& in = input(t, n, with_inf);
  std::vector<float> out(n);
  if (!st::detail::force_convert_path(p)) {
    state.SkipWithError("path not supported here");
    return;
  }
  for (auto _ : state) {
    auto r = st::decode_to_float(t, in, st::span<float>(out));
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  st::detail::force_convert_path(st::detail::best_convert_path());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * sizeof(float)));
}

// The conversion load() fuses into its reads, from dtype `from` to dtype `to`.
void bm_pair(benchmark::State& state, st::dtype from, st::dtype to) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<std::byte>& in = input(from, n, false);
  std::vector<std::uint64_t> out(n);  // n * 8 bytes: room for every dtype, aligned for all
  auto* o = reinterpret_cast<std::byte*>(out.data());
  for (auto _ : state) {
    st::detail::convert_elements(from, to, in.data(), n, o);
    benchmark::DoNotOptimize(o);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * sizeof(float)));
}

// Pairs of float dtypes: to and from F32 (what load() converted from the start), then between
// the narrow dtypes and to and from F64. Pairs this version cannot convert are left out.
constexpr std::pair<st::dtype, st::dtype> pairs[] = {
    {st::dtype::BF16, st::dtype::F32},        {st::dtype::F16, st::dtype::F32},
    {st::dtype::F8_E4M3, st::dtype::F32},     {st::dtype::F64, st::dtype::F32},
    {st::dtype::F32, st::dtype::BF16},        {st::dtype::F32, st::dtype::F16},
    {st::dtype::F32, st::dtype::F8_E4M3},     {st::dtype::F32, st::dtype::F8_E5M2},
    {st::dtype::F32, st::dtype::F8_E4M3FNUZ}, {st::dtype::F32, st::dtype::F8_E5M2FNUZ},
    {st::dtype::BF16, st::dtype::F16},        {st::dtype::F16, st::dtype::BF16},
    {st::dtype::F8_E4M3, st::dtype::BF16},    {st::dtype::F8_E4M3, st::dtype::F16},
    {st::dtype::F8_E5M2, st::dtype::F16},     {st::dtype::F8_E8M0, st::dtype::BF16},
    {st::dtype::F4, st::dtype::BF16},         {st::dtype::F16, st::dtype::F8_E4M3},
    {st::dtype::BF16, st::dtype::F8_E4M3},    {st::dtype::F64, st::dtype::F16},
    {st::dtype::F64, st::dtype::BF16},        {st::dtype::F32, st::dtype::F64},
    {st::dtype::BF16, st::dtype::F64},
};

void register_benchmarks() {
  benchmark::RegisterBenchmark("memcpy", bm_memcpy)->Arg(in_cache)->Arg(from_memory);
  for (st::dtype t : dtypes) {
    for (convert_path p : paths) {
      if (!st::detail::convert_path_supported(p)) continue;
      const std::string name =
          std::string(st::to_string(t)) + "/" + st::detail::convert_path_name(p);
      benchmark::RegisterBenchmark(name.c_str(), bm_convert, t, p, false)
          ->Arg(in_cache)
          ->Arg(from_memory);
    }
  }
  // The kernels' slower path for vectors holding an F16 infinity or NaN (info, no goal).
  for (convert_path p : paths) {
    if (!st::detail::convert_path_supported(p)) continue;
    const std::string name = std::string("F16-with-inf/") + st::detail::convert_path_name(p);
    benchmark::RegisterBenchmark(name.c_str(), bm_convert, st::dtype::F16, p, true)
        ->Arg(in_cache)
        ->Arg(from_memory);
  }
  const std::string best = st::detail::convert_path_name(st::detail::best_convert_path());
  for (const auto& [from, to] : pairs) {
    if (!st::can_convert(from, to)) continue;
    const std::string name =
        std::string(st::to_string(from)) + "->" + std::string(st::to_string(to)) + "/" + best;
    benchmark::RegisterBenchmark(name.c_str(), bm_pair, from, to)->Arg(in_cache)->Arg(from_memory);
  }
}

// The console table (unless --json), then the ratios to memcpy.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  explicit ratio_reporter(bool json) : ConsoleReporter(OO_None), json_(json) {}

  bool ReportContext(const Context& context) override {
    return json_ ? true : ConsoleReporter::ReportContext(context);
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    if (!json_) ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const std::string name = r.run_name.str();
      if (r.run_type == Run::RT_Iteration) {
        if (medians_.count(name) == 0)
          times_[name] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
      } else if (r.aggregate_name == "median") {
        medians_.insert(name);
        times_[name] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
      }
    }
  }

  void Finalize() override {
    if (!json_) {
      ConsoleReporter::Finalize();
      std::printf(
          "\nconversion time / memcpy time of the same output size (wall, CPU; goal: "
          "best path <= 1.5 in cache, <= 1.1 from memory):\n");
    }
    const std::string best = st::detail::convert_path_name(st::detail::best_convert_path());
    for (const auto& [name, t] : times_) {
      const auto slash = name.rfind('/');
      if (slash == std::string::npos || name.compare(0, 7, "memcpy/") == 0) continue;
      const auto base = times_.find("memcpy" + name.substr(slash));
      if (base == times_.end() || base->second.first <= 0 || base->second.second <= 0) continue;
      const bool memory =
          name.compare(slash + 1, std::string::npos, std::to_string(from_memory)) == 0;
      const std::string path = name.substr(name.find('/') + 1, slash - name.find('/') - 1);
      if (json_) {
        const std::string what = name.substr(0, name.find('/'));
        const auto arrow = what.find("->");
        const bool pair = arrow != std::string::npos;
        char goal[16] = "null";
        if (path == best && !pair && name.compare(0, 13, "F16-with-inf/") != 0)
          std::snprintf(goal, sizeof goal, "%.1f", memory ? 1.1 : 1.5);
        const std::string title =
            pair ? what.substr(0, arrow) + " to " + what.substr(arrow + 2) + " in load()"
                 : what + " to float";
        std::printf(
            "{\"name\": \"%s, %s path, %s\", \"ours\": %.1f, \"baseline\": %.1f, "
            "\"ratio\": %.3f, \"unit\": \"ns\", \"goal\": %s}\n",
            title.c_str(), path.c_str(),
            memory ? "4 Mi elements (from memory)" : "64 Ki elements (in cache)", t.second,
            base->second.second, t.second / base->second.second, goal);
      } else {
        std::printf("  %-34s %6.2f %6.2f%s\n", name.c_str(), t.first / base->second.first,
                    t.second / base->second.second, path == best ? "  (best path)" : "");
      }
    }
  }

 private:
  bool json_;
  std::map<std::string, std::pair<double, double>> times_;  // wall, CPU (ns per call)
  std::set<std::string> medians_;
};

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {  // --json is ours; the rest goes to Google Benchmark
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();
  ratio_reporter reporter(json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
