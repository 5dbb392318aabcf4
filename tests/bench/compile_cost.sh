#!/usr/bin/env bash
# shellcheck disable=SC2016  # the row labels are Markdown: their backticks are literal
# What including the library costs a translation unit to compile (docs/design.md#compile-cost):
# the user + system CPU time of `$CXX -std=c++17 -O2 -c FILE -o /dev/null`, median of RUNS runs,
# each translation unit next to the one that includes only <nlohmann/json.hpp>, and the ratio.
# A benchmark, not a test: it prints figures and fails only when a compile fails.
#
#   tests/bench/compile_cost.sh [RUNS]          (from the repository's root; CXX=clang++ to change)
#   COUNT=instructions tests/bench/compile_cost.sh
#
# CPU time swings with whatever else the machine runs; COUNT=instructions counts the compiler's
# instructions under valgrind (cachegrind) instead: one run each, the same count on a busy machine,
# about 50 times slower.
# The rows: the nlohmann-only baseline; the header alone (the parts, then the generated single
# file); examples/quickstart.cpp (opens a file and reads a tensor); and
# tests/consumers/instantiate_all.cpp (every entry point instantiated: the whole API). When the
# header has a separate-compilation mode (SAFETENSORS_HEADER_ONLY=0), the header alone, the
# quickstart and the whole API are measured in that mode too, and the implementation unit
# (src/safetensors.cpp) that the mode compiles once per program.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
runs=${1:-5}
cxx=${CXX:-g++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '#include <nlohmann/json.hpp>\n' >"$work/nlohmann_only.cpp"
printf '#include <safetensors/safetensors.hpp>\n' >"$work/header_only.cpp"
mkdir -p "$work/single/safetensors"
cp single_include/safetensors/safetensors.hpp "$work/single/safetensors/"
printf '#include <safetensors/safetensors.hpp>\n' >"$work/single_header.cpp"

# cpu_seconds FILE FLAGS...: the median CPU time of RUNS compiles of FILE (or, with
# COUNT=instructions, the instructions of one compile, in units of 10^9).
cpu_seconds() {
  local file=$1
  if [[ ${COUNT:-} == instructions ]]; then
    shift
    valgrind --tool=cachegrind --cache-sim=no --trace-children=yes --cachegrind-out-file=/dev/null \
      "$cxx" -std=c++17 -O2 -c "$file" -o /dev/null "$@" 2>&1 >/dev/null |
      awk '/I[ ]+refs:/ { gsub(",", "", $NF); if ($NF + 0 > max) max = $NF + 0 }
           END { printf "%.2f", max / 1e9 }'
    return
  fi
  shift
  local samples=() i t
  for ((i = 0; i < runs; i++)); do
    t=$( { TIMEFORMAT='%U %S'; time "$cxx" -std=c++17 -O2 -c "$file" -o /dev/null "$@" >/dev/null; } 2>&1 |
      tail -n 1 | awk '{ printf "%.2f", $1 + $2 }')
    samples+=("$t")
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

base=$(cpu_seconds "$work/nlohmann_only.cpp")
row() {  # LABEL FILE FLAGS...
  local label=$1 file=$2
  shift 2
  local s
  s=$(cpu_seconds "$file" "$@")
  printf '| %s | %s | %s |\n' "$label" "$s" "$(awk -v a="$s" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
}

if [[ ${COUNT:-} == instructions ]]; then
  echo "$cxx, -std=c++17 -O2 -c, instructions executed by the compiler (10^9, valgrind)"
  unit='instructions (10^9)'
else
  echo "$cxx, -std=c++17 -O2 -c, median of $runs, user + system CPU seconds"
  unit='CPU s'
fi
echo
echo "| translation unit | $unit | ratio to nlohmann only |"
echo '|---|---|---|'
printf '| `#include <nlohmann/json.hpp>` | %s | 1.00 |\n' "$base"
row '`#include <safetensors/safetensors.hpp>` (parts)' "$work/header_only.cpp" -Iinclude
row '`#include <safetensors/safetensors.hpp>` (single file)' "$work/single_header.cpp" -I"$work/single"
row '`examples/quickstart.cpp`' examples/quickstart.cpp -Iinclude
row '`tests/consumers/instantiate_all.cpp` (whole API)' tests/consumers/instantiate_all.cpp -Iinclude
if grep -q 'SAFETENSORS_HEADER_ONLY' include/safetensors/parts/basics.hpp; then
  row 'header alone, `SAFETENSORS_HEADER_ONLY=0`' "$work/header_only.cpp" -Iinclude \
    -DSAFETENSORS_HEADER_ONLY=0
  row '`examples/quickstart.cpp`, `SAFETENSORS_HEADER_ONLY=0`' examples/quickstart.cpp -Iinclude \
    -DSAFETENSORS_HEADER_ONLY=0
  row '`tests/consumers/instantiate_all.cpp` (whole API), `SAFETENSORS_HEADER_ONLY=0`' \
    tests/consumers/instantiate_all.cpp -Iinclude -DSAFETENSORS_HEADER_ONLY=0
  # What the separate-compilation mode's one implementation unit costs, once per program.
  row '`src/safetensors.cpp` (the implementation unit, once)' src/safetensors.cpp -Iinclude
fi
