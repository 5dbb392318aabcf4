# Compiler matrix beyond the README command (which builds and runs dev + sanitize with g++, C++17):
#   clang++ C++20, -Werror: full build and test run (tests, no-exceptions tests, CLI, std::span
#                            interop, ODR); the consumer tests already ran in the dev preset. The
#                            CLI and the examples link safetensors::safetensors_compiled here (the
#                            separate-compilation mode), the unit tests stay header-only.
#   g++ C++20, clang++ C++17: compile-only (-fsyntax-only, -Werror) of every project source, so
#                            each compiler sees each standard without a second full build.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh
ci_install clang

build=build/ci-clang-cxx20
t0=$SECONDS
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=20 \
  -DCMAKE_CXX_STANDARD_REQUIRED=ON -DCMAKE_BUILD_TYPE=Debug -DSAFETENSORS_WERROR=ON \
  -DSAFETENSORS_INSTALL=OFF -DSAFETENSORS_EXAMPLES_COMPILED=ON -DSAFETENSORS_TORCH=OFF  # LibTorch: 70-torch.sh
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure --no-tests=error -LE consumer
echo "clang++ C++20 build + tests: $((SECONDS - t0))s"

# syntax_check CXX STD: every project translation unit, as the CMake targets compile it.
syntax_check() {
  local cxx=$1 std=$2
  local flags=(-std="c++$std" -fsyntax-only -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
    -Wshadow -Werror -Iinclude -Itests/support -Iexamples -DSAFETENSORS_TEST_TMPDIR='"/tmp"'
    $(pkg-config --cflags-only-I ompi-c | sed 's/-I/-isystem /g')  # mpi.h, as CMake's MPI::MPI_CXX
    -DSAFETENSORS_CLI_PATH='"safetensors-cli"')
  local t0=$SECONDS
  local examples=() f
  for f in examples/*.cpp; do  # examples/libtorch_*.cpp need LibTorch: 70-torch.sh builds them
    [[ $f == examples/libtorch_* ]] || examples+=("$f")
  done
  printf '%s\n' tests/unit/*.cpp tests/cli/*.cpp "${examples[@]}" tests/consumers/main.cpp tests/consumers/odr_*.cpp \
      tests/consumers/self_contained.cpp tests/consumers/platform_io.cpp \
      tests/consumers/instantiate_all.cpp |
    xargs -P2 -I{} sh -c 'echo "  $0 $1"; "$0" "$@"' "$cxx" {} "${flags[@]}"
  printf '%s\n' src/safetensors.cpp tests/separate/*.cpp tests/consumers/abi_separate.cpp |
    xargs -P2 -I{} sh -c 'echo "  $0 $1 -DSAFETENSORS_HEADER_ONLY=0"; "$0" "$@" -DSAFETENSORS_HEADER_ONLY=0' \
      "$cxx" {} "${flags[@]}"
  printf '%s\n' tests/noexcept/*.cpp |
    xargs -P2 -I{} sh -c 'echo "  $0 $1 -fno-exceptions"; "$0" "$@" -fno-exceptions' "$cxx" {} "${flags[@]}"
  echo "$cxx C++$std compile-only: $((SECONDS - t0))s"
}
syntax_check g++ 20
syntax_check clang++ 17
