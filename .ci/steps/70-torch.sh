#!/usr/bin/env bash
# LibTorch (docs/torch.md): libtorch-dev and python3-torch, a build directory of its own that
# builds only the LibTorch targets (the presets turn Torch off), and the tests of label torch:
# the unit tests, the compatibility test with Python's torch, the example. Two LibTorch
# translation units, built one at a time (each takes over 1 GB of memory).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ci_install cmake make g++ nlohmann-json3-dev doctest-dev python3 libtorch-dev python3-torch

build=build/ci-torch
t0=$SECONDS
# -O0 without debug information: LibTorch's headers cost several times more to compile
# optimized, and what the tests run is mostly LibTorch's own (prebuilt, optimized) code.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DSAFETENSORS_TORCH=ON \
  -DSAFETENSORS_TORCH_PYTHON3=/usr/bin/python3
cmake --build "$build" --target safetensors_torch_tests safetensors-libtorch-state-dict -j 1
# Under CI=true the compatibility test fails, rather than skips, without Python's torch.
ctest --test-dir "$build" -L torch --output-on-failure --no-tests=error
echo "LibTorch build + tests: $((SECONDS - t0))s"
