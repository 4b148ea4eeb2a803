#!/usr/bin/env bash
# The CNCF distribution registry for the tests, built from its Go module (ci/registry) into
# .cache/registry/bin/registry; rebuilt only when its sources or the Go version change.
#
# usage: ci/registry.sh build|path
#
# The tests start it themselves, on a free 127.0.0.1 port, and always stop it
# (sandbox/registry.py).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="$repo_root/ci/registry"
bin_dir="$repo_root/.cache/registry/bin"
bin="$bin_dir/registry"
hash_file="$bin.sha256"

log() { echo "registry.sh: $*" >&2; }

source_hash() {
    (
        cd "$src_dir"
        find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        go version
    ) | sha256sum | cut -d' ' -f1
}

cmd_build() {
    command -v go >/dev/null || { log "error: go is not installed"; exit 1; }
    mkdir -p "$bin_dir"
    exec 9>"$bin_dir/.build.lock"
    flock 9
    local want
    want="$(source_hash)"
    if [[ -x "$bin" && -f "$hash_file" && "$(cat "$hash_file")" == "$want" ]]; then
        return 0
    fi
    log "building ${bin#"$repo_root"/} ..."
    local start=$SECONDS tmp="$bin.tmp.$$"
    if ! (cd "$src_dir" && go build -p "${REGISTRY_BUILD_JOBS:-2}" -trimpath -buildvcs=false -ldflags "-s -w" -o "$tmp" .); then
        rm -f "$tmp"
        log "error: go build failed"
        exit 1
    fi
    mv -f "$tmp" "$bin"
    echo "$want" >"$hash_file"
    log "built ${bin#"$repo_root"/} in $((SECONDS - start))s"
}

case "${1:-}" in
build) cmd_build ;;
path) echo "$bin" ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
