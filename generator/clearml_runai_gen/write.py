"""Every file the tool writes: checked first, staged, then committed all together, or nothing is written.

One command may write many files (values, Secret manifests, one of each per project). Each target is
checked before anything is rendered (`Transaction.check`), staged into a temporary file beside it
(`Transaction.stage`), and only when every target is staged are they committed: a regular file is
replaced by a rename (a reader sees the old file or the new one; the new one is mode 0600), and a
character device or a FIFO is written through, as `tee` does (never replaced, never chmod'ed). A
directory, a socket or a block device is refused; a symbolic link is followed and the file it names is
replaced (or made), so the link stays a link. `-` is standard output. Credentials never go to a terminal, whether
it is standard output or a device named on the command line, unless the user asked (`--show-secrets`).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .errors import UsageError, WriteError

STDOUT = "-"
# staging is one fsync per file: waiting on the disk, not on the CPU, so threads overlap it
STAGE_THREADS = 16


@dataclass(frozen=True)
class Target:
    """One file a command writes. `what` names the option it came from, for messages."""

    path: str
    what: str
    secret: bool = False  # holds credentials: never to a terminal without --show-secrets

    @property
    def is_stdout(self) -> bool:
        return self.path == STDOUT

    def name(self) -> str:
        return "standard output" if self.is_stdout else f"{self.what} {self.path}"


@dataclass
class _Staged:
    target: Target
    real: Path | None = None  # the regular file to replace (a symlink's target), else written through
    tmp: Path | None = None
    text: str = ""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return ""


def _refuse(target: Target, why: str) -> WriteError:
    return WriteError(f"cannot write {target.name()}: {why}; nothing was written")


def _terminal_refusal(target: Target) -> UsageError:
    where = "stdout is a terminal" if target.is_stdout else f"{target.path} is a terminal"
    return UsageError(
        f"the output holds credentials and {where}: redirect it to a file (> FILE), use -o FILE, or pass --show-secrets"
    )


def _is_terminal_device(path: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False  # it is refused, with its reason, when it is written
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def _check_new(target: Target, path: Path, planned_dirs: set[Path]) -> None:
    absolute = Path(os.path.abspath(path))
    if absolute in planned_dirs:
        raise _refuse(target, "it is a directory this command creates; name a file")
    if absolute.parent in planned_dirs:
        return
    parent = path.parent
    try:
        parent_mode = os.stat(parent).st_mode
    except FileNotFoundError:
        raise _refuse(target, f"directory {parent} does not exist") from None
    except OSError as exc:
        raise _refuse(target, exc.strerror or "cannot reach its directory") from None
    if not stat.S_ISDIR(parent_mode):
        raise _refuse(target, f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _refuse(target, f"directory {parent} is not writable")


@dataclass
class Transaction:
    """The files of one command: `check` each before any work, `stage` each, then `commit` them all."""

    show_secrets: bool = False
    stdout: TextIO | None = None
    _seen: dict[str, Target] = field(default_factory=dict)
    _staged: list[_Staged] = field(default_factory=list)
    _dirs: list[Path] = field(default_factory=list)  # directories this command creates
    _planned_dirs: set[Path] = field(default_factory=set)

    def directory(self, path: str, what: str, hint: str = "name a directory") -> Path:
        """A directory the command writes into: checked now, created only when the files are committed."""
        directory = Path(path)
        probe, missing = directory, []
        while True:
            try:
                mode = os.stat(probe).st_mode
            except FileNotFoundError:
                missing.append(probe)
                probe = probe.parent
                continue
            except OSError as exc:
                raise WriteError(f"cannot write into {what} {path}: {exc.strerror}; nothing was written") from None
            break
        if not stat.S_ISDIR(mode):
            if probe == directory:
                raise WriteError(f"{what} {path} is a file; {hint}")
            raise WriteError(f"cannot write into {what} {path}: {probe} is not a directory; {hint}")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise WriteError(f"cannot write into {what} {path}: {probe} is not writable")
        if missing:
            self._planned_dirs.add(Path(os.path.abspath(directory)))
            self._dirs += reversed(missing)  # outermost first; removed innermost first when nothing is written
        return directory

    def check(self, target: Target) -> None:
        """Refuse a target that cannot be written, before anything is rendered or written."""
        if target.is_stdout:
            out = self.stdout or sys.stdout
            if target.secret and not self.show_secrets and out.isatty():
                raise _terminal_refusal(target)
            key = STDOUT
        else:
            key = self._check_path(target)
        if key in self._seen:
            raise UsageError(
                f"{self._seen[key].name()} and {target.name()} name the same file: each output needs its own"
            )
        self._seen[key] = target

    def _check_path(self, target: Target) -> str:
        path = Path(target.path)
        try:
            mode = os.stat(path).st_mode  # through a symbolic link: what it names is what is written
        except FileNotFoundError:
            real = path.resolve() if path.is_symlink() else path  # a link to nothing yet: the file it names
            _check_new(target, real, self._planned_dirs)
            return str(real.absolute())
        except OSError as exc:
            raise _refuse(target, exc.strerror or "cannot reach it") from None
        refused = _kind(mode)
        if refused:
            raise _refuse(target, f"it is {refused}; name a file")
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            if target.secret and not self.show_secrets and stat.S_ISCHR(mode) and _is_terminal_device(target.path):
                raise _terminal_refusal(target)
            return str(path.absolute())
        real = path.resolve()
        _check_new(target, real, self._planned_dirs)
        return str(real)

    def stage(self, items: list[tuple[Target, str]]) -> None:
        """Write each text beside its target (regular files), or hold it (streams); nothing is visible yet."""
        for directory in self._dirs:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WriteError(f"cannot create directory {directory}: {exc.strerror}; nothing was written") from None
        staged = [self._prepare(target, text) for target, text in items]
        self._staged += staged
        files = [s for s in staged if s.real is not None]
        with ThreadPoolExecutor(max_workers=min(STAGE_THREADS, max(1, len(files)))) as pool:
            for error in pool.map(_stage_file, files):
                if error is not None:
                    raise error

    def _prepare(self, target: Target, text: str) -> _Staged:
        if target.is_stdout:
            return _Staged(target, text=text)
        path = Path(target.path)
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return _Staged(target, real=path.resolve(), text=text)
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return _Staged(target, text=text)
        if not stat.S_ISREG(mode):
            raise _refuse(target, f"it is {_kind(mode) or 'not a regular file'}; name a file")
        return _Staged(target, real=path.resolve(), text=text)

    def commit(self) -> None:
        """Streams first (the one step that may still fail), then every rename."""
        for s in self._staged:
            if s.real is None:
                self._write_through(s)
        for s in self._staged:
            if s.real is not None and s.tmp is not None:
                try:
                    os.replace(s.tmp, s.real)
                except OSError as exc:
                    raise _refuse(s.target, exc.strerror or "rename failed") from None
                s.tmp = None
        self._staged = []
        self._dirs = []

    def _write_through(self, s: _Staged) -> None:
        if s.target.is_stdout:
            out = self.stdout or sys.stdout
            out.write(s.text)
            out.flush()
            return
        try:
            fd = os.open(s.target.path, os.O_WRONLY | os.O_NOCTTY)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(s.text)
        except OSError as exc:
            raise _refuse(s.target, exc.strerror or "write failed") from None

    def discard(self) -> None:
        for s in self._staged:
            if s.tmp is not None:
                s.tmp.unlink(missing_ok=True)
        self._staged = []
        for directory in reversed(self._dirs):
            _remove_empty(directory)
        self._dirs = []


def _remove_empty(directory: Path) -> None:
    # only what this command created, and only while it is empty
    with suppress(OSError):
        directory.rmdir()


def _stage_file(s: _Staged) -> WriteError | None:
    assert s.real is not None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{s.real.name}.", suffix=".tmp", dir=s.real.parent)
    except OSError as exc:
        return _refuse(s.target, f"{s.real.parent}: {exc.strerror}")
    s.tmp = Path(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(s.text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return _refuse(s.target, exc.strerror or "write failed")
    s.text = ""
    return None


@contextmanager
def transaction(show_secrets: bool = False) -> Iterator[Transaction]:
    """A Transaction whose staged files are removed when the command fails before it commits."""
    tx = Transaction(show_secrets=show_secrets)
    try:
        yield tx
    except BaseException:
        tx.discard()
        raise
    tx.discard()  # nothing left when committed; what a command forgot to commit is not written


def write_atomic(path: Path, text: str) -> None:
    """One regular file, all at once (a reader sees the old file or the new one), by the rules above."""
    target = Target(str(path), "writing")
    with transaction(show_secrets=True) as tx:
        tx.check(target)
        tx.stage([(target, text)])
        tx.commit()
