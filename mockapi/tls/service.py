"""``--tls`` as the server holds it: the certificates, the switch, and what a change records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockapi.tls.certificates import CertificateName, CertificateSet, make_certificates
from mockapi.tls.contexts import CertificateSwitch, HandshakeFailure

#: Where journal entries go: ``record("tls", **fields)`` (:meth:`Journal.record`).
Record = Callable[..., None]


@dataclass(eq=False)
class TlsService:
    """The TLS side of one server: which certificate it shows, and its CA file for clients."""

    certificates: CertificateSet
    switch: CertificateSwitch
    #: The user's own certificate (``--tls-cert``), served as ``valid``; else ``None``.
    user_cert: Path | None
    record: Record

    @classmethod
    def build(
        cls,
        tls_dir: Path,
        host: str,
        record: Record,
        user_chain: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
    ) -> TlsService:
        """Make (or reload) the certificates; raises ``TlsSetupError`` saying why not."""
        certificates = make_certificates(tls_dir, host)

        def failed(failure: HandshakeFailure) -> None:
            record("tls", **failure.journal_fields())

        switch = CertificateSwitch(
            certificates.certificates,
            user_chain=user_chain,
            client_ca=client_ca,
            on_failure=failed,
        )
        return cls(certificates, switch, user_chain[0] if user_chain else None, record)

    @property
    def ca_file(self) -> Path:
        return self.certificates.ca_file

    @property
    def current(self) -> CertificateName:
        return self.switch.current

    def select(self, name: CertificateName, source: str) -> None:
        """Serve ``name`` to new connections; a change goes to the journal with its source."""
        previous = self.switch.select(name)
        if previous != name:
            self.record(
                "tls",
                event="certificate_changed",
                certificate=name,
                previous=previous,
                source=source,
            )

    def view(self) -> dict[str, Any]:
        """What ``GET /service/tls/`` shows."""
        return {
            "enabled": True,
            "certificate": self.current,
            "ca_file": str(self.ca_file),
            "client_ca": str(self.switch.client_ca) if self.switch.client_ca else None,
            "user_cert": str(self.user_cert) if self.user_cert else None,
        }
