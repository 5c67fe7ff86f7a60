"""``mockapi proxy`` and ``mockapi capture`` with real processes: a second mockapi, on a
scenario of its own, plays the real dispatcher upstream; an aiohttp client talks through
the proxy. Loopback only; task time moves on the upstream's manual clock."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mockapi.proxy.redaction import JWT_PATTERN
from tests.helpers import Process, running

ALICE = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a01"
WIN = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"
KIOSK = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d03"
SEEDED = "6f1c1a52-0e43-4c43-9a43-0b9e1d3c2a10"

#: The upstream's world: not mockapi's default, with every MFA kind, a pool step 1 refuses
#: and a task the upstream had before the proxy saw anything.
UPSTREAM_SCENARIO = f"""
[settings]
seed = 7
clock = "manual"

[version]
version = "9.9.1"
build = "4242"

[timing.POOL_EXPAND]
pending_s = 2
running_s = 4
outcomes = {{ COMPLETED = 1 }}

[timing.GLINT_START]
pending_s = 1
running_s = 3
outcomes = {{ COMPLETED = 1 }}

[[users]]
id = "{ALICE}"
username = "alice"
roles = ["admin", "user"]
pools = ["win-desktops", "kiosk"]

[[users]]
id = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a02"
username = "otto"
otp = true
pools = ["kiosk"]

[[users]]
id = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a03"
username = "hank"
hardware_token = true

[[users]]
id = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a04"
username = "adam"
adfs = true

[[pools]]
id = "{WIN}"
name = "win-desktops"
is_favorite = true
os_type = "Windows"

[[pools]]
id = "{KIOSK}"
name = "kiosk"
pool_type = "STATIC"
os_type = "Linux"
connection_types = ["GLINT"]

[[tasks]]
id = "{SEEDED}"
user = "alice"
pool = "kiosk"
status = "FAILED"
created = 2024-05-01T10:00:00Z
started = 2024-05-01T10:00:03Z
finished = 2024-05-01T10:00:09Z

[[rules]]
user = "alice"
pool = "kiosk"
kind = "POOL_EXPAND"
expandable = false

[client_settings.general]
default_remote_protocol = 2
documentation_url = "https://dispatcher.example.test/docs/"

[client_settings.security]
domain_username_format_enabled = true
sc_permissions = ["USB", "SMARTCARD"]

[client_settings.net]
network_timeout = 40

[[client_settings.protocols]]
id = 2
name = "RDP"
fps = 60
hardware_acceleration_options = {{ hardware_acceleration_enabled = true }}

[[client_settings.protocols]]
"""


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Process]:
    scenario = tmp_path / "upstream.toml"
    scenario.write_text(UPSTREAM_SCENARIO, encoding="utf-8")
    folder = tmp_path / "upstream"
    folder.mkdir()
    with running(folder, "--scenario", str(scenario)) as server:
        yield server


def mockapi_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m mockapi ARGV`` run to the end: its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "mockapi", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def advance(session: aiohttp.ClientSession, server: str, seconds: float) -> None:
    """Move the server's scenario clock; it answers once the frames are on their way."""
    async with session.post(f"{server}/service/clock/", json={"advance_s": seconds}) as resp:
        assert resp.status == 200


async def otp_of(session: aiohttp.ClientSession, server: str) -> str:
    async with session.get(f"{server}/service/clock/") as resp:
        now = (await resp.json())["now"]
    return f"{now[2:4]}{now[5:7]}{now[8:10]}"


class Recorder:
    """Every answer of a flow, normalised where a replay may differ on purpose: task ids by
    order of appearance, tokens, and times (only whether they are set)."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, int, Any]] = []
        self.ids: dict[str, str] = {}

    def norm(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.norm(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.norm(item) for item in value]
        if key == "access_token":
            return "<token>"
        if key in ("created", "started", "finished"):
            return value is not None
        if isinstance(value, str) and key == "id" and value not in (WIN, KIOSK, SEEDED):
            return self.ids.setdefault(value, f"<id{len(self.ids)}>")
        return value

    async def answer(self, label: str, resp: aiohttp.ClientResponse) -> Any:
        text = await resp.text()
        body = json.loads(text) if text else None
        self.answers.append((label, resp.status, self.norm(body)))
        return body

    def frame(self, label: str, text: str) -> None:
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        self.answers.append((label, 101, self.norm(value)))


async def settings_bytes(base: str, clock: str, name: str) -> bytes:
    """The settings answer of ``name`` exactly as sent (an OTP user logs in with today's code)."""
    async with aiohttp.ClientSession() as http:
        body = {"username": name, "password": "x", "ldap": False}
        if name == "otto":
            body["otp_code"] = await otp_of(http, clock)
        async with http.post(f"{base}/api/v2/users/login/", json=body) as resp:
            token = (await resp.json())["data"]["access_token"]
        headers = {"Authorization": f"JWT {token}"}
        async with http.get(f"{base}/api/v2/users/settings/", headers=headers) as resp:
            assert resp.status == 200
            return await resp.read()


async def client_flow(base: str, clock: str) -> Recorder:
    """A client's whole session: version, the MFA logins, pools, the two-step connect with
    its frames, the echo, a seeded task and a refused step 1; ``clock`` is the server whose
    scenario clock moves the tasks."""
    rec = Recorder()
    login = f"{base}/api/v2/users/login/"
    async with aiohttp.ClientSession() as http:
        await rec.answer("version", await http.get(f"{base}/api/v2/version/"))
        for name in ("otto", "hank", "adam", "nobody"):
            body = {"username": name, "password": "x", "ldap": False}
            await rec.answer(f"login {name}", await http.post(login, json=body))
        otp = await otp_of(http, clock)
        body = {"username": "otto", "password": "x", "ldap": False, "otp_code": otp}
        await rec.answer("login otto otp", await http.post(login, json=body))
        body = {"username": "alice", "password": "x", "ldap": False}
        token = (await rec.answer("login alice", await http.post(login, json=body)))["data"][
            "access_token"
        ]
        auth = {"Authorization": f"JWT {token}"}
        await rec.answer("settings", await http.get(f"{base}/api/v2/users/settings/", headers=auth))
        await rec.answer("pools", await http.get(f"{base}/api/v2/pools/", headers=auth))
        seeded = f"{base}/api/v2/tasks/{SEEDED}/"
        await rec.answer("seeded task", await http.get(seeded, headers=auth))
        kiosk = f"{base}/api/v2/pools/{KIOSK}/connect/"
        await rec.answer("kiosk step 1", await http.get(kiosk, headers=auth))

        ws_url = f"{base.replace('http', 'ws')}/api/v2/pools/ws/{ALICE}/"
        async with http.ws_connect(ws_url, headers={"Cookie": f"JWT {token}"}) as ws:
            connect = f"{base}/api/v2/pools/{WIN}/connect/"
            task = await rec.answer("step 1", await http.get(connect, headers=auth))
            await advance(http, clock, 2)
            rec.frame("frame", (await ws.receive_str(timeout=10)))
            await advance(http, clock, 4)
            rec.frame("frame", (await ws.receive_str(timeout=10)))
            task_url = f"{base}/api/v2/tasks/{task['data']['id']}/"
            await rec.answer("task", await http.get(task_url, headers=auth))
            await rec.answer("step 1 again", await http.get(connect, headers=auth))
            step2 = {"remote_protocol": 1, "width": 1920, "height": 1080, "password": None}
            first_glint = await rec.answer(
                "step 2", await http.post(connect, json=step2, headers=auth)
            )
            await advance(http, clock, 1)
            rec.frame("frame", (await ws.receive_str(timeout=10)))
            await advance(http, clock, 3)
            rec.frame("frame", (await ws.receive_str(timeout=10)))
            await rec.answer("step 2 done", await http.post(connect, json=step2, headers=auth))
            glint_url = f"{base}/api/v2/tasks/{first_glint['data']['id']}/"
            await rec.answer("glint task", await http.get(glint_url, headers=auth))
            await ws.send_str("hello")
            rec.frame("echo", (await ws.receive_str(timeout=10)))
    return rec


async def test_a_whole_session_passes_the_proxy_unchanged_and_is_journaled(
    upstream: Process, start_proxy: Any
) -> None:
    proxy = start_proxy(upstream.url)
    through = await client_flow(proxy.url, upstream.url)
    labels = [(label, status) for label, status, _ in through.answers]
    assert labels[:9] == [
        ("version", 200),
        ("login otto", 428),
        ("login hank", 428),
        ("login adam", 428),
        ("login nobody", 401),
        ("login otto otp", 200),
        ("login alice", 200),
        ("settings", 200),
        ("pools", 200),
    ]
    frames = [body for label, _, body in through.answers if label == "frame"]
    # Frames in state order, as the upstream sent them: the expand, then the GLINT start.
    assert [(f["kind"], f["status"]) for f in frames] == [
        ("POOL_EXPAND", "RUNNING"),
        ("POOL_EXPAND", "COMPLETED"),
        ("GLINT_START", "RUNNING"),
        ("GLINT_START", "COMPLETED"),
    ]
    assert through.answers[-1] == ("echo", 101, "User alice sent: hello")
    assert ("step 2 done", 200) in labels

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/service/journal/") as resp:
            text = await resp.text()
            journal = json.loads(text)
        # Byte for byte: the proxy answers what the upstream answers.
        async with (
            http.get(f"{upstream.url}/api/v2/version/") as direct,
            http.get(f"{proxy.url}/api/v2/version/") as via,
        ):
            assert await via.read() == await direct.read()
            assert via.headers["content-type"] == direct.headers["content-type"]
        # A 307 points back at the proxy, so a client following it stays there.
        async with http.get(f"{proxy.url}/api/v2/health", allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["location"] == f"{proxy.url}/api/v2/health/"
        async with http.get(f"{proxy.url}/") as page:
            assert page.status == 200
            html = await page.text()
            assert upstream.url in html
            assert "/api/v2/users/login/" in html
            assert "default-src 'none'" in page.headers["content-security-policy"]

    entries = journal["entries"]
    assert journal["dropped"] == 0
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    # Redacted: no JWT and no OTP code in the journal, tokens fingerprinted, passwords hidden.
    assert not JWT_PATTERN.search(text)
    logins = [e for e in entries if e["kind"] == "http" and e["path"].endswith("/login/")]
    assert all(e["request"]["body"]["password"] == "[redacted]" for e in logins)
    assert logins[4]["request"]["body"]["otp_code"] == "[redacted]"
    issued = [e for e in logins if e["status"] == 200]
    assert issued[1]["claims"]["sub"] == ALICE
    assert issued[1]["response"]["body"]["data"]["access_token"].startswith("jwt:")
    down = [e["frame"] for e in entries if e["kind"] == "ws" and e["direction"] == "down"]
    assert [through.norm(frame) for frame in down[:4]] == frames
    assert down[4] == "User alice sent: hello"
    up = [e["frame"] for e in entries if e["kind"] == "ws" and e["direction"] == "up"]
    assert up == ["hello"]
    kinds = [e["kind"] for e in entries]
    assert "ws_open" in kinds
    assert "ws_close" in kinds
    handshake = next(e for e in entries if e["kind"] == "http" and e["status"] == 101)
    assert handshake["user"] == "alice"
    assert handshake["request"]["headers"]["cookie"].startswith("JWT jwt:")


async def test_a_refused_handshake_is_the_upstreams_refusal(
    upstream: Process, start_proxy: Any
) -> None:
    proxy = start_proxy(upstream.url)
    path = f"/api/v2/pools/ws/{ALICE}/"
    async with aiohttp.ClientSession() as http:
        for base in (upstream.url, proxy.url):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base.replace('http', 'ws')}{path}")
            assert refused.value.status == 403
            assert refused.value.headers is not None
            assert refused.value.headers["www-authenticate"] == "JWT"
        # The body too: read with a plain upgrade request, which aiohttp's ws_connect drops.
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        bodies = []
        for base in (upstream.url, proxy.url):
            async with http.get(f"{base}{path}", headers=headers) as resp:
                bodies.append((resp.status, await resp.read()))
        assert bodies[0] == bodies[1]
        assert bodies[1] == (
            403,
            b'{"detail":[{"msg":"Permission denied.","err_code":999,"type":"default"}]}',
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_down_upstream_is_a_502_naming_it(start_proxy: Any) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    proxy = start_proxy(dead)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/v2/health/") as resp:
            assert resp.status == 502
            assert resp.headers["www-authenticate"] == "JWT"
            body = await resp.json()
        ws = f"{proxy.url.replace('http', 'ws')}/api/v2/pools/ws/{ALICE}/"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws)
        assert refused.value.status == 502
        async with http.get(f"{proxy.url}/service/journal/") as resp:
            entries = (await resp.json())["entries"]
    [item] = body["detail"]
    assert list(item) == ["msg", "err_code", "type"]
    assert item["err_code"] == 999
    assert item["type"] == "default"
    assert dead in item["msg"]
    assert "refused the connection" in item["msg"]
    assert [(e["path"], e["status"]) for e in entries] == [
        ("/api/v2/health/", 502),
        (f"/api/v2/pools/ws/{ALICE}/", 502),
    ]
    assert "refused the connection" in entries[0]["error"]


async def test_an_upstream_that_never_answers_is_a_502_after_the_timeout(
    start_proxy: Any,
) -> None:
    # A listener that accepts and then says nothing: the proxy's timeout has to end it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        silent.settimeout(30)
        try:
            conn, _ = silent.accept()
            held.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proxy = start_proxy(url, "--timeout", "0.5")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{proxy.url}/api/v2/health/") as resp,
        ):
            assert resp.status == 502
            msg = (await resp.json())["detail"][0]["msg"]
        assert msg == f"Bad gateway: upstream {url} did not answer within 0.5 s."
    finally:
        silent.close()
        thread.join(timeout=5)
        for conn in held:
            conn.close()


async def test_a_captured_scenario_replays_the_same_answers(
    upstream: Process, start_proxy: Any, tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url)
    through = await client_flow(proxy.url, upstream.url)
    journal = tmp_path / "journal.json"
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{proxy.url}/service/journal/") as resp,
    ):
        journal.write_bytes(await resp.read())
    world = tmp_path / "world.toml"
    done = mockapi_tool("capture", str(journal), "-o", str(world))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{world}: 4 users, 2 pools, 1 machines, ")
    checked = mockapi_tool("scenario", "check", str(world))
    assert checked.returncode == 0, checked.stdout
    captured = world.read_text(encoding="utf-8")
    assert "[client_settings.net]" in captured
    assert "settings body" not in captured  # nothing of it left off, so no note about it

    folder = tmp_path / "replay"
    folder.mkdir()
    with running(folder, "--scenario", str(world), "--clock", "manual") as replay:
        again = await client_flow(replay.url, replay.url)
        # The upstream's settings are not mockapi's default; the replay answers them byte for
        # byte, each user with their own MFA flags.
        for name in ("alice", "otto"):
            upstream_settings = await settings_bytes(upstream.url, upstream.url, name)
            assert await settings_bytes(replay.url, replay.url, name) == upstream_settings
    assert again.answers == through.answers
    assert b'"network_timeout":40' in upstream_settings
    assert b'"otp_enabled":true' in upstream_settings


async def test_frames_keep_their_order_both_ways_and_a_close_passes_through(
    upstream: Process, start_proxy: Any
) -> None:
    proxy = start_proxy(upstream.url)
    async with aiohttp.ClientSession() as http:
        body = {"username": "alice", "password": "x", "ldap": False}
        async with http.post(f"{proxy.url}/api/v2/users/login/", json=body) as resp:
            token = (await resp.json())["data"]["access_token"]
        ws_url = f"{proxy.url.replace('http', 'ws')}/api/v2/pools/ws/{ALICE}/"
        async with http.ws_connect(ws_url, headers={"Cookie": f"JWT {token}"}) as ws:
            # Sent back to back, without waiting: the echoes come back in the same order.
            for n in range(100):
                await ws.send_str(f"m{n}")
            echoes = [await ws.receive_str(timeout=10) for _ in range(100)]
            assert echoes == [f"User alice sent: m{n}" for n in range(100)]
            # The upstream shuts down: its 1001 reaches the client through the proxy.
            upstream.proc.terminate()
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == aiohttp.WSCloseCode.GOING_AWAY
        async with http.get(f"{proxy.url}/service/journal/") as resp:
            entries = (await resp.json())["entries"]
    up = [e["frame"] for e in entries if e["kind"] == "ws" and e["direction"] == "up"]
    assert up == [f"m{n}" for n in range(100)]
    [closed] = [e for e in entries if e["kind"] == "ws_close"]
    assert (closed["by"], closed["code"]) == ("upstream", 1001)


async def test_a_body_too_large_for_the_proxy_is_a_413_in_the_error_shape(
    upstream: Process, start_proxy: Any
) -> None:
    proxy = start_proxy(upstream.url)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{proxy.url}/api/v2/users/login/", data=io.BytesIO(b"x" * (16 << 20 | 1))
        ) as resp,
    ):
        assert resp.status == 413
        assert resp.headers["www-authenticate"] == "JWT"
        body = await resp.json()
    assert body["detail"][0]["err_code"] == 999
    assert body["detail"][0]["msg"].startswith("Request body too large for the proxy")


async def test_an_upstream_that_vanishes_closes_the_client_with_1001(
    upstream: Process, start_proxy: Any
) -> None:
    proxy = start_proxy(upstream.url)
    async with aiohttp.ClientSession() as http:
        body = {"username": "alice", "password": "x", "ldap": False}
        async with http.post(f"{proxy.url}/api/v2/users/login/", json=body) as resp:
            token = (await resp.json())["data"]["access_token"]
        ws_url = f"{proxy.url.replace('http', 'ws')}/api/v2/pools/ws/{ALICE}/"
        async with http.ws_connect(ws_url, headers={"Cookie": f"JWT {token}"}) as ws:
            upstream.proc.kill()  # no close frame: the connection just ends
            closing = await ws.receive(timeout=10)
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == aiohttp.WSCloseCode.GOING_AWAY
        # The proxy itself carries on: a request now gets the 502 of a dead upstream.
        async with http.get(f"{proxy.url}/api/v2/health/") as resp:
            assert resp.status == 502
