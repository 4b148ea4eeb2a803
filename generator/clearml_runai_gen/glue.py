"""What the k8s glue reads from its env: the variables the chart sets itself, those only the enterprise
agent reads, the words of its command line (K8S_GLUE_EXTRA_ARGS); and image references. Pure."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .errors import InstallError
from .models import Obj
from .objects import as_list

# env of the agent container that the chart sets itself; everything else is carried over as extraEnv
MANAGED_AGENT_ENV = frozenset(
    {
        "CLEARML_API_HOST",
        "CLEARML_WEB_HOST",
        "CLEARML_FILES_HOST",
        "CLEARML_API_ACCESS_KEY",
        "CLEARML_API_SECRET_KEY",
        "K8S_GLUE_QUEUE",
        "K8S_GLUE_MAX_PODS",
        "K8S_GLUE_EXTRA_ARGS",
        "K8S_DEFAULT_NAMESPACE",
        "CLEARML_WORKER_ID",
        "CLEARML_DOCKER_IMAGE",
        "CLEARML_AGENT_NO_UPDATE",
        "CLEARML_CONFIG_FILE",
    }
)


# env that only the enterprise agent reads, and what for
ENTERPRISE_ENV = {
    "CLEARML_K8S_SECRETS_LIST_FILE": "per-queue Secret lists in the template ConfigMap",
    "CLEARML_K8S_GLUE_APPLY_VAULT_ENV_VARS": "ClearML Vault",
    "CLEARML_K8S_GLUE_POD_MIN_RES_FIELD": "resource counting",
    "CLEARML_K8S_GLUE_POD_MAX_RES_FIELD": "resource counting",
    "CLEARML_K8S_GLUE_MAX_RESOURCES": "resource counting",
}
# env of clearml-session's ports mode: Services per pod, applied from the template ConfigMap
PORTS_MODE_ENV = frozenset(
    {
        "CLEARML_K8S_GLUE_POD_POST_APPLY_CMD",
        "CLEARML_K8S_GLUE_POD_POST_DELETE_CMD",
        "CLEARML_K8S_GLUE_LIMIT_POD_LABEL",
        "CLEARML_K8S_GLUE_SET_QUEUE_SYSTEM_TAGS",
    }
)


@dataclass
class GlueArgs:
    """K8S_GLUE_EXTRA_ARGS, parsed as the shell does (so `--namespace` inside another value is never touched)."""

    rest: list[str]
    namespace: str | None = None
    template_yaml: str | None = None
    max_pods: str | None = None
    # clearml-session ports mode: --ports-mode and the flags that go with it
    ports: dict[str, str] = field(default_factory=dict)


_VALUE_FLAGS = ("--namespace", "--template-yaml", "--max-pods")
_PORTS_FLAGS = ("--num-of-services", "--base-port", "--gateway-address", "--base-pod-num")


def split_extra_args(raw: str) -> GlueArgs:
    try:
        words = shlex.split(raw)
    except ValueError as exc:
        raise InstallError(f"K8S_GLUE_EXTRA_ARGS {raw!r} cannot be parsed as shell words: {exc}") from None
    taken: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, value = word.partition("=")
        if flag in _VALUE_FLAGS or flag in _PORTS_FLAGS:
            if eq:
                taken[flag] = value
            elif i + 1 < len(words):
                taken[flag] = words[i + 1]
                i += 1
            i += 1
            continue
        if word == "--ports-mode":
            taken[word] = ""
        else:
            rest.append(word)
        i += 1
    ports = {k: v for k, v in taken.items() if k == "--ports-mode" or k in _PORTS_FLAGS}
    return GlueArgs(
        rest,
        namespace=taken.get("--namespace"),
        template_yaml=taken.get("--template-yaml"),
        max_pods=taken.get("--max-pods"),
        ports=ports if "--ports-mode" in ports else {},
    )


def split_image(image: str) -> tuple[str, str, str]:
    """image -> (repository, tag, digest)."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    repo, tag = image, ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        repo, tag = image[:colon], image[colon + 1 :]
    return repo, tag, digest


def read_extra_env(neat_c: Obj, args: GlueArgs, warnings: list[str]) -> list[Obj]:
    """The agent's env that the chart does not set itself. An empty value is carried: the agent tells a
    variable set to "" from one unset (CLEARML_AGENT_UPDATE_REPO="" names no repository)."""
    extra_env: list[Obj] = []
    for var in as_list(neat_c.get("env")):
        vname = str(var.get("name", ""))
        if vname in MANAGED_AGENT_ENV:
            continue
        if vname in ENTERPRISE_ENV:
            warnings.append(
                f"the source agent sets {vname}, which only the enterprise agent reads "
                f"({ENTERPRISE_ENV[vname]}): not carried"
            )
            continue
        if args.ports and vname in PORTS_MODE_ENV:
            continue  # said with the ports mode
        if "valueFrom" not in var and var.get("value") is None:
            var = {**var, "value": ""}
        extra_env.append(var)
    return extra_env
