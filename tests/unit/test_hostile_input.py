"""Hostile input answers at once with one line: alias bombs, deep nesting, floods and oversized texts.

Each case runs the real console script in a subprocess with a generous timeout (a hang fails the test;
how fast it answers is a benchmark matter), in every place the tool parses YAML: the dump (a file or
standard input), the pod-template ConfigMap's `template.yaml` inside it, and the values file of `diff`.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from clearml_runai_gen.parse import MAX_DOCUMENT_BYTES, MAX_DUMP_BYTES, size_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import as_served, dump, flavour_a, flavour_b
from tests.conftest import cli

CLI = cli()
TIMEOUT = 10.0  # seconds: far above the time any case takes; it only catches a hang
MARK = "@@HOSTILE@@"

# --------------------------------------------------------------------------- hostile YAML nodes (flow style)


def alias_bomb(width: int = 10, levels: int = 9) -> str:
    """The billion laughs: each anchor names `width` copies of the one before."""
    parts = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    parts += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "{" + ", ".join(parts) + "}"


def merge_bomb(levels: int = 30) -> str:
    """Merge keys copy entries when parsed: each mapping merges the one before twice."""
    parts = ["m0: &m0 {a: 1, b: 2}"]
    parts += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, levels)]
    return "{" + ", ".join(parts) + "}"


def deep_flow(depth: int = 100_000, opener: str = "[") -> str:
    closer = {"[": "]", "{a: ": "}"}[opener]
    return opener * depth + "x" + closer * depth


def value_flood(count: int = 210_000) -> str:
    return "[" + ", ".join(["0"] * count) + "]"


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "alias bomb": (alias_bomb, "aliases that expand to more than 10000"),
    "merge-key bomb": (merge_bomb, "merge keys (<<) that copy more than 10000"),
    "recursive alias": (lambda: "&r [*r, *r]", "inside the node it names"),
    "deep sequences": (deep_flow, "nests deeper than 100 levels"),
    "deep mappings": (lambda: deep_flow(50_000, "{a: "), "nests deeper than 100 levels"),
    "value flood": (value_flood, "holds more than 200000 values"),
}


# --------------------------------------------------------------------------- the places a node goes


def _install() -> list[dict]:  # type: ignore[type-arg]
    return as_served(flavour_a(version="3.10.5"), "clearml", "clearml")


def _with_mark(objs: list[dict], where: str) -> list[dict]:  # type: ignore[type-arg]
    for o in objs:
        if where == "dump" and o["kind"] == "Deployment":  # an agent pod annotation points at it
            o["spec"]["template"]["metadata"].setdefault("annotations", {})["note"] = MARK
        if where == "template" and o["kind"] == "ConfigMap":
            o["data"]["template.yaml"] = f"note: {MARK}\n" + o["data"]["template.yaml"]
    return objs


def dump_with(node: str, where: str) -> str:
    """A namespace dump as kubectl prints it, with `node` in an agent pod annotation (YAML) or inside
    template.yaml (a JSON dump: the template is a string there, the node goes in escaped)."""
    objs = _with_mark(_install(), where)
    if where == "dump":
        return dump(objs).replace(f"'{MARK}'", node).replace(MARK, node)
    return dump(objs, "json").replace(MARK, json.dumps(node)[1:-1])


# what a values file records of its source, so that diff reads the dump
ORIGIN = "origin:\n  agent: clearml-k8sagent\n  clearmlNamespace: clearml\n"


def values_with(node: str) -> str:
    return f"runai:\n  project: p\n  namespace: runai-p\n{ORIGIN}note: {node}\n"


PLAIN = dump(_install())


def run_cli(args: list[str], stdin: bytes | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    try:
        p = subprocess.run([CLI, *args], input=stdin, capture_output=True, timeout=TIMEOUT, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"clearml-runai-gen {' '.join(args)[:80]} did not answer within {TIMEOUT:.0f} s (a hang)")
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def case(command: str, place: str, channel: str, node: str, tmp_path: Path) -> tuple[list[str], bytes | None]:
    """The arguments and stdin of `command` with the hostile `node` in `place`, given through `channel`."""
    dump_text = values_text = None
    if place == "values":
        values_text, dump_text = values_with(node), PLAIN
    else:
        dump_text = dump_with(node, place)
    stdin: bytes | None = None
    source = tmp_path / "clearml.yaml"
    source.write_text(dump_text)
    values = tmp_path / "values.yaml"
    values.write_text(values_text or "runai:\n  project: p\n" + ORIGIN)
    if channel == "stdin":
        if place == "values":
            stdin, values_arg, from_file = values.read_bytes(), "-", str(source)
        else:
            stdin, values_arg, from_file = source.read_bytes(), str(values), "-"
    else:
        values_arg, from_file = str(values), str(source)
    args = {
        "render": ["render", "--project", "p", "--from-file", from_file, "-o", str(tmp_path / "out.yaml")],
        "discover": ["discover", "--from-file", from_file],
        "diff": ["diff", "--values", values_arg, "--from-file", from_file],
    }[command]
    return args, stdin


def assert_refused(tmp_path: Path, args: list[str], stdin: bytes | None, needle: str) -> None:
    out = tmp_path / "out.yaml"
    out.write_text("previous\n")
    code, stdout, stderr = run_cli(args, stdin)
    assert code == (2 if args[0] == "diff" else 1), (code, stderr[-300:])  # diff: 1 is drift, 2 trouble
    assert stdout == ""
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ") and "Traceback" not in stderr, stderr[-500:]
    assert needle in stderr, stderr
    assert out.read_text() == "previous\n"


PLACES = {"render": ("dump", "template"), "discover": ("dump", "template"), "diff": ("dump", "template", "values")}
EVERY_PLACE = [(c, p, ch) for c, places in PLACES.items() for p in places for ch in ("file", "stdin")]


@pytest.mark.parametrize("command,place,channel", EVERY_PLACE)
def test_alias_bomb_is_refused_at_once_everywhere(command: str, place: str, channel: str, tmp_path: Path) -> None:
    args, stdin = case(command, place, channel, alias_bomb(), tmp_path)
    assert_refused(tmp_path, args, stdin, "aliases that expand to more than 10000 further values")


def test_the_plain_dump_renders(tmp_path: Path) -> None:
    """The cases above differ from a working input only by the hostile node."""
    args, stdin = case("render", "dump", "stdin", '"a note"', tmp_path)
    code, stdout, stderr = run_cli(args, stdin)
    assert code == 0, stderr
    assert "project: p" in (tmp_path / "out.yaml").read_text()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(HOSTILE)), where=st.sampled_from(EVERY_PLACE))
def test_hostile_nodes_answer_in_one_line(kind: str, where: tuple[str, str, str], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    build, needle = HOSTILE[kind]
    tmp_path = tmp_path_factory.mktemp("hostile")
    args, stdin = case(*where, build(), tmp_path)
    assert_refused(tmp_path, args, stdin, needle)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(min_value=2, max_value=12),
    levels=st.integers(min_value=4, max_value=40),
    place=st.sampled_from(["dump", "template", "values"]),
)
def test_any_alias_bomb_past_the_limit_is_refused(width: int, levels: int, place: str, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import assume

    assume(width**levels > 20_000)
    tmp_path = tmp_path_factory.mktemp("bomb")
    args, stdin = case("diff" if place == "values" else "render", place, "file", alias_bomb(width, levels), tmp_path)
    assert_refused(tmp_path, args, stdin, "aliases that expand")


def test_a_few_aliases_in_a_hand_written_values_file_are_fine(tmp_path: Path) -> None:
    src = tmp_path / "clearml.yaml"
    src.write_text(PLAIN)
    out = tmp_path / "values.yaml"
    assert run_cli(["render", "--project", "p", "--from-file", str(src), "-o", str(out)])[0] == 0
    text = out.read_text() + "extra: &pool {nodePool: a, labels: {x: y}}\nmore: [*pool, *pool, *pool]\n"
    out.write_text(text)
    code, stdout, stderr = run_cli(["diff", "--values", str(out), "--from-file", str(src)])
    assert code == 1 and "drift" in stdout and "extra.nodePool" in stdout, stderr


@pytest.mark.parametrize("channel", ["file", "stdin"])
@pytest.mark.parametrize("command", ["render", "discover", "diff"])
def test_deep_block_nesting_is_refused(command: str, channel: str, tmp_path: Path) -> None:
    """Block sequences nested on one line (`- - - x`): 2 bytes a level, no bracket to count."""
    text = PLAIN + "---\n" + "- " * 60_000 + "x\n"
    src = tmp_path / "clearml.yaml"
    src.write_text(text)
    values = tmp_path / "v.yaml"
    values.write_text("runai:\n  project: p\n" + ORIGIN)
    from_file, stdin = (str(src), None) if channel == "file" else ("-", text.encode())
    args = {
        "render": ["render", "--project", "p", "--from-file", from_file, "-o", str(tmp_path / "out.yaml")],
        "discover": ["discover", "--from-file", from_file],
        "diff": ["diff", "--values", str(values), "--from-file", from_file],
    }[command]
    assert_refused(tmp_path, args, stdin, "nests deeper than 100 levels")


# --------------------------------------------------------------------------- oversized texts


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def _stream(args: list[str], size: int, tmp_path: Path) -> tuple[int, str, str]:
    """Run with `size` bytes of YAML comments on standard input, written as the tool reads them."""
    proc = subprocess.Popen([CLI, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunk = (b"#" * 1023 + b"\n") * 1024

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for _ in range(size // len(chunk) + 1):
                proc.stdin.write(chunk)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the tool stopped reading at its limit

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        stdout, stderr = _wait(proc)
    finally:
        writer.join(timeout=TIMEOUT)
    return proc.returncode, stdout.decode(), stderr.decode()


def _wait(proc: subprocess.Popen) -> tuple[bytes, bytes]:  # type: ignore[type-arg]
    assert proc.stdout is not None and proc.stderr is not None
    try:
        proc.wait(timeout=TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("an oversized standard input was not refused in time")
    return proc.stdout.read(), proc.stderr.read()


@pytest.mark.parametrize("command", ["render", "discover", "diff"])
def test_an_oversized_dump_is_refused_unread(command: str, tmp_path: Path) -> None:
    big = _sparse(tmp_path / "huge.yaml", MAX_DUMP_BYTES + 1)
    values = tmp_path / "v.yaml"
    values.write_text("runai:\n  project: p\n" + ORIGIN)
    args = {
        "render": ["render", "--project", "p", "--from-file", str(big), "-o", str(tmp_path / "out.yaml")],
        "discover": ["discover", "--from-file", str(big)],
        "diff": ["diff", "--values", str(values), "--from-file", str(big)],
    }[command]
    assert_refused(tmp_path, args, None, f"is larger than {size_text(MAX_DUMP_BYTES)}")


def test_an_oversized_standard_input_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    out.write_text("previous\n")
    code, stdout, stderr = _stream(
        ["render", "--project", "p", "--from-file", "-", "-o", str(out)], MAX_DUMP_BYTES + 1, tmp_path
    )
    assert code == 1 and stdout == "" and out.read_text() == "previous\n"
    assert (
        stderr.strip() == stderr.strip().splitlines()[0]
        and f"standard input is larger than {size_text(MAX_DUMP_BYTES)}" in stderr
    )


@pytest.mark.parametrize("channel", ["file", "stdin"])
@pytest.mark.parametrize("command", ["render", "discover", "diff"])
def test_an_oversized_template_is_refused(command: str, channel: str, tmp_path: Path) -> None:
    """A ConfigMap holds at most 1 MiB; a template.yaml of more than 4 MiB is no real one."""
    node = json.dumps("x" * (MAX_DOCUMENT_BYTES + 10))
    args, stdin = case(command, "template", channel, node, tmp_path)
    assert_refused(tmp_path, args, stdin, "key 'template.yaml' is larger than 4 MiB")


@pytest.mark.parametrize("channel", ["file", "stdin"])
def test_an_oversized_values_file_is_refused(channel: str, tmp_path: Path) -> None:
    src = tmp_path / "clearml.yaml"
    src.write_text(PLAIN)
    big = _sparse(tmp_path / "v.yaml", MAX_DOCUMENT_BYTES + 1)
    if channel == "file":
        assert_refused(tmp_path, ["diff", "--values", str(big), "--from-file", str(src)], None, "larger than 4 MiB")
    else:
        args = ["diff", "--values", "-", "--from-file", str(src)]
        assert_refused(tmp_path, args, big.read_bytes(), "standard input is larger than 4 MiB")


# --------------------------------------------------------------------------- more that no kubectl writes


MORE = {
    "an integer of 5000 digits": ("n: " + "7" * 5000, "not valid YAML"),
    "a date that is none": ("d: 2024-13-45", "not valid YAML"),
    "a duplicate anchor": ("a: &x 1\nb: &x 2\nc: *x", "duplicate anchor"),
    "210,000 empty documents": ("---\n" * 210_000, "holds more than 200000 values"),
    "a python object tag": ("!!python/object/apply:os.system ['true']", "not valid YAML"),
    "a NUL byte": ("kind: \x00", "not valid YAML"),
    "a sequence key nested deep": ("? " + "[" * 3000 + "]" * 3000 + "\n: x", "nests deeper than 100 levels"),
}


@pytest.mark.parametrize("name", sorted(MORE))
def test_more_hostile_dumps_answer_in_one_line(name: str, tmp_path: Path) -> None:
    text, needle = MORE[name]
    src = tmp_path / "clearml.yaml"
    src.write_text(text)
    assert_refused(
        tmp_path, ["render", "--project", "p", "--from-file", str(src), "-o", str(tmp_path / "out.yaml")], None, needle
    )


def test_discover_refuses_a_hostile_template_whole(tmp_path: Path) -> None:
    """discover reports an unreadable agent in its table, but a refused input is one line, exit 1."""
    objs = as_served(flavour_b(), "clearml", "agent")
    for o in objs:
        if o["kind"] == "ConfigMap":
            o["data"]["template.yaml"] = "metadata: " + alias_bomb() + "\n"
    src = tmp_path / "b.yaml"
    src.write_text(dump(objs, "json"))
    assert_refused(tmp_path, ["discover", "--from-file", str(src), "-o", "json"], None, "aliases that expand")
