"""Server settings: what the command line (or MOCKAPI_* environment) asked for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


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
