"""What is a secret, by name and by shape, and text with every secret blotted out. Pure.

By name: a variable, flag, field or annotation whose name says it holds a secret (PASS, PASSWD, PWD,
TOKEN, SECRET, KEY, CREDENTIAL, AUTH, PRIVATE, WEBHOOK, a word PAT, ...). By shape, whatever its name:
the userinfo of a URL (`scheme://user:pw@host`), a PEM block that is no certificate or public key,
tokens of the shapes that services issue (GitHub, GitLab, Slack, AWS, Google, Hugging Face, OpenAI,
npm, JWTs, ...), and an assignment to a secret name inside a string (`--password=...`, `token: ...`,
`?sig=...`).

Every printed text goes through `redact_text` (errors, warnings, notes, diff, discover, verify), and
`secret_places` tells `--credentials-out` what may not stay in a secret-free file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

REDACTED = "<redacted>"
ANNOTATION_KEYS = frozenset({"annotations", "podAnnotations"})

# a secret word anywhere in the name; a short word only as a whole part of it (PAT, not PATH)
_SECRET_PART = re.compile(r"PASS|PWD|TOKEN|SECRET|CREDENTIAL|KEY|AUTH|PRIVATE|COOKIE|SIGNATURE|BEARER|WEBHOOK|SALT")
_SECRET_WORDS = frozenset({"PAT", "PW", "DSN", "SAS", "SIG", "JWT", "OTP", "APIKEY"})
_WORD_SPLIT = re.compile(r"[^A-Z0-9]+")
# an annotation's name says less than an env name (vault.hashicorp.com/agent-inject-secret-x names a path)
_OPAQUE = re.compile(r"^[^\s]{6,}$")
_PATH_LIKE = re.compile(r"^/?[-a-z0-9_.]+(/[-a-z0-9_.]+)+/?$")

# every pattern stays linear in the length of the text (about a second per megabyte): a run is scanned
# once (a bounded scheme that starts only where a run starts; userinfo parts and JWT parts cannot overlap)
_URL_USERINFO = re.compile(
    r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<info>[^\s/?#@'\"<>]+(?:@[^\s/?#@'\"<>]+)*)@"
)
_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----.*?(?:-----END (?P=label)-----|$)",
    re.DOTALL,
)
_PUBLIC_PEM = frozenset({"CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CRL", "PUBLIC KEY", "CERTIFICATE REQUEST"})
_TOKENS = re.compile(
    r"\b(?:"
    r"gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|sk-[A-Za-z0-9_-]{20,}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]+"
    r")"
)
_AUTH_HEADER = re.compile(r"(?i)\b(?P<kind>bearer|basic|token)\s+(?P<value>[A-Za-z0-9._~+/=-]{12,})")
# name=value, name: value, --name=value; the name ends in a secret word (not existingSecretChecksum)
_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*?"
    r"(?:pass(?:word|wd|phrase)?|pwd|pw|token|secret|key|credentials?|auth|pat|sig|signature|private))"
    r"(?P<sep>['\"]?\s*[=:]\s*)(?!(?:added|removed|changed)\b)"  # diff's own words after a path
    r"(?!\$)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&'\"\]\}\)]+)"  # not a $(VAR) reference
)
# a field named for a secret; the chart's and Kubernetes' fields that name a Secret or its keys are none
_SECRET_FIELD = re.compile(
    r"(?i)^[A-Za-z0-9_.-]*(?:pass(?:word|wd|phrase)?|pwd|token|secret|api[_-]?key|private[_-]?key|"
    r"access[_-]?key|secret[_-]?key|credentials?)$"
)
REFERENCE_KEYS = frozenset({"existingSecret", "existingSecretKeys", "fileMountsSecret", "secretName"})
_SECRET_FLAG = re.compile(
    r"(?i)^--?[A-Za-z0-9_.-]*(?:pass(?:word|wd|phrase)?|pwd|token|secret|key|credentials?|auth|pat)$"
)


def is_secret_name(name: str) -> bool:
    """Names (of env variables, flags, keys) that say they hold a secret."""
    upper = str(name).upper()
    return bool(_SECRET_PART.search(upper)) or any(w in _SECRET_WORDS for w in _WORD_SPLIT.split(upper))


def _userinfo_is_secret(info: str) -> bool:
    # user:password, or a token alone (https://TOKEN@host); a plain user name (git@, user@) is no secret
    return ":" in info or bool(_TOKENS.search(info)) or len(info) >= 20


def shape_reasons(text: str) -> list[str]:
    """What in `text` is a secret by its shape, as words for a message (never the secret itself)."""
    reasons = []
    if any(_userinfo_is_secret(m.group("info")) for m in _URL_USERINFO.finditer(text)):
        reasons.append("a password in a URL")
    if any(m.group("label") not in _PUBLIC_PEM for m in _PEM.finditer(text)):
        reasons.append("a PEM private key")
    if _TOKENS.search(text) or _AUTH_HEADER.search(text):
        reasons.append("a token")
    if any(m.group("value").strip("'\"") not in ("", REDACTED) for m in _ASSIGNMENT.finditer(text)):
        reasons.append("a secret assignment")
    return reasons


def has_secret_shape(text: str) -> bool:
    return bool(shape_reasons(text))


def _known(secrets: Iterable[str]) -> list[str]:
    # a file (clearml.conf) also by each of its lines, in case part of it shows somewhere
    parts = {p for s in secrets for p in [s, *(line.strip() for line in s.splitlines())] if len(p.strip()) >= 4}
    return sorted(parts, key=len, reverse=True)  # longest first, so no part of one survives


def _redact_shapes(text: str) -> str:
    text = _PEM.sub(lambda m: m.group(0) if m.group("label") in _PUBLIC_PEM else REDACTED, text)
    text = _URL_USERINFO.sub(
        lambda m: f"{m.group('scheme')}{REDACTED}@" if _userinfo_is_secret(m.group("info")) else m.group(0), text
    )
    text = _TOKENS.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('kind')} {REDACTED}", text)
    return _ASSIGNMENT.sub(
        lambda m: (
            m.group(0)
            if m.group("value").strip("'\"") in ("", REDACTED)
            else f"{m.group('name')}{m.group('sep')}{REDACTED}"
        ),
        text,
    )


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every known secret string, and everything shaped like a secret, blotted out."""
    for secret in _known(known):
        text = text.replace(secret, REDACTED)
    return _redact_shapes(text)


def redact(lines: Iterable[str], known: Iterable[str] = ()) -> list[str]:
    known = _known(known)
    return [redact_text(line, known) for line in lines]


def redact_args(args: list[Any], known: Iterable[str] = ()) -> list[Any]:
    """An argument list: also the value after a secret flag given apart (`--password`, `VALUE`)."""
    out: list[Any] = []
    for i, arg in enumerate(args):
        previous = args[i - 1] if i else None
        if isinstance(arg, str) and isinstance(previous, str) and _SECRET_FLAG.match(previous):
            out.append(REDACTED)
        else:
            out.append(redact_data(arg, known))
    return out


def redact_data(data: Any, known: Iterable[str] = ()) -> Any:
    """The same through every string of a JSON-like structure; env entries and annotations by name too."""
    known = _known(known)

    def walk(value: Any, annotations: bool = False) -> Any:
        if isinstance(value, dict):
            if annotations:
                return {k: REDACTED if is_annotation_secret(str(k), v) else walk(v) for k, v in value.items()}
            if isinstance(value.get("name"), str) and secret_env_value(value) and is_secret_name(value["name"]):
                return {**{k: walk(v) for k, v in value.items()}, "value": REDACTED}
            return {
                k: REDACTED if is_secret_field(str(k), v) else walk(v, str(k) in ANNOTATION_KEYS)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return redact_args(value, known) if all(isinstance(v, str) for v in value) else [walk(v) for v in value]
        if isinstance(value, str):
            return redact_text(value, known)
        return value

    return walk(data)


def is_annotation_secret(key: str, value: Any) -> bool:
    """An annotation whose value is a secret: by shape, or by name when the value looks like a credential."""
    if not isinstance(value, str) or not value:
        return False
    if has_secret_shape(value):
        return True
    name = key.rsplit("/", 1)[-1]
    return is_secret_name(name) and bool(_OPAQUE.match(value)) and not _PATH_LIKE.match(value) and not _plain(value)


def _plain(value: str) -> bool:
    return value.lower() in ("true", "false", "yes", "no", "on", "off") or value.replace(".", "", 1).isdigit()


def secret_env_value(var: Any) -> bool:
    """An env entry `{name, value}` whose value is a secret by its name or its shape."""
    if not isinstance(var, dict) or not isinstance(var.get("value"), str) or not var["value"]:
        return False
    return is_secret_name(str(var.get("name", ""))) or has_secret_shape(var["value"])


def secret_args(args: Any) -> bool:
    """An argument list that holds a secret: `--password=...`, `--token VALUE`, or a secret by shape."""
    if not isinstance(args, list):
        return False
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        if has_secret_shape(arg):
            return True
        previous = args[i - 1] if i else None
        if isinstance(previous, str) and _SECRET_FLAG.match(previous) and arg and arg[0] not in "-$":
            return True
    return False


def secret_places(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(place, why) of every secret left in `data`, a JSON-like structure; never the secret itself."""
    if isinstance(data, dict):
        for key, value in data.items():
            place = f"{path}.{key}" if path else str(key)
            if key in ("env", "extraEnv") and isinstance(value, list):
                for var in value:
                    if secret_env_value(var):
                        yield f"{place} {var.get('name')}", _why(var["value"], "its name says it is a secret")
                    elif isinstance(var, dict):
                        yield from secret_places(
                            {k: v for k, v in var.items() if k not in ("name", "value")}, f"{place} {var.get('name')}"
                        )
            elif key in ANNOTATION_KEYS and isinstance(value, dict):
                for name, text in value.items():
                    if is_annotation_secret(str(name), text):
                        yield f"{place} {name}", _why(str(text), "its name says it is a secret")
            elif key in REFERENCE_KEYS:
                continue  # names of Secrets and of their keys, no secret
            elif is_secret_field(str(key), value):
                yield place, "its name says it is a secret"
            elif isinstance(value, list) and secret_args(value):
                yield place, _why(" ".join(str(v) for v in value), "a value after a secret flag")
            else:
                yield from secret_places(value, place)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            name = item.get("name") if isinstance(item, dict) else None
            yield from secret_places(item, f"{path}[{name if isinstance(name, str) else i}]")
    elif isinstance(data, str) and has_secret_shape(data):
        yield path, _why(data, "")


def is_secret_field(key: str, value: Any) -> bool:
    """A field of an object (`password: ...` in a volume's options) whose name says it holds a secret."""
    if not isinstance(value, str) or not value or value.startswith(REDACTED[:-1]) or key in REFERENCE_KEYS:
        return False
    return bool(_SECRET_FIELD.match(key)) and not _PATH_LIKE.match(value) and not _plain(value)


def _why(text: str, fallback: str) -> str:
    return ", ".join(shape_reasons(text)) or fallback
