"""Where objects come from: a dump (file or stdin) or the live cluster.

Both are one small interface, `Source.objects(kind)`, so the rest of the tool never knows which
it reads. The live source imports the `kubernetes` client only when it is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .errors import ClusterError, InputError, LimitError, UsageError
from .models import Obj

# what the README's dump command lists: what render reads, and what tells hosts from other values
DUMP_KINDS = "deploy,configmap,secret,service,serviceaccount"


class Source(Protocol):
    namespace: str

    def objects(self, kind: str) -> list[Obj]:
        """All objects of `kind` in the namespace."""
        ...

    def describe(self) -> str:
        """Where the objects come from, for messages and provenance comments."""
        ...

    def lists(self, kind: str) -> bool:
        """Whether `objects(kind)` is all there is of that kind (a dump may simply leave a kind out)."""
        ...


# --------------------------------------------------------------------------- file / stdin


DUMP_HINT = "pass what `kubectl get ... -o yaml` prints"
# helm keeps every revision of a release as a Secret of this type; the tool never reads one
HELM_RELEASE_TYPE = "helm.sh/release.v1"


def _load_documents(text: str, origin: str) -> list[Any]:
    from .parse import load_stream

    return load_stream(text, origin, DUMP_HINT)


def _flatten(docs: Iterable[Any], origin: str) -> Iterator[Obj]:
    for index, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise InputError(
                f"{origin}: document {index} is a {type(doc).__name__}, not a Kubernetes object; "
                "pass what `kubectl get ... -o yaml` prints"
            )
        kind = doc.get("kind")
        if kind == "Secret" and doc.get("type") == HELM_RELEASE_TYPE:
            continue  # helm's history of a release: never needed, and the bulk of a namespace dump
        if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise InputError(f"{origin}: document {index} ({kind}) has `items` that is not a list")
            yield from _flatten(items, origin)
            continue
        meta = doc.get("metadata")
        if not isinstance(kind, str) or not kind or not isinstance(meta, dict) or not meta.get("name"):
            raise InputError(
                f"{origin}: document {index} has no kind or metadata.name, so it is not a Kubernetes object; "
                "pass what `kubectl get ... -o yaml` prints"
            )
        yield doc


class FileSource:
    """Objects from what `kubectl get ... -o yaml|json` printed: a List, several documents, or one object."""

    def __init__(self, text: str, origin: str, namespace: str | None = None) -> None:
        self.origin = origin
        objs = list(_flatten(_load_documents(text, origin), origin))
        if not objs:
            raise InputError(f"{origin} holds no Kubernetes objects; pass what `kubectl get ... -o yaml` prints")
        found = sorted({str(o["metadata"].get("namespace")) for o in objs if o["metadata"].get("namespace")})
        if namespace is None:
            # the dump says where it came from; more than one namespace needs --clearml-namespace
            if len(found) > 1:
                raise InputError(
                    f"{origin} holds objects of several namespaces ({', '.join(found)}); "
                    "name the ClearML one with --clearml-namespace"
                )
            namespace = found[0] if found else "clearml"
        self.namespace = namespace
        self._objects = [o for o in objs if o["metadata"].get("namespace") in (None, "", namespace)]
        if not self._objects:
            raise InputError(
                f"{origin} holds no objects in namespace {namespace!r} (it has {', '.join(found)}); "
                "fix --clearml-namespace"
            )

    @classmethod
    def from_path(cls, path: str, namespace: str | None = None, stdin: Any = None) -> FileSource:
        from .parse import MAX_DUMP_BYTES

        origin = "standard input" if path == "-" else path
        hint = f"pass a dump of the ClearML namespace (kubectl get {DUMP_KINDS} -n NS -o yaml)"
        text = read_text(path, "--from-file " + path if path != "-" else origin, MAX_DUMP_BYTES, hint, stdin)
        return cls(text, origin, namespace)

    def objects(self, kind: str) -> list[Obj]:
        return [o for o in self._objects if o.get("kind") == kind]

    def describe(self) -> str:
        return self.origin

    def lists(self, kind: str) -> bool:
        return bool(self.objects(kind))


def read_text(path: str, what: str, limit: int, hint: str, stdin: Any = None) -> str:
    """The UTF-8 text of file `path` (`-`: standard input), refused unread when larger than `limit` bytes."""
    from .parse import size_text

    too_big = f"{what} is larger than {size_text(limit)}, more than this tool reads; {hint}"
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin
        raw = getattr(stream, "buffer", stream)
        data = raw.read(limit + 1)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(data) > limit:
            raise LimitError(too_big)
    else:
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size > limit:
                    raise LimitError(too_big)
                data = fh.read(limit + 1)
        except FileNotFoundError:
            raise InputError(f"{what}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{what} is a directory; {hint}") from None
        except OSError as exc:
            raise InputError(f"{what} cannot be read: {exc.strerror}") from None
        if len(data) > limit:  # a file that grew, or a pipe
            raise LimitError(too_big)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text; {hint}") from None


# --------------------------------------------------------------------------- live cluster

# where each kind is listed: one call per kind, never one per object. The paths are called through
# the client's ApiClient directly: its generated API classes take most of a second to import.
LIST_PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Secret": "/api/v1/namespaces/{namespace}/secrets",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "ReplicaSet": "/apis/apps/v1/namespaces/{namespace}/replicasets",
    "Event": "/api/v1/namespaces/{namespace}/events",
    "Namespace": "/api/v1/namespaces",
}

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0  # seconds without an answer; CLEARML_RUNAI_REQUEST_TIMEOUT overrides it
TIMEOUT_ENV = "CLEARML_RUNAI_REQUEST_TIMEOUT"
PAGE = 500  # objects per list call
MAX_LIST_ITEMS = 50_000  # objects of one kind: far above any namespace; a server that pages on is refused
# what a ClearML install is read from: helm's release history is left on the server
FIELD_SELECTORS = {"Secret": f"type!={HELM_RELEASE_TYPE}"}


def request_timeouts() -> tuple[float, float]:
    """(connect, read) timeouts in seconds."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return CONNECT_TIMEOUT, READ_TIMEOUT
    try:
        read = float(raw)
    except ValueError:
        read = 0.0
    if not 0 < read < 86400:
        raise UsageError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to, for example, 20")
    return min(CONNECT_TIMEOUT, read), read


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient from a kubeconfig (or in-cluster config inside a pod), failing fast when unreachable."""
    import os

    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is not None and not Path(kubeconfig).expanduser().is_file():
        raise ClusterError(f"kubeconfig {kubeconfig} does not exist; pass --kubeconfig with a kubeconfig file")
    try:
        if (
            kubeconfig is None
            and context is None
            and os.environ.get("KUBERNETES_SERVICE_HOST")
            and not os.environ.get("KUBECONFIG")
            and not Path("~/.kube/config").expanduser().exists()
        ):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            api = client.ApiClient(configuration)
        else:
            api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context
            )
    except ConfigException as exc:
        raise ClusterError(
            f"cannot load a Kubernetes configuration: {exc}; pass --kubeconfig/--context, or --from-file for a dump"
        ) from None
    except FileNotFoundError as exc:
        raise ClusterError(f"kubeconfig {exc.filename} does not exist; pass --kubeconfig") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ClusterError(f"kubeconfig {kubeconfig or '~/.kube/config'} is not valid YAML{where}; repair it") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ClusterError(f"kubeconfig {kubeconfig or '~/.kube/config'} is malformed ({exc}); repair it") from None
    # fail within seconds, not a minute of urllib3 retries
    api.configuration.retries = 0
    api.rest_client.pool_manager.connection_pool_kw["retries"] = 0
    return api


def api_request(
    api: Any,
    method: str,
    path: str,
    *,
    what: str,
    query: dict[str, str] | None = None,
    body: Any = None,
) -> Any:
    """One request through the client's ApiClient (its auth, TLS and proxy settings); the parsed JSON answer.

    Every failure becomes a ClusterError that says what we tried to do.
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    timeouts = request_timeouts()
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        method, url, headers, body, _ = api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()) or None,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeouts)
        data = resp.read()
    except ApiException as exc:
        raise ClusterError(_api_error(exc.status, exc.body, exc.reason, what, api)) from None
    except (HTTPError, OSError) as exc:
        if _timed_out(exc):
            raise ClusterError(
                f"the Kubernetes API at {api.configuration.host} did not answer within {timeouts[1]:g} s while "
                f"trying to {what}; check that the cluster is up, or allow more time with {TIMEOUT_ENV}=SECONDS"
            ) from None
        raise ClusterError(
            f"cannot reach the Kubernetes API at {api.configuration.host} ({_reason(exc)}); "
            "check --kubeconfig/--context and that the cluster is up"
        ) from None
    if not 200 <= resp.status < 300:
        raise ClusterError(_api_error(resp.status, data, resp.reason, what, api))
    try:
        return json.loads(data)
    except ValueError:
        raise ClusterError(f"the Kubernetes API at {api.configuration.host} answered no JSON to {what}") from None


def list_objects(
    api: Any, kind: str, namespace: str = "", *, selector: str | None = None, fields: str | None = None
) -> list[Obj]:
    """All objects of `kind` (in `namespace`), as kubectl shows them: with their kind.

    Read in pages of `PAGE` objects (`limit`/`continue`), so no answer grows with the namespace.
    """
    plural = kind.lower() + "s"
    where = f" in namespace {namespace}" if namespace else ""
    query = {"limit": str(PAGE)}
    if selector:
        query["labelSelector"] = selector
    if fields:
        query["fieldSelector"] = fields
    items: list[Obj] = []
    what = f"list {plural}{where}"
    while True:
        data = api_request(api, "GET", LIST_PATHS[kind].format(namespace=namespace), what=what, query=query)
        page = (data.get("items") or []) if isinstance(data, dict) else None
        if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
            raise ClusterError(f"the Kubernetes API at {api.configuration.host} answered no list of objects to {what}")
        for item in page:  # list items carry no kind; add it back as kubectl does
            item.setdefault("kind", kind)
        items += page
        token = (data.get("metadata") or {}).get("continue")
        if not token:
            return items
        if len(items) > MAX_LIST_ITEMS or token == query.get("continue"):
            raise ClusterError(
                f"the Kubernetes API keeps paging while the tool tries to {what} ({len(items)} so far, more than "
                f"the {MAX_LIST_ITEMS} any namespace holds); point --clearml-namespace at the ClearML install"
            )
        query["continue"] = token


def _timed_out(exc: BaseException) -> bool:
    """A connect or read timeout, bare or wrapped (MaxRetryError); a refused connection is none, though
    urllib3 2 makes NewConnectionError a subclass of ConnectTimeoutError."""
    from urllib3.exceptions import NewConnectionError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    for err in (exc, getattr(exc, "reason", None)):
        if isinstance(err, (Urllib3Timeout, TimeoutError)) and not isinstance(err, NewConnectionError):
            return True
    return False


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = str(inner or exc)
    # keep the last, most specific part of urllib3's nested messages
    return text.split(": ")[-1].rstrip(")'\"") or type(exc).__name__


def _api_error(status: int | None, body: Any, reason: str | None, what: str, api: Any) -> str:
    message = ""
    try:
        message = json.loads(body).get("message", "")
    except (TypeError, ValueError, AttributeError):  # the body is not always JSON
        message = (reason or "").strip()
    if status == 401:
        return (
            f"the Kubernetes API at {api.configuration.host} refused the credentials while trying to {what}: "
            "refresh the kubeconfig or pass another --context"
        )
    if status == 403:
        return f"forbidden to {what}: {message or 'RBAC denies it'}; use a kubeconfig/--context that may do so"
    if status == 404:
        return f"not found while trying to {what}: {message}"
    return f"the Kubernetes API answered {status} while trying to {what}: {message or reason}"


class LiveSource:
    """Objects from a live API server: one list call per kind, each made at most once."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.requests = 0
        self._cache: dict[str, list[Obj]] = {}

    def objects(self, kind: str) -> list[Obj]:
        if kind not in self._cache:
            self.requests += 1
            self._cache[kind] = list_objects(self.api, kind, self.namespace, fields=FIELD_SELECTORS.get(kind))
        return self._cache[kind]

    def describe(self) -> str:
        return f"namespace {self.namespace} on {self.api.configuration.host}"

    def lists(self, kind: str) -> bool:
        return True
