"""What the tool finds in a ClearML namespace: a report with credentials redacted. Pure."""

from __future__ import annotations

from typing import Any, cast

from .detect import find_agents, read_install, role_verbs
from .errors import GenError, LimitError
from .profiles import profile_rows
from .redact import redact_data
from .source import Source


def _redact(value: str) -> str:
    return f"<redacted, {len(value)} chars>" if value else ""


def discover(source: Source) -> dict[str, Any]:
    """The report; no secret value of the install is in it (credentials are described, never shown)."""
    agents: list[dict[str, Any]] = []
    secrets: set[str] = set()
    for deploy in find_agents(source):
        name = deploy["metadata"]["name"]
        try:
            install = read_install(source, name)
        except LimitError:
            raise  # input refused whole: no report is made of part of it
        except GenError as exc:
            agents.append({"deployment": name, "error": str(exc)})
            continue
        agents.append(
            {
                "deployment": name,
                "flavour": install.flavour,
                "chart": install.chart_hint,
                "image": install.image,
                "queues": install.queues,
                "workerId": install.worker_id,
                "maxPods": install.max_pods,
                "hosts": {"api": install.hosts.api, "web": install.hosts.web, "files": install.hosts.files},
                "templateConfigMap": install.template_configmap,
                "templateNamespace": install.template_namespace,
                "queueTemplates": sorted(install.queue_templates),
                "queueProfiles": profile_rows(install.queue_templates),
                "taskKind": install.task_kind,
                "credentials": {
                    "source": install.credentials.source,
                    "accessKey": _redact(install.credentials.access_key),
                    "secretKey": _redact(install.credentials.secret_key),
                    "clearmlConf": "present" if install.credentials.conf else "absent",
                },
                "notes": install.notes,
                "warnings": install.warnings,
            }
        )
        secrets |= install.sensitive
    report = {
        "namespace": source.namespace,
        "source": source.describe(),
        "agents": agents,
        "roles": role_verbs(source),
        "objects": {
            kind: sorted(o["metadata"]["name"] for o in source.objects(kind))
            for kind in ("Deployment", "ConfigMap", "Secret", "Role", "RoleBinding")
        },
    }
    # a secret may also sit where no credential belongs (a URL's userinfo, a note): blot out every one
    return cast(dict[str, Any], redact_data(report, secrets))


def as_table(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = [("namespace", report["namespace"]), ("source", report["source"])]
    if not report["agents"]:
        rows.append(("agents", "none found"))
    for agent in report["agents"]:
        prefix = f"agent {agent['deployment']}"
        if "error" in agent:
            rows.append((prefix, f"unreadable: {agent['error']}"))
            continue
        rows += [
            (prefix, f"flavour {agent['flavour']} ({agent['chart']})"),
            ("  image", agent["image"]),
            ("  queues", ", ".join(agent["queues"]) or "-"),
            ("  worker id", agent["workerId"] or "-"),
            ("  task kind", agent["taskKind"]),
            ("  max pods", str(agent["maxPods"] if agent["maxPods"] is not None else "-")),
            ("  api host", agent["hosts"]["api"]),
            ("  web host", agent["hosts"]["web"] or "-"),
            ("  files host", agent["hosts"]["files"] or "-"),
            (
                "  template",
                f"ConfigMap {agent['templateConfigMap']}"
                + (f" (names namespace {agent['templateNamespace']})" if agent["templateNamespace"] else ""),
            ),
            ("  credentials", f"{agent['credentials']['source']} (redacted)"),
        ]
        if agent["queueTemplates"]:
            templates = ", ".join(agent["queueTemplates"])
            rows.append(("  queue templates", f"{templates} (an agent each; --template-queue picks one)"))
            rows += [("  queue profile", f"{p['sourceQueue']} -> queue {p['queue']}") for p in agent["queueProfiles"]]
        rows += [("  note", n) for n in agent["notes"]]
        rows += [("  warning", w) for w in agent["warnings"]]
    for role, verbs in sorted(report["roles"].items()):
        rows.append((f"role {role}", "pods: " + ",".join(verbs)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows) + "\n"
