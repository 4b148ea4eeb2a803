"""What the tool finds in a ClearML namespace: a report with credentials redacted. Pure."""

from __future__ import annotations

from typing import Any

from .detect import find_agents, read_install, role_verbs
from .errors import GenError, LimitError
from .source import Source


def _redact(value: str) -> str:
    return f"<redacted, {len(value)} chars>" if value else ""


def discover(source: Source) -> dict[str, Any]:
    agents = []
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
                "templateNamespace": (install.template.get("metadata") or {}).get("namespace", ""),
                "credentials": {
                    "source": install.credentials.source,
                    "accessKey": _redact(install.credentials.access_key),
                    "secretKey": _redact(install.credentials.secret_key),
                    "clearmlConf": "present" if install.credentials.conf else "absent",
                },
                "notes": install.notes,
            }
        )
    return {
        "namespace": source.namespace,
        "source": source.describe(),
        "agents": agents,
        "roles": role_verbs(source),
        "objects": {
            kind: sorted(o["metadata"]["name"] for o in source.objects(kind))
            for kind in ("Deployment", "ConfigMap", "Secret", "Role", "RoleBinding")
        },
    }


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
        rows += [("  note", n) for n in agent["notes"]]
    for role, verbs in sorted(report["roles"].items()):
        rows.append((f"role {role}", "pods: " + ",".join(verbs)))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows) + "\n"
