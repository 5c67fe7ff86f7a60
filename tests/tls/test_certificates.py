"""The certificates: what each name is, and what the TLS folder keeps across starts."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from mockapi.tls import (
    CERTIFICATE_NAMES,
    CertificateSet,
    TlsSetupError,
    default_tls_dir,
    make_certificates,
    spki_sha256,
)
from mockapi.tls.certificates import (
    CA_KEY_FILE,
    CA_LIFETIME,
    LocalCA,
    server_names,
    subject_alt_names,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def sans(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in ext]


def test_every_name_has_a_certificate(certs: CertificateSet) -> None:
    assert set(certs.certificates) == set(CERTIFICATE_NAMES)


def test_valid_names_loopback_and_the_host(tls_dir: Path) -> None:
    cert = make_certificates(tls_dir, "mock.example").certificates["valid"].certificate
    assert sans(cert) == ["localhost", "127.0.0.1", "::1", "mock.example"]


def test_the_host_is_not_repeated_when_it_is_loopback(certs: CertificateSet) -> None:
    assert sans(certs.certificates["valid"].certificate) == ["localhost", "127.0.0.1", "::1"]


def test_ip_names_are_ip_addresses_and_spellings_of_one_address_count_once() -> None:
    names = subject_alt_names(["localhost", "::1", "0:0::1", "[::1]", "LOCALHOST", "10.0.0.1"])
    assert names == [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ]


def test_a_wildcard_bind_names_the_machine() -> None:
    assert "0.0.0.0" not in server_names("0.0.0.0")
    assert len(server_names("0.0.0.0")) == 4
    assert len(server_names("::")) == 4


def test_valid_is_signed_by_the_ca_and_valid_now(certs: CertificateSet) -> None:
    cert = certs.certificates["valid"].certificate
    cert.verify_directly_issued_by(certs.ca.certificate)
    now = datetime.now(UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc


def test_expired_ran_from_ten_days_ago_to_yesterday(tls_dir: Path) -> None:
    cert = make_certificates(tls_dir, "localhost", NOW).certificates["expired"].certificate
    assert cert.not_valid_before_utc == NOW - timedelta(days=10)
    assert cert.not_valid_after_utc == NOW - timedelta(days=1)


def test_not_yet_valid_starts_tomorrow(tls_dir: Path) -> None:
    cert = make_certificates(tls_dir, "localhost", NOW).certificates["not_yet_valid"].certificate
    assert cert.not_valid_before_utc == NOW + timedelta(days=1)
    assert cert.not_valid_after_utc > cert.not_valid_before_utc


def test_wrong_host_names_only_dispatcher_invalid(certs: CertificateSet) -> None:
    cert = certs.certificates["wrong_host"].certificate
    assert sans(cert) == ["dispatcher.invalid"]
    cert.verify_directly_issued_by(certs.ca.certificate)


def test_self_signed_is_its_own_issuer(certs: CertificateSet) -> None:
    cert = certs.certificates["self_signed"].certificate
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert sans(cert) == sans(certs.certificates["valid"].certificate)


def test_unknown_ca_is_issued_by_the_other_ca(certs: CertificateSet) -> None:
    cert = certs.certificates["unknown_ca"].certificate
    cert.verify_directly_issued_by(certs.unknown_ca.certificate)
    with pytest.raises(ValueError, match="does not match"):
        cert.verify_directly_issued_by(certs.ca.certificate)
    assert certs.unknown_ca.certificate.subject != certs.ca.certificate.subject


def test_rotated_has_a_new_key_from_the_same_ca(certs: CertificateSet) -> None:
    rotated = certs.certificates["rotated"].certificate
    valid = certs.certificates["valid"].certificate
    rotated.verify_directly_issued_by(certs.ca.certificate)
    assert spki_sha256(rotated) != spki_sha256(valid)
    assert sans(rotated) == sans(valid)


def test_each_fault_has_its_own_key(certs: CertificateSet) -> None:
    pins = {spki_sha256(issued.certificate) for issued in certs.certificates.values()}
    assert len(pins) == len(CERTIFICATE_NAMES)


def test_the_ca_is_a_ca_that_signs_only_certificates(certs: CertificateSet) -> None:
    ca = certs.ca.certificate
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert not usage.digital_signature


def test_ca_pem_holds_the_ca_certificate_only(certs: CertificateSet) -> None:
    text = certs.ca_file.read_text()
    assert "PRIVATE KEY" not in text
    assert x509.load_pem_x509_certificate(text.encode()) == certs.ca.certificate


def test_the_ca_and_the_server_key_are_reused_across_starts(
    certs: CertificateSet, tls_dir: Path
) -> None:
    again = make_certificates(tls_dir, "127.0.0.1")
    assert again.ca.certificate == certs.ca.certificate
    assert again.unknown_ca.certificate == certs.unknown_ca.certificate
    # A client that pinned the server's key keeps its pin; the certificate itself is new.
    valid, valid_again = certs.certificates["valid"], again.certificates["valid"]
    assert spki_sha256(valid_again.certificate) == spki_sha256(valid.certificate)
    assert valid_again.certificate.serial_number != valid.certificate.serial_number
    # The rotated key is new at every start.
    assert spki_sha256(again.certificates["rotated"].certificate) != spki_sha256(
        certs.certificates["rotated"].certificate
    )


def test_private_files_are_private(certs: CertificateSet, tls_dir: Path) -> None:
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for path in tls_dir.iterdir():
        if "key" in path.name:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_lapsing_ca_is_replaced(tls_dir: Path) -> None:
    old = make_certificates(tls_dir, "localhost", NOW).ca.certificate
    later = NOW + CA_LIFETIME - timedelta(days=1)
    new = make_certificates(tls_dir, "localhost", later)
    assert new.ca.certificate != old
    assert x509.load_pem_x509_certificate(new.ca_file.read_bytes()) == new.ca.certificate


def test_a_broken_ca_file_is_a_clear_error(tls_dir: Path) -> None:
    tls_dir.mkdir()
    (tls_dir / CA_KEY_FILE).write_text("not a key\n")
    with pytest.raises(TlsSetupError, match="not a CA that mockapi made"):
        make_certificates(tls_dir, "localhost")


def test_a_file_where_the_folder_should_be_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(TlsSetupError, match="cannot make the TLS folder"):
        make_certificates(tmp_path / "file" / "tls", "localhost")


def test_another_start_that_made_its_ca_first_wins(tls_dir: Path) -> None:
    """Two starts at once on one folder end with one CA: the file that is there is used."""
    tls_dir.mkdir()
    first = LocalCA.create("first", NOW)
    (tls_dir / CA_KEY_FILE).write_bytes(first.to_pem())
    assert make_certificates(tls_dir, "localhost").ca.certificate == first.certificate


def test_keys_are_p256(certs: CertificateSet) -> None:
    key = certs.ca.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"


def test_default_folder_is_per_user_state() -> None:
    if os.name == "nt":
        pytest.skip("POSIX layout")
    assert default_tls_dir({"XDG_STATE_HOME": "/state"}) == Path("/state/mockapi/tls")
    home_state = Path.home() / ".local" / "state" / "mockapi" / "tls"
    assert default_tls_dir({}) == home_state
    # The XDG spec: a relative value is ignored.
    assert default_tls_dir({"XDG_STATE_HOME": "rel"}) == home_state
