"""The generator-written ci/ values files are the generator's current output for their fixture installs."""

from __future__ import annotations

import pytest

from sandbox.corpus.cases import SECRETS

from .ci_values import GENERATED, Generated, expected_text
from .conftest import load_one

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("generated", GENERATED, ids=lambda g: g.name)
def test_generated_ci_values_are_current(generated: Generated) -> None:
    assert generated.path.is_file(), f"{generated.name} is missing: run .venv/bin/python -m tests.chart.ci_values"
    assert generated.path.read_text() == expected_text(generated), (
        f"{generated.name} is stale (the generator or its fixture changed): "
        "run .venv/bin/python -m tests.chart.ci_values and review the diff"
    )


@pytest.mark.parametrize("generated", GENERATED, ids=lambda g: g.name)
def test_generated_ci_values_hold_the_agent_credentials_of_the_install_only(generated: Generated) -> None:
    text = generated.path.read_text()
    clearml = load_one(text)["clearml"]
    assert (clearml["accessKey"], clearml["secretKey"]) == (SECRETS["agent-access"], SECRETS["agent-secret"])
    assert SECRETS["server-session"] not in text
