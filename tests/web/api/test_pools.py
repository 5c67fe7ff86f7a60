"""The pools API: the list (CONTRACT §5) and the two-step connect (§7), on a manual clock."""

from __future__ import annotations

import asyncio
import json
import tomllib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.clock import iso_z
from mockapi.domain.scenario import default_scenario_path, parse_scenario
from mockapi.keys import CLOCK, RUNTIME
from mockapi.settings import Settings
from mockapi.web.api.pools import machine_body, pools_page, task_body
from mockapi.web.bodies import MachineBody, MachineOut, PoolOut, PoolsPage, TaskBody, TaskOut
from tests.answers import PERMISSION_DENIED, Answer, app_error, expect, invalid, item
from tests.conftest import SECRET
from tests.helpers import (
    ASTRAVDI_ID,
    POOL_ASTRA_1,
    POOL_ASTRA_2,
    POOL_WIN_1,
    POOL_WIN_2,
    Client,
    auth,
    login,
    today_otp,
)

POOLS = "/api/v2/pools/"
GLINT = {"remote_protocol": 1, "width": 1920, "height": 1080, "password": None}
LONGEST_TASK_S = 3 + 60

INSUFFICIENT_PERMISSIONS = app_error(403, "Insufficient permissions.", 900)
POOL_CANNOT_EXPAND = app_error(403, "Pool cannot be expanded.", 800)
NO_ELIGIBLE_MACHINE = app_error(409, "No eligible machine found for user connection.", 801)

POOL_OBJECTS = [
    {"id": POOL_WIN_1, "name": "pool-win-1", "status": "ACTIVE", "is_favorite": True,
     "pool_type": "AUTOMATED", "os_type": "Windows", "connection_types": ["RDP", "NATIVE_RDP"]},
    {"id": POOL_WIN_2, "name": "pool-win-2", "status": "ACTIVE", "is_favorite": False,
     "pool_type": "AUTOMATED", "os_type": "Windows", "connection_types": ["RDP", "NATIVE_RDP"]},
    {"id": POOL_ASTRA_1, "name": "pool-astra-1", "status": "ACTIVE", "is_favorite": False,
     "pool_type": "STATIC", "os_type": "Linux", "connection_types": ["GLINT"]},
    {"id": POOL_ASTRA_2, "name": "pool-astra-2", "status": "ACTIVE", "is_favorite": False,
     "pool_type": "STATIC", "os_type": "Linux", "connection_types": ["GLINT"]},
]  # fmt: skip
#: The free machine of pool-win-1 in the default scenario: the original's constant answer.
WIN_1_MACHINE = {
    "id": "d1ac0a6c-9d4c-4d6b-8a76-5d0c1a2f3b01",
    "verbose_name": "win-1-vm-0001",
    "permissions": ["VM_POWER_CONTROL"],
    "host": "10.254.150.133",
    "port": 39897,
    "status": "ACTIVE",
    "protocol_id": 1,
}

EXPAND_COMPLETES = {"kind": "POOL_EXPAND", "outcome": "COMPLETED"}
START_COMPLETES = {"kind": "GLINT_START", "outcome": "COMPLETED"}


def connect(pool_id: str) -> str:
    return f"/api/v2/pools/{pool_id}/connect/"


def page(data: list[dict[str, Any]], total: int, page: int = 1, size: int = 50) -> Answer:
    pages = -(-total // size)
    return Answer(200, {"data": data, "total": total, "page": page, "size": size, "pages": pages})


def task_answer(status: int, task: dict[str, Any]) -> Answer:
    return Answer(status, {"data": task})


async def default_client(aiohttp_client: AiohttpClient, *rules: dict[str, Any]) -> Client:
    """The default scenario with ``rules`` after its own (user-2 still cannot expand)."""
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["rules"] = [*data.get("rules", []), *rules]
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    return await aiohttp_client(app)


WIN_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"
LINUX_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d02"
KIOSK = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d03"
KIOSK_ALICE = {
    "id": "9c3f2b1a-4d5e-4f60-8a7b-1c2d3e4f5a01",
    "verbose_name": "kiosk-alice",
    "permissions": ["VM_POWER_CONTROL"],
    "host": "10.0.0.10",
    "port": 5900,
    "status": "ACTIVE",
    "protocol_id": 1,
}


async def shared_pools_client(aiohttp_client: AiohttpClient) -> Client:
    """alice, bob and carol share every pool; alice has a kiosk machine up front and the kiosk
    (STATIC) one free machine more; every task completes (pending 0.5 s, running 1 s)."""
    timing = {"pending_s": 0.5, "running_s": 1, "outcomes": {"COMPLETED": 1}}
    data = {
        "timing": {"POOL_EXPAND": timing, "GLINT_START": timing},
        "users": [
            {"id": "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a01", "username": "alice",
             "password": "Bazalt1!", "pools": ["desktops", "linux", "kiosk"]},
            {"id": "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a02", "username": "bob",
             "password": "Bazalt1!", "pools": ["desktops", "linux", "kiosk"]},
            {"id": "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a03", "username": "carol",
             "password": "Bazalt1!", "pools": ["kiosk"]},
        ],
        "pools": [
            {"id": WIN_DESKTOPS, "name": "desktops"},
            {"id": LINUX_DESKTOPS, "name": "linux", "os_type": "Linux"},
            {"id": KIOSK, "name": "kiosk", "pool_type": "STATIC", "free_machines": 1,
             "max_new_machines": 0},
        ],
        "machines": [KIOSK_ALICE | {"pool": "kiosk", "user": "alice"}],
    }  # fmt: skip
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    return await aiohttp_client(app)


def now(client: Client) -> str:
    return iso_z(client.app[CLOCK].now())


def later(client: Client, seconds: float) -> str:
    return iso_z(client.app[CLOCK].now() + timedelta(seconds=seconds))


def advance(client: Client, seconds: float) -> None:
    """Move the manual clock, firing every task change due on the way."""
    client.app[CLOCK].advance(seconds)


async def data_of(resp: ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    return dict(body["data"])


def pending(task_id: str, kind: str, created: str) -> dict[str, Any]:
    return {
        "id": task_id,
        "status": "PENDING",
        "kind": kind,
        "created": created,
        "started": None,
        "finished": None,
    }


@pytest.fixture
async def token(client: Client) -> str:
    return await login(client)


# -- the pools list (§5) ---------------------------------------------------------------------
async def test_pools_lists_the_users_pools_in_scenario_order(client: Client, token: str) -> None:
    await expect(await client.get(POOLS, headers=auth(token)), page(POOL_OBJECTS, 4))


async def test_is_favorite_true_filters_and_false_means_no_filter(
    client: Client, token: str
) -> None:
    await expect(
        await client.get(POOLS, params={"is_favorite": "true"}, headers=auth(token)),
        page(POOL_OBJECTS[:1], 1),
    )
    await expect(
        await client.get(POOLS, params={"is_favorite": "false"}, headers=auth(token)),
        page(POOL_OBJECTS, 4),
    )


@pytest.mark.parametrize("value", ["1", "yes", "on", "True"])
async def test_is_favorite_accepts_lax_booleans(client: Client, token: str, value: str) -> None:
    await expect(
        await client.get(POOLS, params={"is_favorite": value}, headers=auth(token)),
        page(POOL_OBJECTS[:1], 1),
    )


async def test_pages_slice_in_order_and_count_with_ceil(client: Client, token: str) -> None:
    first = await client.get(POOLS, params={"size": "3"}, headers=auth(token))
    await expect(first, page(POOL_OBJECTS[:3], 4, page=1, size=3))
    second = await client.get(POOLS, params={"size": "3", "page": "2"}, headers=auth(token))
    await expect(second, page(POOL_OBJECTS[3:], 4, page=2, size=3))


async def test_a_page_past_the_end_is_empty_and_echoes_the_page(client: Client, token: str) -> None:
    resp = await client.get(POOLS, params={"page": "7", "size": "2"}, headers=auth(token))
    await expect(resp, Answer(200, {"data": [], "total": 4, "page": 7, "size": 2, "pages": 2}))


async def test_a_user_without_pools_has_zero_pages(client: Client) -> None:
    token = await login(client, "user-4", otp=today_otp(client))
    resp = await client.get(POOLS, headers=auth(token))
    await expect(resp, Answer(200, {"data": [], "total": 0, "page": 1, "size": 50, "pages": 0}))


async def test_user_2_sees_only_its_two_pools(client: Client) -> None:
    token = await login(client, "user-2")
    resp = await client.get(POOLS, headers=auth(token))
    await expect(resp, page([POOL_OBJECTS[0], POOL_OBJECTS[3]], 2))


@pytest.mark.parametrize(
    ("params", "answer"),
    [
        (
            {"page": "0"},
            invalid(
                item("greater_than_equal", ["query", "page"],
                     "Input should be greater than or equal to 1", "0", {"ge": 1})
            ),
        ),
        (
            {"size": "0"},
            invalid(
                item("greater_than_equal", ["query", "size"],
                     "Input should be greater than or equal to 1", "0", {"ge": 1})
            ),
        ),
        (
            {"size": "101"},
            invalid(
                item("less_than_equal", ["query", "size"],
                     "Input should be less than or equal to 100", "101", {"le": 100})
            ),
        ),
        (
            {"page": "abc"},
            invalid(
                item("int_parsing", ["query", "page"],
                     "Input should be a valid integer, unable to parse string as an integer",
                     "abc")
            ),
        ),
        (
            {"size": "101", "page": "0", "is_favorite": "maybe"},
            # CONTRACT §5: page, size, is_favorite (the original's parameter order), whatever
            # the order of the query string.
            invalid(
                item("greater_than_equal", ["query", "page"],
                     "Input should be greater than or equal to 1", "0", {"ge": 1}),
                item("less_than_equal", ["query", "size"],
                     "Input should be less than or equal to 100", "101", {"le": 100}),
                item("bool_parsing", ["query", "is_favorite"],
                     "Input should be a valid boolean, unable to interpret input", "maybe"),
            ),
        ),
        (
            {"is_favorite": "maybe", "size": "0", "page": "x"},
            invalid(
                item("int_parsing", ["query", "page"],
                     "Input should be a valid integer, unable to parse string as an integer",
                     "x"),
                item("greater_than_equal", ["query", "size"],
                     "Input should be greater than or equal to 1", "0", {"ge": 1}),
                item("bool_parsing", ["query", "is_favorite"],
                     "Input should be a valid boolean, unable to interpret input", "maybe"),
            ),
        ),
    ],
)  # fmt: skip
async def test_bad_query_values_are_422_with_string_inputs(
    client: Client, token: str, params: dict[str, str], answer: Answer
) -> None:
    await expect(await client.get(POOLS, params=params, headers=auth(token)), answer)


async def test_pools_needs_authentication_before_validation(client: Client) -> None:
    await expect(await client.get(POOLS), PERMISSION_DENIED)
    await expect(await client.get(POOLS, params={"page": "0"}), PERMISSION_DENIED)


# -- step 1 (§7, get_machine_step_1.png) ------------------------------------------------------
async def test_step1_creates_a_pending_expand_and_answers_it_with_202(
    client: Client, token: str
) -> None:
    created = now(client)
    resp = await client.get(connect(POOL_WIN_1), headers=auth(token))
    task_id = (await data_of(resp))["id"]
    await expect(resp, task_answer(202, pending(task_id, "POOL_EXPAND", created)))


async def test_step1_repeats_answer_the_same_task_and_the_stored_task_is_the_answered_one(
    client: Client, token: str
) -> None:
    first = await client.get(connect(POOL_WIN_1), headers=auth(token))
    answer = task_answer(202, await data_of(first))
    await expect(await client.get(connect(POOL_WIN_1), headers=auth(token)), answer)
    task_id = answer.body["data"]["id"]
    # Same created to the microsecond: one task, one creation (§10).
    stored = await client.get(f"/api/v2/tasks/{task_id}/", headers=auth(token))
    await expect(stored, Answer(200, answer.body))


async def test_step1_answers_the_running_task_with_202_while_it_runs(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(aiohttp_client, EXPAND_COMPLETES)
    token = await login(client)
    created, started = now(client), later(client, 3)
    task_id = (await data_of(await client.get(connect(POOL_WIN_1), headers=auth(token))))["id"]
    advance(client, 3)
    running = pending(task_id, "POOL_EXPAND", created) | {"status": "RUNNING", "started": started}
    await expect(
        await client.get(connect(POOL_WIN_1), headers=auth(token)), task_answer(202, running)
    )


async def test_step1_answers_200_with_the_completed_expand_once_the_user_has_a_machine(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(aiohttp_client, EXPAND_COMPLETES)
    token = await login(client)
    task_id = (await data_of(await client.get(connect(POOL_WIN_1), headers=auth(token))))["id"]
    advance(client, LONGEST_TASK_S)
    resp = await client.get(connect(POOL_WIN_1), headers=auth(token))
    task = await data_of(resp)
    assert (task["id"], task["status"], task["kind"]) == (task_id, "COMPLETED", "POOL_EXPAND")
    assert task["started"] is not None
    assert task["finished"] is not None
    await expect(resp, task_answer(200, task))
    await expect(await client.get(connect(POOL_WIN_1), headers=auth(token)), task_answer(200, task))


async def test_step1_answers_a_scenario_assigned_machine_with_one_completed_task(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await shared_pools_client(aiohttp_client)
    token = await login(client, "alice")
    resp = await client.get(connect(KIOSK), headers=auth(token))
    created = now(client)
    task = await data_of(resp)
    expected = {"id": task["id"], "status": "COMPLETED", "kind": "POOL_EXPAND",
                "created": created, "started": created, "finished": created}  # fmt: skip
    await expect(resp, task_answer(200, expected))
    advance(client, 10)
    await expect(await client.get(connect(KIOSK), headers=auth(token)), task_answer(200, expected))


@pytest.mark.parametrize("pool_id", [POOL_WIN_1, POOL_ASTRA_2])
async def test_step1_is_403_800_for_user_2_in_the_default_scenario(
    client: Client, pool_id: str
) -> None:
    token = await login(client, "user-2")
    await expect(await client.get(connect(pool_id), headers=auth(token)), POOL_CANNOT_EXPAND)
    await expect(await client.get(connect(pool_id), headers=auth(token)), POOL_CANNOT_EXPAND)


@pytest.mark.parametrize(
    "pool_id",
    [POOL_WIN_2, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"],
    ids=["assigned-to-others", "nonexistent"],
)
async def test_step1_is_403_900_for_a_pool_not_assigned_or_not_existing(
    client: Client, pool_id: str
) -> None:
    token = await login(client, "user-2")
    await expect(await client.get(connect(pool_id), headers=auth(token)), INSUFFICIENT_PERMISSIONS)


@pytest.mark.parametrize(
    ("pool_id", "answer"),
    [
        (
            "not-a-uuid",
            invalid(
                item("uuid_parsing", ["path", "id"],
                     "Input should be a valid UUID, invalid character: found `n` at 0",
                     "not-a-uuid", {"error": "invalid character: found `n` at 0"})
            ),
        ),
        (
            "bc4f9e45",
            invalid(
                item("uuid_parsing", ["path", "id"],
                     "Input should be a valid UUID, invalid length: found 8",
                     "bc4f9e45", {"error": "invalid length: found 8"})
            ),
        ),
        (
            "bc4f9e45-6b5a-11e6-bb85-ae91f4b8c413",
            invalid(
                item("uuid_version", ["path", "id"], "UUID version 4 expected",
                     "bc4f9e45-6b5a-11e6-bb85-ae91f4b8c413", {"expected_version": 4})
            ),
        ),
    ],
    ids=["not-a-uuid", "too-short", "version-1"],
)  # fmt: skip
async def test_step1_bad_pool_ids_are_422(
    client: Client, token: str, pool_id: str, answer: Answer
) -> None:
    await expect(await client.get(connect(pool_id), headers=auth(token)), answer)


@pytest.mark.parametrize("spelling", [POOL_WIN_1.upper(), POOL_WIN_1.replace("-", "")])
async def test_step1_accepts_any_uuid_spelling_of_the_pool_id(
    client: Client, token: str, spelling: str
) -> None:
    first = await client.get(connect(POOL_WIN_1), headers=auth(token))
    await expect(
        await client.get(connect(spelling), headers=auth(token)),
        task_answer(202, await data_of(first)),
    )


async def test_step1_checks_authentication_before_the_pool_id(client: Client) -> None:
    await expect(await client.get(connect("not-a-uuid")), PERMISSION_DENIED)
    await expect(
        await client.get(connect("not-a-uuid"), headers={"Authorization": "Bearer x"}),
        PERMISSION_DENIED,
    )


async def test_step1_restarts_after_a_cancelled_expand(aiohttp_client: AiohttpClient) -> None:
    client = await default_client(aiohttp_client, {"kind": "POOL_EXPAND", "outcome": "CANCELLED"})
    token = await login(client)
    first = await data_of(await client.get(connect(POOL_WIN_1), headers=auth(token)))
    advance(client, LONGEST_TASK_S)
    created = now(client)
    resp = await client.get(connect(POOL_WIN_1), headers=auth(token))
    second = await data_of(resp)
    assert second["id"] != first["id"]
    await expect(resp, task_answer(202, pending(second["id"], "POOL_EXPAND", created)))


async def test_a_failed_expand_blocks_step1_in_that_pool_only(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(
        aiohttp_client, {"pool": "pool-win-1", "kind": "POOL_EXPAND", "outcome": "FAILED"}
    )
    token = await login(client)
    await client.get(connect(POOL_WIN_1), headers=auth(token))
    advance(client, LONGEST_TASK_S)
    await expect(await client.get(connect(POOL_WIN_1), headers=auth(token)), POOL_CANNOT_EXPAND)
    await expect(
        await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)),
        NO_ELIGIBLE_MACHINE,
    )
    assert (await client.get(connect(POOL_WIN_2), headers=auth(token))).status == 202


async def test_100_concurrent_step1_requests_create_exactly_one_task(
    client: Client, token: str
) -> None:
    responses = await asyncio.gather(
        *(client.get(connect(POOL_WIN_1), headers=auth(token)) for _ in range(100))
    )
    answers = [(resp.status, await resp.json()) for resp in responses]
    assert {status for status, _ in answers} == {202}
    assert len({body["data"]["id"] for _, body in answers}) == 1
    tasks = [
        str(t.id)
        for t in client.app[RUNTIME].world.tasks.values()
        if (str(t.user_id), str(t.pool_id)) == (ASTRAVDI_ID, POOL_WIN_1)
    ]
    assert tasks == [answers[0][1]["data"]["id"]]


async def test_a_static_pool_gives_its_free_machines_then_answers_403_800(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await shared_pools_client(aiohttp_client)
    bob, carol = await login(client, "bob"), await login(client, "carol")
    # The kiosk's one free machine is bob's from the moment his expand exists.
    assert (await client.get(connect(KIOSK), headers=auth(bob))).status == 202
    await expect(await client.get(connect(KIOSK), headers=auth(carol)), POOL_CANNOT_EXPAND)
    advance(client, 2)
    assert (await client.get(connect(KIOSK), headers=auth(bob))).status == 200
    await expect(await client.get(connect(KIOSK), headers=auth(carol)), POOL_CANNOT_EXPAND)


# -- step 2 (§7, get_machine_step_2.png) ------------------------------------------------------
async def test_step2_is_409_801_without_a_machine_even_while_the_expand_runs(
    client: Client, token: str
) -> None:
    connect_win_1 = connect(POOL_WIN_1)
    await expect(
        await client.post(connect_win_1, json=GLINT, headers=auth(token)), NO_ELIGIBLE_MACHINE
    )
    await client.get(connect_win_1, headers=auth(token))
    advance(client, 3)
    await expect(
        await client.post(connect_win_1, json=GLINT, headers=auth(token)), NO_ELIGIBLE_MACHINE
    )


async def test_step2_starts_a_glint_start_then_answers_that_machines_data(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(aiohttp_client, EXPAND_COMPLETES, START_COMPLETES)
    token = await login(client)
    await client.get(connect(POOL_WIN_1), headers=auth(token))
    advance(client, LONGEST_TASK_S)
    created = now(client)
    resp = await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token))
    start = pending((await data_of(resp))["id"], "GLINT_START", created)
    await expect(resp, task_answer(202, start))
    await expect(
        await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)),
        task_answer(202, start),
    )
    # The machine is reserved and has the machine already: step 1 still answers 200.
    assert (await client.get(connect(POOL_WIN_1), headers=auth(token))).status == 200
    advance(client, LONGEST_TASK_S)
    await expect(
        await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)),
        Answer(200, {"data": WIN_1_MACHINE}),
    )


async def test_step2_answers_the_machine_of_the_pool_asked_for(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(aiohttp_client, EXPAND_COMPLETES, START_COMPLETES)
    token = await login(client)
    for pool_id in (POOL_WIN_1, POOL_ASTRA_1):
        await client.get(connect(pool_id), headers=auth(token))
    advance(client, LONGEST_TASK_S)
    for pool_id in (POOL_WIN_1, POOL_ASTRA_1):
        await client.post(connect(pool_id), json=GLINT, headers=auth(token))
    advance(client, LONGEST_TASK_S)
    astravdi = client.app[RUNTIME].world.user("astravdi")
    assert astravdi is not None
    astra_machine = astravdi.machine_in(uuid.UUID(POOL_ASTRA_1))
    assert astra_machine is not None
    assert astra_machine.verbose_name == "pool-astra-1-vm-0001"
    await expect(
        await client.post(connect(POOL_ASTRA_1), json=GLINT, headers=auth(token)),
        Answer(200, {"data": astra_machine.to_dict()}),
    )
    await expect(
        await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)),
        Answer(200, {"data": WIN_1_MACHINE}),
    )


@pytest.mark.parametrize("outcome", ["CANCELLED", "FAILED"])
async def test_step2_restarts_after_a_cancelled_or_failed_glint_start(
    aiohttp_client: AiohttpClient, outcome: str
) -> None:
    client = await default_client(
        aiohttp_client, EXPAND_COMPLETES, {"kind": "GLINT_START", "outcome": outcome}
    )
    token = await login(client)
    await client.get(connect(POOL_WIN_1), headers=auth(token))
    advance(client, LONGEST_TASK_S)
    first = await data_of(await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)))
    advance(client, LONGEST_TASK_S)
    stored = await data_of(await client.get(f"/api/v2/tasks/{first['id']}/", headers=auth(token)))
    assert stored["status"] == outcome
    created = now(client)
    resp = await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token))
    second = await data_of(resp)
    assert second["id"] != first["id"]
    await expect(resp, task_answer(202, pending(second["id"], "GLINT_START", created)))


async def test_step2_works_on_a_scenario_assigned_machine(aiohttp_client: AiohttpClient) -> None:
    client = await shared_pools_client(aiohttp_client)
    token = await login(client, "alice")
    assert (await client.post(connect(KIOSK), json=GLINT, headers=auth(token))).status == 202
    advance(client, 2)
    await expect(
        await client.post(connect(KIOSK), json=GLINT, headers=auth(token)),
        Answer(200, {"data": KIOSK_ALICE}),
    )


async def test_step2_is_403_900_for_a_pool_not_assigned(client: Client) -> None:
    token = await login(client, "user-2")
    await expect(
        await client.post(connect(POOL_WIN_2), json=GLINT, headers=auth(token)),
        INSUFFICIENT_PERMISSIONS,
    )


NOT_GLINT_V1 = "Value error, remote_protocol must be ConnectionTypesMap.GLINTV1"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (
            GLINT | {"remote_protocol": 2},
            invalid(item("value_error", ["body", "remote_protocol"], NOT_GLINT_V1, 2,
                         {"error": {}})),
        ),
        (
            GLINT | {"remote_protocol": 3},
            invalid(item("value_error", ["body", "remote_protocol"], NOT_GLINT_V1, 3,
                         {"error": {}})),
        ),
        (
            GLINT | {"remote_protocol": 4},
            invalid(item("enum", ["body", "remote_protocol"], "Input should be 1, 2 or 3", 4,
                         {"expected": "1, 2 or 3"})),
        ),
        (
            GLINT | {"remote_protocol": "GLINT"},
            invalid(item("enum", ["body", "remote_protocol"], "Input should be 1, 2 or 3",
                         "GLINT", {"expected": "1, 2 or 3"})),
        ),
        (
            GLINT | {"width": 1, "height": 2.5},
            invalid(
                item("greater_than_equal", ["body", "width"],
                     "Input should be greater than or equal to 2", 1, {"ge": 2}),
                item("int_from_float", ["body", "height"],
                     "Input should be a valid integer, got a number with a fractional part", 2.5),
            ),
        ),
        (
            {"remote_protocol": 1},
            invalid(
                item("missing", ["body", "width"], "Field required", {"remote_protocol": 1}),
                item("missing", ["body", "height"], "Field required", {"remote_protocol": 1}),
                item("missing", ["body", "password"], "Field required", {"remote_protocol": 1}),
            ),
        ),
        (
            GLINT | {"password": 5},
            invalid(item("string_type", ["body", "password"], "Input should be a valid string", 5)),
        ),
        (
            [GLINT],
            invalid(item("model_attributes_type", ["body"],
                         "Input should be a valid dictionary or object to extract fields from",
                         [GLINT])),
        ),
    ],
    ids=["protocol-2", "protocol-3", "protocol-4", "protocol-name", "sizes", "missing-keys",
         "password-type", "not-an-object"],
)  # fmt: skip
async def test_step2_bad_bodies_are_422(
    client: Client, token: str, body: Any, answer: Answer
) -> None:
    await expect(await client.post(connect(POOL_WIN_1), json=body, headers=auth(token)), answer)


async def test_step2_without_a_body_is_422_body_missing(client: Client, token: str) -> None:
    await expect(
        await client.post(connect(POOL_WIN_1), headers=auth(token)),
        invalid(item("missing", ["body"], "Field required", None)),
    )


async def test_step2_lists_path_and_body_errors_together_path_first(
    client: Client, token: str
) -> None:
    resp = await client.post(connect("nope"), json={"remote_protocol": 2}, headers=auth(token))
    await expect(
        resp,
        invalid(
            item("uuid_parsing", ["path", "id"],
                 "Input should be a valid UUID, invalid character: found `n` at 0", "nope",
                 {"error": "invalid character: found `n` at 0"}),
            item("value_error", ["body", "remote_protocol"], NOT_GLINT_V1, 2, {"error": {}}),
            item("missing", ["body", "width"], "Field required", {"remote_protocol": 2}),
            item("missing", ["body", "height"], "Field required", {"remote_protocol": 2}),
            item("missing", ["body", "password"], "Field required", {"remote_protocol": 2}),
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [GLINT | {"remote_protocol": "1"}, GLINT | {"remote_protocol": 1.0}, GLINT | {"width": "1920"}],
)
async def test_step2_accepts_pydantic_lax_coercion(
    client: Client, token: str, body: dict[str, Any]
) -> None:
    # Past validation, the next check answers: no machine yet.
    await expect(
        await client.post(connect(POOL_WIN_1), json=body, headers=auth(token)),
        NO_ELIGIBLE_MACHINE,
    )


async def test_step2_checks_authentication_before_validation(client: Client) -> None:
    await expect(await client.post(connect("nope"), json={"x": 1}), PERMISSION_DENIED)


async def test_step2_validates_before_checking_the_pool(client: Client) -> None:
    token = await login(client, "user-2")
    resp = await client.post(connect(POOL_WIN_2), json=GLINT | {"width": 1}, headers=auth(token))
    assert resp.status == 422


# -- isolation -------------------------------------------------------------------------------
async def test_connection_state_is_per_user_and_per_pool(aiohttp_client: AiohttpClient) -> None:
    client = await shared_pools_client(aiohttp_client)
    alice, bob = await login(client, "alice"), await login(client, "bob")
    alice_task = await data_of(await client.get(connect(WIN_DESKTOPS), headers=auth(alice)))
    advance(client, 2)
    assert (await client.get(connect(WIN_DESKTOPS), headers=auth(alice))).status == 200
    # Alice's machine answers neither for bob in that pool nor for alice in another.
    bob_task = await data_of(await client.get(connect(WIN_DESKTOPS), headers=auth(bob)))
    other_pool = await data_of(await client.get(connect(LINUX_DESKTOPS), headers=auth(alice)))
    assert len({alice_task["id"], bob_task["id"], other_pool["id"]}) == 3
    assert bob_task["status"] == other_pool["status"] == "PENDING"
    await expect(
        await client.post(connect(WIN_DESKTOPS), json=GLINT, headers=auth(bob)),
        NO_ELIGIBLE_MACHINE,
    )
    await expect(
        await client.post(connect(LINUX_DESKTOPS), json=GLINT, headers=auth(alice)),
        NO_ELIGIBLE_MACHINE,
    )
    assert (await client.post(connect(WIN_DESKTOPS), json=GLINT, headers=auth(alice))).status == 202


# -- the whole flow --------------------------------------------------------------------------
async def test_login_step1_advance_step2_advance_gives_the_machine(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(
        aiohttp_client,
        EXPAND_COMPLETES | {"pending_s": 3, "running_s": 10},
        START_COMPLETES | {"pending_s": 3, "running_s": 20},
    )
    token = await login(client)
    t0 = now(client)
    resp = await client.get(connect(POOL_WIN_1), headers=auth(token))
    expand = pending((await data_of(resp))["id"], "POOL_EXPAND", t0)
    await expect(resp, task_answer(202, expand))

    advance(client, 13)
    done = expand | {"status": "COMPLETED", "started": later(client, -10), "finished": now(client)}
    await expect(await client.get(connect(POOL_WIN_1), headers=auth(token)), task_answer(200, done))

    t1 = now(client)
    resp = await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token))
    start = pending((await data_of(resp))["id"], "GLINT_START", t1)
    await expect(resp, task_answer(202, start))

    advance(client, 23)
    await expect(
        await client.post(connect(POOL_WIN_1), json=GLINT, headers=auth(token)),
        Answer(200, {"data": WIN_1_MACHINE}),
    )
    finished = start | {
        "status": "COMPLETED",
        "started": later(client, -20),
        "finished": now(client),
    }
    await expect(
        await client.get(f"/api/v2/tasks/{start['id']}/", headers=auth(token)),
        task_answer(200, finished),
    )


# -- the answers are the response models' dumps ----------------------------------------------
# The handlers build these bodies as dicts (the models cost more than the rest of a request);
# the models are what /openapi.json documents, so every dict must be the model's dump, key
# order included.
def dumped(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"))


@pytest.mark.parametrize(("page_no", "size"), [(1, 50), (1, 1), (2, 3), (3, 2), (9, 100)])
async def test_a_pools_page_is_the_pools_page_models_dump(
    client: Client, page_no: int, size: int
) -> None:
    world = client.app[RUNTIME].world
    pools = list(world.pools.values())
    start = (page_no - 1) * size
    model = PoolsPage(
        data=[PoolOut.of(pool) for pool in pools[start : start + size]],
        total=len(pools),
        page=page_no,
        size=size,
        pages=-(-len(pools) // size),
    )
    assert json.dumps(pools_page(pools, page_no, size)) == dumped(model)


async def test_a_task_body_is_the_task_models_dump_in_every_state(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client(aiohttp_client, EXPAND_COMPLETES)
    token = await login(client)
    resp = await client.get(connect(POOL_WIN_1), headers=auth(token))
    task = client.app[RUNTIME].world.tasks[uuid.UUID((await data_of(resp))["id"])]
    seen = []
    for step in (3, LONGEST_TASK_S, 0):  # PENDING, RUNNING, COMPLETED
        seen.append(task.state)
        assert json.dumps(task_body(task)) == dumped(TaskBody(data=TaskOut.of(task)))
        advance(client, step)
    assert seen == ["PENDING", "RUNNING", "COMPLETED"]


async def test_a_machine_body_is_the_machine_models_dump(client: Client) -> None:
    machines = [m for pool in client.app[RUNTIME].world.pools.values() for m in pool.free]
    assert machines
    for machine in machines:
        assert json.dumps(machine_body(machine)) == dumped(MachineBody(data=MachineOut.of(machine)))
