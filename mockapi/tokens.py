"""JWTs as the original issues them (CONTRACT §4), checked against the scenario clock.

The algorithm is fixed next to the key and never read from the token header, so ``alg: none``
and algorithm-confusion tokens fail. ``exp`` is checked against the scenario clock rather than
the wall clock, so a test can expire a token by advancing time.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import jwt
from pydantic import UUID4, BaseModel, ValidationError

from mockapi.clock import Clock

ALGORITHM = "HS256"


class Claims(BaseModel):
    """The claims a token must carry to be accepted."""

    sub: UUID4
    username: str
    exp: float
    roles: list[str]
    client_id: str
    domain: str | None


def random_secret() -> bytes:
    """A fresh 32-byte HS256 key (the original hard-coded one; anyone could forge tokens)."""
    return secrets.token_bytes(32)


class TokenService:
    """Issues, verifies and revokes access tokens."""

    def __init__(self, secret: bytes, clock: Clock, ttl_s: float = 86400.0) -> None:
        self._secret = secret
        self._clock = clock
        self.ttl_s = ttl_s
        self._revoked: dict[str, float] = {}

    def issue(
        self,
        user_id: uuid.UUID,
        username: str,
        roles: list[str],
        ttl_s: float | None = None,
    ) -> str:
        """A signed token with the original's claims, in its order, plus ``iat`` and ``jti``."""
        now = self._clock.time()
        sub = str(user_id)
        claims: dict[str, Any] = {
            "sub": sub,
            "username": username,
            "exp": now + (self.ttl_s if ttl_s is None else ttl_s),
            "roles": list(roles),
            "client_id": sub,
            "domain": None,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Claims | None:
        """The token's claims if it is genuine, unexpired and not revoked; else None."""
        if not token or token in self._revoked:
            return None
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
            )
            claims = Claims.model_validate(payload)
        except (jwt.InvalidTokenError, ValidationError, TypeError, ValueError):
            return None
        if claims.exp <= self._clock.time():
            return None
        return claims

    def revoke(self, token: str, exp: float) -> None:
        """Refuse ``token`` from now on (kept until it would have expired anyway)."""
        now = self._clock.time()
        self._revoked = {t: e for t, e in self._revoked.items() if e > now}
        self._revoked[token] = exp

    def clear_revoked(self) -> None:
        self._revoked.clear()
