"""render's Pod Security warning reads the pods the chart will make from the values alone (no helm at render
time): here the pods it models are held to the pods helm really renders, for every ci/ values file, at both
levels a hardened namespace enforces."""

from __future__ import annotations

from pathlib import Path

import pytest
from clearml_runai_gen.podsecurity import chart_defaults, merged_values, pods_from_values, violations

from .conftest import CI_DIR, Helm, ci_namespace, load_one

pytestmark = pytest.mark.chart


def checks(spec: dict, level: str) -> list[str]:
    return [v.split(" (")[0] for v in violations(spec, level)]


@pytest.mark.parametrize("path", sorted(CI_DIR.glob("*-values.yaml")), ids=lambda p: p.name)
def test_the_modelled_pods_meet_the_levels_as_the_rendered_ones_do(helm4: Helm, path: Path) -> None:
    rendered = helm4.template(files=[path], namespace=ci_namespace(path))
    modelled = pods_from_values(merged_values(chart_defaults(), load_one(path.read_text())))
    for level in ("baseline", "restricted"):
        assert checks(modelled["agent"], level) == checks(rendered.pod_spec, level), (path.name, level, "agent")
        assert checks(modelled["task pods"], level) == checks(rendered.task_pod_spec, level), (path.name, level)


def test_the_chart_defaults_meet_baseline_not_restricted(helm4: Helm) -> None:
    rendered = helm4.template(files=[CI_DIR / "handwritten-values.yaml"])
    assert checks(rendered.pod_spec, "baseline") == [] and checks(rendered.task_pod_spec, "baseline") == []
    assert "runAsNonRoot != true" in checks(rendered.pod_spec, "restricted")
    hardened = helm4.template(
        files=[CI_DIR / "hardened-values.yaml"], namespace=ci_namespace(CI_DIR / "hardened-values.yaml")
    )
    assert violations(hardened.pod_spec, "restricted") == [] and violations(hardened.task_pod_spec, "restricted") == []
