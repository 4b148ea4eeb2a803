"""The task-pod template, from the text the agent loads to a clean pod template. Pure.

The upstream charts render this text with helm's text templates, and several versions render it wrong;
the agent then fails on every task (or cannot even load the file). Each fault below is mended where the
intent is unambiguous, and said in a note; what cannot be carried is said in a warning:

* clearml 3.6.0-3.8.0 render an empty `podTemplate.env` as a stray `[]` line after the env list (no YAML);
* clearml-agent 4.0.x-5.0.0 render the pull secret of `imageCredentials` as `- name: name: <secret>` (no YAML);
* clearml 3.8.1-3.10.0 render `nodeSelector` and `tolerations` inside the container (the API server refuses
  `spec.containers[0].tolerations`); `nodeSelector:` is then followed by its entries as stray container keys;
* a pod-level field in the container's securityContext (`fsGroup`, as the clearml-agent values.yaml example
  shows it) belongs to the pod's securityContext;
* clearml-agent 4.0.x with `enterpriseFeatures` renders a map of queue -> template (the enterprise agent's
  per-queue templates); with `taskAsJob` each is a Job.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from . import k8sfields
from .errors import InstallError, LimitError
from .models import Obj
from .neat import neat_pod_template
from .objects import as_list, scalar_text
from .parse import load_document

Kind = Literal["pod", "job"]

_STRAY_EMPTY = re.compile(r"^( *)(\[\]|\{\})\s*$")
_NAME_NAME = re.compile(r"^(\s*-\s+)name:\s+name:\s+(\S.*)$")


@dataclass
class TaskTemplate:
    """What template.yaml holds: one pod template, or (enterprise) one per queue."""

    pod: Obj = field(default_factory=dict)  # neat partial Pod: metadata and spec
    kind: Kind = "pod"
    queues: dict[str, Obj] = field(default_factory=dict)  # enterprise: queue -> neat pod template
    queue_kinds: dict[str, Kind] = field(default_factory=dict)
    namespace: str = ""  # the namespace the template names, if any
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def mend_text(text: str) -> tuple[str, list[str]]:
    """Undo the known text faults of the upstream charts; returns the text and what was mended."""
    notes: list[str] = []
    lines = text.split("\n")
    out: list[str] = []
    stray = 0
    for line in lines:
        m = _STRAY_EMPTY.match(line)
        if m:
            previous = next((p for p in reversed(out) if p.strip() and _indent(p) <= len(m.group(1))), "")
            # inside a sequence at the same indentation: the `[]` of an empty list appended to a full one
            if _indent(previous) == len(m.group(1)) and previous.lstrip(" ").startswith("- "):
                stray += 1
                continue
        out.append(line)
    if stray:
        notes.append(
            "the template had a stray `[]` after a list (clearml chart 3.6-3.8 renders an empty podTemplate.env "
            "so), which no YAML parser reads: mended"
        )
    named = [_NAME_NAME.sub(r"\1name: \2", line) for line in out]
    if named != out:
        notes.append(
            "the template named its pull secret `name: name: ...` (clearml-agent chart 4.0-5.0 with "
            "imageCredentials), which no YAML parser reads: mended"
        )
    return "\n".join(named), notes


def _load(text: str, where: str) -> Any:
    # bounded: size, nesting and alias expansion (parse.py); a refusal on those is a LimitError
    return load_document(text, where, "repair the task-pod template", error=InstallError)


def parse(text: str, where: str) -> TaskTemplate:
    """template.yaml -> TaskTemplate, mending what the upstream charts render wrong."""
    notes: list[str] = []
    try:
        doc = _load(text, where)
    except LimitError:
        raise
    except InstallError as first:
        mended, notes = mend_text(text)
        if not notes:
            raise
        try:
            doc = _load(mended, where)
        except InstallError:
            raise first from None
    if not isinstance(doc, dict):
        raise InstallError(f"{where} is not a pod template (a YAML mapping with a spec); repair it")
    out = TaskTemplate(notes=notes)
    if _is_queue_map(doc):
        for queue, sub in doc.items():
            pod, kind, namespace = _one(sub, f"{where} (queue {queue})", out)
            out.queues[str(queue)] = pod
            out.queue_kinds[str(queue)] = kind
            out.namespace = out.namespace or namespace
        out.notes.append(
            f"the template holds one pod template per queue ({', '.join(out.queues)}): clearml-agent chart "
            "enterpriseFeatures, read by the enterprise agent"
        )
        return out
    out.pod, out.kind, out.namespace = _one(doc, where, out)
    return out


def _is_queue_map(doc: Obj) -> bool:
    own = {"apiVersion", "kind", "metadata", "spec"}
    return (
        bool(doc)
        and not own & set(doc)
        and all(isinstance(v, dict) and isinstance(v.get("spec"), dict) for v in doc.values())
    )


def _one(doc: Any, where: str, out: TaskTemplate) -> tuple[Obj, Kind, str]:
    if not isinstance(doc, dict):
        raise InstallError(f"{where} is not a pod template (a YAML mapping with a spec); repair it")
    kind_name = doc.get("kind")
    if kind_name not in (None, "Pod", "Job"):
        raise InstallError(f"{where} is a {kind_name}, not a Pod or Job template; repair the task-pod template")
    for key in ("metadata", "spec"):
        if doc.get(key) is not None and not isinstance(doc.get(key), dict):
            raise InstallError(f"{where} has {key} that is not a mapping; repair the task-pod template")
    kind: Kind = "pod"
    pod = copy.deepcopy(doc)
    if kind_name == "Job" or str(doc.get("apiVersion", "")).startswith("batch/"):
        kind = "job"
        job_spec = pod.get("spec") or {}
        inner = job_spec.get("template") or {}
        if not isinstance(inner, dict) or not isinstance(inner.get("spec") or {}, dict):
            raise InstallError(f"{where} is a Job without a pod template (spec.template); repair it")
        rest = sorted(k for k in job_spec if k != "template")
        if rest:
            out.warnings.append(
                f"the source Job template sets {', '.join(rest)}, which the chart's Job template leaves at "
                "Kubernetes' defaults"
            )
        meta = dict(pod.get("metadata") or {})
        inner_meta = inner.get("metadata") or {}
        # Run:ai reads the pod's labels; the Job's own labels and annotations go to its pods as well
        for key in ("labels", "annotations"):
            merged = {**(meta.get(key) or {}), **(inner_meta.get(key) or {})}
            if merged:
                meta[key] = merged
        pod = {"metadata": meta, "spec": inner.get("spec") or {}}
    spec = pod.get("spec") or {}
    containers = spec.get("containers")
    if containers is not None and not isinstance(containers, list):
        raise InstallError(f"{where} has spec.containers that is not a list; repair the task-pod template")
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    tolerations = (pod.get("spec") or {}).get("tolerations")
    if tolerations is not None and not isinstance(tolerations, list):
        out.notes.append("the template's tolerations were not a list (clearml chart <= 3.5.1 renders `{}`): mended")
    _mend_fields(pod, where, out)
    return neat_pod_template(pod), kind, namespace


def _mend_fields(pod: Obj, where: str, out: TaskTemplate) -> None:
    """Fields in the wrong place, or unknown to Kubernetes: moved where they belong, or dropped and said."""
    spec = pod.setdefault("spec", {}) if isinstance(pod.get("spec"), dict) else {}
    for container in as_list(spec.get("containers")):
        if isinstance(container, dict):
            _mend_container(container, spec, out)
    for key in [k for k in spec if k not in k8sfields.POD_SPEC]:
        out.warnings.append(f"{where}: spec.{key} is no PodSpec field (the API server refuses it): dropped")
        del spec[key]
    context = spec.get("securityContext")
    if isinstance(context, dict):
        for key in [k for k in context if k not in k8sfields.POD_SECURITY_CONTEXT]:
            out.warnings.append(f"{where}: spec.securityContext.{key} is no pod securityContext field: dropped")
            del context[key]


def _mend_container(container: Obj, spec: Obj, out: TaskTemplate) -> None:
    keys = list(container)
    if "nodeSelector" in container or "tolerations" in container:
        selector = container.pop("nodeSelector", None)
        selector = dict(selector) if isinstance(selector, dict) else {}
        if "nodeSelector" in keys:
            # `nodeSelector:` at the container's indentation leaves its entries as keys of the container
            start = keys.index("nodeSelector") + 1
            for key in keys[start:]:
                if key in k8sfields.CONTAINER or key == "tolerations":
                    continue
                selector[key] = container.pop(key)
        tolerations = container.pop("tolerations", None)
        moved = []
        if selector and not spec.get("nodeSelector"):
            spec["nodeSelector"] = {str(k): scalar_text(v) for k, v in selector.items()}
            moved.append("nodeSelector")
        if as_list(tolerations) and not as_list(spec.get("tolerations")):
            spec["tolerations"] = as_list(tolerations)
            moved.append("tolerations")
        out.notes.append(
            "the template rendered "
            + (" and ".join(moved) if moved else "nodeSelector/tolerations")
            + " inside the task container (clearml chart 3.8.1-3.10.0), which the API server refuses: "
            "moved to the pod (mended)"
        )
    context = container.get("securityContext")
    if isinstance(context, dict):
        pod_context = spec.get("securityContext")
        if not isinstance(pod_context, dict):
            pod_context = {}
        for key in [k for k in context if k not in k8sfields.SECURITY_CONTEXT]:
            value = context.pop(key)
            if key in k8sfields.POD_SECURITY_CONTEXT:
                pod_context.setdefault(key, value)
                out.notes.append(
                    f"the template set {key} in the container's securityContext, where Kubernetes has no such "
                    "field: moved to the pod's securityContext (mended)"
                )
            else:
                out.warnings.append(f"the task container's securityContext.{key} is no Kubernetes field: dropped")
        if pod_context:
            spec["securityContext"] = pod_context
    for key in [k for k in container if k not in k8sfields.CONTAINER]:
        out.warnings.append(f"the task container's {key} is no Container field (the API server refuses it): dropped")
        del container[key]
