"""What the proxy's journal must never hold: passwords, OTP and hardware-token codes, JWTs.

Every value the proxy journals passes :func:`redact_for_journal`, the one place that decides
what is secret. A JWT becomes a short stable fingerprint (``jwt:1a2b3c4d5e6f``), so a reader
can still tell two tokens apart and follow one through the traffic without being able to
replay it; a password or code becomes ``"[redacted]"``.

mockapi's own journal will redact with the same fingerprint and placeholder; this module is
kept apart from it on purpose in one respect: the proxy journals answers too, so a key is
secret only by its name in :data:`SECRET_KEYS` (``code`` is not one: the health body's
``code`` is an HTTP status, not a secret).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

REDACTED = "[redacted]"
#: Body keys whose values are secrets whatever they hold.
SECRET_KEYS = frozenset(
    {"password", "otp_code", "token_code", "hardware_token_code", "access_token", "refresh_token"}
)
#: Headers that carry a credential; their JWT is fingerprinted, anything else redacted.
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-service-token"})
#: Three base64url segments, the first starting like a JSON object ("eyJ" is ``{"``).
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def fingerprint(token: str) -> str:
    """A short stable name of ``token``: the same token, the same name; no way back."""
    return "jwt:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _redact_text(text: str) -> str:
    return JWT_PATTERN.sub(lambda match: fingerprint(match.group(0)), text)


def redact_for_journal(value: Any, key: str | None = None) -> Any:
    """``value`` (a JSON body, a header value, a frame) as the journal may keep it.

    ``key`` is the body key or header name the value came under: a secret key's value is
    redacted whole (a JWT is fingerprinted instead, so tokens stay distinguishable).
    """
    name = key.lower() if key is not None else None
    if isinstance(value, dict):
        return {k: redact_for_journal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_for_journal(item) for item in value]
    if isinstance(value, str):
        if name in SECRET_KEYS or name in SECRET_HEADERS:
            fingerprinted = _redact_text(value)
            if value and fingerprinted == value:
                return REDACTED
            return fingerprinted
        return _redact_text(value)
    if name in SECRET_KEYS and value is not None:
        return REDACTED  # a code sent as a number is still a code
    return value


def redact_headers(headers: Any) -> dict[str, str]:
    """Headers (any mapping of name to value) as the journal keeps them: names lower-cased,
    repeated names joined with ``", "``, credentials redacted."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        joined[lower] = f"{joined[lower]}, {value}" if lower in joined else value
    return {name: redact_for_journal(value, name) for name, value in joined.items()}
