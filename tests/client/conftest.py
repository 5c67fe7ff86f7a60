"""A real mockapi server for the client's tests: a thread of this process, real TCP on
loopback, the happy-path world on a manual clock (0.5 s PENDING, 1 s RUNNING, COMPLETED)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mockapi.client import AsyncClient, Client
from mockapi.settings import Settings
from mockapi.testing import ServerThread, resolve_scenario

#: happy-path.toml: alice's pool.
WIN_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"


@dataclass
class Server:
    url: str
    thread: ServerThread


def start_server(**settings: Any) -> Iterator[Server]:
    """A server for one test; ``settings`` override the manual clock, seed 1, happy-path."""
    options: dict[str, Any] = {"port": 0, "clock": "manual", "seed": 1} | settings
    thread = ServerThread(Settings(**options), resolve_scenario("happy-path"))
    thread.start_and_wait()
    try:
        yield Server(f"http://127.0.0.1:{thread.port}", thread)
    finally:
        thread.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from start_server()


@contextlib.contextmanager
def spawn_server(*args: str) -> Iterator[str]:
    """``python -m mockapi --port 0 ARGS`` in a process of its own; yields its URL."""
    command = [sys.executable, "-m", "mockapi", "--port", "0", "--clock", "manual", *args]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the start-up line, once it listens
            found = re.search(r"serving (http://[^/]+)/", line)
            assert found is not None, (
                f"no start-up line: {line!r} {proc.stderr and proc.stderr.read()}"
            )
            yield found.group(1)
        finally:
            proc.terminate()
            proc.wait(10)


def start_expand(url: str, token: str, pool_id: str = WIN_DESKTOPS) -> dict[str, Any]:
    """Step 1 of a connect, as a client under test makes it: the new PENDING task."""
    request = urllib.request.Request(
        f"{url}/api/v2/pools/{pool_id}/connect/", headers={"Authorization": f"JWT {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
        task: dict[str, Any] = json.load(answer)["data"]
    return task


class Face:
    """Either face of the client behind one awaitable interface, so each test runs on both.

    The sync face runs in a worker thread: the test's event loop stays free.
    """

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client
        self.name = "sync" if isinstance(client, Client) else "async"

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if isinstance(self.client, AsyncClient):
                return await method(*args, **kwargs)
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    async def close(self) -> None:
        if isinstance(self.client, AsyncClient):
            await self.client.close()
        else:
            self.client.close()


def make_client(face: str, url: str, service_token: str | None = None) -> Face:
    if face == "sync":
        return Face(Client(url, service_token))
    return Face(AsyncClient(url, service_token))
