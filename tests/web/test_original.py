"""The /service/ endpoints (CONTRACT §9): the whole world, and pools created all or nothing."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import default_scenario_path, parse_scenario
from mockapi.keys import CLOCK, RUNTIME
from mockapi.settings import Settings
from tests.answers import USER_IDS, Answer, expect, invalid, item
from tests.conftest import SECRET
from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, login

CREATE = "/service/create-pools/"
POOL_OBJECTS = {
    "pool-win-1": {"id": POOL_WIN_1, "name": "pool-win-1", "status": "ACTIVE",
                   "is_favorite": True, "pool_type": "AUTOMATED", "os_type": "Windows",
                   "connection_types": ["RDP", "NATIVE_RDP"]},
    "pool-win-2": {"id": "22aaa425-6387-4767-9611-3c26ad1a6161", "name": "pool-win-2",
                   "status": "ACTIVE", "is_favorite": False, "pool_type": "AUTOMATED",
                   "os_type": "Windows", "connection_types": ["RDP", "NATIVE_RDP"]},
    "pool-astra-1": {"id": "35f4392a-2cc6-4f9b-aea5-dce568493175", "name": "pool-astra-1",
                     "status": "ACTIVE", "is_favorite": False, "pool_type": "STATIC",
                     "os_type": "Linux", "connection_types": ["GLINT"]},
    "pool-astra-2": {"id": "2378c527-64eb-48cf-817a-645b645dba54", "name": "pool-astra-2",
                     "status": "ACTIVE", "is_favorite": False, "pool_type": "STATIC",
                     "os_type": "Linux", "connection_types": ["GLINT"]},
}  # fmt: skip
ALL_POOLS = list(POOL_OBJECTS.values())
NEW_POOL_KEYS = ["id", "name", "status", "is_favorite", "pool_type", "os_type", "connection_types"]


#: CONTRACT §4: each user's email, as the original holds it.
EMAILS = {"astravdi": "johndoe@example.com", "user-1": "yobap@example.com",
          "user-2": "lupisp@example.com", "user-3": "mercylupis@example.com",
          "user-4": "sevmev@example.com", "user-5": "lupisp@example.com"}  # fmt: skip


def user_object(
    username: str,
    full_name: str,
    *,
    pools: list[str],
    roles: list[str] | None = None,
    disabled: bool = False,
    otp: bool = False,
    adfs: bool = False,
    hardware_token: bool = False,
) -> dict[str, Any]:
    return {
        "id": USER_IDS[username],
        "username": username,
        "disabled": disabled,
        "roles": roles or ["user"],
        "email": EMAILS[username],
        "full_name": full_name,
        "otp_enabled": otp,
        "adfs_enabled": adfs,
        "hardware_token_enabled": hardware_token,
        "assigned_pools": [POOL_OBJECTS[name] for name in pools],
        "assigned_machines": [],
    }


ALL_USERS = [
    user_object("astravdi", "John Doe", pools=list(POOL_OBJECTS), roles=["admin", "user"]),
    user_object("user-1", "Yoba Pekas", pools=[], disabled=True, otp=True),
    user_object("user-2", "Lupis Pupas", pools=["pool-win-1", "pool-astra-2"]),
    user_object("user-3", "Mercy Lupis", pools=["pool-win-1"], hardware_token=True),
    user_object("user-4", "Severus Meverus", pools=[], otp=True),
    user_object("user-5", "Lupis Pupas", pools=[], adfs=True),
]


async def get_json(client: Client, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status == 200
    return await resp.json()


# -- the world -------------------------------------------------------------------------------
async def test_all_pools_lists_every_pool_in_scenario_order(client: Client) -> None:
    await expect(await client.get("/service/all-pools/"), Answer(200, ALL_POOLS))


async def test_all_users_lists_users_with_pools_and_machines_and_no_password(
    client: Client,
) -> None:
    await expect(await client.get("/service/all-users/"), Answer(200, ALL_USERS))


async def test_all_users_shows_a_machine_once_an_expand_completed(
    aiohttp_client: AiohttpClient,
) -> None:
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["rules"].append({"kind": "POOL_EXPAND", "outcome": "COMPLETED"})
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    client = await aiohttp_client(app)
    token = await login(client)
    await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    client.app[CLOCK].advance(63)
    [astravdi, *_] = await get_json(client, "/service/all-users/")
    assert astravdi["assigned_machines"] == [
        {
            "id": "d1ac0a6c-9d4c-4d6b-8a76-5d0c1a2f3b01",
            "verbose_name": "win-1-vm-0001",
            "permissions": ["VM_POWER_CONTROL"],
            "host": "10.254.150.133",
            "port": 39897,
            "status": "ACTIVE",
            "protocol_id": 1,
        }
    ]


async def test_all_tasks_is_a_flat_list_with_each_owner(client: Client) -> None:
    seeded = [
        {"id": "fabb9a84-ae96-4d07-b5a0-329ea70fa476", "status": "PENDING",
         "kind": "POOL_EXPAND", "created": "2022-01-01T00:00:00Z", "started": None,
         "finished": None, "user_id": USER_IDS["user-1"]},
        {"id": "22aaa425-6387-4767-9611-3c26ad1a6161", "status": "FAILED",
         "kind": "POOL_EXPAND", "created": "2022-01-01T00:00:00Z",
         "started": "2022-01-02T00:00:00Z", "finished": "2022-01-03T00:00:00Z",
         "user_id": USER_IDS["user-2"]},
    ]  # fmt: skip
    await expect(await client.get("/service/all-tasks/"), Answer(200, seeded))
    token = await login(client)
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    new = (await resp.json())["data"]
    await expect(
        await client.get("/service/all-tasks/"),
        Answer(200, [*seeded, new | {"user_id": ASTRAVDI_ID}]),
    )


# -- create-pools ----------------------------------------------------------------------------
async def test_create_pools_with_an_empty_body_creates_one_unassigned_pool(client: Client) -> None:
    resp = await client.post(CREATE, json={})
    assert resp.status == 201
    [pool] = await resp.json()
    assert list(pool) == NEW_POOL_KEYS
    assert re.fullmatch(r"pool-[0-9a-f]{4}", pool["name"])
    assert pool["status"] == "ACTIVE"
    assert (pool["pool_type"], pool["os_type"]) in {
        (pool_type, os_type)
        for pool_type in ("AUTOMATED", "STATIC")
        for os_type in ("Windows", "Linux")
    }
    assert pool["connection_types"] == (
        ["RDP", "NATIVE_RDP"] if pool["os_type"] == "Windows" else ["GLINT"]
    )
    await expect(await client.get("/service/all-pools/"), Answer(200, [*ALL_POOLS, pool]))
    # Assigned to nobody.
    await expect(await client.get("/service/all-users/"), Answer(200, ALL_USERS))


async def test_created_pools_are_assigned_to_users_named_in_any_uuid_spelling(
    client: Client,
) -> None:
    users = [ASTRAVDI_ID.upper(), USER_IDS["user-2"].replace("-", "")]
    resp = await client.post(
        CREATE, json={"count": 3, "create_machines_count": 2, "assigned_users": users}
    )
    assert resp.status == 201
    pools = await resp.json()
    assert len(pools) == len({p["id"] for p in pools}) == len({p["name"] for p in pools}) == 3
    users_now = {u["username"]: u for u in await get_json(client, "/service/all-users/")}
    assert users_now["astravdi"]["assigned_pools"] == [*ALL_POOLS, *pools]
    assert users_now["user-2"]["assigned_pools"][2:] == pools
    assert users_now["user-3"]["assigned_pools"] == [POOL_OBJECTS["pool-win-1"]]
    world = client.app[RUNTIME].world
    for pool in pools:
        created = world.pool(pool["id"])
        assert created is not None
        assert [(m.pool_id, m.user_id) for m in created.free] == [(created.id, None)] * 2


async def test_the_pools_route_shows_created_pools_and_a_reset_removes_them(
    client: Client,
) -> None:
    # The user's pool list is remembered between requests: creating pools and resetting must
    # each show on the next GET /pools/, read before and after.
    headers = auth(await login(client))
    mine = ["pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2"]
    data = [POOL_OBJECTS[name] for name in mine]
    before: dict[str, Any] = {"data": data, "total": 4, "page": 1, "size": 50, "pages": 1}
    await expect(await client.get("/api/v2/pools/", headers=headers), Answer(200, before))
    resp = await client.post(CREATE, json={"count": 2, "assigned_users": [ASTRAVDI_ID]})
    created = await resp.json()
    after = before | {"data": [*before["data"], *created], "total": 6}
    await expect(await client.get("/api/v2/pools/", headers=headers), Answer(200, after))
    assert (await client.post("/service/reset/")).status == 200
    headers = auth(await login(client))  # same ids after a reset; a fresh token all the same
    await expect(await client.get("/api/v2/pools/", headers=headers), Answer(200, before))


async def test_same_seed_and_same_requests_create_the_same_pools(
    aiohttp_client: AiohttpClient,
) -> None:
    answers = []
    for _ in range(2):
        client = await aiohttp_client(create_app(Settings(jwt_secret=SECRET, clock="manual")))
        resp = await client.post(CREATE, json={"count": 5, "create_machines_count": 1})
        answers.append(await resp.json())
    assert answers[0] == answers[1]


async def test_created_machines_are_handed_out_by_step_1(aiohttp_client: AiohttpClient) -> None:
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["rules"].append({"kind": "POOL_EXPAND", "outcome": "COMPLETED"})
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    client = await aiohttp_client(app)
    resp = await client.post(
        CREATE, json={"count": 1, "create_machines_count": 2, "assigned_users": [ASTRAVDI_ID]}
    )
    [pool] = await resp.json()
    world = client.app[RUNTIME].world
    created = world.pool(pool["id"])
    assert created is not None
    first_free = created.free[0]
    token = await login(client)
    assert (
        await client.get(f"/api/v2/pools/{pool['id']}/connect/", headers=auth(token))
    ).status == 202
    client.app[CLOCK].advance(63)
    assert (
        await client.get(f"/api/v2/pools/{pool['id']}/connect/", headers=auth(token))
    ).status == 200
    astravdi = world.user("astravdi")
    assert astravdi is not None
    assert astravdi.machine_in(created.id) is first_free
    assert len(created.free) == 1


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (
            {"count": 0},
            invalid(item("greater_than_equal", ["body", "count"],
                         "Input should be greater than or equal to 1", 0, {"ge": 1})),
        ),
        (
            {"count": 501, "create_machines_count": -1},
            invalid(
                item("less_than_equal", ["body", "count"],
                     "Input should be less than or equal to 500", 501, {"le": 500}),
                item("greater_than_equal", ["body", "create_machines_count"],
                     "Input should be greater than or equal to 0", -1, {"ge": 0}),
            ),
        ),
        (
            {"create_machines_count": 501},
            invalid(item("less_than_equal", ["body", "create_machines_count"],
                         "Input should be less than or equal to 500", 501, {"le": 500})),
        ),
        (
            {"assigned_users": ["nope"]},
            invalid(item("uuid_parsing", ["body", "assigned_users", 0],
                         "Input should be a valid UUID, invalid character: found `n` at 0",
                         "nope", {"error": "invalid character: found `n` at 0"})),
        ),
        (
            {"assigned_users": ASTRAVDI_ID},
            invalid(item("list_type", ["body", "assigned_users"], "Input should be a valid list",
                         ASTRAVDI_ID)),
        ),
    ],
    ids=["count-0", "too-many", "too-many-machines", "bad-uuid", "not-a-list"],
)  # fmt: skip
async def test_create_pools_bad_bodies_are_422_and_create_nothing(
    client: Client, body: dict[str, Any], answer: Answer
) -> None:
    await expect(await client.post(CREATE, json=body), answer)
    await expect(await client.get("/service/all-pools/"), Answer(200, ALL_POOLS))


async def test_an_unknown_user_is_422_naming_it_and_nothing_is_created(client: Client) -> None:
    unknown = "0F1E2D3C4B5A49788695A4B3C2D1E0F9"
    rng_before = client.app[RUNTIME].world.rng.getstate()
    resp = await client.post(
        CREATE,
        json={"count": 2, "create_machines_count": 3, "assigned_users": [ASTRAVDI_ID, unknown]},
    )
    await expect(
        resp,
        invalid(
            item(
                "value_error",
                ["body", "assigned_users", 1],
                "Value error, unknown user 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
                unknown,
                {"error": {}},
            )
        ),
    )
    await expect(await client.get("/service/all-pools/"), Answer(200, ALL_POOLS))
    await expect(await client.get("/service/all-users/"), Answer(200, ALL_USERS))
    assert client.app[RUNTIME].world.rng.getstate() == rng_before


async def test_create_pools_without_a_body_is_422(client: Client) -> None:
    await expect(
        await client.post(CREATE), invalid(item("missing", ["body"], "Field required", None))
    )
