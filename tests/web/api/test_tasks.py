"""The tasks API (CONTRACT §6): a task and whether it is done, for its owner and admins only."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import default_scenario_path, parse_scenario
from mockapi.keys import CLOCK
from mockapi.settings import Settings
from tests.answers import PERMISSION_DENIED, Answer, app_error, expect, invalid, item
from tests.conftest import SECRET
from tests.helpers import POOL_WIN_1, Client, auth, login

NOT_FOUND = app_error(404, "Not found.", 999)
LONGEST_TASK_S = 3 + 60

#: The seeded tasks of the default scenario.
USER_1_TASK = "fabb9a84-ae96-4d07-b5a0-329ea70fa476"
USER_2_TASK = "22aaa425-6387-4767-9611-3c26ad1a6161"
USER_2_TASK_OBJECT = {
    "id": USER_2_TASK,
    "status": "FAILED",
    "kind": "POOL_EXPAND",
    "created": "2022-01-01T00:00:00Z",
    "started": "2022-01-02T00:00:00Z",
    "finished": "2022-01-03T00:00:00Z",
}


def task_url(task_id: str) -> str:
    return f"/api/v2/tasks/{task_id}/"


def done_url(task_id: str) -> str:
    return f"/api/v2/tasks/{task_id}/is-done/"


def is_done(value: bool) -> Answer:
    return Answer(200, {"data": {"is_done": value}})


async def client_with_outcome(aiohttp_client: AiohttpClient, outcome: str) -> Client:
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["rules"] = [*data["rules"], {"kind": "POOL_EXPAND", "outcome": outcome}]
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    return await aiohttp_client(app)


async def new_expand(client: Client, token: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202
    body: dict[str, Any] = await resp.json()
    return dict(body["data"])


async def test_the_owner_gets_the_task_object(client: Client) -> None:
    token = await login(client, "user-2")
    await expect(
        await client.get(task_url(USER_2_TASK), headers=auth(token)),
        Answer(200, {"data": USER_2_TASK_OBJECT}),
    )


async def test_a_new_task_reads_back_exactly_as_answered(client: Client) -> None:
    token = await login(client)
    task = await new_expand(client, token)
    await expect(
        await client.get(task_url(task["id"]), headers=auth(token)), Answer(200, {"data": task})
    )
    await expect(await client.get(done_url(task["id"]), headers=auth(token)), is_done(False))


async def test_an_admin_sees_every_task(client: Client) -> None:
    token = await login(client)  # astravdi has the admin role
    await expect(
        await client.get(task_url(USER_2_TASK), headers=auth(token)),
        Answer(200, {"data": USER_2_TASK_OBJECT}),
    )
    await expect(await client.get(done_url(USER_1_TASK), headers=auth(token)), is_done(False))


async def test_someone_elses_task_does_not_exist_for_a_plain_user(client: Client) -> None:
    admin, user_2 = await login(client), await login(client, "user-2")
    task = await new_expand(client, admin)
    for task_id in (task["id"], USER_1_TASK):
        await expect(await client.get(task_url(task_id), headers=auth(user_2)), NOT_FOUND)
        await expect(await client.get(done_url(task_id), headers=auth(user_2)), NOT_FOUND)


@pytest.mark.parametrize("url", [task_url, done_url])
async def test_an_unknown_task_is_404(client: Client, url: Any) -> None:
    token = await login(client)
    await expect(
        await client.get(url("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"), headers=auth(token)),
        NOT_FOUND,
    )


@pytest.mark.parametrize("outcome", ["COMPLETED", "CANCELLED", "FAILED"])
async def test_is_done_is_true_for_every_terminal_status(
    aiohttp_client: AiohttpClient, outcome: str
) -> None:
    client = await client_with_outcome(aiohttp_client, outcome)
    token = await login(client)
    task = await new_expand(client, token)
    client.app[CLOCK].advance(3)
    await expect(await client.get(done_url(task["id"]), headers=auth(token)), is_done(False))
    client.app[CLOCK].advance(LONGEST_TASK_S)
    await expect(await client.get(done_url(task["id"]), headers=auth(token)), is_done(True))
    resp = await client.get(task_url(task["id"]), headers=auth(token))
    assert (await resp.json())["data"]["status"] == outcome


async def test_the_seeded_failed_task_is_done(client: Client) -> None:
    token = await login(client, "user-2")
    await expect(await client.get(done_url(USER_2_TASK), headers=auth(token)), is_done(True))


@pytest.mark.parametrize("url", [task_url, done_url])
async def test_a_bad_task_id_is_422(client: Client, url: Any) -> None:
    token = await login(client)
    await expect(
        await client.get(url("123"), headers=auth(token)),
        invalid(
            item(
                "uuid_parsing",
                ["path", "task_id"],
                "Input should be a valid UUID, invalid length: found 3",
                "123",
                {"error": "invalid length: found 3"},
            )
        ),
    )


async def test_any_uuid_spelling_of_the_task_id_is_accepted(client: Client) -> None:
    token = await login(client, "user-2")
    for spelling in (USER_2_TASK.upper(), USER_2_TASK.replace("-", "")):
        await expect(
            await client.get(task_url(spelling), headers=auth(token)),
            Answer(200, {"data": USER_2_TASK_OBJECT}),
        )


@pytest.mark.parametrize("url", [task_url, done_url])
async def test_tasks_check_authentication_before_the_id(client: Client, url: Any) -> None:
    await expect(await client.get(url(USER_2_TASK)), PERMISSION_DENIED)
    await expect(await client.get(url("123")), PERMISSION_DENIED)
