#!/usr/bin/env bash
# Benchmarks: build safetensors-bench (its own build dir, no tests or examples) and run its
# quick mode (small sizes, few repetitions, targets not enforced) so that it keeps compiling
# and running. The targets are checked by the full run (docs/performance.md). Budget: 3 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ci_install cmake make g++ nlohmann-json3-dev libbenchmark-dev

build=build/ci-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAFETENSORS_BUILD_BENCHMARKS=ON -DSAFETENSORS_BUILD_TESTS=OFF \
  -DSAFETENSORS_BUILD_EXAMPLES=OFF -DSAFETENSORS_INSTALL=OFF
cmake --build "$build" --target safetensors-bench safetensors-bench-convert -j 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout 120 "$build/tests/bench/safetensors-bench" --quick --dir="$tmp"
timeout 60 "$build/tests/bench/safetensors-bench-convert" --benchmark_min_time=0.01
