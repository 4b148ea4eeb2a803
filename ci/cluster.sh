#!/usr/bin/env bash
# Local, node-less Kubernetes control plane for tests (etcd + kube-apiserver +
# kube-controller-manager, built from Go modules by ci/testenv).
#
# usage: ci/cluster.sh build|up|down|status|kubeconfig
#
#   build       build .cache/testenv/bin/testenv when ci/testenv changed
#   up          build, start the control plane unless it already runs, wait
#               until it is ready; the last line printed is
#               "export KUBECONFIG=<path>"
#   down        stop it and remove its state (idempotent)
#   status      print whether it runs (exit 0 when it runs and is ready, 1 if not)
#   kubeconfig  print the kubeconfig path
#
# Environment:
#   TESTENV_UP_TIMEOUT  seconds to wait for readiness (default 120)
#   TESTENV_RUN_DIR     logs and state (default .cache/testenv/run); a second
#                       control plane can run beside the default one
#   TESTENV_BUILD_JOBS  go build -p (default 2)
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

log() { echo "cluster.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Hash of everything that goes into the binary: the sources, the Go version
# and the build flags.
source_hash() {
    (
        cd "$src_dir"
        find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        go version
        ldflags
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

cmd_build() {
    command -v go >/dev/null || die "go is not installed"
    mkdir -p "$bin_dir"
    # One build at a time: a second caller waits, then finds the binary fresh.
    exec 9>"$bin_dir/.build.lock"
    flock 9
    local want have=""
    want="$(source_hash)"
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

# True when pid runs (not a zombie) and is our "testenv up".
is_testenv() {
    local pid=$1 stat cmdline
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"testenv up "* ]]
}

# pid of the running control plane, or nothing.
running_pid() {
    local pid
    [[ -f "$pid_file" ]] || return 0
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_testenv "$pid"; then
        echo "$pid"
    fi
}

show_logs() {
    local f
    for f in "$run_dir"/testenv.log "$run_dir"/apiserver.log "$run_dir"/controller-manager.log "$run_dir"/etcd.log; do
        [[ -s "$f" ]] || continue
        echo "----- last lines of ${f#"$repo_root"/} -----" >&2
        tail -n 25 "$f" >&2
    done
}

cmd_up() {
    cmd_build
    local pid start=$SECONDS
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        log "control plane already running (pid $pid)"
        if ! "$bin" wait --dir "$state_dir" --timeout "${up_timeout}s" >/dev/null; then
            show_logs
            die "the running control plane (pid $pid) is not ready; run 'ci/cluster.sh down' and try again"
        fi
    else
        rm -rf "$state_dir"
        mkdir -p "$state_dir"
        rm -f "$run_dir"/*.log
        log "starting control plane (logs in ${run_dir#"$repo_root"/}/*.log) ..."
        setsid nohup "$bin" up --dir "$state_dir" --log-dir "$run_dir" \
            >"$run_dir/testenv.log" 2>&1 </dev/null &
        local launched=$!
        # Wait for the pid file so that "down" can find the process.
        local i
        for ((i = 0; i < 100; i++)); do
            [[ -s "$pid_file" ]] && break
            is_testenv "$launched" || break
            sleep 0.1
        done
        if ! "$bin" wait --dir "$state_dir" --timeout "${up_timeout}s" >/dev/null; then
            show_logs
            log "error: the control plane did not become ready within ${up_timeout}s"
            cmd_down >/dev/null 2>&1 || true
            exit 1
        fi
        log "control plane ready in $((SECONDS - start))s"
    fi
    echo "export KUBECONFIG=$kubeconfig"
}

cmd_down() {
    local pid i
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        log "stopping control plane (pid $pid) ..."
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 450; i++)); do
            is_testenv "$pid" || break
            sleep 0.1
        done
        if is_testenv "$pid"; then
            log "still running after 45s, killing its process group"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$state_dir"
    log "control plane stopped"
}

cmd_status() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        echo "not running"
        return 1
    fi
    if [[ -x "$bin" ]] && "$bin" wait --dir "$state_dir" --timeout 0 -q; then
        echo "running (pid $pid, ready, KUBECONFIG=$kubeconfig)"
        return 0
    fi
    echo "running (pid $pid), not ready"
    return 1
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) echo "$kubeconfig" ;;
*)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
