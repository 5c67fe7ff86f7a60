"""TLS for mockapi: its own CA, the server certificate, the faulty ones, the served context.

No aiohttp here: the web layer listens with a :class:`TlsAcceptor` around its protocol
factory and wires :attr:`CertificateSwitch.on_failure` to the journal.
"""

from mockapi.tls.accept import TlsAcceptor
from mockapi.tls.certificates import (
    CA_FILE,
    CERTIFICATE_NAMES,
    CertificateName,
    CertificateSet,
    Issued,
    LocalCA,
    TlsSetupError,
    default_tls_dir,
    make_certificates,
    spki_sha256,
)
from mockapi.tls.contexts import CertificateSwitch, Handshake, HandshakeFailure, client_context
from mockapi.tls.service import TlsService

__all__ = [
    "CA_FILE",
    "CERTIFICATE_NAMES",
    "CertificateName",
    "CertificateSet",
    "CertificateSwitch",
    "Handshake",
    "HandshakeFailure",
    "Issued",
    "LocalCA",
    "TlsAcceptor",
    "TlsService",
    "TlsSetupError",
    "client_context",
    "default_tls_dir",
    "make_certificates",
    "spki_sha256",
]
