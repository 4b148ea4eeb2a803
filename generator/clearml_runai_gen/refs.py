"""What a release relies on but does not create: Secrets, ConfigMaps and claims in the ClearML namespace. Pure.

The agent's and the task pods' pull secrets, volumes and env references name objects of the namespace
they run in. The release runs in the Run:ai namespace, so each such object must exist there too: every
one is named in a warning with the command that copies it (a PersistentVolumeClaim cannot be copied:
its data stays with its volume, so the warning says what to create instead).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

from .models import AgentInstall, Obj, ProjectOptions
from .objects import as_list

COPYABLE = ("Secret", "ConfigMap")


def _volume_refs(volumes: Any, use: str) -> Iterator[tuple[str, str, str]]:
    for vol in as_list(volumes):
        if not isinstance(vol, dict):
            continue
        what = f"{use} volume {vol.get('name')}"
        if isinstance(vol.get("secret"), dict):
            yield "Secret", str(vol["secret"].get("secretName")), what
        if isinstance(vol.get("configMap"), dict):
            yield "ConfigMap", str(vol["configMap"].get("name")), what
        if isinstance(vol.get("persistentVolumeClaim"), dict):
            yield "PersistentVolumeClaim", str(vol["persistentVolumeClaim"].get("claimName")), what
        for src in as_list((vol.get("projected") or {}).get("sources")):
            if isinstance(src, dict) and isinstance(src.get("secret"), dict):
                yield "Secret", str(src["secret"].get("name")), what
            if isinstance(src, dict) and isinstance(src.get("configMap"), dict):
                yield "ConfigMap", str(src["configMap"].get("name")), what


def _env_refs(container: Any, use: str) -> Iterator[tuple[str, str, str]]:
    if not isinstance(container, dict):
        return
    for var in as_list(container.get("env")):
        source = (var.get("valueFrom") or {}) if isinstance(var, dict) else {}
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = source.get(key)
            if isinstance(ref, dict):
                yield kind, str(ref.get("name")), f"{use} env {var.get('name')}"
    for item in as_list(container.get("envFrom")):
        if not isinstance(item, dict):
            continue
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            ref = item.get(key)
            if isinstance(ref, dict):
                yield kind, str(ref.get("name")), f"{use} envFrom"


def _pull_refs(secrets: Any, use: str) -> Iterator[tuple[str, str, str]]:
    for item in as_list(secrets):
        name = item.get("name") if isinstance(item, dict) else item
        if name:
            yield "Secret", str(name), f"{use} image pull secret"


def references(values: Obj) -> Iterator[tuple[str, str, str]]:
    """(kind, name, what uses it) for every object the release's pods refer to by name."""
    agent, task = values.get("agent") or {}, values.get("taskPod") or {}
    yield from _pull_refs(agent.get("imagePullSecrets"), "the agent's")
    yield from _volume_refs(agent.get("volumes"), "the agent's")
    yield from _env_refs({"env": agent.get("extraEnv")}, "the agent's")
    yield from _pull_refs(task.get("imagePullSecrets"), "task pods'")
    yield from _volume_refs(task.get("volumes"), "task pods'")
    yield from _env_refs({**(task.get("extraContainerSpec") or {}), "env": task.get("env")}, "task pods'")
    for init in as_list(task.get("initContainers")):
        yield from _env_refs(init, f"task init container {init.get('name') if isinstance(init, dict) else ''}")


def copy_command(kind: str, name: str, install: AgentInstall, options: ProjectOptions) -> str:
    return " ".join(
        [
            "clearml-runai-gen copy",
            shlex.quote(f"{kind.lower()}/{name}"),
            f"--clearml-namespace {shlex.quote(install.namespace)}",
            f"--namespace {shlex.quote(options.namespace)}",
            "| kubectl apply -f -",
        ]
    )


def external_refs(values: Obj, install: AgentInstall, options: ProjectOptions) -> list[str]:
    """One warning per object the release relies on and does not create, with what to do about it."""
    uses: dict[tuple[str, str], list[str]] = {}
    for kind, name, use in references(values):
        uses.setdefault((kind, name), [])
        if use not in uses[(kind, name)]:
            uses[(kind, name)].append(use)
    src, dst = install.namespace, options.namespace
    out = []
    for (kind, name), what in uses.items():
        head = f"{kind} {name} ({'; '.join(what)}) is not created by release {options.release}"
        known = install.source_objects.get(kind)
        if kind in COPYABLE and known is not None and name not in known:
            out.append(f"{head} and does not exist in namespace {src} either: create it in namespace {dst}")
        elif kind in COPYABLE:
            out.append(f"{head}: copy it into namespace {dst} with `{copy_command(kind, name, install, options)}`")
        else:
            out.append(
                f"{head}: a claim binds storage in its own namespace only, so create a PersistentVolumeClaim {name} "
                f"in namespace {dst} for the storage task pods need (the data of claim {src}/{name} is not "
                f"reachable from {dst})"
            )
    return out
