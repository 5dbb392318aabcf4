# Windows code paths, really compiled and run: the tests cross-compiled with mingw-w64
# (g++-mingw-w64-x86-64, posix threads, static runtime) and run under Wine (wine64): CreateFileW,
# MapViewOfFile, ReadFile with OVERLAPPED, the writer's temp file + replace, UTF-8 -> UTF-16 names.
# Every unit test runs (tests/unit needs no CLI). The CLI's own tests (tests/cli) run it through
# std::system with POSIX shell quoting and redirections, which cmd.exe under Wine does not
# understand; instead the CLI's demo file must be byte-identical to the native CLI's.
# tests/consumers/platform_io.cpp (save, replace, map and read a file with a non-ASCII name) runs
# on its own, and so does tests/separate (the separate-compilation mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh
ci_install g++-mingw-w64-x86-64-posix wine64 nlohmann-json3-dev doctest-dev

out=build/ci-windows
rm -rf "$out" && mkdir -p "$out/inc" "$out/tmp"
# Only the two header-only dependencies, not the host's whole /usr/include.
ln -s /usr/include/nlohmann "$out/inc/nlohmann"
ln -s /usr/include/doctest "$out/inc/doctest"

t0=$SECONDS
ci_cross_build x86_64-w64-mingw32-g++-posix "$out" .exe
echo "mingw-w64 cross build: $((SECONDS - t0))s"

# The configuration detected what it had to.
x86_64-w64-mingw32-g++-posix -std=c++17 -fsyntax-only -Iinclude -isystem "$out/inc" -x c++ - <<'CPP'
#include <safetensors/safetensors.hpp>
static_assert(SAFETENSORS_WINDOWS == 1, "Win32 file API");
static_assert(SAFETENSORS_BIG_ENDIAN == 0, "x86-64");
CPP

# Debian's wine64 package puts the loader in /usr/lib/wine (/usr/bin/wine comes with "wine").
wine=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)
export WINEPREFIX="$PWD/$out/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
t0=$SECONDS
"$wine" wineboot --init >/dev/null 2>&1 || true
echo "wine prefix: $((SECONDS - t0))s"
t0=$SECONDS
"$wine" "$out/safetensors_tests.exe"
"$wine" "$out/safetensors_tests_noexcept.exe"
"$wine" "$out/platform_io.exe" "$out/tmp"
"$wine" "$out/separate.exe" "$out/tmp"
echo "Windows test run under Wine: $((SECONDS - t0))s"

# The CLI under Wine: same demo bytes and same inspection as the native CLI.
native_cli=${NATIVE_CLI:-build/dev/examples/safetensors-cli}  # built by the README command (dev preset)
"$wine" "$out/safetensors-cli.exe" demo "$out/demo-win" | tr -d '\r' >"$out/demo-win.txt"
"$native_cli" demo "$out/demo-native" >/dev/null
cmp "$out/demo-win/demo.safetensors" "$out/demo-native/demo.safetensors"
"$wine" "$out/safetensors-cli.exe" inspect --json "$out/demo-native/demo.safetensors" | tr -d '\r' \
  >"$out/inspect-win.json"
"$native_cli" inspect --json "$out/demo-native/demo.safetensors" >"$out/inspect-native.json"
cmp "$out/inspect-win.json" "$out/inspect-native.json"
"$wine" "$out/safetensors-cli.exe" rewrite "$out/demo-native/demo.safetensors" "$out/rewrite-win.safetensors"
"$native_cli" rewrite "$out/demo-native/demo.safetensors" "$out/rewrite-native.safetensors"
cmp "$out/rewrite-win.safetensors" "$out/rewrite-native.safetensors"
echo "Windows CLI: demo file and inspect --json identical to the native CLI's"
