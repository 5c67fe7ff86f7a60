"""A mockapi server as ``mockapi`` serves one (an AppRunner on loopback, handlers never cancelled
when their client leaves), in the test's own loop so a test can read its state, and a small
client for its control API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from mockapi.app import create_app
from mockapi.domain.scenario import parse_text
from mockapi.settings import Settings
from tests.conftest import SECRET

ANN = "6a1c2f3e-4b5d-4e6f-8a7b-9c0d1e2f3a01"
BEN = "6a1c2f3e-4b5d-4e6f-8a7b-9c0d1e2f3a02"
POOL_A = "7b2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e01"

#: Two users, one pool; every task is 3 s PENDING, 10 s RUNNING, then COMPLETED.
WORLD = f"""\
[settings]
seed = 5
clock = "manual"

[timing.POOL_EXPAND]
pending_s = 3
running_s = 10
outcomes = {{ COMPLETED = 1 }}

[timing.GLINT_START]
pending_s = 3
running_s = 10
outcomes = {{ COMPLETED = 1 }}

[[users]]
id = "{ANN}"
username = "ann"
password = "ann-password"
pools = ["pool-a"]

[[users]]
id = "{BEN}"
username = "ben"
password = "ben-password"
pools = ["pool-a"]

[[pools]]
id = "{POOL_A}"
name = "pool-a"
free_machines = 5
"""


#: What an entry says a request sent.
REQUEST_SIDE = ("query", "headers", "body", "body_omitted")


@dataclass
class Live:
    """A running server: its app (to read state), its URL, and a control-API session."""

    app: web.Application
    runner: web.AppRunner
    url: str
    session: aiohttp.ClientSession

    def at(self, path: str) -> str:
        return self.url + path

    async def fault(self, **spec: Any) -> dict[str, Any]:
        async with self.session.post(self.at("/service/faults/"), json=spec) as resp:
            assert resp.status == 201, await resp.text()
            data: dict[str, Any] = (await resp.json())["data"]
            return data

    async def advance(self, seconds: float) -> None:
        """Advance the scenario clock; answered once the frames reached the sockets."""
        async with self.session.post(
            self.at("/service/clock/"), json={"advance_s": seconds}
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def token(self, username: str) -> str:
        async with self.session.post(
            self.at("/service/tokens/"), json={"username": username}
        ) as resp:
            assert resp.status == 200, await resp.text()
            value: str = (await resp.json())["access_token"]
            return value

    async def journal(self, kind: str) -> list[dict[str, Any]]:
        """Journal entries of ``kind``, without ``seq``, ``time`` and what the request sent
        (its own tests are in tests/web/test_journal.py)."""
        async with self.session.get(self.at("/service/journal/")) as resp:
            entries = (await resp.json())["entries"]
        return [
            {k: v for k, v in entry.items() if k not in ("seq", "time", *REQUEST_SIDE)}
            for entry in entries
            if entry["kind"] == kind
        ]

    async def reset(self) -> None:
        async with self.session.post(self.at("/service/reset/")) as resp:
            assert resp.status == 200, await resp.text()


@contextlib.asynccontextmanager
async def live_server(settings: Settings | None = None, world: str = WORLD) -> AsyncIterator[Live]:
    """Serve ``world`` on 127.0.0.1 with a free port, configured as ``mockapi`` serves."""
    settings = settings or Settings(jwt_secret=SECRET, clock="manual")
    app = create_app(settings, parse_text(world, "toml"))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            yield Live(app, runner, f"http://127.0.0.1:{port}", session)
    finally:
        await runner.cleanup()
