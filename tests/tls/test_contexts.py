"""The served context: the certificate chosen per handshake, and every failed handshake heard.

Real handshakes: Python's ssl client (through asyncio streams and aiohttp's client) against a
bare asyncio server and a bare aiohttp app serving the switch's context.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from mockapi.tls import (
    CERTIFICATE_NAMES,
    CertificateName,
    CertificateSet,
    CertificateSwitch,
    HandshakeFailure,
    LocalCA,
    TlsAcceptor,
    TlsSetupError,
    client_context,
    spki_sha256,
)
from mockapi.tls.accept import describe

WAIT_S = 10.0


class Server:
    """A bare asyncio TLS server that answers every connection with one line."""

    def __init__(self, switch: CertificateSwitch) -> None:
        self.switch = switch
        self.failures: asyncio.Queue[HandshakeFailure] = asyncio.Queue()
        switch.on_failure = self.failures.put_nowait
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.acceptor = TlsAcceptor(
            self.switch, lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(), self._hello)
        )
        self._server = await loop.create_server(self.acceptor, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _hello(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self.acceptor.close()
        await self._server.wait_closed()

    async def next_failure(self) -> HandshakeFailure:
        return await asyncio.wait_for(self.failures.get(), WAIT_S)


@pytest.fixture
async def server(certs: CertificateSet) -> AsyncIterator[Server]:
    server = Server(CertificateSwitch(certs.certificates))
    await server.start()
    yield server
    await server.close()


async def hello(
    port: int, context: ssl.SSLContext, server_hostname: str | None = "localhost"
) -> tuple[bytes, ssl.SSLObject]:
    """One TLS connection: the server's line and the connection's TLS object."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=server_hostname
    )
    try:
        line = await asyncio.wait_for(reader.readline(), WAIT_S)
        ssl_object = writer.get_extra_info("ssl_object")
    finally:
        writer.close()
        await writer.wait_closed()
    return line, ssl_object


def blocking_hello(port: int, context: ssl.SSLContext) -> bytes:
    """One connection with Python's blocking ssl socket, which sends its alert on refusal."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.recv(100)


def peer_pin(ssl_object: ssl.SSLObject) -> bytes:
    from cryptography import x509

    der = ssl_object.getpeercert(binary_form=True)
    assert der is not None
    return spki_sha256(x509.load_der_x509_certificate(der))


async def test_valid_passes_a_client_that_trusts_the_ca(
    server: Server, certs: CertificateSet
) -> None:
    line, ssl_object = await hello(server.port, client_context(certs.ca_file))
    assert line == b"hello\n"
    assert peer_pin(ssl_object) == spki_sha256(certs.certificates["valid"].certificate)
    assert server.failures.empty()


# What Python's ssl says, and the alert OpenSSL's client sends for it.
REFUSALS: dict[CertificateName, tuple[str, str]] = {
    "expired": ("certificate has expired", "certificate expired"),
    "not_yet_valid": ("certificate is not yet valid", "bad certificate"),
    "wrong_host": ("Hostname mismatch", "bad certificate"),
    "self_signed": ("self-signed certificate", "unknown ca"),
    "unknown_ca": ("unable to get local issuer certificate", "unknown ca"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
async def test_a_fault_is_refused_and_the_clients_alert_is_heard(
    server: Server, certs: CertificateSet, name: CertificateName
) -> None:
    message, alert = REFUSALS[name]
    assert server.switch.select(name) == "valid"
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        await asyncio.to_thread(blocking_hello, server.port, client_context(certs.ca_file))
    assert message in refused.value.verify_message
    failure = await server.next_failure()
    assert failure.certificate == name
    assert failure.alert == alert
    assert failure.server_name == "localhost"
    assert failure.journal_fields()["event"] == "handshake_failed"


async def test_a_client_that_hangs_up_without_an_alert_is_heard(
    server: Server, certs: CertificateSet
) -> None:
    """asyncio's client (aiohttp's too) drops the connection on refusal and sends no alert."""
    server.switch.select("self_signed")
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"):
        await hello(server.port, client_context(certs.ca_file))
    failure = await server.next_failure()
    assert (failure.certificate, failure.alert) == ("self_signed", None)
    assert failure.reason == "the client closed the connection during the handshake"


async def test_rotated_passes_the_ca_check_but_not_a_pin(
    server: Server, certs: CertificateSet
) -> None:
    pinned = spki_sha256(certs.certificates["valid"].certificate)
    server.switch.select("rotated")
    _, ssl_object = await hello(server.port, client_context(certs.ca_file))
    assert peer_pin(ssl_object) != pinned
    assert peer_pin(ssl_object) == spki_sha256(certs.certificates["rotated"].certificate)


async def test_no_server_name_still_gets_the_chosen_certificate(
    server: Server, certs: CertificateSet
) -> None:
    """Clients send no SNI for an IP address: the callback chooses all the same."""
    server.switch.select("expired")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        await hello(server.port, client_context(certs.ca_file), server_hostname=None)
    assert (await server.next_failure()).server_name is None


async def test_a_change_reaches_new_connections_not_open_ones(
    server: Server, certs: CertificateSet
) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=client_context(certs.ca_file), server_hostname="localhost"
    )
    server.switch.select("wrong_host")
    # The open connection finishes on the certificate it was given.
    assert await asyncio.wait_for(reader.readline(), WAIT_S) == b"hello\n"
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ssl.SSLCertVerificationError):
        await hello(server.port, client_context(certs.ca_file))
    server.switch.select("valid")
    assert (await hello(server.port, client_context(certs.ca_file)))[0] == b"hello\n"


async def test_plain_http_on_the_tls_port_is_heard(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.read(), WAIT_S)
    writer.close()
    await writer.wait_closed()
    failure = await server.next_failure()
    assert failure.alert is None
    assert failure.reason == "http request"
    assert failure.certificate is None  # before any certificate was chosen
    assert failure.peer is not None
    assert failure.peer.startswith("127.0.0.1:")


def test_an_unknown_name_is_refused(certs: CertificateSet) -> None:
    switch = CertificateSwitch(certs.certificates)
    with pytest.raises(ValueError, match="unknown certificate 'bogus'"):
        switch.select("bogus")  # type: ignore[arg-type]
    assert switch.current == "valid"


def test_every_name_is_needed(certs: CertificateSet) -> None:
    partial = {name: certs.certificates[name] for name in CERTIFICATE_NAMES[:3]}
    with pytest.raises(ValueError, match="no certificate for"):
        CertificateSwitch(partial)


async def test_a_failing_listener_does_not_change_the_handshake(
    certs: CertificateSet, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: HandshakeFailure) -> None:
        raise RuntimeError("listener bug")

    switch = CertificateSwitch(certs.certificates)
    server = Server(switch)
    await server.start()
    switch.on_failure = broken
    switch.select("expired")
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
            await hello(server.port, client_context(certs.ca_file))
        # The next handshake still works once the fault is lifted.
        switch.select("valid")
        assert (await hello(server.port, client_context(certs.ca_file)))[0] == b"hello\n"
    finally:
        await server.close()
    assert "TLS failure listener failed" in caplog.text


# Mutual TLS -------------------------------------------------------------------------------


async def no_hello(port: int, context: ssl.SSLContext) -> None:
    """The server refuses the client's side: no line, only an error or the end of the stream.

    Under TLS 1.3 the client's handshake is over before the server checks its certificate,
    so the refusal shows on the first read.
    """
    try:
        line, _ = await hello(port, context)
    except (ssl.SSLError, ConnectionResetError):
        return
    assert line == b""


@pytest.fixture
def client_ca(tmp_path: Path) -> LocalCA:
    return LocalCA.create("test client CA", datetime.now(UTC))


@pytest.fixture
async def mtls_server(
    certs: CertificateSet, client_ca: LocalCA, tmp_path: Path
) -> AsyncIterator[Server]:
    ca_file = tmp_path / "client-ca.pem"
    ca_file.write_bytes(client_ca.cert_pem)
    server = Server(CertificateSwitch(certs.certificates, client_ca=ca_file))
    await server.start()
    yield server
    await server.close()


async def test_mutual_tls_takes_a_client_certificate_from_the_ca(
    mtls_server: Server, certs: CertificateSet, client_ca: LocalCA, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    issued = client_ca.issue(
        ["alice"], now - timedelta(hours=1), now + timedelta(days=1), client=True
    )
    chain = tmp_path / "alice.pem"
    chain.write_bytes(issued.key_pem + issued.cert_pem)
    context = client_context(certs.ca_file)
    context.load_cert_chain(chain)
    assert (await hello(mtls_server.port, context))[0] == b"hello\n"
    # The choice of certificate still works with mutual TLS on.
    mtls_server.switch.select("expired")
    with pytest.raises(ssl.SSLCertVerificationError):
        await hello(mtls_server.port, context)


async def test_mutual_tls_without_a_client_certificate_fails_and_says_why(
    mtls_server: Server, certs: CertificateSet
) -> None:
    await no_hello(mtls_server.port, client_context(certs.ca_file))
    failure = await mtls_server.next_failure()
    assert failure.reason == "peer did not return a certificate"
    assert failure.alert is None


async def test_mutual_tls_refuses_a_certificate_from_another_ca(
    mtls_server: Server, certs: CertificateSet, tmp_path: Path
) -> None:
    stranger = LocalCA.create("stranger", datetime.now(UTC))
    now = datetime.now(UTC)
    issued = stranger.issue(
        ["mallory"], now - timedelta(hours=1), now + timedelta(days=1), client=True
    )
    chain = tmp_path / "mallory.pem"
    chain.write_bytes(issued.key_pem + issued.cert_pem)
    context = client_context(certs.ca_file)
    context.load_cert_chain(chain)
    await no_hello(mtls_server.port, context)
    failure = await mtls_server.next_failure()
    assert failure.reason == "certificate verify failed"


def test_a_bad_client_ca_file_is_a_clear_error(certs: CertificateSet, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(TlsSetupError, match=r"cannot load --tls-client-ca .*no certificate"):
        CertificateSwitch(certs.certificates, client_ca=empty)
    with pytest.raises(TlsSetupError, match="No such file"):
        CertificateSwitch(certs.certificates, client_ca=tmp_path / "missing.pem")


# A user's own certificate ------------------------------------------------------------------


async def test_a_users_certificate_is_served_as_valid(
    certs: CertificateSet, tmp_path: Path
) -> None:
    own_ca = LocalCA.create("the user's CA", datetime.now(UTC))
    now = datetime.now(UTC)
    issued = own_ca.issue(["localhost"], now - timedelta(hours=1), now + timedelta(days=1))
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    ca.write_bytes(own_ca.cert_pem)
    server = Server(CertificateSwitch(certs.certificates, user_chain=(cert, key)))
    await server.start()
    try:
        _, ssl_object = await hello(server.port, client_context(ca))
        assert peer_pin(ssl_object) == spki_sha256(issued.certificate)
        # mockapi's faults stay available next to it.
        server.switch.select("expired")
        with pytest.raises(ssl.SSLCertVerificationError):
            await hello(server.port, client_context(certs.ca_file))
    finally:
        await server.close()


def test_a_key_that_does_not_match_the_certificate_is_a_clear_error(
    certs: CertificateSet, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(certs.certificates["valid"].cert_pem)
    key.write_bytes(certs.certificates["rotated"].key_pem)
    with pytest.raises(TlsSetupError, match="key values mismatch"):
        CertificateSwitch(certs.certificates, user_chain=(cert, key))


# Through aiohttp ---------------------------------------------------------------------------


async def test_a_bare_aiohttp_app_serves_https_and_reports_refusals(
    certs: CertificateSet,
) -> None:
    failures: asyncio.Queue[HandshakeFailure] = asyncio.Queue()
    switch = CertificateSwitch(certs.certificates, on_failure=failures.put_nowait)

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    acceptor = TlsAcceptor(switch, runner.server)
    server = await asyncio.get_running_loop().create_server(acceptor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"https://localhost:{port}/"
    try:
        connector = aiohttp.TCPConnector(ssl=client_context(certs.ca_file), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(url) as resp:
                assert resp.status == 200
                assert await resp.text() == "ok"
            switch.select("unknown_ca")
            with pytest.raises(aiohttp.ClientConnectorCertificateError) as refused:
                await session.get(url)
            assert "unable to get local issuer certificate" in str(refused.value)
        # aiohttp's client hangs up without an alert: the journal still hears of it.
        failure = await asyncio.wait_for(failures.get(), WAIT_S)
        assert failure.certificate == "unknown_ca"
        assert failure.reason == "the client closed the connection during the handshake"
    finally:
        server.close()
        await acceptor.close()
        await server.wait_closed()
        await runner.cleanup()


def test_describe_names_the_alert_and_the_reason() -> None:
    exc = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    exc.reason = "TLSV1_ALERT_UNKNOWN_CA"
    assert describe(exc, 5) == ("unknown ca", "tlsv1 alert unknown ca")
    exc.reason = "HTTP_REQUEST"
    assert describe(exc, 5) == (None, "http request")
    assert describe(ConnectionAbortedError("slow"), 5) == (None, "no handshake within 5 s")
    assert describe(ConnectionResetError(), 5)[1].startswith("the client closed")


async def test_a_silent_client_is_cut_off_after_the_handshake_timeout(
    certs: CertificateSet,
) -> None:
    failures: asyncio.Queue[HandshakeFailure] = asyncio.Queue()
    switch = CertificateSwitch(certs.certificates, on_failure=failures.put_nowait)
    acceptor = TlsAcceptor(switch, asyncio.Protocol, handshake_timeout=0.2)
    server = await asyncio.get_running_loop().create_server(acceptor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        failure = await asyncio.wait_for(failures.get(), WAIT_S)
        assert failure.reason == "no handshake within 0.2 s"
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
    finally:
        writer.close()
        server.close()
        await acceptor.close()
        await server.wait_closed()


async def test_closing_the_acceptor_ends_handshakes_in_progress(certs: CertificateSet) -> None:
    failures: list[HandshakeFailure] = []
    switch = CertificateSwitch(certs.certificates, on_failure=failures.append)
    acceptor = TlsAcceptor(switch, asyncio.Protocol)
    server = await asyncio.get_running_loop().create_server(acceptor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    server.close()
    await acceptor.close()
    await server.wait_closed()
    # The silent client's connection is cut, and a server going away is no client's failure.
    with contextlib.suppress(ConnectionResetError):  # cut before it was even accepted
        assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
    writer.close()
    assert failures == []
