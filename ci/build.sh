#!/usr/bin/env bash
# Builds the Go binaries of the local sandbox, each only when its inputs changed (one recipe for
# all: a hash of the Go files, go.mod and go.sum of the module and of the local modules it uses,
# the Go version and the build flags; one build at a time per binary).
#
# usage: ci/build.sh testenv|kai|registry|renderer...   build them when their inputs changed
#        ci/build.sh path testenv|kai|registry|renderer  print a binary's path
#        ci/build.sh kai-version                print the KAI release KAI_VERSION selects
#
#   testenv   .cache/testenv/bin/testenv: etcd, kube-apiserver, kube-controller-manager and
#             kube-scheduler from Go modules (ci/testenv)
#   kai       .cache/kai/<version>/bin/kai: the KAI scheduler and kwok (ci/kai), KAI from its
#             release archive in ci/kai/upstream (checked against its sha256)
#   registry  .cache/registry/bin/registry: the CNCF distribution registry (ci/registry)
#   renderer  .cache/renderer/bin/clearml-runai-render: the operator's chart renderer (renderer/, helm's
#             library at the pinned helm version); not a sandbox part but built by the same recipe
#
# Environment:
#   KAI_VERSION         v0.16.8 (default, the LTS) or v0.17.0: each is built and cached apart
#   TESTENV_BUILD_JOBS  go build -p (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo_root/.cache"
jobs="${TESTENV_BUILD_JOBS:-2}"

# KAI releases this repository can build: the release archive (git archive of the tag, unchanged,
# see ci/kai/upstream/NOTICE) and its sha256. The module proxy does not serve the module, so the
# build always replaces it with the unpacked archive.
kai_module=github.com/kai-scheduler/KAI-scheduler
kai_default=v0.16.8
declare -A kai_sha256=(
    [v0.16.8]=649e9fb08803853e2d736046357f0580e70c3b68119302452c3bb86e7335627e
    [v0.17.0]=07c6525547b130283e29d61ec435babf1157875ab0068b2afaa0e90472ce2761
)

log() { echo "build.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
rel() { echo "${1#"$repo_root"/}"; }

kai_version() {
    local v="${KAI_VERSION:-$kai_default}"
    [[ -n "${kai_sha256[$v]:-}" ]] ||
        die "KAI_VERSION is '$v': use one of ${!kai_sha256[*]} (the releases in ci/kai/upstream)"
    echo "$v"
}

# ci/kai/go.mod requires the default release; another release has its module file beside it
# (ci/kai/kai-<version>.mod, its go.sum kai-<version>.sum), as `go build -modfile` reads them.
kai_modfile() {
    local v=$1
    if [[ "$v" == "$kai_default" ]]; then
        echo "$repo_root/ci/kai/go.mod"
    else
        echo "$repo_root/ci/kai/kai-$v.mod"
    fi
}

bin_path() {
    local v
    case "$1" in
    testenv) echo "$cache/testenv/bin/testenv" ;;
    kai)
        v="$(kai_version)"
        echo "$cache/kai/$v/bin/kai"
        ;;
    registry) echo "$cache/registry/bin/registry" ;;
    renderer) echo "$cache/renderer/bin/clearml-runai-render" ;;
    *) die "no binary '$1': use testenv, kai, registry or renderer" ;;
    esac
}

# Hash of the inputs: the Go files, go.mod and go.sum under each directory, each file named, the Go
# version and $1 (the build flags and whatever else decides the output).
source_hash() {
    local extra=$1
    shift
    (
        cd "$repo_root"
        for p in "$@"; do
            p="$(rel "$p")"
            if [[ -d "$p" ]]; then
                find "$p" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0
            else
                printf '%s\0' "$p"
            fi
        done | LC_ALL=C sort -z | xargs -0 sha256sum
        go version
        echo "$extra"
    ) | sha256sum | cut -d' ' -f1
}

# build_if_changed NAME BIN EXTRA INPUTS...: run "build_NAME TMP" when the hash of EXTRA and
# INPUTS differs from the one BIN was built from, then put TMP in BIN's place.
build_if_changed() {
    local name=$1 bin=$2 extra=$3 lock want have=""
    shift 3
    mkdir -p "$(dirname "$bin")"
    # One build at a time: a second caller waits, then finds the binary fresh.
    exec {lock}>"$(dirname "$bin")/.build.lock"
    flock "$lock"
    want="$(source_hash "$extra" "$@")"
    [[ -f "$bin.sha256" ]] && have="$(cat "$bin.sha256")"
    if [[ -x "$bin" && "$want" == "$have" ]]; then
        exec {lock}>&-
        return 0
    fi
    log "building $(rel "$bin") (a first build takes several minutes) ..."
    local start=$SECONDS tmp="$bin.tmp.$$"
    if ! "build_$name" "$tmp"; then
        rm -f "$tmp"
        die "go build of $name failed"
    fi
    mv -f "$tmp" "$bin"
    echo "$want" >"$bin.sha256"
    exec {lock}>&-
    log "built $(rel "$bin") in $((SECONDS - start))s"
}

# The Kubernetes version of ci/testenv/go.mod, reported as an upstream release build does.
testenv_ldflags() {
    local v major minor pkg=k8s.io/component-base/version
    v="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$repo_root/ci/testenv/go.mod")"
    [[ -n "$v" ]] || die "k8s.io/kubernetes version not found in ci/testenv/go.mod"
    major="${v#v}"; major="${major%%.*}"
    minor="${v#v*.}"; minor="${minor%%.*}"
    echo "-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor" \
        "-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build_testenv() {
    (cd "$repo_root/ci/testenv" && go build -p "$jobs" -trimpath -buildvcs=false -ldflags "$(testenv_ldflags)" -o "$1" .)
}

build_renderer() {
    (cd "$repo_root/renderer" && go build -p "$jobs" -trimpath -buildvcs=false -ldflags "-s -w" -o "$1" .)
}

build_registry() {
    (cd "$repo_root/ci/registry" && go build -p "$jobs" -trimpath -buildvcs=false -ldflags "-s -w" -o "$1" .)
}

# ci/kai is built in a copy of the module (.cache/kai/<version>/build) whose go.mod replaces KAI
# with the unpacked release archive and ci/proc with its directory: the repository's files are
# never edited.
build_kai() {
    local v archive dir stage modfile sum
    v="$(kai_version)"
    archive="$repo_root/ci/kai/upstream/kai-scheduler-$v.tar.gz"
    dir="$cache/kai/$v/src/kai-scheduler-$v"
    stage="$cache/kai/$v/build"
    modfile="$(kai_modfile "$v")"
    [[ -f "$archive" ]] || die "$(rel "$archive") is missing: restore it from git"
    echo "${kai_sha256[$v]}  $archive" | sha256sum --check --status ||
        die "$(rel "$archive") does not have sha256 ${kai_sha256[$v]}: restore it from git"
    rm -rf "$cache/kai/$v/src" "$stage"
    mkdir -p "$cache/kai/$v/src" "$stage"
    tar -xzf "$archive" -C "$cache/kai/$v/src"
    [[ -f "$dir/go.mod" ]] || die "$(rel "$archive") does not hold kai-scheduler-$v/go.mod"
    grep -q "^module $kai_module\$" "$dir/go.mod" || die "$(rel "$archive") is not the module $kai_module"
    sum="${modfile%.mod}.sum"
    cp "$repo_root"/ci/kai/*.go "$stage/"
    cp "$modfile" "$stage/go.mod"
    cp "$sum" "$stage/go.sum"
    (cd "$stage" && go mod edit -replace "github.com/clearml-runai/proc=$repo_root/ci/proc" -replace "$kai_module=$dir")
    log "KAI $v from $(rel "$archive")"
    (cd "$stage" && go build -p "$jobs" -trimpath -buildvcs=false -ldflags "-s -w -X main.kaiVersion=$v" -o "$1" .)
}

build() {
    local bin
    bin="$(bin_path "$1")"
    case "$1" in
    testenv)
        build_if_changed testenv "$bin" "-trimpath -buildvcs=false $(testenv_ldflags)" \
            "$repo_root/ci/testenv" "$repo_root/ci/proc"
        ;;
    registry)
        build_if_changed registry "$bin" "-trimpath -buildvcs=false -ldflags=-s -w" "$repo_root/ci/registry"
        ;;
    renderer)
        build_if_changed renderer "$bin" "-trimpath -buildvcs=false -ldflags=-s -w" "$repo_root/renderer"
        ;;
    kai)
        local v modfile
        v="$(kai_version)"
        modfile="$(kai_modfile "$v")"
        build_if_changed kai "$bin" "-trimpath -buildvcs=false -ldflags=-s -w -X main.kaiVersion=$v ${kai_sha256[$v]}" \
            "$repo_root"/ci/kai/*.go "$modfile" "${modfile%.mod}.sum" "$repo_root/ci/proc"
        ;;
    esac
}

case "${1:-}" in
path)
    [[ $# == 2 ]] || die "usage: ci/build.sh path testenv|kai|registry|renderer"
    bin_path "$2"
    ;;
kai-version) kai_version ;;
testenv | kai | registry | renderer)
    command -v go >/dev/null || die "go is not installed"
    for b in "$@"; do
        bin_path "$b" >/dev/null
        build "$b"
    done
    ;;
*)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
