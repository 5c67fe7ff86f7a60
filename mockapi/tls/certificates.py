"""The certificates mockapi serves: a local CA kept on disk, the server's, and the faulty ones.

Everything is made with ``cryptography`` (X.509 builder, ECDSA P-256 keys): no ASN.1 by hand.
The CA and the server key live in the TLS folder and are reused across starts, so a client
trusts the CA once and a client that pinned the server's key keeps its pin. The leaf
certificates are made anew at each start: their dates are relative to now, and the server's
names follow ``--host``.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The names are the domain's vocabulary (scenario, control API); re-exported here.
from mockapi.domain.certificates import CERTIFICATE_NAMES as CERTIFICATE_NAMES
from mockapi.domain.certificates import VALID as VALID
from mockapi.domain.certificates import CertificateName as CertificateName

#: The only name in the ``wrong_host`` certificate: ``.invalid`` never resolves (RFC 2606).
WRONG_HOST_NAME: Final = "dispatcher.invalid"
#: Names the server certificate always carries, whatever ``--host`` says.
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")

CA_FILE: Final = "ca.pem"
CA_KEY_FILE: Final = "ca-key.pem"
UNKNOWN_CA_KEY_FILE: Final = "unknown-ca-key.pem"
SERVER_KEY_FILE: Final = "server-key.pem"

CA_LIFETIME: Final = timedelta(days=3650)
#: A CA closer than this to its end is replaced, so no start serves a CA about to lapse.
CA_RENEW_BEFORE: Final = timedelta(days=30)
#: Leaf certificates are made at every start, so a year is plenty; clients that cap a
#: lifetime (398 days) take it.
LEAF_LIFETIME: Final = timedelta(days=365)
#: Leaves start a day early: a client whose clock is a little behind still accepts them.
BACKDATE: Final = timedelta(days=1)


class TlsSetupError(Exception):
    """The TLS folder or a certificate file cannot be used; the message says why."""


def default_tls_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user state folder: ``$XDG_STATE_HOME/mockapi/tls`` or ``~/.local/state/...``."""
    environ = os.environ if environ is None else environ
    if os.name == "nt" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"]) / "mockapi" / "tls"
    state = environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "mockapi" / "tls"


@dataclass(frozen=True, slots=True)
class Issued:
    """One certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: every TLS client takes it (curl, browsers, Qt, Python), and its handshakes are
    # cheaper than RSA's.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mockapi"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def subject_alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses, in order, each once (``::1`` and ``0:0::1`` are one)."""
    seen: set[object] = set()
    result: list[x509.GeneralName] = []
    for name in names:
        general: x509.GeneralName
        try:
            address = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            key: object = name.lower()
            general = x509.DNSName(name)
        else:
            key = address
            general = x509.IPAddress(address)
        if key not in seen:
            seen.add(key)
            result.append(general)
    return result


def server_names(host: str) -> list[str]:
    """The server certificate's names: loopback's, then ``host``.

    A wildcard bind (``0.0.0.0``, ``::``) is no name a client can dial: the machine's own
    name stands for it.
    """
    names = list(LOOPBACK_NAMES)
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).is_unspecified:
            host = socket.gethostname()
    if host:
        names.append(host)
    return names


class LocalCA:
    """A certificate authority: a self-signed CA certificate and its key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate

    @classmethod
    def create(cls, common_name: str, now: datetime) -> LocalCA:
        key = _new_key()
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def from_pem(cls, data: bytes) -> LocalCA:
        """A CA from one PEM holding its key and its certificate."""
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("not an EC private key")
        return cls(key, x509.load_pem_x509_certificate(data))

    def to_pem(self) -> bytes:
        return _key_pem(self.key) + _cert_pem(self.certificate)

    @property
    def cert_pem(self) -> bytes:
        return _cert_pem(self.certificate)

    def issue(
        self,
        names: Iterable[str],
        not_before: datetime,
        not_after: datetime,
        key: ec.EllipticCurvePrivateKey | None = None,
        client: bool = False,
    ) -> Issued:
        """A leaf certificate for ``names`` (server auth, or client auth with ``client``)."""
        key = key or _new_key()
        alt_names = subject_alt_names(names)
        common_name = str(alt_names[0].value) if alt_names else "mockapi client"
        return Issued(
            _cert_pem(
                _leaf_builder(common_name, alt_names, key, not_before, not_after, client)
                .issuer_name(self.certificate.subject)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                    critical=False,
                )
                .sign(self.key, hashes.SHA256())
            ),
            _key_pem(key),
        )


def _leaf_builder(
    common_name: str,
    alt_names: list[x509.GeneralName],
    key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    client: bool,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder


def self_signed(names: Iterable[str], not_before: datetime, not_after: datetime) -> Issued:
    """A server certificate signed by its own key: no CA vouches for it.

    It has no key-usage extension, so verifiers see it as self-issued ("self-signed
    certificate") rather than as a leaf of some CA they lack.
    """
    key = _new_key()
    alt_names = subject_alt_names(names)
    builder = _leaf_builder(
        str(alt_names[0].value), alt_names, key, not_before, not_after, client=False
    )
    subject = _name(str(alt_names[0].value))
    return Issued(_cert_pem(builder.issuer_name(subject).sign(key, hashes.SHA256())), _key_pem(key))


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` (mode 0600) only if it does not exist yet; ``False`` if it did.

    Two servers starting at once on one folder must end with one CA, not one each: the file
    appears whole (a hard link of a finished temporary file) or not at all.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _replace(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` whole (readers never see half a file), if its content differs."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _load_or_create_ca(path: Path, common_name: str, now: datetime) -> LocalCA:
    for _attempt in range(2):
        try:
            ca = LocalCA.from_pem(path.read_bytes())
        except FileNotFoundError:
            pass
        except (ValueError, TypeError) as exc:
            raise TlsSetupError(
                f"{path} is not a CA that mockapi made ({exc}); delete it to make a new one"
            ) from None
        else:
            if ca.certificate.not_valid_after_utc - CA_RENEW_BEFORE > now:
                return ca
            # Lapsing: a new CA, which clients must trust anew.
            path.unlink(missing_ok=True)
        if _write_new(path, LocalCA.create(common_name, now).to_pem()):
            continue  # read back what is on disk: another start may have won
    raise TlsSetupError(f"cannot keep a CA in {path}")


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        _write_new(path, _key_pem(_new_key()))
        data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsSetupError(f"{path} is not a private key ({exc}); delete it") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsSetupError(f"{path} is not an EC private key; delete it")
    return key


@dataclass(frozen=True, slots=True)
class CertificateSet:
    """What ``--tls`` serves: the CA clients trust, and one certificate per name."""

    tls_dir: Path
    ca: LocalCA
    #: The other CA, which no client trusts: it signs ``unknown_ca``.
    unknown_ca: LocalCA
    certificates: Mapping[CertificateName, Issued]

    @property
    def ca_file(self) -> Path:
        """The file a client trusts: ``ca.pem`` in the TLS folder."""
        return self.tls_dir / CA_FILE


def make_certificates(tls_dir: Path, host: str, now: datetime | None = None) -> CertificateSet:
    """Load or make the CAs and the server key in ``tls_dir``; make every named certificate.

    Raises :class:`TlsSetupError` when the folder cannot be made or a kept file is unusable.
    """
    now = now or datetime.now(UTC)
    try:
        tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise TlsSetupError(f"cannot make the TLS folder {tls_dir}: {exc.strerror}") from None
    if not tls_dir.is_dir():
        raise TlsSetupError(f"TLS folder is not a folder: {tls_dir}")
    try:
        owner = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        owner = str(os.getuid()) if hasattr(os, "getuid") else "user"
    created = now.strftime("%Y-%m-%d")
    try:
        ca = _load_or_create_ca(
            tls_dir / CA_KEY_FILE, f"mockapi local CA ({owner}, {created})", now
        )
        unknown = _load_or_create_ca(
            tls_dir / UNKNOWN_CA_KEY_FILE, "mockapi unknown CA (never trust this one)", now
        )
        server_key = _load_or_create_key(tls_dir / SERVER_KEY_FILE)
        _replace(tls_dir / CA_FILE, ca.cert_pem)
    except OSError as exc:
        raise TlsSetupError(f"cannot use the TLS folder {tls_dir}: {exc}") from None
    names = server_names(host)
    start, end = now - BACKDATE, now + LEAF_LIFETIME
    certificates: dict[CertificateName, Issued] = {
        "valid": ca.issue(names, start, end, key=server_key),
        "expired": ca.issue(names, now - timedelta(days=10), now - timedelta(days=1)),
        "not_yet_valid": ca.issue(names, now + timedelta(days=1), end + timedelta(days=1)),
        "wrong_host": ca.issue([WRONG_HOST_NAME], start, end),
        "self_signed": self_signed(names, start, end),
        "unknown_ca": unknown.issue(names, start, end),
        "rotated": ca.issue(names, start, end),
    }
    return CertificateSet(tls_dir, ca, unknown, certificates)


def spki_sha256(cert: x509.Certificate) -> bytes:
    """The SHA-256 of a certificate's public key (SubjectPublicKeyInfo): what clients pin."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return digest.finalize()
