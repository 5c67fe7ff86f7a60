"""Requests/s and latency of one route: wrk when installed, else a built-in aiohttp generator.

wrk runs with one thread (the machine has two cores: one for the server, one for the load)
and a fixed number of keep-alive connections for a fixed time; a POST body goes through a Lua
script written to a temporary file. The fallback keeps the same connections and time bound
with aiohttp's client in this process; it is much slower than wrk, so its figures say more
about the generator than about the server, and the report says which one was used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp

from benchmarks.servers import cpu_seconds

#: Slack on top of the run time before a wrk that does not end is killed.
WRK_GRACE_S = 15.0
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True)
class Target:
    """One request, repeated: method, URL, headers and an optional JSON body."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, object] | None = None

    def body_text(self) -> str:
        return "" if self.body is None else json.dumps(self.body, separators=(",", ":"))


@dataclass
class LoadResult:
    """What one timed run measured."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    generator: str
    server_cpu: float = 0.0  # share of one core the server used during the run


def wrk_path() -> str | None:
    return shutil.which("wrk")


async def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "missing"
    proc = await asyncio.create_subprocess_exec(
        path, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 5)
    return out.decode(errors="replace").splitlines()[0].split(" Copyright")[0].strip()


def _lua(target: Target) -> str:
    lines = [f"wrk.method = {json.dumps(target.method)}"]
    if target.body is not None:
        lines.append(f"wrk.body = {json.dumps(target.body_text())}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    for name, value in target.headers.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    """The figures of ``wrk --latency`` output."""

    def number(pattern: str, default: float | None = None) -> float:
        match = re.search(pattern, output)
        if match is None:
            if default is not None:
                return default
            raise ValueError(f"wrk output without {pattern!r}:\n{output}")
        return float(match.group(1))

    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, flags=re.M))
    requests = int(number(r"(\d+) requests in"))
    duration = re.search(r"requests in ([\d.]+\w+),", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, flags=re.M)
    errors = sum(map(int, re.findall(r"\d+", socket_errors.group(1)))) if socket_errors else 0
    return LoadResult(
        requests=requests,
        duration_s=_ms(duration.group(1)) / 1e3 if duration else 0.0,
        rps=number(r"Requests/sec:\s+([\d.]+)"),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)", 0)),
        errors=errors,
        generator="wrk",
    )


async def run_wrk(target: Target, connections: int, duration_s: int) -> LoadResult:
    """One wrk run (one thread, ``connections`` connections, ``duration_s`` seconds)."""
    path = wrk_path()
    if path is None:
        raise RuntimeError("wrk is not installed")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(_lua(target))
        script.flush()
        argv = [
            path, "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency",
            "--timeout", "5s", "-s", script.name, target.url,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), duration_s + WRK_GRACE_S)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}:\n{text}")
    return parse_wrk(text)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run_aiohttp(target: Target, connections: int, duration_s: float) -> LoadResult:
    """The fallback: ``connections`` workers on keep-alive connections for ``duration_s``."""
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    data = target.body_text().encode() if target.body is not None else None
    headers = dict(target.headers)
    if data is not None:
        headers["Content-Type"] = "application/json"
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + duration_s

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    async with session.request(
                        target.method, target.url, data=data, headers=headers
                    ) as response:
                        await response.read()
                        if not 200 <= response.status < 400:
                            counts["non_2xx"] += 1
                except (aiohttp.ClientError, TimeoutError):
                    counts["errors"] += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1e3)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        requests=len(latencies),
        duration_s=elapsed,
        rps=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        non_2xx=counts["non_2xx"],
        errors=counts["errors"],
        generator="aiohttp",
    )


async def measure(
    target: Target,
    *,
    server_pid: int,
    connections: int,
    duration_s: int,
    use_wrk: bool,
    warmup_s: int = 1,
) -> LoadResult:
    """A short untimed warm-up, then the timed run, with the server's CPU share during it."""
    run = run_wrk if use_wrk else run_aiohttp
    if warmup_s:
        await run(target, connections, warmup_s)
    cpu_before, wall_before = cpu_seconds(server_pid), time.perf_counter()
    result = await run(target, connections, duration_s)
    wall = time.perf_counter() - wall_before
    result.server_cpu = (cpu_seconds(server_pid) - cpu_before) / wall if wall else 0.0
    return result
