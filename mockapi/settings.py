"""Server settings: what the command line (or MOCKAPI_* environment) asked for."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mockapi.domain.journal import DEFAULT_MAX_BYTES
from mockapi.domain.limits import LIMITS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Seconds a connection may go without a complete request: before its first request's headers
#: are in, or idle between requests (slowloris). aiohttp's own bound is its keep-alive
#: timeout of 3630 s, counted from the connect, which a client dribbling a request line never
#: resets; 5 s is the keep-alive timeout of uvicorn, which the original ran on.
DEFAULT_IDLE_TIMEOUT_S = 5.0


#: The journal keeps about this many bytes of entries (the oldest go first, counted as
#: ``dropped``); how many it keeps is the world limit ``max_journal``.
DEFAULT_JOURNAL_BYTES = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``create_app`` needs; ``None`` means "as the scenario says"."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    scenario: Path | None = None
    seed: int | None = None
    jwt_secret: str | None = None
    log_level: str = "INFO"
    time_scale: float | None = None
    clock: Literal["real", "manual"] | None = None
    service_token: str | None = None
    watch: bool = False
    #: See :data:`DEFAULT_IDLE_TIMEOUT_S`; WebSockets and requests being handled are not idle.
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S
    #: Where to write the base URL once the server listens (removed on exit); None: nowhere.
    ready_file: Path | None = None
    #: One DEBUG line per request on the ``mockapi.access`` logger (``--access-log``).
    access_log: bool = True
    #: Serve HTTPS and WSS instead of HTTP and WS (one port, one scheme).
    tls: bool = False
    #: Where the CA and the server key are kept (None: the per-user state folder).
    tls_dir: Path | None = None
    #: The user's own certificate chain and key, served as ``valid``.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Mutual TLS: every client shows a certificate signed by this CA.
    tls_client_ca: Path | None = None
    #: True when the server made ``service_token`` itself, because it binds beyond loopback
    #: and none was given: the start line prints it (as Jupyter prints its token).
    service_token_generated: bool = False
    # The world's limits (mockapi.domain.limits): None is "as the start-up scenario's
    # [settings] say, else the default".
    max_users: int | None = None
    max_pools: int | None = None
    max_machines: int | None = None
    max_assignments: int | None = None
    max_tasks: int | None = None
    max_rules: int | None = None
    max_faults: int | None = None
    max_journal: int | None = None
    max_sockets_per_user: int | None = None
    max_sockets: int | None = None
    #: The journal's size bound (its count is the world limit ``max_journal``).
    journal_max_bytes: int = DEFAULT_JOURNAL_BYTES

    def given_limits(self) -> dict[str, int | None]:
        """Every limit key with the value given on the command line (None: not given)."""
        return {limit.key: getattr(self, limit.key) for limit in LIMITS}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine.

    Only ``localhost`` and loopback addresses count; any other name is taken as reaching
    beyond, without asking a resolver (a name may resolve differently tomorrow).
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
