"""The control API under /service/ (issue 4): the clock, reset, the scenario, forced task
transitions, tokens and the journal.

Time is the manual scenario clock: a test advances it, and the control routes answer only after
the frames they caused were handed to the sockets, so ``receive(timeout=...)`` is a safety net,
never a wait.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from datetime import datetime
from typing import Any

import jwt
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.clock import iso_z
from mockapi.domain.limits import LIMITS
from mockapi.domain.scenario import ClientSettingsSection, default_scenario_path, parse_scenario
from mockapi.keys import CLOCK, HUB, RUNTIME, TOKENS
from mockapi.settings import Settings
from mockapi.statemachines.task import Task
from tests.answers import (
    ADFS_REQUIRED,
    HARDWARE_TOKEN_REQUIRED,
    INVALID_CREDENTIALS,
    OTP_REQUIRED,
    PERMISSION_DENIED,
    USER_IDS,
    Answer,
    app_error,
    compact,
    expect,
    invalid,
    item,
    login_body,
)
from tests.conftest import SECRET
from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, login

START = "2026-11-25T07:45:16.710622Z"
LIMIT_KEYS = [limit.key for limit in LIMITS]
CLOCK_PATH = "/service/clock/"
RECEIVE_S = 5.0


def build_app(settings: Settings, **scenario_settings: Any) -> web.Application:
    """The default world starting at :data:`START`, where astravdi's expands all complete;
    ``scenario_settings`` change more of its ``[settings]``."""
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["settings"]["start"] = START
    data["settings"].update(scenario_settings)
    data["rules"] = [
        {"user": "astravdi", "kind": "POOL_EXPAND", "outcome": "COMPLETED",
         "pending_s": 3, "running_s": 10},
        *data.get("rules", []),
    ]  # fmt: skip
    return create_app(settings, scenario=parse_scenario(data))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    return await aiohttp_client(build_app(settings))


def expand(client: Client, pool_name: str) -> Task:
    """Step 1 for astravdi straight through the runtime (no dependency on the pools routes)."""
    rt = client.app[RUNTIME]
    user, pool = rt.world.user("astravdi"), rt.world.pool(pool_name)
    assert user is not None
    assert pool is not None
    _, task = rt.request_machine(user, pool)
    assert isinstance(task, Task)
    return task


def view(now: str, mode: str = "manual", time_scale: float = 1.0) -> dict[str, Any]:
    return {"now": now, "mode": mode, "time_scale": time_scale}


def error(type_: str, loc: list[Any], msg: str, input_: Any, **ctx: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "input": input_}
    if ctx:
        item["ctx"] = ctx
    item["err_code"] = 999
    return item


async def post_clock(client: Client, body: Any) -> tuple[int, Any]:
    resp = await client.post(CLOCK_PATH, json=body)
    assert resp.headers["content-type"] == "application/json"
    return resp.status, await resp.json()


# -- reading ---------------------------------------------------------------------------------
async def test_get_shows_now_mode_and_scale_in_the_exact_form(client: Client) -> None:
    resp = await client.get(CLOCK_PATH)
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert await resp.text() == (
        '{"now":"2026-11-25T07:45:16.710622Z","mode":"manual","time_scale":1.0}'
    )


async def test_get_on_the_default_scenario_shows_the_clocks_own_time(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    body = await (await client.get(CLOCK_PATH)).json()
    assert body == view(iso_z(client.app[CLOCK].now()))
    assert body["now"].endswith("Z")


# -- advancing -------------------------------------------------------------------------------
async def test_advance_moves_a_manual_clock_and_answers_the_new_view(client: Client) -> None:
    assert await post_clock(client, {"advance_s": 90}) == (
        200,
        view("2026-11-25T07:46:46.710622Z"),
    )
    assert await post_clock(client, {"advance_s": 0.289378}) == (
        200,
        view("2026-11-25T07:46:47Z"),
    )
    assert await (await client.get(CLOCK_PATH)).json() == view("2026-11-25T07:46:47Z")


async def test_advance_zero_changes_nothing(client: Client) -> None:
    assert await post_clock(client, {"advance_s": 0}) == (200, view(START))


async def test_advance_fires_every_due_transition_in_time_order(client: Client) -> None:
    tasks = [expand(client, "pool-win-1"), expand(client, "pool-astra-1")]

    assert (await post_clock(client, {"advance_s": 13}))[0] == 200
    for task in tasks:
        assert task.state == "COMPLETED"
        assert task.started is not None
        assert task.finished is not None
        assert iso_z(task.started) == "2026-11-25T07:45:19.710622Z"
        assert iso_z(task.finished) == "2026-11-25T07:45:29.710622Z"


async def test_advance_answers_after_its_frames_reached_the_open_sockets(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    app = build_app(settings)
    at_answer: list[list[tuple[int, int]]] = []

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        if request.path == CLOCK_PATH and request.method == "POST":
            at_answer.append([(p.accepted, p.handled) for p in app[HUB].peers()])

    app.on_response_prepare.append(record)
    client = await aiohttp_client(app)
    user = client.app[RUNTIME].world.user("astravdi")
    assert user is not None
    token = client.app[TOKENS].issue(user.id, user.username, user.roles)
    sockets = [
        await client.ws_connect(
            f"/api/v2/pools/ws/{ASTRAVDI_ID}/", headers={"Cookie": f"JWT {token}"}
        )
        for _ in range(2)
    ]
    task = expand(client, "pool-win-1")

    assert (await post_clock(client, {"advance_s": 13}))[0] == 200
    # When the answer went out, both frames were already written to both sockets.
    assert at_answer == [[(2, 2), (2, 2)]]
    for ws in sockets:
        for status in ("RUNNING", "COMPLETED"):
            msg = await ws.receive(timeout=RECEIVE_S)
            assert msg.type is WSMsgType.TEXT
            assert msg.data == f'{{"status":"{status}","id":"{task.id}","kind":"POOL_EXPAND"}}'


async def test_advance_in_real_mode_jumps_ahead(client: Client) -> None:
    status, body = await post_clock(client, {"mode": "real"})
    assert (status, body["mode"]) == (200, "real")
    before = client.app[CLOCK].time()
    status, body = await post_clock(client, {"advance_s": 3600})
    assert (status, body["mode"]) == (200, "real")
    now = datetime.fromisoformat(body["now"]).timestamp()
    assert now >= before + 3600
    assert now < before + 3600 + 60  # jumped an hour, not more


# -- switching -------------------------------------------------------------------------------
async def test_time_scale_and_mode_switch_and_show_in_the_view(client: Client) -> None:
    assert await post_clock(client, {"time_scale": 100}) == (200, view(START, time_scale=100.0))
    status, body = await post_clock(client, {"mode": "real"})
    assert (status, body["mode"], body["time_scale"]) == (200, "real", 100.0)
    status, body = await post_clock(client, {"mode": "manual", "time_scale": 0.5})
    assert (status, body["mode"], body["time_scale"]) == (200, "manual", 0.5)
    frozen = body["now"]
    assert await (await client.get(CLOCK_PATH)).json() == view(frozen, time_scale=0.5)


async def test_mode_and_scale_apply_before_an_advance_in_the_same_body(client: Client) -> None:
    status, body = await post_clock(client, {"advance_s": 60, "time_scale": 4, "mode": "manual"})
    assert (status, body) == (200, view("2026-11-25T07:46:16.710622Z", time_scale=4.0))


async def test_an_empty_object_changes_nothing(client: Client) -> None:
    assert await post_clock(client, {}) == (200, view(START))


async def test_switching_mode_keeps_pending_transitions(client: Client) -> None:
    task = expand(client, "pool-win-1")
    await post_clock(client, {"mode": "real", "time_scale": 1})
    await post_clock(client, {"mode": "manual"})
    assert task.state == "PENDING"
    await post_clock(client, {"advance_s": 3})
    assert task.state == "RUNNING"


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(
            {"advance_s": 1, "speed": 2},
            [error("extra_forbidden", ["body", "speed"], "Extra inputs are not permitted", 2)],
            id="unknown key",
        ),
        pytest.param(
            {"advance_s": -1},
            [error("greater_than_equal", ["body", "advance_s"],
                   "Input should be greater than or equal to 0", -1, ge=0)],
            id="negative advance",
        ),
        pytest.param(
            {"advance_s": None},
            [error("float_type", ["body", "advance_s"], "Input should be a valid number", None)],
            id="null advance",
        ),
        pytest.param(
            {"advance_s": "soon"},
            [error("float_parsing", ["body", "advance_s"],
                   "Input should be a valid number, unable to parse string as a number", "soon")],
            id="text advance",
        ),
        pytest.param(
            {"advance_s": 1e12},
            [error("less_than_equal", ["body", "advance_s"],
                   "Input should be less than or equal to 3155760000", 1e12,
                   le=3155760000)],
            id="advance past a century",
        ),
        pytest.param(
            {"time_scale": 0},
            [error("greater_than", ["body", "time_scale"], "Input should be greater than 0", 0,
                   gt=0)],
            id="zero scale",
        ),
        pytest.param(
            {"time_scale": -2},
            [error("greater_than", ["body", "time_scale"], "Input should be greater than 0", -2,
                   gt=0)],
            id="negative scale",
        ),
        pytest.param(
            {"time_scale": 10_001},
            [error("less_than_equal", ["body", "time_scale"],
                   "Input should be less than or equal to 10000", 10_001, le=10_000)],
            id="scale too fast",
        ),
        pytest.param(
            {"mode": "fast"},
            [error("literal_error", ["body", "mode"], "Input should be 'manual' or 'real'",
                   "fast", expected="'manual' or 'real'")],
            id="unknown mode",
        ),
        pytest.param(
            {"advance_s": -1, "time_scale": 0, "mode": "Manual"},
            [
                error("greater_than_equal", ["body", "advance_s"],
                      "Input should be greater than or equal to 0", -1, ge=0),
                error("greater_than", ["body", "time_scale"], "Input should be greater than 0",
                      0, gt=0),
                error("literal_error", ["body", "mode"], "Input should be 'manual' or 'real'",
                      "Manual", expected="'manual' or 'real'"),
            ],
            id="every error listed in field order",
        ),
        pytest.param(
            [],
            [error("model_attributes_type", ["body"],
                   "Input should be a valid dictionary or object to extract fields from", [])],
            id="not an object",
        ),
    ],
)  # fmt: skip
async def test_bad_bodies_are_422_and_change_nothing(
    client: Client, body: Any, detail: list[dict[str, Any]]
) -> None:
    assert await post_clock(client, body) == (422, {"detail": detail})
    assert await (await client.get(CLOCK_PATH)).json() == view(START)


async def test_a_missing_body_is_422(client: Client) -> None:
    resp = await client.post(CLOCK_PATH)
    assert resp.status == 422
    assert await resp.json() == {"detail": [error("missing", ["body"], "Field required", None)]}


@pytest.mark.parametrize("literal", ["Infinity", "NaN"])
async def test_non_finite_numbers_are_422(client: Client, literal: str) -> None:
    # Python's JSON parser accepts these literals; the clock must never see them.
    resp = await client.post(
        CLOCK_PATH,
        data=f'{{"advance_s":{literal}}}',
        headers={"content-type": "application/json"},
    )
    assert resp.status == 422
    detail = (await resp.json())["detail"]
    assert [(d["type"], d["loc"]) for d in detail] == [("finite_number", ["body", "advance_s"])]
    assert await (await client.get(CLOCK_PATH)).json() == view(START)


async def test_invalid_json_is_422(client: Client) -> None:
    resp = await client.post(
        CLOCK_PATH, data="{advance_s: 1}", headers={"content-type": "application/json"}
    )
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [
            error("json_invalid", ["body", 1], "JSON decode error", {},
                  error="Expecting property name enclosed in double quotes")
        ]
    }  # fmt: skip


# == the world (reset, scenario, forced transitions, tokens, journal) =========================
RESET_PATH = "/service/reset/"
SCENARIO_PATH = "/service/scenario/"
TOKENS_PATH = "/service/tokens/"
JOURNAL_PATH = "/service/journal/"
USER_1_TASK = "fabb9a84-ae96-4d07-b5a0-329ea70fa476"  # seeded, PENDING, no timers
USER_2_TASK = "22aaa425-6387-4767-9611-3c26ad1a6161"  # seeded, FAILED
UNKNOWN_TASK = "00000000-0000-4000-8000-000000000000"
NOT_FOUND = app_error(404, "Not found.", 999)
AT_3S = "2026-11-25T07:45:19.710622Z"
AT_4S = "2026-11-25T07:45:20.710622Z"
AT_13S = "2026-11-25T07:45:29.710622Z"
#: The answer of a reset of the default world: its size, then the clock back at the start.
INITIAL = {
    "world": {"users": 6, "pools": 4, "machines": 11, "tasks": 2, "seed": 20250911},
    "clock": view(START),
}


def task_json(
    task_id: str,
    status: str,
    started: str | None = None,
    finished: str | None = None,
    created: str = START,
) -> dict[str, Any]:
    """The task object of CONTRACT §6, as the control API answers it."""
    return {"id": task_id, "status": status, "kind": "POOL_EXPAND", "created": created,
            "started": started, "finished": finished}  # fmt: skip


def frame(task_id: str, status: str) -> dict[str, Any]:
    return {"status": status, "id": task_id, "kind": "POOL_EXPAND"}


async def mint(client: Client, username: str = "astravdi", **extra: Any) -> str:
    """A token from POST /service/tokens/ (any user, no MFA)."""
    resp = await client.post(TOKENS_PATH, json={"username": username, **extra})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["access_token"]
    return token


async def open_socket(client: Client, username: str = "astravdi") -> ClientWebSocketResponse:
    return await client.ws_connect(
        f"/api/v2/pools/ws/{USER_IDS[username]}/",
        headers={"Cookie": f"JWT {await mint(client, username)}"},
    )


async def next_frame(ws: ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECEIVE_S)
    assert msg.type is WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def step1(client: Client, token: str, pool_id: str = POOL_WIN_1) -> dict[str, Any]:
    """Step 1 over HTTP; the new (or active) task."""
    resp = await client.get(f"/api/v2/pools/{pool_id}/connect/", headers=auth(token))
    assert resp.status == 202, await resp.text()
    task: dict[str, Any] = (await resp.json())["data"]
    return task


#: What an entry says a request sent: tested on its own in tests/web/test_journal.py.
REQUEST_SIDE = ("query", "headers", "body", "body_omitted")


async def read_journal(client: Client, query: str = "") -> dict[str, Any]:
    """The journal, each entry without what its request sent."""
    resp = await client.get(JOURNAL_PATH + query)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    body["entries"] = [
        {key: value for key, value in entry.items() if key not in REQUEST_SIDE}
        for entry in body["entries"]
    ]
    return body


async def ws_entries(client: Client) -> list[dict[str, Any]]:
    return [e for e in (await read_journal(client))["entries"] if e["kind"] == "ws"]


async def task_ids(client: Client) -> list[str]:
    return [task["id"] for task in await (await client.get("/service/all-tasks/")).json()]


# -- reset -----------------------------------------------------------------------------------
async def test_reset_answers_the_initial_world_and_the_clock_at_the_scenario_start(
    client: Client,
) -> None:
    expand(client, "pool-win-1")
    await post_clock(client, {"advance_s": 90})
    resp = await client.post(RESET_PATH)
    assert (resp.status, await resp.text()) == (200, compact({"data": INITIAL}))
    assert resp.headers["content-type"] == "application/json"
    assert await (await client.get(CLOCK_PATH)).json() == view(START)


async def test_reset_forgets_new_tasks_and_stops_their_timers(client: Client) -> None:
    expand(client, "pool-win-1")
    assert await task_ids(client) != [USER_1_TASK, USER_2_TASK]

    assert (await client.post(RESET_PATH)).status == 200
    assert await task_ids(client) == [USER_1_TASK, USER_2_TASK]
    await post_clock(client, {"advance_s": 13})
    assert await ws_entries(client) == []  # the forgotten task never ran


async def test_reset_gives_back_the_machines_handed_out(client: Client) -> None:
    token = await mint(client)
    await step1(client, token)
    await post_clock(client, {"advance_s": 13})
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 200  # astravdi has a machine now

    await client.post(RESET_PATH)
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202  # no machine: step 1 starts a new expand


async def test_reset_forgets_revoked_tokens(client: Client) -> None:
    token = await login(client)
    assert (await client.post("/api/v2/users/logout/", headers=auth(token))).status == 205
    await expect(await client.get("/api/v2/pools/", headers=auth(token)), PERMISSION_DENIED)

    await client.post(RESET_PATH)
    assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 200


async def test_reset_clears_the_journal(client: Client) -> None:
    await client.get("/api/v2/version/")
    await post_clock(client, {"advance_s": 1})
    await client.post(RESET_PATH)
    assert await read_journal(client) == {
        "entries": [
            {"seq": 3, "time": START, "kind": "http", "method": "POST", "path": RESET_PATH,
             "status": 200, "user": None},
        ],
        "dropped": 0,
    }  # fmt: skip


async def test_reset_puts_mode_scale_and_time_back_to_the_scenarios(
    aiohttp_client: AiohttpClient,
) -> None:
    # No command-line clock override here: the mode comes from the scenario alone.
    client = await aiohttp_client(build_app(Settings(jwt_secret=SECRET), clock="manual"))
    await post_clock(client, {"mode": "real", "time_scale": 50, "advance_s": 3600})
    resp = await client.post(RESET_PATH)
    assert (await resp.json())["data"]["clock"] == view(START, "manual", 1.0)
    assert await (await client.get(CLOCK_PATH)).json() == view(START, "manual", 1.0)


async def test_open_sockets_stay_open_across_a_reset_and_keep_receiving(client: Client) -> None:
    ws = await open_socket(client)
    expand(client, "pool-win-1")

    await client.post(RESET_PATH)
    await post_clock(client, {"advance_s": 13})
    assert await ws_entries(client) == []  # the task from before the reset never ran
    assert not ws.closed

    task = await step1(client, await mint(client))
    await post_clock(client, {"advance_s": 13})
    assert await next_frame(ws) == frame(task["id"], "RUNNING")
    assert await next_frame(ws) == frame(task["id"], "COMPLETED")
    await ws.close()


# -- scenario --------------------------------------------------------------------------------
CAROL = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a11"
LAB = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d11"
TINY_TOML = f"""
[settings]
seed = 3
start = 2030-01-02T03:04:05Z

[[users]]
id = "{CAROL}"
username = "carol"
pools = ["lab"]

[[pools]]
id = "{LAB}"
name = "lab"
free_machines = 1
"""
#: :data:`TINY_TOML` as GET /service/scenario/ shows it: every default filled in.
TINY_JSON: dict[str, Any] = {
    "settings": {"seed": 3, "check_passwords": False, "token_ttl_s": 86400.0,
                 "start": "2030-01-02T03:04:05Z", "time_scale": 1.0, "clock": "real",
                 # The world's limits: null is "as the server says" (mockapi.domain.limits).
                 "max_users": None, "max_pools": None, "max_machines": None,
                 "max_assignments": None, "max_tasks": None, "max_rules": None,
                 "max_faults": None, "max_journal": None, "max_sockets_per_user": None,
                 "max_sockets": None},
    "version": {"version": "7.0.1", "build": "996", "year": "2025-2026",
                "url": "https://spacevm.ru", "copyright": "spacevm.ru", "client": "4.0.0",
                "gateway": "2.0.0"},
    # Every key's default is pinned in tests/domain/test_scenario.py.
    "client_settings": ClientSettingsSection().model_dump(mode="json"),
    "timing": {
        "POOL_EXPAND": {"pending_s": 3.0, "running_s": [5.0, 60.0],
                        "outcomes": {"COMPLETED": 1.0, "CANCELLED": 1.0}},
        "GLINT_START": {"pending_s": 3.0, "running_s": [5.0, 60.0],
                        "outcomes": {"COMPLETED": 1.0, "CANCELLED": 1.0, "FAILED": 1.0}},
    },
    "users": [{"password": "password", "full_name": "", "email": "", "roles": ["user"],
               "disabled": False, "otp": False, "adfs": False, "hardware_token": False,
               "otp_secret": None, "hardware_token_code": None, "pools": ["lab"],
               "id": CAROL, "username": "carol"}],
    "user_groups": [],
    "pools": [{"id": LAB, "name": "lab", "status": "ACTIVE", "is_favorite": False,
               "pool_type": "AUTOMATED", "os_type": "Windows",
               "connection_types": ["RDP", "NATIVE_RDP"], "free_machines": 1,
               "max_new_machines": -1}],
    "machines": [],
    "tasks": [],
    "rules": [],
    "faults": [],
    "tls": {"certificate": "valid"},
    "conformance": {"token_after_logout": True, "retry_after": True,
                    "resync_after_loss": True, "socket_before_connect": True,
                    "poll_rate": True, "reconnect_backoff": True, "trailing_slash": True,
                    "auth_header": True},
}  # fmt: skip
#: The answer of a PUT of the tiny world (manual clock: the override of the test settings).
TINY_RESET = {
    "data": {
        "world": {"users": 1, "pools": 1, "machines": 1, "tasks": 0, "seed": 3},
        "clock": view("2030-01-02T03:04:05Z"),
    }
}
#: Five problems of four kinds (a type, an unknown key, a bound, a duplicate, a reference).
BROKEN_TOML = f"""
[settings]
seed = "x"
colour = 1

[[users]]
id = "{CAROL}"
username = "carol"
pools = ["lab", "attic"]

[[users]]
id = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a12"
username = "carol"

[[pools]]
id = "{LAB}"
name = "lab"
free_machines = -1
"""


def problem(msg: str) -> dict[str, Any]:
    return {"type": "scenario", "loc": ["body"], "msg": msg, "input": None, "err_code": 999}


BROKEN_PROBLEMS = [
    problem("settings.seed: Input should be a valid integer, unable to parse string as an integer"),
    problem("settings.colour: unknown key"),
    problem("pools[0].free_machines: Input should be greater than or equal to 0"),
    problem('users[1].username: duplicate "carol" (first at users[0])'),
    problem('users[0].pools[1]: unknown pool "attic"'),
]


async def put_scenario(client: Client, text: str | bytes, content_type: str) -> tuple[int, Any]:
    resp = await client.put(SCENARIO_PATH, data=text, headers={"content-type": content_type})
    assert resp.headers["content-type"] == "application/json"
    return resp.status, await resp.json()


async def get_scenario(client: Client) -> dict[str, Any]:
    resp = await client.get(SCENARIO_PATH)
    assert (resp.status, resp.headers["content-type"]) == (200, "application/json")
    body: dict[str, Any] = await resp.json()
    return body


async def test_get_scenario_shows_the_active_scenario_with_every_default(client: Client) -> None:
    body = await get_scenario(client)
    assert list(body) == ["settings", "version", "client_settings", "timing", "users",
                          "user_groups", "pools", "machines", "tasks", "rules", "faults",
                          "tls", "conformance"]  # fmt: skip
    # The default world's settings body, but for the per-user MFA flags.
    assert body["client_settings"] == ClientSettingsSection().model_dump(mode="json")
    assert body["settings"] == {"seed": 20250911, "check_passwords": False,
                                "token_ttl_s": 86400.0, "start": START, "time_scale": 1.0,
                                "clock": "real"} | dict.fromkeys(LIMIT_KEYS)  # fmt: skip
    assert [user["username"] for user in body["users"]] == list(USER_IDS)
    assert [pool["name"] for pool in body["pools"]] == [
        "pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2"
    ]  # fmt: skip
    assert [task["id"] for task in body["tasks"]] == [USER_1_TASK, USER_2_TASK]
    assert body["rules"][0] == {"user": "astravdi", "pool": None, "kind": "POOL_EXPAND",
                                "outcome": "COMPLETED", "pending_s": 3.0, "running_s": 10.0,
                                "expandable": None}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        pytest.param(TINY_TOML, "application/toml", id="toml"),
        pytest.param(json.dumps(TINY_JSON), "application/json", id="json"),
        pytest.param(TINY_TOML, "application/toml; charset=utf-8", id="toml with charset"),
        pytest.param(json.dumps(TINY_JSON), "Application/JSON", id="json in upper case"),
    ],
)
async def test_put_scenario_replaces_the_world_and_answers_it(
    client: Client, text: str, content_type: str
) -> None:
    assert await put_scenario(client, text, content_type) == (200, TINY_RESET)
    assert await get_scenario(client) == TINY_JSON
    assert await (await client.get(CLOCK_PATH)).json() == view("2030-01-02T03:04:05Z")


async def test_put_scenario_resets_and_the_new_users_are_the_only_ones(client: Client) -> None:
    expand(client, "pool-win-1")
    await put_scenario(client, TINY_TOML, "application/toml")

    assert await task_ids(client) == []
    # The journal starts over with the PUT itself (recorded once it has answered).
    assert [(e["method"], e["path"]) for e in (await read_journal(client))["entries"]] == [
        ("PUT", SCENARIO_PATH),
        ("GET", "/service/all-tasks/"),
    ]
    resp = await client.post("/api/v2/users/login/", json=login_body("astravdi"))
    await expect(resp, INVALID_CREDENTIALS)
    token = await login(client, "carol")
    assert (await step1(client, token, LAB))["status"] == "PENDING"


async def test_the_scenario_read_can_be_put_back_unchanged(client: Client) -> None:
    before = await get_scenario(client)
    status, body = await put_scenario(client, json.dumps(before), "application/json")
    assert (status, body) == (200, {"data": INITIAL})
    assert await get_scenario(client) == before


async def test_an_invalid_scenario_is_422_with_every_problem_and_nothing_changes(
    client: Client,
) -> None:
    before = await get_scenario(client)
    task = expand(client, "pool-win-1")
    await post_clock(client, {"advance_s": 1})

    status, body = await put_scenario(client, BROKEN_TOML, "application/toml")
    assert (status, body) == (422, {"detail": BROKEN_PROBLEMS})
    assert await get_scenario(client) == before
    # Not reset either: the task, the clock and the journal are as they were.
    assert str(task.id) in await task_ids(client)
    assert (await (await client.get(CLOCK_PATH)).json())["now"] == "2026-11-25T07:45:17.710622Z"
    entries = (await read_journal(client))["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", SCENARIO_PATH, 200),
        ("POST", CLOCK_PATH, 200),
        ("PUT", SCENARIO_PATH, 422),
        ("GET", SCENARIO_PATH, 200),
        ("GET", "/service/all-tasks/", 200),
        ("GET", CLOCK_PATH, 200),
    ]


async def test_invalid_json_scenarios_list_their_problems_too(client: Client) -> None:
    data = json.loads(json.dumps(TINY_JSON))
    data["settings"]["clock"] = "fast"
    data["users"][0]["pools"] = ["attic"]
    data["rules"] = [{"user": "nobody", "outcome": "MAYBE"}]
    assert await put_scenario(client, json.dumps(data), "application/json") == (
        422,
        {"detail": [
            problem("settings.clock: Input should be 'real' or 'manual'"),
            problem("rules[0].outcome: Input should be 'COMPLETED', 'CANCELLED' or 'FAILED'"),
            problem('users[0].pools[0]: unknown pool "attic"'),
            problem('rules[0].user: unknown user "nobody"'),
        ]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "content_type", "msg"),
    [
        pytest.param("[settings\nseed = 1\n", "application/toml",
                     "(syntax): Expected ']' at the end of a table declaration "
                     "(at line 1, column 10)", id="toml syntax"),
        pytest.param('{"settings": ', "application/json",
                     "(syntax): Expecting value: line 1 column 14 (char 13)", id="json syntax"),
        pytest.param("[1]", "application/json",
                     "(top level): Input should be a valid dictionary or instance of Scenario",
                     id="json not an object"),
        pytest.param(b"seed = 1 \xff", "application/toml", "(file): the body is not UTF-8",
                     id="not utf-8"),
    ],
)  # fmt: skip
async def test_an_unreadable_scenario_is_422_and_nothing_changes(
    client: Client, text: str | bytes, content_type: str, msg: str
) -> None:
    before = await get_scenario(client)
    assert await put_scenario(client, text, content_type) == (422, {"detail": [problem(msg)]})
    assert await get_scenario(client) == before


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/yaml", "text/toml"],
)
async def test_other_content_types_are_422_and_nothing_changes(
    client: Client, content_type: str
) -> None:
    before = await get_scenario(client)
    assert await put_scenario(client, TINY_TOML, content_type) == (
        422,
        {"detail": [{"type": "content_type", "loc": ["header", "content-type"],
                     "msg": "Content type must be application/toml or application/json",
                     "input": content_type, "err_code": 999}]},
    )  # fmt: skip
    assert await get_scenario(client) == before


async def test_a_body_without_a_content_type_is_422(client: Client) -> None:
    # aiohttp reads a missing content type as application/octet-stream.
    resp = await client.put(
        SCENARIO_PATH, data=TINY_TOML.encode(), skip_auto_headers=["Content-Type"]
    )
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["input"] == "application/octet-stream"


# -- forced transitions ----------------------------------------------------------------------
async def force_task(client: Client, task_id: str, body: Any) -> tuple[int, str]:
    resp = await client.post(f"/service/tasks/{task_id}/", json=body)
    assert resp.headers["content-type"] == "application/json"
    return resp.status, await resp.text()


@pytest.mark.parametrize(
    ("advance_s", "status", "answer"),
    [
        pytest.param(0, "RUNNING", ("RUNNING", START, None), id="PENDING to RUNNING"),
        pytest.param(0, "CANCELLED", ("CANCELLED", None, START), id="PENDING to CANCELLED"),
        pytest.param(4, "COMPLETED", ("COMPLETED", AT_3S, AT_4S), id="RUNNING to COMPLETED"),
        pytest.param(4, "FAILED", ("FAILED", AT_3S, AT_4S), id="RUNNING to FAILED"),
        pytest.param(4, "CANCELLED", ("CANCELLED", AT_3S, AT_4S), id="RUNNING to CANCELLED"),
    ],
)
async def test_an_allowed_transition_is_200_with_the_task_and_pushed(
    client: Client, advance_s: float, status: str, answer: tuple[str, str | None, str | None]
) -> None:
    ws = await open_socket(client)
    task_id = str(expand(client, "pool-win-1").id)
    await post_clock(client, {"advance_s": advance_s})
    if advance_s:
        assert await next_frame(ws) == frame(task_id, "RUNNING")

    assert await force_task(client, task_id, {"status": status}) == (
        200,
        compact({"data": task_json(task_id, *answer)}),
    )
    assert await next_frame(ws) == frame(task_id, status)
    await ws.close()


async def test_a_forced_frame_reaches_the_sockets_before_the_answer(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    app = build_app(settings)
    at_answer: list[list[tuple[int, int]]] = []

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/service/tasks/"):
            at_answer.append([(p.accepted, p.handled) for p in app[HUB].peers()])

    app.on_response_prepare.append(record)
    client = await aiohttp_client(app)
    sockets = [await open_socket(client), await open_socket(client)]
    task_id = str(expand(client, "pool-win-1").id)

    assert (await force_task(client, task_id, {"status": "RUNNING"}))[0] == 200
    assert at_answer == [[(1, 1), (1, 1)]]
    for ws in sockets:
        assert await next_frame(ws) == frame(task_id, "RUNNING")
        await ws.close()


async def test_a_task_forced_to_running_then_follows_its_plan(client: Client) -> None:
    task_id = str(expand(client, "pool-win-1").id)
    await force_task(client, task_id, {"status": "RUNNING"})
    await post_clock(client, {"advance_s": 10})  # the plan's 10 s of running, from now
    assert [e["frame"]["status"] for e in await ws_entries(client)] == ["RUNNING", "COMPLETED"]


async def test_a_seeded_task_can_be_forced(client: Client) -> None:
    assert await force_task(client, USER_1_TASK, {"status": "RUNNING"}) == (
        200,
        compact({"data": task_json(USER_1_TASK, "RUNNING", START, created="2022-01-01T00:00:00Z")}),
    )


@pytest.mark.parametrize(
    ("advance_s", "current", "status"),
    [
        pytest.param(0, "PENDING", "COMPLETED", id="PENDING to COMPLETED"),
        pytest.param(0, "PENDING", "FAILED", id="PENDING to FAILED"),
        pytest.param(0, "PENDING", "PENDING", id="PENDING to PENDING"),
        pytest.param(3, "RUNNING", "PENDING", id="RUNNING to PENDING"),
        pytest.param(3, "RUNNING", "RUNNING", id="RUNNING to RUNNING"),
        pytest.param(13, "COMPLETED", "RUNNING", id="COMPLETED to RUNNING"),
        pytest.param(13, "COMPLETED", "CANCELLED", id="COMPLETED to CANCELLED"),
    ],
)
async def test_a_transition_the_task_machine_lacks_is_409_and_changes_nothing(
    client: Client, advance_s: float, current: str, status: str
) -> None:
    task = expand(client, "pool-win-1")
    await post_clock(client, {"advance_s": advance_s})
    frames_before = await ws_entries(client)

    resp = await client.post(f"/service/tasks/{task.id}/", json={"status": status})
    await expect(
        resp,
        Answer(
            409,
            {"detail": [{"msg": f"{current} → {status} is not a task transition",
                         "err_code": 999, "type": "default"}]},
            app_error=True,
        ),
    )  # fmt: skip
    assert task.state == current
    assert await ws_entries(client) == frames_before


async def test_a_finished_seeded_task_cannot_be_forced(client: Client) -> None:
    status, text = await force_task(client, USER_2_TASK, {"status": "RUNNING"})
    assert (status, json.loads(text)["detail"][0]["msg"]) == (
        409,
        "FAILED → RUNNING is not a task transition",
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(
            {"status": "DONE"},
            [item("enum", ["body", "status"],
                  "Input should be 'PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED' or 'FAILED'",
                  "DONE",
                  {"expected": "'PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED' or 'FAILED'"})],
            id="unknown status",
        ),
        pytest.param(
            {"status": "running"},
            [item("enum", ["body", "status"],
                  "Input should be 'PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED' or 'FAILED'",
                  "running",
                  {"expected": "'PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED' or 'FAILED'"})],
            id="status in lower case",
        ),
        pytest.param({}, [item("missing", ["body", "status"], "Field required", {})],
                     id="no status"),
        pytest.param(
            {"status": "RUNNING", "reason": "test"},
            [item("extra_forbidden", ["body", "reason"], "Extra inputs are not permitted",
                  "test")],
            id="unknown key",
        ),
    ],
)  # fmt: skip
async def test_a_bad_force_body_is_422_and_changes_nothing(
    client: Client, body: Any, detail: list[dict[str, Any]]
) -> None:
    task = expand(client, "pool-win-1")
    await expect(await client.post(f"/service/tasks/{task.id}/", json=body), invalid(*detail))
    assert task.state == "PENDING"


async def test_an_unknown_task_is_404_not_found(client: Client) -> None:
    resp = await client.post(f"/service/tasks/{UNKNOWN_TASK}/", json={"status": "RUNNING"})
    await expect(resp, NOT_FOUND)


async def test_a_task_id_that_is_not_a_uuid_is_422(client: Client) -> None:
    resp = await client.post("/service/tasks/not-a-uuid/", json={"status": "RUNNING"})
    await expect(
        resp,
        invalid(
            item("uuid_parsing", ["path", "id"],
                 "Input should be a valid UUID, invalid character: found `n` at 0",
                 "not-a-uuid", {"error": "invalid character: found `n` at 0"})
        ),
    )  # fmt: skip


# -- tokens ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "refusal"),
    [
        pytest.param("user-3", HARDWARE_TOKEN_REQUIRED, id="hardware token"),
        pytest.param("user-4", OTP_REQUIRED, id="OTP"),
        pytest.param("user-5", ADFS_REQUIRED, id="ADFS"),
    ],
)
async def test_a_minted_token_skips_mfa_and_opens_jwt_routes(
    client: Client, username: str, refusal: Answer
) -> None:
    await expect(await client.post("/api/v2/users/login/", json=login_body(username)), refusal)

    resp = await client.post(TOKENS_PATH, json={"username": username})
    assert resp.status == 200
    body = await resp.json()
    assert list(body) == ["access_token"]
    token = body["access_token"]
    settings_resp = await client.get("/api/v2/users/settings/", headers=auth(token))
    assert settings_resp.status == 200
    assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 200


async def test_a_minted_token_is_the_users_own(client: Client) -> None:
    token = await mint(client, "user-3")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert {key: claims[key] for key in ("sub", "username", "roles", "client_id")} == {
        "sub": USER_IDS["user-3"],
        "username": "user-3",
        "roles": ["user"],
        "client_id": USER_IDS["user-3"],
    }
    resp = await client.get("/api/v2/pools/", headers=auth(token))
    assert [pool["name"] for pool in (await resp.json())["data"]] == ["pool-win-1"]


async def test_a_minted_token_lives_the_scenarios_ttl_by_default(client: Client) -> None:
    claims = jwt.decode(await mint(client), options={"verify_signature": False})
    assert claims["exp"] == datetime.fromisoformat(START).timestamp() + 86400


async def test_a_minted_tokens_ttl_is_honoured_on_the_scenario_clock(client: Client) -> None:
    token = await mint(client, "user-4", ttl_s=60)
    await post_clock(client, {"advance_s": 59.5})
    assert (await client.get("/api/v2/users/settings/", headers=auth(token))).status == 200
    await post_clock(client, {"advance_s": 0.5})
    await expect(
        await client.get("/api/v2/users/settings/", headers=auth(token)), PERMISSION_DENIED
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(
            {"username": "nobody"},
            [item("value_error", ["body", "username"], "Value error, unknown user 'nobody'",
                  "nobody", {"error": {}})],
            id="unknown user",
        ),
        pytest.param(
            {"ttl_s": "soon"},
            [item("missing", ["body", "username"], "Field required", {"ttl_s": "soon"}),
             item("float_parsing", ["body", "ttl_s"],
                  "Input should be a valid number, unable to parse string as a number", "soon")],
            id="no username and a bad ttl",
        ),
        pytest.param(
            {"username": "astravdi", "ttl_s": 0},
            [item("greater_than", ["body", "ttl_s"], "Input should be greater than 0", 0,
                  {"gt": 0.0})],
            id="zero ttl",
        ),
        pytest.param(
            {"username": "astravdi", "roles": ["admin"]},
            [item("extra_forbidden", ["body", "roles"], "Extra inputs are not permitted",
                  ["admin"])],
            id="unknown key",
        ),
    ],
)  # fmt: skip
async def test_a_bad_token_request_is_422(
    client: Client, body: Any, detail: list[dict[str, Any]]
) -> None:
    await expect(await client.post(TOKENS_PATH, json=body), invalid(*detail))


# -- journal ---------------------------------------------------------------------------------
def http_entry(
    seq: int, method: str, path: str, status: int, user: str | None, time: str = START
) -> dict[str, Any]:
    return {"seq": seq, "time": time, "kind": "http", "method": method, "path": path,
            "status": status, "user": user}  # fmt: skip


def ws_entry(seq: int, user: str, sent: dict[str, Any], time: str) -> dict[str, Any]:
    return {"seq": seq, "time": time, "kind": "ws", "user": user, "frame": sent}


async def test_http_entries_name_the_user_or_null(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/", headers=auth(token))
    await client.get("/api/v2/version/")
    await client.post("/api/v2/users/login/", json=login_body("nobody"))
    await client.get("/api/v2/pools/", headers=auth("forged"))
    await client.post("/api/v2/users/login/", json={})
    resp = await client.get(JOURNAL_PATH)
    assert (resp.status, resp.headers["content-type"]) == (200, "application/json")
    assert await read_journal(client) == {
        "entries": [
            http_entry(1, "POST", "/api/v2/users/login/", 200, "astravdi"),
            http_entry(2, "GET", "/api/v2/pools/", 200, "astravdi"),
            http_entry(3, "GET", "/api/v2/version/", 200, None),
            http_entry(4, "POST", "/api/v2/users/login/", 401, None),
            http_entry(5, "GET", "/api/v2/pools/", 403, None),
            http_entry(6, "POST", "/api/v2/users/login/", 422, None),
        ],
        "dropped": 0,
    }


async def test_ws_entries_record_each_frame_sent_in_order(client: Client) -> None:
    token = await mint(client)
    task = await step1(client, token)
    await post_clock(client, {"advance_s": 13})
    assert (await read_journal(client))["entries"] == [
        http_entry(1, "POST", TOKENS_PATH, 200, None),
        http_entry(2, "GET", f"/api/v2/pools/{POOL_WIN_1}/connect/", 202, "astravdi"),
        # The frames were sent while the advance ran, so they come before its own entry.
        ws_entry(3, "astravdi", frame(task["id"], "RUNNING"), AT_3S),
        ws_entry(4, "astravdi", frame(task["id"], "COMPLETED"), AT_13S),
        http_entry(5, "POST", CLOCK_PATH, 200, None, AT_13S),
    ]


async def test_since_returns_only_the_entries_after_seq(client: Client) -> None:
    for _ in range(4):
        await client.get("/api/v2/version/")
    body = await read_journal(client, "?since=2")
    assert ([e["seq"] for e in body["entries"]], body["dropped"]) == ([3, 4], 0)
    assert await read_journal(client, "?since=4") == {"entries": [], "dropped": 0}


async def test_reading_the_journal_is_not_journaled(client: Client) -> None:
    await client.get("/api/v2/version/")
    first = await read_journal(client)
    assert await read_journal(client) == first
    assert [e["path"] for e in first["entries"]] == ["/api/v2/version/"]


async def test_delete_clears_the_journal_and_numbering_goes_on(client: Client) -> None:
    await client.get("/api/v2/version/")
    await client.get("/api/v2/version/")
    resp = await client.delete(JOURNAL_PATH)
    assert (resp.status, await resp.read()) == (204, b"")
    assert await read_journal(client) == {"entries": [], "dropped": 0}

    await client.get("/api/v2/health/")
    assert await read_journal(client) == {
        "entries": [http_entry(3, "GET", "/api/v2/health/", 200, None)],
        "dropped": 0,
    }


async def test_the_journal_is_bounded_and_counts_what_it_dropped(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    # The bound is the world's max_journal limit (--max-journal).
    client = await aiohttp_client(build_app(replace(settings, max_journal=3)))
    for _ in range(5):
        await client.get("/api/v2/version/")
    body = await read_journal(client)
    assert ([e["seq"] for e in body["entries"]], body["dropped"]) == ([3, 4, 5], 2)
    body = await read_journal(client, "?since=1")
    assert ([e["seq"] for e in body["entries"]], body["dropped"]) == ([3, 4, 5], 1)
    body = await read_journal(client, "?since=4")
    assert ([e["seq"] for e in body["entries"]], body["dropped"]) == ([5], 0)


@pytest.mark.parametrize(
    ("query", "error_item"),
    [
        pytest.param("?since=-1", item("greater_than_equal", ["query", "since"],
                                       "Input should be greater than or equal to 0", "-1",
                                       {"ge": 0}), id="negative"),
        pytest.param("?since=abc", item("int_parsing", ["query", "since"],
                                        "Input should be a valid integer, unable to parse "
                                        "string as an integer", "abc"), id="not a number"),
    ],
)  # fmt: skip
async def test_a_bad_since_is_422(client: Client, query: str, error_item: dict[str, Any]) -> None:
    await expect(await client.get(JOURNAL_PATH + query), invalid(error_item))
