"""The pytest plugin, used the way a client team would: only the ``mockapi`` fixture, its handle
and an HTTP client of their own (aiohttp here). Nothing from mockapi is imported.

Time is the server's manual clock: ``advance`` answers once the frames it caused reached the
sockets, so ``receive`` never waits on the wall clock for them.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

pytest_plugins = ["pytester"]

#: happy-path.toml: alice has every pool; tasks are 0.5 s PENDING, 1 s RUNNING, COMPLETED.
WIN_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"
LINUX_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d02"
#: default.toml: user-3 (hardware token) has pool-win-1.
POOL_WIN_1 = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"


async def call(mockapi: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One request to the mock, as the client under test would make it (trusting the CA
    under ``tls=True``)."""
    context = getattr(mockapi, "ssl_context", None)
    connector = aiohttp.TCPConnector(ssl=context) if context is not None else None
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.request(method, mockapi.url + path, **kwargs) as resp,
    ):
        return resp.status, await resp.json() if resp.content_length != 0 else None


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"JWT {token}"}


async def step1(mockapi: Any, token: str, pool_id: str) -> dict[str, Any]:
    """Step 1 of a connect: the new POOL_EXPAND task."""
    status, body = await call(
        mockapi, "GET", f"/api/v2/pools/{pool_id}/connect/", headers=auth(token)
    )
    assert status == 202, body
    task: dict[str, Any] = body["data"]
    return task


def frame(task: dict[str, Any], status: str) -> dict[str, Any]:
    return {"status": status, "id": task["id"], "kind": task["kind"]}


# -- the fixture and the marker --------------------------------------------------------------
async def test_the_fixture_serves_the_default_scenario_on_a_manual_clock(mockapi: Any) -> None:
    assert mockapi.url.startswith("http://127.0.0.1:")
    status, version = await call(mockapi, "GET", "/api/v2/version/")
    assert (status, version["data"]["version"]) == (200, "7.0.1")
    _, clock = await call(mockapi, "GET", "/service/clock/")
    assert clock["mode"] == "manual"
    token = await mockapi.login("astravdi")  # the scenario's password, by default
    status, _ = await call(mockapi, "GET", "/api/v2/pools/", headers=auth(token))
    assert status == 200


@pytest.mark.mockapi(scenario="happy-path", seed=7)
async def test_the_marker_picks_a_shipped_scenario_and_a_seed(mockapi: Any) -> None:
    assert await mockapi.login("alice")
    status, body = await call(mockapi, "POST", "/service/reset/")
    assert (status, body["data"]["world"]["users"], body["data"]["world"]["seed"]) == (200, 2, 7)
    with pytest.raises(KeyError):
        await mockapi.login("astravdi")  # not in happy-path


@pytest.mark.mockapi(scenario="mfa")
async def test_login_answers_the_otp_of_the_scenario_clock(mockapi: Any) -> None:
    assert await mockapi.login("otp")
    assert await mockapi.login("totp")  # the date code is good for TOTP users too
    with pytest.raises(AssertionError, match="401"):
        await mockapi.login("otp", otp="000000")


async def test_a_failed_request_raises_with_the_answer(mockapi: Any) -> None:
    with pytest.raises(AssertionError, match=r"428: .*hardware_token"):
        await mockapi.login("user-3")


# -- ws, advance, force ----------------------------------------------------------------------
@pytest.mark.mockapi(scenario="happy-path")
async def test_advance_sends_running_then_the_terminal_frame(mockapi: Any) -> None:
    token = await mockapi.login("alice")
    async with mockapi.ws("alice") as socket:
        task = await step1(mockapi, token, WIN_DESKTOPS)
        assert (await mockapi.advance(0.5))["mode"] == "manual"
        assert await socket.receive() == frame(task, "RUNNING")
        await mockapi.advance(1)
        assert await socket.receive() == frame(task, "COMPLETED")


@pytest.mark.mockapi(scenario="happy-path")
async def test_every_socket_of_the_user_gets_the_frames(mockapi: Any) -> None:
    token = await mockapi.login("bob")
    async with mockapi.ws("bob") as first, mockapi.ws("bob") as second:
        task = await step1(mockapi, token, LINUX_DESKTOPS)
        await mockapi.advance(0.5)
        assert [await first.receive(), await second.receive()] == [frame(task, "RUNNING")] * 2


@pytest.mark.mockapi(scenario="happy-path")
async def test_force_moves_a_task_and_pushes_it(mockapi: Any) -> None:
    token = await mockapi.login("alice")
    async with mockapi.ws("alice") as socket:
        task = await step1(mockapi, token, WIN_DESKTOPS)
        forced = await mockapi.force(task["id"], "RUNNING")
        assert (forced["id"], forced["status"], forced["finished"]) == (task["id"], "RUNNING", None)
        assert await socket.receive() == frame(task, "RUNNING")
        assert (await mockapi.force(task["id"], "FAILED"))["status"] == "FAILED"
        assert await socket.receive() == frame(task, "FAILED")
        with pytest.raises(AssertionError, match="409"):
            await mockapi.force(task["id"], "RUNNING")  # FAILED is final


async def test_ws_works_for_a_user_whose_login_needs_mfa(mockapi: Any) -> None:
    status, issued = await call(mockapi, "POST", "/service/tokens/", json={"username": "user-3"})
    assert status == 200
    async with mockapi.ws("user-3") as socket:
        task = await step1(mockapi, issued["access_token"], POOL_WIN_1)
        await mockapi.force(task["id"], "CANCELLED")
        assert await socket.receive() == frame(task, "CANCELLED")


# -- journal, reset --------------------------------------------------------------------------
@pytest.mark.mockapi(scenario="happy-path")
async def test_the_journal_lists_requests_and_frames_oldest_first(mockapi: Any) -> None:
    token = await mockapi.login("alice")
    mark = (await mockapi.journal())[-1]["seq"]
    task = await step1(mockapi, token, WIN_DESKTOPS)
    await mockapi.advance(0.5)

    entries = await mockapi.journal(since=mark)
    assert [entry["seq"] for entry in entries] == [mark + 1, mark + 2, mark + 3]
    connect, sent, advanced = entries
    assert {k: connect[k] for k in ("kind", "method", "path", "status", "user")} == {
        "kind": "http",
        "method": "GET",
        "path": f"/api/v2/pools/{WIN_DESKTOPS}/connect/",
        "status": 202,
        "user": "alice",
    }
    assert (sent["kind"], sent["user"], sent["frame"]) == ("ws", "alice", frame(task, "RUNNING"))
    assert (advanced["path"], advanced["user"]) == ("/service/clock/", None)


@pytest.mark.mockapi(scenario="happy-path", seed=11)
async def test_reset_replays_the_world_and_keeps_the_socket(mockapi: Any) -> None:
    token = await mockapi.login("alice")
    async with mockapi.ws("alice") as socket:
        first = await step1(mockapi, token, WIN_DESKTOPS)
        await mockapi.advance(1.5)
        assert [await socket.receive(), await socket.receive()] == [
            frame(first, "RUNNING"),
            frame(first, "COMPLETED"),
        ]

        await mockapi.reset()
        assert [(e["method"], e["path"]) for e in await mockapi.journal()] == [
            ("POST", "/service/reset/")
        ]
        # alice's machine is gone, and the same seed hands out the same task again.
        again = await step1(mockapi, token, WIN_DESKTOPS)
        assert (again["id"], again["status"]) == (first["id"], "PENDING")
        await mockapi.advance(0.5)
        assert await socket.receive() == frame(again, "RUNNING")


# -- determinism across servers --------------------------------------------------------------
#: A user's test module: three servers (one per test), two with the same seed. Each writes the
#: frames its server sent and when, relative to the first request.
SEEDED_MODULE = """
import json
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

POOLS = ["bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413", "22aaa425-6387-4767-9611-3c26ad1a6161",
         "35f4392a-2cc6-4f9b-aea5-dce568493175", "2378c527-64eb-48cf-817a-645b645dba54"]


async def record(mockapi, name):
    start = datetime.fromisoformat((await mockapi.advance(0))["now"])
    token = await mockapi.login("astravdi")
    async with aiohttp.ClientSession(headers={"Authorization": f"JWT {token}"}) as http:
        for pool in POOLS:
            async with http.get(f"{mockapi.url}/api/v2/pools/{pool}/connect/") as resp:
                assert resp.status == 202
    await mockapi.advance(63)  # 3 s PENDING + at most 60 s RUNNING: every task has ended
    sent = [(e["frame"], (datetime.fromisoformat(e["time"]) - start).total_seconds())
            for e in await mockapi.journal() if e["kind"] == "ws"]
    Path(__file__).with_name(f"{name}.json").write_text(json.dumps(sent))


@pytest.mark.mockapi(scenario="default", seed=7)
async def test_first(mockapi):
    await record(mockapi, "first")


@pytest.mark.mockapi(scenario="default", seed=7)
async def test_second(mockapi):
    await record(mockapi, "second")


@pytest.mark.mockapi(scenario="default", seed=8)
async def test_other_seed(mockapi):
    await record(mockapi, "other")
"""
#: The inner runs load plugins from entry points as a user's do (mockapi's included); the two
#: that only slow their start are left out.
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis")
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def test_the_same_seed_gives_the_same_outcomes_on_two_servers(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_seeded=SEEDED_MODULE)
    # A process of its own, as a user's run is (in-process, the outer run's imports clash).
    pytester.runpytest_subprocess(*INNER_ARGS).assert_outcomes(passed=3)

    first, second, other = (
        json.loads((pytester.path / f"{name}.json").read_text())
        for name in ("first", "second", "other")
    )
    assert len(first) == 8  # four tasks, each RUNNING and then ended
    assert {sent["status"] for sent, _ in first} <= {"RUNNING", "COMPLETED", "CANCELLED"}
    assert second == first
    assert other != first


# -- tls=True: HTTPS and WSS ------------------------------------------------------------------


@pytest.mark.mockapi(scenario="happy-path", tls=True)
async def test_tls_gives_an_https_url_a_ca_file_and_a_context_that_trusts_it(
    mockapi: Any,
) -> None:
    assert mockapi.url.startswith("https://127.0.0.1:")
    assert mockapi.ca_file.name == "ca.pem"
    assert (await call(mockapi, "GET", "/api/v2/health/"))[0] == 200
    # A client that does not trust the CA is refused.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(mockapi.url + "/api/v2/health/")


@pytest.mark.mockapi(scenario="happy-path", tls=True)
async def test_tls_frames_arrive_over_wss_on_the_manual_clock(mockapi: Any) -> None:
    token = await mockapi.login("alice")
    async with mockapi.ws("alice") as socket:
        task = await step1(mockapi, token, WIN_DESKTOPS)
        await mockapi.advance(0.5)
        assert await socket.receive() == frame(task, "RUNNING")
        await mockapi.advance(1)
        assert await socket.receive() == frame(task, "COMPLETED")


@pytest.mark.mockapi(tls=True)
async def test_tls_certificate_serves_a_fault_to_new_connections(mockapi: Any) -> None:
    await mockapi.certificate("expired")
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=mockapi.ssl_context)
    ) as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match="has expired"):
            await http.get(mockapi.url + "/api/v2/health/")
    entries = [e for e in await mockapi.journal() if e["kind"] == "tls"]
    assert entries[0]["event"] == "certificate_changed"
    assert entries[0]["certificate"] == "expired"


@pytest.mark.mockapi(scenario="happy-path", tls=True)
def test_tls_works_for_a_plain_def_test_too(mockapi: Any) -> None:
    import urllib.error
    import urllib.request

    token = mockapi.login("alice")
    with mockapi.ws("alice") as socket:
        request = urllib.request.Request(
            f"{mockapi.url}/api/v2/pools/{WIN_DESKTOPS}/connect/",
            headers={"Authorization": f"JWT {token}"},
        )
        with urllib.request.urlopen(request, context=mockapi.ssl_context, timeout=10) as resp:
            assert resp.status == 202
            task = json.loads(resp.read())["data"]
        mockapi.advance(0.5)
        assert socket.receive() == frame(task, "RUNNING")
    mockapi.certificate("self_signed")
    with pytest.raises(urllib.error.URLError, match="self-signed certificate"):
        urllib.request.urlopen(mockapi.url + "/api/v2/health/", context=mockapi.ssl_context)
