"""The control client's two faces against a real server: every route and every wait, each
test run once with the sync face (http.client) and once with the async face (aiohttp).

Time is the manual scenario clock, moved by the tests or by the waits themselves: no test
sleeps on the wall clock for a task.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import jwt
import pytest

from mockapi.client import Refused, Unreachable, WaitFailed, WaitTimeout
from mockapi.domain.scenario import default_scenario_path
from tests.client.conftest import (
    WIN_DESKTOPS,
    Face,
    Server,
    make_client,
    start_expand,
    start_server,
)

FACES = ["sync", "async"]


@pytest.fixture(params=FACES)
async def ctl(request: pytest.FixtureRequest, server: Server) -> AsyncIterator[Face]:
    face = make_client(request.param, server.url)
    try:
        yield face
    finally:
        await face.close()


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def new_task(ctl: Face, server: Server, user: str = "alice") -> dict[str, Any]:
    token = await ctl.token(user)
    return start_expand(server.url, token)


# -- the routes ------------------------------------------------------------------------------
async def test_the_clock_is_read_switched_and_advanced(ctl: Face) -> None:
    before = await ctl.clock()
    assert before["mode"] == "manual"
    after = await ctl.advance(2.5)
    assert seconds(after["now"]) - seconds(before["now"]) == pytest.approx(2.5)
    scaled = await ctl.set_clock(mode="real", time_scale=10)
    assert (scaled["mode"], scaled["time_scale"]) == ("real", 10.0)


async def test_reset_answers_the_world_and_the_clock(ctl: Face, server: Server) -> None:
    await new_task(ctl, server)
    data = await ctl.reset()
    assert data["world"]["tasks"] == 0
    assert data["world"]["users"] == 2
    assert data["clock"]["mode"] == "manual"


async def test_the_scenario_is_read_and_replaced_from_toml_and_json(
    ctl: Face, server: Server, tmp_path: Any
) -> None:
    active = await ctl.scenario()
    assert [user["username"] for user in active["users"]] == ["alice", "bob"]
    default_toml = default_scenario_path()
    data = await ctl.put_scenario_file(default_toml)
    assert data["world"]["users"] == 6
    as_json = tmp_path / "happy.json"
    as_json.write_text(json.dumps(active), encoding="utf-8")
    data = await ctl.put_scenario_file(as_json)
    assert data["world"]["users"] == 2


async def test_an_invalid_scenario_is_refused_with_every_problem(ctl: Face) -> None:
    with pytest.raises(Refused) as refused:
        await ctl.put_scenario('[settings]\ncolour = "red"\n', "application/toml")
    assert refused.value.status == 422
    assert "settings.colour" in refused.value.message


async def test_force_moves_a_task_and_answers_it(ctl: Face, server: Server) -> None:
    task = await new_task(ctl, server)
    forced = await ctl.force(task["id"], "running")
    assert (forced["id"], forced["status"]) == (task["id"], "RUNNING")
    with pytest.raises(Refused) as refused:
        await ctl.force(task["id"], "PENDING")
    assert refused.value.status == 409


async def test_a_token_names_its_user_and_lives_its_ttl(ctl: Face) -> None:
    token = await ctl.token("bob", ttl_s=600)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["username"] == "bob"
    assert claims["exp"] - claims["iat"] == pytest.approx(600, abs=1)


async def test_a_refusal_carries_the_servers_own_message(ctl: Face) -> None:
    with pytest.raises(Refused) as refused:
        await ctl.token("nobody")
    assert refused.value.status == 422
    assert refused.value.message == "body.username: Value error, unknown user 'nobody'"
    with pytest.raises(Refused, match="404"):
        await ctl.force("00000000-0000-4000-8000-000000000000", "RUNNING")


async def test_the_journal_is_read_from_a_sequence_number_and_cleared(ctl: Face) -> None:
    await ctl.clock()
    page = await ctl.journal()
    assert page["dropped"] == 0
    last = page["entries"][-1]
    assert (last["kind"], last["path"]) == ("http", "/service/clock/")
    assert (await ctl.journal(since=last["seq"]))["entries"] == []
    await ctl.clear_journal()
    assert (await ctl.journal())["entries"] == []


async def test_faults_are_added_listed_removed_and_cleared(ctl: Face) -> None:
    added = await ctl.add_fault({"id": "slow", "path": "/api/v2/pools/", "delay_s": 1})
    assert added["id"] == "slow"
    other = await ctl.add_fault({"path": "/api/v2/health/", "status": 503, "count": 2})
    assert [fault["id"] for fault in await ctl.faults()] == ["slow", other["id"]]
    await ctl.remove_fault("slow")
    assert [fault["id"] for fault in await ctl.faults()] == [other["id"]]
    with pytest.raises(Refused, match="404"):
        await ctl.remove_fault("slow")
    await ctl.clear_faults()
    assert await ctl.faults() == []
    with pytest.raises(Refused, match="422"):
        await ctl.add_fault({"path": "/api/v2/pools/", "user": "nobody", "drop": True})


@pytest.mark.parametrize("face", FACES)
async def test_a_service_token_is_sent_when_given(face: str) -> None:
    for running in start_server(service_token="s3cret"):
        anonymous = make_client(face, running.url)
        with pytest.raises(Refused, match="403"):
            await anonymous.clock()
        await anonymous.close()
        allowed = make_client(face, running.url, service_token="s3cret")
        assert (await allowed.clock())["mode"] == "manual"
        await allowed.close()


def free_port() -> Iterator[int]:
    """A loopback port nothing listens on while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]  # bound, not listening: a connect is refused


@pytest.mark.parametrize("face", FACES)
async def test_no_server_is_unreachable_not_a_hang(face: str) -> None:
    for port in free_port():
        ctl = make_client(face, f"http://127.0.0.1:{port}")
        with pytest.raises(Unreachable, match=f"cannot reach http://127.0.0.1:{port}"):
            await ctl.clock()
        await ctl.close()


# -- the waits -------------------------------------------------------------------------------
async def test_wait_task_advances_a_manual_clock_to_the_status_and_no_further(
    ctl: Face, server: Server
) -> None:
    task = await new_task(ctl, server)
    start = seconds((await ctl.clock())["now"])
    running = await ctl.wait_task(task["id"], "RUNNING", step=0.1)
    assert running["status"] == "RUNNING"
    # happy-path: 0.5 s PENDING; the wait stopped at the first step past it.
    moved = seconds((await ctl.clock())["now"]) - start
    assert moved == pytest.approx(0.5, abs=1e-3)
    done = await ctl.wait_task(task["id"], "COMPLETED")
    assert done["finished"] is not None


async def test_wait_task_counts_a_status_the_task_went_through(ctl: Face, server: Server) -> None:
    task = await new_task(ctl, server)
    await ctl.advance(5)  # RUNNING, then COMPLETED
    before = await ctl.clock()
    found = await ctl.wait_task(task["id"], "RUNNING")
    assert found["status"] == "COMPLETED"  # as it is now; its RUNNING frame is journaled
    assert (await ctl.clock())["now"] == before["now"]  # nothing to advance for


async def test_wait_task_fails_at_once_when_the_task_ended_otherwise(
    ctl: Face, server: Server
) -> None:
    task = await new_task(ctl, server)
    await ctl.force(task["id"], "CANCELLED")
    with pytest.raises(WaitFailed, match="ended CANCELLED without reaching RUNNING") as failed:
        await ctl.wait_task(task["id"], "RUNNING")
    assert not isinstance(failed.value, WaitTimeout)
    with pytest.raises(WaitFailed, match="no task"):
        await ctl.wait_task("00000000-0000-4000-8000-000000000000", "RUNNING")


async def test_a_wait_that_runs_out_says_what_it_last_saw(ctl: Face, server: Server) -> None:
    task = await new_task(ctl, server)
    start = seconds((await ctl.clock())["now"])
    with pytest.raises(WaitTimeout, match=r"after 0\.3 s of scenario time .*\(it is PENDING\)"):
        await ctl.wait_task(task["id"], "RUNNING", timeout=0.3)
    assert seconds((await ctl.clock())["now"]) - start == pytest.approx(0.3, abs=1e-3)


async def test_a_wait_that_must_not_advance_polls_and_times_out_on_the_wall_clock(
    ctl: Face, server: Server
) -> None:
    task = await new_task(ctl, server)
    before = await ctl.clock()
    with pytest.raises(WaitTimeout, match="polled"):
        await ctl.wait_task(task["id"], "RUNNING", timeout=0.2, advance=False)
    assert (await ctl.clock())["now"] == before["now"]


async def test_wait_frame_finds_a_frame_to_a_user_and_chains_with_since(
    ctl: Face, server: Server
) -> None:
    task = await new_task(ctl, server)
    running = await ctl.wait_frame("alice", status="RUNNING")
    assert running["frame"] == {"status": "RUNNING", "id": task["id"], "kind": "POOL_EXPAND"}
    # Already sent: found again without advancing; after its seq only the next one counts.
    assert (await ctl.wait_frame("alice", task_id=task["id"]))["seq"] == running["seq"]
    done = await ctl.wait_frame("alice", since=running["seq"], kind="pool_expand")
    assert done["frame"]["status"] == "COMPLETED"
    with pytest.raises(WaitTimeout, match="a frame to bob"):
        await ctl.wait_frame("bob", timeout=1)


async def test_wait_journal_matches_a_pattern_or_a_predicate(ctl: Face, server: Server) -> None:
    task = await new_task(ctl, server)
    step1 = await ctl.wait_journal({"kind": "http", "status": 202})
    assert step1["path"] == f"/api/v2/pools/{WIN_DESKTOPS}/connect/"
    found = await ctl.wait_journal(lambda entry: entry.get("user") == "alice")
    assert found["seq"] == step1["seq"]
    # A nested mapping matches a subset of the frame; the wait advances until it is sent.
    done = await ctl.wait_journal({"kind": "ws", "frame": {"status": "COMPLETED"}})
    assert done["frame"]["id"] == task["id"]


@pytest.mark.parametrize("face", FACES)
async def test_on_a_real_clock_a_wait_polls_while_time_flows(face: str) -> None:
    # A thousand times real time: the task's 1.5 s of scenario time pass in milliseconds.
    for running in start_server(clock="real", time_scale=1000):
        ctl = make_client(face, running.url)
        try:
            task = await new_task(ctl, running)
            done = await ctl.wait_task(task["id"], "COMPLETED", timeout=30)
            assert done["status"] == "COMPLETED"
            journal = (await ctl.journal())["entries"]
            # It polled: no advance of its own among the requests it made.
            assert not [
                e for e in journal if e.get("path") == "/service/clock/" and e["method"] == "POST"
            ]
        finally:
            await ctl.close()
