"""A private copy of PyJWT's HS256 encode: the one PyJWT path a login takes, without its overhead.

``jwt.encode`` spends most of a login's signing time on option and key handling around one
HMAC. :func:`sign` is the same compact JSON, base64url and HMAC-SHA256, byte for byte
(``tests/domain/test_jwt.py`` compares the two over many claim sets). Verifying stays PyJWT's
(:class:`mockapi.domain.tokens.TokenService`). If the login benchmark stops showing the gain,
delete this module and call ``jwt.encode``.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

#: The only algorithm mockapi signs with; PyJWT verifies with the same, fixed next to the key.
ALGORITHM = "HS256"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


#: ``json.dumps(..., separators=(",", ":"))``, as PyJWT encodes a payload, made once: dumps
#: builds a new encoder on every call with these options.
_COMPACT = json.JSONEncoder(separators=(",", ":"))

#: PyJWT's header for HS256, keys sorted: ``{"alg":"HS256","typ":"JWT"}``.
_HEADER = _b64(_COMPACT.encode({"alg": ALGORITHM, "typ": "JWT"}).encode())


def sign(claims: dict[str, Any], secret: bytes) -> str:
    """``jwt.encode(claims, secret, algorithm="HS256")``, byte for byte."""
    payload = _b64(_COMPACT.encode(claims).encode())
    signing_input = _HEADER + b"." + payload
    return (signing_input + b"." + _b64(hmac.digest(secret, signing_input, "sha256"))).decode()
