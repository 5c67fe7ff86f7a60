"""The private ``silence`` against aiohttp itself: a silenced socket sends no heartbeat ping and
answers no ping, where the same socket left alone does both.

The heartbeat is aiohttp's, on the loop's own clock, so the windows here are wall time: short
ones (a 50 ms heartbeat; 300 ms of silence observed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from mockapi.hub._silence import silence

HEARTBEAT_S = 0.05
WINDOW_S = 0.3


@pytest.fixture(params=[False, True], ids=["left-alone", "silenced"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TestServer, bool]]:
    silenced: bool = request.param

    async def handler(req: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
        await ws.prepare(req)
        await ws.send_str("ready")
        if silenced:
            silence(ws)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, silenced
    await test_server.close()


async def test_a_silenced_socket_sends_no_heartbeat(server: tuple[TestServer, bool]) -> None:
    test_server, silenced = server
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(test_server.make_url("/"), autoping=False) as ws,
    ):
        assert (await ws.receive()).data == "ready"
        try:
            msg = await ws.receive(timeout=WINDOW_S)
        except TimeoutError:
            msg = None
        if silenced:
            assert msg is None
        else:
            assert msg is not None
            assert msg.type is WSMsgType.PING


async def test_a_silenced_socket_still_sees_its_client_leave(
    server: tuple[TestServer, bool],
) -> None:
    test_server, _ = server
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(test_server.make_url("/"), autoping=False)
        assert (await ws.receive()).data == "ready"
        await ws.close()
    # The server's handler ended: closing the server does not wait for it (the fixture's
    # close would otherwise hang until pytest's timeout).
    async with asyncio.timeout(5):
        await test_server.close()


async def test_a_silenced_socket_answers_no_ping(server: tuple[TestServer, bool]) -> None:
    test_server, silenced = server
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(test_server.make_url("/"), autoping=False) as ws,
    ):
        assert (await ws.receive()).data == "ready"
        await ws.ping(b"anyone?")
        seen: list[WSMsgType] = []
        try:
            async with asyncio.timeout(WINDOW_S):
                while WSMsgType.PONG not in seen:
                    seen.append((await ws.receive()).type)
        except TimeoutError:
            pass
        assert (WSMsgType.PONG in seen) is not silenced
