"""Authentication of HTTP requests and WebSocket handshakes (CONTRACT §4, §8).

Every failure is the same 403/999, whatever went wrong, so a client learns nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from mockapi.domain.errors import PERMISSION_DENIED, ApiError
from mockapi.domain.tokens import Claims
from mockapi.domain.world import User
from mockapi.keys import RUNTIME, TOKENS

PREFIX = "JWT"
#: Who made a request, for the journal (see mockapi.web.middleware).
#: Who made the request, for the journal (None until a handler knows).
USER_KEY: web.RequestKey[str | None] = web.RequestKey("user")


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which doubled
# the cost of building one on every authenticated request. Nothing changes an Identity.
@dataclass(slots=True)
class Identity:
    """Who made the request, and with which token."""

    user: User
    claims: Claims
    token: str


def token_from_value(value: str | None) -> str | None:
    """The token in a ``JWT <token>`` value: one space, exactly two parts, prefix as written."""
    if not value:
        return None
    parts = value.split(" ")
    if len(parts) != 2 or parts[0] != PREFIX or not parts[1]:
        return None
    return parts[1]


def identify(app: web.Application, value: str | None) -> Identity | None:
    """The identity behind a ``JWT <token>`` header value, or None."""
    token = token_from_value(value)
    if token is None:
        return None
    claims = app[TOKENS].verify(token)
    if claims is None:
        return None  # verify also refuses a client_id other than sub
    user = app[RUNTIME].world.user(claims.username)
    if user is None or user.disabled or user.id != claims.sub:
        return None
    return Identity(user=user, claims=claims, token=token)


def authenticate(request: web.Request) -> Identity:
    """The caller of a JWT route, from ``Authorization: JWT <token>``; 403/999 otherwise."""
    identity = identify(request.app, request.headers.get("Authorization"))
    if identity is None:
        raise ApiError(PERMISSION_DENIED)
    request[USER_KEY] = identity.user.username
    return identity
