"""The access log: one DEBUG line per request on ``mockapi.access``, or none when it is off."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client, auth, login


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mockapi.access"]


async def test_each_request_is_one_line_with_method_path_status_user_and_time(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    token = await login(client)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="mockapi.access"):
        assert (await client.get("/api/v2/pools/", headers=auth(token))).status == 200
        assert (await client.get("/api/v2/pools/")).status == 403
    lines = access_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("GET /api/v2/pools/ 200 user=astravdi ")
    assert lines[1].startswith("GET /api/v2/pools/ 403 user=- ")
    assert all(line.endswith("ms") for line in lines)


async def test_a_fault_that_sent_nothing_is_logged_with_a_dash(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    resp = await client.post("/service/faults/", json={"path": "/api/v2/version/", "drop": True})
    assert resp.status == 201
    with (
        caplog.at_level(logging.DEBUG, logger="mockapi.access"),
        pytest.raises(aiohttp.ServerDisconnectedError),
    ):
        await client.get("/api/v2/version/")
    assert any(line.startswith("GET /api/v2/version/ - user=- ") for line in access_lines(caplog))


async def test_off_writes_no_line_even_at_debug(
    aiohttp_client: AiohttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(jwt_secret=SECRET, clock="manual", access_log=False)
    client = await aiohttp_client(create_app(settings))
    with caplog.at_level(logging.DEBUG, logger="mockapi.access"):
        assert (await client.get("/api/v2/health/")).status == 200
    assert access_lines(caplog) == []


async def test_a_path_with_a_line_break_cannot_forge_a_log_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="mockapi.access"):
        resp = await client.get("/api/v2/x%0A2026-01-01 INFO mockapi: forged/")
        assert resp.status == 404
    (line,) = access_lines(caplog)
    assert "\n" not in line
    assert line.startswith("GET '/api/v2/x\\n2026-01-01 INFO mockapi: forged/' 404 user=- ")
