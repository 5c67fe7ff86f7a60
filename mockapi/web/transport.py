"""Transport faults: what a network, a dead server or a reverse proxy does to an HTTP answer.

The application faults (:mod:`mockapi.domain.faults`) answer the wrong thing; these break the
connection the answer travels on, each the way a VDI client meets it in the field:

- :func:`reset_connection`: the TCP connection is reset (RST) instead of answered;
- :meth:`Stalls.wait` held by the middleware: a request is accepted and never answered;
- :func:`send_truncated`: the headers and the start of the body, with the full Content-Length,
  then the connection closes;
- :func:`send_trickled`: the body at so many bytes per second of the **scenario** clock;
- :func:`proxy_error_response`: the HTML error page nginx sends when its upstream is down (502)
  or too slow (504).

Everything that waits does so on the scenario clock through :class:`Stalls`, which a reset
and the server's shutdown release at once: a held connection never outlives them, and never
holds up a shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from mockapi.domain.clock import Clock

#: The pages nginx sends for these statuses, byte for byte (``ngx_http_special_response.c``:
#: the page, then its common tail), CRLF line ends included.
_NGINX_TAIL = "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
PROXY_TITLES = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}
PROXY_STATUSES = tuple(PROXY_TITLES)
#: Chunks a trickled body is cut into per second of scenario time, at most: one write per
#: byte would cost a timer per byte; ten a second keeps the flow smooth for a progress bar.
TRICKLE_STEPS_PER_S = 10
_EPSILON = 1e-6


def proxy_page(status: int) -> bytes:
    """nginx's error page for ``status`` (502 or 504)."""
    title = PROXY_TITLES[status]
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n{_NGINX_TAIL}"
    )
    return page.encode("ascii")


def proxy_error_response(status: int) -> web.Response:
    """The answer nginx gives in front of a dead (502) or slow (504) dispatcher.

    ``Server: nginx`` and ``text/html`` without a charset, as nginx sends them; no
    ``www-authenticate``: the dispatcher never saw the request.
    """
    return web.Response(
        body=proxy_page(status),
        status=status,
        headers={"Content-Type": "text/html", "Server": "nginx"},
    )


def reset_connection(transport: asyncio.BaseTransport | None) -> None:
    """Close the connection with a TCP RST rather than a FIN.

    ``SO_LINGER`` on with a zero timeout makes ``close`` discard what is unsent and reset the
    connection (the BSD socket rule every OS follows): the client reads ``ECONNRESET``.
    """
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # An OSError: the socket is already gone, and there is nothing left to reset.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()


@dataclass(eq=False, slots=True)
class _Stall:
    waiter: asyncio.Future[bool]
    alive: Callable[[], bool]


@dataclass(eq=False)
class Stalls:
    """Requests a transport fault holds on the scenario clock (hung, trickling).

    :meth:`release` ends every hold at once (a reset, the server's shutdown). A hold whose
    client has gone is ended the next time a hold starts, so a client that gives up and
    retries against a hung server leaves one handler behind at most per open connection, not
    one per attempt.
    """

    clock: Clock
    _held: set[_Stall] = field(default_factory=set)

    @property
    def held(self) -> int:
        """How many requests are held right now."""
        return len(self._held)

    async def wait(self, seconds: float | None, alive: Callable[[], bool]) -> bool:
        """Hold for ``seconds`` of scenario time (for good when None).

        True when the time passed; False when the hold was ended early: released, or its
        client went away (``alive`` answered False).
        """
        self.sweep()
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        stall = _Stall(waiter, alive)
        timer = None
        if seconds is not None:
            timer = self.clock.call_later(seconds, lambda: _settle(waiter, True))
        self._held.add(stall)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._held.discard(stall)

    def sweep(self) -> None:
        """End the holds whose client has gone."""
        for stall in tuple(self._held):
            if not stall.alive():
                _settle(stall.waiter, False)

    def release(self) -> None:
        """End every hold now."""
        for stall in tuple(self._held):
            _settle(stall.waiter, False)


#: The app's holds (hung requests, trickled bodies): released at a reset and at shutdown.
STALLS = web.AppKey("stalls", Stalls)


def _settle(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


def connected(request: web.BaseRequest) -> Callable[[], bool]:
    """Whether the client of ``request`` is still connected, asked without waiting."""

    def alive() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()

    return alive


def body_of(response: web.StreamResponse) -> bytes | None:
    """The whole body of an answer built in memory, or None (a stream, a file, a socket)."""
    if not isinstance(response, web.Response):
        return None
    body = response.body
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return None


async def _start(
    request: web.BaseRequest, response: web.Response, length: int
) -> web.StreamResponse:
    """Send the status line and headers of ``response`` announcing ``length`` body bytes."""
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    stream.headers.update(response.headers)
    stream.content_length = length
    await stream.prepare(request)
    return stream


async def send_truncated(
    request: web.BaseRequest, response: web.Response, keep: int
) -> web.StreamResponse:
    """Send the headers with the full Content-Length and ``keep`` body bytes, then close.

    The client reads a body that ends early: aiohttp raises ``ClientPayloadError``, requests
    ``ChunkedEncodingError`` (an ``IncompleteRead``), curl exits 18 (partial file).
    """
    body = body_of(response) or b""
    stream = await _start(request, response, len(body))
    if keep:
        await stream.write(body[:keep])
    _close(request)
    return stream


async def send_trickled(
    request: web.BaseRequest,
    response: web.Response,
    bytes_per_s: int,
    stalls: Stalls,
    keep: int | None = None,
) -> web.StreamResponse:
    """Send the body at ``bytes_per_s`` bytes per second of the scenario clock.

    The headers and the first step's bytes go at once; after ``t`` scenario seconds the client
    has ``bytes_per_s * t`` more. The schedule counts from the start, not from the last write:
    one clock advance of 5 s releases 5 s worth of body, as the same wait in real time would.
    With ``keep`` the connection closes after that many bytes (a trickle that then breaks). A
    release (reset, shutdown) sends the rest at once; a client that went away ends it.
    """
    body = body_of(response) or b""
    stream = await _start(request, response, len(body))
    end = len(body) if keep is None else min(keep, len(body))
    step = max(1, bytes_per_s // TRICKLE_STEPS_PER_S)
    clock = stalls.clock
    start = clock.time()
    alive = connected(request)
    sent = 0
    holding = True
    while sent < end:
        # _EPSILON: scenario times near 1.7e9 s carry float error in the 1e-7 s range.
        due = step + int((clock.time() - start) * bytes_per_s + _EPSILON)
        upto = end if not holding else min(end, max(due, sent))
        if upto > sent:
            await stream.write(body[sent:upto])
            sent = upto
        if sent >= end:
            break
        # The time at which the next step's bytes are due.
        wait_s = (min(end, sent + step) - step) / bytes_per_s - (clock.time() - start)
        # Never a zero wait: under a manual clock a timer due "now" would wait for an advance
        # anyway, and a positive one keeps this loop from spinning on float rounding.
        holding = await stalls.wait(max(wait_s, _EPSILON), alive)
        if not alive():
            return stream
    if keep is not None and keep < len(body):
        _close(request)
        return stream
    await stream.write_eof()
    return stream


def _close(request: web.BaseRequest) -> None:
    """End the connection after what was written (a FIN, not a reset)."""
    transport = request.transport
    if transport is not None:
        transport.close()
