"""The proxy application's own routes and answers, with aiohttp's test client."""

from __future__ import annotations

import socket

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.proxy import app as proxy_app
from mockapi.proxy.app import ProxySettings, create_proxy_app
from tests.helpers import Client


def dead_upstream() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_proxy_app(ProxySettings(upstream=dead_upstream())))


async def test_the_journal_pages_like_mockapis(client: Client) -> None:
    for _ in range(3):
        assert (await client.get("/api/v2/health/")).status == 502
    resp = await client.get("/service/journal/?since=2")
    body = await resp.json()
    assert [entry["seq"] for entry in body["entries"]] == [3]
    assert body["dropped"] == 0
    bad = await client.get("/service/journal/?since=-1")
    assert bad.status == 422
    assert (await bad.json())["detail"][0]["loc"] == ["query", "since"]
    assert (await client.delete("/service/journal/")).status == 204
    assert (await (await client.get("/service/journal/")).json())["entries"] == []


async def test_the_page_lists_the_newest_entries(client: Client) -> None:
    await client.get("/api/v2/version/?x=<b>")
    page = await client.get("/")
    html = await page.text()
    assert page.status == 200
    assert "/api/v2/version/?x=%3Cb%3E &rarr; 502" in html
    assert "<b>" not in html
    assert page.headers["x-frame-options"] == "DENY"


async def test_an_unexpected_error_is_still_json(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(proxy_app, "_unreachable", broken)
    resp = await client.get("/api/v2/health/")
    assert resp.status == 500
    assert resp.headers["content-type"] == "application/json"
    assert (await resp.json())["detail"][0]["msg"] == "Internal server error."
