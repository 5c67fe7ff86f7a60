"""``GET /service/conformance/``: each client rule failing and passing, driven by scripted
aiohttp clients on the manual scenario clock, and tuned or switched off in the scenario."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, login

CONNECT = f"/api/v2/pools/{POOL_WIN_1}/connect/"
RECEIVE_S = 5.0


async def rules(client: Client) -> dict[str, dict[str, Any]]:
    resp = await client.get("/service/conformance/")
    assert resp.status == 200
    return {rule["id"]: rule for rule in (await resp.json())["rules"]}


async def rule(client: Client, rule_id: str) -> dict[str, Any]:
    return (await rules(client))[rule_id]


async def seq_of_last(client: Client, path: str) -> int:
    entries = (await (await client.get("/service/journal/")).json())["entries"]
    return int([e for e in entries if e.get("path") == path][-1]["seq"])


async def advance(client: Client, seconds: float) -> None:
    assert (await client.post("/service/clock/", json={"advance_s": seconds})).status == 200


async def open_ws(client: Client, token: str) -> ClientWebSocketResponse:
    return await client.ws_connect(
        f"/api/v2/pools/ws/{ASTRAVDI_ID}/", headers={"Cookie": f"JWT {token}"}
    )


async def step1(client: Client, token: str) -> str:
    resp = await client.get(CONNECT, headers=auth(token))
    assert resp.status in (200, 202), await resp.text()
    return str((await resp.json())["data"]["id"])


async def add_fault(client: Client, **spec: Any) -> None:
    assert (await client.post("/service/faults/", json=spec)).status == 201


async def set_conformance(client: Client, section: dict[str, Any]) -> None:
    scenario = await (await client.get("/service/scenario/")).json()
    scenario["conformance"] = section
    assert (await client.put("/service/scenario/", json=scenario)).status == 200


async def test_every_rule_is_listed_not_exercised_before_any_request(client: Client) -> None:
    found = await rules(client)
    assert list(found) == [
        "token_after_logout", "retry_after", "resync_after_loss", "socket_before_connect",
        "poll_rate", "reconnect_backoff", "trailing_slash", "auth_header",
    ]  # fmt: skip
    assert {r["status"] for r in found.values()} == {"not_exercised"}
    assert all(r["evidence"] == [] and r["detail"] for r in found.values())


# -- token_after_logout -----------------------------------------------------------------------
async def test_a_token_used_after_its_logout_fails(client: Client) -> None:
    token = await login(client)
    assert (await client.post("/api/v2/users/logout/", headers=auth(token))).status == 205
    logout = await seq_of_last(client, "/api/v2/users/logout/")
    assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 403
    used = await seq_of_last(client, "/api/v2/pools/")
    assert (await rule(client, "token_after_logout"))["status"] == "fail"
    assert (await rule(client, "token_after_logout"))["evidence"] == [logout, used]


async def test_a_token_used_after_it_expired_fails(client: Client) -> None:
    minted = await client.post("/service/tokens/", json={"username": "astravdi", "ttl_s": 10})
    token = (await minted.json())["access_token"]
    assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 200
    await advance(client, 11)
    assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 403
    found = await rule(client, "token_after_logout")
    assert (found["status"], found["evidence"]) == (
        "fail",
        [await seq_of_last(client, "/api/v2/pools/")],
    )


async def test_a_client_that_logs_in_again_after_logout_passes(client: Client) -> None:
    first = await login(client)
    await client.post("/api/v2/users/logout/", headers=auth(first))
    second = await login(client)
    assert (await client.get("/api/v2/pools/", headers=auth(second))).status == 200
    assert (await rule(client, "token_after_logout"))["status"] == "pass"


# -- retry_after -------------------------------------------------------------------------------
async def test_a_retry_sooner_than_retry_after_fails_and_a_patient_one_passes(
    client: Client,
) -> None:
    await add_fault(client, path="/api/v2/version/", status=503, headers={"Retry-After": "5"},
                    count=2)  # fmt: skip
    assert (await client.get("/api/v2/version/")).status == 503
    refused = await seq_of_last(client, "/api/v2/version/")
    await advance(client, 2)
    assert (await client.get("/api/v2/version/")).status == 503  # 2 s < 5 s
    early = await seq_of_last(client, "/api/v2/version/")
    found = await rule(client, "retry_after")
    assert (found["status"], found["evidence"]) == ("fail", [refused, early])

    await client.post("/service/reset/")
    await add_fault(client, path="/api/v2/version/", status=503, headers={"Retry-After": "5"},
                    count=1)  # fmt: skip
    assert (await client.get("/api/v2/version/")).status == 503
    await advance(client, 5)
    assert (await client.get("/api/v2/version/")).status == 200
    assert (await rule(client, "retry_after"))["status"] == "pass"


# -- resync_after_loss -------------------------------------------------------------------------
async def test_a_step_after_a_lost_frame_without_reading_the_task_fails(client: Client) -> None:
    token = await login(client)
    ws = await open_ws(client, token)
    await add_fault(client, user="astravdi", lose_frames=1, count=1)
    await step1(client, token)
    await advance(client, 3)  # the RUNNING frame is lost
    await step1(client, token)  # asks again without reading the task
    found = await rule(client, "resync_after_loss")
    assert found["status"] == "fail"
    assert found["evidence"][1] == await seq_of_last(client, CONNECT)
    await ws.close()


async def test_reading_the_task_after_a_closed_socket_before_the_next_step_passes(
    client: Client,
) -> None:
    token = await login(client)
    ws = await open_ws(client, token)
    task = await step1(client, token)
    await ws.close()
    await client.get("/api/v2/health/")  # the close is journaled by now
    assert (await client.get(f"/api/v2/tasks/{task}/", headers=auth(token))).status == 200
    ws = await open_ws(client, token)
    await step1(client, token)
    assert (await rule(client, "resync_after_loss"))["status"] == "pass"
    await ws.close()


# -- socket_before_connect ---------------------------------------------------------------------
async def test_step1_without_an_open_socket_fails_and_with_one_passes(client: Client) -> None:
    token = await login(client)
    await step1(client, token)
    found = await rule(client, "socket_before_connect")
    assert (found["status"], found["evidence"]) == ("fail", [await seq_of_last(client, CONNECT)])

    await client.post("/service/reset/")
    token = await login(client)
    ws = await open_ws(client, token)
    await step1(client, token)
    assert (await rule(client, "socket_before_connect"))["status"] == "pass"
    await ws.close()


# -- poll_rate ---------------------------------------------------------------------------------
async def test_polling_a_task_faster_than_the_rate_fails(client: Client) -> None:
    token = await login(client)
    task = await step1(client, token)
    for _ in range(11):  # the default: at most 2 a second over 5 s, so 10
        await client.get(f"/api/v2/tasks/{task}/", headers=auth(token))
    found = await rule(client, "poll_rate")
    assert found["status"] == "fail"
    assert found["evidence"] == [await seq_of_last(client, f"/api/v2/tasks/{task}/")]
    assert found["detail"] == "a task was read more than 10 times within 5 s"


async def test_polling_at_the_rate_passes_and_the_scenario_sets_the_rate(client: Client) -> None:
    token = await login(client)
    task = await step1(client, token)
    for _ in range(3):
        await client.get(f"/api/v2/tasks/{task}/is-done/", headers=auth(token))
        await advance(client, 1)
    assert (await rule(client, "poll_rate"))["status"] == "pass"

    await set_conformance(client, {"poll_rate": {"max_per_s": 0.2, "window_s": 10}})
    token = await login(client)
    task = await step1(client, token)
    for _ in range(3):
        await client.get(f"/api/v2/tasks/{task}/", headers=auth(token))
        await advance(client, 1)
    found = await rule(client, "poll_rate")
    assert (found["status"], found["detail"]) == (
        "fail", "a task was read more than 2 times within 10 s"
    )  # fmt: skip


# -- reconnect_backoff -------------------------------------------------------------------------
async def restart_socket(client: Client, token: str) -> ClientWebSocketResponse:
    """A socket the server closes with 1012 after the first RUNNING frame."""
    ws = await open_ws(client, token)
    await add_fault(client, user="astravdi", frame_status="RUNNING", close=1012, count=1)
    await step1(client, token)
    await advance(client, 3)
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.TEXT
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.CLOSE
    await client.get("/api/v2/health/")  # the close is journaled by now
    return ws


async def test_reopening_at_once_after_1012_fails(client: Client) -> None:
    token = await login(client)
    await restart_socket(client, token)
    ws = await open_ws(client, token)
    found = await rule(client, "reconnect_backoff")
    assert found["status"] == "fail"
    assert len(found["evidence"]) == 2
    await ws.close()


async def test_reopening_after_a_back_off_passes(client: Client) -> None:
    token = await login(client)
    await restart_socket(client, token)
    await advance(client, 1)
    ws = await open_ws(client, token)
    assert (await rule(client, "reconnect_backoff"))["status"] == "pass"
    await ws.close()


# -- trailing_slash, auth_header ---------------------------------------------------------------
async def test_a_request_that_needs_the_307_fails(client: Client) -> None:
    resp = await client.get("/api/v2/version", allow_redirects=False)
    assert resp.status == 307
    found = await rule(client, "trailing_slash")
    assert (found["status"], found["evidence"]) == (
        "fail",
        [await seq_of_last(client, "/api/v2/version")],
    )


async def test_requests_with_the_slash_pass(client: Client) -> None:
    await client.get("/api/v2/version/")
    assert (await rule(client, "trailing_slash"))["status"] == "pass"


async def test_an_authorization_header_other_than_jwt_token_fails(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/", headers={"Authorization": f"Bearer {token}"})
    bearer = await seq_of_last(client, "/api/v2/pools/")
    await client.get("/api/v2/pools/", headers={"Authorization": f"JWT  {token}"})
    spaces = await seq_of_last(client, "/api/v2/pools/")
    found = await rule(client, "auth_header")
    assert (found["status"], found["evidence"]) == ("fail", [bearer, spaces])


async def test_jwt_token_passes(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/", headers=auth(token))
    assert (await rule(client, "auth_header"))["status"] == "pass"


# -- tuning ------------------------------------------------------------------------------------
async def test_a_rule_switched_off_in_the_scenario_is_not_listed(client: Client) -> None:
    await set_conformance(client, {"trailing_slash": False, "auth_header": False})
    await client.get("/api/v2/version", allow_redirects=False)
    assert "trailing_slash" not in await rules(client)
    assert len(await rules(client)) == 6


async def test_a_bad_conformance_section_is_refused(client: Client) -> None:
    scenario = await (await client.get("/service/scenario/")).json()
    scenario["conformance"] = {"poll_rate": {"max_per_s": 0}, "nope": True}
    resp = await client.put("/service/scenario/", json=scenario)
    assert resp.status == 422
    text = await resp.text()
    assert "conformance.poll_rate" in text
    assert "conformance.nope" in text
