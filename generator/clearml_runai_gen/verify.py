"""Checks of a live project after install. Each check is (name, status, detail); status None = not checked."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from typing import Any

from .errors import ClusterError, GenError
from .kube import api_request, list_objects
from .models import RELEASE_PREFIX, Check
from .objects import as_list
from .redact import redact_text
from .taskpods import TASK_POD_SELECTOR, task_pods_check

__all__ = ["Check", "TASK_POD_SELECTOR", "task_pods_check", "verify", "as_table"]

POD_VERBS = ("get", "list", "watch", "create", "patch", "delete")


class CredentialsRefused(GenError):
    """The ClearML API answered, and refused the agent's key pair."""


def verify(
    api: Any,
    project: str,
    namespace: str,
    release: str | None = None,
    clearml_probe: Any = None,
    clearml_api_host: str | None = None,
) -> list[Check]:
    """`clearml_api_host` reaches the ClearML API from here (a port-forward, an ingress) when the agent's
    in-cluster CLEARML_API_HOST does not resolve outside the cluster."""
    release = release or RELEASE_PREFIX + project
    selector = f"app.kubernetes.io/instance={release}"
    checks: list[Check] = []

    found = {
        kind: list_objects(api, kind, namespace, selector=selector)
        for kind in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Deployment")
    }
    missing = [k for k, v in found.items() if not v and k != "Secret"]
    checks.append(
        Check(
            "release objects",
            not missing,
            f"missing: {', '.join(missing)}"
            if missing
            else ", ".join(f"{k} {v[0]['metadata']['name']}" for k, v in found.items() if v),
        )
    )
    deploys = found["Deployment"]
    if not deploys:
        checks.append(Check("agent available", False, f"no Deployment of release {release} in {namespace}"))
        return checks
    if len(deploys) > 1:  # queue profiles: an agent per queue
        return checks + _several_agents(api, project, namespace, found, clearml_probe, clearml_api_host)
    deploy = deploys[0]
    status = deploy.get("status") or {}
    available = int(status.get("availableReplicas") or 0) >= 1
    detail = f"{status.get('availableReplicas') or 0}/{(deploy.get('spec') or {}).get('replicas', 1)} available"
    if not available:
        detail += "; " + _why_not_available(api, namespace, deploy)
    checks.append(Check("agent available", available, detail))

    pod_spec = ((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}
    sa = pod_spec.get("serviceAccountName") or "default"
    checks.append(_template_check(found["ConfigMap"], project))
    checks.append(_enforcement_check(api, namespace, found["ConfigMap"]))
    checks.append(_permissions_check(api, namespace, sa))
    checks.append(_queue_check(deploy, found["Secret"], clearml_probe, clearml_api_host))
    checks.append(task_pods_check(api, namespace))
    return checks


def _several_agents(
    api: Any,
    project: str,
    namespace: str,
    found: dict[str, list[dict[str, Any]]],
    clearml_probe: Any,
    clearml_api_host: str | None,
) -> list[Check]:
    """A line per agent (available, and its queue) and per task-pod template, named after its object."""
    checks: list[Check] = []
    deploys = sorted(found["Deployment"], key=lambda d: str(d["metadata"]["name"]))
    for deploy in deploys:
        name = deploy["metadata"]["name"]
        status = deploy.get("status") or {}
        available = int(status.get("availableReplicas") or 0) >= 1
        detail = f"{status.get('availableReplicas') or 0}/{(deploy.get('spec') or {}).get('replicas', 1)} available"
        if not available:
            detail += "; " + _why_not_available(api, namespace, deploy)
        queue = str((_env(deploy).get("K8S_GLUE_QUEUE") or {}).get("value", ""))
        checks.append(Check(f"agent {name} ({queue})", available, detail))
        check = _queue_check(deploy, found["Secret"], clearml_probe, clearml_api_host)
        checks.append(dataclasses.replace(check, name=f"agent {name}: queue exists"))
    for cm in found["ConfigMap"]:
        if "template.yaml" in (cm.get("data") or {}):
            check = _template_check([cm], project)
            checks.append(dataclasses.replace(check, name=f"task-pod template {cm['metadata']['name']}"))
    pod_spec = ((deploys[0].get("spec") or {}).get("template") or {}).get("spec") or {}
    checks.append(_permissions_check(api, namespace, pod_spec.get("serviceAccountName") or "default"))
    checks.append(task_pods_check(api, namespace))
    return checks


def _why_not_available(api: Any, ns: str, deploy: dict[str, Any]) -> str:
    selector = ",".join(
        f"{k}={v}" for k, v in (((deploy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}).items()
    )
    pods = list_objects(api, "Pod", ns, selector=selector)
    if not pods:
        return "no agent pod exists" + _replicaset_refusal(api, ns, deploy, selector)
    names = {p["metadata"]["name"] for p in pods}
    events = [
        e
        for e in list_objects(api, "Event", ns)
        if (e.get("involvedObject") or {}).get("name") in names and e.get("type") == "Warning"
    ]
    if events:
        last = sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))[-1]
        return f"{last.get('reason')}: {last.get('message')}"
    pod = pods[0]
    phase = (pod.get("status") or {}).get("phase", "Unknown")
    conditions = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
    scheduled = conditions.get("PodScheduled")
    if phase == "Pending" and scheduled is None:
        return f"pod {pod['metadata']['name']} is Pending: no scheduler has placed it yet"
    if phase == "Pending" and scheduled is not None and scheduled.get("status") == "False":
        return f"pod {pod['metadata']['name']} is Pending: {scheduled.get('reason')}: {scheduled.get('message')}"
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return (
                f"pod {pod['metadata']['name']} {phase}: {waiting.get('reason')} {waiting.get('message') or ''}".strip()
            )
    return f"pod {pod['metadata']['name']} is {phase}"


def _replicaset_refusal(api: Any, ns: str, deploy: dict[str, Any], selector: str) -> str:
    """Why the Deployment's ReplicaSet makes no pod: its newest FailedCreate event (a Pod Security
    admission, a quota, a webhook), as "; REASON: message"; else a pointer to the events."""
    uid = (deploy.get("metadata") or {}).get("uid")
    owned = {
        rs["metadata"]["name"]
        for rs in list_objects(api, "ReplicaSet", ns, selector=selector)
        if any(ref.get("uid") == uid for ref in (rs["metadata"].get("ownerReferences") or []))
    }
    events = [
        e
        for e in list_objects(api, "Event", ns)
        if (e.get("involvedObject") or {}).get("kind") == "ReplicaSet"
        and (e.get("involvedObject") or {}).get("name") in owned
        and e.get("type") == "Warning"
    ]
    if not events:
        return " (see the ReplicaSet's events)"
    last = max(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    message = " ".join(str(last.get("message")).split())
    return f"; ReplicaSet {last['involvedObject']['name']}: {last.get('reason')}: {message}"


def _enforcement_check(api: Any, ns: str, configmaps: list[dict[str, Any]]) -> Check:
    """Run:ai's scheduler-name enforcement on the namespace (annotation runai/enforce-scheduler-name, on
    by default in Run:ai 3.0), against the scheduler the task-pod template names."""
    from .parse import load_document
    from .projects import ENFORCE_SCHEDULER_ANNOTATION, RUNAI_SCHEDULER, enforces_scheduler_name, read_namespace

    name = "scheduler enforcement"
    try:
        namespace = read_namespace(api, ns)
    except ClusterError as exc:
        return Check(name, None, f"not checked: {exc}")
    if namespace is None:
        return Check(name, None, f"not checked: namespace {ns} does not exist")
    scheduler = ""
    for cm in configmaps:
        text = (cm.get("data") or {}).get("template.yaml")
        if text is not None:
            try:
                tpl = load_document(str(text), "template.yaml", "reinstall the release")
            except GenError:
                tpl = None
            if isinstance(tpl, dict):
                scheduler = str((tpl.get("spec") or {}).get("schedulerName") or "")
            break
    enforced = enforces_scheduler_name(namespace)
    where = f"{ENFORCE_SCHEDULER_ANNOTATION} on namespace {ns}"
    if enforced is None:
        return Check(name, True, f"{where} is not set (Run:ai 3.0 enforces {RUNAI_SCHEDULER} by default)")
    if not enforced:
        return Check(name, True, f"off ({where}: false)")
    if scheduler and scheduler != RUNAI_SCHEDULER:
        return Check(
            name,
            False,
            f"on ({where}), and task pods name {scheduler}: Run:ai admits only {RUNAI_SCHEDULER} there; "
            "render without --scheduler kai, or turn the enforcement off",
        )
    return Check(name, True, f"on ({where}); task pods name {scheduler or RUNAI_SCHEDULER}")


def _template_check(configmaps: list[dict[str, Any]], project: str) -> Check:
    from .parse import load_document

    for cm in configmaps:
        text = (cm.get("data") or {}).get("template.yaml")
        if text is None:
            continue
        where = f"ConfigMap {cm['metadata']['name']}: template.yaml"
        try:
            tpl = load_document(str(text), where, "reinstall the release") or {}
        except GenError as exc:
            return Check("task-pod template", False, str(exc))
        if not isinstance(tpl, dict):
            return Check("task-pod template", False, f"{where} is not a pod template")
        spec = tpl.get("spec") or {}
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        problems = []
        if not spec.get("schedulerName"):
            problems.append("no schedulerName")
        if labels.get("project") != project:
            problems.append(f"label project={labels.get('project')!r}, expected {project!r}")
        if (tpl.get("metadata") or {}).get("namespace"):
            problems.append(f"names namespace {tpl['metadata']['namespace']!r}")
        if "tolerations" in spec and not isinstance(spec["tolerations"], list):
            problems.append("tolerations is not a list")
        if problems:
            return Check("task-pod template", False, "; ".join(problems))
        return Check("task-pod template", True, f"schedulerName {spec['schedulerName']}, label project={project}")
    return Check("task-pod template", False, "no ConfigMap with template.yaml in the release")


def _permissions_check(api: Any, ns: str, sa: str) -> Check:
    user = f"system:serviceaccount:{ns}:{sa}"
    denied = []
    for verb in POD_VERBS:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                "resourceAttributes": {"namespace": ns, "verb": verb, "resource": "pods"},
            },
        }
        try:
            answer = api_request(
                api,
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                body=body,
                what="create a SubjectAccessReview",
            )
        except ClusterError as exc:
            return Check("agent permissions", None, f"not checked: {exc}")
        if not (answer.get("status") or {}).get("allowed"):
            denied.append(verb)
    if denied:
        return Check("agent permissions", False, f"{user} may not {', '.join(denied)} pods in {ns}")
    return Check("agent permissions", True, f"{user} may {','.join(POD_VERBS)} pods in {ns}")


def _env(deploy: dict[str, Any]) -> dict[str, Any]:
    containers = (((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return {}
    return {str(e.get("name")): e for e in as_list(containers[0].get("env")) if isinstance(e, dict)}


def _queue_check(
    deploy: dict[str, Any], secrets: list[dict[str, Any]], probe: Any, api_host: str | None = None
) -> Check:
    env = _env(deploy)
    agent_host = str((env.get("CLEARML_API_HOST") or {}).get("value", ""))
    host = api_host or agent_host
    where = f"ClearML at {host}" + (f" (the agent's {agent_host})" if api_host and agent_host != api_host else "")
    queues = [q for q in str((env.get("K8S_GLUE_QUEUE") or {}).get("value", "")).split(",") if q]
    creds: list[str] = []
    for var in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        secret = next((s for s in secrets if s["metadata"]["name"] == ref.get("name")), None)
        raw = ((secret or {}).get("data") or {}).get(ref.get("key"))
        if raw is None:
            return Check(
                "queue exists", None, "not checked: the agent's credentials are in a Secret outside the release"
            )
        creds.append(base64.b64decode(raw).decode())
    try:
        missing = (probe or clearml_missing_queues)(host, creds[0], creds[1], queues)
    except CredentialsRefused as exc:
        return Check(
            "queue exists",
            False,
            f"ClearML refused the agent's credentials at {host} ({exc}): "
            "render again from the ClearML install and helm upgrade",
        )
    except GenError as exc:
        hint = "" if api_host else "; from outside the cluster, pass --clearml-api-host (a port-forward or ingress)"
        return Check("queue exists", None, f"not checked: {exc}{hint}")
    if missing:
        return Check(
            "queue exists",
            False,
            f"{where} has no queue {', '.join(missing)} (create it, or set agent.createQueue: true)",
        )
    return Check("queue exists", True, f"{where} has {', '.join(queues)}; the agent's credentials log in")


def _clearml_call(host: str, endpoint: str, body: dict[str, Any], authorization: str) -> Any:
    """POST one ClearML API call; its `data`. A 401 is CredentialsRefused, anything else unreachable a GenError."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{host.rstrip('/')}/{endpoint}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)["data"]
    except urllib.error.HTTPError as exc:
        try:
            msg = str(json.load(exc)["meta"]["result_msg"])
        except (ValueError, KeyError, TypeError):
            msg = exc.reason
        if exc.code == 401:
            raise CredentialsRefused(f"{endpoint}: {exc.code} {msg}") from None
        raise GenError(f"the ClearML API at {host} answered {endpoint} with {exc.code} {msg}") from None
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        raise GenError(f"the ClearML API at {host} did not answer ({getattr(exc, 'reason', exc)})") from None


def clearml_missing_queues(host: str, access_key: str, secret_key: str, queues: list[str]) -> list[str]:
    """Log in to the ClearML API with the agent's credentials; which of `queues` do not exist."""
    basic = base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()
    try:
        token = str(_clearml_call(host, "auth.login", {}, f"Basic {basic}")["token"])
        missing = []
        for q in queues:
            found = _clearml_call(host, "queues.get_all", {"name": f"^{re.escape(q)}$"}, f"Bearer {token}")
            if not found["queues"]:
                missing.append(q)
    except (KeyError, TypeError):
        raise GenError(f"{host} does not answer as the ClearML API does") from None
    return missing


def as_table(checks: list[Check]) -> str:
    mark = {True: "ok", False: "FAIL", None: "skip"}
    width = max(len(c.name) for c in checks)
    # a detail may quote what the cluster holds (an env value, a URL): nothing shaped like a secret is shown
    return "\n".join(f"{mark[c.ok]:<4}  {c.name.ljust(width)}  {redact_text(c.detail)}" for c in checks) + "\n"
