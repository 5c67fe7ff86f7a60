"""Health and version (CONTRACT §2)."""

from __future__ import annotations

import json
import socket

import pytest

from mockapi.jsonfmt import dumps
from mockapi.keys import CLOCK
from mockapi.web.api.meta import health_body
from mockapi.web.bodies import HealthBody, HealthData, HealthResponseData
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


@pytest.mark.parametrize("timestamp", [0.0, 1e-05, 1.5, 1764056716.710622, 253402300799.0])
def test_the_health_body_is_the_health_models_dump(timestamp: float) -> None:
    # The handler builds a dict (the models cost more than the rest of the request); the
    # model is what /openapi.json documents.
    model = HealthBody(
        data=HealthData(
            code=200,
            response_data=HealthResponseData(
                ok=True, hostname="host", timestamp=timestamp, detail=""
            ),
        )
    )
    assert json.dumps(health_body("host", timestamp)) == json.dumps(model.model_dump(mode="json"))


@pytest.mark.parametrize("timestamp", [0.0, 1e-05, -3e-07, 1764056716.710622])
async def test_health_writes_the_timestamp_as_python_json_does_even_near_the_epoch(
    client: Client, monkeypatch: pytest.MonkeyPatch, timestamp: float
) -> None:
    monkeypatch.setattr(client.app[CLOCK], "time", lambda: timestamp)
    resp = await client.get("/api/v2/health/")
    assert await resp.read() == dumps(health_body(socket.gethostname(), timestamp))
