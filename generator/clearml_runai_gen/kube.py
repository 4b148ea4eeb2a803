"""The Kubernetes client: configuration, requests, paging, and their errors. The only module that talks to it.

Requests go through the `kubernetes` package's ApiClient (its auth, TLS and proxy settings), called
directly: its generated API classes take most of a second to import. The package itself is imported
only when a request is made.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ClusterError, UsageError
from .models import Obj

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
    content_type: str = "application/json",
    missing_ok: bool = False,
    accept: str = "application/json",
) -> Any:
    """One request through the client's ApiClient (its auth, TLS and proxy settings); the parsed JSON answer
    (`{}` for an empty one). With `missing_ok`, None when the object is not there (404).

    Every failure becomes a ClusterError that says what we tried to do.
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    timeouts = request_timeouts()
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
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
        if missing_ok and exc.status == 404:
            return None
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
    if missing_ok and resp.status == 404:
        return None
    if not 200 <= resp.status < 300:
        raise ClusterError(_api_error(resp.status, data, resp.reason, what, api))
    if not data:
        return {}
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
