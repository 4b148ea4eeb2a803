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
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping

from .models import Obj, Plan, ProjectOptions

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


def separate_credentials(
    plan: Plan, name: str | None = None, keys: Mapping[str, str] | None = None
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
    return dataclasses.replace(plan, values={**plan.values, "clearml": referenced}), secret


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
    separated, _ = separate_credentials(plan, clearml["existingSecret"], keys)
    values = separated.values
    if not clearml.get("existingSecretChecksum"):
        # a Secret of the user's own: its name and keys are theirs, and its content is not ours to know
        ours = {k: v for k, v in values["clearml"].items() if k != "existingSecretChecksum"}
        values = {**values, "clearml": {**ours, "existingSecretKeys": given if isinstance(given, dict) else {}}}
    return values
