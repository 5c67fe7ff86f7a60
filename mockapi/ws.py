"""The WebSocket hub: every open socket by user, and the fan-out of task frames.

SKELETON: the interface later work builds on. ``publish`` must never block or raise.
"""

from __future__ import annotations

import uuid
from typing import Any


class Hub:
    """Open sockets by user id; publishes task frames to all of a user's sockets."""

    def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        """Queue ``frame`` for every socket of ``user_id``; never blocks, never raises."""

    async def flush(self) -> None:
        """Wait until every queued frame was handed to its socket (or the socket dropped)."""

    async def close_all(self) -> None:
        """Close every socket with 1001 (server shutdown)."""


async def websocket(request: object) -> object:
    raise NotImplementedError
