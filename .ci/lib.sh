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
