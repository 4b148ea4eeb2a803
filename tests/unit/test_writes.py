"""Where the tool writes: only regular files, replaced whole; special files written through or refused; every
file of one command, or none of them."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.fixtures.installs import as_served, dump, flavour_b
from sandbox.paths import cli
from tests.conftest import gen

CLI = cli()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "clearml.yaml"
    path.write_text(dump(as_served(flavour_b(), "clearml", "agent")))
    return path


def render(src: Path, *args: str, projects: tuple[str, ...] = ("p",)) -> tuple[int, str, str]:
    return gen(["render", "--from-file", str(src), *[a for p in projects for a in ("--project", p)], *args])


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None: not a regular file), temporary files included."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() and not p.is_symlink() else None
        for p in sorted(root.rglob("*"))
    }


def assert_one_line_refusal(code: int, stdout: str, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    assert stdout == "" and len(stderr.strip().splitlines()) == 1 and stderr.startswith("error: "), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, stderr


@pytest.fixture
def null_device(tmp_path: Path) -> str:
    """A character device like /dev/null, made in tmp_path when allowed: were the tool to replace it, the
    machine's own /dev/null is not what breaks (and without root, /dev is not writable anyway)."""
    path = tmp_path / "null"
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.stat(os.devnull).st_rdev)
    except PermissionError:
        return os.devnull
    path.chmod(0o666)
    return str(path)


def test_a_character_device_is_written_through_never_replaced(src: Path, null_device: str) -> None:
    before = os.stat(null_device)
    code, stdout, stderr = render(src, "-o", null_device)
    after = os.stat(null_device)
    assert code == 0 and stdout == "", stderr
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before.st_mode)  # no chmod to 0600
    assert after.st_ino == before.st_ino


def test_the_secret_manifest_onto_a_character_device_is_written_through(
    src: Path, tmp_path: Path, null_device: str
) -> None:
    before = os.stat(null_device)
    code, _, stderr = render(src, "-o", str(tmp_path / "v.yaml"), "--credentials-out", null_device)
    assert code == 0, stderr
    assert os.stat(null_device).st_ino == before.st_ino and stat.S_ISCHR(os.stat(null_device).st_mode)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, threading.Thread, list[bytes]]]:
    """A FIFO with a reader waiting on it, as `cmd -o fifo` meets it beside `cat fifo`."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    received: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield path, reader, received
    if reader.is_alive():  # nothing was written: let the reader go
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(5)


@pytest.mark.parametrize("command", ["render", "copy"])
def test_a_fifo_is_written_through_and_stays_a_fifo(
    command: str, src: Path, fifo: tuple[Path, threading.Thread, list[bytes]], tmp_path: Path
) -> None:
    path, reader, received = fifo
    if command == "render":
        code, _, stderr = render(src, "-o", str(path))
    else:
        args = ["copy", "secret/agent-clearml-agent-ac", "-n", "runai-p", "--from-file", str(src), "-o", str(path)]
        code, _, stderr = gen(args)
    assert code == 0, stderr
    reader.join(10)  # the writer closed: the reader has it all
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    text = b"".join(received).decode()
    assert ("runai:" if command == "render" else "kind: Secret") in text


@pytest.mark.parametrize(
    "kind,option",
    # a directory is where --credentials-out writes <project>.secret.yaml
    [("directory", "-o")] + [(k, o) for k in ("socket", "block device") for o in ("-o", "--credentials-out")],
)
def test_directories_sockets_and_block_devices_are_refused(kind: str, option: str, src: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
    else:
        try:  # a device number no driver serves: even a write through would find nothing
            os.mknod(target, 0o600 | stat.S_IFBLK, os.makedev(240, 0))
        except PermissionError:
            pytest.skip("making a block device needs CAP_MKNOD")
    other = ["--credentials-out", str(tmp_path / "s.yaml")] if option == "-o" else ["-o", str(tmp_path / "v.yaml")]
    before = tree(tmp_path)
    code, stdout, stderr = render(src, option, str(target), *other)
    assert_one_line_refusal(code, stdout, stderr, f"{option} {target}", f"it is a {kind}")
    assert tree(tmp_path) == before


def test_a_symlink_stays_a_link_and_the_file_it_names_is_replaced(src: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real.name)
    code, _, stderr = render(src, "-o", str(link))
    assert code == 0, stderr
    assert link.is_symlink() and os.readlink(link) == real.name
    assert "runai:" in real.read_text() and stat.S_IMODE(real.stat().st_mode) == 0o600


def test_a_dangling_symlink_gets_the_file_it_names_or_is_refused_in_one_line(src: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to("real.yaml")
    assert render(src, "-o", str(link))[0] == 0
    assert link.is_symlink() and "runai:" in (tmp_path / "real.yaml").read_text()
    lost = tmp_path / "lost.yaml"
    lost.symlink_to("nowhere/real.yaml")
    assert_one_line_refusal(*render(src, "-o", str(lost)), "nowhere does not exist")
    assert lost.is_symlink() and not (tmp_path / "nowhere").exists()


def test_two_outputs_onto_one_file_through_a_symlink_are_refused(src: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    (tmp_path / "link.yaml").symlink_to(real.name)
    code, stdout, stderr = render(src, "-o", str(tmp_path / "link.yaml"), "--credentials-out", str(real))
    assert_one_line_refusal(code, stdout, stderr, "name the same file")
    assert not real.exists()


PROJECTS = ("p1", "p2", "p3", "p4")


def test_one_blocked_target_writes_nothing_of_any_project(src: Path, tmp_path: Path) -> None:
    out, secrets = tmp_path / "out", tmp_path / "new" / "secrets"
    (out / "p3.values.yaml").mkdir(parents=True)
    (out / "p1.values.yaml").write_text("kept\n")
    before = tree(tmp_path)
    code, stdout, stderr = render(src, "--output-dir", str(out), "--credentials-out", str(secrets), projects=PROJECTS)
    assert_one_line_refusal(code, stdout, stderr, str(out / "p3.values.yaml"), "nothing was written")
    assert tree(tmp_path) == before  # no other project's values, no Secret manifest, no directory made
    code, _, stderr = render(src, "--output-dir", str(out), "--credentials-out", str(secrets), projects=PROJECTS[:2])
    assert code == 0 and sorted(p.name for p in secrets.iterdir()) == ["p1.secret.yaml", "p2.secret.yaml"], stderr


def test_a_write_that_fails_part_way_leaves_nothing_behind(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the third file (no space, no permission: what root cannot be denied by a mode)."""
    from clearml_runai_gen import write

    real_mkstemp = write.tempfile.mkstemp

    def failing(*args: object, prefix: str = "", **kwargs: object):  # type: ignore[no-untyped-def]
        if prefix.startswith(".p3."):
            raise OSError(28, "No space left on device")
        return real_mkstemp(*args, prefix=prefix, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(write.tempfile, "mkstemp", failing)
    monkeypatch.setattr(write, "STAGE_THREADS", 1)  # the other files are staged before the failure is seen
    out = tmp_path / "new" / "out"
    code, stdout, stderr = render(src, "--output-dir", str(out), "--credentials-out", str(out), projects=PROJECTS)
    assert_one_line_refusal(code, stdout, stderr, "No space left on device", "p3.")
    assert list(tmp_path.iterdir()) == [tmp_path / "clearml.yaml"]  # not even the directories it made


def test_dash_is_standard_output(src: Path, tmp_path: Path) -> None:
    code, stdout, stderr = render(src, "-o", "-")
    assert code == 0 and "runai:" in stdout and not (tmp_path / "-").exists(), stderr


@pytest.mark.parametrize("stdin", ["closed", "empty"])
def test_from_file_dash_without_input_is_one_line(stdin: str) -> None:
    redirect = "<&-" if stdin == "closed" else "</dev/null"
    proc = subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", CLI, "render", "--project", "p", "--from-file", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and f"standard input is {stdin}" in proc.stderr
