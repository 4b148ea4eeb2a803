"""One module per section of the report; each `run(ctx)` times its cases and adds rows and targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cluster import Cluster
from ..inputs import Fixture, RealDump
from ..report import Report


@dataclass
class Context:
    report: Report
    fixture: Fixture
    dumps: list[RealDump]
    cluster: Cluster | None
    repeats: int
    quick: bool
    work: Path

    def dump(self, seed_only: bool = False) -> RealDump | None:
        """The real install the seed also reads (clearml 3.10.5), else the first one."""
        seeded = [d for d in self.dumps if d.seed_dir is not None]
        if seeded:
            return seeded[0]
        return None if seed_only or not self.dumps else self.dumps[0]
