#!/usr/bin/env bash
# The real CRDs of Argo CD and Flux, for the tests that have the local API server check the
# Application, HelmRelease, OCIRepository and HelmRepository objects `render --format` writes.
# They come through the Go module proxy into .cache/crds (never committed); idempotent.
#
#   Argo CD Application        module github.com/argoproj/argo-cd/v3, manifests/crds
#   Flux source objects        module github.com/fluxcd/source-controller, config/crd/bases
#   Flux HelmRelease           generated, as upstream does, by controller-gen from the API types
#                              of module github.com/fluxcd/helm-controller/api (the controller's
#                              own module, which carries the CRD file, is not served)
#
# usage: ci/gitops-crds.sh        prints the directory holding the CRD files
set -euo pipefail

ARGOCD=v3.6.1
SOURCE_CONTROLLER=v1.10.1
HELM_CONTROLLER_API=v1.7.1
CONTROLLER_GEN=v0.21.0       # the version these Flux releases generate their CRDs with
GO_FOR_FLUX=go1.27.3         # helm-controller/api's go.mod asks for Go 1.27; the proxy serves it

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo_root/.cache/crds"
stamp="$out/.versions"
want="argo-cd $ARGOCD, source-controller $SOURCE_CONTROLLER, helm-controller/api $HELM_CONTROLLER_API, controller-gen $CONTROLLER_GEN"

log() { echo "gitops-crds.sh: $*" >&2; }

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$out"
    exit 0
fi
command -v go >/dev/null || { log "error: go is not installed"; exit 1; }
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The zip of a module, checked against the checksum database by `go mod download`. A module whose
# go.mod asks for a newer Go than the local one is still downloaded (go reports it, and the zip is
# there), which is all that is needed of it here.
module_zip() {
    local json
    json="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$1" 2>/dev/null || true)"
    python3 -c 'import json, sys; print(json.loads(sys.stdin.read()).get("Zip", ""))' <<<"$json"
}

# extract MODULE@VERSION PATH... into DEST (flat)
extract() {
    local module="$1" dest="$2" zip
    shift 2
    zip="$(module_zip "$module")"
    [[ -f "$zip" ]] || { log "error: could not download $module through the Go module proxy"; exit 1; }
    python3 - "$zip" "$module" "$dest" "$@" <<'PY'
import sys, zipfile
from pathlib import Path
archive, module, dest, *members = sys.argv[1:]
with zipfile.ZipFile(archive) as z:
    for member in members:
        data = z.read(f"{module}/{member}")
        target = Path(dest) / Path(member).name
        target.write_bytes(data)
PY
}

log "getting the CRDs of Argo CD $ARGOCD and Flux source-controller $SOURCE_CONTROLLER ..."
extract "github.com/argoproj/argo-cd/v3@$ARGOCD" "$work" manifests/crds/application-crd.yaml
extract "github.com/fluxcd/source-controller@$SOURCE_CONTROLLER" "$work" \
    config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml \
    config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml

log "generating the HelmRelease CRD of helm-controller $HELM_CONTROLLER_API with controller-gen $CONTROLLER_GEN ..."
gobin="$repo_root/.cache/crds/bin"
if [[ ! -x "$gobin/controller-gen" || "$(cat "$gobin/controller-gen.version" 2>/dev/null)" != "$CONTROLLER_GEN" ]]; then
    (cd "$work" && GOBIN="$gobin" GOFLAGS=-mod=mod go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN")
    echo "$CONTROLLER_GEN" >"$gobin/controller-gen.version"
fi
api_zip="$(module_zip "github.com/fluxcd/helm-controller/api@$HELM_CONTROLLER_API")"
[[ -f "$api_zip" ]] || { log "error: could not download helm-controller/api $HELM_CONTROLLER_API"; exit 1; }
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$api_zip" "$work/api"
api_dir="$work/api/github.com/fluxcd/helm-controller/api@$HELM_CONTROLLER_API"
chmod -R u+w "$api_dir"
# the same options as upstream's `make manifests`
(cd "$api_dir" && GOTOOLCHAIN="$GO_FOR_FLUX" GOFLAGS=-mod=mod "$gobin/controller-gen" \
    crd:crdVersions=v1 paths=./... output:crd:artifacts:config="$work")

for f in application-crd.yaml source.toolkit.fluxcd.io_ocirepositories.yaml \
    source.toolkit.fluxcd.io_helmrepositories.yaml helm.toolkit.fluxcd.io_helmreleases.yaml; do
    [[ -s "$work/$f" ]] || { log "error: $f is missing"; exit 1; }
    mv -f "$work/$f" "$out/$f"
done
echo "$want" >"$stamp"
echo "$out"
