"""The machine and the code measured, for the report."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from .config import HELM, KUBECTL, ROOT


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(cmd: list[Any], pattern: str = r"v?\d+\.\d+(\.\d+)?") -> str:
    try:
        out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(0) if m else "unknown"


def describe_machine() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    osrel = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read("/etc/os-release"), re.M)
    virt = " (virtual machine)" if re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.M) else ""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "CPU": (model.group(1).strip() if model else platform.processor() or platform.machine()) + virt,
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "unknown",
        "OS": f"{osrel.group(1) if osrel else platform.system()}, kernel {platform.release()}, {platform.machine()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "tools": ", ".join(
            [
                f"helm {_version([HELM['helm v4'], 'version', '--short'])}",
                f"helm {_version([HELM['helm v3'], 'version', '--short'])}",
                f"kubectl {_version([KUBECTL, 'version', '--client'])}",
                "jq " + _version(["jq", "--version"], r"\d+\.\d+(\.\d+)?"),
                "bash " + _version(["bash", "--version"], r"\d+\.\d+\.\d+"),
            ]
        ),
        "load average at start": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "code": code_version(),
    }


def code_version() -> str:
    """The commit measured, and whether the generator or chart had changes not yet committed."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "generator", "charts", "pyproject.toml"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    except OSError:
        return "unknown (no git)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    return f"commit {head.stdout.strip()}" + (
        f", with uncommitted changes to {', '.join(changed[:5])}" + (" ..." if len(changed) > 5 else "")
        if changed
        else ""
    )
