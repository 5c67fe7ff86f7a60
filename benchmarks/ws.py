"""WebSocket figures: server memory per idle socket, and fan-out of one change to many sockets.

The client side is a bare asyncio protocol rather than aiohttp's client: it writes the
handshake, reads the 101, then only splits frames, answers pings (the server's heartbeat) and
stamps the arrival time of each text frame. That keeps the generator's cost per socket and per
frame small, so 10,000 sockets fit in it and the fan-out time is the server's, not the
client's parsing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from benchmarks.flows import (
    API,
    LOAD_PASSWORD,
    LOAD_POOLS,
    LOAD_USERS,
    STEP2_BODY,
    expect,
    load_username,
    login,
    run_bounded,
    token_claims,
)
from benchmarks.servers import HOST, read_status_kib

Recorder = Callable[[str], contextlib.AbstractAsyncContextManager[None]]
HANDSHAKE_TIMEOUT_S = 10.0
FANOUT_TIMEOUT_S = 10.0
OPEN_CONCURRENCY = 200
LOGIN_CONCURRENCY = 64
SETTLE_S = 1.0
#: Advances that move a load.toml task PENDING → RUNNING (0.2 s) and RUNNING → done (0.5 s),
#: with room for float rounding.
ADVANCES_S = (0.25, 0.55)


class HandshakeRefused(Exception):
    pass


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (FIN set), as RFC 6455 requires of clients."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class WsClient(asyncio.Protocol):
    """One WebSocket held open; it counts text frames and stamps when each arrived."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.buffer = bytearray()
        self.frames = 0
        self.times: list[float] = []
        self.last = b""
        self.listener: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        if (
            not self.buffer
            and len(data) > 2
            and data[0] == 0x81  # one whole, small, unfragmented text frame: the usual case
            and len(data) == 2 + data[1]
            and self.upgraded.done()
        ):
            self._frame(0x1, data[2:], arrived)
            return
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(HandshakeRefused(head.split(b"\r\n")[0].decode()))
                self.close()
                return
            self.upgraded.set_result(None)
        self._frames(arrived)

    def _frames(self, arrived: float) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if buffer[1] & 0x80:
                start += 4  # servers never mask; skip a key anyway
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            self._frame(opcode, payload, arrived)

    def _frame(self, opcode: int, payload: bytes, arrived: float) -> None:
        if opcode == 0x1:  # text
            self.frames += 1
            self.times.append(arrived)
            self.last = payload
            if self.listener is not None:
                self.listener()
        elif opcode == 0x9 and self.transport is not None:  # ping: the server's heartbeat
            self.transport.write(_client_frame(0xA, payload))
        elif opcode == 0x8:  # close
            if self.transport is not None:
                self.transport.write(_client_frame(0x8, payload[:2]))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the handshake"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def handshake(port: int, path: str, cookie: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Cookie: {cookie}\r\n" if cookie is not None else "")
        + "\r\n"
    ).encode()


def mockapi_target(token: str) -> tuple[str, str]:
    """The socket path and ``Cookie`` value of ``token``'s user (``client_id`` is the user)."""
    return f"{API}/pools/ws/{token_claims(token)['client_id']}/", f"JWT {token}"


async def open_socket(port: int, path: str, cookie: str | None) -> WsClient:
    loop = asyncio.get_running_loop()
    request = handshake(port, path, cookie)
    _, client = await loop.create_connection(lambda: WsClient(request), HOST, port)
    try:
        await asyncio.wait_for(asyncio.shield(client.upgraded), HANDSHAKE_TIMEOUT_S)
    except BaseException:
        client.abort()
        raise
    return client


async def open_sockets(
    port: int,
    targets: Sequence[tuple[str, str | None]],
    count: int,
    concurrency: int = OPEN_CONCURRENCY,
) -> tuple[list[WsClient], list[str]]:
    """``count`` sockets, round robin over ``targets`` (path, cookie); the open ones and the
    failures."""
    clients: list[WsClient] = []
    failures: list[str] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            try:
                clients.append(await open_socket(port, *targets[index % len(targets)]))
            except (OSError, HandshakeRefused, TimeoutError) as exc:
                failures.append(repr(exc))

    await asyncio.gather(*(one(i) for i in range(count)))
    return clients, failures


@dataclass
class FanoutSample:
    trigger: str
    status: str
    received: int
    spread_ms: float  # first frame to last frame, on the client
    to_last_ms: float  # advance request sent to the last frame received
    advance_ms: float  # the advance's answer time (it answers once frames were handed over)


@dataclass
class WsResult:
    sockets: int
    open_s: float
    logins: int
    login_s: float
    rss_before_kib: int
    rss_after_kib: int
    fanout_sockets: int
    samples: list[FanoutSample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    idle_frames: int = 0
    closed: int = 0

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.sockets if self.sockets else 0.0

    @property
    def spread_ms(self) -> list[float]:
        return [s.spread_ms for s in self.samples if s.received == self.fanout_sockets]

    @property
    def spread_median_ms(self) -> float:
        return statistics.median(self.spread_ms) if self.spread_ms else float("nan")


async def _wait_fanout(clients: Sequence[WsClient], before: list[int]) -> int:
    """Wait until every client got a frame more than ``before``; how many did."""
    done = asyncio.Event()
    missing = {id(c) for c, n in zip(clients, before, strict=True) if c.frames <= n}

    def listener_for(client: WsClient) -> Callable[[], None]:
        def hit() -> None:
            missing.discard(id(client))
            if not missing:
                done.set()

        return hit

    for client in clients:
        client.listener = listener_for(client)
    try:
        if missing:
            await asyncio.wait_for(done.wait(), FANOUT_TIMEOUT_S)
    except TimeoutError:
        pass
    finally:
        for client in clients:
            client.listener = None
    return sum(1 for c, n in zip(clients, before, strict=True) if c.frames > n)


async def _fanout(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, float] | None,
    clients: Sequence[WsClient],
    trigger: str,
) -> FanoutSample:
    before = [c.frames for c in clients]
    waiting = asyncio.create_task(_wait_fanout(clients, before))
    await asyncio.sleep(0)  # the listeners are in place before anything can arrive
    sent = time.perf_counter()
    async with session.post(url, json=body) as response:
        await expect(response, 200)
    answered = time.perf_counter()
    received = await waiting
    stamps = [c.times[n] for c, n in zip(clients, before, strict=True) if c.frames > n]
    last_payload = next((c.last for c in clients if c.frames), b"")
    status = last_payload.split(b'"status":"')[-1].split(b'"')[0].decode() if stamps else "-"
    return FanoutSample(
        trigger=trigger,
        status=status,
        received=received,
        spread_ms=(max(stamps) - min(stamps)) * 1e3 if stamps else float("nan"),
        to_last_ms=(max(stamps) - sent) * 1e3 if stamps else float("nan"),
        advance_ms=(answered - sent) * 1e3,
    )


async def run_ws(
    base: str,
    port: int,
    server_pid: int,
    *,
    sockets: int,
    fanout: int,
    record: Recorder | None = None,
) -> WsResult:
    """Hold ``sockets`` idle sockets (one user each, round robin), then time fan-outs of the
    state changes of one user's tasks to that user's ``fanout`` sockets.

    ``record(name)``, when given, wraps the opening of the idle sockets ("ws-open") and the
    fan-outs ("ws-fanout"): the suite's profiler.
    """
    record = record or _nothing
    idle_users = [load_username(n) for n in range(2, min(sockets, LOAD_USERS - 1) + 2)]
    fan_user = load_username(1)
    connector = aiohttp.TCPConnector(limit=LOGIN_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens: list[str] = []
        started = time.perf_counter()

        async def log_in(username: str) -> None:
            tokens.append(await login(session, base, username, LOAD_PASSWORD))

        failures = await run_bounded(idle_users, log_in, LOGIN_CONCURRENCY)
        login_s = time.perf_counter() - started
        fan_token = await login(session, base, fan_user, LOAD_PASSWORD)
        if not tokens:
            raise RuntimeError(f"no login succeeded: {failures[:3]}")

        await asyncio.sleep(SETTLE_S)
        rss_before = read_status_kib(server_pid)
        started = time.perf_counter()
        async with record("ws-open"):
            targets = [mockapi_target(token) for token in tokens]
            idle, open_failures = await open_sockets(port, targets, sockets)
        open_s = time.perf_counter() - started
        await asyncio.sleep(SETTLE_S)
        rss_after = read_status_kib(server_pid)
        result = WsResult(
            sockets=len(idle),
            open_s=open_s,
            logins=len(tokens),
            login_s=login_s,
            rss_before_kib=rss_before,
            rss_after_kib=rss_after,
            fanout_sockets=fanout,
            failures=[str(f) for f in failures[:3]] + open_failures[:3],
        )
        fans, fan_failures = await open_sockets(port, [mockapi_target(fan_token)], fanout)
        result.failures += fan_failures[:3]
        try:
            auth = {"Authorization": f"JWT {fan_token}"}
            async with record("ws-fanout"):
                await _changes(session, base, fans, auth, result)
        finally:
            result.idle_frames = sum(c.frames for c in idle)
            result.closed = sum(c.closed for c in [*idle, *fans])
            for client in [*idle, *fans]:
                client.abort()
    return result


async def _changes(
    session: aiohttp.ClientSession,
    base: str,
    fans: Sequence[WsClient],
    auth: dict[str, str],
    result: WsResult,
) -> None:
    """Expand, then start, in each pool: two changes (RUNNING, then done) each."""
    for pool_number, pool in enumerate(LOAD_POOLS, start=1):
        for step, method, body in (("step 1", "GET", None), ("step 2", "POST", STEP2_BODY)):
            url = f"{base}{API}/pools/{pool}/connect/"
            async with session.request(method, url, json=body, headers=auth) as response:
                await expect(response, 202)
            for seconds in ADVANCES_S:
                trigger = f"pool {pool_number} {step}, advance {seconds:g} s"
                advance = {"advance_s": seconds}
                sample = await _fanout(session, f"{base}/service/clock/", advance, fans, trigger)
                result.samples.append(sample)


@dataclass
class CeilingWsResult:
    sockets: int
    rss_before_kib: int
    rss_after_kib: int
    samples: dict[str, list[FanoutSample]]

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.sockets if self.sockets else 0.0


async def run_ws_ceiling(
    base: str,
    port: int,
    server_pid: int,
    *,
    sockets: int,
    fanout: int,
    repeats: int,
    modes: Sequence[str] = ("send_str", "raw"),
) -> CeilingWsResult:
    """The same figures for the ceiling app (``benchmarks.ceiling``): RSS per idle socket, and
    fan-outs to ``fanout`` sockets of another group, per mode."""
    await asyncio.sleep(SETTLE_S)
    rss_before = read_status_kib(server_pid)
    idle, failures = await open_sockets(port, [("/ws/idle/", None)], sockets)
    await asyncio.sleep(SETTLE_S)
    rss_after = read_status_kib(server_pid)
    fans, fan_failures = await open_sockets(port, [("/ws/fan/", None)], fanout)
    if failures or fan_failures:
        raise RuntimeError(f"ceiling sockets failed: {(failures + fan_failures)[:3]}")
    samples: dict[str, list[FanoutSample]] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for mode in modes:
                url = f"{base}/fanout/fan/?mode={mode}"
                samples[mode] = [
                    await _fanout(session, url, None, fans, mode) for _ in range(repeats)
                ]
    finally:
        for client in [*idle, *fans]:
            client.abort()
    return CeilingWsResult(len(idle), rss_before, rss_after, samples)


@contextlib.asynccontextmanager
async def _nothing(name: str) -> AsyncIterator[None]:
    yield
