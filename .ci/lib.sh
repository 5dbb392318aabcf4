# Shared helpers for .ci/run and .ci/steps/*.sh (sourced, not executed).
# ci_install PKG...: apt-get install the Debian packages that are not installed yet.
ci_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} > 0)); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z "${_CI_APT_UPDATED:-}" ]]; then
      apt-get update
      export _CI_APT_UPDATED=1
    fi
    apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
  fi
}

# ci_step NAME: print a banner with the elapsed time since CI started.
ci_step() {
  echo "=== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"
}

# ci_cross_build CXX OUT EXE_SUFFIX: cross-compiles the unit tests (tests/unit: they need no CLI),
# the no-exceptions tests, the CLI, tests/consumers/platform_io.cpp and the separate-compilation
# test (tests/separate with src/safetensors.cpp) with CXX into OUT
# (statically linked, 2 jobs), for the emulated-platform steps. OUT/inc must hold the header-only dependencies; OUT/tmp is the tests'
# temporary directory.
ci_cross_build() {
  local cxx=$1 out=$2 exe=$3
  local flags=(-std=c++17 -O2 -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
    -Werror -Iinclude -Itests/support -isystem "$out/inc"
    -DSAFETENSORS_TEST_TMPDIR="\"$PWD/$out/tmp\"")
  _ci_compile() {  # OUTDIR EXTRA-FLAG... -- SOURCES...
    local dir=$1; shift
    local extra=()
    while [[ $1 != -- ]]; do extra+=("$1"); shift; done
    shift
    mkdir -p "$dir"
    printf '%s\n' "$@" | xargs -P2 -I{} sh -c 'f=$1; shift; echo "  $f"; exec "$@" -c "$f" -o "$0/$(basename "$f" .cpp).o"' \
      "$dir" {} "$cxx" "${flags[@]}" "${extra[@]}"
  }
  _ci_compile "$out/o/tests" -- tests/unit/*.cpp
  _ci_compile "$out/o/noexcept" -fno-exceptions -- tests/noexcept/*.cpp
  _ci_compile "$out/o/cli" -- examples/safetensors_cli.cpp
  _ci_compile "$out/o/platform_io" -- tests/consumers/platform_io.cpp
  _ci_compile "$out/o/separate" -DSAFETENSORS_HEADER_ONLY=0 -- src/safetensors.cpp \
    tests/separate/main.cpp tests/separate/index.cpp tests/separate/sharded_load.cpp
  "$cxx" -static -o "$out/safetensors_tests$exe" "$out"/o/tests/*.o
  "$cxx" -static -o "$out/safetensors_tests_noexcept$exe" "$out"/o/noexcept/*.o
  "$cxx" -static -o "$out/safetensors-cli$exe" "$out"/o/cli/*.o
  "$cxx" -static -o "$out/platform_io$exe" "$out"/o/platform_io/*.o
  "$cxx" -static -o "$out/separate$exe" "$out"/o/separate/*.o
}
