#!/usr/bin/env bash
# The CNCF distribution registry for the tests, built from its Go module (ci/registry) into
# .cache/registry/bin/registry by ci/build.sh, only when its sources or the Go version change.
#
# usage: ci/registry.sh build|path
#
# The tests start it themselves, on a free 127.0.0.1 port, and always stop it
# (sandbox/registry.py).
set -euo pipefail

build="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build.sh"

case "${1:-}" in
build) "$build" registry ;;
path) "$build" path registry ;;
*)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
