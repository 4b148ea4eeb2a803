"""The command line: parse options, call the library, print. Nothing else lives here."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import click

from . import __version__
from .errors import GenError, UsageError
from .models import DEFAULT_CHART_REPO, FORMATS
from .options import SourceSpec, first_kubeconfig, report_destination, report_options, source_options, write_report
from .redact import redact_text


def warn(message: str) -> None:
    click.echo(f"warning: {redact_text(message)}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="clearml-runai-gen")
def cli() -> None:
    """Put ClearML's Kubernetes agent into Run:ai projects.

    Reads the ClearML install (live, or a dump), mends the faults of the old copy-and-sed procedure,
    and renders the values of the chart clearml-runai-agent for each project.
    """


@cli.command()
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="P",
    help="Run:ai project (its namespace: labelled runai/queue=P, else runai-P). Repeat for several projects "
    "(with --output-dir).",
)
@click.option(
    "--all-projects",
    is_flag=True,
    help="Every Run:ai project of the cluster (namespaces labelled runai/queue); live only.",
)
@click.option(
    "-n",
    "--namespace",
    metavar="NS",
    help="Namespace of the project [default: live, the one labelled runai/queue=P; else runai-P].",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="Q",
    help="ClearML queue(s) the agent serves; a comma list is allowed [default: runai-P].",
)
@click.option("--worker-id", metavar="ID", help="ClearML worker id of the agent [default: clearml-runai-P].")
@click.option(
    "--scheduler",
    default="runai-scheduler",
    show_default=True,
    help="schedulerName of task pods; `kai` means the open-source KAI scheduler (kai-scheduler).",
)
@click.option("--gpu-fraction", metavar="F", help="GPU fraction per task pod, e.g. 0.5 (annotation gpu-fraction).")
@click.option("--priority-class", metavar="NAME", help="Run:ai priority of task pods (train, build, inference, ...).")
@click.option("--node-pool", metavar="POOL", help="Run:ai node pool of task pods.")
@click.option(
    "--task-kind",
    type=click.Choice(["auto", "pod", "job"]),
    default="auto",
    show_default=True,
    help="What the agent creates per task; auto: a Job for a preemptible --priority-class (train, "
    "build-preemptible, interactive-preemptible), so that a preempted task goes back to its queue, else "
    "what the source agent creates.",
)
@click.option("--cluster-domain", default="cluster.local", show_default=True, help="DNS domain of the cluster.")
@click.option("--agent-image", metavar="IMAGE", help="Agent image [default: the source agent's].")
@click.option(
    "--template-queue",
    metavar="Q",
    help="When the source agent has one task template per queue (clearml-agent enterpriseFeatures): "
    "the queue whose template task pods get.",
)
@click.option(
    "--queue-profiles",
    metavar="FILE",
    help="YAML mapping ClearML queue -> profile (gpuFraction, priorityClass, nodePool, taskPod): an agent "
    "per queue with its own task pod template; `{project}` in a queue name is the project.",
)
@click.option(
    "--create-queue/--no-create-queue",
    default=True,
    show_default=True,
    help="Let the agent create its queues in ClearML when they are missing (the glue's --create-queue).",
)
@click.option(
    "--keep-finished-pods",
    type=click.IntRange(min=0),
    default=0,
    metavar="MINUTES",
    help="Minutes a finished task pod stays for inspection before the agent deletes it [default: 0, at once].",
)
@click.option(
    "--no-self-update/--self-update",
    default=True,
    show_default=True,
    help="Keep the agent from upgrading itself from PyPI at every start (CLEARML_AGENT_NO_UPDATE).",
)
@click.option("-o", "--output", metavar="FILE", help="Write the values to FILE (atomically, mode 0600); `-` is stdout.")
@click.option(
    "--output-dir",
    metavar="DIR",
    help="Write <project>.values.yaml (or .argocd.yaml, .flux.yaml) per project into DIR.",
)
@click.option("--show-secrets", is_flag=True, help="Print values with credentials even when stdout is a terminal.")
@click.option(
    "--credentials-out",
    metavar="PATH",
    help="Keep the credentials out of the values: write their Secret manifest to PATH (a directory: "
    "<project>.secret.yaml each), to seal or encrypt; the values name that Secret.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="values",
    show_default=True,
    help="values: a values file; argocd: an Argo CD Application; flux: a Flux HelmRelease and its source "
    "(both with the values inline, and need --credentials-out).",
)
@click.option(
    "--chart-repo",
    metavar="URL",
    help="Where argocd/flux objects get the chart: oci://HOST/PATH or https://HOST/PATH "
    f"[default: {DEFAULT_CHART_REPO}].",
)
@click.option("--chart-version", metavar="X", help=f"Chart version of argocd/flux objects [default: {__version__}].")
@click.option("--argocd-namespace", metavar="NS", help="Namespace of Argo CD's Applications [default: argocd].")
@click.option("--argocd-project", metavar="NAME", help="Argo CD project of the Application [default: default].")
@source_options
def render(source: SourceSpec, **options: Any) -> None:
    """Render the values of release clearml-runai-P for Run:ai project P (or an Argo CD/Flux object with them)."""
    from .api import render_files
    from .request import RenderRequest

    request = RenderRequest.build(from_file=source.from_file is not None, **options)
    install_source = source.open()
    count = len(request.projects)  # with --all-projects, unknown until the cluster is read: no bar
    hide = count <= 10 or not sys.stderr.isatty()
    with click.progressbar(length=max(count, 1), label="rendering values", file=sys.stderr, hidden=hide) as bar:
        results = render_files(request, install_source, agent=source.agent, progress=bar.update)
    for note in dict.fromkeys(n for r in results for n in r.notes):
        click.echo(f"note: {redact_text(note)}", err=True)
    for message in dict.fromkeys(w for r in results for w in r.warnings):
        warn(message)
    for line in request.summary(len(results)):
        click.echo(line, err=True)


@cli.command()
@report_options(("table", "json"), "table")
@source_options
def discover(fmt: str | None, output: str | None, source: SourceSpec) -> None:
    """Show what the tool finds in a ClearML namespace (credentials redacted)."""
    import json

    from .discover import as_table
    from .discover import discover as run_discover

    fmt, output = report_destination(fmt, output, ("table", "json"), "table")
    report = run_discover(source.open())
    if source.agent:
        report["agents"] = [a for a in report["agents"] if a["deployment"] == source.agent]
    text = json.dumps(report, indent=2, sort_keys=True) + "\n" if fmt == "json" else as_table(report)
    write_report(text, output, "-o")


@cli.command()
@click.option("--project", required=True, metavar="P", help="Run:ai project to check.")
@click.option(
    "-n",
    "--namespace",
    metavar="NS",
    help="Namespace of the project [default: live, the one labelled runai/queue=P; else runai-P].",
)
@click.option("--release", metavar="NAME", help="Release name [default: clearml-runai-P].")
@click.option("--kubeconfig", metavar="PATH", envvar="KUBECONFIG", help="kubeconfig of the cluster.")
@click.option("--context", metavar="NAME", help="kubeconfig context to use.")
@click.option(
    "--clearml-api-host",
    metavar="URL",
    help="Reach the ClearML API at URL (a port-forward or an ingress) for the queue check, instead of the "
    "agent's in-cluster CLEARML_API_HOST, which resolves only inside the cluster.",
)
def verify(
    project: str,
    namespace: str | None,
    release: str | None,
    kubeconfig: str | None,
    context: str | None,
    clearml_api_host: str | None,
) -> None:
    """Check an installed project: objects, agent, template, permissions, queue. Exit 0 when all hold."""
    from urllib.parse import urlsplit

    from .kube import load_api_client
    from .models import ProjectOptions
    from .verify import as_table
    from .verify import verify as run_verify

    ProjectOptions.build(project, namespace=namespace)  # refuses a bad name before the cluster is asked
    if clearml_api_host is not None:
        url = urlsplit(clearml_api_host)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UsageError(
                f"--clearml-api-host {clearml_api_host!r} is not an http(s) URL; e.g. http://localhost:8008 "
                "after kubectl port-forward -n clearml svc/clearml-apiserver 8008"
            )
    api = load_api_client(first_kubeconfig(kubeconfig), context)
    if not namespace:
        from .projects import list_namespaces, project_namespace

        namespace = project_namespace(list_namespaces(api), project)
    checks = run_verify(api, project, namespace, release, clearml_api_host=clearml_api_host)
    click.echo(as_table(checks), nl=False)
    if any(c.ok is False for c in checks):
        raise Verdict(1)


DIFF_FORMATS = ("text", "json")


@cli.command()
@click.option("--values", "values_file", required=True, metavar="FILE", help="Values rendered earlier.")
@click.option("--project", metavar="P", help="Run:ai project [default: the one in FILE].")
@click.option("--agent-image", metavar="IMAGE", help="The image passed to render, if it overrode the source's.")
@report_options(DIFF_FORMATS, "text")
@source_options
def diff(
    values_file: str,
    project: str | None,
    agent_image: str | None,
    fmt: str | None,
    output: str | None,
    source: SourceSpec,
) -> None:
    """What changed in the ClearML install since FILE was rendered (secrets redacted).

    Exit 0: no drift; 1: drift; 2: trouble (the comparison could not be made), as diff(1) does.
    """
    import json

    from .api import load_values, render_plan
    from .diff import changes, options_from_values, redact, sensitive_values
    from .secret import values_as_rendered_before

    fmt, output = report_destination(fmt, output, DIFF_FORMATS, "text")
    old = load_values(values_file)
    options, origin = options_from_values(old, values_file)
    if project and project != options.project:
        raise UsageError(f"--project {project} does not match {values_file}, rendered for {options.project}")
    if agent_image:
        options = dataclasses.replace(options, agent_image=agent_image)
    namespace = None if source.clearml_namespace or source.from_file else origin.clearml_namespace or None
    plan = render_plan(source.open(namespace), options, source.agent or origin.agent or None)
    found = changes(old, values_as_rendered_before(plan, old))
    described = redact([c.describe() for c in found], plan.install.sensitive | sensitive_values(old))
    if fmt == "json":
        entries = [{"path": c.path, "change": line} for c, line in zip(found, described, strict=True)]
        report = {"values": values_file, "drift": bool(found), "changes": entries}
        text = json.dumps(report, indent=2) + "\n"
    elif found:
        text = f"drift: {len(found)} change(s) since {values_file} was rendered\n"
        text += "".join(f"  {line}\n" for line in described)
    else:
        text = f"no drift: {values_file} matches the ClearML install\n"
    write_report(text, output, "-o")
    if found:
        raise Verdict(1)


@cli.command()
@click.argument("objects", nargs=-1, required=True, metavar="KIND/NAME...")
@click.option("-n", "--namespace", "target", required=True, metavar="NS", help="Namespace to copy into (runai-P).")
@click.option(
    "-o", "--output", metavar="FILE", help="Write the manifest to FILE (atomically, mode 0600); `-` is stdout."
)
@click.option("--show-secrets", is_flag=True, help="Print Secrets even when stdout is a terminal.")
@source_options
def copy(objects: tuple[str, ...], target: str, output: str | None, show_secrets: bool, source: SourceSpec) -> None:
    """Copy Secrets and ConfigMaps the agent needs (secret/NAME, configmap/NAME) into a Run:ai namespace.

    Prints a manifest of the objects, without what the API server and the old release own, in namespace
    NS: pipe it to `kubectl apply -f -`. ServiceAccount tokens and kube-root-ca.crt are never copied:
    each namespace has its own.
    """
    from .copying import copy_manifest
    from .write import Target, transaction

    text, has_secrets, notes = copy_manifest(source.open(), list(objects), target)
    destination = Target(output or "-", "-o", secret=has_secrets)
    with transaction(show_secrets) as tx:
        tx.check(destination)
        for note in notes:
            click.echo(f"note: {note}", err=True)
        tx.stage([(destination, text)])
        tx.commit()


@cli.command("chart-path")
def chart_path() -> None:
    """Print where the chart clearml-runai-agent is (helm install x "$(clearml-runai-gen chart-path)")."""
    from .chart import chart_path as find

    click.echo(str(find()))


from .operator.command import operate  # noqa: E402 (the operator's face; it imports kopf only when run)

cli.add_command(operate)


def one_line(message: str) -> str:
    """One line, with nothing in it that is shaped like a secret (an error may quote what it read)."""
    return redact_text(" ".join(message.split()))


class Verdict(Exception):
    """A command's own answer as its exit code (verify: 1 when a check fails; diff: 1 on drift)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# commands whose exit 1 is an answer, so any trouble exits with its own code, as diff(1) does
TROUBLE_EXIT = {"diff": 2}


def main(argv: list[str] | None = None) -> int:
    """Entry point: every GenError becomes one line on stderr and its exit code; never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        with click.Context(cli, info_name="clearml-runai-gen") as ctx:
            click.echo(ctx.get_help())
        return 0
    try:
        return _run(args)
    except Verdict as verdict:
        return verdict.code
    except _Trouble as trouble:
        command = next((a for a in args if not a.startswith("-")), "")
        return TROUBLE_EXIT.get(command, trouble.code)


class _Trouble(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _run(args: list[str]) -> int:
    try:
        cli.main(args=args, prog_name="clearml-runai-gen", standalone_mode=False)
    except Verdict:
        raise
    except GenError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        raise _Trouble(exc.exit_code) from None
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        raise _Trouble(130) from None
    except click.ClickException as exc:
        click.echo(f"error: {one_line(exc.format_message())}", err=True)
        raise _Trouble(exc.exit_code) from None
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        raise _Trouble(130) from None
    except BrokenPipeError:
        raise _Trouble(1) from None
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if os.environ.get("CLEARML_RUNAI_DEBUG"):
            raise
        click.echo(
            f"error: internal error ({type(exc).__name__}: {one_line(str(exc))}); "
            "rerun with CLEARML_RUNAI_DEBUG=1 and report it",
            err=True,
        )
        raise _Trouble(1) from None
    return 0


def entry() -> None:
    code = main()
    if "kubernetes" in sys.modules:
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> None:
    """Exit without tearing down the interpreter's modules.

    A command that talked to the cluster has imported the kubernetes client, a thousand modules whose
    teardown at exit takes longer than a live render's own work (about 65 ms here; docs/benchmarks.md).
    The exit handlers still run (the client's removal of the temporary files it wrote the kubeconfig's
    certificates to), and what was printed is flushed; only the teardown is skipped.
    """
    import atexit

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's; elsewhere exit the usual way
    if run_exit_handlers is None:
        return
    run_exit_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what was printed did not all arrive
        code = code or 1
    os._exit(code)
