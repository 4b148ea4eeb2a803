"""Ship the chart inside the wheel, so `clearml-runai-gen chart-path` works after `pip install`."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CHART = Path(__file__).parent / "charts" / "clearml-runai-agent"


class BuildWithChart(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "clearml_runai_gen" / "chart"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(CHART, target, ignore=shutil.ignore_patterns("ci", "*.tgz", "*.j2"))


setup(cmdclass={"build_py": BuildWithChart})
