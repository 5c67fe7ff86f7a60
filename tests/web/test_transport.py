"""Transport-fault mechanics on a bare aiohttp server, read by real clients (aiohttp, requests,
curl): each test names the error the client sees. Time is a manual scenario clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator

import aiohttp
import pytest
import requests
from aiohttp import web
from yarl import URL

from mockapi.domain.clock import Clock
from mockapi.web.transport import (
    PROXY_STATUSES,
    Stalls,
    connected,
    proxy_error_response,
    proxy_page,
    reset_connection,
    send_trickled,
    send_truncated,
)

BODY = {"data": {"status": "PENDING", "id": "00000000-0000-4000-8000-000000000000"}}
RAW = json.dumps(BODY).encode()
CURL = shutil.which("curl")


@pytest.fixture
def clock() -> Clock:
    return Clock(start=1_700_000_000, mode="manual")


@pytest.fixture
def stalls(clock: Clock) -> Stalls:
    return Stalls(clock)


@pytest.fixture
async def server(stalls: Stalls) -> AsyncIterator[Served]:
    async def reset(request: web.Request) -> web.StreamResponse:
        reset_connection(request.transport)
        return web.Response(status=503)  # never sent

    async def truncate(request: web.Request) -> web.StreamResponse:
        return await send_truncated(request, web.Response(body=RAW), int(request.query["n"]))

    async def trickle(request: web.Request) -> web.StreamResponse:
        keep = request.query.get("keep")
        return await send_trickled(
            request, web.Response(body=RAW), 10, stalls, int(keep) if keep else None
        )

    async def proxy(request: web.Request) -> web.StreamResponse:
        return proxy_error_response(int(request.match_info["status"]))

    app = web.Application()
    app.router.add_get("/reset", reset)
    app.router.add_get("/truncate", truncate)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/proxy/{status}", proxy)
    async with serving(app) as server:
        yield server
        stalls.release()


class Served:
    """A server as ``mockapi`` runs one: an AppRunner on loopback, handlers never cancelled
    when their client goes (aiohttp's Served cancels them, the real server does not)."""

    def __init__(self, port: int) -> None:
        self.host = "127.0.0.1"
        self.port = port

    def make_url(self, path: str) -> URL:
        return URL(f"http://{self.host}:{self.port}{path}")


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Served]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Served(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def curl(*args: str) -> tuple[int, str]:
    assert CURL is not None
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--max-time", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (.ci/run installs it)")


# -- reset ---------------------------------------------------------------------------------------
async def test_reset_aiohttp_sees_a_connection_reset(server: Served) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientOSError) as caught:
            await session.get(server.make_url("/reset"))
    assert "Connection reset by peer" in str(caught.value)


async def test_reset_requests_sees_connection_reset_by_peer(server: Served) -> None:
    url = str(server.make_url("/reset"))
    with pytest.raises(requests.ConnectionError) as caught:
        await asyncio.to_thread(requests.get, url, timeout=10)
    assert "Connection reset by peer" in str(caught.value)


@needs_curl
async def test_reset_curl_exits_56_recv_failure(server: Served) -> None:
    code, err = await curl(str(server.make_url("/reset")))
    assert code == 56, err
    assert "Connection reset by peer" in err


# -- truncate ------------------------------------------------------------------------------------
async def test_truncate_aiohttp_sees_a_payload_error(server: Served) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(
            server.make_url(
                "/truncate",
            ),
            params={"n": "7"},
        )
        assert resp.status == 200
        assert resp.content_length == len(RAW)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_truncate_requests_sees_chunked_encoding_error(server: Served) -> None:
    url = str(server.make_url("/truncate")) + "?n=7"
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        await asyncio.to_thread(requests.get, url, timeout=10)
    assert "IncompleteRead(7 bytes read" in str(caught.value)


@needs_curl
async def test_truncate_curl_exits_18_partial_file(server: Served) -> None:
    code, err = await curl(str(server.make_url("/truncate")) + "?n=7")
    assert code == 18, err
    assert f"{len(RAW) - 7} bytes remaining" in err


async def test_truncate_to_zero_sends_headers_only(server: Served) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /truncate?n=0 HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await reader.read()  # until the server closes
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert f"Content-Length: {len(RAW)}".encode() in head
    assert rest == b""


# -- trickle -------------------------------------------------------------------------------------
async def test_trickle_sends_ten_bytes_per_scenario_second(
    server: Served, clock: Clock, stalls: Stalls
) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(server.make_url("/trickle"))
        assert resp.content_length == len(RAW)
        assert await resp.content.readexactly(1) == RAW[:1]
        assert stalls.held == 1  # the server waits on the scenario clock for the next byte
        clock.advance(1.0)
        assert await resp.content.readexactly(10) == RAW[1:11]
        clock.advance(len(RAW))  # far more than the rest needs
        assert await resp.read() == RAW[11:]
    assert stalls.held == 0


async def test_trickle_with_keep_breaks_off_after_keep_bytes(server: Served, clock: Clock) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(server.make_url("/trickle"), params={"keep": "3"})
        clock.advance(10)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_a_release_sends_the_rest_of_a_trickle_at_once(
    server: Served, stalls: Stalls
) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(server.make_url("/trickle"))
        assert await resp.content.readexactly(1) == RAW[:1]
        stalls.release()
        assert await resp.read() == RAW[1:]


# -- proxy pages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", PROXY_STATUSES)
async def test_proxy_error_is_nginxs_page(server: Served, status: int) -> None:
    async with aiohttp.ClientSession() as session:
        resp = await session.get(server.make_url(f"/proxy/{status}"))
        assert resp.status == status
        assert resp.headers["Server"] == "nginx"
        assert resp.headers["Content-Type"] == "text/html"
        assert "www-authenticate" not in resp.headers
        text = await resp.text()
    title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
    assert text == (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
        "</html>\r\n"
    )
    assert proxy_page(status).decode() == text


# -- stalls --------------------------------------------------------------------------------------
async def test_a_stall_ends_when_the_scenario_clock_passes_it(clock: Clock, stalls: Stalls) -> None:
    wait = asyncio.ensure_future(stalls.wait(5, lambda: True))
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert not wait.done()
    clock.advance(0.1)
    assert await wait is True
    assert stalls.held == 0


async def test_a_stall_for_good_ends_only_at_a_release(clock: Clock, stalls: Stalls) -> None:
    wait = asyncio.ensure_future(stalls.wait(None, lambda: True))
    await asyncio.sleep(0)
    clock.advance(1e9)
    await asyncio.sleep(0)
    assert not wait.done()
    stalls.release()
    assert await wait is False


async def test_a_new_stall_ends_the_ones_whose_client_went(stalls: Stalls) -> None:
    gone = asyncio.ensure_future(stalls.wait(None, lambda: False))
    await asyncio.sleep(0)
    kept = asyncio.ensure_future(stalls.wait(None, lambda: True))
    assert await gone is False
    assert stalls.held == 1
    stalls.release()
    assert await kept is False


async def test_connected_follows_the_transport() -> None:
    seen: list[bool] = []

    async def probe(request: web.Request) -> web.StreamResponse:
        alive = connected(request)
        seen.append(alive())
        assert request.transport is not None
        request.transport.close()
        seen.append(alive())
        return web.Response()

    app = web.Application()
    app.router.add_get("/", probe)
    async with serving(app) as probe_server, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            # aiohttp retries a GET once when the server closes before answering: two probes.
            await session.get(probe_server.make_url("/"))
    assert seen == [True, False, True, False]
