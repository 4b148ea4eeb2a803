"""What `render` is asked to do: every option, and every rule on how they combine, built and checked here once.

The CLI hands its options over as they came; `RenderRequest.build` refuses a combination that makes no
sense in one line, before anything is read or written. The request then says which projects are
rendered with which options, and where each file goes (`targets`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GenError, UsageError
from .models import HELM_RELEASE_NAME_MAX, DeliveryOptions, Obj, ProjectOptions
from .podsecurity import namespace_level
from .profiles import QueueProfile, load_profiles
from .projects import find_namespace, project_namespace
from .write import STDOUT, Target, Transaction

KIND_NAMES = {"values": "values", "argocd": "Argo CD Application", "flux": "Flux HelmRelease"}


@dataclass(frozen=True)
class ProjectChoices:
    """The options that shape each project's release, as given (defaults are the models')."""

    queues: tuple[str, ...] = ()
    worker_id: str | None = None
    scheduler: str = "runai-scheduler"
    gpu_fraction: str | None = None
    priority_class: str | None = None
    node_pool: str | None = None
    cluster_domain: str = "cluster.local"
    agent_image: str | None = None
    template_queue: str | None = None
    no_self_update: bool = True
    task_kind: str | None = None  # "auto" (or None), "pod", "job"
    queue_profiles: tuple[QueueProfile, ...] = ()  # --queue-profiles, loaded
    create_queue: bool = True
    finished_pod_minutes: int = 0  # --keep-finished-pods

    def options(self, project: str, namespace: str | None) -> ProjectOptions:
        return ProjectOptions.build(
            project,
            namespace=namespace,
            queues=list(self.queues),
            worker_id=self.worker_id,
            scheduler=self.scheduler,
            gpu_fraction=self.gpu_fraction,
            priority_class=self.priority_class,
            node_pool=self.node_pool,
            cluster_domain=self.cluster_domain,
            agent_image=self.agent_image,
            no_self_update=self.no_self_update,
            template_queue=self.template_queue,
            task_kind=self.task_kind,
            queue_profiles=self.queue_profiles,
            create_queue=self.create_queue,
            finished_pod_minutes=self.finished_pod_minutes,
        )


@dataclass(frozen=True)
class RenderRequest:
    projects: tuple[str, ...]
    all_projects: bool
    namespace: str | None
    choices: ProjectChoices
    delivery: DeliveryOptions
    output: str  # a file, or "-": standard output
    output_dir: str | None
    credentials_out: str | None
    secrets_per_project: bool  # --credentials-out is a directory: <project>.secret.yaml each
    show_secrets: bool
    named: tuple[ProjectOptions, ...]  # of each --project, checked before anything is read
    _dirs: dict[str, Path] = field(default_factory=dict, compare=False)

    @classmethod
    def build(  # noqa: PLR0913 - one keyword per option of `render`, as the CLI passes them
        cls,
        *,
        from_file: bool,
        projects: tuple[str, ...] = (),
        all_projects: bool = False,
        namespace: str | None = None,
        output: str | None = None,
        output_dir: str | None = None,
        credentials_out: str | None = None,
        show_secrets: bool = False,
        fmt: str = "values",
        chart_repo: str | None = None,
        chart_version: str | None = None,
        argocd_namespace: str | None = None,
        argocd_project: str | None = None,
        queues: tuple[str, ...] = (),
        **choices: str | bool | None,
    ) -> RenderRequest:
        _check_projects(projects, all_projects, from_file, output_dir)
        several = len(projects) > 1 or all_projects
        if several:
            for opt, val in (("--namespace", namespace), ("--worker-id", choices.get("worker_id")), ("-o", output)):
                if val:
                    raise UsageError(f"{opt} applies to one project; with several --project use --output-dir")
        if output and output_dir:
            raise UsageError("use either -o FILE or --output-dir DIR, not both")
        secrets_per_project = _check_credentials_out(credentials_out, show_secrets, several or bool(output_dir))
        delivery = DeliveryOptions.build(
            fmt,
            separate_secret=credentials_out is not None,
            chart_repo=chart_repo,
            chart_version=chart_version,
            argocd_namespace=argocd_namespace,
            argocd_project=argocd_project,
        )
        profiles_file = choices.pop("queue_profiles", None)
        profiles = load_profiles(str(profiles_file)) if profiles_file is not None else ()
        minutes = int(choices.pop("keep_finished_pods", None) or 0)
        project_choices = ProjectChoices(
            queues=queues,
            queue_profiles=profiles,
            finished_pod_minutes=minutes,
            **choices,  # type: ignore[arg-type]
        )
        unique = tuple(dict.fromkeys(projects))
        return cls(
            projects=unique,
            all_projects=all_projects,
            namespace=namespace,
            choices=project_choices,
            delivery=delivery,
            output=output or STDOUT,
            output_dir=output_dir,
            credentials_out=credentials_out,
            secrets_per_project=secrets_per_project,
            show_secrets=show_secrets,
            named=tuple(project_choices.options(p, namespace) for p in unique),
        )

    def project_options(self, listed: Callable[[], list[tuple[str, str]]]) -> list[ProjectOptions]:
        """Each project's options; with --all-projects, the projects `listed` finds on the cluster."""
        if self.all_projects:
            options = [self.choices.options(p, ns) for p, ns in listed()]
            if not options:
                raise GenError("the cluster has no Run:ai project namespaces (none is labelled runai/queue)")
        else:
            options = list(self.named)
        fmt = self.delivery.format
        for o in options:
            if fmt != "values" and len(o.release) > HELM_RELEASE_NAME_MAX:
                raise UsageError(
                    f"--format {fmt}: release name {o.release!r} has {len(o.release)} characters and helm allows "
                    f"{HELM_RELEASE_NAME_MAX}; render --format values and install it under a shorter name"
                )
        return options

    def place(self, options: list[ProjectOptions], namespaces: list[Obj]) -> list[ProjectOptions]:
        """On a live cluster: each project in the namespace labelled for it (unless --namespace named one),
        with the Pod Security level that namespace enforces."""
        if not self.namespace and not self.all_projects:
            options = [self.choices.options(o.project, project_namespace(namespaces, o.project)) for o in options]
        return [
            dataclasses.replace(o, pod_security=namespace_level(find_namespace(namespaces, o.namespace)))
            for o in options
        ]

    def unplaced_note(self, reason: str) -> str:
        """What was not checked when the namespaces could not be read."""
        where = "" if self.namespace else "each namespace is taken to be runai-<project> (or pass --namespace); "
        return f"the namespaces were not read ({reason}): {where}its Pod Security level was not checked"

    def plan_targets(self, tx: Transaction, options: list[ProjectOptions]) -> dict[str, tuple[Target, Target | None]]:
        """Where each project's files go, every one checked by `tx` before anything is rendered."""
        if self.output_dir:
            self._dirs["values"] = tx.directory(self.output_dir, "--output-dir")
        if self.credentials_out and self.secrets_per_project:
            hint = "with --output-dir or several projects name a directory (one <project>.secret.yaml each)"
            self._dirs["secrets"] = tx.directory(self.credentials_out, "--credentials-out", hint)
        out = {}
        for o in options:
            values, secret = self._values_target(o.project), self._secret_target(o.project)
            for target in (values, secret):
                if target is not None:
                    tx.check(target)
            out[o.project] = (values, secret)
        return out

    def _values_target(self, project: str) -> Target:
        secret = not self.delivery.separate_secret
        if "values" in self._dirs:
            path = self._dirs["values"] / f"{project}.{self.delivery.format}.yaml"
            return Target(str(path), "--output-dir", secret)
        return Target(self.output, "-o" if self.output != STDOUT else "render", secret)

    def _secret_target(self, project: str) -> Target | None:
        if self.credentials_out is None:
            return None
        if "secrets" in self._dirs:
            return Target(str(self._dirs["secrets"] / f"{project}.secret.yaml"), "--credentials-out", True)
        return Target(self.credentials_out, "--credentials-out", True)

    def summary(self, count: int) -> list[str]:
        """What was written, for stderr."""
        seal = "seal or encrypt before it goes into git, and apply it before the release"
        lines = []
        if "secrets" in self._dirs:
            lines.append(f"wrote {count} Secret manifest(s) to {self._dirs['secrets']} ({seal})")
        elif self.credentials_out is not None:
            lines.append(f"wrote the Secret manifest to {self.credentials_out} ({seal})")
        if "values" in self._dirs:
            lines.append(f"wrote {count} {KIND_NAMES[self.delivery.format]} file(s) to {self._dirs['values']}")
        return lines


def _check_projects(projects: tuple[str, ...], all_projects: bool, from_file: bool, output_dir: str | None) -> None:
    if all_projects and projects:
        raise UsageError("use either --project or --all-projects, not both")
    if all_projects and from_file:
        raise UsageError("--all-projects reads the projects from the cluster; it does not go with --from-file")
    if not projects and not all_projects:
        raise UsageError("--project is required: name the Run:ai project (for example --project team-a)")
    if all_projects and not output_dir:
        raise UsageError("--all-projects needs --output-dir DIR (one <project>.values.yaml each)")
    if len(projects) > 1 and not output_dir:
        raise UsageError("several --project need --output-dir DIR (one <project>.values.yaml each)")


def _check_credentials_out(credentials_out: str | None, show_secrets: bool, per_project: bool) -> bool:
    """Whether the Secret manifests go to a directory (one <project>.secret.yaml each) rather than one file."""
    if credentials_out is None:
        return False
    if credentials_out.strip() in ("", STDOUT):
        raise UsageError("--credentials-out needs a file or a directory: the Secret manifest never goes to stdout")
    if show_secrets:
        raise UsageError("--show-secrets does not go with --credentials-out: the values then hold no credential")
    is_dir = credentials_out.endswith(os.sep) or Path(credentials_out).is_dir()
    return per_project or is_dir
