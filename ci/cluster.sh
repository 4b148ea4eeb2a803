#!/usr/bin/env bash
# Local Kubernetes control plane for tests: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler (built from Go modules by
# ci/testenv), with the KAI scheduler (Run:ai's scheduler, open-sourced; built
# by ci/kai) on fake GPU nodes whose pods kwok runs. No kubelet, no containers.
#
# usage: ci/cluster.sh build|up|down|status|kubeconfig
#
#   build       build .cache/testenv/bin/testenv and .cache/kai/bin/kai when
#               their inputs changed
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
src_dir="$repo_root/ci/testenv"
cache_dir="$repo_root/.cache/testenv"
bin_dir="$cache_dir/bin"
bin="$bin_dir/testenv"
hash_file="$bin_dir/testenv.sha256"
run_dir="${TESTENV_RUN_DIR:-$cache_dir/run}"
[[ "$run_dir" == /* ]] || run_dir="$PWD/$run_dir"
state_dir="$run_dir/state"
kubeconfig="$state_dir/kubeconfig"
pid_file="$state_dir/testenv.pid"
up_timeout="${TESTENV_UP_TIMEOUT:-120}"

proc_src="$repo_root/ci/proc" # processes and certificates, shared by testenv and kai
kai_src="$repo_root/ci/kai"
kai_cache="$repo_root/.cache/kai"
kai_bin="$kai_cache/bin/kai"
kai_hash_file="$kai_cache/bin/kai.sha256"
kai_state="$state_dir/kai"
kai_pid_file="$kai_state/kai.pid"
kai_logs="$run_dir/kai"
# The release archive of github.com/NVIDIA/KAI-scheduler (tag v0.13.0, commit
# 5d35ecab74e693d6f40309d2e23a68b8ac138571), used only where the module cannot
# be downloaded.
kai_module=github.com/NVIDIA/KAI-scheduler
kai_archive="$kai_src/upstream/kai-scheduler-v0.13.0.tar.gz"
kai_archive_sha256=ae76fe24ea255b5dbaf08d38c8f956a012fc065a60771878b630348b2525af61

log() { echo "cluster.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Hash of everything that goes into a binary: the build flags ($1), the Go
# version, and the Go files, go.mod and go.sum of its module and of the local
# modules it uses (the directories $2...).
source_hash() {
    local flags=$1
    shift
    (
        cd "$repo_root"
        for d in "$@"; do
            find "${d#"$repo_root"/}" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0
        done | LC_ALL=C sort -z | xargs -0 sha256sum
        go version
        echo "$flags"
    ) | sha256sum | cut -d' ' -f1
}

# Report the Kubernetes version from go.mod, as an upstream release build does.
ldflags() {
    local v
    v="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$src_dir/go.mod")"
    [[ -n "$v" ]] || die "k8s.io/kubernetes version not found in $src_dir/go.mod"
    local major minor
    major="${v#v}"; major="${major%%.*}"
    minor="${v#v*.}"; minor="${minor%%.*}"
    local pkg=k8s.io/component-base/version
    echo "-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor" \
        "-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build_testenv() {
    mkdir -p "$bin_dir"
    # One build at a time: a second caller waits, then finds the binary fresh.
    exec 9>"$bin_dir/.build.lock"
    flock 9
    local want have=""
    want="$(source_hash "-trimpath -buildvcs=false $(ldflags)" "$src_dir" "$proc_src")"
    [[ -f "$hash_file" ]] && have="$(cat "$hash_file")"
    if [[ -x "$bin" && "$want" == "$have" ]]; then
        exec 9>&-
        return 0
    fi
    log "building ${bin#"$repo_root"/} (a first build takes several minutes) ..."
    local start=$SECONDS tmp="$bin.tmp.$$"
    if ! (cd "$src_dir" && go build -p "${TESTENV_BUILD_JOBS:-2}" -trimpath -buildvcs=false -ldflags "$(ldflags)" -o "$tmp" .); then
        rm -f "$tmp"
        die "go build failed"
    fi
    mv -f "$tmp" "$bin"
    echo "$want" >"$hash_file"
    exec 9>&-
    log "built ${bin#"$repo_root"/} in $((SECONDS - start))s"
}

# KAI: the version that ci/kai/go.mod requires.
kai_version() {
    awk -v m="$kai_module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$kai_src/go.mod"
}

# Build ci/kai in a copy of the module (.cache/kai/build), so that neither the
# download nor the fallback edits the repository's go.mod/go.sum: the module
# is downloaded when the proxy serves it; where it cannot be downloaded, the
# vendored release archive is checked against its sha256, unpacked and put in
# its place with a replace directive.
build_kai() {
    mkdir -p "$kai_cache/bin"
    exec 8>"$kai_cache/bin/.build.lock"
    flock 8
    local version flags want have=""
    version="$(kai_version)"
    [[ -n "$version" ]] || die "$kai_module not required in ${kai_src#"$repo_root"/}/go.mod"
    flags="-p ${TESTENV_BUILD_JOBS:-2} -trimpath -buildvcs=false -ldflags=-s -w -X main.kaiVersion=$version"
    want="$(source_hash "$flags $kai_archive_sha256" "$kai_src" "$proc_src")"
    [[ -f "$kai_hash_file" ]] && have="$(cat "$kai_hash_file")"
    if [[ -x "$kai_bin" && "$want" == "$have" ]]; then
        exec 8>&-
        return 0
    fi
    log "building ${kai_bin#"$repo_root"/} (KAI $version, kwok; a first build takes several minutes) ..."
    local start=$SECONDS stage="$kai_cache/build" tmp="$kai_bin.tmp.$$" from mod=()
    rm -rf "$stage"
    mkdir -p "$stage"
    cp "$kai_src"/*.go "$kai_src/go.mod" "$kai_src/go.sum" "$stage/"
    (cd "$stage" && go mod edit -replace "github.com/clearml-runai/proc=$proc_src")
    if (cd "$stage" && go mod download "$kai_module@$version") >"$kai_cache/download.log" 2>&1; then
        from="the module proxy"
        mod=(-mod=mod) # go.sum gains the module's checksum, verified by the checksum database
    else
        local src="$kai_cache/src" dir="$kai_cache/src/kai-scheduler-$version"
        [[ -f "$kai_archive" ]] || die "${kai_archive#"$repo_root"/} is missing and $kai_module@$version cannot be downloaded (see ${kai_cache#"$repo_root"/}/download.log)"
        if ! echo "$kai_archive_sha256  $kai_archive" | sha256sum --check --status; then
            die "${kai_archive#"$repo_root"/} does not have sha256 $kai_archive_sha256: restore it from git"
        fi
        rm -rf "$src"
        mkdir -p "$src"
        tar -xzf "$kai_archive" -C "$src"
        [[ -f "$dir/go.mod" ]] || die "${kai_archive#"$repo_root"/} does not hold kai-scheduler-$version/go.mod"
        (cd "$stage" && go mod edit -replace "$kai_module=$dir")
        from="the vendored archive (the module proxy refused it: $(grep -m1 -o '[0-9][0-9][0-9] [A-Za-z ]*' "$kai_cache/download.log" || echo 'see download.log'))"
    fi
    log "KAI $version from $from"
    if ! (cd "$stage" && go build "${mod[@]}" -p "${TESTENV_BUILD_JOBS:-2}" -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.kaiVersion=$version" -o "$tmp" .); then
        rm -f "$tmp"
        die "go build of ci/kai failed"
    fi
    mv -f "$tmp" "$kai_bin"
    echo "$want" >"$kai_hash_file"
    exec 8>&-
    log "built ${kai_bin#"$repo_root"/} in $((SECONDS - start))s"
}

cmd_build() {
    command -v go >/dev/null || die "go is not installed"
    build_testenv
    build_kai
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
        log "KAI already running (pid $pid)"
    else
        rm -rf "$kai_state" "$kai_logs"
        mkdir -p "$kai_state" "$kai_logs"
        echo "$mode" >"$state_dir/scheduler"
        log "starting KAI as ${names[0]} (queue label ${names[1]}, logs in ${kai_logs#"$repo_root"/}/*.log) ..."
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
    echo "running (pid $pid, ready; KAI pid $kpid as $(cat "$state_dir/scheduler"), ready; KUBECONFIG=$kubeconfig)"
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) echo "$kubeconfig" ;;
*)
    sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
