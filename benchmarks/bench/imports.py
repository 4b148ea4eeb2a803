"""`python -X importtime` of the tool's entry point: what each path imports, and what it costs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass

from .config import PY
from .timing import BenchError


@dataclass
class ImportLine:
    self_us: int
    cum_us: int
    depth: int
    name: str


IMPORT_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


@dataclass
class ImportRun:
    lines: list[ImportLine]
    modules: set[str]  # sys.modules at exit: what was really imported (importtime also lists failed tries)


def importtime(argv: list[str] | None, env: dict[str, str] | None = None) -> ImportRun:
    """`python -X importtime` of main(argv) (None: of an empty program)."""
    code = "import sys, json\nrc = 0\ntry:\n"
    code += f"    from clearml_runai_gen.cli import main\n    rc = main({json.dumps(argv)})\n" if argv else "    pass\n"
    code += "finally:\n    sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\nsys.exit(rc)\n"
    p = subprocess.run(
        [str(PY), "-X", "importtime", "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    lines, modules = [], set()
    for line in p.stderr.decode(errors="replace").splitlines():
        m = IMPORT_RE.match(line)
        if m:
            lines.append(ImportLine(int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
        elif line.startswith("MODULES "):
            modules = set(json.loads(line.removeprefix("MODULES ")))
    if p.returncode != 0:
        raise BenchError(f"python -X importtime of main({argv}) failed (exit {p.returncode})")
    return ImportRun([x for x in lines if x.name in modules], modules)


def import_total_ms(run_: ImportRun) -> float:
    return sum(line.cum_us for line in run_.lines if line.depth == 0) / 1000


def import_chain(lines: list[ImportLine], index: int) -> list[str]:
    """Who imported lines[index]: importtime prints children before their parent, one level less deep."""
    chain = [lines[index].name]
    depth = lines[index].depth
    for line in lines[index + 1 :]:
        if line.depth < depth:
            chain.append(line.name)
            depth = line.depth
            if depth == 0:
                break
    return list(reversed(chain))


def _parent(lines: list[ImportLine], index: int) -> ImportLine | None:
    depth = lines[index].depth
    return next((x for x in lines[index + 1 :] if x.depth < depth), None) if depth else None


def children(lines: list[ImportLine], name: str) -> list[tuple[str, float]]:
    """Direct imports made by the (first) import of `name`, with their cumulative ms, largest first."""
    index = next((i for i, x in enumerate(lines) if x.name == name), None)
    if index is None:
        return []
    depth = lines[index].depth
    out = []
    for x in reversed(lines[:index]):
        if x.depth <= depth:
            break
        if x.depth == depth + 1:
            out.append((x.name, x.cum_us / 1000))
    return sorted(out, key=lambda kv: -kv[1])


def third_party(run_: ImportRun) -> dict[str, tuple[float, str]]:
    """Non-stdlib top-level packages (ours aside): cumulative ms of all their imports, and who imported them."""
    out: dict[str, tuple[float, str]] = {}
    for i, line in enumerate(run_.lines):
        top = line.name.split(".")[0]
        if top in sys.stdlib_module_names or top == "clearml_runai_gen":
            continue
        parent = _parent(run_.lines, i)
        if parent is not None and parent.name.split(".")[0] == top:
            continue  # inside an import of the same package: counted there
        ms, where = out.get(top, (0.0, ""))
        if not where:
            chain = import_chain(run_.lines, i)
            where = (
                "imported by " + " → ".join(chain)
                if len(chain) > 1
                else f"{chain[0]} imported at run time inside a function"
            )
        out[top] = (ms + line.cum_us / 1000, where)
    return out
