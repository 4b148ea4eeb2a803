"""The sandbox stands on its own: the demo, the benchmarks and the sandbox itself import nothing from tests/."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from sandbox.names import names, unique
from sandbox.paths import ROOT


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_nothing_under_ci_benchmarks_or_the_sandbox_imports_from_tests() -> None:
    sources = [p for d in ("ci", "benchmarks", "sandbox") for p in sorted((ROOT / d).rglob("*.py"))]
    assert any(p.name == "demo.py" for p in sources) and any(p.name == "run.py" for p in sources)
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imports_of(p) if m == "tests" or m.startswith("tests."))
        for p in sources
    }
    assert {p: m for p, m in offenders.items() if m} == {}


def test_a_projects_names_are_the_ones_the_tool_derives() -> None:
    from clearml_runai_gen.models import ProjectOptions

    made = names("team-a")
    assert (made.namespace, made.release, made.queue) == ("runai-team-a", "clearml-runai-team-a", "runai-team-a")
    assert ProjectOptions.build("team-a").namespace == made.namespace


def test_unique_names_differ_and_keep_their_prefix() -> None:
    many = {unique("p") for _ in range(50)}
    assert len(many) == 50 and all(n.startswith("p-") and len(n) == 8 for n in many)


def test_chart_tests_fail_not_skip_when_a_pinned_tool_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "CLEARML_RUNAI_TOOLS_DIR": str(tmp_path)}
    (tmp_path / "helm").write_text("")  # one tool in place is not enough: helm3 and kubectl are missing
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/chart/test_chart_metadata.py"]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "skipped" not in out and "passed" not in out, out
    assert f"chart tests: helm3, kubectl missing from {tmp_path}: run `make tools` (ci/tools.sh)" in out
