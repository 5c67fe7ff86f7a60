"""The server's TLS: one ``ssl.SSLContext`` per certificate, chosen at every handshake.

The served context's SNI callback runs early in every handshake, whether or not the client
sent a name, and points the connection at the context of the certificate chosen now: a change
of certificate reaches the next connection, never one already open. The callback also notes
on the connection's handshake record what was asked for and shown, for the journal when the
handshake fails (:mod:`mockapi.tls.accept` hears that).
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockapi.tls.certificates import (
    CERTIFICATE_NAMES,
    VALID,
    CertificateName,
    Issued,
    TlsSetupError,
)

log = logging.getLogger("mockapi.tls")


@dataclass(slots=True)
class Handshake:
    """One connection's handshake: who, what it asked for, what it was shown."""

    peer: str | None = None
    #: The name the client asked for (SNI); clients send none for an IP address.
    server_name: str | None = None
    #: The certificate served (``None``: the handshake failed before one was chosen).
    certificate: CertificateName | None = None


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    """A handshake that ended in an error, as the journal shows it."""

    peer: str | None
    server_name: str | None
    certificate: CertificateName | None
    #: The client's alert, when it sent one: ``certificate unknown``, ``unknown ca``, ...
    alert: str | None
    #: Why, in words: ``sslv3 alert certificate unknown``, ``http request``, ``peer did not
    #: return a certificate``, ``the client closed the connection during the handshake``.
    reason: str
    #: The whole error text.
    error: str

    def journal_fields(self) -> dict[str, Any]:
        """The fields of a ``{"kind": "tls"}`` journal entry."""
        return {
            "event": "handshake_failed",
            "peer": self.peer,
            "server_name": self.server_name,
            "certificate": self.certificate,
            "alert": self.alert,
            "reason": self.reason,
            "error": self.error,
        }


#: The handshake the running task is starting: ``wrap_bio`` runs inside ``start_tls``, in
#: the acceptor's task, and ties the connection's TLS object to it.
_STARTING: ContextVar[Handshake | None] = ContextVar("mockapi_tls_handshake", default=None)


class _NamedContext(ssl.SSLContext):
    """A context that knows which certificate it serves."""

    certificate_name: CertificateName | None = None


class _ServedSSLObject(ssl.SSLObject):
    """A connection's TLS object, tied to the record of its handshake."""

    handshake: Handshake | None = None


class _ServedContext(_NamedContext):
    """The context every connection starts in."""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        ssl_object = super().wrap_bio(*args, **kwargs)
        if isinstance(ssl_object, _ServedSSLObject):
            ssl_object.handshake = _STARTING.get()
        return ssl_object


def _load_chain(context: ssl.SSLContext, issued: Issued) -> None:
    # load_cert_chain reads files only; the PEM lives for this call in a private folder.
    with tempfile.TemporaryDirectory(prefix="mockapi-tls-") as folder:
        path = Path(folder) / "chain.pem"
        path.write_bytes(issued.key_pem + issued.cert_pem)
        context.load_cert_chain(path)


class CertificateSwitch:
    """The TLS side of the server: the served context and which certificate it shows now.

    ``certificates`` has one entry per name; ``user_chain`` (``--tls-cert``, ``--tls-key``)
    replaces the ``valid`` one. With ``client_ca`` every handshake needs a client certificate
    signed by that CA. ``on_failure`` hears every failed handshake.
    """

    def __init__(
        self,
        certificates: Mapping[CertificateName, Issued],
        *,
        user_chain: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
        on_failure: Callable[[HandshakeFailure], None] | None = None,
    ) -> None:
        missing = [name for name in CERTIFICATE_NAMES if name not in certificates]
        if missing:
            raise ValueError(f"no certificate for {', '.join(missing)}")
        self.on_failure = on_failure
        self.client_ca = client_ca
        self._current: CertificateName = VALID
        self._contexts: dict[CertificateName, _NamedContext] = {}
        for name in CERTIFICATE_NAMES:
            context = self._new_context(name)
            if name == VALID and user_chain is not None:
                _load_user_chain(context, *user_chain)
            else:
                _load_chain(context, certificates[name])
            self._contexts[name] = context
        # The context every connection starts in: it shows the valid certificate until the
        # SNI callback moves the connection to the chosen one.
        served = self._new_context(None, _ServedContext)
        self.context: ssl.SSLContext = served
        if user_chain is not None:
            _load_user_chain(served, *user_chain)
        else:
            _load_chain(served, certificates[VALID])
        served.sni_callback = self._choose
        served.sslobject_class = _ServedSSLObject

    def _new_context(
        self, name: CertificateName | None, kind: type[_NamedContext] = _NamedContext
    ) -> _NamedContext:
        context = kind(ssl.PROTOCOL_TLS_SERVER)
        context.certificate_name = name
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # No session resumption: a resumed session skips the certificate, so a client could
        # go on past a fault set after its first connection.
        context.options |= ssl.OP_NO_TICKET
        context.num_tickets = 0
        context.set_alpn_protocols(["http/1.1"])
        if self.client_ca is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise TlsSetupError(
                    f"cannot load --tls-client-ca {self.client_ca}: {_why(exc)}"
                ) from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    @property
    def current(self) -> CertificateName:
        """The certificate new connections get."""
        return self._current

    def select(self, name: CertificateName) -> CertificateName:
        """Serve ``name`` to new connections from now on; returns the one it replaces."""
        if name not in self._contexts:
            raise ValueError(f"unknown certificate {name!r}")
        previous, self._current = self._current, name
        return previous

    def _choose(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: Any
    ) -> None:
        # Must not raise: OpenSSL would end the handshake with "internal error".
        name = self._current
        ssl_object.context = self._contexts[name]
        if isinstance(ssl_object, _ServedSSLObject) and ssl_object.handshake is not None:
            ssl_object.handshake.server_name = server_name
            ssl_object.handshake.certificate = name

    def track(self, handshake: Handshake) -> Token[Handshake | None]:
        """Tie the connection the running task starts next to ``handshake``."""
        return _STARTING.set(handshake)

    def untrack(self, token: Token[Handshake | None]) -> None:
        _STARTING.reset(token)

    def handshake_failed(
        self, handshake: Handshake, alert: str | None, reason: str, error: str
    ) -> None:
        """Tell ``on_failure`` (the journal) of a failed handshake."""
        failure = HandshakeFailure(
            peer=handshake.peer,
            server_name=handshake.server_name,
            certificate=handshake.certificate,
            alert=alert,
            reason=reason,
            error=error,
        )
        log.info("TLS handshake failed (%s): %s", failure.certificate, reason)
        if self.on_failure is not None:
            # A listener's bug must not break the accepting of connections.
            try:
                self.on_failure(failure)
            except Exception:
                log.exception("TLS failure listener failed")


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or str(exc)).lower().replace("_", " ")
    return exc.strerror or str(exc)


def _load_user_chain(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load --tls-cert {cert} --tls-key {key}: {_why(exc)}") from None


def client_context(ca_file: Path | str) -> ssl.SSLContext:
    """A client context that trusts ``ca_file`` (and checks the host name, as clients do)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    # Python 3.13 turns strict X.509 checks on by default: our certificates pass them.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context
