"""The certificates a client may be shown: the names a scenario and the control API use.

The vocabulary only; :mod:`mockapi.tls` makes and serves the certificates themselves.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

CertificateName = Literal[
    "valid", "expired", "not_yet_valid", "wrong_host", "self_signed", "unknown_ca", "rotated"
]
CERTIFICATE_NAMES: Final[tuple[CertificateName, ...]] = get_args(CertificateName)
#: The normal certificate, and what a scenario without ``[tls]`` serves.
VALID: Final[CertificateName] = "valid"
