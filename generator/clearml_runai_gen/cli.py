"""The command line: parse options, call the library, print. Nothing else lives here."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from . import __version__
from .errors import GenError, UsageError
from .models import DEFAULT_CHART_REPO, FORMATS

if TYPE_CHECKING:
    from .api import Output

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
        from .source import FileSource, LiveSource, load_api_client

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


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


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
    help="Run:ai project (namespace runai-P). Repeat for several projects (with --output-dir).",
)
@click.option(
    "--all-projects",
    is_flag=True,
    help="Every Run:ai project of the cluster (namespaces labelled runai/queue); live only.",
)
@click.option("--namespace", metavar="NS", help="Namespace of the project [default: runai-P].")
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
@click.option("-o", "--output", metavar="FILE", help="Write the values to FILE (atomically, mode 0600).")
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
def render(
    projects: tuple[str, ...],
    all_projects: bool,
    namespace: str | None,
    queues: tuple[str, ...],
    worker_id: str | None,
    scheduler: str,
    gpu_fraction: str | None,
    priority_class: str | None,
    node_pool: str | None,
    cluster_domain: str,
    agent_image: str | None,
    template_queue: str | None,
    queue_profiles: str | None,
    create_queue: bool,
    keep_finished_pods: int,
    no_self_update: bool,
    output: str | None,
    output_dir: str | None,
    show_secrets: bool,
    credentials_out: str | None,
    fmt: str,
    chart_repo: str | None,
    chart_version: str | None,
    argocd_namespace: str | None,
    argocd_project: str | None,
    source: SourceSpec,
) -> None:
    """Render the values of release clearml-runai-P for Run:ai project P (or an Argo CD/Flux object with them)."""
    from .api import Output, render_many
    from .models import DeliveryOptions

    delivery = DeliveryOptions.build(
        fmt,
        separate_secret=credentials_out is not None,
        chart_repo=chart_repo,
        chart_version=chart_version,
        argocd_namespace=argocd_namespace,
        argocd_project=argocd_project,
    )
    if credentials_out is not None:
        if credentials_out.strip() in ("", "-"):
            raise UsageError("--credentials-out needs a file or a directory: the Secret manifest never goes to stdout")
        if show_secrets:
            raise UsageError("--show-secrets does not go with --credentials-out: the values then hold no credential")

    if all_projects and projects:
        raise UsageError("use either --project or --all-projects, not both")
    if all_projects and source.from_file:
        raise UsageError("--all-projects reads the projects from the cluster; it does not go with --from-file")
    if not projects and not all_projects:
        raise UsageError("--project is required: name the Run:ai project (for example --project team-a)")
    if all_projects and not output_dir:
        raise UsageError("--all-projects needs --output-dir DIR (one <project>.values.yaml each)")
    if len(projects) > 1 or all_projects:
        for opt, val in (("--namespace", namespace), ("--worker-id", worker_id), ("-o", output)):
            if val:
                raise UsageError(f"{opt} applies to one project; with several --project use --output-dir")
        if not output_dir:
            raise UsageError("several --project need --output-dir DIR (one <project>.values.yaml each)")
    if output and output_dir:
        raise UsageError("use either -o FILE or --output-dir DIR, not both")
    if not output and not output_dir and sys.stdout.isatty() and not show_secrets and credentials_out is None:
        raise UsageError(
            "the values hold the agent's ClearML credentials and stdout is a terminal: "
            "redirect it (> values.yaml), use -o FILE, or pass --show-secrets"
        )
    from .models import ProjectOptions
    from .profiles import load_profiles

    profiles = load_profiles(queue_profiles) if queue_profiles is not None else ()

    def build(project: str, ns: str | None) -> ProjectOptions:
        return ProjectOptions.build(
            project,
            namespace=ns,
            queues=list(queues),
            worker_id=worker_id,
            scheduler=scheduler,
            gpu_fraction=gpu_fraction,
            priority_class=priority_class,
            node_pool=node_pool,
            cluster_domain=cluster_domain,
            agent_image=agent_image,
            no_self_update=no_self_update,
            template_queue=template_queue,
            queue_profiles=profiles,
            create_queue=create_queue,
            finished_pod_minutes=keep_finished_pods,
        )

    options = [build(p, namespace) for p in dict.fromkeys(projects)]
    install_source = source.open()
    if all_projects:
        from .api import runai_projects

        options = [build(p, ns) for p, ns in runai_projects(install_source.api)]
        if not options:
            raise GenError("the cluster has no Run:ai project namespaces (none is labelled runai/queue)")
    if fmt != "values":
        from .models import HELM_RELEASE_NAME_MAX

        for o in options:
            if len(o.release) > HELM_RELEASE_NAME_MAX:
                raise UsageError(
                    f"--format {fmt}: release name {o.release!r} has {len(o.release)} characters and helm allows "
                    f"{HELM_RELEASE_NAME_MAX}; render --format values and install it under a shorter name"
                )
    out = Output(delivery)
    if credentials_out is not None:
        per_project = output_dir is not None or len(options) > 1 or all_projects
        out = _secret_destination(out, credentials_out, output, per_project)
    directory: Path | None = None
    if output_dir:
        directory = Path(output_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--output-dir {output_dir}: {exc.strerror}") from None
        out = dataclasses.replace(out, out_dir=directory)
    hide = len(options) <= 10 or not sys.stderr.isatty()
    with click.progressbar(length=len(options), label="rendering values", file=sys.stderr, hidden=hide) as bar:
        results = render_many(install_source, options, agent=source.agent, progress=bar.update, output=out)
    for note in dict.fromkeys(n for r in results for n in r.notes):
        click.echo(f"note: {note}", err=True)
    for message in dict.fromkeys(w for r in results for w in r.warnings):
        warn(message)
    seal = "seal or encrypt before it goes into git, and apply it before the release"
    if out.secrets_dir is not None:
        click.echo(f"wrote {len(results)} Secret manifest(s) to {out.secrets_dir} ({seal})", err=True)
    elif out.secret_file is not None:
        click.echo(f"wrote the Secret manifest to {out.secret_file} ({seal})", err=True)
    if directory is not None:
        kind = {"values": "values", "argocd": "Argo CD Application", "flux": "Flux HelmRelease"}[fmt]
        click.echo(f"wrote {len(results)} {kind} file(s) to {directory}", err=True)
    elif output:
        from .emit import write_atomic

        write_atomic(Path(output), results[0].text)
    else:
        click.echo(results[0].text, nl=False)


@cli.command()
@click.option("-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@source_options
def discover(
    fmt: str,
    source: SourceSpec,
) -> None:
    """Show what the tool finds in a ClearML namespace (credentials redacted)."""
    import json

    from .discover import as_table
    from .discover import discover as run_discover

    report = run_discover(source.open())
    if source.agent:
        report["agents"] = [a for a in report["agents"] if a["deployment"] == source.agent]
    click.echo(json.dumps(report, indent=2, sort_keys=True) if fmt == "json" else as_table(report), nl=fmt == "json")


@cli.command()
@click.option("--project", required=True, metavar="P", help="Run:ai project to check.")
@click.option("--namespace", metavar="NS", help="Namespace of the project [default: runai-P].")
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

    from .models import ProjectOptions
    from .source import load_api_client
    from .verify import as_table
    from .verify import verify as run_verify

    options = ProjectOptions.build(project, namespace=namespace)
    if clearml_api_host is not None:
        url = urlsplit(clearml_api_host)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UsageError(
                f"--clearml-api-host {clearml_api_host!r} is not an http(s) URL; e.g. http://localhost:8008 "
                "after kubectl port-forward -n clearml svc/clearml-apiserver 8008"
            )
    api = load_api_client(first_kubeconfig(kubeconfig), context)
    checks = run_verify(api, project, options.namespace, release, clearml_api_host=clearml_api_host)
    click.echo(as_table(checks), nl=False)
    if any(c.ok is False for c in checks):
        raise SystemExit(1)


@cli.command()
@click.option("--values", "values_file", required=True, metavar="FILE", help="Values rendered earlier.")
@click.option("--project", metavar="P", help="Run:ai project [default: the one in FILE].")
@click.option("--agent-image", metavar="IMAGE", help="The image passed to render, if it overrode the source's.")
@source_options
def diff(
    values_file: str,
    project: str | None,
    agent_image: str | None,
    source: SourceSpec,
) -> None:
    """What changed in the ClearML install since FILE was rendered (secrets redacted). Exit 1 on drift."""
    import dataclasses

    from .api import load_values, render_plan
    from .diff import changes, options_from_values, redact, sensitive_values
    from .secret import values_as_rendered_before

    old = load_values(values_file)
    options, origin = options_from_values(old, values_file)
    if project and project != options.project:
        raise UsageError(f"--project {project} does not match {values_file}, rendered for {options.project}")
    if agent_image:
        options = dataclasses.replace(options, agent_image=agent_image)
    namespace = None if source.clearml_namespace or source.from_file else origin.clearml_namespace or None
    plan = render_plan(source.open(namespace), options, source.agent or origin.agent or None)
    found = changes(old, values_as_rendered_before(plan, old))
    if not found:
        click.echo(f"no drift: {values_file} matches the ClearML install")
        return
    click.echo(f"drift: {len(found)} change(s) since {values_file} was rendered")
    for line in redact([change.describe() for change in found], plan.install.sensitive | sensitive_values(old)):
        click.echo(f"  {line}")
    raise SystemExit(1)


def _secret_destination(out: Output, credentials_out: str, output: str | None, per_project: bool) -> Output:
    """Where the Secret manifests go: a directory (one <project>.secret.yaml each), or one file.

    With --output-dir or several projects it is a directory; else it is one when it exists as one or
    ends with a slash. Checked before anything is rendered, so that a bad path leaves nothing written."""
    path = Path(credentials_out)
    if per_project or credentials_out.endswith(os.sep) or path.is_dir():
        if path.exists() and not path.is_dir():
            raise UsageError(
                f"--credentials-out {credentials_out} is a file; with --output-dir or several projects name a "
                "directory (one <project>.secret.yaml each)"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--credentials-out {credentials_out}: {exc.strerror}") from None
        return dataclasses.replace(out, secrets_dir=path)
    if output and Path(output).resolve() == path.resolve():
        raise UsageError("-o and --credentials-out name the same file: the values and their Secret go apart")
    for opt, target in (("--credentials-out", path), ("-o", Path(output) if output else None)):
        if target is not None and not target.resolve().parent.is_dir():
            raise UsageError(f"{opt} {target}: directory {target.parent} does not exist")
    return dataclasses.replace(out, secret_file=path)


@cli.command()
@click.argument("objects", nargs=-1, required=True, metavar="KIND/NAME...")
@click.option("--namespace", "target", required=True, metavar="NS", help="Namespace to copy into (runai-P).")
@click.option("-o", "--output", metavar="FILE", help="Write the manifest to FILE (atomically, mode 0600).")
@click.option("--show-secrets", is_flag=True, help="Print Secrets even when stdout is a terminal.")
@source_options
def copy(objects: tuple[str, ...], target: str, output: str | None, show_secrets: bool, source: SourceSpec) -> None:
    """Copy Secrets and ConfigMaps the agent needs (secret/NAME, configmap/NAME) into a Run:ai namespace.

    Prints a manifest of the objects, without what the API server and the old release own, in namespace
    NS: pipe it to `kubectl apply -f -`.
    """
    from .copy import copy_manifest

    text, has_secrets = copy_manifest(source.open(), list(objects), target)
    if has_secrets and not output and sys.stdout.isatty() and not show_secrets:
        raise UsageError(
            "the manifest holds Secrets and stdout is a terminal: pipe it to `kubectl apply -f -`, "
            "use -o FILE, or pass --show-secrets"
        )
    if output:
        from .emit import write_atomic

        write_atomic(Path(output), text)
    else:
        click.echo(text, nl=False)


@cli.command("chart-path")
def chart_path() -> None:
    """Print where the chart clearml-runai-agent is (helm install x "$(clearml-runai-gen chart-path)")."""
    from .chart import chart_path as find

    click.echo(str(find()))


def one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: every GenError becomes one line on stderr and its exit code; never a traceback."""
    try:
        cli.main(args=argv, prog_name="clearml-runai-gen", standalone_mode=False)
    except GenError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:  # a command's own verdict (verify, diff): 1 means "does not hold"
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if os.environ.get("CLEARML_RUNAI_DEBUG"):
            raise
        click.echo(
            f"error: internal error ({type(exc).__name__}: {one_line(str(exc))}); "
            "rerun with CLEARML_RUNAI_DEBUG=1 and report it",
            err=True,
        )
        return 1
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
