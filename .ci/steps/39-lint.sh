# Style and lint on the project's files:
#   clang-format (.clang-format): every .cpp/.hpp under include/ examples/ tests/ packaging/
#                                 must already be formatted (fix: clang-format -i FILE...).
#   clang-tidy (.clang-tidy, header filter on our header): the translation units that exercise
#                                 the reader, the writer, mapping and pread; any warning fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh
ci_install clang-format clang-tidy nlohmann-json3-dev

t0=$SECONDS
mapfile -t files < <(find include examples tests packaging \( -name '*.cpp' -o -name '*.hpp' \) | sort)
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if ((${#bad[@]} > 0)); then
  echo "clang-format: ${#bad[@]} of ${#files[@]} files are not formatted; run:"
  echo "  clang-format -i ${bad[*]}"
  exit 1
fi
echo "clang-format: ${#files[@]} files ok ($((SECONDS - t0))s)"

t0=$SECONDS
for tu in tests/consumers/platform_io.cpp; do  # reader, writer, mapping, pread
  clang-tidy --quiet --warnings-as-errors='*' "$tu" -- -std=c++17 -Iinclude
done
echo "clang-tidy: ok ($((SECONDS - t0))s)"
