"""Large worlds on a real ``python -m mockapi``: built without stopping the server.

- A PUT of a 100,000-user scenario: while it builds, another route answers within 100 ms, and
  no request sees a half-built world (the old world answers until the new one is swapped in).
- SIGTERM while a world builds (at start-up, and after a PUT): exit 0 within 1 s.
- A start-up scenario over a limit: exit 2 with the same message a PUT answers.

The builds here are real work of a few seconds: that is the behaviour under test, and every
wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

START_TIMEOUT_S = 20.0
HEALTH = "/api/v2/health/"
TOML = {"content-type": "application/toml"}
POOL = "00000000-0000-4000-8000-000000000001"
#: Limits that let a world take seconds to build, so a signal can arrive meanwhile.
BIG = ("--max-users", "3000000", "--max-assignments", "3000000")


def big_scenario(users: int) -> str:
    return f"""
[settings]
clock = "manual"

[[pools]]
id = "{POOL}"
name = "big-pool"

[[user_groups]]
prefix = "big"
count = {users}
pools = ["big-pool"]
"""


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}


def spawn(folder: Path, *argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mockapi", "--port", "0", "--log-level", "WARNING", *argv],
        cwd=folder,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_port(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
    line = proc.stdout.readline().decode() if ready else ""
    match = re.match(r"mockapi serving http://127\.0\.0\.1:(\d+)/api/v2/ ", line)
    assert match is not None, f"no start-up line: {line!r}"
    return int(match.group(1))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc = spawn(tmp_path, "--clock", "manual", *BIG)
    try:
        yield proc, f"http://127.0.0.1:{wait_for_port(proc)}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=START_TIMEOUT_S)


async def test_a_100000_user_build_leaves_every_other_route_answering(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = server
    latencies: list[float] = []
    pools_seen: set[tuple[str, ...]] = set()
    async with aiohttp.ClientSession() as session:
        put = asyncio.create_task(
            session.put(url + "/service/scenario/", data=big_scenario(100_000), headers=TOML)
        )
        started = time.perf_counter()
        while not put.done() and time.perf_counter() - started < 60:
            sent = time.perf_counter()
            async with session.get(url + HEALTH) as resp:
                assert resp.status == 200
            latencies.append(time.perf_counter() - sent)
            async with session.get(url + "/service/all-pools/") as resp:
                pools_seen.add(tuple(pool["name"] for pool in await resp.json()))
            await asyncio.sleep(0.01)
        build_s = time.perf_counter() - started
        async with await put as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["data"]["world"]["users"] == 100_000
        body = {"username": "big100000", "password": "x", "ldap": False}
        async with session.post(url + "/api/v2/users/login/", json=body) as resp:
            assert resp.status == 200
    print(f"\n100,000 users built in {build_s:.2f} s; health max {max(latencies) * 1000:.1f} ms")
    assert len(latencies) >= 3, "the build ended before the server was asked anything"
    assert max(latencies) < 0.1, sorted(latencies)[-5:]
    # The old world or the new one, whole: never a mix, never an empty list.
    old = ("pool-win-1", "pool-win-2", "pool-astra-1", "pool-astra-2")
    assert pools_seen <= {old, ("big-pool",)}


async def test_sigterm_while_a_put_builds_exits_0_within_1s(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = server
    async with aiohttp.ClientSession() as session:
        put = asyncio.create_task(
            session.put(url + "/service/scenario/", data=big_scenario(3_000_000), headers=TOML)
        )
        # The build has started once the body is in: give it that long, then stop the server.
        await asyncio.sleep(1.0)
        assert not put.done()
        async with session.get(url + HEALTH) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.to_thread(proc.wait, 1.0)
        assert time.monotonic() - started < 1.0
        # The server stopped mid-build: the PUT gets no answer, the connection just ends.
        with pytest.raises(aiohttp.ClientError):
            await put
    assert code == 0
    _, err = proc.communicate(timeout=START_TIMEOUT_S)
    assert b"Traceback" not in err, err.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_start_up_build_exits_0_within_1s(
    tmp_path: Path, sig: signal.Signals
) -> None:
    scenario = tmp_path / "big.toml"
    scenario.write_text(big_scenario(3_000_000), encoding="utf-8")
    proc = spawn(tmp_path, "--scenario", str(scenario), *BIG)
    try:
        time.sleep(1.5)  # imports done, the 3,000,000-user world is being built
        assert proc.poll() is None
        proc.send_signal(sig)
        started = time.monotonic()
        code = proc.wait(1.0)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=START_TIMEOUT_S)
    assert code == 0
    assert elapsed < 1.0
    assert b"Traceback" not in err, err.decode()
    assert out == b""  # it never said it was serving


def test_a_start_up_scenario_over_a_limit_exits_2_with_the_limits_message(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "big.toml"
    scenario.write_text(big_scenario(300_000), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mockapi", "--port", "0", "--scenario", str(scenario)],
        cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"python -m mockapi: error: invalid scenario {scenario} (1 problem):",
        "  user_groups: Too many users: 300,000 asked for, the limit (max_users) is 200,000. "
        "Raise it with --max-users (or MOCKAPI_MAX_USERS) at start-up, or max_users in the "
        "[settings] of the scenario the server starts with.",
    ]
