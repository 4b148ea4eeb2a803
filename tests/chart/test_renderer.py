"""clearml-runai-render (renderer/) against the pinned helm: it must print, for every release, exactly what
`helm template` prints, fail where helm fails with the same message, be built from the helm version the
project pins, and be started again when it died or hung (the operator renders every agent through it)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.emit import _prune
from clearml_runai_gen.operator.objects import ChartRenderer, RenderError, helm_message, render_chart

from sandbox.paths import ROOT, renderer

from .conftest import CHART_DIR, TOOLS_DIR, ci_namespace, ci_values_files, load_one
from .test_generator_contract import generated_plans

HELM = str(TOOLS_DIR / "helm")
# (release, namespace): the chart's own names, and names unlike them
PLACES = (("clearml-runai-team-a", "runai-team-a"), ("agent-7", "ml-prod"))


def cases() -> list[tuple[str, str, str, str]]:
    """(id, release, namespace, values YAML): every ci/ values file in its namespace, and what the generator writes."""
    found = []
    for path in ci_values_files():
        ns = ci_namespace(path)
        found.append((path.name, "clearml-runai-team-a", ns, path.read_text()))
    for i, plan in enumerate(plans()):
        for release, ns in PLACES:
            found.append((f"generated-{i}-{release}", release, ns, json.dumps(plan)))
    return found


def plans() -> list[Any]:
    """What the generator writes (its empty values left out, as render and the operator leave them), not pinned
    to a namespace."""
    found = []
    for plan in generated_plans():
        pinned = json.loads(json.dumps(_prune(plan)))
        pinned.get("runai", {}).pop("namespace", None)
        found.append(pinned)
    return found


class Raw:
    """The renderer's protocol, spoken directly: one request line in, one answer line out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [renderer(), str(CHART_DIR)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, release: str, namespace: str, values: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"release": release, "namespace": namespace, "values": values}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def raw() -> Any:
    r = Raw()
    yield r
    r.close()


def helm_template(release: str, namespace: str, values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELM, "template", release, str(CHART_DIR), "--namespace", namespace, "--values", "-"],
        input=values,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("release", "namespace", "values"), [c[1:] for c in cases()], ids=[c[0] for c in cases()])
def test_renderer_prints_byte_for_byte_what_helm_template_prints(
    raw: Raw, release: str, namespace: str, values: str
) -> None:
    helm = helm_template(release, namespace, values)
    assert helm.returncode == 0, helm.stderr
    answer = raw.ask(release, namespace, values)
    assert answer.get("manifest") == helm.stdout, answer.get("error")


BROKEN = {  # values helm refuses, each for another reason
    "a value the schema does not name": {"runai": {"project": "team-a"}, "unknown": 1},
    "no project": {"runai": {"scheduler": "runai-scheduler"}},
    "values of another namespace": {"runai": {"project": "team-a", "namespace": "runai-other"}},
    "not a map": ["a", "list"],
}


@pytest.mark.parametrize("values", list(BROKEN.values()), ids=list(BROKEN))
def test_renderer_refuses_what_helm_refuses_with_its_message(raw: Raw, values: Any) -> None:
    helm = helm_template("clearml-runai-team-a", "runai-team-a", json.dumps(values))
    assert helm.returncode != 0
    answer = raw.ask("clearml-runai-team-a", "runai-team-a", json.dumps(values))
    assert "manifest" not in answer
    assert helm_message(answer["error"]) == helm_message(helm.stderr)
    assert "--debug" not in helm_message(helm.stderr) and not helm_message(helm.stderr).startswith("Error")


def test_a_charts_own_message_reaches_the_status_without_helms_wrapping() -> None:
    """A value the chart's templates refuse: the one line is the chart's message (helm's last stderr line is
    its `--debug` hint, which told a person nothing)."""
    values = json.loads(json.dumps(plans()[0]))
    values["runai"]["namespace"] = "runai-other"
    for render in (ChartRenderer(renderer()), lambda r, n, v: render_chart(r, n, v, helm=HELM)):
        with pytest.raises(RenderError) as caught:
            render("clearml-runai-team-a", "runai-team-a", values)
        message = str(caught.value)
        assert 'these values are for namespace "runai-other", not "runai-team-a"' in message, message
        assert "--debug" not in message and "execution error" not in message, message


def test_the_operators_two_ways_give_the_same_objects() -> None:
    """What the operator applies does not depend on whether the image's renderer or a helm binary rendered it."""
    rendering = ChartRenderer(renderer())
    try:
        for i, plan in enumerate(plans()):
            release, ns = PLACES[i % 2]
            assert rendering(release, ns, plan) == render_chart(release, ns, plan, helm=HELM)
    finally:
        rendering.close()


def test_the_renderer_is_built_from_the_helm_version_the_project_pins() -> None:
    gomod = (ROOT / "renderer" / "go.mod").read_text()
    pinned = re.search(r"\bhelm\.sh/helm/v4 (v\S+)", gomod)
    assert pinned, gomod
    helm = subprocess.run([HELM, "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True)
    assert helm.stdout.strip() == pinned.group(1)


def test_a_renderer_that_died_is_started_again() -> None:
    rendering = ChartRenderer(renderer())
    values = load_one((CHART_DIR / "ci" / ci_values_files()[0].name).read_text())
    ns = ci_namespace(ci_values_files()[0])
    try:
        first = rendering("clearml-runai-team-a", ns, values)
        assert rendering._proc is not None
        rendering._proc.kill()
        rendering._proc.wait()
        assert rendering("clearml-runai-team-a", ns, values) == first
    finally:
        rendering.close()


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "clearml-runai-render"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_hung_renderer_is_one_line_in_time_and_replaced(tmp_path: Path) -> None:
    rendering = ChartRenderer(_script(tmp_path, "exec sleep 60"), timeout=1)
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"did not answer for clearml-runai-team-a within 1 s$"):
        rendering("clearml-runai-team-a", "runai-team-a", {"runai": {"project": "team-a"}})
    assert time.monotonic() - started < 5
    assert rendering._proc is None  # the next render starts a new one


def test_a_renderer_that_cannot_start_says_why(tmp_path: Path) -> None:
    rendering = ChartRenderer(_script(tmp_path, "echo 'cannot load the chart /x: no Chart.yaml' >&2; exit 1"))
    with pytest.raises(RenderError) as caught:
        rendering("clearml-runai-team-a", "runai-team-a", {"runai": {"project": "team-a"}})
    assert str(caught.value).endswith(": cannot load the chart /x: no Chart.yaml"), caught.value
    assert "\n" not in str(caught.value)


def test_a_renderer_printing_what_is_no_answer_is_replaced(tmp_path: Path) -> None:
    rendering = ChartRenderer(_script(tmp_path, "read line; echo 'panic: something'; sleep 60"))
    with pytest.raises(RenderError, match="printed what is not an answer"):
        rendering("clearml-runai-team-a", "runai-team-a", {"runai": {"project": "team-a"}})
    assert rendering._proc is None  # out of step: its next answer could be another request's
