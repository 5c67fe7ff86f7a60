"""The proxy and drift in front of a second mockapi process serving HTTPS (``--tls``), its CA
given with ``--upstream-ca``: the whole https path with real processes, as with a real
dispatcher. Skipped where this mockapi has no ``--tls``."""

from __future__ import annotations

import importlib.util
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import START_TIMEOUT_S

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mockapi.tls") is None, reason="this mockapi serves no --tls"
)
ALICE = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a01"


@dataclass
class TlsServer:
    proc: subprocess.Popen[bytes]
    url: str
    ca: Path


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[TlsServer]:
    """``python -m mockapi --tls`` on happy-path with a manual clock, on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockapi", "--tls", "--tls-dir", str(tmp_path / "tls"),
         "--port", "0", "--clock", "manual", "--scenario", "happy-path"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline().decode() if ready else ""
        match = re.match(r"mockapi serving (https://127\.0\.0\.1:\d+)/api/v2/ .*; CA (.+)$", line)
        assert match, f"no https start-up line: {line!r}"
        yield TlsServer(proc, match.group(1), Path(match.group(2).strip()))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


async def test_the_proxy_passes_a_session_to_an_https_mockapi(
    tls_upstream: TlsServer, start_proxy: Any
) -> None:
    proxy = start_proxy(tls_upstream.url, "--upstream-ca", str(tls_upstream.ca))
    async with aiohttp.ClientSession() as http:
        body = {"username": "alice", "password": "alice-password", "ldap": False}
        async with http.post(f"{proxy.url}/api/v2/users/login/", json=body) as resp:
            assert resp.status == 200
            token = (await resp.json())["data"]["access_token"]
        ws_url = f"{proxy.url.replace('http', 'ws')}/api/v2/pools/ws/{ALICE}/"
        async with http.ws_connect(ws_url, headers={"Cookie": f"JWT {token}"}) as ws:
            await ws.send_str("through tls")
            assert await ws.receive_str(timeout=10) == "User alice sent: through tls"


def test_drift_finds_no_drift_against_an_https_mockapi(tls_upstream: TlsServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockapi", "drift", "--upstream", tls_upstream.url,
         "--upstream-ca", str(tls_upstream.ca), "--as", "alice:alice-password",
         "--scenario", "happy-path"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("no real drift")
