"""Accepting TLS connections so that every failed handshake is heard.

With ``loop.create_server(ssl=context)`` asyncio keeps a failed server-side handshake to
itself: it logs an ``ssl.SSLError`` (an ``OSError``) in debug mode only, and a client that
hangs up without an alert (asyncio's own clients, aiohttp's among them, do) leaves no trace
at all. So the server listens in plain TCP and upgrades each connection with
``loop.start_tls``, public API that raises whatever ended the handshake: the client's alert,
our refusal of its certificate, its hang-up, the handshake timeout.

Only after a handshake succeeds does the application's protocol (aiohttp's request handler)
see the connection, with the same TLS transport ``create_server(ssl=...)`` would give it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from mockapi.tls.contexts import CertificateSwitch, Handshake

log = logging.getLogger("mockapi.tls")

#: Bytes a connection may send after its handshake and before the application takes it over
#: (the same event-loop turn); past this, reading pauses until the hand-over.
_HANDOFF_LIMIT = 256 * 1024


class _Handoff(asyncio.Protocol):
    """Holds what the TLS transport delivers between the handshake and the hand-over."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.eof = False
        self.lost = False
        self.lost_exc: Exception | None = None
        self.writing_paused = False
        #: Reading of the plain transport was paused because too much came before hand-over.
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The plain transport, before the upgrade: nothing may be read until start_tls runs.
        self.transport = transport
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if (
            self.size > _HANDOFF_LIMIT
            and not self.reading_paused
            and isinstance(self.transport, asyncio.ReadTransport)
        ):
            self.transport.pause_reading()
            self.reading_paused = True

    def eof_received(self) -> bool:
        self.eof = True
        return True  # the application decides, once it has the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost, self.lost_exc = True, exc

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False


def describe(exc: BaseException, timeout: float) -> tuple[str | None, str]:
    """The client's alert (or ``None``) and the reason in words for a failed handshake."""
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower().replace("_", " ") or str(exc)
        _, sep, alert = f" {reason}".partition(" alert ")
        return (alert or None) if sep else None, reason
    if isinstance(exc, ConnectionAbortedError):
        return None, f"no handshake within {timeout:g} s"
    if isinstance(exc, ConnectionError | EOFError):
        return None, "the client closed the connection during the handshake"
    return None, str(exc) or type(exc).__name__


class TlsAcceptor:
    """A protocol factory for ``loop.create_server``: TLS first, then the application.

    ``protocol_factory`` makes the application's protocol (aiohttp's ``runner.server``);
    ``handshake_timeout`` bounds a handshake in wall seconds. :meth:`close` cancels the
    handshakes still running (the server is stopping).
    """

    def __init__(
        self,
        switch: CertificateSwitch,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        handshake_timeout: float = 60.0,
    ) -> None:
        self._switch = switch
        self._factory = protocol_factory
        self._timeout = handshake_timeout
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self) -> asyncio.Protocol:
        return _Accepting(self)

    def _start(self, transport: asyncio.Transport, handoff: _Handoff) -> None:
        task = asyncio.get_running_loop().create_task(self._handshake(transport, handoff))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _handshake(self, transport: asyncio.Transport, handoff: _Handoff) -> None:
        loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        handshake = Handshake(peer=_address(peer))
        if handoff.lost:  # gone before its turn came
            reason = describe(EOFError(), self._timeout)[1]
            self._switch.handshake_failed(handshake, None, reason, reason)
            return
        token = self._switch.track(handshake)
        try:
            tls = await loop.start_tls(
                transport,
                handoff,
                self._switch.context,
                server_side=True,
                ssl_handshake_timeout=self._timeout,
            )
        except asyncio.CancelledError:
            transport.abort()
            raise
        except Exception as exc:  # whatever ended it: the journal hears, the server goes on
            alert, reason = describe(exc, self._timeout)
            self._switch.handshake_failed(handshake, alert, reason, str(exc) or reason)
            transport.abort()
            return
        finally:
            self._switch.untrack(token)
        if tls is None or (handoff.lost and not handoff.chunks):
            # Gone the moment the handshake ended: nothing for the application to do.
            if tls is not None:
                tls.abort()
            return
        self._hand_over(transport, tls, handoff)

    def _hand_over(self, raw: asyncio.Transport, tls: asyncio.Transport, handoff: _Handoff) -> None:
        app = self._factory()
        tls.set_protocol(app)
        app.connection_made(tls)
        if handoff.writing_paused:
            app.pause_writing()
        if handoff.chunks:
            _feed(app, b"".join(handoff.chunks))
        if handoff.reading_paused and not handoff.lost:
            raw.resume_reading()
        if handoff.lost:
            app.connection_lost(handoff.lost_exc)
        elif (
            handoff.eof
            and isinstance(app, asyncio.Protocol | asyncio.BufferedProtocol)
            and not app.eof_received()
        ):
            tls.close()

    async def close(self) -> None:
        """Cancel the handshakes in progress and wait for them to end."""
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class _Accepting(_Handoff):
    """A new plain connection: paused at once, upgraded by the acceptor's task."""

    def __init__(self, acceptor: TlsAcceptor) -> None:
        super().__init__()
        self._acceptor = acceptor

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.Transport)
        self._acceptor._start(transport, self)


def _feed(app: asyncio.BaseProtocol, data: bytes) -> None:
    """Deliver ``data`` as the transport would: ``data_received``, or a buffered protocol's
    ``get_buffer``/``buffer_updated`` (as many times as its buffers take)."""
    if isinstance(app, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(app.get_buffer(len(view)))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            app.buffer_updated(size)
            view = view[size:]
    elif isinstance(app, asyncio.Protocol):
        app.data_received(data)


def _address(peer: Any) -> str | None:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return None if peer is None else str(peer)
