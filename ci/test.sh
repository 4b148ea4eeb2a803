#!/usr/bin/env bash
# Every test: lint, unit and chart tests, then the cluster tests on a local kube-apiserver.
# The control plane is brought up for the cluster tests and always taken down afterwards;
# when it cannot start, this fails (the cluster tests are never skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python

start=$(date +%s)
.venv/bin/ruff check generator sandbox tests ci benchmarks
.venv/bin/mypy
"$PY" -m pytest -m "not cluster" -q

# The tests' own KAI runs as runai-scheduler; the scenario of KAI's open-source names starts a second
# control plane (fixture kai_cluster) and stops it again, also here when pytest is interrupted.
export CLUSTER_SCHEDULER=runai
kai_run_dir=.cache/testenv/run-kai
started_here=0 kai_started_here=0
if ! ci/cluster.sh status >/dev/null 2>&1; then
  started_here=1
fi
if ! TESTENV_RUN_DIR=$kai_run_dir ci/cluster.sh status >/dev/null 2>&1; then
  kai_started_here=1
fi
cleanup() {
  if [[ $kai_started_here == 1 ]]; then TESTENV_RUN_DIR=$kai_run_dir ci/cluster.sh down >/dev/null 2>&1 || true; fi
  if [[ $started_here == 1 ]]; then ci/cluster.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
kubeconfig_line=$(ci/cluster.sh up | tail -n 1)
eval "$kubeconfig_line"
"$PY" -m pytest -m cluster -q --kubeconfig "$KUBECONFIG"
echo "make test: all passed in $(( $(date +%s) - start )) s"
