"""``/service/tls/``, the scenario's ``[tls] certificate``, a reset, and the HTTPS site.

The control tests drive the app through aiohttp's test client (plain HTTP: what they check is
the choice, not the handshake); the site tests serve the same app over real TLS.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import default_scenario_path, load_scenario, parse_text
from mockapi.keys import JOURNAL, TLS
from mockapi.settings import Settings
from mockapi.tls import HandshakeFailure, client_context
from mockapi.web.tls import TlsSite
from tests.conftest import SECRET
from tests.helpers import Client

WAIT_S = 10.0
TLS_SCENARIO = '[tls]\ncertificate = "wrong_host"\n'


@pytest.fixture
def tls_settings(tmp_path: Path) -> Settings:
    return Settings(jwt_secret=SECRET, clock="manual", tls=True, tls_dir=tmp_path / "tls")


@pytest.fixture
async def tls_client(aiohttp_client: AiohttpClient, tls_settings: Settings) -> Client:
    return await aiohttp_client(create_app(tls_settings))


async def tls_entries(client: Client) -> list[dict[str, Any]]:
    resp = await client.get("/service/journal/")
    return [e for e in (await resp.json())["entries"] if e["kind"] == "tls"]


async def test_without_tls_the_view_says_so(client: Client) -> None:
    resp = await client.get("/service/tls/")
    assert resp.status == 200
    assert await resp.json() == {
        "enabled": False,
        "certificate": None,
        "ca_file": None,
        "client_ca": None,
        "user_cert": None,
    }


async def test_without_tls_a_choice_is_a_conflict(client: Client) -> None:
    resp = await client.post("/service/tls/", json={"certificate": "expired"})
    assert resp.status == 409
    assert "start mockapi with --tls" in (await resp.json())["detail"][0]["msg"]


@pytest.mark.parametrize(
    "body", [{"certificate": "bogus"}, {}, {"certificate": "valid", "extra": 1}, ["valid"]]
)
async def test_a_bad_choice_is_422(tls_client: Client, body: object) -> None:
    resp = await tls_client.post("/service/tls/", json=body)
    assert resp.status == 422
    assert (await (await tls_client.get("/service/tls/")).json())["certificate"] == "valid"


async def test_a_choice_is_shown_journaled_and_undone_by_a_reset(
    tls_client: Client, tls_settings: Settings
) -> None:
    view = await (await tls_client.get("/service/tls/")).json()
    assert view["enabled"] is True
    assert view["certificate"] == "valid"
    assert tls_settings.tls_dir is not None
    assert view["ca_file"] == str(tls_settings.tls_dir / "ca.pem")
    resp = await tls_client.post("/service/tls/", json={"certificate": "expired"})
    assert resp.status == 200
    assert (await resp.json())["certificate"] == "expired"
    assert tls_client.app[TLS].switch.current == "expired"
    [entry] = await tls_entries(tls_client)
    assert entry["event"] == "certificate_changed"
    assert (entry["certificate"], entry["previous"], entry["source"]) == (
        "expired",
        "valid",
        "control",
    )
    await tls_client.post("/service/reset/")
    assert tls_client.app[TLS].switch.current == "valid"
    [entry] = await tls_entries(tls_client)
    assert (entry["certificate"], entry["source"]) == ("valid", "scenario")


async def test_the_scenario_chooses_the_certificate(
    aiohttp_client: AiohttpClient, tls_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(tls_settings, parse_text(TLS_SCENARIO, "toml")))
    assert client.app[TLS].switch.current == "wrong_host"
    await client.post("/service/tls/", json={"certificate": "rotated"})
    await client.post("/service/reset/")
    # A reset goes back to the scenario's certificate, not to `valid`.
    assert client.app[TLS].switch.current == "wrong_host"


async def test_a_new_scenario_brings_its_certificate(tls_client: Client) -> None:
    resp = await tls_client.put(
        "/service/scenario/", data=TLS_SCENARIO, headers={"Content-Type": "application/toml"}
    )
    assert resp.status == 200
    assert tls_client.app[TLS].switch.current == "wrong_host"


async def test_the_scenario_key_without_tls_is_harmless(make_client: Any) -> None:
    client = await make_client(Settings(jwt_secret=SECRET, clock="manual"))
    resp = await client.put(
        "/service/scenario/", data=TLS_SCENARIO, headers={"Content-Type": "application/toml"}
    )
    assert resp.status == 200
    assert (await (await client.get("/service/tls/")).json())["enabled"] is False


def test_the_scenario_key_is_checked() -> None:
    from mockapi.domain.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=r"tls\.certificate"):
        parse_text('[tls]\ncertificate = "revoked"\n', "toml")
    assert load_scenario(default_scenario_path()).tls.certificate == "valid"


# The HTTPS site ----------------------------------------------------------------------------


@pytest.fixture
async def https(tls_settings: Settings) -> AsyncIterator[tuple[web.Application, str]]:
    app = create_app(tls_settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = TlsSite(runner, "127.0.0.1", 0, app[TLS].switch, handshake_timeout=5.0)
    await site.start()
    assert site.name.startswith("https://")
    yield app, f"https://localhost:{site.port}"
    await runner.cleanup()


async def test_the_site_serves_the_api_over_https_and_journals_refusals(
    https: tuple[web.Application, str],
) -> None:
    app, url = https
    heard = hear_failures(app)
    context = client_context(app[TLS].ca_file)
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{url}/api/v2/health/") as resp:
            assert resp.status == 200
        async with session.post(f"{url}/service/tls/", json={"certificate": "expired"}) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"{url}/api/v2/health/")
    await asyncio.wait_for(heard.wait(), WAIT_S)
    entries = [e for e in app[JOURNAL].since(0)[0] if e["kind"] == "tls"]
    assert [e["event"] for e in entries] == ["certificate_changed", "handshake_failed"]
    failed = entries[1]
    assert failed["certificate"] == "expired"
    assert failed["server_name"] == "localhost"


def hear_failures(app: web.Application) -> asyncio.Event:
    """Set once the next failed handshake has gone to the journal: the server hears a
    refusal a moment after the client saw it."""
    heard = asyncio.Event()
    switch = app[TLS].switch
    journal = switch.on_failure
    assert journal is not None

    def record(failure: HandshakeFailure) -> None:
        journal(failure)
        heard.set()

    switch.on_failure = record
    return heard


async def test_the_tls_routes_are_in_the_openapi_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    tls = document["paths"]["/service/tls/"]
    assert set(tls) == {"get", "post"}
    assert {"200", "409", "422"} <= set(tls["post"]["responses"])
    choice = document["components"]["schemas"]["TlsChoice"]
    assert "not_yet_valid" in json.dumps(choice)
