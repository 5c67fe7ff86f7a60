"""The request journal: what the server answered and pushed, for tests to inspect.

Bounded: the oldest entries go first, and a reader learns how many it missed (``dropped``)
instead of silently getting a gap.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

DEFAULT_CAPACITY = 10_000


class Journal:
    """A bounded, sequence-numbered log of HTTP answers, WebSocket frames and faults."""

    def __init__(self, clock: Callable[[], str], capacity: int = DEFAULT_CAPACITY) -> None:
        self._clock = clock
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self.last_seq = 0

    def _append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.last_seq = next(self._seq)
        full = {"seq": self.last_seq, "time": self._clock(), **entry}
        self._entries.append(full)
        return full

    def record_http(self, method: str, path: str, status: int, user: str | None) -> None:
        self._append(
            {"kind": "http", "method": method, "path": path, "status": status, "user": user}
        )

    def record_ws(self, user: str | None, frame: dict[str, Any]) -> None:
        self._append({"kind": "ws", "user": user, "frame": frame})

    def record(self, kind: str, **fields: Any) -> None:
        """Any other entry kind (a fault, ...)."""
        self._append({"kind": kind, **fields})

    def since(self, seq: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries after ``seq``, oldest first, and how many of those were already dropped."""
        oldest = self._entries[0]["seq"] if self._entries else self.last_seq + 1
        # Sequence numbers are consecutive inside the deque, so the start is an index.
        start = max(0, seq - oldest + 1)
        entries = list(itertools.islice(self._entries, start, None))
        return entries, max(0, oldest - 1 - seq)

    def clear(self) -> None:
        """Forget every entry; sequence numbers keep growing so readers never see a reuse."""
        self._entries.clear()
