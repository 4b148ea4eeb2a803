"""Stand-in for the ``kubectl`` binary, put first on the agent's PATH by the harness.

It never contacts a cluster. Every invocation is appended to ``calls.jsonl`` in the capture directory
(``AGENT_HARNESS_CAPTURE_DIR``). ``kubectl apply ... -f FILE`` copies FILE byte for byte to
``apply-<n>.yaml`` in that directory (the agent deletes its temp file right after kubectl returns)
and prints ``pod/<name> created`` like the real client. ``kubectl get ...`` answers as for a
namespace without matching objects; ``kubectl delete ...`` deletes nothing.
Anything else fails with exit code 1 so an unexpected call shows up in the agent's output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

CAPTURE_ENV = "AGENT_HARNESS_CAPTURE_DIR"

EMPTY_LIST = {"apiVersion": "v1", "items": [], "kind": "List", "metadata": {"resourceVersion": ""}}


def _option(argv: list[str], *names: str) -> str | None:
    """Value of a kubectl option given as ``--name=value``, ``--name value`` or ``-n value``."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def _resource_name(text: str) -> str:
    """``<kind>/<name>`` of the manifest, for the ``created`` line."""
    kind = name = None
    try:
        import yaml  # PyYAML, as installed next to clearml-agent
    except ImportError:  # pragma: no cover - fall back to the copy the agent itself vendors
        from clearml_agent._vendor import pyyaml as yaml
    try:
        doc = yaml.safe_load(text) or {}
        kind = str(doc.get("kind") or "")
        name = str((doc.get("metadata") or {}).get("name") or "")
    except Exception:
        m = re.search(r"^kind:\s*(\S+)", text, re.M)
        kind = m.group(1) if m else ""
    return f"{(kind or 'pod').lower()}/{name or 'unknown'}"


def main(argv: list[str]) -> int:
    capture_dir = Path(os.environ[CAPTURE_ENV])
    capture_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {"argv": argv}
    verb = argv[0] if argv else ""
    rc = 0
    out = ""
    err = ""

    if verb == "apply":
        src = _option(argv, "-f", "--filename")
        namespace = _option(argv, "-n", "--namespace")
        if not src:
            rc, err = 1, "error: must specify one of -f and -k\n"
        else:
            n = len(list(capture_dir.glob("apply-*.yaml"))) + 1
            dst = capture_dir / f"apply-{n}.yaml"
            shutil.copyfile(src, dst)
            text = dst.read_text(encoding="utf-8")
            record.update({"namespace": namespace, "source_file": src, "capture_file": dst.name})
            out = f"{_resource_name(text)} created\n"
    elif verb == "get":
        output = _option(argv, "-o", "--output") or ""
        out = json.dumps(EMPTY_LIST) + "\n" if output == "json" else ""
    elif verb == "delete":
        out = ""
    else:
        rc, err = 1, f"fake kubectl: unsupported command {argv!r}\n"

    record["rc"] = rc
    with open(capture_dir / "calls.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
