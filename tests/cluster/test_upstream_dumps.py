"""Dumps of real upstream installs read alike by every YAML engine, as YAML and as JSON, byte for byte.

clearml 3.10.5 and clearml-agent 5.3.2 are installed from the vendored archives with real helm (their
quirks: no elasticsearch/mongodb/redis subcharts, --no-hooks, the agent chart's kubeVersion cap lifted
in an unpacked copy) and dumped with the README's command, then rendered with libyaml, with ruamel.yaml's
own Python parser, from the JSON dump, and with the loader the tool used before (ruamel.yaml's pure safe
loader): the values must be the same text.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from clearml_runai_gen import parse, source
from clearml_runai_gen.api import render_one
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.source import DUMP_KINDS, FileSource
from ruamel.yaml import YAML

from sandbox.corpus.cases import ARCHIVES

from .conftest import Kube, unique

pytestmark = pytest.mark.cluster

UPSTREAM = ARCHIVES
INSTALLS = {
    "clearml-3.10.5": ["--set", "elasticsearch.enabled=false,mongodb.enabled=false,redis.enabled=false"],
    "clearml-agent-5.3.2": [],
}


def _chart(archive: str, where: Path) -> Path:
    with tarfile.open(UPSTREAM / f"{archive}.tgz") as tar:
        tar.extractall(where, filter="data")
    chart = next(p.parent for p in where.glob("*/Chart.yaml"))
    meta = chart / "Chart.yaml"  # the clearml-agent charts cap kubeVersion below the local control plane's
    meta.write_text("".join(line for line in meta.read_text().splitlines(True) if not line.startswith("kubeVersion:")))
    return chart


@pytest.fixture(scope="module", params=sorted(INSTALLS))
def dumped(request: pytest.FixtureRequest, kube: Kube, tmp_path_factory: pytest.TempPathFactory):
    archive = request.param
    ns = unique("up")
    chart = _chart(archive, tmp_path_factory.mktemp(archive))
    kube.create_namespace(ns)
    kube.helm(
        "v4",
        "install",
        "clearml" if archive.startswith("clearml-3") else "agent",
        str(chart),
        "-n",
        ns,
        "--no-hooks",
        *INSTALLS[archive],
    )
    texts = {fmt: kube.kubectl("get", DUMP_KINDS, "-n", ns, "-o", fmt).stdout for fmt in ("yaml", "json")}
    yield archive, texts
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _values(text: str, monkeypatch: pytest.MonkeyPatch, engine: str | None = None, old: bool = False) -> str:
    with monkeypatch.context() as m:
        if engine is not None:
            m.setattr(parse, "_plan", lambda t: (engine, parse._depth_bound(t)))
        if old:  # what the tool read dumps with before: ruamel.yaml's pure-Python safe loader
            m.setattr(source, "_load_documents", lambda t, o: [d for d in YAML(typ="safe", pure=True).load_all(t) if d])
        src = FileSource(text, "dump")
        return render_one(read_install(src), ProjectOptions.build("team-a")).text


def test_a_real_dump_takes_the_fast_path_and_renders_the_same_values_every_way(
    dumped: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, texts = dumped
    assert parse.choose_engine(texts["yaml"]) == "c"
    assert "helm.sh/release.v1" in texts["yaml"]  # helm's release Secret is in the dump ...
    src = FileSource(texts["yaml"], "dump")
    assert not [s for s in src.objects("Secret") if s.get("type") == "helm.sh/release.v1"]  # ... and dropped
    reference = _values(texts["yaml"], monkeypatch, old=True)
    assert "accessKey:" in reference and "project: team-a" in reference
    assert _values(texts["yaml"], monkeypatch, "c") == reference
    assert _values(texts["yaml"], monkeypatch, "python") == reference
    assert _values(texts["json"], monkeypatch) == reference
    # the two dumps are two reads: controllers may update an object's status between them
    assert _settled(parse.load_stream(texts["yaml"], "d", "h")) == _settled(parse.load_stream(texts["json"], "d", "h"))


def _settled(docs: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    """The objects of a List without what controllers change while the install settles."""
    out = []
    for item in docs[0]["items"]:
        meta = {k: v for k, v in item["metadata"].items() if k not in ("resourceVersion", "managedFields")}
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("deployment.")}
        out.append(
            {**{k: v for k, v in item.items() if k != "status"}, "metadata": {**meta, "annotations": annotations}}
        )
    return out
