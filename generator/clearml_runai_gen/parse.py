"""Every YAML and JSON text the tool reads is parsed here, with bounded work.

A dump, standard input, the `template.yaml` of the pod-template ConfigMap and a values file given to
`diff` all come through `load_stream` or `load_document`. What kubectl and helm write is far inside the
limits below; what lies outside them is refused with one line that names the text and the limit:

- size: `MAX_DUMP_BYTES` for a dump, `MAX_DOCUMENT_BYTES` for one document (a template, a values file);
- nodes: `MAX_NODES` values in all (bounds memory: a node costs a few hundred bytes once parsed);
- nesting: `MAX_DEPTH` levels (the deepest object kubectl prints is about 20);
- aliases: `MAX_ALIAS_NODES` further nodes reached through YAML aliases and merge keys. An alias bomb
  ("billion laughs") parses into a small graph of shared references that explodes only when walked, so
  the expansion is counted on the parsed graph, never timed; merge keys (`<<`) copy entries at parse
  time, so they are counted as they are copied.

Parsing: JSON with the standard library; YAML 1.2 with ruamel.yaml's safe constructor, on libyaml (the
`ruamel.yaml.clib` extension) where installed, else on ruamel.yaml's own Python parser. libyaml composes
nodes recursively in C and would overflow the C stack on very deep nesting, so its composer is used only
when a cheap scan of the text proves the nesting and the number of nodes small; otherwise libyaml's
events are counted first (iteratively), and the composer runs only within the limits. Every path gives
the same objects.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

from .errors import GenError, InputError, LimitError

MiB = 1024 * 1024
MAX_DUMP_BYTES = 128 * MiB  # a clearml 3.10.5 namespace with 500 helm revisions dumps to 35 MiB
MAX_DOCUMENT_BYTES = 4 * MiB
MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_ALIAS_NODES = 10_000
# libyaml's composer recurses in C: about 30,000 levels overflow the main thread's stack. It is used
# only below this bound (on the nesting the text can possibly have), far from that.
C_COMPOSER_DEPTH = 2_000

try:  # libyaml, through ruamel.yaml.clib
    from _ruamel_yaml import CParser as _CParser
except ImportError:  # pragma: no cover - the pure-Python parser stands in
    _CParser = None

ENGINES = ("c", "python")


class _Refused(Exception):
    """A limit was reached while parsing; turned into the caller's error with the origin."""


def size_text(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n >= MiB else f"{n} bytes"


# --------------------------------------------------------------------------- the entry points


def load_stream(text: str, origin: str, hint: str, *, error: type[GenError] = InputError) -> list[Any]:
    """The documents of a dump (JSON, or YAML with one or more documents; empty documents dropped)."""
    _check_size(text, MAX_DUMP_BYTES, origin, hint)
    if text.lstrip()[:1] in ("{", "["):
        docs = _load_json(text, origin, hint, error)
        if docs is not None:
            return docs
    return _load_yaml(text, origin, hint, error, multi=True)


def load_document(text: str, origin: str, hint: str, *, error: type[GenError] = InputError) -> Any:
    """One YAML document (a task-pod template, a values file); None when it is empty."""
    _check_size(text, MAX_DOCUMENT_BYTES, origin, hint)
    docs = _load_yaml(text, origin, hint, error, multi=False)
    return docs[0] if docs else None


def _check_size(text: str, limit: int, origin: str, hint: str) -> None:
    if len(text) > limit:
        raise LimitError(f"{origin} is larger than {size_text(limit)}, more than this tool reads; {hint}")


# --------------------------------------------------------------------------- JSON


def _load_json(text: str, origin: str, hint: str, error: type[GenError]) -> list[Any] | None:
    """The JSON document, or None when the text is not JSON (it may be YAML in flow style)."""
    if _json_nodes_bound(text) > MAX_NODES:
        return None  # may be fewer (commas in strings): the YAML path counts exactly
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        raise LimitError(f"{origin} nests deeper than {MAX_DEPTH} levels; {hint}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise error(f"{origin} is not valid JSON: {exc}; {hint}") from None
    _check_tree([doc], origin, hint, shared=False)
    return [doc]


def _without_values(problem: str) -> str:
    """A YAML problem without the values it quotes: a duplicate key's values may be a password."""
    head, sep, _ = problem.partition(" with value ")
    return f"{head} (values not shown)" if sep and head.startswith("found duplicate key") else problem


def _json_nodes_bound(text: str) -> int:
    return text.count(",") + text.count(":") + text.count("[") + text.count("{") + 1


# --------------------------------------------------------------------------- YAML


def _load_yaml(text: str, origin: str, hint: str, error: type[GenError], *, multi: bool) -> list[Any]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    engine, depth_bound = _plan(text)
    loader = None
    try:
        if engine == "c-counted":
            _count_events(text)
        loader = _loader(text, "python" if engine == "python" else "c")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            docs = []
            while loader.check_data():
                doc = loader.get_data()
                if doc is not None:
                    docs.append(doc)
                if not multi and len(docs) > 1:
                    raise error(f"{origin} holds more than one YAML document; {hint}")
    except _Refused as exc:
        raise LimitError(f"{origin} {exc}; {hint}") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or str(exc).splitlines()[0]
        if exc.context and "duplicate" in exc.context:  # libyaml: "found duplicate anchor; first occurrence"
            problem = exc.context.split(";")[0]
        problem = _without_values(problem)
        raise error(f"{origin} is not valid YAML{where}: {problem}; {hint}") from None
    except YAMLError as exc:
        raise error(f"{origin} is not valid YAML: {str(exc).splitlines()[0] if str(exc) else exc!r}; {hint}") from None
    except RecursionError:
        raise LimitError(f"{origin} nests deeper than {MAX_DEPTH} levels; {hint}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar its tag cannot hold (a date, a huge int)
        raise error(f"{origin} is not valid YAML: {exc}; {hint}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if "&" in text:  # anchors, so maybe aliases: measure the shared graph
        _check_tree(docs, origin, hint)
    elif depth_bound > MAX_DEPTH and engine != "python":  # the Python composer counted the levels itself
        _check_tree(docs, origin, hint, shared=False)
    return docs


def choose_engine(text: str) -> str:
    """How to parse `text`: "c" (libyaml's composer), "c-counted" (libyaml's composer after counting its
    events: the text may nest or hold more than the limits) or "python" (no libyaml here)."""
    return _plan(text)[0]


def _plan(text: str) -> tuple[str, int]:
    """(engine, an upper bound of the nesting of `text`)."""
    depth = _depth_bound(text)
    if _CParser is None:
        return "python", depth
    few = 2 * len(text) < MAX_NODES or _nodes_bound(text) <= MAX_NODES  # a node takes half a character at least
    return ("c" if few and depth <= C_COMPOSER_DEPTH else "c-counted"), depth


def _count_events(text: str) -> None:
    """Count libyaml's events (iteratively: no recursion), refusing past the limits before anything is built."""
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    opens, closes = (MappingStartEvent, SequenceStartEvent), (MappingEndEvent, SequenceEndEvent)
    nodes_ = (ScalarEvent, AliasEvent, DocumentStartEvent)
    parser = _CParser(text)
    nodes = depth = 0
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind in closes:
                depth -= 1
                continue
            if kind in opens:
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused(f"nests deeper than {MAX_DEPTH} levels (at line {event.start_mark.line + 1})")
            elif kind not in nodes_:
                continue
            nodes += 1
            if nodes > MAX_NODES:
                raise _Refused(f"holds more than {MAX_NODES} values")
    finally:
        parser.dispose()


def _nodes_bound(text: str) -> int:
    # every node after the first follows a line break or one of these indicators; a `:` or `?` may also
    # start the (implicit) mapping its key begins, or stand before an empty value
    return sum(text.count(c) for c in "\n,-[{") + 2 * (text.count(":") + text.count("?")) + 1


_LINE_PREFIX = re.compile(r"\n[ \t?:-]*")  # a literal first character: the search skips along in C


def _depth_bound(text: str) -> int:
    """An upper bound of the nesting of `text`, sound for any YAML.

    A flow collection opens with `[` or `{` (an empty one, `[]` or `{}`, nests nothing; a `[` may hold a
    single-pair mapping with no `{`: two levels); a block collection opens at a column greater than its
    parent's (an indentless sequence aside: at most one per mapping), and that column lies within the
    indentation and block indicators (`- `, `? `, `: `) that start a line.
    """
    flow = 2 * (text.count("[") - text.count("[]")) + text.count("{") - text.count("{}") + 1
    prefix = max((len(m) - 1 for m in _LINE_PREFIX.findall(text)), default=0)
    first = re.match(r"[ \t?:-]*", text)
    prefix = max(prefix, len(first.group()) if first else 0)
    return flow + 2 * (prefix + 2) + 1


def _loader(text: str, engine: str) -> Any:
    classes = _loader_classes()
    if engine not in classes:
        raise ValueError(f"YAML engine {engine!r} is not available (have: {', '.join(classes)})")
    return classes[engine](text)


_CLASSES: dict[str, type] = {}


def _counting_composer() -> type:
    """ruamel.yaml's Composer, counting nodes and levels as they come."""
    from ruamel.yaml.composer import Composer, ComposerError
    from ruamel.yaml.events import AliasEvent

    class CountingComposer(Composer):
        """Composes in Python, counting nodes and levels as they come; refuses what libyaml refuses."""

        max_depth = 0  # ruamel.yaml's own check (0.18.7+) is off: this one counts
        level = 0
        nodes = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _Refused(f"holds more than {MAX_NODES} values")
            if self.parser.check_event(AliasEvent):
                return super().compose_node(parent, index)
            event = self.parser.peek_event()
            if event.anchor is not None and event.anchor in self.anchors:
                # libyaml refuses a second anchor of the same name; so does every path here
                raise ComposerError(None, None, "found duplicate anchor", event.start_mark)
            self.level += 1
            if self.level > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels (at line {event.start_mark.line + 1})")
            try:
                return super().compose_node(parent, index)
            finally:
                self.level -= 1

    return CountingComposer


def _loader_classes() -> dict[str, type]:
    """The loaders, built on first use: ruamel.yaml is imported only by commands that parse YAML."""
    if _CLASSES:
        return _CLASSES
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.parser import Parser
    from ruamel.yaml.reader import Reader
    from ruamel.yaml.resolver import VersionedResolver
    from ruamel.yaml.scanner import Scanner

    class Resolver12(VersionedResolver):
        """YAML 1.2 in every path (libyaml's path cannot see a %YAML directive), its rules looked up once."""

        processing_version = (1, 2)
        versioned_resolver: Any = None

        def __init__(self, loadumper: Any) -> None:
            super().__init__(None, loadumper=loadumper)
            self.versioned_resolver = VersionedResolver.versioned_resolver.fget(self)  # type: ignore[attr-defined]

    class Constructor(SafeConstructor):
        """ruamel.yaml's safe constructor, counting what merge keys (`<<`) copy."""

        merged = 0

        def flatten_mapping(self, node: Any) -> Any:
            before = len(node.value)
            super().flatten_mapping(node)
            self.merged += max(0, len(node.value) - before)
            if self.merged > MAX_ALIAS_NODES:
                raise _Refused(f"uses YAML merge keys (<<) that copy more than {MAX_ALIAS_NODES} entries")
            for key, _ in node.value:
                if key.id != "scalar":  # ruamel.yaml would make a tuple of a sequence; no object has one
                    raise _Refused(f"has a mapping key that is a {key.id} (at line {key.start_mark.line + 1})")

    CountingComposer: Any = _counting_composer()

    def setup(loader: Any) -> None:
        SafeConstructor.__init__(loader, loader=loader)
        Resolver12.__init__(loader, loadumper=loader)
        loader.allow_duplicate_keys = False

    class PythonLoader(Reader, Scanner, Parser, CountingComposer, Constructor, Resolver12):  # type: ignore[misc]
        def __init__(self, text: str) -> None:
            self.comment_handling = None
            Reader.__init__(self, text, loader=self)
            Scanner.__init__(self, loader=self)
            Parser.__init__(self, loader=self)
            CountingComposer.__init__(self, loader=self)
            setup(self)

    _CLASSES["python"] = PythonLoader
    if _CParser is not None:

        class CLoader(_CParser, Constructor, Resolver12):  # type: ignore[misc]
            """libyaml all the way to the nodes; only for texts whose nesting and size are proven small."""

            def __init__(self, text: str) -> None:
                _CParser.__init__(self, text)
                self._parser = self._composer = self
                setup(self)

        _CLASSES["c"] = CLoader
    return _CLASSES


# --------------------------------------------------------------------------- the parsed graph


def _check_tree(docs: list[Any], origin: str, hint: str, *, shared: bool = True) -> None:
    try:
        if shared:
            measure(docs)
        else:
            check_depth(docs)
    except _Refused as exc:
        raise LimitError(f"{origin} {exc}; {hint}") from None


def check_depth(docs: list[Any]) -> int:
    """The deepest nesting of a tree that shares no node (JSON, or YAML without anchors); refused past the limit."""
    stack = [(doc, 1) for doc in docs if type(doc) in (dict, list)]
    deepest = 0
    while stack:
        obj, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if depth > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels")
        depth += 1
        stack.extend((c, depth) for c in (obj.values() if type(obj) is dict else obj) if type(c) in (dict, list))
    return deepest


_NESTED = (dict, list)


def _children(obj: Any) -> Any:
    return list(obj.values()) if isinstance(obj, dict) else obj


def measure(docs: list[Any]) -> tuple[int, int]:
    """(deepest nesting, nodes added by aliases) of parsed documents; refuses what passes a limit.

    Shared containers (what YAML aliases give) are measured once and counted at every place they appear,
    so a billion-node expansion is found in time linear in the parsed graph. A container inside itself
    (a recursive alias) is refused.
    """
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    active: set[int] = set()
    unique = 0
    deepest = 0
    stack: list[tuple[Any, int, bool]] = [(doc, 1, False) for doc in reversed(docs) if isinstance(doc, _NESTED)]
    while stack:
        obj, depth, finished = stack.pop()
        oid = id(obj)
        children = _children(obj)
        if finished:
            active.discard(oid)
            size, height = 1 + len(children), 1
            for child in children:
                if isinstance(child, _NESTED):
                    csize, cheight = done[id(child)]
                    size += csize
                    height = max(height, cheight + 1)
            done[oid] = (size, height)
            unique += 1 + len(children)
            if size - unique > MAX_ALIAS_NODES:
                raise _Refused(
                    f"has YAML aliases that expand to more than {MAX_ALIAS_NODES} further values "
                    "(kubectl and helm write no aliases)"
                )
            continue
        if oid in done:
            deepest = max(deepest, depth + done[oid][1] - 1)
            if deepest > MAX_DEPTH:
                raise _Refused(f"nests deeper than {MAX_DEPTH} levels (through a YAML alias)")
            continue
        if oid in active:
            raise _Refused("has a YAML alias inside the node it names (a recursive structure)")
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            raise _Refused(f"nests deeper than {MAX_DEPTH} levels")
        active.add(oid)
        stack.append((obj, depth, True))
        stack.extend((c, depth + 1, False) for c in children if isinstance(c, _NESTED))
    total = sum(done[id(d)][0] for d in docs if isinstance(d, _NESTED))
    return deepest, total - unique


def iter_engines() -> Iterator[str]:
    """The YAML engines installed here (for tests that compare them)."""
    yield from (e for e in ENGINES if e in _loader_classes())
