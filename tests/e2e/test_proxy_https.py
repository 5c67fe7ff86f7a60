"""The proxy in front of an https upstream: its certificate checked against ``--upstream-ca``,
HTTP and WebSocket traffic through, and a certificate it cannot verify answered 502.

The upstream is mockapi's own application served over TLS in the test's loop, with a CA and
a server certificate made by the openssl command (``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mockapi.app import create_app
from mockapi.settings import Settings

ASTRAVDI = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
SERVER_EXTENSIONS = """\
subjectAltName=IP:127.0.0.1
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
"""


def openssl(folder: Path, *argv: str) -> None:
    subprocess.run(["openssl", *argv], cwd=folder, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, srv.pem, srv.key)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(folder, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=mockapi proxy test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl(folder, "req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text(SERVER_EXTENSIONS, encoding="ascii")
    openssl(folder, "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return folder / "ca.pem", folder / "srv.pem", folder / "srv.key"


@pytest.fixture
async def https_upstream(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """mockapi over TLS on a free loopback port: its base URL and the CA file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (.ci/run installs it)")
    ca, cert, key = make_certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(create_app(Settings()), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}", ca
    finally:
        await runner.cleanup()


async def test_an_https_upstream_is_proxied_with_its_ca(
    https_upstream: tuple[str, Path], start_proxy: Any
) -> None:
    url, ca = https_upstream
    proxy = start_proxy(url, "--upstream-ca", str(ca))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/v2/version/") as resp:
            assert resp.status == 200
            assert (await resp.json())["data"]["version"] == "7.0.1"
        body = {"username": "astravdi", "password": "Bazalt1!", "ldap": False}
        async with http.post(f"{proxy.url}/api/v2/users/login/", json=body) as resp:
            token = (await resp.json())["data"]["access_token"]
        ws_url = f"{proxy.url.replace('http', 'ws')}/api/v2/pools/ws/{ASTRAVDI}/"
        async with http.ws_connect(ws_url, headers={"Cookie": f"JWT {token}"}) as ws:
            await ws.send_str("over wss")
            assert await ws.receive_str(timeout=10) == "User astravdi sent: over wss"


async def test_an_upstream_certificate_it_cannot_verify_is_a_502(
    https_upstream: tuple[str, Path], start_proxy: Any
) -> None:
    url, _ = https_upstream
    proxy = start_proxy(url)  # the system's trust store knows nothing of the test CA
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{proxy.url}/api/v2/version/") as resp,
    ):
        assert resp.status == 502
        msg = (await resp.json())["detail"][0]["msg"]
    assert msg.startswith(f"Bad gateway: upstream {url} presented a certificate that failed")


async def test_drift_probes_an_https_upstream_with_its_ca(
    https_upstream: tuple[str, Path],
) -> None:
    url, ca = https_upstream
    # The upstream runs in this test's loop: the command runs beside it, not blocking it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mockapi", "drift", "--upstream", url, "--as", "astravdi:Bazalt1!",
        "--upstream-ca", str(ca),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, out.decode() + err.decode()
    assert out.decode().rstrip().endswith("no real drift")
