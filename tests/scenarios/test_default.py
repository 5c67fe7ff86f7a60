"""The default world is the original's (CONTRACT §4), field for field, as a client reads it."""

from __future__ import annotations

from typing import Any

from tests.helpers import Client

#: CONTRACT §4's user tables: id, flags, pools, full_name and email, in the original's order.
USERS: list[dict[str, Any]] = [
    {"username": "astravdi", "id": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4",
     "full_name": "John Doe", "email": "johndoe@example.com", "roles": ["admin", "user"],
     "disabled": False, "otp": False, "adfs": False, "hardware_token": False,
     "pools": ["pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2"]},
    {"username": "user-1", "id": "516d600c-4273-40b8-8f5c-105cc3a4bbc9",
     "full_name": "Yoba Pekas", "email": "yobap@example.com", "roles": ["user"],
     "disabled": True, "otp": True, "adfs": False, "hardware_token": False, "pools": []},
    {"username": "user-2", "id": "e8d8dd14-cb09-4099-b96e-a83c6b09496c",
     "full_name": "Lupis Pupas", "email": "lupisp@example.com", "roles": ["user"],
     "disabled": False, "otp": False, "adfs": False, "hardware_token": False,
     "pools": ["pool-win-1", "pool-astra-2"]},
    {"username": "user-3", "id": "e8d8dd14-cb09-4099-b96e-a83c6b09496d",
     "full_name": "Mercy Lupis", "email": "mercylupis@example.com", "roles": ["user"],
     "disabled": False, "otp": False, "adfs": False, "hardware_token": True,
     "pools": ["pool-win-1"]},
    {"username": "user-4", "id": "516d600c-4273-40b8-8f6c-105cc4a4bbc9",
     "full_name": "Severus Meverus", "email": "sevmev@example.com", "roles": ["user"],
     "disabled": False, "otp": True, "adfs": False, "hardware_token": False, "pools": []},
    {"username": "user-5", "id": "e8d8dd15-cb09-4099-b96e-a83c6b09496c",
     "full_name": "Lupis Pupas", "email": "lupisp@example.com", "roles": ["user"],
     "disabled": False, "otp": False, "adfs": True, "hardware_token": False, "pools": []},
]  # fmt: skip

#: CONTRACT §4's pools, in scenario order.
POOLS: list[dict[str, Any]] = [
    {"id": "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413", "name": "pool-win-1", "status": "ACTIVE",
     "is_favorite": True, "pool_type": "AUTOMATED", "os_type": "Windows",
     "connection_types": ["RDP", "NATIVE_RDP"]},
    {"id": "22aaa425-6387-4767-9611-3c26ad1a6161", "name": "pool-win-2", "status": "ACTIVE",
     "is_favorite": False, "pool_type": "AUTOMATED", "os_type": "Windows",
     "connection_types": ["RDP", "NATIVE_RDP"]},
    {"id": "35f4392a-2cc6-4f9b-aea5-dce568493175", "name": "pool-astra-1", "status": "ACTIVE",
     "is_favorite": False, "pool_type": "STATIC", "os_type": "Linux",
     "connection_types": ["GLINT"]},
    {"id": "2378c527-64eb-48cf-817a-645b645dba54", "name": "pool-astra-2", "status": "ACTIVE",
     "is_favorite": False, "pool_type": "STATIC", "os_type": "Linux",
     "connection_types": ["GLINT"]},
]  # fmt: skip

#: CONTRACT §4's two seeded tasks, with their owners.
TASKS: list[dict[str, Any]] = [
    {"id": "fabb9a84-ae96-4d07-b5a0-329ea70fa476", "status": "PENDING", "kind": "POOL_EXPAND",
     "created": "2022-01-01T00:00:00Z", "started": None, "finished": None,
     "user_id": "516d600c-4273-40b8-8f5c-105cc3a4bbc9"},
    {"id": "22aaa425-6387-4767-9611-3c26ad1a6161", "status": "FAILED", "kind": "POOL_EXPAND",
     "created": "2022-01-01T00:00:00Z", "started": "2022-01-02T00:00:00Z",
     "finished": "2022-01-03T00:00:00Z", "user_id": "e8d8dd14-cb09-4099-b96e-a83c6b09496c"},
]  # fmt: skip


def user_object(user: dict[str, Any]) -> dict[str, Any]:
    """A CONTRACT §4 user as ``/service/all-users/`` shows it (CONTRACT §9)."""
    return {
        "id": user["id"],
        "username": user["username"],
        "disabled": user["disabled"],
        "roles": user["roles"],
        "email": user["email"],
        "full_name": user["full_name"],
        "otp_enabled": user["otp"],
        "adfs_enabled": user["adfs"],
        "hardware_token_enabled": user["hardware_token"],
        "assigned_pools": [pool for pool in POOLS if pool["name"] in user["pools"]],
        "assigned_machines": [],
    }


async def read(client: Client, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_every_user_field_is_the_originals(client: Client) -> None:
    assert await read(client, "/service/all-users/") == [user_object(user) for user in USERS]


async def test_every_user_has_the_password_bazalt(client: Client) -> None:
    # The password is never shown by all-users; the scenario the server plays holds it.
    scenario = await read(client, "/service/scenario/")
    assert {user["username"]: user["password"] for user in scenario["users"]} == {
        user["username"]: "Bazalt1!" for user in USERS
    }


async def test_every_pool_is_the_originals(client: Client) -> None:
    assert await read(client, "/service/all-pools/") == POOLS


async def test_the_two_seeded_tasks_have_the_originals_timestamps(client: Client) -> None:
    assert await read(client, "/service/all-tasks/") == TASKS


async def test_the_failed_task_reads_the_same_through_the_tasks_api(client: Client) -> None:
    # user-2 owns it; astravdi (admin) may read every task (CONTRACT §6).
    resp = await client.post(
        "/api/v2/users/login/", json={"username": "user-2", "password": "x", "ldap": False}
    )
    token = (await resp.json())["data"]["access_token"]
    failed = TASKS[1]
    body = await read_with(client, f"/api/v2/tasks/{failed['id']}/", token)
    assert body == {"data": {key: value for key, value in failed.items() if key != "user_id"}}


async def read_with(client: Client, path: str, token: str) -> Any:
    resp = await client.get(path, headers={"Authorization": f"JWT {token}"})
    assert resp.status == 200, await resp.text()
    return await resp.json()
