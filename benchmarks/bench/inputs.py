"""What the tool reads: the fixture install of the seed's era, and dumps of real upstream installs.

The real installs are the vendored upstream charts, installed with helm on the local control plane and
dumped with the README's command (`kubectl get deploy,configmap,secret,service,serviceaccount -n NS -o yaml`,
and `-o json`);
the dumps are kept under .cache/bench/dumps, so that an `--offline` run measures them too.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import Cluster
from .config import CHART_VERSION, CLI, DUMP_KINDS, DUMPS, RELEASE, SRC_NS, UPSTREAM, UPSTREAMS, Upstream
from .timing import BenchError, log, run


@dataclass
class Fixture:
    objects_dir: Path  # one JSON file per object, as `kubectl get KIND NAME -ojson` prints it
    dump_json: Path  # the same objects as one List, `kubectl get ... -o json`
    dump_yaml: Path  # and as `kubectl get ... -o yaml`
    big_json: Path  # plus three synthetic helm release Secrets
    big_yaml: Path
    values: Path  # values rendered for project p (the helm section)


@dataclass
class RealDump:
    upstream: Upstream
    yaml: Path
    json: Path
    seed_dir: Path | None  # the seed's five objects, one `kubectl get KIND NAME -ojson` each

    @property
    def label(self) -> str:
        return self.upstream.label

    def kb(self, fmt: str) -> str:
        return f"{(self.yaml if fmt == 'yaml' else self.json).stat().st_size / 1024:.0f} KB"


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def make_fixture(work: Path) -> Fixture:
    from sandbox.fixtures.installs import as_served, dump, flavour_a

    objs = as_served(flavour_a(RELEASE, SRC_NS, CHART_VERSION), SRC_NS, RELEASE)
    objects_dir = work / "objects"
    objects_dir.mkdir()
    for o in objs:
        (objects_dir / f"{o['kind'].lower()}-{o['metadata']['name']}.json").write_text(json.dumps(o, indent=4) + "\n")
    f = Fixture(
        objects_dir,
        work / "install.json",
        work / "install.yaml",
        work / "namespace.json",
        work / "namespace.yaml",
        work / "p.values.yaml",
    )
    f.dump_json.write_text(dump(objs, "json"))
    f.dump_yaml.write_text(dump(objs, "yaml"))
    rng = random.Random(7)
    big = list(objs)
    for rev in (1, 2, 3):  # one release Secret per kept revision: the gzipped chart and manifest, base64 twice
        payload = base64.b64encode(base64.b64encode(rng.randbytes(110_000))).decode()
        meta = {"name": f"sh.helm.release.v1.{RELEASE}.v{rev}", "namespace": SRC_NS, "labels": {"owner": "helm"}}
        big.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "helm.sh/release.v1",
                "metadata": meta,
                "data": {"release": payload},
            }
        )
    f.big_json.write_text(dump(big, "json"))
    f.big_yaml.write_text(dump(big, "yaml"))
    run([CLI, "render", "--project", "p", "--from-file", f.dump_json, "-o", f.values], what="render")
    return f


def _unpacked(upstream: Upstream, work: Path) -> Path:
    """The chart, unpacked; the clearml-agent charts' kubeVersion cap lifted (the control plane is newer)."""
    target = work / "charts" / upstream.archive.removesuffix(".tgz")
    with tarfile.open(UPSTREAM / upstream.archive) as tar:
        tar.extractall(target, filter="data")
    chart = next(p.parent for p in target.glob("*/Chart.yaml"))
    if upstream.lift_kube_version:
        meta = chart / "Chart.yaml"
        meta.write_text(
            "".join(line for line in meta.read_text().splitlines(True) if not line.startswith("kubeVersion:"))
        )
    return chart


def install_upstream(cluster: Cluster, upstream: Upstream, work: Path) -> None:
    cluster.namespace(upstream.namespace)
    sets = [a for s in upstream.sets for a in ("--set", s)]
    chart = _unpacked(upstream, work)
    cluster.helm("install", upstream.release, chart, "-n", upstream.namespace, "--no-hooks", *sets)


def dump_upstream(cluster: Cluster, upstream: Upstream) -> RealDump:
    """The README's dump of the install, as YAML and as JSON, and the seed's objects."""
    where = DUMPS / upstream.archive.removesuffix(".tgz")
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    for fmt in ("yaml", "json"):
        out = cluster.kubectl("get", DUMP_KINDS, "-n", upstream.namespace, "-o", fmt)
        (where / f"dump.{fmt}").write_bytes(out)
    seed_dir = None
    if upstream.seed:
        seed_dir = where / "objects"
        seed_dir.mkdir()
        for kind, name in upstream.seed_objects:
            out = cluster.kubectl("get", kind, "-n", upstream.namespace, name, "-ojson")
            (seed_dir / f"{kind}-{name}.json").write_bytes(out)
    return RealDump(upstream, where / "dump.yaml", where / "dump.json", seed_dir)


def cached_dumps() -> list[RealDump]:
    """The dumps an earlier run with the control plane left, for an --offline run."""
    out = []
    for upstream in UPSTREAMS:
        where = DUMPS / upstream.archive.removesuffix(".tgz")
        if (where / "dump.yaml").is_file() and (where / "dump.json").is_file():
            seed_dir = where / "objects" if upstream.seed and (where / "objects").is_dir() else None
            out.append(RealDump(upstream, where / "dump.yaml", where / "dump.json", seed_dir))
    return out


def real_dumps(cluster: Cluster | None, work: Path) -> list[RealDump]:
    if cluster is None:
        dumps = cached_dumps()
        if not dumps:
            log("no dumps of real installs yet (a run with the control plane makes them): measuring the fixture only")
        return dumps
    out = []
    for upstream in UPSTREAMS:
        log(f"installing {upstream.label} (helm, --no-hooks) into namespace {upstream.namespace} and dumping it")
        try:
            install_upstream(cluster, upstream, work)
        except BenchError as exc:
            raise BenchError(f"installing {upstream.label}: {exc}") from None
        out.append(dump_upstream(cluster, upstream))
    return out
