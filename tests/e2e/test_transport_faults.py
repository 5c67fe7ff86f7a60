"""Transport faults against a real server, read by real clients: aiohttp, requests, curl and
aiohttp's WebSocket client. Each test names the error that client sees, as the README does.

Time is the manual scenario clock. Where a client's own timeout is the behaviour shown (a
request that hangs, a body that trickles), the timeout is the client's, short, and never a
wait for the server to do something.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import WSMsgType

from mockapi.keys import FAULTS, HUB, RUNTIME
from mockapi.web.transport import STALLS
from tests.e2e.live import ANN, POOL_A, Live, live_server

VERSION = "/api/v2/version/"
LOGIN = "/api/v2/users/login/"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (.ci/run installs it)")


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async with live_server() as server:
        yield server


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate`` holds (a request reached the server)."""
    async with asyncio.timeout(5):  # a safety net only: it takes a few loop turns
        for _ in range(100_000):
            if predicate():
                return
            await asyncio.sleep(0)
    raise AssertionError("never happened")


async def curl(*args: str) -> tuple[int, str, str]:
    """Run curl; its exit code, stdout and stderr."""
    assert CURL is not None
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def held(live: Live) -> int:
    return live.app[STALLS].held


async def version_body(live: Live) -> bytes:
    async with live.session.get(live.at(VERSION)) as resp:
        return await resp.read()


# -- reset ---------------------------------------------------------------------------------------
async def test_reset_aiohttp_raises_client_os_error_connection_reset(live: Live) -> None:
    await live.fault(path=VERSION, reset=True)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientOSError, match="Connection reset by peer"):
            await session.get(live.at(VERSION))


async def test_reset_requests_raises_connection_error_reset_by_peer(live: Live) -> None:
    await live.fault(path=VERSION, reset=True)
    with pytest.raises(requests.ConnectionError, match="Connection reset by peer"):
        await asyncio.to_thread(requests.get, live.at(VERSION), timeout=10)


@needs_curl
async def test_reset_curl_exits_56_recv_failure(live: Live) -> None:
    await live.fault(path=VERSION, reset=True)
    code, _, err = await curl(live.at(VERSION))
    assert code == 56, err
    assert "Recv failure: Connection reset by peer" in err


async def test_reset_is_journaled_and_the_handler_never_ran(live: Live) -> None:
    await live.fault(id="rst", path=LOGIN, method="POST", reset=True, count=1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientOSError):
            await session.post(live.at(LOGIN), json={"username": "ann", "password": "x"})
    assert await live.journal("fault") == [
        {"kind": "fault", "fault": "rst", "action": "reset", "user": "ann", "method": "POST",
         "path": LOGIN, "status": None, "handled": False},
    ]  # fmt: skip
    assert [e for e in await live.journal("http") if e["path"] == LOGIN] == [
        {"kind": "http", "method": "POST", "path": LOGIN, "status": None, "user": "ann",
         "fault": "rst", "dropped": True},
    ]  # fmt: skip
    assert live.app[RUNTIME].last_login is None  # no login attempt was made


# -- hang ----------------------------------------------------------------------------------------
async def test_hang_aiohttp_times_out_with_socket_timeout_error(live: Live) -> None:
    await live.fault(path=VERSION, hang=True)
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(aiohttp.SocketTimeoutError):
            await session.get(live.at(VERSION))
    assert held(live) == 1  # its client gave up; the next hang (or a reset) ends it
    await live.reset()
    assert held(live) == 0


async def test_hang_requests_raises_read_timeout(live: Live) -> None:
    await live.fault(path=VERSION, hang=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        await asyncio.to_thread(requests.get, live.at(VERSION), timeout=(5, 0.3))


@needs_curl
async def test_hang_curl_exits_28_operation_timed_out(live: Live) -> None:
    await live.fault(path=VERSION, hang=True)
    code, _, err = await curl("--max-time", "0.5", live.at(VERSION))
    assert code == 28, err
    assert "Operation timed out" in err
    assert "0 bytes received" in err


async def test_a_client_that_gives_up_leaves_no_hang_behind(live: Live) -> None:
    await live.fault(path=VERSION, hang=True)
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    for _ in range(5):
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(aiohttp.SocketTimeoutError):
                await session.get(live.at(VERSION))
    # Each new hang ends the ones whose client left: one is held, not five.
    await until(lambda: held(live) <= 1)


async def test_hang_with_delay_closes_unanswered_once_the_scenario_clock_passes_it(
    live: Live,
) -> None:
    await live.fault(path=LOGIN, hang=True, delay_s=30)
    async with aiohttp.ClientSession() as session:
        # POST: aiohttp retries an idempotent GET once when the server disconnects.
        request = asyncio.ensure_future(session.post(live.at(LOGIN), json={"username": "ann"}))
        await until(lambda: held(live) == 1)
        await live.advance(29)
        assert held(live) == 1
        await live.advance(1)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await request
    assert held(live) == 0


async def test_hang_with_delay_requests_sees_remote_disconnected(live: Live) -> None:
    await live.fault(path=VERSION, hang=True, delay_s=30)
    request = asyncio.ensure_future(asyncio.to_thread(requests.get, live.at(VERSION), timeout=10))
    await until(lambda: held(live) == 1)
    await live.advance(30)
    with pytest.raises(requests.ConnectionError, match="Remote end closed connection"):
        await request


@needs_curl
async def test_hang_with_delay_curl_exits_52_empty_reply(live: Live) -> None:
    await live.fault(path=VERSION, hang=True, delay_s=30)
    request = asyncio.ensure_future(curl(live.at(VERSION)))
    await until(lambda: held(live) == 1)
    await live.advance(30)
    code, _, err = await request
    assert code == 52, err
    assert "Empty reply from server" in err


async def test_a_hang_never_holds_up_shutdown() -> None:
    async with live_server() as live:
        await live.fault(path=LOGIN, hang=True)
        session = aiohttp.ClientSession()
        request = asyncio.ensure_future(session.post(live.at(LOGIN), json={"username": "ann"}))
        await until(lambda: held(live) == 1)
        # Under the runner's 1 s shutdown timeout: the hang was released, not waited out.
        async with asyncio.timeout(0.9):
            await live.runner.cleanup()
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await request
        await session.close()


# -- truncate ------------------------------------------------------------------------------------
async def test_truncate_aiohttp_raises_client_payload_error(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, truncate=7)
    async with aiohttp.ClientSession() as session, session.get(live.at(VERSION)) as resp:
        assert resp.status == 200
        assert resp.content_length == len(full)
        with pytest.raises(aiohttp.ClientPayloadError, match="Response payload is not completed"):
            await resp.read()


async def test_truncate_requests_raises_chunked_encoding_error(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, truncate=7)
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        await asyncio.to_thread(requests.get, live.at(VERSION), timeout=10)
    assert f"IncompleteRead(7 bytes read, {len(full) - 7} more expected)" in str(caught.value)


@needs_curl
async def test_truncate_curl_exits_18_partial_file(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, truncate=7)
    code, out, err = await curl(live.at(VERSION))
    assert code == 18, err
    assert f"transfer closed with {len(full) - 7} bytes remaining to read" in err
    assert out.encode() == full[:7]


async def test_truncate_is_journaled_with_what_was_sent(live: Live) -> None:
    full = await version_body(live)
    await live.fault(id="cut", path=VERSION, truncate=7)
    async with aiohttp.ClientSession() as session, session.get(live.at(VERSION)) as resp:
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    (entry,) = await live.journal("fault")
    assert entry == {
        "kind": "fault", "fault": "cut", "action": "truncate", "user": None, "method": "GET",
        "path": VERSION, "status": 200, "sent": 7, "length": len(full),
    }  # fmt: skip


# -- trickle -------------------------------------------------------------------------------------
async def test_trickle_aiohttp_reads_ten_bytes_per_scenario_second(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, trickle_bps=10)
    async with aiohttp.ClientSession() as session, session.get(live.at(VERSION)) as resp:
        assert resp.content_length == len(full)
        assert await resp.content.readexactly(1) == full[:1]
        await until(lambda: held(live) == 1)
        await live.advance(2)
        assert await resp.content.readexactly(20) == full[1:21]
        await live.advance(len(full))
        assert await resp.read() == full[21:]


async def test_trickle_requests_read_timeout_is_a_connection_error(live: Live) -> None:
    await live.fault(path=VERSION, trickle_bps=10)
    with pytest.raises(requests.ConnectionError, match="Read timed out"):
        await asyncio.to_thread(requests.get, live.at(VERSION), timeout=(5, 0.3))


@needs_curl
async def test_trickle_curl_exits_28_after_one_byte(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, trickle_bps=10)
    code, _, err = await curl("--max-time", "0.5", live.at(VERSION))
    assert code == 28, err
    assert f"with 1 out of {len(full)} bytes received" in err


@needs_curl
async def test_trickle_curl_gets_the_whole_body_as_the_clock_moves(live: Live) -> None:
    full = await version_body(live)
    await live.fault(path=VERSION, trickle_bps=10)
    request = asyncio.ensure_future(curl(live.at(VERSION)))
    await until(lambda: held(live) == 1)
    await live.advance(len(full) / 10)
    code, out, err = await request
    assert code == 0, err
    assert out.encode() == full


# -- proxy_error ---------------------------------------------------------------------------------
async def jwt(live: Live) -> dict[str, str]:
    return {"Authorization": f"JWT {await live.token('ann')}"}


@pytest.mark.parametrize("status", [502, 504])
async def test_proxy_error_aiohttp_json_raises_content_type_error(live: Live, status: int) -> None:
    await live.fault(path="/api/v2/pools/", proxy_error=status)
    headers = await jwt(live)
    async with (
        aiohttp.ClientSession() as session,
        session.get(live.at("/api/v2/pools/"), headers=headers) as resp,
    ):
        assert resp.status == status
        assert resp.headers["Server"] == "nginx"
        with pytest.raises(aiohttp.ContentTypeError):
            await resp.json()
        assert f"<center><h1>{status} " in await resp.text()


async def test_proxy_error_requests_json_raises_json_decode_error(live: Live) -> None:
    await live.fault(path="/api/v2/pools/", proxy_error=502)
    resp = await asyncio.to_thread(
        requests.get, live.at("/api/v2/pools/"), headers=await jwt(live), timeout=10
    )
    assert resp.status_code == 502
    assert resp.headers["Content-Type"] == "text/html"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        resp.json()


@needs_curl
async def test_proxy_error_curl_fail_exits_22(live: Live) -> None:
    await live.fault(path="/api/v2/pools/", proxy_error=504, delay_s=60)
    headers = await jwt(live)
    request = asyncio.ensure_future(
        curl(
            "--fail", "-H", f"Authorization: {headers['Authorization']}", live.at("/api/v2/pools/")
        )
    )
    # The proxy's upstream timeout: 60 s of scenario time, then its 504.
    await until(lambda: live.app[FAULTS].sleeping == 1)
    await live.advance(60)
    code, _, err = await request
    assert code == 22, err
    assert "The requested URL returned error: 504" in err


# -- WebSockets ----------------------------------------------------------------------------------
async def open_ws(
    live: Live, session: aiohttp.ClientSession, heartbeat: float | None = None
) -> aiohttp.ClientWebSocketResponse:
    headers = {"Cookie": f"JWT {await live.token('ann')}"}
    ws: aiohttp.ClientWebSocketResponse = await session.ws_connect(
        live.at(f"/api/v2/pools/ws/{ANN}/"), headers=headers, heartbeat=heartbeat
    )
    return ws


async def step1(live: Live) -> dict[str, Any]:
    async with live.session.get(
        live.at(f"/api/v2/pools/{POOL_A}/connect/"), headers=await jwt(live)
    ) as resp:
        assert resp.status == 202, await resp.text()
        task: dict[str, Any] = (await resp.json())["data"]
        return task


async def test_abort_the_aiohttp_ws_client_sees_1006_without_a_close_frame(live: Live) -> None:
    await live.fault(id="cut", user="ann", frame_status="RUNNING", abort=True, count=1)
    async with aiohttp.ClientSession() as session:
        ws = await open_ws(live, session)
        task = await step1(live)
        await live.advance(3)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.TEXT  # the matching frame goes out first
        assert json.loads(msg.data) == {"status": "RUNNING", "id": task["id"], "kind": task["kind"]}
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSED  # no CLOSE frame came: the TCP connection ended
        assert ws.close_code == 1006  # WSCloseCode.ABNORMAL_CLOSURE
    entries = [e for e in await live.journal("fault") if e["action"] == "abort"]
    assert entries == [
        {"kind": "fault", "fault": "cut", "action": "abort", "user": "ann",
         "frame": {"status": "RUNNING", "id": task["id"], "kind": task["kind"]}, "sockets": 1},
    ]  # fmt: skip


async def test_deaf_sends_nothing_then_aborts_after_delay_s(live: Live) -> None:
    await live.fault(id="mute", user="ann", deaf=True, delay_s=30, count=1)
    async with aiohttp.ClientSession() as session:
        ws = await open_ws(live, session)
        await step1(live)
        await live.advance(3)  # RUNNING: the socket goes deaf, the frame is not sent
        await live.advance(10)  # COMPLETED: not sent either
        await ws.send_str("hello?")  # no echo from a deaf socket
        assert len(live.app[HUB].peers()) == 1
        await live.advance(20)  # 30 s after it went deaf: aborted
        msg = await ws.receive(timeout=5)
        # Nothing came before the end: no frame, no echo, no close frame.
        assert msg.type is WSMsgType.CLOSED
        assert ws.close_code == 1006
    actions = [(e["action"], e.get("sockets")) for e in await live.journal("fault")]
    assert actions == [("deaf", 1), ("abort", 1)]


async def test_deaf_the_aiohttp_heartbeat_gets_no_pong(live: Live) -> None:
    await live.fault(user="ann", deaf=True)
    async with aiohttp.ClientSession() as session:
        # The client's own heartbeat: a ping every 0.2 s, a pong expected within 0.1 s.
        ws = await open_ws(live, session, heartbeat=0.2)
        await step1(live)
        await live.advance(3)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.ERROR
        assert isinstance(msg.data, aiohttp.ServerTimeoutError)
        assert "No PONG received" in str(msg.data)
        assert ws.close_code == 1006


async def test_deaf_for_good_ends_at_a_reset(live: Live) -> None:
    await live.fault(user="ann", deaf=True)
    async with aiohttp.ClientSession() as session:
        ws = await open_ws(live, session)
        await step1(live)
        await live.advance(3)
        await live.reset()
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSED
        assert ws.close_code == 1006


async def test_a_deaf_socket_never_holds_up_shutdown() -> None:
    async with live_server() as live:
        await live.fault(user="ann", deaf=True)
        session = aiohttp.ClientSession()
        ws = await open_ws(live, session)
        await step1(live)
        await live.advance(3)
        async with asyncio.timeout(0.9):
            await live.runner.cleanup()
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSED
        assert ws.close_code == 1006
        await session.close()


async def test_the_openapi_fault_schema_has_every_transport_key(live: Live) -> None:
    async with live.session.get(live.at("/openapi.json")) as resp:
        schemas = (await resp.json())["components"]["schemas"]
    properties = schemas["FaultSpec"]["properties"]
    for key in ("reset", "hang", "truncate", "trickle_bps", "proxy_error", "abort", "deaf"):
        assert key in properties, key
    assert properties["proxy_error"]["anyOf"][0] == {"enum": [502, 504], "type": "integer"}
