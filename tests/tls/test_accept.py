"""The acceptor's hand-over: what arrives with the end of the handshake reaches the application.

A bare aiohttp app behind :class:`TlsAcceptor`, and a real client that sends at once: a body
larger than what the acceptor holds before the hand-over (reading pauses, then resumes), and
many connections in parallel.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from mockapi.tls import CertificateSet, CertificateSwitch, HandshakeFailure, TlsAcceptor
from mockapi.tls import client_context as trusting
from mockapi.tls.accept import _HANDOFF_LIMIT, _Handoff

BIG = 3 * 1024 * 1024


async def size(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


@pytest.fixture
async def url(certs: CertificateSet) -> AsyncIterator[str]:
    failures: list[HandshakeFailure] = []
    switch = CertificateSwitch(certs.certificates, on_failure=failures.append)
    app = web.Application(client_max_size=2 * BIG)
    app.router.add_post("/", size)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    acceptor = TlsAcceptor(switch, runner.server)
    server = await asyncio.get_running_loop().create_server(acceptor, "127.0.0.1", 0)
    try:
        yield f"https://localhost:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await acceptor.close()
        await server.wait_closed()
        await runner.cleanup()
    assert failures == []


async def test_a_large_body_sent_with_the_handshake_arrives_whole(
    url: str, certs: CertificateSet
) -> None:
    connector = aiohttp.TCPConnector(ssl=trusting(certs.ca_file), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(url, data=io.BytesIO(b"x" * BIG)) as resp,
    ):
        assert resp.status == 200
        assert await resp.text() == str(BIG)


async def test_many_new_connections_at_once_are_all_served(url: str, certs: CertificateSet) -> None:
    connector = aiohttp.TCPConnector(ssl=trusting(certs.ca_file), force_close=True, limit=50)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> str:
            async with http.post(url, data=b"y" * n) as resp:
                return await resp.text()

        answers = await asyncio.gather(*(one(n) for n in range(200)))
    assert answers == [str(n) for n in range(200)]


class Recorder(asyncio.Protocol):
    """An application protocol that notes what it was given."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.events.append(len(data))

    def eof_received(self) -> bool:
        self.events.append("eof")
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


async def test_what_came_before_the_hand_over_is_delivered_and_reading_resumes(
    certs: CertificateSet,
) -> None:
    """Bytes that arrive with the client's last handshake message (before the application has
    the connection) are held, at most a bound's worth before reading pauses, then delivered
    in order, and reading resumes."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    handoff = _Handoff()
    raw, _ = await loop.connect_accepted_socket(lambda: handoff, ours)
    assert isinstance(raw, asyncio.Transport)
    assert not raw.is_reading()  # paused from the first moment, until start_tls
    raw.resume_reading()
    handoff.data_received(b"a" * 1000)
    handoff.data_received(b"b" * _HANDOFF_LIMIT)
    assert handoff.reading_paused
    assert not raw.is_reading()
    handoff.eof_received()
    app = Recorder()
    acceptor = TlsAcceptor(CertificateSwitch(certs.certificates), lambda: app)
    acceptor._hand_over(raw, raw, handoff)
    assert app.events == ["made", 1000 + _HANDOFF_LIMIT, "eof"]
    assert raw.is_reading()
    raw.close()
    theirs.close()


class Buffered(asyncio.BufferedProtocol):
    """A buffered application protocol with a small buffer: it takes data in pieces."""

    def __init__(self) -> None:
        self.buffer = bytearray(100)
        self.received = bytearray()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received += self.buffer[:nbytes]


async def test_a_buffered_protocol_gets_what_came_before_the_hand_over(
    certs: CertificateSet,
) -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    handoff = _Handoff()
    raw, _ = await loop.connect_accepted_socket(lambda: handoff, ours)
    assert isinstance(raw, asyncio.Transport)
    handoff.data_received(bytes(range(256)) * 3)
    app = Buffered()
    TlsAcceptor(CertificateSwitch(certs.certificates), lambda: app)._hand_over(raw, raw, handoff)
    assert app.received == bytes(range(256)) * 3
    raw.close()
    theirs.close()
