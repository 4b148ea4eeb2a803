"""The agent's credentials as a Secret manifest of their own, and values that only name it. Pure.

One Secret per project, named after its release (`clearml-runai-<project>-credentials`), in the
project's namespace: Secrets cannot be shared across namespaces, two projects may share a namespace
(`--namespace`), a sealed Secret is bound to its name and namespace, and a name apart from the chart's
own Secret (named after the release) lets a release switch to it without helm deleting what was applied.

Rotation: the values carry `clearml.existingSecretChecksum`, which the chart hashes into the agent pod's
`checksum/secret` annotation, so rendering again after the credentials changed restarts the agent (also
when Argo CD or Flux applies the values: neither can read a Secret at render time). The checksum is an
HMAC keyed by a PBKDF2 stretch of the Secret's data over the Secret's namespace/name: without the
credentials it tells nothing, and checking a guess costs the full stretch.

The same Secret takes every other secret the values would hold (`move_secrets`): env values that are
secrets by name or shape, and the contents of `agent.fileMounts`; a secret nothing can reference from a
Secret refuses the render, naming its place (`refuse_secrets_left`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import InstallError
from .models import Obj, Plan, ProjectOptions
from .redact import secret_env_value, secret_places

# the keys the chart's own Secret uses, so a values file reads the same either way
SECRET_KEYS = {"accessKey": "CLEARML_API_ACCESS_KEY", "secretKey": "CLEARML_API_SECRET_KEY", "conf": "clearml.conf"}
CREDENTIAL_VALUES = frozenset(SECRET_KEYS)
SECRET_SUFFIX = "-credentials"

CHECKSUM_SCHEME = "hmac-sha256"
_CHECKSUM_SALT = b"clearml-runai-gen/existingSecretChecksum/v1"
_CHECKSUM_ROUNDS = 100_000


def secret_name(options: ProjectOptions) -> str:
    return options.release + SECRET_SUFFIX


@functools.lru_cache(maxsize=8)
def _stretched(material: bytes) -> bytes:
    # every project of one install has the same credentials: stretched once per process
    return hashlib.pbkdf2_hmac("sha256", material, _CHECKSUM_SALT, _CHECKSUM_ROUNDS)


def credentials_checksum(data: Mapping[str, str], namespace: str, name: str) -> str:
    """A checksum of a Secret's data that changes with any key or value and reveals none of them."""
    material = json.dumps(dict(data), sort_keys=True, separators=(",", ":")).encode()
    digest = hmac.new(_stretched(material), f"{namespace}/{name}".encode(), hashlib.sha256).hexdigest()
    return f"{CHECKSUM_SCHEME}:{digest}"


_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]")


class _Moved:
    """The secrets taken out of the values, by the Secret key each now has."""

    def __init__(self, secret: str, taken: set[str]) -> None:
        self.secret = secret
        self.data: dict[str, str] = {}
        self.taken = set(taken)

    def key(self, wanted: str) -> str:
        key = _KEY_CHARS.sub("-", wanted)[:240]
        n, out = 2, key
        while out in self.taken:
            out, n = f"{key}-{n}", n + 1
        self.taken.add(out)
        return out

    def env(self, env: Any, scope: str) -> Any:
        """Env values that are secrets, by name or shape, become references to the Secret."""
        if not isinstance(env, list):
            return env
        out = []
        for var in env:
            if secret_env_value(var):
                key = self.key(f"{scope}.{var['name']}")
                self.data[key] = var["value"]
                ref = {"secretKeyRef": {"name": self.secret, "key": key}}
                var = {**{k: v for k, v in var.items() if k != "value"}, "valueFrom": ref}
            out.append(var)
        return out


def move_secrets(values: Obj, secret: str, taken: set[str]) -> tuple[Obj, dict[str, str]]:
    """Values that hold no secret the tool recognises, and the Secret data they now reference.

    Moved: the contents of `agent.fileMounts` (mounted from the Secret through `agent.fileMountsSecret`)
    and env values that are secrets by name or shape (`valueFrom.secretKeyRef`) of the agent, task pods
    and their init containers. Anything else that is a secret cannot be referenced from a Secret (an
    argument, an annotation, a URL the chart reads): the render is refused, naming its place."""
    moved = _Moved(secret, taken)
    agent = dict(values.get("agent") or {})
    task = dict(values.get("taskPod") or {})
    agent["extraEnv"] = moved.env(agent.get("extraEnv"), "agent-env")
    files = []
    for item in agent.get("fileMounts") or []:
        key = moved.key(f"file.{item['name']}")
        moved.data[key] = str(item.get("content") or "")
        files.append({"name": item["name"], "folderPath": item["folderPath"], "key": key})
    if files:
        agent["fileMounts"], agent["fileMountsSecret"] = files, secret
    out = {**values, "agent": agent, "taskPod": _task_env(moved, task, "task")}
    if isinstance(values.get("queueProfiles"), list):  # each queue profile's task pods, likewise
        out["queueProfiles"] = [
            {**p, "taskPod": _task_env(moved, dict(p.get("taskPod") or {}), f"profile-{p.get('name')}")}
            if isinstance(p, dict) and p.get("taskPod")
            else p
            for p in values["queueProfiles"]
        ]
    return out, moved.data


def _task_env(moved: _Moved, task: Obj, scope: str) -> Obj:
    task["env"] = moved.env(task.get("env"), f"{scope}-env")
    if isinstance(task.get("initContainers"), list):
        task["initContainers"] = [_init_env(moved, c) for c in task["initContainers"]]
    return task


def _init_env(moved: _Moved, container: Any) -> Any:
    if not isinstance(container, dict) or not container.get("env"):
        return container
    return {**container, "env": moved.env(container["env"], f"init-{container.get('name')}-env")}


def refuse_secrets_left(values: Obj) -> None:
    """One line naming the first place that still holds a secret, with how to go on; never the value."""
    for place, why in secret_places(values):
        raise InstallError(
            f"--credentials-out: {place} holds a secret ({why}) that the values cannot take from a Secret, so "
            "they would not be secret-free; remove it from the source agent (or put it in a Secret the pod "
            "references), or render without --credentials-out and keep the values private"
        )


def separate_credentials(
    plan: Plan,
    name: str | None = None,
    keys: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
    move: bool = True,
) -> tuple[Plan, Obj]:
    """The plan with values that name a Secret instead of holding the credentials, and that Secret.

    `name` and `keys` default to ours; `diff` passes those of an earlier values file, so that only a
    change of the credentials themselves changes the checksum.
    """
    options, clearml = plan.options, plan.values["clearml"]
    name = name or secret_name(options)
    keys = {**SECRET_KEYS, **(keys or {})}
    data = {keys["accessKey"]: clearml["accessKey"], keys["secretKey"]: clearml["secretKey"]}
    if clearml.get("conf"):
        data[keys["conf"]] = clearml["conf"]
    values, extra = move_secrets(plan.values, name, set(data)) if move else (plan.values, {})
    data.update(extra)
    secret: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": {"app.kubernetes.io/name": "clearml-runai-agent", "app.kubernetes.io/component": "credentials"},
        },
        "type": "Opaque",
        "stringData": data,
    }
    referenced = {k: v for k, v in clearml.items() if k not in CREDENTIAL_VALUES}
    referenced["existingSecret"] = name
    referenced["existingSecretKeys"] = {
        "accessKey": keys["accessKey"],
        "secretKey": keys["secretKey"],
        "conf": keys["conf"] if clearml.get("conf") else "",
    }
    referenced["existingSecretChecksum"] = credentials_checksum(data, options.namespace, name)
    values = {**values, "clearml": referenced}
    if strict:
        refuse_secrets_left(values)
    return dataclasses.replace(plan, values=values), secret


def values_as_rendered_before(plan: Plan, old: Obj) -> Obj:
    """The plan's values in the form of `old`, values rendered earlier: with the credentials inline, or
    naming the same Secret, by the same keys, so that comparing them shows what changed in the install.
    A Secret of the user's own, with no checksum, is compared by name and keys alone."""
    clearml = old.get("clearml") if isinstance(old, dict) else None
    if (
        not isinstance(clearml, dict)
        or not clearml.get("existingSecret")
        or not isinstance(clearml["existingSecret"], str)
    ):
        return plan.values
    given = clearml.get("existingSecretKeys")
    keys = {k: v for k, v in given.items() if isinstance(v, str) and v} if isinstance(given, dict) else {}
    # only a Secret of ours holds the other secrets too; a Secret of the user's own holds what they put in it
    by_us = bool(clearml.get("existingSecretChecksum"))
    separated, _ = separate_credentials(plan, clearml["existingSecret"], keys, strict=False, move=by_us)
    values = separated.values
    if not clearml.get("existingSecretChecksum"):
        # a Secret of the user's own: its name and keys are theirs, and its content is not ours to know
        ours = {k: v for k, v in values["clearml"].items() if k != "existingSecretChecksum"}
        values = {**values, "clearml": {**ours, "existingSecretKeys": given if isinstance(given, dict) else {}}}
    return values
