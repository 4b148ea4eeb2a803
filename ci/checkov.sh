#!/usr/bin/env bash
# Run checkov's Kubernetes policies on rendered manifests:
#   ci/checkov.sh [--json] PATH... [-- CHECKOV-ARGS...]
# PATH is a directory (scanned recursively) or a file of rendered objects. Prints the failed checks
# (or, with --json, the whole report: passed, failed and skipped checks); exits 1 when one failed.
# Settings are in ci/checkov.yaml; arguments after `--` go to checkov. checkov lives in its own
# venv, .cache/checkov-venv, made here on first use at the pinned version (concurrent runs wait).
set -euo pipefail

CHECKOV_VERSION=3.3.30

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.cache/checkov-venv"
stamp="$venv/.installed-checkov-$CHECKOV_VERSION"
python="${PYTHON:-python3}"

if [[ $# -eq 0 || $1 == -h || $1 == --help ]]; then
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

install_checkov() {
  [[ -f $stamp ]] && return 0
  echo "ci/checkov.sh: installing checkov $CHECKOV_VERSION into .cache/checkov-venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
  touch "$stamp"
}

mkdir -p "$root/.cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/.cache/checkov-venv.lock"
  flock 9
  install_checkov
  flock -u 9
else
  install_checkov
fi

report=(--quiet)
if [[ $1 == --json ]]; then
  report=(-o json)
  shift
fi
targets=()
while [[ $# -gt 0 && $1 != -- ]]; do
  if [[ -d $1 ]]; then
    targets+=(-d "$1")
  elif [[ -f $1 ]]; then
    targets+=(-f "$1")
  else
    echo "ci/checkov.sh: no such file or directory: $1" >&2
    exit 2
  fi
  shift
done
[[ ${1:-} == -- ]] && shift

# No update check against PyPI, no mapping download: the scan stays on this machine.
export CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE
exec "$venv/bin/checkov" --config-file "$root/ci/checkov.yaml" "${report[@]}" "${targets[@]}" "$@"
