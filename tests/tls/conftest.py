"""A certificate set made once per test in its own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockapi.tls import CertificateSet, make_certificates


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    return tmp_path / "tls"


@pytest.fixture
def certs(tls_dir: Path) -> CertificateSet:
    return make_certificates(tls_dir, "127.0.0.1")
