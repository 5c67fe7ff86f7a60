"""What the proxy's journal must never hold: the journal's own redaction, plus upstream cookies.

The rule is mockapi's journal's (:mod:`mockapi.domain.redaction`): the same secret keys, the
same ``[redacted]`` placeholder, the same ``jwt:`` fingerprint, so the two journals read
alike and a test can follow a token through both. The proxy adds one thing: it journals a
real dispatcher's traffic, answers included, whose ``Authorization``, ``Cookie`` and
``Set-Cookie`` may carry credentials that are not JWTs (a session cookie). Their JWTs are
fingerprinted like any other; anything else in them is redacted whole.
"""

from __future__ import annotations

from typing import Any

from mockapi.domain.redaction import (
    JWT_PATTERN,
    REDACTED,
    SECRET_HEADERS,
    SECRET_KEYS,
    fingerprint,
    redact_text,
    secret_value,
)

__all__ = ["JWT_PATTERN", "REDACTED", "fingerprint", "redact_for_journal", "redact_headers"]

#: Headers whose value is a credential on the way to or from a real dispatcher.
CREDENTIAL_HEADERS = SECRET_HEADERS | {"authorization", "cookie", "set-cookie"}


def redact_for_journal(value: Any, key: str | None = None) -> Any:
    """``value`` (a JSON body, a header value, a frame) as the proxy's journal may keep it.

    ``key`` is the body key or header name the value came under: a secret key's value is
    redacted whole (a JWT is fingerprinted instead, so tokens stay distinguishable).
    """
    name = key.lower() if key is not None else None
    if isinstance(value, dict):
        return {k: redact_for_journal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_for_journal(item) for item in value]
    if name in SECRET_KEYS or name in CREDENTIAL_HEADERS:
        return secret_value(value) if value != "" else value
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_headers(headers: Any) -> dict[str, str]:
    """Headers (any mapping of name to value) as the journal keeps them: names lower-cased,
    repeated names joined with ``", "``, credentials redacted."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        joined[lower] = f"{joined[lower]}, {value}" if lower in joined else value
    return {name: redact_for_journal(value, name) for name, value in joined.items()}
