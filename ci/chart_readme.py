#!/usr/bin/env python3
"""Generate the chart's README.md from Chart.yaml and the `# --` comments of values.yaml.

    python ci/chart_readme.py           write charts/clearml-runai-agent/README.md
    python ci/chart_readme.py --check   exit 1, with a diff, when README.md is not what it would write

As helm-docs does: a `# --` comment right above a key documents that key, its next comment lines
continue it, and `# -- (required) ...` marks a value an install must set. A documented key is one row
of the Values table (Key | Type | Default | Description), a map included; an undocumented map is
walked into. An undocumented leaf is an error. The page is the jinja2 template README.md.j2 beside
Chart.yaml, given the chart's metadata and those rows.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

ROOT = Path(__file__).resolve().parents[1]
CHART_DIR = ROOT / "charts" / "clearml-runai-agent"
DOC_MARK = "# --"
REQUIRED = "(required)"


class UndocumentedValue(Exception):
    """A value of values.yaml has no `# --` comment."""


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str
    required: bool


def value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string" if value is None else type(value).__name__


def plain(value: Any) -> Any:
    """ruamel's round-trip types as plain JSON data."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def doc_comment(lines: list[str], key_line: int) -> str | None:
    """The `# --` comment of the key on line `key_line` (0-based): the comment lines right above it,
    from the last one that starts with `# --`. None when there is none."""
    block: list[str] = []
    index = key_line - 1
    while index >= 0 and lines[index].strip().startswith("#"):
        block.insert(0, lines[index].strip())
        index -= 1
    starts = [i for i, line in enumerate(block) if line.startswith(DOC_MARK)]
    if not starts:
        return None
    first, *rest = block[starts[-1] :]
    words = [first[len(DOC_MARK) :].strip(), *(line.lstrip("#").strip() for line in rest)]
    return " ".join(word for word in words if word)


def rows(node: CommentedMap, lines: list[str], prefix: str = "") -> list[Row]:
    out: list[Row] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        description = doc_comment(lines, node.lc.key(key)[0])
        if description is None:
            if isinstance(value, CommentedMap) and value:
                out.extend(rows(value, lines, f"{path}."))
                continue
            raise UndocumentedValue(f"values.yaml: {path} has no `{DOC_MARK}` comment")
        required = description.startswith(REQUIRED)
        if required:
            description = description[len(REQUIRED) :].strip()
        data = plain(value)
        out.append(Row(path, value_type(data), json.dumps(data, separators=(",", ":")), description, required))
    return out


def cell(text: str) -> str:
    """Text for a Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def render(chart_dir: Path = CHART_DIR) -> str:
    yaml = YAML()  # round-trip: keeps the order of keys and their line numbers
    chart = plain(yaml.load((chart_dir / "Chart.yaml").read_text()))
    values_text = (chart_dir / "values.yaml").read_text()
    table = rows(yaml.load(values_text), values_text.splitlines())
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(chart_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cell"] = cell
    return env.get_template("README.md.j2").render(chart=chart, values=table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when README.md is stale instead of writing it")
    parser.add_argument("--chart", type=Path, default=CHART_DIR, help="chart directory [default: %(default)s]")
    args = parser.parse_args(argv)
    readme = args.chart / "README.md"
    try:
        text = render(args.chart)
    except UndocumentedValue as error:
        print(f"chart_readme: {error}", file=sys.stderr)
        return 1
    if not args.check:
        readme.write_text(text)
        return 0
    current = readme.read_text() if readme.is_file() else ""
    if current == text:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True), text.splitlines(keepends=True), "README.md", "README.md (generated)"
    )
    sys.stderr.writelines(diff)
    print("chart_readme: README.md is stale: run python ci/chart_readme.py", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
