#!/usr/bin/env bash
# Hardening (issue 5): libFuzzer targets for a fixed number of runs, the concurrency test under
# ThreadSanitizer (concurrent readers, the parallel loader), the unit tests under valgrind memcheck, and the hostile-limits test once.
# Budget: at most 9 minutes on a fresh 2-core machine, apt installs included.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ci_install clang libclang-rt-14-dev libfuzzer-14-dev valgrind cmake make g++ \
  nlohmann-json3-dev doctest-dev

out=build/hardening
mkdir -p "$out"
warn=(-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror)

# --- 1. fuzzers (clang, -fsanitize=fuzzer,address,undefined) --------------------------------
# Fixed run counts (seconds on a 2-core machine in brackets): enough to pass the seeds' mutations
# through every rule many times; CI fails on any crash, leak, sanitizer report or disagreement
# with the reference checker (the targets abort).
FUZZ_PARSE_RUNS=${FUZZ_PARSE_RUNS:-60000}        # ~1500 exec/s  [~40 s]
FUZZ_FILES_RUNS=${FUZZ_FILES_RUNS:-6000}         # ~200 exec/s, a file write + mmap each [~30 s]
FUZZ_ROUNDTRIP_RUNS=${FUZZ_ROUNDTRIP_RUNS:-60000} # fast on rejected inputs   [~20 s]
FUZZ_INDEX_RUNS=${FUZZ_INDEX_RUNS:-60000}        # the sharded index parser    [~20 s]
ci_step "hardening: build the fuzzers"
cmake -S . -B "$out/fuzz" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAFETENSORS_BUILD_FUZZERS=ON -DSAFETENSORS_BUILD_TESTS=OFF -DSAFETENSORS_BUILD_EXAMPLES=OFF \
  -DSAFETENSORS_INSTALL=OFF >/dev/null
cmake --build "$out/fuzz" -j2
fz="$out/fuzz/tests/fuzz"
rm -rf "$out/seeds" "$out/corpus"
"$fz/fuzz_make_corpus" "$out/seeds"
# Seeds of the index parser: a transformers-style index and a minimal one.
mkdir -p "$out/seeds-index"
printf '{\n  "metadata": {\n    "total_size": 24\n  },\n  "weight_map": {\n    "a": "model-00001-of-00002.safetensors",\n    "b": "model-00002-of-00002.safetensors"\n  }\n}\n' \
  >"$out/seeds-index/transformers.json"
printf '{"weight_map":{"w":"model.safetensors"}}' >"$out/seeds-index/minimal.json"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in parse files roundtrip index; do
  seeds="$out/seeds" dict=tests/fuzz/safetensors.dict
  case $target in
    parse) runs=$FUZZ_PARSE_RUNS ;;
    files) runs=$FUZZ_FILES_RUNS ;;
    roundtrip) runs=$FUZZ_ROUNDTRIP_RUNS ;;
    index) runs=$FUZZ_INDEX_RUNS seeds="$out/seeds-index" dict=tests/fuzz/fuzz_index.dict ;;
  esac
  ci_step "hardening: fuzz_$target -runs=$runs"
  mkdir -p "$out/corpus/$target"
  "$fz/fuzz_$target" -runs="$runs" -seed=1 -max_len=4096 -dict="$dict" \
    -artifact_prefix="$out/crash-$target-" -print_final_stats=1 \
    "$out/corpus/$target" "$seeds" 2>"$out/fuzz_$target.log" || {
    tail -n 60 "$out/fuzz_$target.log"
    echo "fuzz_$target failed; the input is in $out/crash-$target-*" >&2
    exit 1
  }
  grep -E "^stat::number_of_executed_units|^Done" "$out/fuzz_$target.log" || true
done

# --- 2. the concurrency test under ThreadSanitizer ------------------------------------------
# The concurrent readers and the parallel loader (docs/loading.md).
ci_step "hardening: concurrency tests under ThreadSanitizer"
clang++ -std=c++17 -O1 -g -fsanitize=thread "${warn[@]}" -I include -I tests/support \
  tests/unit/reader_concurrency.cpp tests/unit/load.cpp tests/unit/main.cpp \
  -o "$out/concurrency_tsan"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "$out/concurrency_tsan"

# --- 3. the unit tests under valgrind memcheck (RelWithDebInfo, no sanitizers) --------------
# The README command built build/dev (RelWithDebInfo) already; build it when it is missing.
# Excluded (documented): "rule 2: N = 100,000,000 ..." parses a 100 MB header, minutes under
# valgrind; the hostile test below covers that size without valgrind.
ci_step "hardening: unit tests under valgrind memcheck"
if [[ ! -x build/dev/tests/safetensors_tests ]]; then
  cmake --preset dev >/dev/null
  cmake --build --preset dev --target safetensors_tests
fi
(cd build/dev/tests && valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
  --quiet ./safetensors_tests --no-version=true -tce="rule 2: N = 100?000?000*")

# --- 4. hostile inputs at the limits (once, unsanitized, with its counting allocator) -------
ci_step "hardening: hostile-limits test"
g++ -std=c++17 -O2 -g "${warn[@]}" -I include tests/hostile/test_hostile.cpp -o "$out/hostile"
"$out/hostile"
ci_step "hardening: done"
