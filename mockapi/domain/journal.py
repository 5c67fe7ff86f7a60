"""The request journal: what the server answered and pushed, for tests to inspect.

Bounded: the oldest entries go first, and a reader learns how many it missed (``dropped``)
instead of silently getting a gap.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mockapi.domain.clock import iso_z

DEFAULT_CAPACITY = 10_000


def iso_time(seconds: float) -> str:
    """Unix seconds as the API writes times (``iso_z``): what an entry's ``time`` shows."""
    return iso_z(datetime.fromtimestamp(seconds, UTC))


class Journal:
    """A bounded, sequence-numbered log of HTTP answers, WebSocket frames and faults."""

    def __init__(
        self,
        clock: Callable[[], float],
        capacity: int = DEFAULT_CAPACITY,
        time_format: Callable[[float], str] = iso_time,
    ) -> None:
        # Entries keep the clock's float and are formatted when read: formatting on every
        # request cost more than the rest of the journal.
        self._clock = clock
        self._time_format = time_format
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self.last_seq = 0
        #: The last sequence number a :meth:`clear` forgot: entries up to it were cleared on
        #: purpose, so they never count as ``dropped`` (only the bound's losses do).
        self._cleared_through = 0

    def _append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.last_seq = next(self._seq)
        full = {"seq": self.last_seq, "time": self._clock(), **entry}
        self._entries.append(full)
        return full

    # The two entries of every request and every task change, built in one dict each (the
    # same keys in the same order as ``_append`` makes).
    def record_http(self, method: str, path: str, status: int, user: str | None) -> None:
        self.last_seq = seq = next(self._seq)
        self._entries.append(
            {
                "seq": seq,
                "time": self._clock(),
                "kind": "http",
                "method": method,
                "path": path,
                "status": status,
                "user": user,
            }
        )

    def record_ws(self, user: str | None, frame: dict[str, Any]) -> None:
        self.last_seq = seq = next(self._seq)
        self._entries.append(
            {"seq": seq, "time": self._clock(), "kind": "ws", "user": user, "frame": frame}
        )

    def record(self, kind: str, **fields: Any) -> None:
        """Any other entry kind (a fault, ...)."""
        self._append({"kind": kind, **fields})

    def since(self, seq: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries after ``seq``, oldest first, and how many of those the bound dropped."""
        oldest = self._entries[0]["seq"] if self._entries else self.last_seq + 1
        # Sequence numbers are consecutive inside the deque, so the start is an index.
        # Clamped to the length: islice refuses an index past sys.maxsize (a huge ``since``).
        start = min(max(0, seq - oldest + 1), len(self._entries))
        time_format = self._time_format
        entries = [
            {**entry, "time": time_format(entry["time"])}
            for entry in itertools.islice(self._entries, start, None)
        ]
        # Entries a clear forgot are not losses: without the max, a DELETE (or a reset) of N
        # entries made every later read report N dropped.
        return entries, max(0, oldest - 1 - max(seq, self._cleared_through))

    def clear(self) -> None:
        """Forget every entry; sequence numbers keep growing so readers never see a reuse."""
        self._entries.clear()
        self._cleared_through = self.last_seq
