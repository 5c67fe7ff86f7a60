"""Server settings: what the command line (or MOCKAPI_* environment) asked for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Seconds a connection may go without a complete request: before its first request's headers
#: are in, or idle between requests (slowloris). aiohttp's own bound is its keep-alive
#: timeout of 3630 s, counted from the connect, which a client dribbling a request line never
#: resets; 5 s is the keep-alive timeout of uvicorn, which the original ran on.
DEFAULT_IDLE_TIMEOUT_S = 5.0


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
