"""The pytest plugin's sync face: the ``mockapi`` fixture in plain ``def`` tests, used the way
a team with a synchronous suite (``requests``) would. Nothing from mockapi is imported but the
handles' types; the waits and ``advance`` move the manual clock, so no test sleeps."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from mockapi.testing import MockApi, SyncMockApi

#: happy-path.toml: alice has every pool; tasks are 0.5 s PENDING, 1 s RUNNING, COMPLETED.
WIN_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"


def step1(mockapi: SyncMockApi, token: str) -> dict[str, Any]:
    answer = requests.get(
        f"{mockapi.url}/api/v2/pools/{WIN_DESKTOPS}/connect/",
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    task: dict[str, Any] = answer.json()["data"]
    return task


def frame(task: dict[str, Any], status: str) -> dict[str, Any]:
    return {"status": status, "id": task["id"], "kind": task["kind"]}


def test_a_def_test_gets_the_sync_handle(mockapi: SyncMockApi) -> None:
    assert isinstance(mockapi, SyncMockApi)
    assert mockapi.url.startswith("http://127.0.0.1:")


async def test_an_async_test_gets_the_async_handle(mockapi: MockApi) -> None:
    assert isinstance(mockapi, MockApi)
    assert (await mockapi.advance(1))["mode"] == "manual"


@pytest.mark.mockapi(scenario="happy-path")
def test_advance_sends_the_frames_to_a_sync_socket(mockapi: SyncMockApi) -> None:
    token = mockapi.login("alice")
    with mockapi.ws("alice") as socket:
        task = step1(mockapi, token)
        assert mockapi.advance(0.5)["mode"] == "manual"
        assert socket.receive() == frame(task, "RUNNING")
        mockapi.advance(1)
        assert socket.receive() == frame(task, "COMPLETED")
        socket.send("hello")
        assert socket.receive() == {"text": "User alice sent: hello"}
        with pytest.raises(TimeoutError):
            socket.receive(timeout=0.05)  # nothing else was sent


@pytest.mark.mockapi(scenario="happy-path")
def test_the_waits_move_the_clock_until_the_task_is_done(mockapi: SyncMockApi) -> None:
    task = step1(mockapi, mockapi.login("alice"))
    assert mockapi.wait_task(task["id"], "RUNNING")["status"] == "RUNNING"
    entry = mockapi.wait_frame("alice", status="COMPLETED")
    assert entry["frame"] == frame(task, "COMPLETED")
    step = mockapi.wait_journal({"kind": "http", "status": 202})
    assert step["path"] == f"/api/v2/pools/{WIN_DESKTOPS}/connect/"


@pytest.mark.mockapi(scenario="happy-path")
def test_force_journal_and_reset(mockapi: SyncMockApi) -> None:
    task = step1(mockapi, mockapi.token("alice"))
    assert mockapi.force(task["id"], "CANCELLED")["status"] == "CANCELLED"
    sent = [e["frame"] for e in mockapi.journal() if e["kind"] == "ws"]
    assert sent == [frame(task, "CANCELLED")]
    with pytest.raises(AssertionError, match="409"):
        mockapi.force(task["id"], "RUNNING")
    mockapi.reset()
    assert [(e["method"], e["path"]) for e in mockapi.journal()] == [("POST", "/service/reset/")]


@pytest.mark.mockapi(scenario="mfa")
def test_a_refused_login_fails_with_the_answer(mockapi: SyncMockApi) -> None:
    assert mockapi.login("otp")  # the OTP valid on the scenario clock now
    with pytest.raises(AssertionError, match="401"):
        mockapi.login("otp", otp="000000")


def test_the_control_client_reaches_every_route(mockapi: SyncMockApi) -> None:
    with mockapi.control as ctl:
        added = ctl.add_fault({"path": "/api/v2/health/", "status": 503, "count": 1})
        assert [fault["id"] for fault in ctl.faults()] == [added["id"]]
