"""Limits on the whole world, as a client meets them: a 422 that names the limit, the number
asked for and the setting that raises it, and a world left exactly as it was (all or nothing).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import parse_text
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client

SCENARIO = "/service/scenario/"
CREATE = "/service/create-pools/"
TOML = {"content-type": "application/toml"}
POOL_ID = "00000000-0000-4000-8000-000000000001"


def excess(noun: str, key: str, asked: int, allowed: int, loc: list[Any]) -> dict[str, Any]:
    """The 422 item of one limit, exactly."""
    flag, env = "--" + key.replace("_", "-"), "MOCKAPI_" + key.upper()
    return {
        "type": "limit_exceeded",
        "loc": loc,
        "msg": f"Too many {noun}: {asked:,} asked for, the limit ({key}) is {allowed:,}. "
        f"Raise it with {flag} (or {env}) at start-up, or {key} in the [settings] of the "
        "scenario the server starts with.",
        "input": asked,
        "ctx": {"limit": key, "allowed": allowed, "flag": flag, "env": env},
        "err_code": 999,
    }


#: A world small enough for any limit these tests set: one user, one pool, no machine.
TINY = parse_text(
    f'[[pools]]\nid = "{POOL_ID}"\nname = "p"\n\n'
    '[[users]]\nid = "00000000-0000-4000-8000-0000000000aa"\nusername = "base"\n',
    "toml",
)


async def make(aiohttp_client: AiohttpClient, *, tiny: bool = True, **limits: Any) -> Client:
    """A server with ``limits`` on the tiny world (or on the default one)."""
    settings = replace(Settings(jwt_secret=SECRET, clock="manual"), **limits)
    return await aiohttp_client(create_app(settings, TINY if tiny else None))


async def world(client: Client) -> list[Any]:
    """Everything the world holds, as the /service/ routes show it."""
    seen = []
    for path in ("/service/all-users/", "/service/all-pools/", "/service/all-tasks/", SCENARIO):
        resp = await client.get(path)
        assert resp.status == 200
        seen.append(await resp.json())
    return seen


def group(count: int) -> str:
    return f"""
[[pools]]
id = "{POOL_ID}"
name = "p"
free_machines = 3

[[user_groups]]
prefix = "u"
count = {count}
pools = ["p"]
"""


async def test_a_scenario_with_too_many_users_is_refused_and_nothing_changes(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client, max_users=1_000)
    before = await world(client)
    resp = await client.put(SCENARIO, data=group(1_001), headers=TOML)
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [excess("users", "max_users", 1_001, 1_000, ["body", "user_groups"])]
    }
    assert await world(client) == before


async def test_billions_of_users_in_a_small_body_are_counted_not_built(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client)
    groups = "".join(
        f'[[user_groups]]\nprefix = "g{n}-"\ncount = 1_000_000_000\n' for n in range(100)
    )
    resp = await client.put(SCENARIO, data=groups, headers=TOML)
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert item["input"] == 100_000_000_000
    assert item["ctx"]["limit"] == "max_users"


async def test_every_limit_a_scenario_goes_over_is_named_at_once(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client, max_users=2, max_machines=2, max_assignments=2)
    resp = await client.put(SCENARIO, data=group(3), headers=TOML)
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [
            excess("users", "max_users", 3, 2, ["body", "user_groups"]),
            excess("machines", "max_machines", 3, 2, ["body", "pools"]),
            excess("pool assignments", "max_assignments", 3, 2, ["body", "user_groups"]),
        ]
    }


async def test_exactly_at_the_limit_is_accepted(aiohttp_client: AiohttpClient) -> None:
    client = await make(aiohttp_client, max_users=3, max_machines=3)
    resp = await client.put(SCENARIO, data=group(3), headers=TOML)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["world"]["users"] == 3


async def test_a_scenario_may_lower_a_limit_for_its_world_but_not_raise_it(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client, max_users=5)
    raised = "[settings]\nmax_users = 1_000\n" + group(6)
    resp = await client.put(SCENARIO, data=raised, headers=TOML)
    assert (await resp.json())["detail"] == [
        excess("users", "max_users", 6, 5, ["body", "user_groups"])
    ]
    lowered = "[settings]\nmax_users = 2\n" + group(3)
    resp = await client.put(SCENARIO, data=lowered, headers=TOML)
    assert (await resp.json())["detail"] == [
        excess("users", "max_users", 3, 2, ["body", "user_groups"])
    ]


@pytest.mark.parametrize(
    ("key", "section", "entry"),
    [
        ("max_rules", "rules", {"outcome": "FAILED"}),
        ("max_tasks", "tasks", {"id": "00000000-0000-4000-8000-0000000000c1", "user": "a"}),
        ("max_faults", "faults", {"path": "/api/v2/health/", "status": 503}),
    ],
)
async def test_rules_tasks_and_faults_of_a_scenario_are_limited(
    aiohttp_client: AiohttpClient, key: str, section: str, entry: dict[str, Any]
) -> None:
    client = await make(aiohttp_client, tiny=True, **{key: 1})
    data = {
        "pools": [{"id": POOL_ID, "name": "p"}],
        "users": [{"id": "00000000-0000-4000-8000-0000000000a1", "username": "a"}],
        section: [entry, entry | ({"id": "00000000-0000-4000-8000-0000000000c2"}
                                  if section == "tasks" else {})],
    }  # fmt: skip
    resp = await client.put(
        SCENARIO, data=json.dumps(data), headers={"content-type": "application/json"}
    )
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert (item["ctx"]["limit"], item["input"], item["loc"]) == (key, 2, ["body", section])


async def test_create_pools_over_the_pools_limit_creates_nothing(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client, tiny=False, max_pools=6)
    before = await world(client)
    resp = await client.post(CREATE, json={"count": 3})
    assert resp.status == 422
    assert await resp.json() == {"detail": [excess("pools", "max_pools", 7, 6, ["body", "count"])]}
    assert await world(client) == before
    resp = await client.post(CREATE, json={"count": 2})
    assert resp.status == 201


async def test_create_pools_over_the_machines_limit_creates_nothing(
    aiohttp_client: AiohttpClient,
) -> None:
    # The default world holds 11 machines: 5 + 5 free in the astra pools, and one listed.
    client = await make(aiohttp_client, tiny=False, max_machines=100)
    before = await world(client)
    resp = await client.post(CREATE, json={"count": 10, "create_machines_count": 9})
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [excess("machines", "max_machines", 101, 100, ["body", "create_machines_count"])]
    }
    assert await world(client) == before


async def test_create_pools_over_the_assignments_limit_creates_nothing(
    aiohttp_client: AiohttpClient,
) -> None:
    # The default world has 7 assignments: astravdi 4, user-2 2, user-3 1.
    client = await make(aiohttp_client, tiny=False, max_assignments=10)
    astravdi = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
    resp = await client.post(CREATE, json={"count": 4, "assigned_users": [astravdi]})
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [excess("pool assignments", "max_assignments", 11, 10,
                          ["body", "assigned_users"])]
    }  # fmt: skip


# -- limits the clients reach at run time -----------------------------------------------------
ASTRAVDI = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
WIN_1 = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"
HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def token(client: Client, username: str = "astravdi") -> str:
    resp = await client.post("/service/tokens/", json={"username": username})
    value: str = (await resp.json())["access_token"]
    return value


@pytest.mark.parametrize(
    ("limits", "noun", "key", "flag"),
    [
        ({"max_sockets_per_user": 2}, "sockets of one user", "max_sockets_per_user",
         "--max-sockets-per-user (or MOCKAPI_MAX_SOCKETS_PER_USER)"),
        ({"max_sockets": 2}, "sockets", "max_sockets", "--max-sockets (or MOCKAPI_MAX_SOCKETS)"),
    ],
)  # fmt: skip
async def test_a_socket_past_a_socket_limit_is_refused_with_503_naming_it(
    aiohttp_client: AiohttpClient, limits: dict[str, int], noun: str, key: str, flag: str
) -> None:
    client = await make(aiohttp_client, tiny=False, **limits)
    cookie = {"Cookie": f"JWT {await token(client)}"}
    path = f"/api/v2/pools/ws/{ASTRAVDI}/"
    held = [await client.ws_connect(path, headers=cookie) for _ in range(2)]
    async with client.get(path, headers=HANDSHAKE | cookie) as resp:
        assert resp.status == 503
        assert resp.headers["www-authenticate"] == "JWT"
        assert resp.headers["retry-after"] == "1"
        assert resp.headers["connection"] == "close"
        assert await resp.json() == {
            "detail": [
                {
                    "msg": f"Too many {noun}: 2 open, the limit ({key}). Close one, or raise it "
                    f"with {flag} at start-up.",
                    "err_code": 999,
                    "type": "default",
                }
            ]
        }
    await held[0].close()
    again = await client.ws_connect(path, headers=cookie)  # room again once one closed
    for ws in (held[1], again):
        await ws.close()


async def test_a_fault_past_max_faults_is_422_and_not_added(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await make(aiohttp_client, max_faults=1)
    fault = {"path": "/api/v2/health/", "status": 503}
    assert (await client.post("/service/faults/", json=fault)).status == 201
    resp = await client.post("/service/faults/", json=fault)
    assert resp.status == 422
    assert await resp.json() == {"detail": [excess("faults", "max_faults", 2, 1, ["body"])]}
    assert len((await (await client.get("/service/faults/")).json())["data"]) == 1


async def test_past_max_machines_a_pool_cannot_expand_403_800(
    aiohttp_client: AiohttpClient,
) -> None:
    # The default world holds 11 machines; pool-win-1 has one free, then makes new ones.
    client = await make(aiohttp_client, tiny=False, max_machines=11)
    auth = {"Authorization": f"JWT {await token(client)}"}
    first = await client.get(f"/api/v2/pools/{WIN_1}/connect/", headers=auth)
    assert first.status == 202  # the free machine
    auth_3 = {"Authorization": f"JWT {await token(client, 'user-3')}"}
    resp = await client.get(f"/api/v2/pools/{WIN_1}/connect/", headers=auth_3)
    assert resp.status == 403
    assert (await resp.json())["detail"][0]["err_code"] == 800
    assert len(await (await client.get("/service/all-pools/")).json()) == 4


async def test_past_max_tasks_the_oldest_finished_task_is_forgotten(
    aiohttp_client: AiohttpClient,
) -> None:
    # The default world's two seeded tasks: user-1's PENDING one, user-2's FAILED one.
    client = await make(aiohttp_client, tiny=False, max_tasks=2)
    auth = {"Authorization": f"JWT {await token(client)}"}
    resp = await client.get(f"/api/v2/pools/{WIN_1}/connect/", headers=auth)
    assert resp.status == 202
    new = (await resp.json())["data"]["id"]
    ids = [task["id"] for task in await (await client.get("/service/all-tasks/")).json()]
    assert ids == ["fabb9a84-ae96-4d07-b5a0-329ea70fa476", new]  # the FAILED one went
    # Both kept tasks are running now: there is no room for a third.
    astra_2 = "2378c527-64eb-48cf-817a-645b645dba54"
    resp = await client.get(f"/api/v2/pools/{astra_2}/connect/", headers=auth)
    assert resp.status == 403
    assert (await resp.json())["detail"][0]["err_code"] == 800


# -- an empty scenario ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/toml"),
        (b"# nothing yet\n", "application/toml"),
        (b"{}", "application/json"),
    ],
    ids=["empty body", "comments only", "empty object"],
)
async def test_an_empty_scenario_put_is_422_naming_the_mistake_and_nothing_changes(
    aiohttp_client: AiohttpClient, body: bytes, content_type: str
) -> None:
    # curl --data-binary @missing-file sends an empty body: it must not wipe the world.
    client = await make(aiohttp_client, tiny=False)
    before = await world(client)
    resp = await client.put(SCENARIO, data=body, headers={"content-type": content_type})
    assert resp.status == 422
    assert await resp.json() == {
        "detail": [
            {
                "type": "scenario",
                "loc": ["body"],
                "msg": "(empty): the scenario is empty: it would replace the world with no users "
                "and no pools (did --data-binary @FILE or --scenario name a missing or empty "
                "file?)",
                "input": None,
                "err_code": 999,
            }
        ]
    }
    assert await world(client) == before


async def test_with_every_kept_task_running_step_2_is_503_naming_max_tasks(
    aiohttp_client: AiohttpClient,
) -> None:
    # "a" has a machine in "p" from the start; the two tasks kept are seeded RUNNING ones.
    scenario = parse_text(
        f'[[pools]]\nid = "{POOL_ID}"\nname = "p"\n\n'
        '[[users]]\nid = "00000000-0000-4000-8000-0000000000aa"\nusername = "a"\npools = ["p"]\n\n'
        '[[machines]]\nid = "00000000-0000-4000-8000-0000000000b1"\nverbose_name = "m"\n'
        'pool = "p"\nuser = "a"\n\n'
        '[[tasks]]\nid = "00000000-0000-4000-8000-0000000000c1"\nuser = "a"\nstatus = "RUNNING"\n\n'
        '[[tasks]]\nid = "00000000-0000-4000-8000-0000000000c2"\nuser = "a"\nstatus = "RUNNING"\n',
        "toml",
    )
    settings = replace(Settings(jwt_secret=SECRET, clock="manual"), max_tasks=2)
    client = await aiohttp_client(create_app(settings, scenario))
    auth = {"Authorization": f"JWT {await token(client, 'a')}"}
    body = {"remote_protocol": 1, "width": 1920, "height": 1080, "password": None}
    resp = await client.post(f"/api/v2/pools/{POOL_ID}/connect/", json=body, headers=auth)
    assert resp.status == 503
    assert resp.headers["www-authenticate"] == "JWT"
    assert await resp.json() == {
        "detail": [
            {
                "msg": "Too many tasks: all 2 the world may keep are running (max_tasks; raise it "
                "with --max-tasks or MOCKAPI_MAX_TASKS).",
                "err_code": 999,
                "type": "default",
            }
        ]
    }
    assert len(await (await client.get("/service/all-tasks/")).json()) == 2
