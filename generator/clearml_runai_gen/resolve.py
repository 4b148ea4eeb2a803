"""What an agent Deployment refers to, read from the objects of its namespace: values of Secrets and
ConfigMaps, env values, and the volume that provides a file mounted in a container."""

from __future__ import annotations

import base64
import binascii
import posixpath

from .errors import InstallError
from .models import Obj
from .objects import as_list, name_of
from .source import DUMP_KINDS, Source


class Resolver:
    """Reads Secrets and ConfigMaps of the namespace that the agent refers to."""

    def __init__(self, source: Source, deploy: str) -> None:
        self.source = source
        self.deploy = deploy
        self.ns = source.namespace
        self.read_secrets: set[str] = set()  # every secret value read: never printed

    def _find(self, kind: str, name: str, purpose: str) -> Obj:
        for obj in self.source.objects(kind):
            if name_of(obj) == name:
                return obj
        raise InstallError(
            f"{kind} {self.ns}/{name} ({purpose}, used by Deployment {self.ns}/{self.deploy}) is missing; "
            f"include it (kubectl get {DUMP_KINDS} -n {self.ns} -o yaml) or repair the install"
        )

    def secret_value(self, name: str, key: str, purpose: str) -> str:
        secret = self._find("Secret", name, purpose)
        string_data = secret.get("stringData") or {}
        if isinstance(string_data, dict) and key in string_data:
            self.read_secrets.add(str(string_data[key]))
            return str(string_data[key])
        data = secret.get("data") or {}
        if not isinstance(data, dict) or key not in data:
            keys = (
                sorted(set(data) | set(string_data)) if isinstance(data, dict) and isinstance(string_data, dict) else []
            )
            raise InstallError(
                f"Secret {self.ns}/{name} has no key {key!r} ({purpose}; it has: {', '.join(keys) or 'none'}); "
                "repair the install's secret"
            )
        raw = data[key]
        try:
            value = base64.b64decode(str(raw), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InstallError(
                f"Secret {self.ns}/{name} key {key!r} is not base64-encoded UTF-8 text; "
                "repair the secret (kubectl get secret -o yaml prints data base64-encoded)"
            ) from None
        self.read_secrets.add(value)
        return value

    def configmap_value(self, name: str, key: str, purpose: str) -> str:
        cm = self._find("ConfigMap", name, purpose)
        data = cm.get("data") or {}
        if not isinstance(data, dict) or key not in data:
            keys = sorted(data) if isinstance(data, dict) else []
            raise InstallError(
                f"ConfigMap {self.ns}/{name} has no key {key!r} ({purpose}; it has: {', '.join(keys) or 'none'}); "
                "repair the install's ConfigMap"
            )
        return str(data[key])

    def env_value(self, env: dict[str, Obj], name: str, purpose: str) -> str | None:
        entry = env.get(name)
        if entry is None:
            return None
        if "value" in entry:
            return "" if entry["value"] is None else str(entry["value"])
        ref = entry.get("valueFrom") or {}
        if isinstance(ref.get("secretKeyRef"), dict):
            r = ref["secretKeyRef"]
            return self.secret_value(str(r.get("name")), str(r.get("key")), purpose)
        if isinstance(ref.get("configMapKeyRef"), dict):
            r = ref["configMapKeyRef"]
            return self.configmap_value(str(r.get("name")), str(r.get("key")), purpose)
        return ""


def volume_for_path(spec: Obj, container: Obj, path: str) -> tuple[Obj, Obj] | None:
    """The (volume, mount) that provides file `path` in the container."""
    volumes = {str(v.get("name")): v for v in as_list(spec.get("volumes")) if isinstance(v, dict)}
    best: tuple[Obj, Obj] | None = None
    best_len = -1
    for mount in as_list(container.get("volumeMounts")):
        if not isinstance(mount, dict):
            continue
        mpath = str(mount.get("mountPath", "")).rstrip("/")
        if path == mpath or path.startswith(mpath + "/"):
            vol = volumes.get(str(mount.get("name")))
            # several mounts may hold the path (a volume at /root and another at /root/template): the deepest wins
            if vol is not None and len(mpath) > best_len:
                best, best_len = (vol, mount), len(mpath)
    return best


def file_key(volume: Obj, mount: Obj, path: str) -> str:
    """Which key of a configMap/secret volume appears at `path`."""
    mpath = str(mount.get("mountPath", "")).rstrip("/")
    rel = str(mount.get("subPath") or "") if path == mpath else path[len(mpath) + 1 :]
    if path == mpath and not rel:
        rel = posixpath.basename(path)
    body = volume.get("configMap") or volume.get("secret") or {}
    for item in as_list(body.get("items")):
        if isinstance(item, dict) and item.get("path") == rel:
            return str(item.get("key"))
    return rel


FILE_MOUNTS_VOLUME = "filemounts"  # the clearml-agent chart's volume of agentk8sglue.fileMounts


def agent_volumes(
    res: Resolver, spec: Obj, container: Obj, own: set[str], warnings: list[str]
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """The agent's own volumes and mounts, besides the template and clearml.conf the chart mounts itself.

    The clearml-agent chart's `fileMounts` (files from its Secret `<release>-afm`, each mounted by subPath)
    come back as files with their content, so the chart can carry them in a Secret of its own.
    """
    volumes = [v for v in as_list(spec.get("volumes")) if isinstance(v, dict) and v.get("name") not in own]
    mounts = [m for m in as_list(container.get("volumeMounts")) if isinstance(m, dict) and m.get("name") not in own]
    files: list[Obj] = []
    for vol in list(volumes):
        body = vol.get("secret")
        vmounts = [m for m in mounts if m.get("name") == vol.get("name")]
        if vol.get("name") != FILE_MOUNTS_VOLUME or not isinstance(body, dict) or not vmounts:
            continue
        if not all(m.get("subPath") for m in vmounts):
            continue
        for m in vmounts:
            content = res.secret_value(str(body.get("secretName")), str(m["subPath"]), "a file the agent mounts")
            files.append(
                {"name": str(m["subPath"]), "folderPath": posixpath.dirname(str(m["mountPath"])), "content": content}
            )
        volumes.remove(vol)
        mounts = [m for m in mounts if m not in vmounts]
    names = {str(v.get("name")) for v in volumes}
    for m in mounts:
        if m.get("name") not in names:
            warnings.append(f"the source agent mounts volume {m.get('name')!r}, which its pod does not define: dropped")
    return volumes, [m for m in mounts if m.get("name") in names], files
