#!/usr/bin/env bash
# make demo: the whole job, end to end, on the local control plane; then clean up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started_here=0
ci/cluster.sh status >/dev/null 2>&1 || started_here=1
eval "$(ci/cluster.sh up | tail -n 1)"
cleanup() {
  .venv/bin/python ci/demo.py --cleanup >/dev/null 2>&1 || true
  if [[ $started_here == 1 ]]; then ci/cluster.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
PATH="$PWD/.cache/tools:$PWD/.cache/renderer/bin:$PWD/.venv/bin:$PATH" .venv/bin/python ci/demo.py
