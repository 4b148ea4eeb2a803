"""Values as commented, deterministic YAML (ruamel.yaml), and atomic file writes."""

from __future__ import annotations

import io
import os
import re
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError
from .models import Plan

# comments on the sections and keys a reader looks for first; the chart's values.yaml documents every key
COMMENTS: dict[str, str] = {
    "runai": "Run:ai project the agent serves; task pods are scheduled by this scheduler in this namespace",
    "runai.namespace": "the release must be installed in this namespace (helm install -n ...)",
    "clearml": "ClearML server, by full service name, and the agent's own credentials (keep this file private)",
    "agent": "the agent Deployment",
    "agent.queues": "ClearML queues this agent serves",
    "agent.workerId": "ClearML worker id of this agent (unique per project)",
    "agent.noSelfUpdate": "do not pip-upgrade the agent at every start (CLEARML_AGENT_NO_UPDATE)",
    "taskPod": "the template of every task pod (the chart adds scheduler, project labels, hosts and credentials)",
    "origin": "what these values were rendered from and with; `clearml-runai-gen diff` renders again with it",
}


# strings that YAML 1.1 (helm's parser) reads as something else, though YAML 1.2 (ours) does not
_YAML11_NON_STRINGS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL"
    r"|[-+]?(?:0b[01_]+|0[0-7_]+|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|\.(?:inf|Inf|INF|nan|NaN|NAN)))$"
)


def _to_commented(value: Any, path: str = "") -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    if isinstance(value, dict):
        cm = CommentedMap()
        for key, item in value.items():
            cm[key] = _to_commented(item, f"{path}.{key}" if path else str(key))
            comment = COMMENTS.get(f"{path}.{key}" if path else str(key))
            if comment:
                cm.yaml_set_comment_before_after_key(
                    key, before=comment, indent=2 * path.count(".") + (2 if path else 0)
                )
        return cm
    if isinstance(value, list):
        return CommentedSeq(_to_commented(v, path) for v in value)
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, str) and _YAML11_NON_STRINGS.match(value):
        return DoubleQuotedScalarString(value)
    return value


def header(plan: Plan) -> str:
    o, i = plan.options, plan.install
    prose = [
        f"Values of release {o.release} (chart clearml-runai-agent), rendered by clearml-runai-gen {__version__}.",
        f"Source: ClearML agent {i.description}, template ConfigMap {i.namespace}/{i.template_configmap},"
        f" credentials from {i.credentials.source}.",
        "Holds the agent's ClearML credentials: keep it private (mode 0600).",
    ]
    lines = [
        part
        for line in prose
        for part in textwrap.wrap(
            line, width=100, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
        )
    ]
    # the command stays on one line, so it can be copied
    lines += ["Install with:", f"  helm install {o.release} charts/clearml-runai-agent -n {o.namespace} -f <this file>"]
    return "\n".join(lines)


def _prune(value: Any) -> Any:
    """Leave out empty values: the chart's defaults stand for them, and the file stays readable."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", {}, [], None)}
    return value


def dump_yaml(data: Any, start_comment: str = "") -> str:
    """Data as deterministic YAML that helm's YAML 1.1 parser reads back the same."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    commented = _to_commented(data)
    if start_comment:
        commented.yaml_set_start_comment(start_comment)
    buf = io.StringIO()
    yaml.dump(commented, buf)
    return buf.getvalue()


def render_values(plan: Plan) -> str:
    return dump_yaml(_prune(plan.values), header(plan))


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to `path` all at once: a reader sees the old file or the new one, never half of it."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
