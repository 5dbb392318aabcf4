// Throughput of the tensor-level conversions BF16 -> F32 and F8_E4M3 -> F32 (and F16 -> F32),
// against a plain memcpy of the output size (n floats). Prints, after the usual table, each
// conversion's time divided by memcpy's time at the same n (1.0 = as fast as copying the output).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <utility>
#include <vector>

namespace st = safetensors;

namespace {

std::vector<std::byte> random_bytes(std::size_t n) {
  std::mt19937 rng(1);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFFu);
  return out;
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

void bm_convert(benchmark::State& state, st::dtype t) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::vector<std::byte> in = random_bytes(n * st::bit_size(t) / 8);
  std::vector<float> out(n);
  for (auto _ : state) {
    auto r = st::decode_to_float(t, in, st::span<float>(out));
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * sizeof(float)));
}

void bm_bf16(benchmark::State& s) { bm_convert(s, st::dtype::BF16); }
void bm_f16(benchmark::State& s) { bm_convert(s, st::dtype::F16); }
void bm_e4m3(benchmark::State& s) { bm_convert(s, st::dtype::F8_E4M3); }

// 64 Ki elements: output 256 KiB (cache); 4 Mi elements: output 16 MiB (memory).
BENCHMARK(bm_memcpy)->Arg(1 << 16)->Arg(1 << 22);
BENCHMARK(bm_bf16)->Arg(1 << 16)->Arg(1 << 22);
BENCHMARK(bm_f16)->Arg(1 << 16)->Arg(1 << 22);
BENCHMARK(bm_e4m3)->Arg(1 << 16)->Arg(1 << 22);

// The console table, then "name/n: ratio to memcpy/n".
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  ratio_reporter() : ConsoleReporter(OO_None) {}  // plain text (no colour codes in logs)
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      times_[r.benchmark_name()] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nconversion time / memcpy time of the same output size (wall, CPU):\n");
    for (const auto& [name, t] : times_) {
      const auto slash = name.find('/');
      if (slash == std::string::npos || name.compare(0, slash, "bm_memcpy") == 0) continue;
      const auto base = times_.find("bm_memcpy" + name.substr(slash));
      if (base == times_.end() || base->second.first <= 0 || base->second.second <= 0) continue;
      std::printf("  %-20s %6.2f %6.2f\n", name.c_str(), t.first / base->second.first,
                  t.second / base->second.second);
    }
  }

 private:
  std::map<std::string, std::pair<double, double>> times_;  // wall, CPU
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
