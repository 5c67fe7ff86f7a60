"""WebSocket /api/v2/pools/ws/{client_id}/ (CONTRACT §8): handshake, task frames, echo, shutdown.

Time is the manual scenario clock: a test advances it and awaits ``hub.flush()``, after which
every due frame is already on its socket; ``receive(timeout=...)`` is only a safety net.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
import uuid
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.client_ws import ClientWebSocketResponse
from aiohttp.http_websocket import WebSocketWriter
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import Scenario, default_scenario_path, parse_scenario
from mockapi.domain.world import Pool, User
from mockapi.hub._frames import text_frame
from mockapi.hub.hub import Peer
from mockapi.keys import CLOCK, HUB, RUNTIME, TOKENS
from mockapi.settings import Settings
from mockapi.statemachines.task import Task, TaskStatus
from tests.helpers import ASTRAVDI_ID, Client, auth, login

USER_2_ID = "e8d8dd14-cb09-4099-b96e-a83c6b09496c"
RECEIVE_S = 5.0
DENIED = b'{"detail":[{"msg":"Permission denied.","err_code":999,"type":"default"}]}'
#: A valid RFC 6455 handshake, for requests whose raw answer a test reads.
HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
#: Deterministic outcomes: every expand of astravdi is 3 s PENDING, 10 s RUNNING, then ends
#: CANCELLED in pool-win-2 and COMPLETED everywhere else.
RULES: list[dict[str, Any]] = [
    {"user": "astravdi", "pool": "pool-win-2", "kind": "POOL_EXPAND", "outcome": "CANCELLED",
     "pending_s": 3, "running_s": 10},
    {"user": "astravdi", "kind": "POOL_EXPAND", "outcome": "COMPLETED",
     "pending_s": 3, "running_s": 10},
]  # fmt: skip


def scenario_with_rules() -> Scenario:
    """The default world plus :data:`RULES`."""
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["rules"] = [*RULES, *data.get("rules", [])]
    return parse_scenario(data)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    return await aiohttp_client(create_app(settings, scenario=scenario_with_rules()))


# -- helpers ---------------------------------------------------------------------------------
def user(client: Client, username: str = "astravdi") -> User:
    found = client.app[RUNTIME].world.user(username)
    assert found is not None
    return found


def pool(client: Client, name: str) -> Pool:
    found = client.app[RUNTIME].world.pool(name)
    assert found is not None
    return found


def token_for(client: Client, username: str = "astravdi") -> str:
    """A token as login issues it, for any user (MFA users included) without the login flow."""
    who = user(client, username)
    return client.app[TOKENS].issue(who.id, who.username, who.roles)


def ws_path(client_id: str) -> str:
    return f"/api/v2/pools/ws/{client_id}/"


async def open_ws(client: Client, username: str = "astravdi") -> ClientWebSocketResponse:
    """An open socket of ``username``, authenticated the way the desktop client does it."""
    who = user(client, username)
    return await client.ws_connect(
        ws_path(str(who.id)), headers={"Cookie": f"JWT {token_for(client, username)}"}
    )


async def raw_handshake(
    client: Client, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a handshake the server refuses."""
    async with client.get(path, headers={**HANDSHAKE, **headers}) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


def expand(client: Client, pool_name: str, username: str = "astravdi") -> Task:
    """Step 1 straight through the runtime (no dependency on the pools routes)."""
    _, task = client.app[RUNTIME].request_machine(user(client, username), pool(client, pool_name))
    assert isinstance(task, Task)
    assert task.status is TaskStatus.PENDING
    return task


async def advance(client: Client, seconds: float) -> None:
    """Move the manual clock and wait until the frames it caused are on their sockets."""
    client.app[CLOCK].advance(seconds)
    await client.app[HUB].flush()


def frame(task: Task, status: str) -> str:
    return f'{{"status":"{status}","id":"{task.id}","kind":"{task.kind.value}"}}'


async def receive_text(ws: ClientWebSocketResponse) -> str:
    msg = await ws.receive(timeout=RECEIVE_S)
    assert msg.type is WSMsgType.TEXT, msg
    assert isinstance(msg.data, str)
    return msg.data


async def receive_texts(ws: ClientWebSocketResponse, count: int) -> list[str]:
    return [await receive_text(ws) for _ in range(count)]


async def assert_nothing_before_echo(
    ws: ClientWebSocketResponse, username: str = "astravdi"
) -> None:
    """Nothing is waiting on ``ws``: an echo sent now is the next frame (frames keep order)."""
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    await ws.send_str(marker)
    assert await receive_text(ws) == f"User {username} sent: {marker}"


def peers(client: Client, username: str = "astravdi") -> list[Peer]:
    return client.app[HUB].peers(user(client, username).id)


def back_up(monkeypatch: pytest.MonkeyPatch, peer: Peer) -> None:
    """Make ``peer``'s transport report unsent data, as when its client stops reading.

    The hub then queues every frame for the socket's writer (``send_str``) instead of writing
    it at once. (The test client reads everything, so the real thing cannot happen here.)
    """
    assert isinstance(peer.transport, asyncio.WriteTransport)
    monkeypatch.setattr(peer.transport, "get_write_buffer_size", lambda: 1 << 20)


def stall(monkeypatch: pytest.MonkeyPatch, peer: Peer) -> None:
    """Make ``peer`` behave like a client that stopped reading: sends never complete."""
    never = asyncio.Event()

    async def send_str(data: str, compress: int | None = None) -> None:
        await never.wait()

    back_up(monkeypatch, peer)
    monkeypatch.setattr(peer.ws, "send_str", send_str)


# -- handshake -------------------------------------------------------------------------------
async def test_raw_jwt_cookie_with_own_client_id_opens_a_socket(client: Client) -> None:
    ws = await open_ws(client)
    assert not ws.closed
    assert client.app[HUB].count(uuid.UUID(ASTRAVDI_ID)) == 1
    await assert_nothing_before_echo(ws)


async def test_handshake_answers_no_subprotocol_and_no_compression(client: Client) -> None:
    ws = await client.ws_connect(
        ws_path(ASTRAVDI_ID),
        headers={"Cookie": f"JWT {token_for(client)}"},
        protocols=("chat", "v2"),
    )
    assert ws.protocol is None
    assert ws.compress == 0  # the client offered permessage-deflate; the server declined


async def test_handshake_response_headers_carry_no_protocol_or_extension(client: Client) -> None:
    headers = {
        **HANDSHAKE,
        "Cookie": f"JWT {token_for(client)}",
        "Sec-WebSocket-Protocol": "chat",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    }
    resp = await client.get(ws_path(ASTRAVDI_ID), headers=headers)
    try:
        assert resp.status == 101
        assert resp.headers["Upgrade"] == "websocket"
        assert "Sec-WebSocket-Protocol" not in resp.headers
        assert "Sec-WebSocket-Extensions" not in resp.headers
    finally:
        resp.close()


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(None, id="no cookie"),
        pytest.param("", id="empty cookie"),
        pytest.param("Bearer {token}", id="Bearer prefix"),
        pytest.param("jwt {token}", id="lower-case prefix"),
        pytest.param("{token}", id="no prefix"),
        pytest.param("JWT  {token}", id="double space"),
        pytest.param("JWT {token} extra", id="third part"),
        pytest.param("JWT={token}", id="name=value cookie"),
        pytest.param("access_token=JWT {token}", id="name=value cookie with JWT value"),
        pytest.param("JWT not-a-token", id="garbage token"),
        pytest.param("JWT {token}x", id="forged signature"),
    ],
)
async def test_handshake_without_a_raw_jwt_cookie_is_refused_with_403(
    client: Client, cookie: str | None
) -> None:
    headers = {} if cookie is None else {"Cookie": cookie.format(token=token_for(client))}
    status, resp_headers, body = await raw_handshake(client, ws_path(ASTRAVDI_ID), headers)
    assert status == 403
    assert body == DENIED
    assert resp_headers["content-type"] == "application/json"
    assert resp_headers["www-authenticate"] == "JWT"
    assert resp_headers["connection"] == "close"
    assert client.app[HUB].count(uuid.UUID(ASTRAVDI_ID)) == 0


async def test_authorization_header_is_ignored(client: Client) -> None:
    token = token_for(client)
    status, _, body = await raw_handshake(
        client, ws_path(ASTRAVDI_ID), {"Authorization": f"JWT {token}"}
    )
    assert (status, body) == (403, DENIED)
    ws = await client.ws_connect(
        ws_path(ASTRAVDI_ID), headers={"Cookie": f"JWT {token}", "Authorization": "Bearer x"}
    )
    assert not ws.closed


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param(USER_2_ID, id="another user's id"),
        pytest.param(str(uuid.uuid4()), id="unknown id"),
        pytest.param(ASTRAVDI_ID.upper(), id="upper-case own id"),
        pytest.param(uuid.UUID(ASTRAVDI_ID).hex, id="own id without dashes"),
        pytest.param("astravdi", id="username"),
    ],
)
async def test_client_id_other_than_the_tokens_claim_is_refused(
    client: Client, client_id: str
) -> None:
    status, headers, body = await raw_handshake(
        client, ws_path(client_id), {"Cookie": f"JWT {token_for(client)}"}
    )
    assert (status, body) == (403, DENIED)
    assert headers["www-authenticate"] == "JWT"
    assert headers["connection"] == "close"


async def test_a_token_from_login_opens_the_socket(client: Client) -> None:
    token = await login(client)
    ws = await client.ws_connect(ws_path(ASTRAVDI_ID), headers={"Cookie": f"JWT {token}"})
    await assert_nothing_before_echo(ws)


async def test_a_token_revoked_by_logout_is_refused(client: Client) -> None:
    token = await login(client)
    resp = await client.post("/api/v2/users/logout/", headers=auth(token))
    assert resp.status == 205
    status, _, body = await raw_handshake(client, ws_path(ASTRAVDI_ID), {"Cookie": f"JWT {token}"})
    assert (status, body) == (403, DENIED)
    fresh = await open_ws(client)  # another token of the same user still works
    assert not fresh.closed


async def test_an_expired_token_is_refused(client: Client) -> None:
    token = token_for(client)
    client.app[CLOCK].advance(client.app[TOKENS].ttl_s)
    status, _, body = await raw_handshake(client, ws_path(ASTRAVDI_ID), {"Cookie": f"JWT {token}"})
    assert (status, body) == (403, DENIED)


async def test_a_token_of_a_disabled_user_is_refused(client: Client) -> None:
    user_1 = user(client, "user-1")
    assert user_1.disabled
    status, _, body = await raw_handshake(
        client, ws_path(str(user_1.id)), {"Cookie": f"JWT {token_for(client, 'user-1')}"}
    )
    assert (status, body) == (403, DENIED)


async def test_handshake_without_the_trailing_slash_gets_403_with_an_empty_body(
    client: Client,
) -> None:
    status, _, body = await raw_handshake(
        client, ws_path(ASTRAVDI_ID).rstrip("/"), {"Cookie": f"JWT {token_for(client)}"}
    )
    assert (status, body) == (403, b"")


@pytest.mark.parametrize("cookie", [True, False], ids=["with cookie", "without cookie"])
async def test_a_plain_get_on_the_socket_path_is_404(client: Client, cookie: bool) -> None:
    headers = {"Cookie": f"JWT {token_for(client)}"} if cookie else {}
    resp = await client.get(ws_path(ASTRAVDI_ID), headers=headers)
    assert resp.status == 404
    assert resp.headers["content-type"] == "application/json"
    assert await resp.read() == b'{"detail":"Not Found"}'


async def test_a_malformed_handshake_is_a_json_400_not_a_500(client: Client) -> None:
    headers = {**HANDSHAKE, "Sec-WebSocket-Key": "short", "Cookie": f"JWT {token_for(client)}"}
    async with client.get(ws_path(ASTRAVDI_ID), headers=headers) as resp:
        assert resp.status == 400
        assert await resp.read() == (
            b'{"detail":[{"msg":"Bad Request","err_code":999,"type":"default"}]}'
        )
        assert resp.headers["Connection"] == "close"


async def test_connects_and_disconnects_are_logged_with_the_users_socket_count(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mockapi.hub.hub"):
        first = await open_ws(client)
        second = await open_ws(client)
        await second.close()
        await assert_nothing_before_echo(first)  # the server has seen the close by now
    messages = [r.getMessage() for r in caplog.records if r.name == "mockapi.hub.hub"]
    assert messages[:3] == [
        "socket opened: user=astravdi sockets=1",
        "socket opened: user=astravdi sockets=2",
        "socket closed: user=astravdi sockets=1 code=1000",
    ]


# -- task frames -----------------------------------------------------------------------------
async def test_running_then_terminal_frame_in_the_exact_form(client: Client) -> None:
    ws = await open_ws(client)
    task = expand(client, "pool-win-1")
    await advance(client, 2.9)
    await assert_nothing_before_echo(ws)  # the initial PENDING is the 202, never pushed

    await advance(client, 0.1)
    assert await receive_text(ws) == (
        f'{{"status":"RUNNING","id":"{task.id}","kind":"POOL_EXPAND"}}'
    )
    await advance(client, 10)
    assert await receive_text(ws) == (
        f'{{"status":"COMPLETED","id":"{task.id}","kind":"POOL_EXPAND"}}'
    )
    await assert_nothing_before_echo(ws)


async def test_one_advance_through_the_whole_lifecycle_sends_every_state_in_order(
    client: Client,
) -> None:
    ws = await open_ws(client)
    completed = expand(client, "pool-win-1")
    cancelled = expand(client, "pool-win-2")
    await advance(client, 60)
    assert await receive_texts(ws, 4) == [
        frame(completed, "RUNNING"),
        frame(cancelled, "RUNNING"),
        frame(completed, "COMPLETED"),
        frame(cancelled, "CANCELLED"),
    ]


async def test_a_forced_change_is_pushed_like_any_other(client: Client) -> None:
    ws = await open_ws(client)
    task = expand(client, "pool-win-1")
    client.app[RUNTIME].force(task.id, TaskStatus.CANCELLED)
    await client.app[HUB].flush()
    assert await receive_text(ws) == frame(task, "CANCELLED")
    await advance(client, 60)  # its timers are gone: nothing more for this task
    await assert_nothing_before_echo(ws)


async def test_every_socket_of_the_user_gets_every_frame_in_state_order(client: Client) -> None:
    sockets = [await open_ws(client) for _ in range(3)]
    first = expand(client, "pool-win-1")
    second = expand(client, "pool-astra-1")
    await advance(client, 3)
    await advance(client, 10)
    expected = [
        frame(first, "RUNNING"),
        frame(second, "RUNNING"),
        frame(first, "COMPLETED"),
        frame(second, "COMPLETED"),
    ]
    for ws in sockets:
        assert await receive_texts(ws, 4) == expected


async def test_other_users_get_nothing(client: Client) -> None:
    mine = await open_ws(client)
    theirs = await open_ws(client, "user-2")
    task = expand(client, "pool-win-1")
    await advance(client, 13)
    assert await receive_texts(mine, 2) == [frame(task, "RUNNING"), frame(task, "COMPLETED")]
    await assert_nothing_before_echo(theirs, "user-2")


async def test_a_frame_for_a_user_without_sockets_goes_nowhere(client: Client) -> None:
    task = expand(client, "pool-win-1")
    await advance(client, 13)
    assert task.status is TaskStatus.COMPLETED


async def test_publish_never_raises_even_for_a_frame_it_cannot_encode(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await open_ws(client)
    with caplog.at_level(logging.ERROR, logger="mockapi.hub.hub"):
        client.app[HUB].publish(uuid.UUID(ASTRAVDI_ID), {"status": object()})
    assert "could not publish" in caplog.text
    await assert_nothing_before_echo(ws)


async def test_a_frame_for_a_user_without_sockets_is_not_even_encoded(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # Most task changes of a load test have no socket to go to: they cost no encoding.
    with caplog.at_level(logging.ERROR, logger="mockapi.hub.hub"):
        client.app[HUB].publish(uuid.UUID(ASTRAVDI_ID), {"status": object()})
    assert caplog.text == ""


# -- echo ------------------------------------------------------------------------------------
async def test_text_is_echoed_to_every_socket_of_the_user_only(client: Client) -> None:
    sender = await open_ws(client)
    sibling = await open_ws(client)
    stranger = await open_ws(client, "user-2")
    await sender.send_str("hello, dispatcher")
    assert await receive_text(sender) == "User astravdi sent: hello, dispatcher"
    assert await receive_text(sibling) == "User astravdi sent: hello, dispatcher"
    await assert_nothing_before_echo(stranger, "user-2")


async def test_echo_and_task_frames_share_one_order_per_socket(client: Client) -> None:
    sender = await open_ws(client)
    sibling = await open_ws(client)
    task = expand(client, "pool-win-1")
    client.app[CLOCK].advance(3)  # RUNNING queued before the echo below
    await sender.send_str("after running")
    echo = "User astravdi sent: after running"
    assert await receive_texts(sender, 2) == [frame(task, "RUNNING"), echo]
    assert await receive_texts(sibling, 2) == [frame(task, "RUNNING"), echo]


async def test_binary_frames_are_ignored(client: Client) -> None:
    ws = await open_ws(client)
    await ws.send_bytes(b"\x00\x01")
    await assert_nothing_before_echo(ws)


# -- slow, dead and stalled sockets ----------------------------------------------------------
async def test_a_client_that_never_reads_changes_nothing_for_the_others(client: Client) -> None:
    idle = await open_ws(client)  # never reads a single frame
    reader = await open_ws(client)
    tasks = [expand(client, name) for name in ("pool-win-1", "pool-astra-1", "pool-astra-2")]
    await advance(client, 13)
    received = await receive_texts(reader, 6)
    assert received == [frame(t, "RUNNING") for t in tasks] + [frame(t, "COMPLETED") for t in tasks]
    assert all(t.status is TaskStatus.COMPLETED for t in tasks)
    assert not idle.closed


async def test_a_socket_dying_mid_broadcast_changes_nothing_for_the_others(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    dying, alive = await open_ws(client), await open_ws(client)
    dead_peer = peers(client)[0]

    async def broken_send(data: str, compress: int | None = None) -> None:
        raise ConnectionResetError("Cannot write to closing transport")

    first = expand(client, "pool-win-1")
    second = expand(client, "pool-astra-1")
    back_up(monkeypatch, dead_peer)  # its frames go through the writer, whose sends fail
    monkeypatch.setattr(dead_peer.ws, "send_str", broken_send)
    client.app[CLOCK].advance(3)  # both RUNNING frames: written to one, queued for the other
    await client.app[HUB].flush()
    await advance(client, 10)

    assert await receive_texts(alive, 4) == [
        frame(first, "RUNNING"),
        frame(second, "RUNNING"),
        frame(first, "COMPLETED"),
        frame(second, "COMPLETED"),
    ]
    assert first.status is second.status is TaskStatus.COMPLETED
    msg = await dying.receive(timeout=RECEIVE_S)  # a socket that missed a frame is closed
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1011)


async def test_a_socket_closed_by_its_client_mid_broadcast_changes_nothing(
    client: Client,
) -> None:
    closing, alive = await open_ws(client), await open_ws(client)
    task = expand(client, "pool-win-1")
    client.app[CLOCK].advance(3)  # RUNNING queued for both
    await closing.close()
    await advance(client, 10)
    assert await receive_texts(alive, 2) == [frame(task, "RUNNING"), frame(task, "COMPLETED")]
    await assert_nothing_before_echo(alive)
    assert client.app[HUB].count(uuid.UUID(ASTRAVDI_ID)) == 1


async def test_flush_does_not_wait_for_a_stalled_socket(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await open_ws(client)
    reader = await open_ws(client)
    stall(monkeypatch, peers(client)[0])
    task = expand(client, "pool-win-1")
    client.app[CLOCK].advance(3)
    async with asyncio.timeout(RECEIVE_S):
        await client.app[HUB].flush()  # waits on both; the stalled one is let go
    assert await receive_text(reader) == frame(task, "RUNNING")
    client.app[CLOCK].advance(10)
    async with asyncio.timeout(RECEIVE_S):
        await client.app[HUB].flush()  # already stalled: not waited for at all
    assert await receive_text(reader) == frame(task, "COMPLETED")


async def test_a_socket_that_falls_behind_is_closed_with_1011_and_counted(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hub = client.app[HUB]
    hub.max_frames = 4
    stalled, reader = await open_ws(client), await open_ws(client)
    stall(monkeypatch, peers(client)[0])
    tasks = [
        expand(client, name)
        for name in ("pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2")
    ]
    with caplog.at_level(logging.WARNING, logger="mockapi.hub.hub"):
        await advance(client, 3)  # 4 RUNNING: one in flight, three queued
        await advance(client, 10)  # 4 terminal: the queue overflows

    closed = await stalled.receive(timeout=RECEIVE_S)
    assert closed.type is WSMsgType.CLOSE
    assert closed.data == 1011
    assert hub.overflows == 1
    assert "closing it with 1011 (1 overflow(s) so far)" in caplog.text

    outcome = {"pool-win-2": "CANCELLED"}
    names = ("pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2")
    assert await receive_texts(reader, 8) == [frame(t, "RUNNING") for t in tasks] + [
        frame(t, outcome.get(name, "COMPLETED")) for t, name in zip(tasks, names, strict=True)
    ]
    assert [t.status.value for t in tasks] == ["COMPLETED", "CANCELLED", "COMPLETED", "COMPLETED"]


async def test_a_queue_is_bounded_in_bytes_too(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = client.app[HUB]
    hub.max_bytes = 64
    stalled = await open_ws(client)
    stall(monkeypatch, peers(client)[0])
    await stalled.send_str("x" * 40)  # in flight, then stuck
    await stalled.send_str("y" * 40)  # queued: 60 bytes
    await stalled.send_str("z" * 40)  # would make 120: closed
    closed = await stalled.receive(timeout=RECEIVE_S)
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, 1011)
    assert hub.overflows == 1


# -- writing ---------------------------------------------------------------------------------
class Captured(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
async def test_a_frame_is_written_as_send_str_writes_it(size: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()  # ``size`` bytes of UTF-8
    assert len(payload) == size
    transport = Captured()
    writer = WebSocketWriter(BaseProtocol(asyncio.get_running_loop()), transport)
    await writer.send_frame(payload, WSMsgType.TEXT)
    assert text_frame(payload) == bytes(transport.data)


async def test_a_frame_for_an_idle_socket_is_written_at_once_without_a_task(
    client: Client,
) -> None:
    ws = await open_ws(client)
    task = expand(client, "pool-win-1")
    client.app[CLOCK].advance(3)  # no flush: the frame must already be written
    (peer,) = peers(client)
    assert (peer.accepted, peer.handled) == (1, 1)
    assert peer.writer is None
    assert peer.queue is None
    assert await receive_text(ws) == frame(task, "RUNNING")


async def test_after_a_backlog_drains_frames_go_straight_out_again_in_order(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await open_ws(client)
    (peer,) = peers(client)
    with monkeypatch.context() as backed_up:
        back_up(backed_up, peer)
        tasks = [expand(client, name) for name in ("pool-win-1", "pool-astra-1")]
        client.app[CLOCK].advance(3)  # both RUNNING frames wait for the writer
        assert peer.queue is not None
        assert peer.writer is not None
        await client.app[HUB].flush()
    assert peer.queue is None  # drained: no queue kept for an idle socket
    assert peer.writer is None
    client.app[CLOCK].advance(10)  # the transport took everything: written at once
    assert peer.accepted == peer.handled == 4
    assert await receive_texts(ws, 4) == [frame(t, "RUNNING") for t in tasks] + [
        frame(t, "COMPLETED") for t in tasks
    ]


async def test_a_frame_published_during_the_handshake_waits_for_it(client: Client) -> None:
    hub = client.app[HUB]
    astravdi = user(client)
    peer = hub.connect(astravdi.id, astravdi.username, web.WebSocketResponse())
    hub.publish(astravdi.id, {"status": "RUNNING"})
    assert peer.queue is not None
    assert list(peer.queue) == ['{"status":"RUNNING"}']
    assert (peer.accepted, peer.handled) == (1, 0)
    await hub.disconnect(peer)


# -- shutdown --------------------------------------------------------------------------------
async def test_server_shutdown_closes_every_socket_with_1001(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    sockets = [await open_ws(client), await open_ws(client), await open_ws(client, "user-2")]
    with caplog.at_level(logging.INFO, logger="mockapi.hub.hub"):
        await client.server.close()
    for ws in sockets:
        msg = await ws.receive(timeout=RECEIVE_S)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
    closes = [r.getMessage() for r in caplog.records if "socket closed" in r.getMessage()]
    assert sorted(closes) == [
        "socket closed: user=astravdi sockets=0 code=1001",
        "socket closed: user=astravdi sockets=1 code=1001",
        "socket closed: user=user-2 sockets=0 code=1001",
    ]


async def test_a_handshake_finishing_during_shutdown_is_closed_with_1001(client: Client) -> None:
    await client.app[HUB].close_all()
    ws = await open_ws(client)
    msg = await ws.receive(timeout=RECEIVE_S)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)


async def test_close_all_does_not_wait_for_a_stalled_socket(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    stalled = await open_ws(client)
    stall(monkeypatch, peers(client)[0])
    expand(client, "pool-win-1")
    await advance(client, 3)  # the writer is stuck in its send
    await asyncio.wait_for(client.app[HUB].close_all(), RECEIVE_S)
    msg = await stalled.receive(timeout=RECEIVE_S)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
