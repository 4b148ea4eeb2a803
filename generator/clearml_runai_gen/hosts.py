"""Hosts only where they are hosts: bare Service names of the ClearML namespace -> full names. Pure.

A bare name resolves only inside its own namespace; `<svc>.<ns>.svc.<domain>` resolves from anywhere
and names the very same Service. A value is rewritten only when it names a Service of the ClearML
namespace: the Services read live or found in the dump. When a dump holds no Services at all, only the
ClearML host variables and URLs with a scheme are taken for hosts. `python:3`, `busybox:1` or `02:00`
are never hosts unless a Service of that name exists.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .models import Obj

HOST_VARS = frozenset({"CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST"})
NO_PROXY_VARS = frozenset({"NO_PROXY", "no_proxy"})
# URL schemes whose "host" names a bucket or a storage account, never a Service: s3://bucket/path
BUCKET_SCHEMES = frozenset(
    {"s3", "s3a", "s3n", "gs", "gcs", "az", "azure", "wasb", "wasbs", "abfs", "abfss", "adl", "oss", "cos", "r2", "b2"}
)

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(?P<port>:\d+)?(?P<rest>/.*)?$")


def without_userinfo(url: str) -> str:
    """A URL as a message shows it: the host, never the user or password before it."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def is_bare_name(host: str) -> bool:
    if not host or "." in host or host.lower() == "localhost":
        return False
    if ":" not in host:  # without dots and colons no IP address: skip the costly parse (long NO_PROXY lists)
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


@dataclass
class HostRewriter:
    """Rewrites values of one release; remembers which bare names it rewrote."""

    namespace: str
    domain: str
    services: frozenset[str] | None  # None: not known (a dump without Services)
    rewritten: set[str] = field(default_factory=set)

    def full(self, host: str) -> str:
        return f"{host}.{self.namespace}.svc.{self.domain}"

    def _is_service(self, host: str, *, trusted: bool) -> bool:
        if not is_bare_name(host):
            return False
        if self.services is None:
            return trusted
        return host in self.services

    def value(self, value: str, *, host_var: bool = False) -> str:
        """One value: a URL, host[:port][/path], or anything else (returned unchanged)."""
        if not isinstance(value, str) or not value:
            return value
        if "://" in value:
            parts = urlsplit(value)
            if parts.scheme.lower() in BUCKET_SCHEMES:
                return value
            host = parts.hostname or ""
            # a URL with a scheme names a host whatever the variable
            if not self._is_service(host, trusted=True):
                return value
            userinfo, at, hostport = parts.netloc.rpartition("@")
            hostport = hostport.replace(host, self.full(host), 1)
            self.rewritten.add(host)
            return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{hostport}"))
        m = _HOST_PORT.match(value)
        # without the Services, a bare word is a host only as host:port in a ClearML host variable
        known = self.services is not None or m is not None and bool(m.group("port"))
        if m and known and self._is_service(m.group("host"), trusted=host_var):
            self.rewritten.add(m.group("host"))
            return self.full(m.group("host")) + (m.group("port") or "") + (m.group("rest") or "")
        return value

    def unresolved(self, value: str) -> str:
        """The bare host of a URL that names no Service of the namespace (it resolves nowhere), else ""."""
        if "://" in value and urlsplit(value).scheme.lower() in BUCKET_SCHEMES:
            return ""
        host = urlsplit(value).hostname if "://" in value else (value.split(":")[0] if value else "")
        if self.services is not None and host and is_bare_name(host) and host not in self.services:
            return host
        return ""

    def no_proxy(self, value: str) -> str:
        """NO_PROXY keeps matching what was rewritten: the full name follows each bare Service name."""
        entries = [e.strip() for e in value.split(",")]
        present = set(entries)  # a set: a list here made a long NO_PROXY quadratic
        names = self.services if self.services is not None else frozenset(self.rewritten)
        out: list[str] = []
        for entry in entries:
            out.append(entry)
            if entry in names and is_bare_name(entry):
                full = self.full(entry)
                if full not in present:
                    out.append(full)
        return ",".join(out)

    def env(self, env: list[Obj]) -> list[Obj]:
        """An env list with its hosts rewritten; NO_PROXY last, so it follows every rewrite."""
        out = []
        for var in env:
            var = copy.deepcopy(var)
            name = str(var.get("name", ""))
            if isinstance(var.get("value"), str) and name not in NO_PROXY_VARS:
                var["value"] = self.value(var["value"], host_var=name in HOST_VARS)
            out.append(var)
        for var in out:
            if str(var.get("name")) in NO_PROXY_VARS and isinstance(var.get("value"), str):
                var["value"] = self.no_proxy(var["value"])
        return out
