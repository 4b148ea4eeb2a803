"""Options shared by several commands, each declared once: where the install is read from, and reports."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click

from .errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SourceSpec:
    """Where the ClearML install is read from, as the shared options give it."""

    clearml_namespace: str | None
    from_file: str | None
    agent: str | None
    kubeconfig: str | None
    context: str | None

    def open(self, clearml_namespace: str | None = None) -> Any:
        from .kube import load_api_client
        from .source import FileSource, LiveSource

        namespace = clearml_namespace or self.clearml_namespace
        if self.from_file:
            return FileSource.from_path(self.from_file, namespace)
        return LiveSource(load_api_client(first_kubeconfig(self.kubeconfig), self.context), namespace or "clearml")


def first_kubeconfig(kubeconfig: str | None) -> str | None:
    # $KUBECONFIG may be a list; the client reads one file
    return kubeconfig.split(os.pathsep)[0] if kubeconfig else None


def source_options(fn: F) -> F:
    """Where the ClearML install is read from: shared by every command that reads one, passed as `source`."""
    decorators = [
        click.option(
            "--clearml-namespace",
            default=None,
            metavar="NS",
            help="Namespace of the ClearML install [default: clearml; with --from-file, the dump's own].",
        ),
        click.option(
            "--from-file",
            "from_file",
            metavar="PATH",
            help="Read a `kubectl get -o yaml|json` dump (a List, several documents or one object) "
            "instead of the cluster; `-` reads standard input.",
        ),
        click.option("--agent", metavar="NAME", help="The agent Deployment, when the namespace holds several."),
        click.option(
            "--kubeconfig",
            metavar="PATH",
            envvar="KUBECONFIG",
            help="kubeconfig of the cluster [default: $KUBECONFIG, ~/.kube/config, or in-cluster].",
        ),
        click.option("--context", metavar="NAME", help="kubeconfig context to use."),
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        spec = SourceSpec(
            **{k: kwargs.pop(k) for k in ("clearml_namespace", "from_file", "agent", "kubeconfig", "context")}
        )
        return fn(*args, source=spec, **kwargs)

    out: Any = wrapper
    for decorator in reversed(decorators):
        out = decorator(out)
    return cast(F, out)


def report_options(formats: tuple[str, ...], default: str) -> Callable[[F], F]:
    """`--format` and `-o FILE`, as every command has them; `-o FORMAT` (kubectl's habit) also picks the format."""

    def decorate(fn: F) -> F:
        fn = click.option(
            "-o",
            "--output",
            metavar="FILE",
            help=f"Write the report to FILE (`-` is stdout); `-o {formats[-1]}` is short for --format {formats[-1]}.",
        )(fn)
        return click.option(
            "--format", "fmt", type=click.Choice(formats), default=None, help=f"Report format [default: {default}]."
        )(fn)

    return decorate


def report_destination(fmt: str | None, output: str | None, formats: tuple[str, ...], default: str) -> tuple[str, str]:
    """(format, file) from --format and -o: a bare format name given to -o is the format (write ./json for a file)."""
    if output in formats:
        if fmt is not None and fmt != output:
            raise UsageError(f"-o {output} and --format {fmt} disagree; give one of them")
        return str(output), "-"
    return fmt or default, output or "-"


def write_report(text: str, output: str, what: str) -> None:
    from .write import Target, transaction

    target = Target(output, what)
    with transaction() as tx:
        tx.check(target)
        tx.stage([(target, text)])
        tx.commit()
