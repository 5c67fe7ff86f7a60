"""Request middlewares besides the error one: the journal, HTTP faults, the service-token guard.

Order in the app (outermost first): journal, faults, service token, errors. The journal sees the
final status of every answer, including the 403 of a refused service token and the answers of
faults (an error status, a late answer, a dropped one); faults see every answer the handlers and
the error middleware made.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from mockapi.auth import USER_KEY, identify
from mockapi.errors import PERMISSION_DENIED
from mockapi.faults import HttpHit, fault_response, is_tool_path
from mockapi.keys import FAULTS, JOURNAL, RUNTIME, SETTINGS
from mockapi.world import User

SERVICE_PREFIX = "/service/"
SERVICE_TOKEN_HEADER = "X-Service-Token"
#: Reading the journal must not write to it, or every poll would grow what it polls.
UNJOURNALED = ("/service/journal/",)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A request whose answer a fault dropped; ``status`` is what the handler answered (None
    when it never ran: a dropped WebSocket handshake)."""

    status: int | None


#: The id of the fault that acted on a request, and the drop, for the journal's entry.
FAULT_KEY = web.RequestKey("fault", str)
DROPPED_KEY = web.RequestKey("dropped", Dropped)


def note_user(request: web.Request, username: str) -> None:
    """Attribute this request to ``username`` in the journal."""
    request[USER_KEY] = username


@web.middleware
async def service_token_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``--service-token`` set, /service/ needs ``X-Service-Token``; 403/999 otherwise."""
    expected = request.app[SETTINGS].service_token
    if expected and request.path.startswith(SERVICE_PREFIX):
        given = request.headers.get(SERVICE_TOKEN_HEADER, "")
        # surrogateescape: aiohttp decodes header bytes that are not UTF-8 to surrogates, and
        # a strict encode raised on them (a text/plain 500 instead of the 403).
        if not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
        ):
            return PERMISSION_DENIED.response()
    return await handler(request)


@web.middleware
async def journal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every answer (method, path, status, user) in the journal."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like pass through the error middleware
        _record(request, exc.status)
        raise
    _record(request, response.status)
    return response


def _record(request: web.Request, status: int) -> None:
    # The dashboard's own page, files and feed would bury the API traffic a test inspects.
    if request.path.startswith(UNJOURNALED) or is_tool_path(request.path):
        return
    journal = request.app[JOURNAL]
    fault = request.get(FAULT_KEY)
    if fault is None:
        journal.record_http(request.method, request.path, status, request.get(USER_KEY))
        return
    extra: dict[str, object] = {"fault": fault}
    answered: int | None = status
    dropped = request.get(DROPPED_KEY)
    if dropped is not None:
        # What the handler answered (so what the world now holds), though nobody received it.
        answered = dropped.status
        extra["dropped"] = True
    journal.record(
        "http",
        method=request.method,
        path=request.path,
        status=answered,
        user=request.get(USER_KEY),
        **extra,
    )


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the first HTTP fault that matches and fires: wait, answer an error, or drop.

    ``delay_s`` waits on the scenario clock before the request is handled; ``status``
    answers instead of the handler; ``drop`` lets the handler run (whatever it changes stays
    changed, as with a response lost on the way) and closes the connection without an answer.
    """
    faults = request.app[FAULTS]
    if not faults.on_http:
        return await handler(request)
    found: list[User | None] = []

    async def requester() -> User | None:
        if not found:
            found.append(await _requester(request))
        return found[0]

    hit = await faults.match_http(request.method, request.path, requester)
    if hit is None:
        return await handler(request)
    request[FAULT_KEY] = hit.fault.id
    if hit.user is not None:
        note_user(request, hit.user.username)
    spec = hit.fault.spec
    if spec.delay_s is not None:
        faults.note_http(hit, "delay_s", request.method, request.path, delay_s=spec.delay_s)
        await faults.sleep(spec.delay_s)
    if spec.status is not None:
        faults.note_http(hit, "status", request.method, request.path, status=spec.status)
        return fault_response(spec)
    if spec.drop:
        return await _drop(request, handler, hit)
    return await handler(request)


async def _drop(request: web.Request, handler: Handler, hit: HttpHit) -> web.StreamResponse:
    """Run the handler, then close the connection instead of answering.

    aiohttp then fails to write the answer to the closed transport, which it takes for a
    client that went away: no traceback, no 500. A WebSocket handshake is dropped before its
    handler, whose "answer" would be the whole socket session.
    """
    faults = request.app[FAULTS]
    transport = request.transport
    if _is_websocket(request) or transport is None:
        faults.note_http(hit, "drop", request.method, request.path, status=None, handled=False)
        request[DROPPED_KEY] = Dropped(None)
        if transport is not None:
            transport.close()
        return web.Response(status=503)  # never sent: the connection is gone
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a redirect the error middleware let through
        _dropped(request, hit, exc.status)
        transport.close()
        raise
    _dropped(request, hit, response.status)
    transport.close()
    return response


def _dropped(request: web.Request, hit: HttpHit, status: int) -> None:
    request.app[FAULTS].note_http(
        hit, "drop", request.method, request.path, status=status, handled=True
    )
    request[DROPPED_KEY] = Dropped(status)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").strip().lower() == "websocket"


async def _requester(request: web.Request) -> User | None:
    """Who makes the request, as far as it says before a handler runs.

    The JWT of ``Authorization`` (the ``Cookie`` of a WebSocket handshake), else a
    ``username`` in the query (the ADFS page) or in a JSON or form body (the logins).
    """
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None and _is_websocket(request):
        header = request.headers.get(hdrs.COOKIE)
    identity = identify(request.app, header)
    if identity is not None:
        return identity.user
    name = request.query.get("username") or await _body_username(request)
    return request.app[RUNTIME].world.users_by_name.get(name) if name else None


async def _body_username(request: web.Request) -> str | None:
    # Only a body of known, acceptable size: a read that fails half-way would leave the
    # handler a truncated body instead of its 413. aiohttp keeps what was read for the handler.
    length = request.content_length
    if request.method != "POST" or length is None or length > request.client_max_size:
        return None
    try:
        if request.content_type == "application/json":
            data = json.loads(await request.read())
        elif request.content_type == "application/x-www-form-urlencoded":
            data = dict(await request.post())
        else:
            return None
    except Exception:  # the handler reads the body again and answers what is wrong with it
        return None
    name = data.get("username") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
