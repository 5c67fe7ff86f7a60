"""JWTs as the original issues them (CONTRACT §4), checked against the scenario clock.

The algorithm is fixed next to the key and never read from the token header, so ``alg: none``
and algorithm-confusion tokens fail. ``exp`` is checked against the scenario clock rather than
the wall clock, so a test can expire a token by advancing time.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import UUID4, TypeAdapter, ValidationError

from mockapi.domain._jwt import ALGORITHM, sign
from mockapi.domain.clock import Clock
from mockapi.domain.redaction import fingerprint

#: Verified tokens remembered (oldest out first): about 1 KiB each with the token itself.
VERIFIED_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims a token must carry to be accepted."""

    # A slots dataclass validated by pydantic rather than a BaseModel: a third of the memory
    # (the verified-token cache and every open socket's handshake hold one), same validation.
    sub: UUID4
    username: str
    exp: float
    #: A tuple: one Claims serves every request with the same token.
    roles: tuple[str, ...]
    client_id: str
    domain: str | None


_CLAIMS = TypeAdapter(Claims)


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
        #: Tokens that passed PyJWT, with their claims. A token is an immutable string signed
        #: with this service's key, so a hit is as good as a verification; ``exp`` and the
        #: revoked set are still checked on every use.
        self._verified: dict[str, Claims] = {}
        self.verified_capacity = VERIFIED_CAPACITY

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
            # 128 random bits as 32 hex digits, the form uuid4().hex had, at a tenth of the
            # cost (uuid4 builds a UUID object to set 6 bits no client reads).
            "jti": secrets.token_hex(16),
        }
        token = sign(claims, self._secret)
        if user_id.version == 4:
            # Signed here with our key: the claims are known without PyJWT (~20 % of a
            # connect flow's first use of its token). Only what _decode would accept: its
            # Claims require a version-4 sub.
            self._remember(token, Claims(user_id, username, claims["exp"], tuple(roles), sub, None))
        return token

    def verify(self, token: str) -> Claims | None:
        """The token's claims if it is genuine, unexpired and not revoked; else None."""
        if not token or token in self._revoked:
            return None
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if claims is None:
                return None
            self._remember(token, claims)
        if claims.exp <= self._clock.time():
            return None
        return claims

    def _remember(self, token: str, claims: Claims) -> None:
        if len(self._verified) >= self.verified_capacity:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims

    def _decode(self, token: str) -> Claims | None:
        """The claims of a genuine token, through PyJWT with the algorithm fixed, whose
        ``client_id`` is its ``sub`` as issued (dashed, lower case); else None."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
            )
            claims = _CLAIMS.validate_python(payload)
        except (jwt.InvalidTokenError, ValidationError, TypeError, ValueError):
            return None
        # client_id must be sub as issued (the WebSocket route trusts client_id).
        # Checked here, once per token, rather than on every request that carries it.
        if claims.client_id != str(claims.sub):
            return None
        return claims

    def revoke(self, token: str, exp: float) -> None:
        """Refuse ``token`` from now on (kept until it would have expired anyway)."""
        now = self._clock.time()
        self._revoked = {t: e for t, e in self._revoked.items() if e > now}
        self._revoked[token] = exp

    def expiries(self) -> dict[str, float]:
        """When each token this service issued or verified expires, by the fingerprint the
        journal shows it under (:func:`mockapi.domain.redaction.fingerprint`)."""
        return {fingerprint(token): claims.exp for token, claims in self._verified.items()}

    def clear_revoked(self) -> None:
        self._revoked.clear()
