"""``--watch``: a valid edit of the scenario file replaces the world, an invalid one keeps it.

The tests write the file and call :meth:`ScenarioWatcher.check` at once, with no ``await`` in
between, so the app's own poll loop can never get there first and nothing waits on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import Scenario, parse_text
from mockapi.domain.watch import ScenarioWatcher
from mockapi.keys import CLOCK, RUNTIME, WATCHER
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client

CAROL = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a11"
DAVE = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a12"
LAB = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d11"
WORLD_1 = f"""
[settings]
seed = 1
start = 2030-01-02T03:04:05Z

[[users]]
id = "{CAROL}"
username = "carol"
pools = ["lab"]

[[pools]]
id = "{LAB}"
name = "lab"
"""
WORLD_2 = f"""
[settings]
seed = 2
start = 2031-06-07T08:09:10Z

[[users]]
id = "{DAVE}"
username = "dave"
pools = ["lab"]

[[pools]]
id = "{LAB}"
name = "lab"
free_machines = 2
"""
#: Two problems at once: an unknown key and a reference to a pool that does not exist.
BROKEN = f"""
[settings]
seed = 3
colour = "blue"

[[users]]
id = "{DAVE}"
username = "dave"
pools = ["lab", "attic"]

[[pools]]
id = "{LAB}"
name = "lab"
"""

_stamps = iter(range(1, 1_000_000))


def write(path: Path, text: str) -> None:
    """Write ``path`` with an mtime of its own, so the change shows even on coarse clocks."""
    path.write_text(text, encoding="utf-8")
    stamp = 1_700_000_000_000_000_000 + next(_stamps) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def delete(path: Path) -> None:
    path.unlink()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    scenario = tmp_path / "world.toml"
    write(scenario, WORLD_1)
    return scenario


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, path: Path) -> Client:
    settings = Settings(jwt_secret=SECRET, clock="manual", scenario=path, watch=True)
    return await aiohttp_client(create_app(settings))


def usernames(client: Client) -> list[str]:
    return [user.username for user in client.app[RUNTIME].world.users.values()]


async def scenario_json(client: Client) -> dict[str, Any]:
    resp = await client.get("/service/scenario/")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


# -- wiring ----------------------------------------------------------------------------------
def test_watch_installs_a_watcher_on_the_scenario_file(path: Path) -> None:
    app = create_app(Settings(clock="manual", scenario=path, watch=True))
    assert isinstance(app[WATCHER], ScenarioWatcher)
    assert app[WATCHER].path == path


def test_without_watch_there_is_no_watcher(path: Path) -> None:
    assert WATCHER not in create_app(Settings(clock="manual", scenario=path))


# -- edits -----------------------------------------------------------------------------------
async def test_an_unchanged_file_is_not_reloaded(client: Client) -> None:
    assert await client.app[WATCHER].check() is None
    assert usernames(client) == ["carol"]


async def test_a_valid_edit_replaces_the_world_and_resets_it(
    client: Client, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await client.post("/service/clock/", json={"advance_s": 60})
    assert (await client.get("/api/v2/version/")).status == 200

    write(path, WORLD_2)
    with caplog.at_level(logging.INFO, "mockapi.domain.watch"):
        assert await client.app[WATCHER].check() is True

    assert usernames(client) == ["dave"]
    assert (await scenario_json(client))["settings"]["seed"] == 2
    # Reset: the clock starts over at the new scenario's start, the journal is empty.
    assert (await (await client.get("/service/clock/")).json())["now"] == "2031-06-07T08:09:10Z"
    journal = await (await client.get("/service/journal/")).json()
    assert [(e["method"], e["path"]) for e in journal["entries"]] == [
        ("GET", "/service/scenario/"),
        ("GET", "/service/clock/"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"scenario {path} reloaded; the world was reset"
    ]


async def test_an_invalid_edit_keeps_the_world_and_logs_every_problem(
    client: Client, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await client.post("/service/clock/", json={"advance_s": 60})
    before = await scenario_json(client)

    write(path, BROKEN)
    with caplog.at_level(logging.WARNING, "mockapi.domain.watch"):
        assert await client.app[WATCHER].check() is False

    assert usernames(client) == ["carol"]
    assert await scenario_json(client) == before
    # Not reset either: the clock kept its time.
    assert client.app[CLOCK].now().isoformat() == "2030-01-02T03:05:05+00:00"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            f"scenario {path} changed but is invalid; keeping the running world:\n"
            "  settings.colour: unknown key\n"
            '  users[0].pools[1]: unknown pool "attic"',
        )
    ]


async def test_an_invalid_edit_is_reported_once_and_a_later_fix_applies(
    client: Client, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(path, BROKEN)
    with caplog.at_level(logging.WARNING, "mockapi.domain.watch"):
        assert await client.app[WATCHER].check() is False
        assert await client.app[WATCHER].check() is None  # same broken file: not logged again
    assert len(caplog.records) == 1

    write(path, WORLD_2)
    assert await client.app[WATCHER].check() is True
    assert usernames(client) == ["dave"]


async def test_a_deleted_file_keeps_the_world(
    client: Client, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    delete(path)
    with caplog.at_level(logging.WARNING, "mockapi.domain.watch"):
        assert await client.app[WATCHER].check() is False
    assert usernames(client) == ["carol"]
    assert "(file): cannot read" in caplog.records[0].getMessage()

    write(path, WORLD_2)  # written again: picked up like any edit
    assert await client.app[WATCHER].check() is True
    assert usernames(client) == ["dave"]


async def test_the_watcher_hands_only_valid_scenarios_to_apply(path: Path) -> None:
    applied: list[Scenario] = []

    async def apply(scenario: Scenario) -> None:
        applied.append(scenario)

    watcher = ScenarioWatcher(path, apply)
    write(path, BROKEN)
    assert await watcher.check() is False
    write(path, WORLD_2)
    assert await watcher.check() is True
    assert applied == [parse_text(WORLD_2, "toml")]


async def test_an_edit_over_a_limit_keeps_the_world_and_logs_the_limit(
    aiohttp_client: AiohttpClient, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        jwt_secret=SECRET, clock="manual", scenario=path, watch=True, max_users=1_000
    )
    client = await aiohttp_client(create_app(settings))
    before = await scenario_json(client)
    write(path, WORLD_1 + '\n[[user_groups]]\nprefix = "many"\ncount = 1000\n')
    with caplog.at_level(logging.WARNING, "mockapi.domain.watch"):
        assert await client.app[WATCHER].check() is False
    assert usernames(client) == ["carol"]
    assert await scenario_json(client) == before
    assert [r.getMessage() for r in caplog.records] == [
        f"scenario {path} changed but is invalid; keeping the running world:\n"
        "  user_groups: Too many users: 1,001 asked for, the limit (max_users) is 1,000. "
        "Raise it with --max-users (or MOCKAPI_MAX_USERS) at start-up, or max_users in the "
        "[settings] of the scenario the server starts with."
    ]
