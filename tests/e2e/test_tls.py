"""HTTPS and WSS with real clients: curl, openssl s_client, aiohttp, a pinning client, mutual
TLS, and headless Chromium trusting the CA from an NSS database.

The server is the real command, ``python -m mockapi --tls``, in a process of its own on a free
loopback port with a manual clock; its start line names the URL and the CA file. Each test
chooses the certificate through ``POST /service/tls/`` and connects anew, as a client would
after the change. The control calls themselves skip verification: they must get through
while a fault certificate is served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mockapi.tls import LocalCA, client_context

START_TIMEOUT_S = 20.0
WAIT_S = 10.0
CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
CERTUTIL = shutil.which("certutil")
CHROMIUM = Path("/usr/bin/chromium")
#: happy-path.toml: alice has every pool; tasks are 0.5 s PENDING, 1 s RUNNING, COMPLETED.
WIN_DESKTOPS = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"

#: What each client says of each fault: curl's exit code and message, openssl's verify error.
CURL_REFUSALS = {
    "expired": "certificate has expired",
    "not_yet_valid": "certificate is not yet valid",
    "wrong_host": "no alternative certificate subject name matches target host name",
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
}
#: CURLE_PEER_FAILED_VERIFICATION: the server's certificate was not OK.
CURL_VERIFY_FAILED = 60
OPENSSL_ERRORS = {
    "expired": "certificate has expired",
    "not_yet_valid": "certificate is not yet valid",
    # OpenSSL 3.0 spells it "hostname mismatch"; Python's ssl says "Hostname mismatch".
    "wrong_host": "hostname mismatch",
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
}
#: The alert OpenSSL's clients (curl, s_client) send when they refuse during the handshake.
#: curl checks the host name after the handshake, so wrong_host leaves no alert from it.
CURL_ALERTS = {
    "expired": "certificate expired",
    "not_yet_valid": "bad certificate",
    "self_signed": "unknown ca",
    "unknown_ca": "unknown ca",
}


@dataclass
class Server:
    """A running ``python -m mockapi --tls``: its URL (``https://localhost:PORT``), CA file."""

    process: subprocess.Popen[str]
    url: str
    ca_file: Path
    line: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control call; it skips verification so it gets through a fault certificate."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=WAIT_S, context=context) as response:
            return json.loads(response.read() or b"null")

    def certificate(self, name: str) -> None:
        assert self.control("POST", "/service/tls/", {"certificate": name})["certificate"] == name

    def tls_entries(self) -> list[dict[str, Any]]:
        entries = self.control("GET", "/service/journal/")["entries"]
        return [e for e in entries if e["kind"] == "tls"]

    def failures(self, certificate: str) -> list[dict[str, Any]]:
        """The journal's failed handshakes on ``certificate``. The server hears a refusal a
        moment after the client has given up: a few reads of the journal (bounded) wait
        for it."""
        for _ in range(50):
            found = [
                e
                for e in self.tls_entries()
                if e["event"] == "handshake_failed" and e["certificate"] == certificate
            ]
            if found:
                return found
            time.sleep(0.02)
        return []


def start_server(tmp: Path, *argv: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
    tls_dir = tmp / "tls"
    process = subprocess.Popen(
        [sys.executable, "-m", "mockapi", "--tls", "--tls-dir", str(tls_dir), "--port", "0",
         "--clock", "manual", "--scenario", "happy-path.toml", *argv],
        cwd=Path(__file__).resolve().parents[2] / "scenarios",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT_S):
            process.kill()
            pytest.fail(f"no start line within {START_TIMEOUT_S} s")
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=WAIT_S)
        pytest.fail(f"mockapi --tls exited {process.returncode}: {err}")
    # "mockapi serving https://127.0.0.1:PORT/api/v2/ (...); docs at ...; CA /path/ca.pem"
    port = int(line.split()[2].split(":")[2].split("/")[0])
    ca_file = Path(line.rstrip().rsplit("; CA ", 1)[1])
    assert ca_file == tls_dir / "ca.pem"
    return Server(process, f"https://localhost:{port}", ca_file, line)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("tls-e2e"))
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(autouse=True)
def valid_again(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends on the scenario's certificate (``valid``)."""
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").control("POST", "/service/reset/")


def test_the_start_line_names_the_https_url_and_the_ca(server: Server) -> None:
    assert server.line.startswith("mockapi serving https://127.0.0.1:")
    assert "docs at https://127.0.0.1:" in server.line


# -- curl --------------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(CURL is None, reason="no curl (apt-get install curl)")


def curl(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--max-time", "10", "--cacert", str(server.ca_file), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@needs_curl
@pytest.mark.parametrize("name", ["valid", "rotated"])
def test_curl_gets_200_through_a_certificate_from_the_ca(server: Server, name: str) -> None:
    server.certificate(name)
    done = curl(server, "-o", "/dev/null", "-w", "%{http_code}", server.url + "/api/v2/health/")
    assert (done.returncode, done.stdout) == (0, "200"), done.stderr


@needs_curl
@pytest.mark.parametrize("name", sorted(CURL_REFUSALS))
def test_curl_refuses_each_fault_with_exit_60(server: Server, name: str) -> None:
    server.certificate(name)
    done = curl(server, server.url + "/api/v2/health/")
    assert done.returncode == CURL_VERIFY_FAILED, done.stderr
    assert CURL_REFUSALS[name] in done.stderr
    if name in CURL_ALERTS:
        [failure] = server.failures(name)
        assert failure["alert"] == CURL_ALERTS[name]
        assert failure["server_name"] == "localhost"


@needs_curl
def test_plain_http_on_the_https_port_is_refused_and_journaled(server: Server) -> None:
    done = curl(server, f"http://localhost:{server.port}/api/v2/health/")
    assert done.returncode == 52  # CURLE_GOT_NOTHING: one port serves one scheme
    [failure] = [e for e in server.tls_entries() if e.get("reason") == "http request"]
    assert failure["event"] == "handshake_failed"


# -- openssl s_client --------------------------------------------------------------------------


def s_client(server: Server) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}", "-servername",
         "localhost", "-verify_hostname", "localhost", "-CAfile", str(server.ca_file),
         "-verify_return_error"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip


@pytest.mark.skipif(OPENSSL is None, reason="no openssl (apt-get install openssl)")
@pytest.mark.parametrize("name", sorted(OPENSSL_ERRORS))
def test_openssl_names_each_faults_verification_error(server: Server, name: str) -> None:
    server.certificate(name)
    done = s_client(server)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "verify error:num=" in output
    assert OPENSSL_ERRORS[name] in output.lower()
    [failure] = server.failures(name)
    assert failure["alert"] is not None  # s_client always sends its alert


@pytest.mark.skipif(OPENSSL is None, reason="no openssl (apt-get install openssl)")
def test_openssl_verifies_the_valid_certificate(server: Server) -> None:
    done = s_client(server)
    assert done.returncode == 0, done.stdout
    assert "Verify return code: 0 (ok)" in done.stdout


# -- aiohttp over HTTPS and WSS ----------------------------------------------------------------


async def test_aiohttp_speaks_https_and_a_wss_socket_gets_frames_on_the_manual_clock(
    server: Server,
) -> None:
    connector = aiohttp.TCPConnector(ssl=client_context(server.ca_file))
    async with aiohttp.ClientSession(connector=connector, base_url=server.url) as http:
        login = {"username": "alice", "password": "alice-password", "ldap": False}
        async with http.post("/api/v2/users/login/", json=login) as resp:
            assert resp.status == 200
            token = (await resp.json())["data"]["access_token"]
        me = await http.get("/api/v2/users/settings/", headers={"Authorization": f"JWT {token}"})
        assert me.status == 200
        client_id = json.loads(_b64(token.split(".")[1]))["client_id"]
        async with http.ws_connect(
            f"/api/v2/pools/ws/{client_id}/", headers={"Cookie": f"JWT {token}"}
        ) as ws:
            assert ws.get_extra_info("sslcontext") is not None  # wss://, not ws://
            async with http.get(
                f"/api/v2/pools/{WIN_DESKTOPS}/connect/", headers={"Authorization": f"JWT {token}"}
            ) as resp:
                assert resp.status == 202
                task = (await resp.json())["data"]
            async with http.post("/service/clock/", json={"advance_s": 0.5}) as resp:
                assert resp.status == 200
            frame = await ws.receive_json(timeout=WAIT_S)
            assert frame == {"status": "RUNNING", "id": task["id"], "kind": task["kind"]}
            async with http.post("/service/clock/", json={"advance_s": 1}) as resp:
                assert resp.status == 200
            frame = await ws.receive_json(timeout=WAIT_S)
            assert frame["status"] == "COMPLETED"


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_aiohttp_refuses_a_fault_and_the_journal_hears_its_hang_up(server: Server) -> None:
    server.certificate("unknown_ca")
    connector = aiohttp.TCPConnector(ssl=client_context(server.ca_file))
    async with aiohttp.ClientSession(connector=connector) as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match="local issuer"):
            await http.get(server.url + "/api/v2/health/")
    # aiohttp sends no alert: it closes the connection, and that is what the journal says.
    failures = await asyncio.to_thread(server.failures, "unknown_ca")
    assert failures[0]["reason"] == "the client closed the connection during the handshake"


# -- a client that pins the server's key -------------------------------------------------------


def server_pin(server: Server) -> str:
    """The SHA-256 of the server certificate's public key, as a pinning client computes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    context = client_context(server.ca_file)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(spki).hexdigest()


def test_a_pinning_client_notices_rotated(server: Server) -> None:
    pinned = server_pin(server)
    assert server_pin(server) == pinned  # the same key on every connection
    server.certificate("rotated")
    # The CA vouches for the rotated certificate: only the pin tells it apart.
    assert server_pin(server) != pinned
    server.certificate("valid")
    assert server_pin(server) == pinned


def test_the_server_key_survives_a_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    try:
        pinned = server_pin(first)
        ca = first.ca_file.read_bytes()
    finally:
        stop_server(first)
    again = start_server(tmp_path)
    try:
        assert server_pin(again) == pinned
        assert again.ca_file.read_bytes() == ca  # trusted once, trusted after a restart
    finally:
        stop_server(again)


# -- mutual TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server that requires client certificates from a CA of the test's, and one such
    certificate (``client.pem``, key and certificate)."""
    folder = tmp_path_factory.mktemp("mtls")
    now = datetime.now(UTC)
    client_ca = LocalCA.create("test client CA", now)
    (folder / "client-ca.pem").write_bytes(client_ca.cert_pem)
    issued = client_ca.issue(["desktop-client"], now - timedelta(hours=1), now + timedelta(days=1),
                             client=True)  # fmt: skip
    (folder / "client.pem").write_bytes(issued.key_pem + issued.cert_pem)
    running = start_server(folder, "--tls-client-ca", str(folder / "client-ca.pem"))
    try:
        yield running, folder / "client.pem"
    finally:
        stop_server(running)


@needs_curl
def test_mutual_tls_with_a_client_certificate(mutual: tuple[Server, Path]) -> None:
    server, client_pem = mutual
    done = curl(server, "--cert", str(client_pem), "-o", "/dev/null", "-w", "%{http_code}",
                server.url + "/api/v2/health/")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "200"), done.stderr


@needs_curl
def test_mutual_tls_without_a_client_certificate_is_refused_and_journaled(
    mutual: tuple[Server, Path],
) -> None:
    server, client_pem = mutual
    done = curl(server, server.url + "/api/v2/health/")
    # TLS 1.3: curl's side of the handshake is over before the server refuses, and asyncio
    # closes the connection without sending its alert: curl sees no answer
    # (CURLE_GOT_NOTHING), or a reset when its request was already sent (CURLE_RECV_ERROR).
    refusals = {52: "Empty reply from server", 56: "Connection reset by peer"}
    assert done.returncode in refusals, done.stderr
    assert refusals[done.returncode] in done.stderr
    # The journal says why (read with the client certificate: the control API needs one too).
    entries = json.loads(
        curl(server, "--cert", str(client_pem), server.url + "/service/journal/").stdout
    )["entries"]
    reasons = [e["reason"] for e in entries if e["kind"] == "tls"]
    assert "peer did not return a certificate" in reasons


# -- headless Chromium, the CA in an NSS database ----------------------------------------------

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or CERTUTIL is None,
    reason="needs Debian's chromium and certutil (apt-get install chromium libnss3-tools)",
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
]


@pytest.fixture(scope="module")
def browser_home(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME whose NSS database (``~/.pki/nssdb``, where Chromium on Linux looks) trusts the
    CA: exactly the README's two certutil commands."""
    assert CERTUTIL is not None
    home = tmp_path_factory.mktemp("browser-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    for command in (
        [CERTUTIL, "-d", f"sql:{nssdb}", "-N", "--empty-password"],
        [CERTUTIL, "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "mockapi", "-i",
         str(server.ca_file)],
    ):  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    return home


@needs_chromium
def test_chromium_renders_the_docs_and_the_dashboard_over_https(
    server: Server, browser_home: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    env: dict[str, str | float | bool] = {**os.environ, "HOME": str(browser_home)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS, env=env
        )
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = page.goto(server.url + "/docs")
            assert response is not None
            assert response.ok
            details = response.security_details()
            assert details is not None
            assert "mockapi local CA" in (details.get("issuer") or "")
            expect(page.locator(".opblock").first).to_be_visible()
            assert page.locator(".opblock").count() > 30
            page.goto(server.url + "/")
            # The dashboard's live feed connected over the same TLS port.
            expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
            expect(page.locator('#users tr[data-username="alice"]')).to_have_count(1)
            assert errors == []
            context.close()

            # A fault: Chromium refuses it with the error a user would see.
            for name, error in CHROMIUM_ERRORS.items():
                server.certificate(name)
                fresh = browser.new_context()  # new connections, no reused socket
                message = _navigation_error(fresh, server.url + "/docs")
                fresh.close()
                assert error in message, (name, message)
                # Chromium refuses during the handshake, host name included, always with the
                # same alert: the journal has it.
                [failure] = server.failures(name)
                assert failure["alert"] == "certificate unknown", name
        finally:
            browser.close()


#: What Chromium names each fault (net::ERR_...).
CHROMIUM_ERRORS = {
    "expired": "ERR_CERT_DATE_INVALID",
    "not_yet_valid": "ERR_CERT_DATE_INVALID",
    "wrong_host": "ERR_CERT_COMMON_NAME_INVALID",
    "self_signed": "ERR_CERT_AUTHORITY_INVALID",
    "unknown_ca": "ERR_CERT_AUTHORITY_INVALID",
}


def _navigation_error(context: Any, url: str) -> str:
    try:
        context.new_page().goto(url)
    except Exception as exc:  # playwright's Error: "net::ERR_CERT_DATE_INVALID at ..."
        return str(exc)
    return "no error"


# -- mockapi ctl against an https:// server ----------------------------------------------------


def ctl(server: Server, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
    return subprocess.run(
        [sys.executable, "-m", "mockapi", "ctl", "--url", server.url, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_ctl_trusts_the_ca_it_is_given_and_chooses_a_certificate(server: Server) -> None:
    shown = ctl(server, "--cacert", str(server.ca_file), "tls", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["certificate"] == "valid"
    chosen = ctl(server, "--cacert", str(server.ca_file), "tls", "expired")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.startswith("certificate expired, CA ")
    # Now the CA no longer vouches for what the server shows: only --insecure gets through.
    refused = ctl(server, "--cacert", str(server.ca_file), "tls")
    assert refused.returncode == 2
    assert "certificate has expired" in refused.stderr
    back = ctl(server, "--insecure", "tls", "valid")
    assert back.returncode == 0, back.stderr
    assert server.tls_entries()[-1]["certificate"] == "valid"


def test_ctl_without_the_ca_is_refused_with_the_reason(server: Server) -> None:
    done = ctl(server, "reset")
    assert done.returncode == 2
    assert "certificate verify failed" in done.stderr
    unknown = ctl(server, "-k", "tls", "revoked")
    assert unknown.returncode == 2
    assert "invalid choice: 'revoked'" in unknown.stderr
