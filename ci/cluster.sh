#!/usr/bin/env bash
# Local Kubernetes control plane for tests: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler (built from Go modules by
# ci/testenv), with the KAI scheduler (Run:ai's scheduler, open-sourced; built
# by ci/kai) on fake GPU nodes whose pods kwok runs. No kubelet, no containers.
#
# usage: ci/cluster.sh build|up|down|status|kubeconfig
#
#   build       build .cache/testenv/bin/testenv and .cache/kai/<version>/bin/kai
#               when their inputs changed (ci/build.sh)
#   up          build, start the control plane and KAI unless they already
#               run, wait until both are ready; the last line printed is
#               "export KUBECONFIG=<path>"
#   down        stop both and remove their state (idempotent)
#   status      print whether they run (exit 0 when both run and are ready)
#   kubeconfig  print the kubeconfig path
#
# Environment:
#   CLUSTER_SCHEDULER   runai (default): KAI places pods of schedulerName
#                       runai-scheduler, queue label runai/queue, node-pool
#                       label runai/node-pool, as on a Run:ai cluster;
#                       kai: kai-scheduler, kai.scheduler/queue and
#                       kai.scheduler/node-pool, as an open-source KAI install.
#                       One KAI runs per control plane: for the other names,
#                       start a second control plane (TESTENV_RUN_DIR).
#   KAI_VERSION         the KAI release: v0.16.8 (default, the LTS) or v0.17.0,
#                       each built and cached apart. One KAI per control plane:
#                       for another release, use another TESTENV_RUN_DIR.
#   TESTENV_UP_TIMEOUT  seconds to wait for readiness (default 120, and as
#                       much again for KAI)
#   TESTENV_RUN_DIR     logs and state (default .cache/testenv/run); a second
#                       control plane can run beside the default one
#   TESTENV_BUILD_JOBS  go build -p (default 2)
#   TESTENV_START_DELAY seconds each started process waits between fork and
#                       exec (for the tests of the start-up; default none)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
cache_dir="$repo_root/.cache/testenv"
build="$script_dir/build.sh"
bin="$("$build" path testenv)"
run_dir="${TESTENV_RUN_DIR:-$cache_dir/run}"
[[ "$run_dir" == /* ]] || run_dir="$PWD/$run_dir"
state_dir="$run_dir/state"
kubeconfig="$state_dir/kubeconfig"
pid_file="$state_dir/testenv.pid"
up_timeout="${TESTENV_UP_TIMEOUT:-120}"

kai_src="$repo_root/ci/kai"
kai_bin="$("$build" path kai)" # of KAI_VERSION
kai_version="$("$build" kai-version)"
kai_state="$state_dir/kai"
kai_pid_file="$kai_state/kai.pid"
kai_logs="$run_dir/kai"

log() { echo "cluster.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

cmd_build() {
    "$build" testenv kai
}

# True when pid runs (is not a zombie).
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]]
}

# True when pid runs and its command line holds $2 ("testenv up "): a pid read back from a pid
# file may have been reused by another program since.
is_ours() {
    local pid=$1 cmdline
    alive "$pid" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$2"* ]]
}

# Start a command ($2...) in a session of its own, output to log file $1; sets $launched.
# TESTENV_START_DELAY (seconds, for the tests) holds the child between fork and exec, where its
# command line is still this script's, so that the wait below is shown not to depend on it.
launch() {
    local log_file=$1
    shift
    (
        [[ -z "${TESTENV_START_DELAY:-}" ]] || sleep "$TESTENV_START_DELAY"
        exec setsid nohup "$@"
    ) >"$log_file" 2>&1 </dev/null &
    launched=$!
}

# Wait until the launched process wrote its pid file $1 ("down" finds it there) or exited,
# for at most up_timeout seconds. Goes by the launched pid's liveness, never by its command line.
await_pid_file() {
    local file=$1 deadline=$((SECONDS + up_timeout))
    while ((SECONDS < deadline)); do
        [[ -s "$file" ]] && return 0
        alive "$launched" || return 1
        sleep 0.1
    done
    return 1
}

# Say why a start failed, in one line: the launched process exited (with its status), or it still
# runs and did not become ready in time. Not in a subshell: only this shell can wait for its child.
start_failure() {
    local what=$1 status=0
    if alive "$launched"; then
        log "error: $what did not become ready within ${up_timeout}s"
        return 0
    fi
    wait "$launched" 2>/dev/null || status=$?
    log "error: $what exited during start-up (exit status $status)"
}

# pid in file $1 when it is a running "$2", or nothing.
pid_of() {
    local pid
    [[ -f "$1" ]] || return 0
    pid="$(cat "$1" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_ours "$pid" "$2"; then
        echo "$pid"
    fi
}

running_pid() { pid_of "$pid_file" "testenv up "; }
kai_pid() { pid_of "$kai_pid_file" "kai up "; }

# Stop pid $1 (a "$2") with SIGTERM, then its process group with SIGKILL after 45s.
stop_pid() {
    local pid=$1 what=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 450; i++)); do
        is_ours "$pid" "$what" || return 0
        sleep 0.1
    done
    log "still running after 45s, killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

show_logs() {
    local f
    for f in "$@"; do
        [[ -s "$f" ]] || continue
        echo "----- last lines of ${f#"$repo_root"/} -----" >&2
        tail -n 25 "$f" >&2
    done
}

control_plane_logs() {
    show_logs "$run_dir"/testenv.log "$run_dir"/apiserver.log "$run_dir"/controller-manager.log \
        "$run_dir"/scheduler.log "$run_dir"/etcd.log
}

# Scheduler name, queue label and node-pool label of CLUSTER_SCHEDULER.
kai_names() {
    case "${CLUSTER_SCHEDULER:-runai}" in
    runai) echo "runai-scheduler runai/queue runai/node-pool" ;;
    kai) echo "kai-scheduler kai.scheduler/queue kai.scheduler/node-pool" ;;
    *) die "CLUSTER_SCHEDULER is '${CLUSTER_SCHEDULER}': use runai (Run:ai's names) or kai (open-source KAI's)" ;;
    esac
}

start_control_plane() {
    local pid start=$SECONDS
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        log "control plane already running (pid $pid)"
        if ! "$bin" wait --dir "$state_dir" --timeout "${up_timeout}s" >/dev/null; then
            control_plane_logs
            die "the running control plane (pid $pid) is not ready; run 'ci/cluster.sh down' and try again"
        fi
        return 0
    fi
    rm -rf "$state_dir"
    mkdir -p "$state_dir"
    rm -f "$run_dir"/*.log
    log "starting control plane (logs in ${run_dir#"$repo_root"/}/*.log) ..."
    local launched
    launch "$run_dir/testenv.log" "$bin" up --dir "$state_dir" --log-dir "$run_dir"
    if ! await_pid_file "$pid_file" || ! "$bin" wait --dir "$state_dir" --timeout "${up_timeout}s" >/dev/null; then
        control_plane_logs
        start_failure "the control plane"
        cmd_down >/dev/null 2>&1 || true
        exit 1
    fi
    log "control plane ready in $((SECONDS - start))s"
}

start_kai() {
    local mode="${CLUSTER_SCHEDULER:-runai}" names pid launched start=$SECONDS
    read -r -a names <<<"$(kai_names)"
    pid="$(kai_pid)"
    if [[ -n "$pid" ]]; then
        local have
        have="$(cat "$state_dir/scheduler" 2>/dev/null || true)"
        [[ "$have" == "$mode" ]] ||
            die "KAI runs here with CLUSTER_SCHEDULER=$have, not $mode: one KAI per control plane; use another TESTENV_RUN_DIR"
        have="$(cat "$state_dir/kai-version" 2>/dev/null || true)"
        [[ "$have" == "$kai_version" ]] ||
            die "KAI $have runs here, not $kai_version: one KAI per control plane; use another TESTENV_RUN_DIR"
        log "KAI already running (pid $pid)"
    else
        rm -rf "$kai_state" "$kai_logs"
        mkdir -p "$kai_state" "$kai_logs"
        echo "$mode" >"$state_dir/scheduler"
        echo "$kai_version" >"$state_dir/kai-version"
        log "starting KAI $kai_version as ${names[0]} (queue label ${names[1]}, logs in ${kai_logs#"$repo_root"/}/*.log) ..."
        launch "$run_dir/kai.log" "$kai_bin" up --kubeconfig "$kubeconfig" --dir "$kai_state" --log-dir "$kai_logs" \
            --scheduler-name "${names[0]}" --queue-label-key "${names[1]}" --nodepool-label-key "${names[2]}" \
            --defaults "$kai_src/defaults.yaml" --kwok-stages "$kai_src/kwok-stages.yaml"
        if ! await_pid_file "$kai_pid_file"; then
            show_logs "$run_dir/kai.log" "$kai_logs"/*.log
            start_failure KAI
            cmd_down >/dev/null 2>&1 || true
            exit 1
        fi
    fi
    if ! "$kai_bin" wait --dir "$kai_state" --timeout "${up_timeout}s" -q; then
        show_logs "$run_dir/kai.log" "$kai_logs"/*.log
        if [[ -n "$pid" ]]; then
            log "error: the running KAI (pid $pid) is not ready; run 'ci/cluster.sh down' and try again"
        else
            start_failure KAI
        fi
        cmd_down >/dev/null 2>&1 || true
        exit 1
    fi
    [[ -n "$pid" ]] || log "KAI ready in $((SECONDS - start))s"
}

cmd_up() {
    kai_names >/dev/null
    cmd_build
    start_control_plane
    start_kai
    echo "export KUBECONFIG=$kubeconfig"
}

cmd_down() {
    local pid
    # KAI first, while the API server still answers (it unregisters its webhooks).
    pid="$(kai_pid)"
    if [[ -n "$pid" ]]; then
        log "stopping KAI (pid $pid) ..."
        stop_pid "$pid" "kai up "
    fi
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        log "stopping control plane (pid $pid) ..."
        stop_pid "$pid" "testenv up "
    fi
    rm -rf "$state_dir"
    log "control plane stopped (${run_dir#"$repo_root"/})"
}

cmd_status() {
    local pid kpid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        echo "not running"
        return 1
    fi
    if ! [[ -x "$bin" ]] || ! "$bin" wait --dir "$state_dir" --timeout 0 -q; then
        echo "running (pid $pid), not ready"
        return 1
    fi
    kpid="$(kai_pid)"
    if [[ -z "$kpid" ]] || ! "$kai_bin" wait --dir "$kai_state" --timeout 0 -q; then
        echo "running (pid $pid, ready), KAI ${kpid:+(pid $kpid) }not ready"
        return 1
    fi
    echo "running (pid $pid, ready; KAI $(cat "$state_dir/kai-version") pid $kpid as $(cat "$state_dir/scheduler"), ready; KUBECONFIG=$kubeconfig)"
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) echo "$kubeconfig" ;;
*)
    sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
