"""Complete connect flows per second on a manual clock (the ``load.toml`` scenario).

A flow is one (user, pool) pair going login → step 1 (202 POOL_EXPAND) → advance → step 2
(202 GLINT_START) → advance → step 2 again (200 with the machine's connection data). The
flows run in batches: the whole batch logs in and does step 1, one advance, the whole batch
does step 2, one advance, the whole batch fetches its data. Every (user, pool) pair is used
once (a second flow of the same pair would be answered from its finished state), so a server
serves at most users × pools flows: 20,000 with ``load.toml``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from benchmarks.servers import cpu_seconds

API = "/api/v2"
LOAD_PASSWORD = "load-password"
LOAD_USERS = 10_000
LOAD_POOLS = ("8f9e0d1c-2b3a-4c5d-8e6f-7a8b9c0d1e01", "8f9e0d1c-2b3a-4c5d-8e6f-7a8b9c0d1e02")
STEP2_BODY = {"remote_protocol": 1, "width": 1920, "height": 1080, "password": None}
#: load.toml's tasks take 0.2 s PENDING + 0.5 s RUNNING; one advance of 1 s finishes a batch.
ADVANCE_S = 1.0
REQUEST_TIMEOUT_S = 30.0

T = TypeVar("T")


def load_username(number: int) -> str:
    """``load00001`` … ``load10000``."""
    return f"load{number:05d}"


def token_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without verifying it (the client's view)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class UnexpectedAnswer(Exception):
    """A request of a flow got an answer the flow cannot go on with."""


async def run_bounded(
    items: Sequence[T], work: Callable[[T], Awaitable[None]], concurrency: int
) -> list[BaseException]:
    """Run ``work`` on every item, ``concurrency`` at a time; the exceptions raised."""
    queue = list(reversed(items))
    failures: list[BaseException] = []

    async def worker() -> None:
        while queue:
            item = queue.pop()
            try:
                await work(item)
            except (aiohttp.ClientError, TimeoutError, UnexpectedAnswer) as exc:
                failures.append(exc)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))
    return failures


async def expect(response: aiohttp.ClientResponse, status: int) -> Any:
    body = await response.read()
    if response.status != status:
        raise UnexpectedAnswer(
            f"{response.method} {response.url.path}: {response.status} {body[:200]!r}"
        )
    return json.loads(body)


async def login(session: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    body = {"username": username, "password": password, "ldap": False}
    async with session.post(f"{base}{API}/users/login/", json=body) as response:
        answer = await expect(response, 200)
    return str(answer["data"]["access_token"])


async def advance(session: aiohttp.ClientSession, base: str, seconds: float) -> None:
    async with session.post(f"{base}/service/clock/", json={"advance_s": seconds}) as response:
        await expect(response, 200)


@dataclass
class Flow:
    username: str
    pool_id: str
    token: str = ""
    stage: str = "login"


@dataclass
class FlowResult:
    completed: int
    failed: int
    elapsed_s: float
    batches: int
    batch_size: int
    client_cpu: float  # share of one core this process used
    server_cpu: float
    phase_s: dict[str, float] = field(default_factory=dict)  # summed over batches
    failures: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s else 0.0


async def run_flows(
    base: str,
    server_pid: int,
    *,
    budget_s: float,
    batch_size: int = 1000,
    concurrency: int = 64,
) -> FlowResult:
    """Batches of flows until ``budget_s`` has passed (at least one) or the pairs run out."""
    pairs = [Flow(load_username(n), pool) for pool in LOAD_POOLS for n in range(1, LOAD_USERS + 1)]
    phases = dict.fromkeys(("login+step1", "advance1", "step2", "advance2", "data"), 0.0)
    failures: list[BaseException] = []
    completed = batches = attempted = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        def path(flow: Flow) -> str:
            return f"{base}{API}/pools/{flow.pool_id}/connect/"

        def auth(flow: Flow) -> dict[str, str]:
            return {"Authorization": f"JWT {flow.token}"}

        async def step1(flow: Flow) -> None:
            flow.token = await login(session, base, flow.username, LOAD_PASSWORD)
            flow.stage = "step1"
            async with session.get(path(flow), headers=auth(flow)) as response:
                await expect(response, 202)
            flow.stage = "step2"

        async def step2(flow: Flow) -> None:
            if flow.stage != "step2":
                return
            async with session.post(path(flow), json=STEP2_BODY, headers=auth(flow)) as response:
                await expect(response, 202)
            flow.stage = "data"

        async def data(flow: Flow) -> None:
            nonlocal completed
            if flow.stage != "data":
                return
            async with session.post(path(flow), json=STEP2_BODY, headers=auth(flow)) as response:
                answer = await expect(response, 200)
            if "host" not in answer["data"]:
                raise UnexpectedAnswer(f"no connection data: {answer}")
            flow.stage = "done"
            completed += 1

        async def timed(name: str, work: Awaitable[object]) -> None:
            began = time.perf_counter()
            await work
            phases[name] += time.perf_counter() - began

        cpu_before, client_before = cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        for first in range(0, len(pairs), batch_size):
            batch = pairs[first : first + batch_size]
            attempted += len(batch)
            await timed("login+step1", _collect(failures, run_bounded(batch, step1, concurrency)))
            await timed("advance1", advance(session, base, ADVANCE_S))
            await timed("step2", _collect(failures, run_bounded(batch, step2, concurrency)))
            await timed("advance2", advance(session, base, ADVANCE_S))
            await timed("data", _collect(failures, run_bounded(batch, data, concurrency)))
            batches += 1
            if time.perf_counter() - started >= budget_s:
                break
        elapsed = time.perf_counter() - started
        client_cpu = (time.process_time() - client_before) / elapsed
        server_cpu = (cpu_seconds(server_pid) - cpu_before) / elapsed
    return FlowResult(
        completed=completed,
        failed=attempted - completed,
        elapsed_s=elapsed,
        batches=batches,
        batch_size=batch_size,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        phase_s=phases,
        failures=[str(exc) for exc in failures[:5]],
    )


async def _collect(into: list[BaseException], work: Awaitable[list[BaseException]]) -> None:
    into.extend(await work)
