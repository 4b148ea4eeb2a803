"""On a real terminal (a pty): the CLI never prints credentials to it unless asked with --show-secrets."""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import termios
from pathlib import Path

import pytest

from sandbox.fixtures.installs import as_served, dump, flavour_b
from sandbox.paths import cli

CLI = cli()
SECRET_KEY = "SK-on-a-terminal-7c1e9a"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "clearml.yaml"
    path.write_text(dump(as_served(flavour_b(secret_key=SECRET_KEY), "clearml", "agent")))
    return path


def on_terminal(*args: str) -> tuple[int, str, str]:
    """Run the real CLI with stdout on a new pty, which is also its controlling terminal (/dev/tty).

    (exit code, what reached the terminal, stderr)."""
    master, slave = pty.openpty()

    def own_terminal() -> None:  # a session of its own whose terminal is the pty on its stdout
        os.setsid()
        fcntl.ioctl(1, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [CLI, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, preexec_fn=own_terminal
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, seen.decode(errors="replace"), stderr.decode()


def test_the_pty_is_a_terminal_to_the_cli(src: Path) -> None:
    code, shown, _ = on_terminal("chart-path")
    assert code == 0 and "clearml-runai-agent" in shown


@pytest.mark.parametrize(
    "args",
    [
        ["render", "--project", "p"],
        ["render", "--project", "p", "-o", "-"],
        ["render", "--project", "p", "-o", "/dev/stdout"],
        ["render", "--project", "p", "-o", "/dev/tty"],
        ["copy", "secret/agent-clearml-agent-ac", "-n", "runai-p"],
        ["copy", "secret/agent-clearml-agent-ac", "-n", "runai-p", "-o", "/dev/tty"],
    ],
    ids=["render", "render -o -", "render -o /dev/stdout", "render -o /dev/tty", "copy", "copy -o /dev/tty"],
)
def test_credentials_are_refused_on_a_terminal_and_shown_with_show_secrets(args: list[str], src: Path) -> None:
    code, shown, stderr = on_terminal(*args, "--from-file", str(src))
    assert code == 2 and "is a terminal" in stderr and "--show-secrets" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    assert shown == ""
    code, shown, stderr = on_terminal(*args, "--from-file", str(src), "--show-secrets")
    assert code == 0, stderr
    secret = SECRET_KEY if args[0] == "render" else "kind: Secret"
    assert secret in shown


def test_values_without_credentials_may_go_to_a_terminal(src: Path, tmp_path: Path) -> None:
    code, shown, stderr = on_terminal(
        "render", "--project", "p", "--from-file", str(src), "--credentials-out", str(tmp_path / "s.yaml")
    )
    assert code == 0 and "existingSecret" in shown and SECRET_KEY not in shown, stderr
    assert SECRET_KEY in (tmp_path / "s.yaml").read_text()
