#!/usr/bin/env python3
"""`make bench`: benchmarks of clearml-runai-gen against the seed procedure (see bench/ and --help)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # the bench package, and the sandbox for the fixture install

from bench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
