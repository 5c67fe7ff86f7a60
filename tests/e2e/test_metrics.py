"""``GET /metrics`` on a real server after a known sequence of requests, parsed by
prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.live import ANN, POOL_A, Live, live_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    async with live_server() as server:
        yield server


async def scrape(live: Live) -> Samples:
    async with live.session.get(live.at("/metrics")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await resp.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def label(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_metrics_after_a_known_sequence(live: Live) -> None:
    token = await live.token("ann")
    jwt = {"Authorization": f"JWT {token}"}
    for _ in range(3):
        async with live.session.get(live.at("/api/v2/health/")) as resp:
            assert resp.status == 200
    async with live.session.post(
        live.at("/api/v2/users/login/"), json={"username": "nobody", "password": "x", "ldap": False}
    ) as resp:
        assert resp.status == 401
    async with live.session.get(live.at("/nowhere")) as resp:
        assert resp.status == 404
    async with live.session.get(live.at(f"/api/v2/pools/{POOL_A}/connect/"), headers=jwt) as resp:
        assert resp.status == 202
    await live.fault(path="/api/v2/version/", status=503, count=2)
    await live.fault(user="ann", frame_status="COMPLETED", lose_frames=1)
    for _ in range(2):
        async with live.session.get(live.at("/api/v2/version/")) as resp:
            assert resp.status == 503
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            live.at(f"/api/v2/pools/ws/{ANN}/"), headers={"Cookie": f"JWT {token}"}
        )
        got = await scrape(live)
        assert got[("mockapi_websockets_open", label())] == 1
        await live.advance(3)  # RUNNING: sent
        await live.advance(10)  # COMPLETED: lost
        await ws.close()

    got = await scrape(live)
    requests = "mockapi_http_requests_total"
    assert got[(requests, label(route="health", method="GET", status="200"))] == 3
    assert got[(requests, label(route="login", method="POST", status="401"))] == 1
    assert got[(requests, label(route="unmatched", method="GET", status="404"))] == 1
    assert got[(requests, label(route="connect-step1", method="GET", status="202"))] == 1
    assert got[(requests, label(route="version", method="GET", status="503"))] == 2
    assert got[(requests, label(route="pools-ws", method="GET", status="101"))] == 1
    latency = "mockapi_http_request_duration_seconds"
    assert got[(f"{latency}_count", label(route="health"))] == 3
    assert got[(f"{latency}_bucket", label(route="health", le="+Inf"))] == 3
    assert (f"{latency}_count", label(route="pools-ws")) not in got  # sessions are not timed
    assert got[("mockapi_faults_fired_total", label(action="status"))] == 2
    assert got[("mockapi_faults_fired_total", label(action="lose_frames"))] == 1
    assert got[("mockapi_ws_frames_total", label(outcome="sent"))] == 1
    assert got[("mockapi_ws_frames_total", label(outcome="lost"))] == 1
    assert got[("mockapi_ws_frames_total", label(outcome="delayed"))] == 0
    assert got[("mockapi_tasks", label(kind="POOL_EXPAND", status="COMPLETED"))] == 1
    assert got[("mockapi_tasks", label(kind="POOL_EXPAND", status="PENDING"))] == 0
    assert got[("mockapi_world_size", label(object="users"))] == 2
    assert got[("mockapi_world_size", label(object="pools"))] == 1
    assert got[("mockapi_world_size", label(object="tasks"))] == 1
    assert got[("mockapi_websockets_open", label())] == 0
    # The earlier scrapes are counted like any request.
    assert got[(requests, label(route="metrics", method="GET", status="200"))] == 1


async def test_metrics_is_never_journaled_nor_faulted(live: Live) -> None:
    await live.fault(path="/**", status=500)
    await live.fault(path="/metrics", reset=True)
    got = await scrape(live)
    assert ("mockapi_websockets_open", label()) in got
    assert [e for e in await live.journal("http") if e["path"] == "/metrics"] == []
    assert await live.journal("fault") == []


async def test_metrics_is_in_the_openapi_document(live: Live) -> None:
    async with live.session.get(live.at("/openapi.json")) as resp:
        document = await resp.json()
    operation = document["paths"]["/metrics"]["get"]
    assert operation["operationId"] == "metrics"
    assert "text/plain" in operation["responses"]["200"]["content"]
