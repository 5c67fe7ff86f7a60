"""The one request middleware: journal, HTTP faults, the service-token guard and error answers.

One aiohttp middleware runs the whole request lifecycle: aiohttp wraps the handler in one
more layer per middleware (plus one of its own for an app that has any), and four of them,
each looking up the app and its state again, cost about a fifth of a health request. Its
stages, outermost first, keep the guarantees of the four middlewares it replaces:

1. **journal**: every answer is recorded with its final status, including the 403 of a refused
   service token and the answers of faults (an error status, a late answer, a dropped one);
2. **faults**: they act on every answer the handlers and the error answers made; /service/ and
   the tool's own pages are never faulted (:meth:`FaultEngine.match_http`);
3. **service token**: with ``--service-token`` set, /service/ needs ``X-Service-Token``;
4. **errors**: what a handler raises becomes the JSON the original answers
   (:func:`mockapi.web.errors.error_response`); a redirect passes through as an exception.

A request that no fault matches (always the case when there are none) takes the short path:
the guard, the handler, one journal entry, its count and time for ``GET /metrics``
(:mod:`mockapi.web.metrics`) and, when the access log is on, one DEBUG line.

Transport faults (``reset``, ``hang``, ``truncate``, ``trickle_bps``, ``proxy_error``) act
here too, through :mod:`mockapi.web.transport`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractRoute, PlainResource
from multidict import CIMultiDict

from mockapi.domain.errors import AUTH_HEADERS, PERMISSION_DENIED, ErrorCode
from mockapi.domain.faults import FaultEngine, HttpHit, Requester
from mockapi.domain.faultspec import FaultSpec, default_message
from mockapi.domain.journal import Journal, header_lines
from mockapi.domain.redaction import keeps_body
from mockapi.domain.urls import is_journaled, is_service_path
from mockapi.domain.world import User
from mockapi.jsonfmt import dumps
from mockapi.keys import COVERAGE, FAULTS, JOURNAL, RUNTIME, SETTINGS
from mockapi.web.auth import USER_KEY, identify
from mockapi.web.errors import ERROR_SPEC, answer, error_response
from mockapi.web.metrics import METRICS
from mockapi.web.recording import AnswerTally, RouteFacts
from mockapi.web.rules import SERVICE_TOKEN_HEADER, is_websocket_upgrade, service_token_ok
from mockapi.web.transport import (
    STALLS,
    body_of,
    connected,
    proxy_error_response,
    reset_connection,
    send_trickled,
    send_truncated,
)

#: One line per request (method, path, status, user, time taken) at DEBUG, unless
#: ``--access-log off``: a 403 or a 428 then leaves a trace in the terminal.
access_log = logging.getLogger("mockapi.access")


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the middleware reads on every request, looked up once per app instead of once
    per request (an app key lookup is a Python call): the services it feeds and the two
    settings it obeys. They live as long as the app; a reset clears them in place."""

    faults: FaultEngine
    journal: Journal
    #: Counts the answers into the metrics and the coverage.
    tally: AnswerTally
    service_token: str | None
    access_log: bool
    #: Each registered route's facts, learnt at its first request (a few property calls each,
    #: on every request otherwise). Only the app's own routes: an unmatched request's route
    #: is made for it, and would grow this without bound.
    routes: dict[AbstractRoute, RouteFacts] = field(default_factory=dict)

    def facts(self, route: AbstractRoute, path: str) -> RouteFacts:
        """``route``'s facts (``path``: the request's, for a route the app never registered)."""
        known = self.routes.get(route)
        if known is not None:
            return known
        resource = route.resource
        if resource is None:  # no route matched: a 404 or 405 made for this request
            return RouteFacts(None, path, is_journaled(path))
        plain = isinstance(resource, PlainResource)
        facts = RouteFacts(route.name, resource.canonical, is_journaled(path) if plain else None)
        self.routes[route] = facts
        return facts


WIRING = web.AppKey("request_wiring", Wiring)


def setup_middleware(app: web.Application) -> None:
    """Wire :func:`request_middleware` to ``app``'s services (after :func:`setup_metrics`)."""
    settings = app[SETTINGS]
    app[WIRING] = Wiring(
        app[FAULTS],
        app[JOURNAL],
        AnswerTally(app[METRICS], app[COVERAGE]),
        settings.service_token,
        settings.access_log,
    )


@dataclass(slots=True)
class FaultNote:
    """What a fault did to a request, for its journal entry.

    ``dropped`` is set when the answer was dropped; ``handled`` is then what the handler
    answered (None when it never ran: a dropped WebSocket handshake).
    """

    fault_id: str
    dropped: bool = False
    handled: int | None = None


def note_user(request: web.Request, username: str) -> None:
    """Attribute this request to ``username`` in the journal."""
    request[USER_KEY] = username


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer the request through the stages of the module docstring, and journal the answer."""
    started = time.perf_counter()
    # Nobody yet: set, so the journal reads it without the KeyError a missing key costs.
    request[USER_KEY] = None
    app = request.app  # a property that asks the match info: read once, passed on
    wiring = app[WIRING]
    faults = wiring.faults
    if faults.on_http:
        hit = await faults.match_http(request.method, request.path, _requester_of(request))
        if hit is not None:
            return await _faulted(request, handler, app, hit, started)
    try:
        response = await _guarded(request, handler, wiring)
    except web.HTTPException as exc:  # a redirect: the error answers let it through
        _record(request, wiring, exc.status, None, started, None, await _sent_body(request))
        raise
    body = await _body(request) if request.body_exists else b""
    _record(request, wiring, response.status, None, started, response, body)
    return response


async def _guarded(request: web.Request, handler: Handler, wiring: Wiring) -> web.StreamResponse:
    """The service-token check, then the handler, with what it raises answered as JSON."""
    expected = wiring.service_token
    if (
        expected
        and is_service_path(request.path)
        and not service_token_ok(request.headers.get(SERVICE_TOKEN_HEADER), expected)
    ):
        return answer(PERMISSION_DENIED)
    try:
        return await handler(request)
    except Exception as exc:
        response = error_response(request, exc)
        if response is None:
            raise
        return response


def _record(
    request: web.Request,
    wiring: Wiring,
    status: int,
    note: FaultNote | None,
    started: float,
    response: web.StreamResponse | None,
    body: bytes,
) -> None:
    """Journal, count, time and log one exchange: what was asked (headers, query, ``body`` as
    read), by whom, the status, a ``Retry-After`` it was answered with, and what a fault did
    to it; count the answer for the coverage. Not a coroutine: a request without a body (most
    of them) is recorded without one more await."""
    path = request.path
    method = request.method
    user = request[USER_KEY]
    route = wiring.facts(request.match_info.route, path)
    dropped = note is not None and note.dropped
    sent: int | None = None if dropped else status
    # Wall time, not the scenario clock's: how long the server took is what a latency is.
    elapsed = time.perf_counter() - started
    # The dashboard's own page, files and feed would bury the API traffic a test inspects.
    journaled = is_journaled(path) if route.journaled is None else route.journaled
    # The coverage counts what reached the client on a journaled path; only an error answer
    # carries its catalogue entry (a lookup that misses raises).
    covered = journaled and not dropped
    error = response.get(ERROR_SPEC) if covered and response is not None and status >= 400 else None
    wiring.tally.note(route, method, sent, None if status == 101 else elapsed, error, covered)
    if wiring.access_log and access_log.isEnabledFor(logging.DEBUG):
        # A decoded path may hold a line break (%0A): escaped, it cannot forge a log line.
        shown = path if path.isprintable() else ascii(path)
        access_log.debug(
            "%s %s %s user=%s %.2fms",
            method, shown, "-" if sent is None else sent, user or "-", elapsed * 1000,
        )  # fmt: skip
    if not journaled:
        return
    extra: dict[str, object] | None = None
    if response is not None:
        retry_after = response.headers.get(hdrs.RETRY_AFTER)
        if retry_after is not None:
            extra = {"retry_after": retry_after}
    answered: int | None = status
    if note is not None:
        extra = {"fault": note.fault_id, **(extra or {})}
        if note.dropped:
            # What the handler answered (so what the world now holds), though nobody got it.
            answered = note.handled
            extra["dropped"] = True
    # Most requests have neither query nor body: their parsers are not even asked.
    has_body = request.body_exists
    wiring.journal.record_http(
        method,
        path,
        answered,
        user,
        # The header lines as they arrived (the parser decoded them as the journal will).
        header_lines(request.raw_headers),
        tuple(request.query.items()) if request.query_string else (),
        request.content_type if has_body else "",
        body,
        request.content_length if has_body else None,
        extra,
    )


async def _sent_body(request: web.Request) -> bytes:
    """:func:`_body`, awaited only when the request has one (most have none)."""
    return await _body(request) if request.body_exists else b""


async def _body(request: web.Request) -> bytes:
    """The body the handler read (aiohttp keeps it), or read now; empty when it cannot be.

    Only a body the journal keeps is read (a multipart one may have been streamed by its
    handler). A body over the size limit was refused (413) and is not read; one the
    connection lost half-way (a dropped answer, a client gone) is journaled as empty.
    """
    if not request.body_exists or not keeps_body(request.content_type):
        return b""
    length = request.content_length
    if length is not None and length > request.client_max_size:
        return b""
    try:
        return await request.read()
    except Exception:
        return b""


async def _faulted(
    request: web.Request, handler: Handler, app: web.Application, hit: HttpHit, started: float
) -> web.StreamResponse:
    """Answer a request a fault fired on, and journal the answer with the fault's id."""
    note = FaultNote(hit.fault.id)
    try:
        response = await _apply_fault(request, handler, app, hit, note)
    except web.HTTPException as exc:
        _record(request, app[WIRING], exc.status, note, started, None, await _sent_body(request))
        raise
    _record(
        request, app[WIRING], response.status, note, started, response, await _sent_body(request)
    )
    return response


async def _apply_fault(
    request: web.Request, handler: Handler, app: web.Application, hit: HttpHit, note: FaultNote
) -> web.StreamResponse:
    """Carry out what the fault asks for, in this order.

    ``hang`` holds the request unanswered (for ``delay_s`` of scenario time, or until a reset
    or shutdown) and then closes the connection; otherwise ``delay_s`` waits on the scenario
    clock first. Then ``reset`` resets the connection, or the answer is made: ``status`` or
    ``proxy_error`` instead of the handler, else the handler's (``drop`` closes the
    connection after the handler ran). Last, ``truncate`` and ``trickle_bps`` decide how the
    answer's body goes out. A handler that never ran changed nothing.
    """
    faults = app[FAULTS]
    if hit.user is not None:
        note_user(request, hit.user.username)
    spec = hit.fault.spec
    method, path = request.method, request.path
    if spec.hang:
        return await _hang(request, app, hit, note)
    if spec.delay_s is not None:
        faults.note_http(hit, "delay_s", method, path, delay_s=spec.delay_s)
        await faults.sleep(spec.delay_s)
    if spec.reset:
        faults.note_http(hit, "reset", method, path, status=None, handled=False)
        note.dropped = True
        reset_connection(request.transport)
        return web.Response(status=503)  # never sent: the connection is gone
    if spec.drop:
        return await _drop(request, handler, app, hit, note)
    if spec.status is not None:
        faults.note_http(hit, "status", method, path, status=spec.status)
        response: web.StreamResponse = fault_response(spec)
    elif spec.proxy_error is not None:
        faults.note_http(hit, "proxy_error", method, path, status=spec.proxy_error)
        response = proxy_error_response(spec.proxy_error)
    elif spec.truncate is None and spec.trickle_bps is None:
        return await _guarded(request, handler, app[WIRING])
    elif is_websocket_upgrade(request):
        # A handshake's answer has no body to cut or slow down: its connection is cut instead.
        return _cut_handshake(request, app, hit, note)
    else:
        try:
            response = await _guarded(request, handler, app[WIRING])
        except web.HTTPException as exc:  # a redirect: its (empty) body is cut all the same
            response = exc
    if spec.truncate is None and spec.trickle_bps is None:
        return response
    return await _send_badly(request, app, hit, response)


async def _hang(
    request: web.Request, app: web.Application, hit: HttpHit, note: FaultNote
) -> web.StreamResponse:
    """Hold the request unanswered, then close its connection without an answer.

    The hold ends after ``delay_s`` of scenario time, at a reset or shutdown, or when the
    client gives up (its hold is then ended the next time one starts).
    """
    delay_s = hit.fault.spec.delay_s
    app[FAULTS].note_http(
        hit, "hang", request.method, request.path, delay_s=delay_s, status=None, handled=False
    )
    note.dropped = True
    await app[STALLS].wait(delay_s, connected(request))
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=503)  # never sent: the connection is gone


def _cut_handshake(
    request: web.Request, app: web.Application, hit: HttpHit, note: FaultNote
) -> web.StreamResponse:
    spec = hit.fault.spec
    action = "truncate" if spec.truncate is not None else "trickle_bps"
    app[FAULTS].note_http(hit, action, request.method, request.path, status=None, handled=False)
    note.dropped = True
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=503)  # never sent: the connection is gone


async def _send_badly(
    request: web.Request, app: web.Application, hit: HttpHit, response: web.StreamResponse
) -> web.StreamResponse:
    """Send ``response`` cut short (``truncate``) or slowly (``trickle_bps``), or both."""
    spec = hit.fault.spec
    body = body_of(response)
    if body is None or not isinstance(response, web.Response):
        return response  # not built in memory (no route of the API answers so)
    faults = app[FAULTS]
    method, path = request.method, request.path
    status = response.status
    if spec.truncate is not None:
        faults.note_http(
            hit, "truncate", method, path, status=status, sent=min(spec.truncate, len(body)),
            length=len(body),
        )  # fmt: skip
    if spec.trickle_bps is not None:
        faults.note_http(
            hit, "trickle_bps", method, path, status=status, trickle_bps=spec.trickle_bps
        )
        return await send_trickled(request, response, spec.trickle_bps, app[STALLS], spec.truncate)
    assert spec.truncate is not None
    return await send_truncated(request, response, spec.truncate)


async def _drop(
    request: web.Request, handler: Handler, app: web.Application, hit: HttpHit, note: FaultNote
) -> web.StreamResponse:
    """Run the handler, then close the connection instead of answering.

    aiohttp then fails to write the answer to the closed transport, which it takes for a
    client that went away: no traceback, no 500. A WebSocket handshake is dropped before its
    handler, whose "answer" would be the whole socket session.
    """
    faults = app[FAULTS]
    transport = request.transport
    if is_websocket_upgrade(request) or transport is None:
        faults.note_http(hit, "drop", request.method, request.path, status=None, handled=False)
        note.dropped = True
        if transport is not None:
            transport.close()
        return web.Response(status=503)  # never sent: the connection is gone
    try:
        response = await _guarded(request, handler, app[WIRING])
    except web.HTTPException as exc:  # a redirect the error answers let through
        _dropped(faults, request, hit, note, exc.status)
        transport.close()
        raise
    _dropped(faults, request, hit, note, response.status)
    transport.close()
    return response


def _dropped(
    faults: FaultEngine, request: web.Request, hit: HttpHit, note: FaultNote, status: int
) -> None:
    faults.note_http(hit, "drop", request.method, request.path, status=status, handled=True)
    note.dropped = True
    note.handled = status


def _requester_of(request: web.Request) -> Requester:
    """Who makes the request, asked at most once and only when a fault needs to know."""
    found: list[User | None] = []

    async def requester() -> User | None:
        if not found:
            found.append(await _requester(request))
        return found[0]

    return requester


async def _requester(request: web.Request) -> User | None:
    """Who makes the request, as far as it says before a handler runs.

    The JWT of ``Authorization`` (the ``Cookie`` of a WebSocket handshake), else a
    ``username`` in the query (the ADFS page) or in a JSON or form body (the logins).
    """
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None and is_websocket_upgrade(request):
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


def fault_response(spec: FaultSpec) -> web.Response:
    """The answer of a ``status`` fault: its body, or the §3 shape with a fitting message."""
    assert spec.status is not None
    headers: CIMultiDict[str] = CIMultiDict({"content-type": "application/json", **AUTH_HEADERS})
    headers.update(spec.headers or {})
    body = spec.body
    if body is None:
        body = {
            "detail": [
                {
                    "msg": default_message(spec.status),
                    "err_code": int(ErrorCode.DEFAULT),
                    "type": "default",
                }
            ]
        }
    media = headers["content-type"].split(";", 1)[0].strip().lower()
    if isinstance(body, str) and not (media == "application/json" or media.endswith("+json")):
        # A proxy's HTML error page, say: sent as written, under the content type given.
        raw = body.encode("utf-8", errors="backslashreplace")
    else:
        raw = dumps(body)
    return web.Response(body=raw, status=spec.status, headers=headers)
