# Big-endian host, really run: the tests cross-compiled for s390x (g++-s390x-linux-gnu, static)
# and run under qemu-s390x (qemu-user), every unit test (tests/unit needs no CLI). The CLI's own
# tests (tests/cli) start the CLI through std::system, which a host shell cannot do with an s390x
# binary without binfmt_misc; the CLI itself runs under qemu below instead: its demo model must be
# byte-identical to the one the native CLI writes, and inspect must print the same table.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh
ci_install g++-s390x-linux-gnu qemu-user nlohmann-json3-dev doctest-dev

out=build/ci-s390x
rm -rf "$out" && mkdir -p "$out/inc" "$out/tmp"
# Only the two header-only dependencies, not the host's whole /usr/include.
ln -s /usr/include/nlohmann "$out/inc/nlohmann"
ln -s /usr/include/doctest "$out/inc/doctest"

# Compile every test translation unit (as tests/CMakeLists.txt globs them) and the CLI, 2 at a time.
t0=$SECONDS
ci_cross_build s390x-linux-gnu-g++ "$out" ""
echo "s390x cross build: $((SECONDS - t0))s"

# The configuration detected what it had to.
s390x-linux-gnu-g++ -std=c++17 -fsyntax-only -Iinclude -x c++ - <<'CPP'
#include <safetensors/safetensors.hpp>
static_assert(SAFETENSORS_BIG_ENDIAN == 1, "s390x is big-endian");
static_assert(SAFETENSORS_WINDOWS == 0, "POSIX I/O");
CPP

t0=$SECONDS
qemu-s390x "$out/safetensors_tests"
qemu-s390x "$out/safetensors_tests_noexcept"
qemu-s390x "$out/platform_io" "$out/tmp"
qemu-s390x "$out/separate" "$out/tmp"
echo "s390x test run: $((SECONDS - t0))s"

# The CLI on the big-endian host: same demo bytes, same inspection as the native CLI.
qemu-s390x "$out/safetensors-cli" demo "$out/demo-be" >"$out/demo-be.txt"
native_cli=${NATIVE_CLI:-build/dev/examples/safetensors-cli}  # built by the README command (dev preset)
"$native_cli" demo "$out/demo-le" >"$out/demo-le.txt"
cmp "$out/demo-be/demo.safetensors" "$out/demo-le/demo.safetensors"
qemu-s390x "$out/safetensors-cli" inspect --json "$out/demo-le/demo.safetensors" >"$out/inspect-be.json"
"$native_cli" inspect --json "$out/demo-le/demo.safetensors" >"$out/inspect-le.json"
cmp "$out/inspect-be.json" "$out/inspect-le.json"
qemu-s390x "$out/safetensors-cli" validate "$out/demo-le/demo.safetensors"
qemu-s390x "$out/safetensors-cli" rewrite "$out/demo-le/demo.safetensors" "$out/rewrite-be.safetensors"
"$native_cli" rewrite "$out/demo-le/demo.safetensors" "$out/rewrite-le.safetensors"
cmp "$out/rewrite-be.safetensors" "$out/rewrite-le.safetensors"
echo "s390x CLI: demo file, inspect --json and rewrite identical to the native CLI's"
