"""The proxy: a client's HTTP and WebSocket traffic to an upstream dispatcher, journaled.

Everything but the proxy's own three routes (``GET /`` its page, ``GET`` and ``DELETE
/service/journal/``) goes to the upstream as sent: method, path and query as raw bytes, headers
(less the hop-by-hop ones; ``Host`` is the upstream's, as a reverse proxy sends it), body. The
answer comes back as the upstream gave it; only a ``location`` pointing at the upstream is
pointed back at the proxy, so a client that follows a 307 stays on the proxy. A WebSocket is
opened on the upstream first, with the client's headers; a refused handshake is answered
with the upstream's own status, headers and body, and an accepted one is relayed frame by frame,
one task per direction, so each side sees the other's frames in the order they were sent.

The journal has mockapi's shape (:class:`~mockapi.domain.journal.Journal`, the same
``seq``/``time``/``kind`` keys and ``GET /service/journal/?since=`` paging) and keeps the
whole exchange, which is what :mod:`mockapi.proxy.capture` reads. Everything journaled
passes :func:`~mockapi.proxy.redaction.redact_for_journal`.

An upstream that refuses, breaks the connection or does not answer within the timeout is
answered 502 in the CONTRACT §3 shape, naming the upstream, and that is journaled too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping
from yarl import URL

from mockapi.domain.errors import AUTH_HEADERS, ErrorCode
from mockapi.domain.journal import Journal
from mockapi.jsonfmt import dumps
from mockapi.pages.headers import page_headers
from mockapi.pages.render import render_template, setup_pages
from mockapi.proxy.redaction import redact_for_journal, redact_headers
from mockapi.web.rules import is_websocket_upgrade

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
#: Bodies larger than this are refused (413 from aiohttp) or, from the upstream, answered 502.
MAX_BODY = 16 * 1024 * 1024
#: The journal keeps at most this much of each body; the rest is counted, not kept.
JOURNAL_BODY_LIMIT = 64 * 1024
JOURNAL_CAPACITY = 10_000
#: Entries the page shows, newest first.
PAGE_ENTRIES = 200
PAGE_TEMPLATE = "proxy.html"
#: RFC 9110 §7.6.1: headers that belong to one connection, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: The WebSocket handshake's own headers: the proxy's upstream connection makes its own.
WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)
#: Headers aiohttp's client would add on its own; left out so the upstream sees the client's.
NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What ``python -m mockapi proxy`` was asked for."""

    upstream: str
    host: str = "127.0.0.1"
    port: int = 8000
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: A CA bundle (PEM) the upstream's certificate must chain to; None: the system's.
    upstream_ca: Path | None = None
    journal_capacity: int = JOURNAL_CAPACITY


@dataclass(eq=False)
class ProxyState:
    """The proxy's journal, its client session to the upstream and its open socket pairs."""

    settings: ProxySettings
    journal: Journal
    #: How the upstream's certificate is checked (True: the system's trust store).
    tls: ssl.SSLContext | bool = True
    session: aiohttp.ClientSession | None = None
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


PROXY = web.AppKey("proxy", ProxyState)

#: The answer of a refused WebSocket handshake, read as it arrives (see :func:`_read_refusal`).
_REFUSAL: contextvars.ContextVar[list[tuple[int, bytes]] | None] = contextvars.ContextVar(
    "ws_refusal", default=None
)


def upstream_url(value: str) -> URL:
    """The upstream base URL, checked: http or https, a host, no query or fragment."""
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if url.query_string or url.fragment:
        raise ValueError(f"the upstream URL takes no query or fragment: {value!r}")
    return url


#: The headers of the proxy's own error answers (CONTRACT §3: always ``www-authenticate``).
ERROR_HEADERS = {"content-type": "application/json", **AUTH_HEADERS}


def error_body(msg: str) -> bytes:
    """An error of the proxy's own in CONTRACT §3's shape."""
    return dumps({"detail": [{"msg": msg, "err_code": int(ErrorCode.DEFAULT), "type": "default"}]})


def bad_gateway(upstream: str, reason: str) -> bytes:
    """The body of the 502 for an upstream that did not answer, naming the upstream."""
    return error_body(f"Bad gateway: upstream {upstream} {reason}.")


def _failure(exc: BaseException, timeout_s: float) -> str:
    """Why the upstream did not answer, in a few words for the 502's message."""
    if isinstance(exc, TimeoutError):
        return f"did not answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"presented a certificate that failed verification ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"failed the TLS handshake ({exc.os_error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"refused the connection ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "closed the connection without an answer"
    return f"failed ({type(exc).__name__}: {exc})"


def _journal_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """A body as the journal keeps it: parsed JSON when it is JSON, else text; bounded."""
    kept: dict[str, Any] = {}
    if not raw:
        kept["body"] = None
        return kept
    if len(raw) > JOURNAL_BODY_LIMIT:
        kept["body"] = None
        kept["body_bytes"] = len(raw)
        kept["truncated"] = True
        return kept
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            kept["body"] = redact_for_journal(json.loads(raw))
            return kept
        except ValueError:
            pass
    kept["body"] = redact_for_journal(raw.decode("utf-8", errors="replace"))
    return kept


def _claims(token: str) -> dict[str, Any] | None:
    """A JWT's claims, read without checking the signature (only the upstream can)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def _credential_user(header: str | None) -> str | None:
    """The username a ``JWT <token>`` credential names, as the journal's ``user``."""
    if not header:
        return None
    parts = header.split(" ")
    claims = _claims(parts[-1]) if len(parts) == 2 else None
    name = claims.get("username") if claims else None
    return name if isinstance(name, str) else None


def _body_username(body: Any) -> str | None:
    name = body.get("username") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _forwarded_headers(headers: CIMultiDictProxy[str], *, websocket: bool) -> CIMultiDict[str]:
    """The client's headers as the upstream gets them: hop-by-hop ones (and a WebSocket's own
    handshake headers) left out, the rest in order."""
    kept: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or (websocket and lower in WS_HANDSHAKE):
            continue
        kept.add(name, value)
    return kept


def _answer_headers(
    headers: MultiMapping[str], request: web.Request, base: URL
) -> CIMultiDict[str]:
    """The upstream's answer headers for the client: hop-by-hop ones left out, a ``location``
    on the upstream pointed back at the proxy."""
    kept: CIMultiDict[str] = CIMultiDict()
    upstream_origin = str(base.origin())
    for name, value in headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "location" and value.startswith(upstream_origin):
            value = f"{request.scheme}://{request.host}{value[len(upstream_origin) :]}"
        kept.add(name, value)
    return kept


def _target(base: URL, request: web.Request) -> URL:
    """The upstream URL of a request: the base's path, then the request's raw path and query."""
    prefix = base.raw_path.rstrip("/")
    return URL(str(base.origin()) + prefix + request.raw_path, encoded=True)


def record_exchange(
    journal: Journal,
    request: web.Request,
    request_body: bytes,
    status: int,
    answer_headers: Any,
    answer_body: bytes,
    *,
    error: str | None = None,
) -> None:
    """Journal one HTTP exchange: mockapi's ``http`` entry plus the request and the answer."""
    body_part = _journal_body(request_body, request.headers.get(hdrs.CONTENT_TYPE, ""))
    answer_part = _journal_body(answer_body, answer_headers.get(hdrs.CONTENT_TYPE, ""))
    credential = request.headers.get(hdrs.AUTHORIZATION)
    if credential is None and is_websocket_upgrade(request):
        credential = request.headers.get(hdrs.COOKIE)
    user = _credential_user(credential) or _body_username(body_part.get("body"))
    extra: dict[str, Any] = {
        "query": request.rel_url.raw_query_string,
        "request": {"headers": redact_headers(request.headers), **body_part},
        "response": {"headers": redact_headers(answer_headers), **answer_part},
    }
    # The claims of a token the upstream issued (never the token): who logged in, with which
    # id and roles, for a scenario captured from the journal.
    issued = answer_body and status == 200 and _issued_token(answer_body)
    if issued:
        extra["claims"] = issued
    if error is not None:
        extra["error"] = error
    journal.record(
        "http", method=request.method, path=request.path, status=status, user=user, **extra
    )


def _issued_token(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    token = data.get("access_token") if isinstance(data, dict) else None
    return _claims(token) if isinstance(token, str) and token else None


async def forward(request: web.Request) -> web.StreamResponse:
    """Every request the proxy does not answer itself: to the upstream and back."""
    if is_websocket_upgrade(request):
        return await _forward_websocket(request)
    state = request.app[PROXY]
    assert state.session is not None
    base = upstream_url(state.settings.upstream)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        # The upstream never sees it: answered here in the contract's error shape.
        raw = error_body(f"Request body too large for the proxy (over {MAX_BODY} bytes).")
        record_exchange(state.journal, request, b"", 413, ERROR_HEADERS, raw)
        return web.Response(status=413, headers=ERROR_HEADERS, body=raw)
    try:
        async with state.session.request(
            request.method,
            _target(base, request),
            headers=_forwarded_headers(request.headers, websocket=False),
            data=body if body or request.body_exists else None,
            allow_redirects=False,
        ) as answer:
            if answer.content_length is not None and answer.content_length > MAX_BODY:
                raise aiohttp.ClientPayloadError(f"answer of {answer.content_length} bytes")
            raw = await answer.content.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                raise aiohttp.ClientPayloadError(f"answer over {MAX_BODY} bytes")
            headers = _answer_headers(answer.headers, request, base)
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _unreachable(state, request, body, exc)
    record_exchange(state.journal, request, body, status, headers, raw)
    return web.Response(status=status, headers=headers, body=raw)


def _unreachable(
    state: ProxyState, request: web.Request, body: bytes, exc: BaseException
) -> web.Response:
    """The 502 for an upstream that did not answer ``request``, journaled with the reason."""
    reason = _failure(exc, state.settings.timeout_s)
    raw = bad_gateway(state.settings.upstream, reason)
    record_exchange(state.journal, request, body, 502, ERROR_HEADERS, raw, error=reason)
    return web.Response(status=502, headers=ERROR_HEADERS, body=raw)


async def _read_refusal(
    session: aiohttp.ClientSession,
    context: Any,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    """Keep the body of a refused WebSocket handshake: aiohttp's ``ws_connect`` raises
    without it, and the client must get the upstream's refusal as the upstream sent it."""
    holder = _REFUSAL.get()
    response = params.response
    if holder is None or response.status == 101:
        return
    length = response.content_length
    raw = b""
    if length is None or length <= JOURNAL_BODY_LIMIT:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            raw = await response.content.read(JOURNAL_BODY_LIMIT)
    holder.append((response.status, raw))


async def _forward_websocket(request: web.Request) -> web.StreamResponse:
    """Open the socket on the upstream, then relay both ways until either side closes."""
    state = request.app[PROXY]
    assert state.session is not None
    base = upstream_url(state.settings.upstream)
    target = _target(base, request).with_scheme("wss" if base.scheme == "https" else "ws")
    protocols = tuple(
        p.strip()
        for p in request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").split(",")
        if p.strip()
    )
    refusal: list[tuple[int, bytes]] = []
    token = _REFUSAL.set(refusal)
    try:
        upstream = await state.session.ws_connect(
            target,
            headers=_forwarded_headers(request.headers, websocket=True),
            protocols=protocols,
            autoping=True,
            compress=0,
            max_msg_size=MAX_BODY,
        )
    except aiohttp.WSServerHandshakeError as exc:
        raw = refusal[0][1] if refusal else b""
        headers = _answer_headers(exc.headers or CIMultiDictProxy(CIMultiDict()), request, base)
        record_exchange(state.journal, request, b"", exc.status, headers, raw)
        reply = web.Response(status=exc.status, headers=headers, body=raw)
        reply.force_close()
        return reply
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _unreachable(state, request, b"", exc)
    finally:
        _REFUSAL.reset(token)

    client = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        compress=False,
        max_msg_size=MAX_BODY,
        autoping=True,
    )
    user = _credential_user(request.headers.get(hdrs.COOKIE))
    async with upstream:
        await client.prepare(request)
        state.sockets.add(client)
        record_exchange(state.journal, request, b"", 101, CIMultiDict(), b"")
        state.journal.record("ws_open", path=request.path, user=user)
        try:
            closed_by = await _relay(state.journal, user, client, upstream)
        finally:
            state.sockets.discard(client)
        code = client.close_code if closed_by == "client" else upstream.close_code
        if closed_by == "client":
            await upstream.close(code=_sendable(code))
        else:
            await client.close(code=_sendable(code))
        state.journal.record("ws_close", path=request.path, user=user, by=closed_by, code=code)
    return client


#: RFC 6455 §7.4.1: codes that say a close frame never came; none may be sent in one.
NOT_SENDABLE = frozenset({1005, 1006, 1015})


def _sendable(code: int | None) -> int:
    """The code to pass on: the other side's, or 1001 when it went away without a close frame."""
    if code is None or code in NOT_SENDABLE:
        return WSCloseCode.GOING_AWAY
    return code


async def _relay(
    journal: Journal,
    user: str | None,
    client: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
) -> str:
    """Relay frames both ways until one side closes; say which side it was."""

    async def down() -> None:  # upstream -> client
        async for msg in upstream:
            await _pass(journal, user, msg, "down", client.send_str, client.send_bytes)

    async def up() -> None:  # client -> upstream
        async for msg in client:
            await _pass(journal, user, msg, "up", upstream.send_str, upstream.send_bytes)

    to_client = asyncio.create_task(down())
    to_upstream = asyncio.create_task(up())
    done, pending = await asyncio.wait(
        {to_client, to_upstream}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
    for task in done:
        with contextlib.suppress(ConnectionError):
            task.result()
    return "upstream" if to_client in done else "client"


async def _pass(
    journal: Journal, user: str | None, msg: aiohttp.WSMessage, direction: str,
    send_str: Any, send_bytes: Any,
) -> None:  # fmt: skip
    """Send one message on and journal it (a task frame as the dict mockapi journals)."""
    if msg.type is WSMsgType.TEXT:
        await send_str(msg.data)
        try:
            frame: Any = json.loads(msg.data)
        except ValueError:
            frame = msg.data
        journal.record("ws", user=user, direction=direction, frame=redact_for_journal(frame))
    elif msg.type is WSMsgType.BINARY:
        await send_bytes(msg.data)
        journal.record("ws", user=user, direction=direction, binary_bytes=len(msg.data))


# -- the proxy's own routes ------------------------------------------------------------------


async def get_journal(request: web.Request) -> web.StreamResponse:
    """``GET /service/journal/?since=SEQ``: as mockapi serves its own journal."""
    raw = request.query.get("since", "0")
    try:
        since = int(raw)
        if since < 0:
            raise ValueError
    except ValueError:
        body = {
            "detail": [
                {
                    "type": "int_parsing"
                    if not raw.lstrip("-").isdigit()
                    else "greater_than_equal",
                    "loc": ["query", "since"],
                    "msg": "Input should be a valid integer"
                    if not raw.lstrip("-").isdigit()
                    else "Input should be greater than or equal to 0",
                    "input": raw,
                    "err_code": int(ErrorCode.DEFAULT),
                }
            ]
        }
        return web.Response(
            body=dumps(body), status=422,
            headers={"content-type": "application/json", **AUTH_HEADERS},
        )  # fmt: skip
    entries, dropped = request.app[PROXY].journal.since(since)
    return web.Response(
        body=dumps({"entries": entries, "dropped": dropped}),
        headers={"content-type": "application/json"},
    )


async def clear_journal(request: web.Request) -> web.StreamResponse:
    """``DELETE /service/journal/``: forget every entry."""
    request.app[PROXY].journal.clear()
    return web.Response(status=204)


async def page(request: web.Request) -> web.StreamResponse:
    """``GET /``: the proxy's page, the newest journal entries, reloaded every two seconds."""
    state = request.app[PROXY]
    entries, dropped = state.journal.since(max(0, state.journal.last_seq - PAGE_ENTRIES))
    response = render_template(
        PAGE_TEMPLATE,
        request,
        {
            "upstream": state.settings.upstream,
            "entries": list(reversed(entries)),
            "dropped": dropped,
        },
    )
    response.headers.update(page_headers(style_src="'unsafe-inline'"))
    return response


def _ssl_context(settings: ProxySettings) -> ssl.SSLContext | bool:
    if settings.upstream_ca is None:
        return True
    return ssl.create_default_context(cafile=str(settings.upstream_ca))


async def _session(app: web.Application) -> AsyncIterator[None]:
    """One client session to the upstream for the proxy's life; sockets closed on the way out."""
    state = app[PROXY]
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_read_refusal)
    state.session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, connect=state.settings.timeout_s,
                                      sock_read=state.settings.timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),  # a client's cookies are its own, never the proxy's
        auto_decompress=False,  # bodies pass as the upstream encoded them
        connector=aiohttp.TCPConnector(ssl=state.tls),
        trace_configs=[trace],
        skip_auto_headers=NOT_ADDED,
    )  # fmt: skip
    yield
    await state.session.close()


async def _close_sockets(app: web.Application) -> None:
    for socket in list(app[PROXY].sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"proxy shutdown")


@web.middleware
async def _never_a_text_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bug of the proxy's is still answered in the error shape (CONTRACT §1), and logged."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("proxy: unexpected error on %s %s", request.method, request.path)
        return web.Response(
            status=500, headers=ERROR_HEADERS, body=error_body("Internal server error.")
        )


def create_proxy_app(settings: ProxySettings) -> web.Application:
    """The proxy application for ``settings.upstream``.

    The URL and the CA file are checked here: a bad URL raises ValueError, an unreadable or
    invalid CA file OSError (``ssl.SSLError`` is one).
    """
    upstream_url(settings.upstream)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_never_a_text_500])
    journal = Journal(time.time, settings.journal_capacity)
    app[PROXY] = ProxyState(settings, journal, tls=_ssl_context(settings))
    setup_pages(app)
    app.router.add_get("/", page)
    app.router.add_get("/service/journal/", get_journal)
    app.router.add_delete("/service/journal/", clear_journal)
    app.router.add_route("*", "/{tail:.*}", forward)
    app.cleanup_ctx.append(_session)
    app.on_shutdown.append(_close_sockets)
    return app
