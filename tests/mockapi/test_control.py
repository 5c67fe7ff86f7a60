"""GET and POST /service/clock/: read, switch and advance scenario time."""

from __future__ import annotations

import tomllib
from datetime import datetime
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.clock import iso_z
from mockapi.keys import CLOCK, HUB, RUNTIME, TOKENS
from mockapi.scenario import default_scenario_path, parse_scenario
from mockapi.settings import Settings
from statemachines.task import Task
from tests.helpers import ASTRAVDI_ID, Client

START = "2026-11-25T07:45:16.710622Z"
CLOCK_PATH = "/service/clock/"
RECEIVE_S = 5.0


def build_app(settings: Settings) -> web.Application:
    """The default world starting at :data:`START`, where astravdi's expands all complete."""
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["settings"]["start"] = START
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
