"""The journal through a real aiohttp client: what each request sent (headers, query, body),
the sockets' events and messages, and the redaction of every secret on the way in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from mockapi.domain.redaction import REDACTED, fingerprint
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, login, today_otp

RECEIVE_S = 5.0
MakeClient = Callable[[Settings], Awaitable[Client]]


async def entries(client: Client, kind: str | None = None) -> list[dict[str, Any]]:
    resp = await client.get("/service/journal/")
    assert resp.status == 200
    found: list[dict[str, Any]] = (await resp.json())["entries"]
    return [e for e in found if kind is None or e["kind"] == kind]


async def last_http(client: Client, path: str) -> dict[str, Any]:
    return [e for e in await entries(client, "http") if e["path"] == path][-1]


async def open_ws(client: Client, token: str) -> ClientWebSocketResponse:
    return await client.ws_connect(
        f"/api/v2/pools/ws/{ASTRAVDI_ID}/", headers={"Cookie": f"JWT {token}"}
    )


# -- the request side --------------------------------------------------------------------------
async def test_an_entry_has_the_request_headers_as_sent_names_lower_case(client: Client) -> None:
    await client.get("/api/v2/version/", headers={"X-Trace": "abc", "Accept": "application/json"})
    entry = await last_http(client, "/api/v2/version/")
    assert entry["headers"]["x-trace"] == "abc"
    assert entry["headers"]["accept"] == "application/json"
    assert entry["headers"]["user-agent"].startswith("Python/")  # aiohttp's own, as sent
    assert entry["headers"]["host"].startswith("127.0.0.1:")
    assert (entry["query"], entry["body"]) == ({}, None)
    assert "body_omitted" not in entry


async def test_an_entry_has_the_query_values_repeated_ones_as_a_list(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/?page=2&size=5&tag=a&tag=b", headers=auth(token))
    entry = await last_http(client, "/api/v2/pools/")
    assert entry["query"] == {"page": "2", "size": "5", "tag": ["a", "b"]}


async def test_a_json_body_is_journaled_parsed_with_the_password_redacted(client: Client) -> None:
    body = {"username": "astravdi", "password": "Bazalt1!", "ldap": False, "extra": [1, 2]}
    assert (await client.post("/api/v2/users/login/", json=body)).status == 200
    entry = await last_http(client, "/api/v2/users/login/")
    assert entry["body"] == {**body, "password": REDACTED}
    assert entry["headers"]["content-type"] == "application/json"
    assert entry["user"] == "astravdi"


async def test_the_otp_code_of_a_login_is_redacted(client: Client) -> None:
    otp = today_otp(client)
    body = {"username": "user-4", "password": "Bazalt1!", "ldap": False, "otp_code": otp}
    assert (await client.post("/api/v2/users/login/", json=body)).status == 200
    entry = await last_http(client, "/api/v2/users/login/")
    assert entry["body"] == {**body, "password": REDACTED, "otp_code": REDACTED}


async def test_the_hardware_token_code_is_redacted(client: Client) -> None:
    body = {"username": "user-3", "password": "Bazalt1!", "token_code": "918273"}
    await client.post("/api/v2/users/hardware_token/", json=body)
    entry = await last_http(client, "/api/v2/users/hardware_token/")
    assert entry["body"] == {"username": "user-3", "password": REDACTED, "token_code": REDACTED}


async def test_a_form_body_is_journaled_as_its_fields_with_the_password_redacted(
    client: Client,
) -> None:
    await client.post("/api/v2/users/adfs/", data={"username": "user-5", "password": "Bazalt1!"})
    entry = await last_http(client, "/api/v2/users/adfs/")
    assert entry["body"] == {"username": "user-5", "password": REDACTED}
    assert entry["headers"]["content-type"] == "application/x-www-form-urlencoded"


async def test_a_multipart_body_is_left_out_with_its_type_and_size(client: Client) -> None:
    form = aiohttp.FormData()
    form.add_field("username", "user-5")
    form.add_field("password", "Bazalt1!")
    form.add_field("file", b"\x00\x01", filename="x.bin")  # makes it multipart
    await client.post("/api/v2/users/adfs/", data=form)
    entry = await last_http(client, "/api/v2/users/adfs/")
    assert entry["body"] is None
    assert entry["body_omitted"]["media"] == "multipart/form-data"
    declared = entry["headers"].get("content-length")
    assert entry["body_omitted"]["bytes"] == (int(declared) if declared else None)
    assert "Bazalt1!" not in str(entry)


async def test_a_body_that_is_not_json_is_kept_as_text(client: Client) -> None:
    await client.post(
        "/api/v2/users/login/",
        data=b'{"password": "oops"',
        headers={"Content-Type": "application/json"},
    )
    entry = await last_http(client, "/api/v2/users/login/")
    assert (entry["status"], entry["body"]) == (422, '{"password": "[redacted]"')


async def test_a_jwt_is_journaled_as_its_fingerprint_and_two_tokens_differ(
    client: Client,
) -> None:
    first, second = await login(client), await login(client)
    assert first != second
    for token in (first, second, first):
        await client.get("/api/v2/users/settings/", headers=auth(token))
    seen = [
        e["headers"]["authorization"]
        for e in await entries(client, "http")
        if e["path"] == "/api/v2/users/settings/"
    ]
    assert seen == [f"JWT {fingerprint(first)}", f"JWT {fingerprint(second)}",
                    f"JWT {fingerprint(first)}"]  # fmt: skip
    journal = str(await entries(client))
    assert first not in journal
    assert second not in journal


async def test_a_minted_token_never_reaches_the_journal_in_the_clear(client: Client) -> None:
    resp = await client.post("/service/tokens/", json={"username": "astravdi"})
    token = (await resp.json())["access_token"]
    await client.get(f"/api/v2/version/?t={token}", headers={"X-Other": f"Bearer {token}"})
    entry = await last_http(client, "/api/v2/version/")
    assert entry["query"] == {"t": fingerprint(token)}
    assert entry["headers"]["x-other"] == f"Bearer {fingerprint(token)}"


# -- sockets ------------------------------------------------------------------------------------
async def test_a_socket_journals_its_opening_messages_and_the_clients_close(
    client: Client,
) -> None:
    token = await login(client)
    ws = await open_ws(client, token)
    await ws.send_str(f"hello {token}")
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.TEXT  # the echo
    await ws.send_bytes(b"\x01\x02\x03")
    await ws.close(code=4000)
    await client.get("/api/v2/health/")  # after the close was handled
    socket_events = [
        {k: v for k, v in e.items() if k not in ("seq", "time")}
        for e in await entries(client)
        if e["kind"].startswith("ws_")
    ]
    (opening,) = await entries(client, "ws_open")
    opened = opening["seq"]
    assert socket_events == [
        {"kind": "ws_open", "user": "astravdi", "socket": opened, "client_id": ASTRAVDI_ID},
        {"kind": "ws_message", "user": "astravdi", "socket": opened,
         "text": f"hello {fingerprint(token)}"},
        {"kind": "ws_message", "user": "astravdi", "socket": opened, "binary_bytes": 3},
        {"kind": "ws_close", "user": "astravdi", "socket": opened, "code": 4000,
         "by": "client"},
    ]  # fmt: skip
    handshake = await last_http(client, f"/api/v2/pools/ws/{ASTRAVDI_ID}/")
    assert handshake["status"] == 101
    assert handshake["headers"]["cookie"] == f"JWT {fingerprint(token)}"


async def test_a_socket_the_server_closes_is_journaled_with_its_code_and_by_server(
    client: Client,
) -> None:
    token = await login(client)
    ws = await open_ws(client, token)
    fault = {"user": "astravdi", "frame_status": "RUNNING", "close": 1012, "count": 1}
    assert (await client.post("/service/faults/", json=fault)).status == 201
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202
    await client.post("/service/clock/", json={"advance_s": 3})
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.TEXT  # RUNNING
    assert (await ws.receive(timeout=RECEIVE_S)).type is WSMsgType.CLOSE
    await client.get("/api/v2/health/")
    (closed,) = await entries(client, "ws_close")
    assert (closed["code"], closed["by"]) == (1012, "server")


async def test_a_refused_handshake_opens_no_socket(client: Client) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_ws(client, "forged")
    assert refused.value.status == 403
    assert await entries(client, "ws_open") == []
    handshake = await last_http(client, f"/api/v2/pools/ws/{ASTRAVDI_ID}/")
    assert (handshake["status"], handshake["headers"]["cookie"]) == (403, "JWT forged")


# -- the bounds, from the settings -----------------------------------------------------------
async def test_the_settings_bound_the_journal_by_size(make_client: MakeClient) -> None:
    client = await make_client(
        Settings(jwt_secret=SECRET, clock="manual", journal_max_bytes=20_000)
    )
    padding = "x" * 6000
    for n in range(5):
        await client.post("/api/v2/users/login/", json={"username": f"u{n}", "pad": padding})
    body = await (await client.get("/service/journal/")).json()
    kept = [entry["body"]["username"] for entry in body["entries"]]
    assert kept == ["u2", "u3", "u4"]  # three of about 6.3 kB fit in 20 kB
    assert body["dropped"] == 2


async def test_the_settings_bound_the_journal_by_count(make_client: MakeClient) -> None:
    client = await make_client(Settings(jwt_secret=SECRET, clock="manual", max_journal=2))
    for _ in range(4):
        await client.get("/api/v2/version/")
    body = await (await client.get("/service/journal/")).json()
    assert ([e["seq"] for e in body["entries"]], body["dropped"]) == ([3, 4], 2)
