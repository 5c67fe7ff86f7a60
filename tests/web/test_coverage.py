"""``GET /service/coverage/`` checked exactly against a known sequence of requests from a real
aiohttp client: transitions (with the guard of each login outcome), catalogue answers, route x
status, fault actions; and a reset starts it over."""

from __future__ import annotations

from typing import Any

from tests.helpers import POOL_WIN_1, Client, auth, login

COVERAGE = "/service/coverage/"
LOGIN = "/api/v2/users/login/"


async def coverage(client: Client) -> dict[str, Any]:
    resp = await client.get(COVERAGE)
    assert resp.status == 200
    answer: dict[str, Any] = await resp.json()
    return answer


def taken(machine: dict[str, Any]) -> list[tuple[str, str, str, str | None, int]]:
    return [
        (t["trigger"], t["source"], t["dest"], t["guard"], t["count"])
        for t in machine["transitions"]
        if t["count"]
    ]


def counted(items: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [(*(item[key] for key in keys), item["count"]) for item in items if item["count"]]


async def test_nothing_is_covered_before_any_request(client: Client) -> None:
    answer = await coverage(client)
    assert list(answer) == ["machines", "errors", "routes", "faults"]
    assert {name: (m["covered"], m["total"]) for name, m in answer["machines"].items()} == {
        "login": (0, 16),
        "connection": (0, 8),
        "task": (0, 5),
    }
    assert all(item["count"] == 0 for key in ("errors", "routes", "faults") for item in answer[key])
    assert len(answer["errors"]) == 12
    assert [f["action"] for f in answer["faults"]] == [
        "delay_s", "status", "drop", "reset", "hang", "truncate", "trickle_bps", "proxy_error",
        "close", "lose_frames", "delay_frames_s", "abort", "deaf",
    ]  # fmt: skip


async def test_coverage_counts_exactly_what_a_known_sequence_reached(client: Client) -> None:
    token = await login(client)  # 1: authenticated
    body = {"username": "user-4", "password": "Bazalt1!", "ldap": False}
    assert (await client.post(LOGIN, json=body)).status == 428  # 2: no OTP
    assert (await client.post(LOGIN, json={**body, "otp_code": "000000"})).status == 401  # 3
    assert (await client.post(LOGIN, json={**body, "username": "nobody"})).status == 401  # 4
    assert (await client.post(LOGIN, json={**body, "username": "user-5"})).status == 428  # 5
    assert (await client.get("/api/v2/pools/")).status == 403  # 6: no token
    step1 = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert step1.status == 202  # 7: an expand starts
    task = (await step1.json())["data"]["id"]
    for status in ("RUNNING", "FAILED"):  # 8: the task runs and fails; the connection follows
        resp = await client.post(f"/service/tasks/{task}/", json={"status": status})
        assert resp.status == 200
    fault = {"path": "/api/v2/version/", "status": 503, "count": 1}
    assert (await client.post("/service/faults/", json=fault)).status == 201
    assert (await client.get("/api/v2/version/")).status == 503  # 9: a status fault
    assert (await client.get("/api/v2/version/")).status == 200  # 10

    answer = await coverage(client)
    login_machine = answer["machines"]["login"]
    assert taken(login_machine) == [
        ("checked", "logging_in", "unknown_user", "user_unknown", 1),
        ("checked", "logging_in", "otp_required", "otp_missing", 1),
        ("checked", "logging_in", "otp_rejected", "otp_mismatch unless totp_accepted", 1),
        ("checked", "logging_in", "adfs_required", "adfs_enabled", 1),
        ("checked", "logging_in", "authenticated", None, 1),
    ]
    assert (login_machine["covered"], login_machine["total"]) == (5, 16)
    connection = answer["machines"]["connection"]
    assert taken(connection) == [
        ("expand_requested", "no_machine", "reserving", "is_expandable", 1),
        ("expand_failed", "reserving", "expand_failed", None, 1),
    ]
    assert (connection["covered"], connection["total"]) == (2, 8)
    task_machine = answer["machines"]["task"]
    assert taken(task_machine) == [
        ("start", "PENDING", "RUNNING", None, 1),
        ("fail", "RUNNING", "FAILED", None, 1),
    ]
    assert (task_machine["covered"], task_machine["total"]) == (2, 5)

    assert counted(answer["errors"], "name", "status", "err_code") == [
        ("invalid_credentials", 401, 999, 1),
        ("otp_invalid", 401, 103, 1),
        ("otp_required", 428, 100, 1),
        ("adfs_required", 428, 101, 1),
        ("permission_denied", 403, 999, 1),
    ]
    assert counted(answer["routes"], "method", "path", "status", "documented") == [
        ("GET", "/api/v2/version/", 200, True, 1),
        ("GET", "/api/v2/version/", 503, False, 1),
        ("POST", LOGIN, 200, True, 1),
        ("POST", LOGIN, 401, True, 2),
        ("POST", LOGIN, 428, True, 2),
        ("GET", "/api/v2/pools/", 403, True, 1),
        ("GET", "/api/v2/pools/{id}/connect/", 202, True, 1),
    ]
    assert counted(answer["faults"], "action") == [("status", 1)]


async def test_every_documented_status_of_every_contract_route_is_listed(client: Client) -> None:
    routes = (await coverage(client))["routes"]
    login_statuses = [r["status"] for r in routes if (r["method"], r["path"]) == ("POST", LOGIN)]
    assert login_statuses == [200, 401, 413, 422, 428]
    assert all(r["documented"] for r in routes)
    # Our control routes are not the contract's.
    assert not [r for r in routes if r["path"] in ("/service/clock/", COVERAGE)]


async def test_a_reset_starts_the_coverage_over(client: Client) -> None:
    await login(client)
    assert (await coverage(client))["machines"]["login"]["covered"] == 1
    assert (await client.post("/service/reset/")).status == 200
    answer = await coverage(client)
    assert answer["machines"]["login"]["covered"] == 0
    assert counted(answer["routes"], "path") == []


async def test_reading_the_coverage_is_not_journaled(client: Client) -> None:
    await coverage(client)
    journal = await (await client.get("/service/journal/")).json()
    assert journal["entries"] == []
