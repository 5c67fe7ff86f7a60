"""The pytest plugin: a ``mockapi`` fixture for any test suite, after ``pip install mockapi``.

The server runs in a thread of its own on a free loopback port with a manual clock, so it
works whatever event loop (or none) the user's tests run on: the handle talks to it over
real HTTP and WebSockets, exactly as the client under test would.

    @pytest.mark.mockapi(scenario="happy-path", seed=7)
    async def test_connect(mockapi):
        token = await mockapi.login("alice")
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from mockapi.app import create_app
from mockapi.domain.scenario import Scenario, default_scenario_path, load_scenario
from mockapi.settings import Settings

START_TIMEOUT_S = 10.0


def resolve_scenario(ref: str | Path | Scenario | None) -> Scenario:
    """A scenario from a path, a shipped name (``"happy-path"``) or a Scenario object."""
    if isinstance(ref, Scenario):
        return ref
    if ref is None:
        return load_scenario(default_scenario_path())
    path = Path(ref)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        path = default_scenario_path().with_name(f"{ref}.toml")
    return load_scenario(path)


class ServerThread(threading.Thread):
    """mockapi on 127.0.0.1:<free port>, in a thread with its own event loop."""

    def __init__(self, settings: Settings, scenario: Scenario) -> None:
        super().__init__(name="mockapi-server", daemon=True)
        self._settings = settings
        self._scenario = scenario
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = create_app(self._settings, self._scenario)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    def start_and_wait(self) -> None:
        self.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("mockapi did not start in time")
        if self._error is not None:
            raise RuntimeError(f"mockapi failed to start: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(START_TIMEOUT_S)


class Socket:
    """An open WebSocket of one user; ``receive`` returns the next frame as a dict."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.raw = ws

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next text frame decoded from JSON; TimeoutError when none arrives in time."""
        message = await self.raw.receive(timeout=timeout)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {message.type.name}")
        try:
            data = json.loads(message.data)
        except json.JSONDecodeError:
            return {"text": message.data}
        if not isinstance(data, dict):
            return {"value": data}
        return data

    async def send(self, text: str) -> None:
        await self.raw.send_str(text)


@dataclass
class MockApi:
    """The handle the ``mockapi`` fixture yields."""

    url: str
    scenario: Scenario

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, **kwargs) as resp,
        ):
            body = await resp.read()
            if resp.status >= 400:
                raise AssertionError(f"{method} {path} → {resp.status}: {body.decode()}")
            return json.loads(body) if body else None

    def _user(self, username: str) -> dict[str, Any]:
        for user in self.scenario.users:
            if user.username == username:
                return user.model_dump()
        for group in self.scenario.user_groups:
            if username.startswith(group.prefix):
                return group.model_dump()
        raise KeyError(f"no user {username!r} in the scenario")

    async def now(self) -> str:
        clock: dict[str, Any] = await self._request("GET", "/service/clock/")
        return str(clock["now"])

    async def login(
        self, username: str, password: str | None = None, otp: str | None = None
    ) -> str:
        """Log in through the real route; the password defaults to the scenario's, and the
        OTP of an OTP user to the code valid on the scenario clock now."""
        user = self._user(username)
        if otp is None and user.get("otp"):
            otp = (await self.now())[2:10].replace("-", "")
        body = {
            "username": username,
            "password": password if password is not None else user.get("password"),
            "ldap": False,
            "otp_code": otp,
        }
        answer = await self._request("POST", "/api/v2/users/login/", json=body)
        return str(answer["data"]["access_token"])

    async def advance(self, seconds: float) -> dict[str, Any]:
        """Advance the manual clock; returns after the frames it caused reached the sockets."""
        result: dict[str, Any] = await self._request(
            "POST", "/service/clock/", json={"advance_s": seconds}
        )
        return result

    async def force(self, task_id: str, status: str) -> dict[str, Any]:
        """Force a task's status (pushed to the owner's sockets like any change)."""
        result: dict[str, Any] = await self._request(
            "POST", f"/service/tasks/{task_id}/", json={"status": status}
        )
        return result["data"]  # type: ignore[no-any-return]

    async def journal(self, since: int = 0) -> list[dict[str, Any]]:
        """Journal entries after ``since``, oldest first."""
        result = await self._request("GET", f"/service/journal/?since={since}")
        return list(result["entries"])

    async def reset(self) -> None:
        """Back to the scenario's initial state."""
        await self._request("POST", "/service/reset/")

    @contextlib.asynccontextmanager
    async def ws(self, username: str) -> AsyncIterator[Socket]:
        """An open WebSocket of ``username``, with a token from ``POST /service/tokens/``."""
        # Not login(): it cannot finish for an ADFS or hardware-token user (428), and a test
        # watching such a user's tasks needs their socket all the same.
        issued = await self._request("POST", "/service/tokens/", json={"username": username})
        token = str(issued["access_token"])
        # The handle is a client: it reads its own token, it does not verify it.
        client_id = jwt.decode(token, options={"verify_signature": False})["client_id"]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"{self.url}/api/v2/pools/ws/{client_id}/",
                headers={"Cookie": f"JWT {token}"},
            ) as ws,
        ):
            yield Socket(ws)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockapi(scenario=None, seed=None): the scenario (path, shipped name or Scenario) and "
        "seed of the mockapi fixture's server",
    )


@pytest.fixture
def mockapi(request: pytest.FixtureRequest) -> Iterator[MockApi]:
    """A mockapi server for this test: manual clock, default scenario unless marked."""
    marker = request.node.get_closest_marker("mockapi")
    options = dict(marker.kwargs) if marker else {}
    scenario = resolve_scenario(options.get("scenario"))
    settings = Settings(port=0, clock="manual", seed=options.get("seed"))
    server = ServerThread(settings, scenario)
    server.start_and_wait()
    try:
        yield MockApi(url=f"http://127.0.0.1:{server.port}", scenario=scenario)
    finally:
        server.stop()
