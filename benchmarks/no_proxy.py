"""How long render's NO_PROXY handling takes for a very long list: `.venv/bin/python benchmarks/no_proxy.py [N]`.

Every entry names a Service of the ClearML namespace, so each gets its full name added beside it (the
most work per entry). The unit test counts comparisons (linear growth); this measures the time.
"""

from __future__ import annotations

import sys
import time

from clearml_runai_gen.hosts import HostRewriter


def main(n: int = 40_000) -> None:
    names = [f"svc-{i}" for i in range(n)]
    rewriter = HostRewriter("clearml", "cluster.local", frozenset(names))
    value = ",".join(names)
    best = min(_timed(rewriter, value) for _ in range(3))
    print(f"NO_PROXY with {n} Service names: {best * 1000:.0f} ms (best of 3)")


def _timed(rewriter: HostRewriter, value: str) -> float:
    start = time.perf_counter()
    rewriter.no_proxy(value)
    return time.perf_counter() - start


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000)
