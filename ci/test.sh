#!/usr/bin/env bash
# Every test: lint, unit and chart tests, then the cluster tests on a local kube-apiserver.
# The control plane is brought up for the cluster tests and always taken down afterwards;
# when it cannot start, this fails (the cluster tests are never skipped).
# Every cluster test runs on KAI v0.16.8 (the LTS release, the default); then the Run:ai scenarios
# (tests/cluster/test_kai.py, test_runai.py and test_preemption.py under Run:ai's names) run again on KAI v0.17.0, the
# newest release, on a control plane of its own. The open-source names and cluster.sh's own
# start-up are not release-specific and run once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python

start=$(date +%s)
.venv/bin/ruff check generator sandbox tests ci benchmarks
.venv/bin/mypy
unformatted=$(gofmt -l renderer)
[[ -z $unformatted ]] || { echo "gofmt: not formatted: $unformatted (run gofmt -w renderer)" >&2; exit 1; }
(cd renderer && go vet .)
"$PY" -m pytest -m "not cluster" -q

# The tests' own KAI runs as runai-scheduler; the scenario of KAI's open-source names starts a second
# control plane (fixture kai_cluster) and stops it again, also here when pytest is interrupted.
export CLUSTER_SCHEDULER=runai
kai_run_dir=.cache/testenv/run-kai
newest_kai=v0.17.0
newest_run_dir=.cache/testenv/run-$newest_kai
started_here=0 kai_started_here=0 newest_started_here=0
if ! ci/cluster.sh status >/dev/null 2>&1; then
  started_here=1
fi
if ! TESTENV_RUN_DIR=$kai_run_dir ci/cluster.sh status >/dev/null 2>&1; then
  kai_started_here=1
fi
if ! KAI_VERSION=$newest_kai TESTENV_RUN_DIR=$newest_run_dir ci/cluster.sh status >/dev/null 2>&1; then
  newest_started_here=1
fi
cleanup() {
  if [[ $newest_started_here == 1 ]]; then
    KAI_VERSION=$newest_kai TESTENV_RUN_DIR=$newest_run_dir ci/cluster.sh down >/dev/null 2>&1 || true
  fi
  if [[ $kai_started_here == 1 ]]; then TESTENV_RUN_DIR=$kai_run_dir ci/cluster.sh down >/dev/null 2>&1 || true; fi
  if [[ $started_here == 1 ]]; then ci/cluster.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
kubeconfig_line=$(ci/cluster.sh up | tail -n 1)
eval "$kubeconfig_line"
"$PY" -m pytest -m cluster -q --kubeconfig "$KUBECONFIG"

# The control planes of the default release are not needed any more: stop them before the next one
# starts (2 cores, and memory).
if [[ $kai_started_here == 1 ]]; then TESTENV_RUN_DIR=$kai_run_dir ci/cluster.sh down >/dev/null 2>&1 || true; fi
if [[ $started_here == 1 ]]; then ci/cluster.sh down >/dev/null 2>&1 || true; fi
kubeconfig_line=$(KAI_VERSION=$newest_kai TESTENV_RUN_DIR=$newest_run_dir ci/cluster.sh up | tail -n 1)
eval "$kubeconfig_line"
"$PY" -m pytest -m cluster -q --kubeconfig "$KUBECONFIG" tests/cluster/test_kai.py tests/cluster/test_runai.py tests/cluster/test_preemption.py \
  -k "not kai_scheduler_names and not kai_node_pool_label and not slow_to_exec"
echo "make test: all passed in $(( $(date +%s) - start )) s"
