"""Fault injection (issue 7): every action on HTTP and WebSockets, matching, count, seeded
probability, the control routes, the journal, reset, and the shipped flaky-network world.

Time is the manual scenario clock. A test that must show something has *not* happened yet
(a late answer, a held frame) reads the server's own state (``FAULTS.sleeping``, the journal)
after a full round trip, never a wall-clock wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.client_ws import ClientWebSocketResponse
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.faultspec import HTTP_ACTIONS, WS_ACTIONS, compile_path, default_message
from mockapi.domain.scenario import Scenario, default_scenario_path, load_scenario, parse_text
from mockapi.keys import CLOCK, FAULTS, HUB, RUNTIME
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client

ANN = "6a1c2f3e-4b5d-4e6f-8a7b-9c0d1e2f3a01"
BEN = "6a1c2f3e-4b5d-4e6f-8a7b-9c0d1e2f3a02"
POOL_A = "7b2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e01"
POOL_B = "7b2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e02"
LOGIN = "/api/v2/users/login/"
FAULTS_PATH = "/service/faults/"
RECEIVE_S = 5.0
STEP2 = {"remote_protocol": 1, "width": 1920, "height": 1080, "password": None}

#: Two users, two pools; every task is 3 s PENDING, 10 s RUNNING, then COMPLETED.
WORLD = f"""\
[settings]
seed = 5
clock = "manual"

[timing.POOL_EXPAND]
pending_s = 3
running_s = 10
outcomes = {{ COMPLETED = 1 }}

[timing.GLINT_START]
pending_s = 3
running_s = 10
outcomes = {{ COMPLETED = 1 }}

[[users]]
id = "{ANN}"
username = "ann"
pools = ["pool-a", "pool-b"]

[[users]]
id = "{BEN}"
username = "ben"
pools = ["pool-a"]

[[pools]]
id = "{POOL_A}"
name = "pool-a"
free_machines = 5

[[pools]]
id = "{POOL_B}"
name = "pool-b"
free_machines = 5
"""

MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def make(aiohttp_client: AiohttpClient) -> MakeClient:
    """A client on :data:`WORLD` plus ``extra`` TOML (faults), with ``seed`` if given."""

    async def build(extra: str = "", seed: int | None = None) -> Client:
        scenario = parse_text(WORLD + extra, "toml")
        settings = Settings(jwt_secret=SECRET, clock="manual", seed=seed)
        return await aiohttp_client(create_app(settings, scenario))

    return build


@pytest.fixture
async def client(make: MakeClient) -> Client:
    return await make()


# -- helpers ------------------------------------------------------------------------------------


async def add(client: Client, **spec: Any) -> dict[str, Any]:
    resp = await client.post(FAULTS_PATH, json=spec)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def listed(client: Client) -> list[dict[str, Any]]:
    resp = await client.get(FAULTS_PATH)
    assert resp.status == 200
    data: list[dict[str, Any]] = (await resp.json())["data"]
    return data


#: What an entry says a request sent: tested on its own in tests/web/test_journal.py.
REQUEST_SIDE = ("query", "headers", "body", "body_omitted")


async def journal(client: Client, kind: str) -> list[dict[str, Any]]:
    """Journal entries of ``kind``, without ``seq``, ``time`` and what the request sent (its
    own tests are in tests/web/test_journal.py)."""
    resp = await client.get("/service/journal/")
    entries = (await resp.json())["entries"]
    return [
        {k: v for k, v in entry.items() if k not in ("seq", "time", *REQUEST_SIDE)}
        for entry in entries
        if entry["kind"] == kind
    ]


async def token(client: Client, username: str) -> str:
    resp = await client.post("/service/tokens/", json={"username": username})
    assert resp.status == 200
    value: str = (await resp.json())["access_token"]
    return value


def jwt(value: str) -> dict[str, str]:
    return {"Authorization": f"JWT {value}"}


async def step1(client: Client, username: str = "ann", pool: str = POOL_A) -> dict[str, Any]:
    resp = await client.get(
        f"/api/v2/pools/{pool}/connect/", headers=jwt(await token(client, username))
    )
    assert resp.status == 202, await resp.text()
    data: dict[str, Any] = (await resp.json())["data"]
    return data


async def login(client: Client, username: str = "ann") -> aiohttp.ClientResponse:
    return await client.post(LOGIN, json={"username": username, "password": "x", "ldap": False})


async def advance(client: Client, seconds: float) -> None:
    """Advance through the control API: it answers once the frames reached the sockets."""
    resp = await client.post("/service/clock/", json={"advance_s": seconds})
    assert resp.status == 200


async def open_ws(client: Client, username: str = "ann") -> ClientWebSocketResponse:
    user_id = ANN if username == "ann" else BEN
    return await client.ws_connect(
        f"/api/v2/pools/ws/{user_id}/", headers={"Cookie": f"JWT {await token(client, username)}"}
    )


async def next_frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECEIVE_S)
    assert msg.type is WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


def frame(task: dict[str, Any], status: str) -> dict[str, Any]:
    return {"status": status, "id": task["id"], "kind": task["kind"]}


async def ws_frames(client: Client) -> list[dict[str, Any]]:
    return [entry["frame"] for entry in await journal(client, "ws")]


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate`` holds (the request reached the server)."""
    async with asyncio.timeout(RECEIVE_S):  # a safety net only: it normally takes a few turns
        for _ in range(100_000):
            if predicate():
                return
            await asyncio.sleep(0)
    raise AssertionError("never happened")


# -- HTTP: status ---------------------------------------------------------------------------------


async def test_status_answers_the_error_shape_with_a_fitting_msg_instead_of_the_handler(
    client: Client,
) -> None:
    await add(client, id="pools-down", method="GET", path="/api/v2/pools/", status=503)
    resp = await client.get("/api/v2/pools/", headers=jwt(await token(client, "ann")))
    assert resp.status == 503
    assert resp.headers["www-authenticate"] == "JWT"
    assert resp.headers["content-type"] == "application/json"
    assert await resp.read() == (
        b'{"detail":[{"msg":"Service Unavailable.","err_code":999,"type":"default"}]}'
    )


@pytest.mark.parametrize(
    ("status", "msg"),
    [
        (401, "Invalid Credentials."),
        (403, "Permission denied."),
        (404, "Not found."),
        (500, "Internal server error."),
        (429, "Too Many Requests."),
        (502, "Bad Gateway."),
        (504, "Gateway Timeout."),
        (599, "Error."),
    ],
)
def test_the_default_msg_is_the_catalogues_or_the_status_phrase(status: int, msg: str) -> None:
    assert default_message(status) == msg


async def test_status_with_a_body_and_headers_answers_them(client: Client) -> None:
    await add(
        client,
        path="/api/v2/version/",
        status=429,
        body={"detail": "slow down"},
        headers={"Retry-After": "7"},
    )
    resp = await client.get("/api/v2/version/")
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["www-authenticate"] == "JWT"
    assert await resp.read() == b'{"detail":"slow down"}'


async def test_a_text_body_under_a_non_json_content_type_is_sent_as_written(
    client: Client,
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    await add(
        client,
        path="/api/v2/version/",
        status=502,
        body=page,
        headers={"Content-Type": "text/html"},
    )
    resp = await client.get("/api/v2/version/")
    assert (resp.status, resp.headers["content-type"], await resp.text()) == (
        502,
        "text/html",
        page,
    )


async def test_a_status_fault_leaves_the_world_alone(client: Client) -> None:
    await add(client, path="/api/v2/pools/*/connect/", status=503, count=1)
    resp = await client.get(
        f"/api/v2/pools/{POOL_A}/connect/", headers=jwt(await token(client, "ann"))
    )
    assert resp.status == 503
    assert client.app[RUNTIME].world.tasks == {}  # the handler never ran


# -- HTTP: delay ----------------------------------------------------------------------------------


async def test_delay_on_a_manual_clock_answers_only_after_an_advance_covers_it(
    client: Client,
) -> None:
    await add(client, path=LOGIN, delay_s=5)
    faults, clock = client.app[FAULTS], client.app[CLOCK]
    answer = asyncio.create_task(login(client))
    await until(lambda: faults.sleeping == 1)

    clock.advance(4.9)
    # A full round trip: had the login been released, it would have had every chance to answer.
    assert (await client.get("/service/clock/")).status == 200
    assert not answer.done()
    assert faults.sleeping == 1

    async def advance_the_rest() -> None:
        clock.advance(0.1)

    await asyncio.create_task(advance_the_rest())
    resp = await answer
    assert resp.status == 200
    assert faults.sleeping == 0


async def test_delay_then_the_handler_runs_at_the_later_scenario_time(client: Client) -> None:
    await add(client, path="/api/v2/pools/*/connect/", delay_s=30)
    clock = client.app[CLOCK]
    start = clock.time()
    answer = asyncio.create_task(step1(client))
    await until(lambda: client.app[FAULTS].sleeping == 1)
    clock.advance(30)
    task = await answer
    created = client.app[RUNTIME].world.tasks
    assert len(created) == 1
    assert next(iter(created.values())).created.timestamp() == pytest.approx(start + 30)
    assert task["status"] == "PENDING"


async def test_delay_with_status_is_a_slow_error(client: Client) -> None:
    await add(client, path="/api/v2/version/", delay_s=2, status=504)
    answer = asyncio.create_task(client.get("/api/v2/version/"))
    await until(lambda: client.app[FAULTS].sleeping == 1)
    client.app[CLOCK].advance(2)
    assert (await answer).status == 504


async def test_a_reset_releases_a_delayed_request(client: Client) -> None:
    await add(client, path="/api/v2/version/", delay_s=1000)
    answer = asyncio.create_task(client.get("/api/v2/version/"))
    await until(lambda: client.app[FAULTS].sleeping == 1)
    await client.post("/service/reset/")
    assert (await answer).status == 200


# -- HTTP: drop -----------------------------------------------------------------------------------


async def test_drop_disconnects_after_the_handler_ran_and_logs_no_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await add(client, id="lost", path="/api/v2/pools/*/connect/", drop=True, count=1)
    headers = jwt(await token(client, "ann"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get(f"/api/v2/pools/{POOL_A}/connect/", headers=headers)

    # The task was created, exactly as with an answer lost on the network: asking again
    # answers the same task.
    tasks = list(client.app[RUNTIME].world.tasks.values())
    assert len(tasks) == 1
    again = await client.get(f"/api/v2/pools/{POOL_A}/connect/", headers=headers)
    assert again.status == 202
    assert (await again.json())["data"]["id"] == str(tasks[0].id)

    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    path = f"/api/v2/pools/{POOL_A}/connect/"
    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "lost", "action": "drop", "user": "ann", "method": "GET",
         "path": path, "status": 202, "handled": True},
    ]  # fmt: skip
    http = [e for e in await journal(client, "http") if e["path"] == path]
    assert http == [
        {"kind": "http", "method": "GET", "path": path, "status": 202, "user": "ann",
         "fault": "lost", "dropped": True},
        {"kind": "http", "method": "GET", "path": path, "status": 202, "user": "ann"},
    ]  # fmt: skip


async def test_drop_of_a_websocket_handshake_never_opens_the_socket(client: Client) -> None:
    await add(client, id="no-ws", path="/api/v2/pools/ws/*/", drop=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await open_ws(client)
    assert client.app[HUB].peers() == []
    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "no-ws", "action": "drop", "user": "ann", "method": "GET",
         "path": f"/api/v2/pools/ws/{ANN}/", "status": None, "handled": False},
    ]  # fmt: skip


async def test_status_on_a_websocket_handshake_refuses_it(client: Client) -> None:
    await add(client, path="/api/v2/pools/ws/*/", status=503, count=1)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_ws(client)
    assert refused.value.status == 503
    ws = await open_ws(client)  # spent: the next handshake goes through
    await ws.close()


# -- WebSockets: close ----------------------------------------------------------------------------


async def test_close_after_the_first_running_frame_closes_the_users_sockets_with_the_code(
    client: Client,
) -> None:
    ann, ben = await open_ws(client, "ann"), await open_ws(client, "ben")
    await add(client, id="restart", user="ann", frame_status="RUNNING", close=1012, count=1)
    task = await step1(client)
    await advance(client, 3)

    assert await next_frame(ann) == frame(task, "RUNNING")  # the frame first, then the close
    closing = await ann.receive(timeout=RECEIVE_S)
    assert closing.type is WSMsgType.CLOSE
    assert ann.close_code == 1012
    await ben.send_str("still here")  # ben's socket stays open
    assert (await ben.receive(timeout=RECEIVE_S)).data == "User ben sent: still here"
    await ben.close()

    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "restart", "action": "close", "user": "ann",
         "frame": frame(task, "RUNNING"), "code": 1012, "sockets": 1},
    ]  # fmt: skip


async def test_a_close_fault_acts_only_on_frames_that_reach_a_socket(client: Client) -> None:
    await add(client, user="ann", close=1011, count=1)
    task = await step1(client)
    await advance(client, 3)  # no socket: RUNNING passes, the fault stays unspent
    assert (await listed(client))[0]["remaining"] == 1
    ws = await open_ws(client)
    await advance(client, 10)
    assert await next_frame(ws) == frame(task, "COMPLETED")
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.CLOSE
    assert ws.close_code == 1011


# -- WebSockets: lose_frames ----------------------------------------------------------------------


async def test_lose_frames_loses_the_frame_but_the_task_still_changes_state(
    client: Client,
) -> None:
    ws = await open_ws(client)
    await add(client, id="lossy", user="ann", lose_frames=1, count=1)
    task = await step1(client)
    await advance(client, 3)
    await advance(client, 10)

    assert await next_frame(ws) == frame(task, "COMPLETED")  # RUNNING never came
    resp = await client.get(f"/api/v2/tasks/{task['id']}/", headers=jwt(await token(client, "ann")))
    assert (await resp.json())["data"]["status"] == "COMPLETED"
    assert await ws_frames(client) == [frame(task, "COMPLETED")]
    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "lossy", "action": "lose_frames", "user": "ann",
         "frame": frame(task, "RUNNING"), "left": 0},
    ]  # fmt: skip
    await ws.close()


async def test_lose_frames_n_loses_the_next_n_frames_of_that_user(client: Client) -> None:
    ann, ben = await open_ws(client, "ann"), await open_ws(client, "ben")
    await add(client, user="ann", lose_frames=3, count=1)
    expand = await step1(client)
    bens = await step1(client, "ben")
    await advance(client, 13)  # ann loses RUNNING and COMPLETED; ben loses nothing
    assert await next_frame(ben) == frame(bens, "RUNNING")
    assert await next_frame(ben) == frame(bens, "COMPLETED")

    second = await step1(client, "ann", POOL_B)
    await advance(client, 13)  # the third lost frame, then the burst is over
    assert await next_frame(ann) == frame(second, "COMPLETED")
    lost = [(e["frame"], e["left"]) for e in await journal(client, "fault")]
    assert lost == [
        (frame(expand, "RUNNING"), 2),
        (frame(expand, "COMPLETED"), 1),
        (frame(second, "RUNNING"), 0),
    ]
    await ann.close()
    await ben.close()


async def test_lose_frames_with_close_loses_the_frame_and_closes(client: Client) -> None:
    ws = await open_ws(client)
    await add(client, user="ann", lose_frames=1, close=1011, count=1)
    await step1(client)
    await advance(client, 3)
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.CLOSE  # no RUNNING first
    assert ws.close_code == 1011


# -- WebSockets: delay_frames_s -------------------------------------------------------------------


async def test_delay_frames_holds_a_frame_on_the_scenario_clock(client: Client) -> None:
    ws = await open_ws(client)
    await add(client, id="late", user="ann", frame_status="RUNNING", delay_frames_s=5)
    task = await step1(client)
    await advance(client, 3)
    assert await ws_frames(client) == []  # RUNNING happened, but is held
    await advance(client, 4.9)
    assert await ws_frames(client) == []
    await advance(client, 0.1)
    assert await next_frame(ws) == frame(task, "RUNNING")
    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "late", "action": "delay_frames_s", "user": "ann",
         "frame": frame(task, "RUNNING"), "delay_frames_s": 5.0},
    ]  # fmt: skip
    await ws.close()


async def test_frames_behind_a_held_frame_wait_for_it_and_keep_their_order(
    client: Client,
) -> None:
    ws = await open_ws(client)
    await add(client, user="ann", frame_status="RUNNING", delay_frames_s=20, count=1)
    task = await step1(client)
    await advance(client, 13)  # RUNNING at 3 (held until 23), COMPLETED at 13
    assert await ws_frames(client) == []
    await advance(client, 10)
    assert await next_frame(ws) == frame(task, "RUNNING")
    assert await next_frame(ws) == frame(task, "COMPLETED")
    await ws.close()


async def test_delay_frames_with_close_closes_after_the_held_frame(client: Client) -> None:
    ws = await open_ws(client)
    await add(client, user="ann", frame_status="RUNNING", delay_frames_s=2, close=4001)
    task = await step1(client)
    await advance(client, 3)
    await advance(client, 2)
    assert await next_frame(ws) == frame(task, "RUNNING")
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.CLOSE
    assert ws.close_code == 4001


# -- matching -------------------------------------------------------------------------------------


async def test_method_matches_only_that_method(client: Client) -> None:
    await add(client, method="post", path="/api/v2/pools/*/connect/", status=503)
    assert (await listed(client))[0]["method"] == "POST"
    await step1(client)  # GET: untouched
    resp = await client.post(
        f"/api/v2/pools/{POOL_A}/connect/",
        headers=jwt(await token(client, "ann")),
        json=STEP2,
    )
    assert resp.status == 503


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/api/v2/pools/*/connect/", f"/api/v2/pools/{POOL_A}/connect/", True),
        ("/api/v2/pools/*/connect/", "/api/v2/pools/", False),
        ("/api/v2/pools/*/connect/", f"/api/v2/pools/x/{POOL_A}/connect/", False),
        ("/api/v2/pools/*/", "/api/v2/pools/ws/", True),
        ("/api/v2/**", f"/api/v2/pools/{POOL_A}/connect/", True),
        ("/api/v2/users/log*/", "/api/v2/users/login/", True),
        ("/api/v2/users/log*/", "/api/v2/users/logout/x/", False),
        ("/api/v2/version/", "/api/v2/version", False),
        ("/api/v2/pools/(x)/", "/api/v2/pools/(x)/", True),
    ],
)
def test_path_patterns_star_is_one_segment_double_star_anything(
    pattern: str, path: str, matches: bool
) -> None:
    assert bool(compile_path(pattern).fullmatch(path)) is matches


async def test_path_matches_by_pattern(client: Client) -> None:
    await add(client, path="/api/v2/pools/*/connect/", status=503)
    headers = jwt(await token(client, "ann"))
    assert (await client.get("/api/v2/pools/", headers=headers)).status == 200
    resp = await client.get(f"/api/v2/pools/{POOL_B}/connect/", headers=headers)
    assert resp.status == 503


@pytest.mark.parametrize("ref", ["ann", ANN, ANN.upper().replace("-", "")])
async def test_user_matches_by_name_or_id_from_the_token(client: Client, ref: str) -> None:
    await add(client, path="/api/v2/pools/", user=ref, status=503)
    assert (
        await client.get("/api/v2/pools/", headers=jwt(await token(client, "ben")))
    ).status == 200
    assert (
        await client.get("/api/v2/pools/", headers=jwt(await token(client, "ann")))
    ).status == 503
    # Without a token nobody is known: a user fault does not match.
    assert (await client.get("/api/v2/pools/")).status == 403


async def test_user_of_a_login_is_the_username_in_its_body(client: Client) -> None:
    await add(client, id="ann-cannot-login", path=LOGIN, user="ann", status=503)
    assert (await login(client, "ben")).status == 200
    assert (await login(client, "ann")).status == 503
    entry = (await journal(client, "http"))[-1]
    assert (entry["user"], entry["status"], entry["fault"]) == ("ann", 503, "ann-cannot-login")


async def test_user_of_a_websocket_is_the_cookies(client: Client) -> None:
    await add(client, path="/api/v2/pools/ws/*/", user="ben", status=503)
    ws = await open_ws(client, "ann")
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await open_ws(client, "ben")


async def test_user_matches_frames_of_that_user_only(client: Client) -> None:
    ann, ben = await open_ws(client, "ann"), await open_ws(client, "ben")
    await add(client, user="ben", lose_frames=1)
    task = await step1(client, "ann")
    await advance(client, 3)
    assert await next_frame(ann) == frame(task, "RUNNING")
    await ann.close()
    await ben.close()


async def test_frame_status_and_frame_kind_match_frames(client: Client) -> None:
    ws = await open_ws(client)
    await add(client, frame_kind="GLINT_START", lose_frames=1)
    await add(client, frame_status="COMPLETED", lose_frames=1)
    expand = await step1(client)
    await advance(client, 13)
    assert await next_frame(ws) == frame(expand, "RUNNING")  # COMPLETED lost
    resp = await client.post(
        f"/api/v2/pools/{POOL_A}/connect/",
        headers=jwt(await token(client, "ann")),
        json=STEP2,
    )
    assert resp.status == 202
    await advance(client, 13)  # GLINT_START's RUNNING and COMPLETED: both lost
    assert [
        (e["fault"], e["frame"]["kind"], e["frame"]["status"])
        for e in await journal(client, "fault")
    ] == [
        ("fault-2", "POOL_EXPAND", "COMPLETED"),
        ("fault-1", "GLINT_START", "RUNNING"),
        ("fault-1", "GLINT_START", "COMPLETED"),
    ]
    await ws.close()


async def test_the_first_matching_fault_wins(client: Client) -> None:
    await add(client, path="/api/v2/version/", status=502, count=1)
    await add(client, path="/api/v2/**", status=503)
    statuses = [(await client.get("/api/v2/version/")).status for _ in range(2)]
    assert statuses == [502, 503]


async def test_service_routes_are_never_faulted(client: Client) -> None:
    await add(client, path="/**", status=503)
    assert (await client.get("/api/v2/version/")).status == 503
    assert (await client.get(FAULTS_PATH)).status == 200
    assert (await client.delete(FAULTS_PATH)).status == 204
    assert (await client.get("/api/v2/version/")).status == 200


# -- count and probability ------------------------------------------------------------------------


async def test_count_spends_the_fault_and_the_list_shows_what_is_left(client: Client) -> None:
    await add(client, id="burst", path="/api/v2/version/", status=503, count=2)
    assert (await listed(client))[0]["remaining"] == 2
    statuses = [(await client.get("/api/v2/version/")).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    (fault,) = await listed(client)
    assert (fault["id"], fault["remaining"], fault["hits"]) == ("burst", 0, 2)


async def coin_flips(make: MakeClient, seed: int, n: int = 40) -> list[bool]:
    """Which of ``n`` version requests a probability-0.5 fault hit, on a fresh server."""
    client = await make(
        '[[faults]]\nid = "coin"\npath = "/api/v2/version/"\nstatus = 503\nprobability = 0.5\n',
        seed=seed,
    )
    return [(await client.get("/api/v2/version/")).status == 503 for _ in range(n)]


async def test_probability_is_seeded_same_seed_same_faulted_requests(make: MakeClient) -> None:
    first = await coin_flips(make, seed=11)
    assert await coin_flips(make, seed=11) == first
    assert await coin_flips(make, seed=12) != first
    assert 5 < sum(first) < 35  # a coin, not a constant


async def test_probability_zero_never_fires_and_one_always(client: Client) -> None:
    await add(client, path="/api/v2/version/", status=503, probability=0)
    await add(client, path="/api/v2/version/", status=502, probability=1)
    assert {(await client.get("/api/v2/version/")).status for _ in range(5)} == {502}


async def test_probability_draws_never_shift_task_outcomes(make: MakeClient) -> None:
    async def task_after_faulted_traffic(with_fault: bool) -> dict[str, Any]:
        client = await make()
        if with_fault:
            await add(client, path="/api/v2/version/", status=503, probability=0.5)
        for _ in range(10):
            await client.get("/api/v2/version/")
        return await step1(client)

    assert (await task_after_faulted_traffic(True))["id"] == (
        await task_after_faulted_traffic(False)
    )["id"]


# -- the control routes ---------------------------------------------------------------------------


async def test_post_answers_201_with_the_fault_and_a_generated_id(client: Client) -> None:
    resp = await client.post(FAULTS_PATH, json={"path": "/api/v2/version/", "status": 503})
    assert resp.status == 201
    assert await resp.json() == {
        "data": {
            "id": "fault-1", "method": None, "path": "/api/v2/version/", "user": None,
            "frame_status": None, "frame_kind": None, "probability": 1.0, "count": None,
            "delay_s": None, "status": 503, "body": None, "headers": None, "drop": False,
            "reset": False, "hang": False, "truncate": None, "trickle_bps": None,
            "proxy_error": None,
            "close": None, "lose_frames": None, "delay_frames_s": None, "abort": False,
            "deaf": False, "remaining": None, "hits": 0,
        }
    }  # fmt: skip
    second = await add(client, path="/api/v2/version/", delay_s=1)
    assert second["id"] == "fault-2"
    assert [fault["id"] for fault in await listed(client)] == ["fault-1", "fault-2"]


async def test_post_with_an_id_in_use_is_409(client: Client) -> None:
    await add(client, id="x", path="/api/v2/version/", status=503)
    resp = await client.post(FAULTS_PATH, json={"id": "x", "path": "/", "status": 500})
    assert resp.status == 409
    assert resp.headers["www-authenticate"] == "JWT"
    assert len(await listed(client)) == 1


async def test_post_invalid_is_422_in_pydantics_exact_shape(client: Client) -> None:
    resp = await client.post(
        FAULTS_PATH, json={"path": "/api/v2/version/", "status": 503, "probability": 2}
    )
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [
            {"type": "less_than_equal", "loc": ["body", "probability"],
             "msg": "Input should be less than or equal to 1", "input": 2, "ctx": {"le": 1},
             "err_code": 999},
        ]
    }  # fmt: skip


async def test_post_without_an_action_is_422_naming_the_actions(client: Client) -> None:
    resp = await client.post(FAULTS_PATH, json={"path": "/api/v2/version/", "colour": "red"})
    assert resp.status == 422
    body = await resp.json()
    assert [(item["type"], item["loc"]) for item in body["detail"]] == [
        ("extra_forbidden", ["body", "colour"])
    ]
    resp = await client.post(FAULTS_PATH, json={"path": "/api/v2/version/"})
    (item,) = (await resp.json())["detail"]
    assert (item["type"], item["loc"], item["ctx"]) == ("value_error", ["body"], {"error": {}})
    assert item["msg"].startswith(
        "Value error, no action: give delay_s, status, drop, reset, hang, truncate, trickle_bps"
        " or proxy_error (HTTP), or close, lose_frames, delay_frames_s, abort or deaf"
    )


async def test_post_with_an_unknown_user_is_422(client: Client) -> None:
    resp = await client.post(FAULTS_PATH, json={"user": "nobody", "close": 1011})
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [
            {"type": "value_error", "loc": ["body", "user"],
             "msg": "Value error, unknown user 'nobody'", "input": "nobody",
             "ctx": {"error": {}}, "err_code": 999},
        ]
    }  # fmt: skip
    assert await listed(client) == []


async def test_delete_one_removes_it_and_an_unknown_id_is_404(client: Client) -> None:
    await add(client, id="a", path="/api/v2/version/", status=503)
    await add(client, id="b", path="/api/v2/version/", status=502)
    assert (await client.delete(f"{FAULTS_PATH}a/")).status == 204
    assert [fault["id"] for fault in await listed(client)] == ["b"]
    assert (await client.get("/api/v2/version/")).status == 502
    resp = await client.delete(f"{FAULTS_PATH}a/")
    assert resp.status == 404
    assert await resp.json() == {
        "detail": [{"msg": "Not found.", "err_code": 999, "type": "default"}]
    }


async def test_delete_all_removes_every_fault(client: Client) -> None:
    await add(client, path="/api/v2/version/", status=503)
    await add(client, user="ann", lose_frames=1)
    assert (await client.delete(FAULTS_PATH)).status == 204
    assert await listed(client) == []
    assert (await client.get("/api/v2/version/")).status == 200


async def test_removing_a_fault_stops_its_loss_burst(client: Client) -> None:
    ws = await open_ws(client)
    await add(client, id="burst", user="ann", lose_frames=5, count=1)
    await step1(client)
    await advance(client, 3)  # RUNNING lost, four to go
    assert (await client.delete(f"{FAULTS_PATH}burst/")).status == 204
    await advance(client, 10)
    assert (await next_frame(ws))["status"] == "COMPLETED"
    await ws.close()


async def test_requests_skip_the_faults_only_while_none_can_act_on_http(client: Client) -> None:
    # Every request asks FaultEngine.on_http first; it must turn on with the first live HTTP
    # fault and off once the last is spent or removed (frame faults never count).
    engine = client.app[FAULTS]
    assert not engine.on_http
    await add(client, user="ann", lose_frames=1)
    assert not engine.on_http
    await add(client, id="once", path="/api/v2/version/", status=503, count=1)
    assert engine.on_http
    assert (await client.get("/api/v2/version/")).status == 503
    assert not engine.on_http  # spent
    assert (await client.get("/api/v2/version/")).status == 200
    await add(client, id="gone", path="/api/v2/version/", status=502)
    assert engine.on_http
    assert (await client.delete(f"{FAULTS_PATH}gone/")).status == 204
    assert not engine.on_http
    await add(client, path="/api/v2/version/", status=502)
    assert (await client.delete(FAULTS_PATH)).status == 204
    assert not engine.on_http
    assert (await client.get("/api/v2/version/")).status == 200


# -- the journal ----------------------------------------------------------------------------------


async def test_every_injected_fault_is_journaled_with_the_request_it_hit(
    client: Client,
) -> None:
    await add(client, id="slow", path="/api/v2/pools/", delay_s=1, status=503)
    answer = asyncio.create_task(
        client.get("/api/v2/pools/", headers=jwt(await token(client, "ann")))
    )
    await until(lambda: client.app[FAULTS].sleeping == 1)
    client.app[CLOCK].advance(1)
    assert (await answer).status == 503
    request = {"user": "ann", "method": "GET", "path": "/api/v2/pools/"}
    assert await journal(client, "fault") == [
        {"kind": "fault", "fault": "slow", "action": "delay_s", **request, "delay_s": 1.0},
        {"kind": "fault", "fault": "slow", "action": "status", **request, "status": 503},
    ]
    assert (await journal(client, "http"))[-1] == {
        "kind": "http", "method": "GET", "path": "/api/v2/pools/", "status": 503,
        "user": "ann", "fault": "slow",
    }  # fmt: skip


# -- scenario faults and reset --------------------------------------------------------------------

SCENARIO_FAULTS = """
[[faults]]
path = "/api/v2/version/"
status = 503
count = 1

[[faults]]
id = "ann-restart"
user = "ann"
frame_status = "RUNNING"
close = 1012
"""


async def test_scenario_faults_load_with_generated_ids(make: MakeClient) -> None:
    client = await make(SCENARIO_FAULTS)
    faults = await listed(client)
    assert [(f["id"], f["remaining"]) for f in faults] == [("fault-1", 1), ("ann-restart", None)]


async def test_reset_restores_the_scenarios_faults(make: MakeClient) -> None:
    client = await make(SCENARIO_FAULTS)
    assert (await client.get("/api/v2/version/")).status == 503  # spends fault-1
    await add(client, path="/api/v2/pools/", status=500)
    assert (await client.delete(f"{FAULTS_PATH}ann-restart/")).status == 204

    assert (await client.post("/service/reset/")).status == 200
    faults = await listed(client)
    assert [(f["id"], f["remaining"], f["hits"]) for f in faults] == [
        ("fault-1", 1, 0),
        ("ann-restart", None, 0),
    ]
    assert (await client.get("/api/v2/version/")).status == 503


async def test_a_new_scenario_brings_its_own_faults(make: MakeClient) -> None:
    client = await make(SCENARIO_FAULTS)
    resp = await client.put(
        "/service/scenario/",
        data=WORLD + '[[faults]]\nid = "only"\npath = "/"\ndrop = true\n',
        headers={"content-type": "application/toml"},
    )
    assert resp.status == 200
    assert [fault["id"] for fault in await listed(client)] == ["only"]


# -- the shipped flaky-network world --------------------------------------------------------------

FLAKY = default_scenario_path().with_name("flaky-network.toml")


def test_flaky_network_loads_with_a_fault_of_every_kind() -> None:
    scenario = load_scenario(FLAKY)
    specs = scenario.faults
    assert any(spec.delay_s and spec.path == LOGIN for spec in specs)
    assert any(spec.status == 503 and spec.count for spec in specs)
    assert any(spec.close and spec.frame_status == "RUNNING" for spec in specs)
    assert any(spec.lose_frames for spec in specs)
    assert any(spec.drop for spec in specs)


async def test_flaky_network_serves_a_503_burst_on_the_pools_list(
    aiohttp_client: AiohttpClient,
) -> None:
    settings = Settings(jwt_secret=SECRET, clock="manual", scenario=Path(FLAKY))
    client = await aiohttp_client(create_app(settings))
    headers = jwt(await token(client, "carol"))
    statuses = [(await client.get("/api/v2/pools/", headers=headers)).status for _ in range(4)]
    assert statuses == [503, 503, 503, 200]


def test_faults_are_part_of_the_scenario_schema_and_strict() -> None:
    schema = Scenario.model_json_schema()
    assert schema["properties"]["faults"]["items"] == {"$ref": "#/$defs/FaultSpec"}
    assert schema["$defs"]["FaultSpec"]["additionalProperties"] is False


# -- the README's examples ------------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
README_SECTION = "## Testing your client against a flaky backend"


def readme_blocks(fence: str) -> list[str]:
    """The ``fence`` code blocks of the README's flaky-backend section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(README_SECTION) :]
    section = section[: section.index("\n## ", len(README_SECTION))]
    return re.findall(rf"```{fence}\n(.*?)```", section, flags=re.DOTALL)


def test_the_readmes_toml_example_is_a_valid_fault_of_every_action() -> None:
    (toml,) = readme_blocks("toml")
    happy_path = default_scenario_path().with_name("happy-path.toml").read_text(encoding="utf-8")
    faults = parse_text(happy_path + "\n" + toml, "toml").faults
    actions = {name for fault in faults for name in HTTP_ACTIONS + WS_ACTIONS if fault.has(name)}
    assert actions == set(HTTP_ACTIONS + WS_ACTIONS)


async def test_the_readmes_curl_examples_add_the_same_faults(aiohttp_client: AiohttpClient) -> None:
    (shell,) = readme_blocks("sh")
    bodies = [json.loads(body) for body in re.findall(r"-d '(\{.*\})'", shell)]
    (toml,) = readme_blocks("toml")
    happy_path = default_scenario_path().with_name("happy-path.toml")
    settings = Settings(jwt_secret=SECRET, clock="manual", scenario=happy_path)
    client = await aiohttp_client(create_app(settings))
    for body in bodies:
        await add(client, **body)
    added = [
        {k: v for k, v in f.items() if k not in ("id", "remaining", "hits")}
        for f in await listed(client)
    ]
    from_toml = parse_text(happy_path.read_text(encoding="utf-8") + "\n" + toml, "toml").faults
    assert added == [fault.model_dump(mode="json", exclude={"id"}) for fault in from_toml]


async def test_the_tool_pages_are_never_faulted_nor_journaled(client: Client) -> None:
    catch_all = {"id": "everything", "status": 503}
    resp = await client.post("/service/faults/", json=catch_all)
    assert resp.status == 201, await resp.text()
    assert (await client.get("/api/v2/health/")).status == 503
    for path in ("/", "/openapi.json", "/asyncapi.json", "/docs"):
        assert (await client.get(path)).status == 200, path
    journal = await (await client.get("/service/journal/")).json()
    paths = [entry.get("path") for entry in journal["entries"] if entry["kind"] == "http"]
    assert paths == ["/service/faults/", "/api/v2/health/"]
