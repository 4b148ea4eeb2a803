"""Running commands and timing them: medians of repeated runs, the cases of a section interleaved."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _fail(cmd: list[str], p: subprocess.CompletedProcess[bytes], what: str) -> BenchError:
    last = (p.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
    return BenchError(f"{what or Path(cmd[0]).name} failed (exit {p.returncode}): {last}")


def run(cmd: list[Any], env: dict[str, str] | None = None, stdin: bytes | None = None, what: str = "") -> bytes:
    """Run a command, return its stdout; BenchError with its last stderr line on failure."""
    args = [str(c) for c in cmd]
    p = subprocess.run(args, input=stdin, capture_output=True, env=env)
    if p.returncode != 0:
        raise _fail(args, p, what)
    return p.stdout


def timed(cmd: list[Any], env: dict[str, str] | None = None, what: str = "") -> float:
    """Wall time of one run of `cmd`, stdout to /dev/null (as the seed's output would go to kubectl)."""
    args = [str(c) for c in cmd]
    t0 = time.perf_counter()
    p = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise _fail(args, p, what)
    return dt


# A small Python that runs the command and reports its wall time and peak RSS. Linux carries the peak RSS of
# the process that forks over into the child it executes, so the command is forked from this small process,
# never from the benchmark's own (tens of MiB, which every child would then report).
_RSS_HELPER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = p.stderr.read()
_, status, usage = os.wait4(p.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - t0, usage.ru_maxrss, err[-400:].decode()]))
"""


def peak_rss(cmd: list[Any], env: dict[str, str] | None = None, what: str = "") -> tuple[float, int]:
    """(wall seconds, peak resident memory in bytes) of one run of `cmd`."""
    import json

    args = [str(c) for c in cmd]
    code, seconds, maxrss_kb, err = json.loads(run([sys.executable, "-c", _RSS_HELPER, *args], env=env))
    if code != 0:
        last = (err.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"{what or Path(args[0]).name} failed (exit {code}): {last}")
    return seconds, maxrss_kb * 1024


@dataclass
class Case:
    """One thing to time: `fn(rep)` returns the seconds of one run (set-up and checks stay outside)."""

    name: str
    fn: Callable[[int], float]
    times: list[float] = field(default_factory=list)


def bench(cases: list[Case], repeats: int, warmup: int = 1) -> None:
    """Warm-up, then `repeats` rounds; each round runs every case once, in a rotated order."""
    for w in range(warmup):
        for c in cases:
            c.fn(-1 - w)
    for i in range(repeats):
        k = i % len(cases)
        for c in cases[k:] + cases[:k]:
            c.times.append(c.fn(i))


def med(xs: Iterable[float]) -> float:
    return statistics.median(list(xs))


def fmt_s(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
