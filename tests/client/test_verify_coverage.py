"""``verify`` and ``coverage`` on both faces of the control client against a real server: a
held expectation answers the matches, a failed one raises NotVerified with the server's
explanation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mockapi.client import NotVerified
from mockapi.client.core import explain
from tests.client.conftest import Face, Server, make_client, start_expand

FACES = ["sync", "async"]
POOLS = "/api/v2/pools/*/connect/"


@pytest.fixture(params=FACES)
async def ctl(request: pytest.FixtureRequest, server: Server) -> AsyncIterator[Face]:
    face = make_client(request.param, server.url)
    try:
        yield face
    finally:
        await face.close()


async def test_verify_answers_the_matches_when_the_expectation_holds(
    ctl: Face, server: Server
) -> None:
    token = await ctl.token("alice")
    start_expand(server.url, token)
    matches = await ctl.verify({"method": "GET", "path": POOLS, "user": "alice"}, exactly=1)
    assert [(m["method"], m["status"], m["user"]) for m in matches] == [("GET", 202, "alice")]


async def test_verify_raises_with_the_servers_explanation(ctl: Face, server: Server) -> None:
    token = await ctl.token("alice")
    start_expand(server.url, token)
    with pytest.raises(NotVerified) as failed:
        await ctl.verify({"method": "POST", "path": POOLS}, at_least=1)
    answer = failed.value.answer
    assert answer["message"] == "expected at least 1 matching request, found 0"
    step1 = next(m for m in answer["near_misses"] if m["entry"]["path"].endswith("/connect/"))
    assert step1["differences"] == [{"field": "method", "expected": "POST", "actual": "GET"}]
    text = str(failed.value)
    assert text == explain(answer)
    assert text.startswith("expected at least 1 matching request, found 0\nclosest requests:\n")
    assert '    method: expected "POST", got "GET"' in text


async def test_verify_takes_one_count_only(ctl: Face) -> None:
    with pytest.raises(ValueError, match="give one count, not exactly and at_most"):
        await ctl.verify({"path": "/"}, exactly=1, at_most=2)


async def test_verify_with_window_and_order(ctl: Face, server: Server) -> None:
    token = await ctl.token("alice")
    task = start_expand(server.url, token)
    await ctl.advance(30)
    await ctl.verify({"path": "/service/clock/"}, after={"path": POOLS}, within_s=1, exactly=1)
    with pytest.raises(NotVerified, match="found 0"):
        await ctl.verify({"path": POOLS}, after={"path": "/service/clock/"})
    assert task["status"] == "PENDING"


async def test_coverage_reads_what_was_reached(ctl: Face, server: Server) -> None:
    token = await ctl.token("alice")
    start_expand(server.url, token)
    coverage = await ctl.coverage()
    assert coverage["machines"]["connection"]["covered"] == 1
    reached = [(r["path"], r["status"]) for r in coverage["routes"] if r["count"]]
    assert reached == [("/api/v2/pools/{id}/connect/", 202)]


async def test_conformance_lists_each_rule_with_its_status(ctl: Face, server: Server) -> None:
    token = await ctl.token("alice")
    start_expand(server.url, token)  # step 1 with no socket open
    rules = {rule["id"]: rule for rule in await ctl.conformance()}
    assert rules["socket_before_connect"]["status"] == "fail"
    assert rules["auth_header"]["status"] == "pass"
    assert rules["retry_after"]["status"] == "not_exercised"
