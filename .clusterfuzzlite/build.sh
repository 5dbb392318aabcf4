#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: every libFuzzer target in tests/fuzz (fuzz_*.cpp) into
# $OUT, each with its seed corpus ($OUT/<target>_seed_corpus.zip, from tests/fuzz/regressions/),
# its dictionary ($OUT/<target>.dict) and its options ($OUT/<target>.options: inputs up to 64 KiB,
# so that headers larger than 4 KiB are reached). docs/security.md#fuzzing shows how to run it
# outside the builder image.
#
# The builder sets CXX, CXXFLAGS (optimization, debug info, sanitizers, fuzzer-no-link),
# LIB_FUZZING_ENGINE (the fuzzing engine to link), SRC and OUT. The repository is
# $SRC/safetensors; nlohmann/json >= 3.11 comes from $SRC/json (the Dockerfile clones it) or, when
# that is missing, from the system's include path.

src=$SRC/safetensors
fuzz=$src/tests/fuzz
json=()
if [[ -d $SRC/json/single_include ]]; then
  json=(-isystem "$SRC/json/single_include")
fi

# Compile the targets (one translation unit each), as many at a time as there are cores.
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
targets=()
for source in "$fuzz"/fuzz_*.cpp; do
  target=$(basename "$source" .cpp)
  targets+=("$target")
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  # shellcheck disable=SC2086  # CXXFLAGS and LIB_FUZZING_ENGINE are word lists
  $CXX $CXXFLAGS -std=c++17 -I "$src/include" -I "$src/tests/support" "${json[@]}" \
    "$source" -o "$OUT/$target" $LIB_FUZZING_ENGINE &
done
for pid in $(jobs -p); do wait "$pid"; done

# Seeds, dictionary and options. fuzz_parse, fuzz_files and fuzz_roundtrip take the same input
# (a safetensors file) and share safetensors.dict and all three seed directories; fuzz_index takes
# checkpoint index JSON; fuzz_json takes any JSON text (its seeds and the index seeds).
for target in "${targets[@]}"; do
  case $target in
    fuzz_index)
      dict=$fuzz/fuzz_index.dict
      seeds=(fuzz_index)
      ;;
    fuzz_json)
      dict=$fuzz/fuzz_json.dict
      seeds=(fuzz_json fuzz_index)
      ;;
    *)
      dict=$fuzz/safetensors.dict
      seeds=(fuzz_parse fuzz_files fuzz_roundtrip)
      ;;
  esac
  files=()
  for dir in "${seeds[@]}"; do files+=("$fuzz/regressions/$dir"/*); done
  rm -f "$OUT/${target}_seed_corpus.zip"
  zip -q -j "$OUT/${target}_seed_corpus.zip" "${files[@]}"
  cp "$dict" "$OUT/$target.dict"
  printf '[libfuzzer]\nmax_len = 65536\n' >"$OUT/$target.options"
done
echo "built ${targets[*]} into $OUT"
