"""parse.py: every engine gives the same objects; the limits count what they say."""

from __future__ import annotations

import io
import json

import pytest
from clearml_runai_gen import parse
from clearml_runai_gen.errors import InputError, LimitError
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sandbox.fixtures.installs import as_served, dump, flavour_a, flavour_b


def load_with(engine: str, text: str) -> list:  # type: ignore[type-arg]
    loader = parse._loader(text, engine)
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


def test_libyaml_is_installed_with_the_tool() -> None:
    """ruamel.yaml.clib is a dependency: without it every dump parses ~20x slower (still correctly)."""
    assert list(parse.iter_engines()) == ["c", "python"]


# what kubectl prints: control characters escaped, never raw (YAML refuses them raw; JSON takes a few)
printable = st.characters(blacklist_categories=("Cc", "Cs"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(printable, max_size=30),
    st.sampled_from(["on", "no", "yes", "0o17", "017", "0x1F", "1_000", "2024-01-01", "1:20", "~", "null", ".inf"]),
)
documents = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(printable, max_size=10), c, max_size=4)),
    max_leaves=25,
)


def _emit(data: object, flow: bool) -> str:
    y = YAML()
    y.default_flow_style = flow
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_every_engine_reads_the_same_objects(data: object, as_json: bool) -> None:
    """Block style, as kubectl writes it, and JSON (which a dump past the fast path's bounds is read as):
    libyaml and ruamel.yaml's own parser read the same objects."""
    text = json.dumps(data, ensure_ascii=False) if as_json else _emit(data, False)  # kubectl escapes no UTF-8
    python = load_with("python", text)
    assert python == list(YAML(typ="safe", pure=True).load_all(text))  # ruamel.yaml's own reading, YAML 1.2
    assert load_with("c", text) == python


@pytest.mark.parametrize(
    "objects",
    [
        as_served(flavour_a(version="3.5.1"), "clearml", "clearml"),
        as_served(flavour_a(version="3.10.5"), "clearml", "clearml"),
        as_served(flavour_b(), "clearml", "agent"),
    ],
    ids=["3.5.1", "3.10.5", "agent-5"],
)
def test_a_dump_reads_alike_as_yaml_json_and_by_every_engine(objects: list) -> None:  # type: ignore[type-arg]
    text = dump(objects)
    assert parse.choose_engine(text) == "c"  # a dump as kubectl prints it takes the fast path
    as_json = parse.load_stream(dump(objects, "json"), "dump", "hint")
    assert load_with("c", text) == load_with("python", text) == as_json == [json.loads(dump(objects, "json"))]


@settings(max_examples=200, deadline=None)
@given(documents, st.booleans())
def test_the_depth_bound_is_never_below_the_real_depth(data: object, flow: bool) -> None:
    """The C composer runs only under this bound: it must never be lower than what the text nests."""
    text = _emit(data, flow)
    depth, _ = parse.measure([data])
    assert parse._depth_bound(text) >= depth
    assert parse._nodes_bound(text) >= sum(1 for _ in _nodes(data))


def _nodes(value: object):  # type: ignore[no-untyped-def]
    yield value
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _nodes(v)
    elif isinstance(value, list):
        for v in value:
            yield from _nodes(v)


@pytest.mark.parametrize(
    "text,depth",
    [
        ("- - - - x", 4),
        ("a:\n- b:\n  - c: [[{}]]", 8),
        ("- a:\n  - - x", 4),
        ("[" * 30 + "]" * 30, 30),
        ("[a: " * 20 + "x" + "]" * 20, 40),  # single-pair mappings inside flow sequences
    ],
)
def test_the_depth_bound_holds_for_compact_and_indentless_nesting(text: str, depth: int) -> None:
    assert parse.measure(load_with("python", text))[0] == depth
    assert parse._depth_bound(text) >= depth


def test_measure_counts_aliases_without_walking_them_out() -> None:
    shared = ["x"] * 10
    level = shared
    for _ in range(8):  # 10**9 leaves when walked out
        level = [level] * 10
    with pytest.raises(parse._Refused, match="expand to more than 10000"):
        parse.measure([level])
    few = {"a": shared, "b": shared, "c": [shared, shared]}
    assert parse.measure([few]) == (3, 33)  # 3 more references to an 11-node list


def test_nesting_through_an_alias_counts_where_the_alias_stands() -> None:
    inner: object = "x"
    for _ in range(60):
        inner = [inner]
    outer: object = inner
    for _ in range(60):
        outer = [outer]
    with pytest.raises(parse._Refused, match="deeper than 100 levels"):
        parse.measure([{"a": inner, "b": outer}])  # `inner` is measured first, at depth 2


@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_mapping_key_that_is_a_collection_is_refused(engine: str) -> None:
    """ruamel.yaml would make a tuple of `[a]`: nothing the tool reads has one, and tuples escape the measure."""
    with pytest.raises(parse._Refused, match="mapping key that is a sequence"):
        load_with(engine, "? [a]\n: [[b]]\n")


def test_a_recursive_structure_is_refused() -> None:
    loop: list = []  # type: ignore[type-arg]
    loop.append(loop)
    with pytest.raises(parse._Refused, match="inside the node it names"):
        parse.measure([loop])


@pytest.mark.parametrize("engine", ["c", "python"])
def test_merge_keys_within_the_limit_still_merge(engine: str) -> None:
    text = "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  c: 3\n"
    assert load_with(engine, text) == [{"base": {"a": 1, "b": 2}, "x": {"a": 1, "b": 2, "c": 3}}]


def test_refusals_name_the_text_the_limit_and_the_fix() -> None:
    with pytest.raises(LimitError) as err:
        parse.load_document("a: " + "[" * 500 + "]" * 500, "ConfigMap ns/t key 'template.yaml'", "repair it")
    assert str(err.value).startswith("ConfigMap ns/t key 'template.yaml' nests deeper than 100 levels")
    assert str(err.value).endswith("; repair it")
    with pytest.raises(InputError, match="more than one YAML document"):
        parse.load_document("a: 1\n---\nb: 2\n", "values.yaml", "fix")


def test_the_c_composer_is_kept_from_deep_or_large_texts() -> None:
    assert parse.choose_engine("- " * 3000 + "x") == "c-counted"
    assert parse.choose_engine("[" * 3000 + "]" * 3000) == "c-counted"
    assert parse.choose_engine("x: 1\n" * (parse.MAX_NODES + 1)) == "c-counted"
    assert parse.choose_engine(dump(as_served(flavour_b(), "clearml", "agent"))) == "c"


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1e9"])
def test_a_bad_request_timeout_is_a_usage_error(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearml_runai_gen.errors import UsageError
    from clearml_runai_gen.kube import TIMEOUT_ENV, request_timeouts

    monkeypatch.setenv(TIMEOUT_ENV, raw)
    with pytest.raises(UsageError, match=TIMEOUT_ENV):
        request_timeouts()
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert request_timeouts() == (2.5, 2.5)


@pytest.mark.parametrize(
    "argv,absent",
    [
        (["--help"], ("kubernetes", "urllib3", "ruamel", "_ruamel_yaml", "yaml")),
        (["render", "--project", "p", "--from-file", "DUMP", "-o", "OUT"], ("kubernetes", "urllib3", "yaml")),
    ],
    ids=["help", "offline-render"],
)
def test_commands_import_only_what_they_use(argv: list[str], absent: tuple[str, ...], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`--help` imports no YAML library and no client; an offline render no kubernetes client (nor PyYAML)."""
    import subprocess
    import sys

    dump_file = tmp_path / "d.yaml"
    dump_file.write_text(dump(as_served(flavour_b(), "clearml", "agent")))
    argv = [str(dump_file) if a == "DUMP" else str(tmp_path / "v.yaml") if a == "OUT" else a for a in argv]
    code = (
        "import json, sys\nfrom clearml_runai_gen.cli import main\nrc = main(json.loads(sys.argv[1]))\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\nsys.exit(rc)"
    )
    p = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    loaded = set(json.loads(p.stdout.strip().splitlines()[-1]))
    assert not loaded & set(absent)
