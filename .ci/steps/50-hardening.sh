#!/usr/bin/env bash
# Hardening (issue 5): libFuzzer targets for a fixed number of runs, the concurrency test under
# ThreadSanitizer (concurrent readers, the parallel loader), the unit tests under valgrind memcheck, and the hostile-limits test once.
# Budget: at most 9 minutes on a fresh 2-core machine, apt installs included.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ci_install clang libclang-rt-14-dev libfuzzer-14-dev valgrind cmake make g++ \
  nlohmann-json3-dev doctest-dev zip unzip

out=build/hardening
mkdir -p "$out"
warn=(-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror)

# --- 1. fuzzers, built as OSS-Fuzz / ClusterFuzzLite build them --------------------------------
# .clusterfuzzlite/build.sh under the environment of OSS-Fuzz's builder image (CC, CXX, CFLAGS,
# CXXFLAGS, LIB_FUZZING_ENGINE, SRC, OUT, WORK), with ASan and UBSan in one build (OSS-Fuzz makes
# one build per sanitizer) and the project's warnings as errors. Each target then runs from $OUT
# as the fuzzing infrastructure runs it: its seed corpus zip (tests/fuzz/regressions/), its
# dictionary and its options (max_len = 65536: headers larger than 4 KiB), for a fixed number of
# runs (CPU seconds of each run in brackets; the build takes ~60 CPU seconds, 2 compilers at a
# time). CI fails on any crash, leak, sanitizer report or disagreement with the reference checker
# (the targets abort).
FUZZ_PARSE_RUNS=${FUZZ_PARSE_RUNS:-60000}         # [~15 s]
FUZZ_FILES_RUNS=${FUZZ_FILES_RUNS:-20000}         # a file write, a mapping, a pread each [~7 s]
FUZZ_ROUNDTRIP_RUNS=${FUZZ_ROUNDTRIP_RUNS:-60000} # [~5 s]
FUZZ_INDEX_RUNS=${FUZZ_INDEX_RUNS:-60000}         # the sharded index parser [~10 s]
FUZZ_JSON_RUNS=${FUZZ_JSON_RUNS:-60000}           # the JSON reader vs nlohmann
ci_step "hardening: build the fuzzers with .clusterfuzzlite/build.sh"
oss=$(cd "$out" && pwd)/oss-fuzz
rm -rf "$oss" "$out/corpus" "$out/seeds"
mkdir -p "$oss/src" "$oss/out" "$oss/work"
ln -s "$PWD" "$oss/src/safetensors"
oss_flags="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address,undefined"
oss_flags+=" -fno-sanitize-recover=all -fsanitize=fuzzer-no-link ${warn[*]}"
CC=clang CXX=clang++ CFLAGS="$oss_flags" CXXFLAGS="$oss_flags" \
  LIB_FUZZING_ENGINE=-fsanitize=fuzzer SRC="$oss/src" OUT="$oss/out" WORK="$oss/work" \
  bash .clusterfuzzlite/build.sh
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in parse files roundtrip index json; do
  case $target in
    parse) runs=$FUZZ_PARSE_RUNS ;;
    files) runs=$FUZZ_FILES_RUNS ;;
    roundtrip) runs=$FUZZ_ROUNDTRIP_RUNS ;;
    index) runs=$FUZZ_INDEX_RUNS ;;
    json) runs=$FUZZ_JSON_RUNS ;;
  esac
  fz=$oss/out/fuzz_$target
  max_len=$(sed -n 's/^max_len = //p' "$fz.options")
  ci_step "hardening: fuzz_$target -runs=$runs -max_len=$max_len"
  mkdir -p "$out/corpus/$target" "$out/seeds/$target"
  unzip -q "${fz}_seed_corpus.zip" -d "$out/seeds/$target"
  "$fz" -runs="$runs" -seed=1 -max_len="$max_len" -dict="$fz.dict" \
    -artifact_prefix="$out/crash-$target-" -print_final_stats=1 \
    "$out/corpus/$target" "$out/seeds/$target" 2>"$out/fuzz_$target.log" || {
    tail -n 60 "$out/fuzz_$target.log"
    echo "fuzz_$target failed; the input is in $out/crash-$target-*" >&2
    exit 1
  }
  grep -E "^stat::number_of_executed_units|^Done" "$out/fuzz_$target.log" || true
done
# The checked-in seeds are what tests/fuzz/make_corpus.cpp writes (built through the CMake option
# SAFETENSORS_BUILD_FUZZERS, which builds the same targets for local runs).
ci_step "hardening: the seeds in tests/fuzz/regressions/ are up to date"
cmake -S . -B "$out/fuzz" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DSAFETENSORS_BUILD_FUZZERS=ON -DSAFETENSORS_BUILD_TESTS=OFF -DSAFETENSORS_BUILD_EXAMPLES=OFF \
  -DSAFETENSORS_INSTALL=OFF >/dev/null
cmake --build "$out/fuzz" --target fuzz_make_corpus -j2
rm -rf "$out/seeds-made"
"$out/fuzz/tests/fuzz/fuzz_make_corpus" "$out/seeds-made" >/dev/null
for made in "$out"/seeds-made/*/seed_*; do
  cmp "$made" "tests/fuzz/regressions/${made#"$out"/seeds-made/}"
done
for kept in tests/fuzz/regressions/*/seed_*; do
  [[ -e "$out/seeds-made/${kept#tests/fuzz/regressions/}" ]] || {
    echo "$kept: not written by fuzz_make_corpus (regenerate: fuzz_make_corpus tests/fuzz/regressions)" >&2
    exit 1
  }
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
