"""``POST /service/verify/`` with a scripted aiohttp client: matchers, each count kind, the
window on the scenario clock, the order, and the near misses of a failed expectation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mockapi.domain.clock import iso_z
from mockapi.domain.redaction import fingerprint
from tests.helpers import POOL_WIN_1, Client, auth, login

VERIFY = "/service/verify/"
LOGIN = "/api/v2/users/login/"
VERSION = "/api/v2/version/"
CONNECT = f"/api/v2/pools/{POOL_WIN_1}/connect/"


async def verify(client: Client, status: int, **check: Any) -> dict[str, Any]:
    resp = await client.post(VERIFY, json=check)
    assert resp.status == status, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


def seqs(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["seq"] for entry in entries]


async def advance(client: Client, seconds: float) -> None:
    assert (await client.post("/service/clock/", json={"advance_s": seconds})).status == 200


# -- matching ----------------------------------------------------------------------------------
async def test_a_request_matching_every_key_is_listed_as_a_match(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/?page=1&size=5", headers=auth(token))
    answer = await verify(
        client,
        200,
        request={
            "method": "get",
            "path": "/api/v2/pools/",
            "user": "astravdi",
            "headers": {"Authorization": f"JWT {token}", "accept": True, "x-absent": False},
            "query": {"page": "1"},
        },
    )
    (match,) = answer["matches"]
    assert (match["seq"], match["path"], match["status"]) == (2, "/api/v2/pools/", 200)
    # The raw token of the matcher was compared as the journal keeps it.
    assert match["headers"]["authorization"] == f"JWT {fingerprint(token)}"
    assert list(answer) == ["matches"]


async def test_a_body_matches_as_a_subset(client: Client) -> None:
    await login(client)
    check = {"method": "POST", "path": LOGIN}
    await verify(client, 200, request={**check, "body": {"username": "astravdi", "ldap": False}})
    missed = await verify(client, 409, request={**check, "body": {"username": "astravdi", "x": 1}})
    ((_, differences),) = [(m["entry"], m["differences"]) for m in missed["near_misses"]]
    assert differences == [{"field": "body.x", "expected": 1, "actual": None}]


async def test_a_path_pattern_matches_as_faults_match_it(client: Client) -> None:
    token = await login(client)
    await client.get(CONNECT, headers=auth(token))
    await verify(client, 200, request={"path": "/api/v2/pools/*/connect/"})
    await verify(client, 200, request={"path": "/api/v2/**/"}, count={"exactly": 2})
    await verify(client, 409, request={"path": "/api/v2/*/"})  # one segment only


async def test_verifications_are_not_journaled(client: Client) -> None:
    await client.get(VERSION)
    for _ in range(3):
        await verify(client, 200, request={"path": "/**"}, count={"exactly": 1})


# -- counts ------------------------------------------------------------------------------------
async def test_exactly_holds_only_for_that_number(client: Client) -> None:
    for _ in range(2):
        await client.get(VERSION)
    request = {"path": VERSION}
    assert seqs((await verify(client, 200, request=request, count={"exactly": 2}))["matches"]) == [
        1,
        2,
    ]
    too_many = await verify(client, 409, request=request, count={"exactly": 1})
    assert too_many["message"] == "expected exactly 1 matching request, found 2"
    assert (seqs(too_many["matches"]), too_many["near_misses"]) == ([1, 2], [])


async def test_at_least_fails_below_and_holds_at_or_above(client: Client) -> None:
    for _ in range(2):
        await client.get(VERSION)
    await verify(client, 200, request={"path": VERSION}, count={"at_least": 2})
    failed = await verify(client, 409, request={"path": VERSION}, count={"at_least": 3})
    assert failed["message"] == "expected at least 3 matching requests, found 2"


async def test_at_most_fails_above_and_holds_at_or_below(client: Client) -> None:
    await verify(client, 200, request={"path": VERSION}, count={"at_most": 0})
    await client.get(VERSION)
    await verify(client, 200, request={"path": VERSION}, count={"at_most": 1})
    await client.get(VERSION)
    failed = await verify(client, 409, request={"path": VERSION}, count={"at_most": 1})
    assert failed["message"] == "expected at most 1 matching request, found 2"


async def test_the_count_defaults_to_at_least_one(client: Client) -> None:
    failed = await verify(client, 409, request={"path": VERSION})
    assert failed["message"] == "expected at least 1 matching request, found 0"


# -- the window and the order -------------------------------------------------------------------
async def test_within_s_counts_only_the_last_seconds_of_scenario_time(client: Client) -> None:
    await client.get(VERSION)  # at the start
    await advance(client, 10)
    await client.get(VERSION)  # ten seconds later
    window = {"request": {"path": VERSION}, "within_s": 5}
    assert seqs((await verify(client, 200, **window, count={"exactly": 1}))["matches"]) == [3]
    failed = await verify(client, 409, **window, count={"exactly": 2})
    (miss,) = [m for m in failed["near_misses"] if m["entry"]["path"] == VERSION]
    assert miss["entry"]["seq"] == 1
    first = datetime.fromisoformat(miss["entry"]["time"])
    assert miss["differences"] == [
        {
            "field": "time",
            "expected": f"at or after {iso_z(first + timedelta(seconds=5))}",
            "actual": iso_z(first),
        }
    ]
    await verify(client, 200, **{**window, "within_s": 10}, count={"exactly": 2})


async def test_after_counts_only_what_came_after_the_first_match_of_after(
    client: Client,
) -> None:
    """The scripted client reads its task only after step 1 gave it one."""
    token = await login(client)
    task = (await (await client.get(CONNECT, headers=auth(token))).json())["data"]
    await client.get(f"/api/v2/tasks/{task['id']}/", headers=auth(token))
    step1 = {"method": "GET", "path": "/api/v2/pools/*/connect/"}
    read_task = {"method": "GET", "path": "/api/v2/tasks/*/"}
    await verify(client, 200, request=read_task, after=step1, count={"exactly": 1})
    # Nothing asked for a machine after the task was read.
    failed = await verify(client, 409, request=step1, after=read_task)
    (miss,) = [m for m in failed["near_misses"] if m["entry"]["path"] == CONNECT]
    assert miss["differences"] == [{"field": "order", "expected": "after #3", "actual": "#2"}]


async def test_after_that_matches_nothing_fails_with_why(client: Client) -> None:
    await client.get(VERSION)
    failed = await verify(client, 409, request={"path": VERSION}, after={"path": "/nothing/"})
    assert failed == {
        "message": "no journaled request matches after: nothing can come after it",
        "matches": [],
        "near_misses": [],
    }


# -- near misses ------------------------------------------------------------------------------
async def test_near_misses_are_the_five_closest_each_with_what_differed(client: Client) -> None:
    """A scripted client logs in wrongly in several ways; the test expects one right login."""
    bodies = [
        {"username": "astravdi", "password": "wrong", "ldap": True},  # seq 1: ldap differs
        {"username": "user-2", "password": "Bazalt1!", "ldap": True},  # 2: username, ldap
        {"username": "user-2", "password": "Bazalt1!", "ldap": False},  # 3: username
    ]
    for body in bodies:
        await client.post(LOGIN, json=body)
    await client.get(VERSION)  # 4: method, path, body
    await client.get(f"{LOGIN}?x=1")  # 5: method, body (405)
    await client.put(LOGIN, json={"username": "astravdi", "ldap": False})  # 6: method
    await client.post("/api/v2/users/logout/")  # 7: path, body
    failed = await verify(
        client,
        409,
        request={"method": "POST", "path": LOGIN, "body": {"username": "astravdi", "ldap": False}},
        count={"exactly": 1},
    )
    assert failed["matches"] == []
    near = [(m["entry"]["seq"], m["differences"]) for m in failed["near_misses"]]
    assert near == [
        (6, [{"field": "method", "expected": "POST", "actual": "PUT"}]),
        (3, [{"field": "body.username", "expected": "astravdi", "actual": "user-2"}]),
        (1, [{"field": "body.ldap", "expected": False, "actual": True}]),
        (7, [
            {"field": "path", "expected": LOGIN, "actual": "/api/v2/users/logout/"},
            {"field": "body", "expected": {"username": "astravdi", "ldap": False},
             "actual": None},
        ]),
        (5, [
            {"field": "method", "expected": "POST", "actual": "GET"},
            {"field": "body", "expected": {"username": "astravdi", "ldap": False},
             "actual": None},
        ]),
    ]  # fmt: skip


# -- bad input ---------------------------------------------------------------------------------
async def test_a_bad_verification_is_a_422_naming_the_problem(client: Client) -> None:
    for check, where in [
        ({"request": {}, "count": {"exactly": 1, "at_most": 2}}, ["body", "count"]),
        ({"request": {}, "count": {}}, ["body", "count"]),
        ({"request": {"method": "FETCH"}}, ["body", "request", "method"]),
        ({"request": {"path": "no-slash"}}, ["body", "request", "path"]),
        ({"request": {}, "within_s": 0}, ["body", "within_s"]),
        ({"request": {}, "count": {"exactly": -1}}, ["body", "count", "exactly"]),
        ({}, ["body", "request"]),
        ({"request": {}, "extra": 1}, ["body", "extra"]),
    ]:
        resp = await client.post(VERIFY, json=check)
        assert resp.status == 422, check
        assert [item["loc"] for item in (await resp.json())["detail"]] == [where], check


async def test_verify_is_in_the_openapi_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    operation = document["paths"]["/service/verify/"]["post"]
    assert set(operation["responses"]) >= {"200", "409", "422"}
