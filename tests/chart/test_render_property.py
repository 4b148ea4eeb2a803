"""A property: whatever render writes for a generated source passes the chart's schema and `helm template`
with helm v4 and v3, and the task pods get the selector and labels the source meant; what render cannot
write it refuses in one line, writing nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from clearml_runai_gen import chart
from clearml_runai_gen.objects import deep_merge
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import as_served, dump, flavour_a
from sandbox.names import names
from tests.conftest import gen

from .conftest import Helm, load_one

pytestmark = pytest.mark.chart

# words YAML 1.1 reads as booleans, nulls or numbers, label-like words, and words no label takes
TRICKY = ["on", "off", "y", "n", "yes", "no", "true", "false", "null", "1", "0x1f", "1e3", "1.5", "2024-01-01"]
KEYS = st.sampled_from([*TRICKY, "zone", "gpu-type", "kubernetes.io/arch", "node.example.com/pool"])
VALUES = st.sampled_from([*TRICKY[:10], "1.5", "", "spot", "zone-a"])
ENV_VALUES = st.sampled_from(["", "s3://bucket/out", "http://clearml-apiserver:8008", "yes", "0123", "a b"])
# what no chart or API server takes, drawn into one example in ten: render must refuse it in one line
BAD = {
    "label key": ("labels", "-bad"),
    "selector value": ("nodeSelector", "x" * 64),
    "max pods": ("max_pods", -1),
    "queue": ("queues", "a b"),
    "project": ("project", "p" * 40),
}
ACCESS, SECRET = "AKprop0x5Z", "SK-prop-3c1d-secret"


@st.composite
def sources(draw: st.DrawFn) -> dict[str, Any]:
    bad = draw(st.sampled_from(sorted(BAD))) if draw(st.integers(0, 9)) == 0 else ""
    template = {
        "apiVersion": "v1",
        "metadata": {"labels": draw(st.dictionaries(KEYS, VALUES, max_size=3))},
        "spec": {
            "nodeSelector": draw(st.dictionaries(KEYS, VALUES, max_size=4)),
            "containers": [
                {"env": [{"name": f"V{i}", "value": v} for i, v in enumerate(draw(st.lists(ENV_VALUES, max_size=3)))]}
            ],
        },
    }
    case = {
        "template": template,
        "max_pods": draw(st.integers(0, 20)),
        "project": draw(st.from_regex(r"\A[a-z]([-a-z0-9]{0,37}[a-z0-9])?\Z")),
        "queues": draw(st.lists(st.sampled_from(["gpu", "cpu", "on", "1", "y"]), max_size=3, unique=True)),
        "gpu_fraction": draw(st.sampled_from(["", "1", "1.0", "0.5"])),
    }
    if bad:
        where, value = BAD[bad]
        if where in ("labels", "nodeSelector"):
            meta = template["metadata"] if where == "labels" else template["spec"]
            meta[where] = {**meta[where], **({value: "a"} if where == "labels" else {"zone": value})}
        elif where == "queues":
            case["queues"] = [value]
        else:
            case[where] = value
    return case


def _write_source(case: dict[str, Any], path: Path) -> None:
    objects = flavour_a(access_key=ACCESS, secret_key=SECRET, max_pods=case["max_pods"])
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap"]
    cm["data"]["template.yaml"] = json.dumps(case["template"])  # JSON is YAML: no quoting question here
    path.write_text(dump(as_served(objects, "clearml", "clearml")))


# bounded: each example runs the CLI and helm; a failure is reported as found (shrinking it would run helm for minutes)
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=sources())
def test_whatever_render_writes_helm_installs_as_the_source_meant(helm: Helm, tmp_path: Path, case: Any) -> None:
    work = tmp_path / f"case-{abs(hash(json.dumps(case, sort_keys=True)))}"
    work.mkdir(exist_ok=True)
    src, out = work / "clearml.yaml", work / "values.yaml"
    _write_source(case, src)
    args = ["render", "--project", case["project"], "--from-file", str(src), "-o", str(out)]
    args += [a for q in case["queues"] for a in ("--queue", q)]
    args += ["--gpu-fraction", case["gpu_fraction"]] if case["gpu_fraction"] else []
    code, stdout, stderr = gen(args)
    assert ACCESS not in stderr and SECRET not in stderr and stdout == ""
    event("refused" if code else "rendered")
    if code != 0:
        event(stderr.split(":")[1][:60])
        assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
        assert not out.exists()
        return
    written = load_one(out.read_text())
    jsonschema.validate(deep_merge(chart.defaults(), written), chart.schema())
    release, namespace = names(case['project']).release, names(case['project']).namespace
    rendered = helm.template(files=[out], release=release, namespace=namespace)
    spec = case["template"]["spec"]
    assert rendered.task_pod_spec.get("nodeSelector", {}) == spec["nodeSelector"]
    labels = rendered.task_template["metadata"].get("labels") or {}
    assert {k: labels.get(k) for k in case["template"]["metadata"]["labels"]} == case["template"]["metadata"]["labels"]
    env = {e["name"]: e.get("value", "") for e in rendered.task_env}
    assert all(env[e["name"]] == e["value"] for e in spec["containers"][0]["env"] if "://" not in e["value"])
