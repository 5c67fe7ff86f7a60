"""The route table's vocabulary: a :class:`Route` says everything about one route.

``setup_routes`` registers the server from the table and ``/openapi.json`` describes the same
table, so a route cannot be served undocumented, nor documented with other models than the
ones its handler validates with. The answers every route of a kind shares (403 on the JWT
routes, 422 wherever a model validates, 413 wherever a body is read) are added here, once,
by :func:`documented_answers`; a route's table entry lists only what is its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from mockapi.domain.errors import BODY_TOO_LARGE, PERMISSION_DENIED, ErrorSpec
from mockapi.domain.urls import is_service_path
from mockapi.web.bodies import HttpDetail, ValidationError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: /service/ routes answer 403 to a missing or wrong X-Service-Token when the server runs with
#: ``--service-token`` (CONTRACT §1); the guard is :mod:`mockapi.web.middleware`.


class Auth(StrEnum):
    """How a route authenticates its caller (CONTRACT §4, §8)."""

    #: Open (``/service/`` may need X-Service-Token, a server setting).
    NONE = "none"
    #: ``Authorization: JWT <token>``; any failure is 403/999.
    JWT = "jwt"
    #: The WebSocket handshake: the raw ``Cookie`` header value ``JWT <token>``.
    WS_COOKIE = "ws-cookie"


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented response: its body (JSON models and/or other media) and headers.

    ``errors`` are catalogue entries (:mod:`mockapi.domain.errors`): they document the §3 shape,
    carry their real bodies as examples, and imply the ``www-authenticate: JWT`` header.
    ``models`` are other JSON bodies; with more than one body the schema is their ``anyOf``.
    ``media`` maps a non-JSON media type to its JSON schema (an HTML page, a script).
    ``headers`` maps a header name to its description; all are always sent.
    ``rule`` says which business rule answers this status to a request the schema allows (an
    unknown user, a login that needs MFA, a limit of the world): the document states it as
    ``x-business-rule``, so a client (and a fuzzer's positive-data check) knows a well-formed
    request can get it.
    """

    description: str
    models: tuple[type[BaseModel], ...] = ()
    errors: tuple[ErrorSpec, ...] = ()
    media: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[str, Any] = field(default_factory=dict)
    rule: str = ""

    def merged(self, other: Answer) -> Answer:
        """Both answers under one status: bodies, errors and headers of each."""
        if other == self:
            return self
        return Answer(
            description=f"{self.description} {other.description}",
            models=tuple(dict.fromkeys(self.models + other.models)),
            errors=tuple(dict.fromkeys(self.errors + other.errors)),
            media={**self.media, **other.media},
            headers={**self.headers, **other.headers},
            examples={**self.examples, **other.examples},
            rule=" ".join(part for part in (self.rule, other.rule) if part),
        )


def body(model: type[BaseModel], description: str = "") -> Answer:
    """A JSON success body; the description defaults to the model's docstring."""
    return Answer(description or _first_line(model.__doc__) or "Success.", models=(model,))


def errors(description: str, *specs: ErrorSpec, rule: str = "") -> Answer:
    """Application errors of one status, each catalogue entry an example."""
    assert len({spec.status for spec in specs}) == 1, "one status per answer"
    return Answer(description, errors=specs, rule=rule)


def page(description: str) -> Answer:
    """An HTML page."""
    return Answer(description, media={"text/html": {"type": "string"}})


def empty(description: str, headers: Mapping[str, str] | None = None) -> Answer:
    """No body (205, 302, 101)."""
    return Answer(description, headers=headers or {})


#: 422: the request failed validation (pydantic's list, CONTRACT §3).
INVALID = Answer(
    "Validation failed: every error of the request, path errors first, then query, then body.",
    models=(ValidationError,),
)


def refused(text: str) -> Answer:
    """A 422 (pydantic's shape) that a business rule gives a request the schema allows."""
    return Answer(text, models=(ValidationError,), rule=text)


#: 404 from the router itself: a path parameter of ``.`` or ``..`` is a dot segment, which
#: normalisation removes, and the path left matches no route.
NO_ROUTE = Answer(
    "A path parameter of `.` or `..` leaves a path no route matches.", models=(HttpDetail,)
)
#: 403 on every JWT route.
AUTH_FAILED = errors(
    "Authentication failed (missing, malformed, expired, revoked or forged token; disabled"
    " user): always 403/999, whatever went wrong.",
    PERMISSION_DENIED,
)
#: 403 on every /service/ route, but only when the server runs with a service token.
SERVICE_TOKEN_REFUSED = errors(
    "Only when the server runs with --service-token: X-Service-Token is missing or wrong.",
    PERMISSION_DENIED,
)
#: 413 wherever a body is read.
TOO_LARGE = errors("The body is larger than 1 MiB.", BODY_TOO_LARGE)


@dataclass(frozen=True, eq=False, slots=True)
class Route:
    """One route: how it is served and how it is documented, in one place.

    ``path``, ``query`` and ``body`` are the pydantic models the handler validates with;
    their fields become the documented parameters and request body. ``responses`` lists the
    route's own answers; :func:`documented_answers` adds the ones its kind implies.
    ``body_media`` are the request body's media types: JSON and forms take the ``body``
    model's schema, any other type is text (a TOML file). ``validated`` is False for a
    handler that reads its input itself and never answers 422 (the ADFS page, the socket).
    ``in_fuzz_run`` is False for a route that resets the world: in a random run it would
    revoke the run's token and make every later answer depend on the order of the cases.
    """

    method: str
    path: str
    handler: Handler
    name: str
    summary: str
    tag: str
    auth: Auth = Auth.NONE
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_media: tuple[str, ...] = ("application/json",)
    responses: Mapping[int, Answer] = field(default_factory=dict)
    description: str | None = None
    validated: bool = True
    in_fuzz_run: bool = True

    @property
    def websocket(self) -> bool:
        """A WebSocket route: it documents the 101 of the upgrade."""
        return 101 in self.responses

    @property
    def doc(self) -> str:
        """The operation's description: given, or the handler's docstring."""
        if self.description is not None:
            return self.description
        return inspect.getdoc(self.handler) or ""


def documented_answers(route: Route) -> dict[int, Answer]:
    """Every status ``route`` can answer, its own and the ones its kind implies, by status."""
    answers: dict[int, Answer] = dict(route.responses)

    def add(status: int, answer: Answer) -> None:
        answers[status] = answers[status].merged(answer) if status in answers else answer

    if route.auth is Auth.JWT:
        add(403, AUTH_FAILED)
    if is_service_path(route.path):
        add(403, SERVICE_TOKEN_REFUSED)
    if route.validated and (route.path_params or route.query or route.body):
        add(422, INVALID)
    if route.path_params:
        add(404, NO_ROUTE)
    if route.body:
        add(413, TOO_LARGE)
    return dict(sorted(answers.items()))


def register(app: web.Application, routes: tuple[Route, ...]) -> None:
    """Add ``routes`` to ``app``'s router, each under its name.

    GET routes do not answer HEAD (405, as the original does): ``add_route`` adds no HEAD.
    """
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""


#: The table the application serves, for the documents that describe it (``/openapi.json``).
ROUTE_TABLE: web.AppKey[tuple[Route, ...]] = web.AppKey("route_table")
