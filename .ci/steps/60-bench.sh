#!/usr/bin/env bash
# Benchmarks: build safetensors-bench (its own build dir, no tests or examples) and run its
# quick mode (small sizes, few repetitions, targets not enforced) so that it keeps compiling
# and running. The targets are checked by the full run (docs/performance.md). Budget: 3 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ci_install cmake make g++ nlohmann-json3-dev libbenchmark-dev python3

build=build/ci-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DSAFETENSORS_BUILD_BENCHMARKS=ON -DSAFETENSORS_BUILD_TESTS=OFF \
  -DSAFETENSORS_BUILD_EXAMPLES=OFF -DSAFETENSORS_INSTALL=OFF
cmake --build "$build" --target safetensors-bench safetensors-bench-convert \
  safetensors-bench-convert-avx512 -j 2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The whole quick run with --json: the text goes to stderr (the log), stdout is one JSON object
# per figure, checked below with the conversion benchmark's. The text mode once more on the cheap
# parse group.
timeout 150 "$build/tests/bench/safetensors-bench" --quick --json --dir="$tmp" >"$tmp/figures.jsonl"
timeout 30 "$build/tests/bench/safetensors-bench" --quick --only=parse
timeout 60 "$build/tests/bench/safetensors-bench-convert" --json --benchmark_min_time=0.01 \
  >>"$tmp/figures.jsonl"
python3 - "$tmp/figures.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no JSON line"
for line in lines:
    o = json.loads(line)
    assert set(o) == {"name", "ours", "baseline", "ratio", "unit", "goal"}, line
    assert o["unit"] in ("s", "ns", "GB/s", "bytes"), line
print(len(lines), "JSON figures, each valid")
PY
