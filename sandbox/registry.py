"""A real OCI registry (CNCF distribution, built by ci/registry.sh) on a free 127.0.0.1 port, always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .endpoints import free_port
from .paths import ROOT


def build() -> Path:
    """The registry binary; built when ci/registry changed (the first build takes a few minutes)."""
    proc = subprocess.run([str(ROOT / "ci" / "registry.sh"), "build"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"ci/registry.sh build failed:\n{proc.stderr[-3000:]}")
    return Path(
        subprocess.run([str(ROOT / "ci" / "registry.sh"), "path"], capture_output=True, text=True).stdout.strip()
    )


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def oci_registry(workdir: Path, timeout: float = 30) -> Iterator[str]:
    """Serve a registry with its storage in `workdir`; yields its address, 127.0.0.1:PORT (plain HTTP)."""
    binary = build()
    address = f"127.0.0.1:{free_port()}"
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": address},
    }
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = workdir / "registry.log"
    # no tracing exporter: by default it would send spans to an OTLP collector
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(binary), "serve", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(address):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the registry did not start on {address}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield address
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
