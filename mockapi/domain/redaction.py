"""What the journal keeps of a request: its headers, query and body, with the secrets taken out.

A journal is read by tests, printed in failure reports and pasted into issues, so it never
holds a credential: passwords, OTP codes and hardware-token codes are replaced by
:data:`REDACTED`, and every JWT, wherever it appears (a header, a body, a query value, a
WebSocket message), by its fingerprint. The fingerprint is short and stable for the life of
the token, so a test can still tell that two requests used the same token, or two different
ones, and find the requests of a token it holds (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

#: What a secret's value becomes.
REDACTED = "[redacted]"
#: Body, form and query keys whose values are secrets: the login's password and OTP code,
#: the hardware-token sign-in's code, a scenario user's OTP secret, and tokens sent by name
#: (a JWT anywhere is fingerprinted anyway). The same names as the proxy's journal
#: (:mod:`mockapi.proxy.redaction` builds on these); not ``otp`` (a scenario user's flag) nor
#: ``code`` (the health body's HTTP status).
SECRET_KEYS = frozenset(
    {
        "password",
        "otp_code",
        "token_code",
        "hardware_token_code",
        "otp_secret",
        "access_token",
        "refresh_token",
    }
)
#: Header values that are secrets in themselves, whatever they hold.
SECRET_HEADERS = frozenset({"x-service-token"})
#: At most this much of a body is kept; a longer one is cut (``body_omitted`` says so).
MAX_BODY_BYTES = 64 * 1024
#: A compact JWS (header.payload.signature): base64url segments, the header starting ``eyJ``
#: (``{"``). Matched anywhere, so a token inside a cookie or a message is found too.
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_FORM = "application/x-www-form-urlencoded"


@lru_cache(maxsize=4096)
def fingerprint(token: str) -> str:
    """The journal's stand-in for ``token``: ``jwt:`` and 12 hex digits of its SHA-256.

    Forty-eight bits tell the tokens of any test run apart, and say nothing usable about
    the token itself.
    """
    return "jwt:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _fingerprint_match(match: re.Match[str]) -> str:
    return fingerprint(match.group(0))


def redact_text(text: str) -> str:
    """``text`` with every JWT in it replaced by its fingerprint."""
    if "eyJ" not in text:  # nearly every value: no regex run
        return text
    return JWT_PATTERN.sub(_fingerprint_match, text)


def redact_value(value: Any) -> Any:
    """A parsed body (or any JSON value) with secret keys redacted and JWTs fingerprinted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: (
                secret_value(value[key])
                if isinstance(key, str) and key.lower() in SECRET_KEYS
                else redact_value(value[key])
            )
            for key in value
        }
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def secret_value(value: Any) -> Any:
    """The value of a secret key: null stays null (it says something and gives nothing away),
    a JWT becomes its fingerprint (tokens stay distinguishable), anything else is redacted."""
    if value is None:
        return None
    if isinstance(value, str):
        fingerprinted = redact_text(value)
        if fingerprinted != value:
            return fingerprinted
    return REDACTED


def redact_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lower-case name (repeated ones joined with ``, ``), secrets redacted."""
    headers: dict[str, str] = {}
    for name, raw in items:
        key = name.lower()
        value = REDACTED if key in SECRET_HEADERS else redact_text(raw)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def redact_query(items: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Query values by name (a repeated name keeps every value, in order), secrets redacted."""
    query: dict[str, str | list[str]] = {}
    for name, raw in items:
        value = secret_value(raw) if name.lower() in SECRET_KEYS else redact_text(raw)
        if name in query:
            held = query[name]
            query[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            query[name] = value
    return query


def keeps_body(media: str) -> bool:
    """Whether the journal keeps a body of type ``media`` (JSON, a form, text)."""
    media = media.lower()
    return (
        media == "application/json"
        or media.endswith("+json")
        or media == _FORM
        or media.startswith("text/")
    )


def read_body(
    media: str, raw: bytes, declared: int | None = None
) -> tuple[Any, dict[str, Any] | None]:
    """What the journal keeps of a body of type ``media``, and what it left out, if anything.

    JSON is kept parsed (as written when it does not parse), a form as its fields, text as
    text; any other type, multipart included (it may carry a password the journal cannot
    find), is left out and only its type and size (``declared`` when it was not read) are
    kept.
    """
    media = media.lower()
    if not keeps_body(media):
        size = len(raw) or declared
        return None, ({"media": media or None, "bytes": size} if size else None)
    if not raw:
        return None, None
    is_json = media == "application/json" or media.endswith("+json")
    omitted = None
    if len(raw) > MAX_BODY_BYTES:
        omitted = {"media": media, "bytes": len(raw), "kept": MAX_BODY_BYTES}
        raw = raw[:MAX_BODY_BYTES]
    text = raw.decode("utf-8", errors="replace")
    if omitted is None and is_json:
        try:
            return redact_value(json.loads(text)), None
        except ValueError:
            pass
    elif omitted is None and media == _FORM:
        return redact_query(parse_qsl(text, keep_blank_values=True)), None
    # A cut JSON or form body no longer parses: the text is kept, its secrets found by name.
    return _redact_loose(text), omitted


#: ``"password": "..."`` or ``password=...`` in a body that could not be parsed.
_SECRET_NAMES = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_LOOSE_SECRET = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])[\"']?(?:" + _SECRET_NAMES + r")[\"']?\s*[:=]\s*)"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^&\s,}]+)',
    re.IGNORECASE,
)


def _redact_loose(text: str) -> str:
    def hide(match: re.Match[str]) -> str:
        quoted = match.group("value").startswith('"')
        return match.group("key") + (f'"{REDACTED}"' if quoted else REDACTED)

    return redact_text(_LOOSE_SECRET.sub(hide, text))
