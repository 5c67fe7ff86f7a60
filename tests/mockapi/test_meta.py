"""Health and version (CONTRACT §2)."""

from __future__ import annotations

import socket

from mockapi.keys import CLOCK
from tests.helpers import Client


async def test_health_reports_real_hostname_and_scenario_time(client: Client) -> None:
    resp = await client.get("/api/v2/health/")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    body = await resp.json()
    data = body["data"]
    assert list(data) == ["code", "response_data"]
    assert data["code"] == 200
    assert data["response_data"]["hostname"] == socket.gethostname()
    assert data["response_data"]["ok"] is True
    assert data["response_data"]["detail"] == ""
    assert data["response_data"]["timestamp"] == client.app[CLOCK].time()


async def test_version_is_the_scenario_version_body(client: Client) -> None:
    resp = await client.get("/api/v2/version/")
    assert resp.status == 200
    assert await resp.text() == (
        '{"data":{"version":"7.0.1","build":"996","year":"2025-2026","url":"https://spacevm.ru",'
        '"copyright":"spacevm.ru","client":"4.0.0","gateway":"2.0.0"}}'
    )
