"""The journal: the whole exchange between the clients and the server, for tests to inspect.

What each request sent (headers, query, body; :mod:`mockapi.domain.redaction` takes the
secrets out) and what it was answered, every frame pushed, every message a client sent on
its socket, the sockets' opening and closing, and every fault that fired.

Bounded by count and by size: the oldest entries go first, and a reader learns how many it
missed (``dropped``) instead of silently getting a gap.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from mockapi.domain.clock import iso_z
from mockapi.domain.redaction import (
    MAX_BODY_BYTES,
    read_body,
    redact_headers,
    redact_query,
    redact_text,
)

DEFAULT_CAPACITY = 10_000
#: The most the entries may hold together, as the JSON text they are read as (estimated
#: from the text they hold, not serialised on every request).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: What an entry costs beyond the text of its fields: its keys, numbers and punctuation.
ENTRY_OVERHEAD = 96


def iso_time(seconds: float) -> str:
    """Unix seconds as the API writes times (``iso_z``): what an entry's ``time`` shows."""
    return iso_z(datetime.fromtimestamp(seconds, UTC))


def _text_size(value: Any) -> int:
    """The length of ``value`` as JSON, near enough to bound memory by."""
    if value is None:
        return 4
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(str(key)) + 4 + _text_size(item) for key, item in value.items())
    if isinstance(value, list):
        return 2 + sum(_text_size(item) + 1 for item in value)
    return 8


class Journal:
    """A bounded, sequence-numbered log of the exchange: requests and their answers, frames,
    socket events and messages, and faults."""

    def __init__(
        self,
        clock: Callable[[], float],
        capacity: int = DEFAULT_CAPACITY,
        time_format: Callable[[float], str] = iso_time,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        # Entries keep the clock's float and are formatted when read: formatting on every
        # request cost more than the rest of the journal.
        self._clock = clock
        self._time_format = time_format
        self.capacity = capacity
        self.max_bytes = max_bytes
        #: Settled entries (dicts, as readers get them) and, among the newest, HTTP entries
        #: not yet read (:data:`_Unread` tuples; see :meth:`record_http`).
        self._entries: deque[dict[str, Any] | _Unread] = deque()
        #: The estimated size of each entry, beside it; ``size`` is their sum.
        self._sizes: deque[int] = deque()
        self.size = 0
        self._seq = itertools.count(1)
        self.last_seq = 0
        #: The last sequence number a :meth:`clear` forgot: entries up to it were cleared on
        #: purpose, so they never count as ``dropped`` (only the bound's losses do).
        self._cleared_through = 0
        #: Told of every entry but the HTTP answers as it is made (the coverage counters, which
        #: count answers from the middleware); never of a clear.
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        #: The sequence number of the oldest entry that may still be unread (0: none); any
        #: later one may be too.
        self._unread_from = 0

    def _store(self, entry: dict[str, Any] | _Unread, size: int) -> None:
        """Add ``entry``, then drop the oldest while the count or the size is over its bound.

        The newest entry always stays, however large: a body is cut to ``MAX_BODY_BYTES``
        before it gets here, so one entry never holds more than about that.
        """
        entries, sizes = self._entries, self._sizes
        entries.append(entry)
        sizes.append(size)
        self.size += size
        while len(entries) > 1 and (len(entries) > self.capacity or self.size > self.max_bytes):
            entries.popleft()
            self.size -= sizes.popleft()

    def _keep(self, entry: dict[str, Any], size: int) -> None:
        """:meth:`_store` ``entry``, and tell the observers of it."""
        self._store(entry, size)
        for observer in self.observers:
            observer(entry)

    def _append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.last_seq = next(self._seq)
        full = {"seq": self.last_seq, "time": self._clock(), **entry}
        self._keep(full, ENTRY_OVERHEAD + _text_size(entry))
        return full

    def record_http(
        self,
        method: str,
        path: str,
        status: int | None,
        user: str | None,
        headers: bytes | None = None,
        query: tuple[tuple[str, str], ...] = (),
        media: str = "",
        body: bytes = b"",
        declared: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One answered request: what was asked, by whom, and the status it got, then what
        it sent (the fields of a :class:`RequestSide`; ``headers`` None: not known) and what a
        fault or the answer added (``extra``).

        Kept as one flat tuple, as it arrived, and redacted, parsed and made the entry readers
        get when the journal is first read (:meth:`_settled_entries`). Most entries are never read,
        and every object an entry holds is one more to free, cold, when the bound drops it:
        that and redacting every request's headers cost more than the rest of its recording.
        Only the journal's readers see an entry, so nothing unredacted ever leaves it.
        """
        self.last_seq = seq = next(self._seq)
        size = ENTRY_OVERHEAD + len(path)
        if headers is not None:
            size += len(headers) + len(body) + 8
            if query:
                size += _text_size(dict(query))
        if extra:
            size += _text_size(extra)
        unread = (
            seq, self._clock(), method, path, status, user, headers, query, media, body,
            declared, extra,
        )  # fmt: skip
        if len(body) > MAX_BODY_BYTES:
            # Cut now, so no entry holds more of a body than the journal keeps.
            self._store(_settled(unread), size - len(body) + MAX_BODY_BYTES)
            return
        if not self._unread_from:
            self._unread_from = seq
        self._store(unread, size)

    def _settled_entries(self) -> deque[dict[str, Any]]:
        """The entries, every one as readers get it: those recorded since the last read (the
        newest, reached from the deque's end, where indexing is cheap) are settled first."""
        entries = self._entries
        if self._unread_from and entries:
            first = entries[0]
            oldest = first[0] if isinstance(first, tuple) else first["seq"]
            start = max(0, self._unread_from - oldest)
            for index in range(start - len(entries), 0):
                entry = entries[index]
                if isinstance(entry, tuple):
                    entries[index] = _settled(entry)
        self._unread_from = 0
        return cast("deque[dict[str, Any]]", entries)

    def record_ws(self, user: str | None, frame: dict[str, Any]) -> None:
        """A frame the server pushed to the sockets of ``user``."""
        self.last_seq = seq = next(self._seq)
        self._keep(
            {"seq": seq, "time": self._clock(), "kind": "ws", "user": user, "frame": frame},
            ENTRY_OVERHEAD + _text_size(frame),
        )

    def record_ws_open(self, user: str | None, client_id: str) -> int:
        """A socket of ``user`` opened; its sequence number names the socket from then on."""
        self.last_seq = socket = next(self._seq)
        entry = {"kind": "ws_open", "user": user, "socket": socket, "client_id": client_id}
        self._keep(
            {"seq": socket, "time": self._clock(), **entry}, ENTRY_OVERHEAD + _text_size(entry)
        )
        return socket

    def record_ws_message(self, user: str | None, socket: int, data: str | bytes) -> None:
        """What a client sent on its socket: text with its JWTs fingerprinted and cut to
        ``MAX_BODY_BYTES``; of a binary message only its size."""
        entry: dict[str, Any] = {"kind": "ws_message", "user": user, "socket": socket}
        if isinstance(data, bytes):
            entry["binary_bytes"] = len(data)
        else:
            entry["text"] = redact_text(data[:MAX_BODY_BYTES])
            if len(data) > MAX_BODY_BYTES:
                entry["text_chars"] = len(data)
        self._append(entry)

    def record_ws_close(
        self, user: str | None, socket: int, code: int | None, closed_by: str
    ) -> None:
        """A socket closed: its close code and who closed it (``server`` or ``client``)."""
        self._append(
            {"kind": "ws_close", "user": user, "socket": socket, "code": code, "by": closed_by}
        )

    def record(self, kind: str, **fields: Any) -> None:
        """Any other entry kind (a fault, ...)."""
        self._append({"kind": kind, **fields})

    def entries(self) -> list[dict[str, Any]]:
        """The entries held, oldest first, times as the clock's numbers (for the domain's
        own readers: verification, coverage)."""
        return list(self._settled_entries())

    def formatted(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` as readers get it: its time written as the API writes times."""
        return {**entry, "time": self._time_format(entry["time"])}

    def format_time(self, seconds: float) -> str:
        """A clock time as entries show it."""
        return self._time_format(seconds)

    def since(self, seq: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries after ``seq``, oldest first, and how many of those the bound dropped."""
        held = self._settled_entries()
        oldest = held[0]["seq"] if held else self.last_seq + 1
        # Sequence numbers are consecutive inside the deque, so the start is an index.
        # Clamped to the length: islice refuses an index past sys.maxsize (a huge ``since``).
        start = min(max(0, seq - oldest + 1), len(held))
        time_format = self._time_format
        entries = [
            {**entry, "time": time_format(entry["time"])}
            for entry in itertools.islice(held, start, None)
        ]
        # Entries a clear forgot are not losses: without the max, a DELETE (or a reset) of N
        # entries made every later read report N dropped.
        return entries, max(0, oldest - 1 - max(seq, self._cleared_through))

    def clear(self) -> None:
        """Forget every entry; sequence numbers keep growing so readers never see a reuse."""
        self._entries.clear()
        self._sizes.clear()
        self.size = 0
        self._unread_from = 0
        self._cleared_through = self.last_seq


class RequestSide(NamedTuple):
    """What a request sent, as it arrived; the journal redacts it when it is read.

    ``headers`` is the request's header lines, ``name:value`` joined by CRLF, as bytes (a
    value never holds a line break); ``query`` its query's (name, value) pairs; ``body`` the
    body as read, of type ``media``, and ``declared`` the size of a body that was not read
    (see :func:`~mockapi.domain.redaction.read_body`).
    """

    headers: bytes
    query: tuple[tuple[str, str], ...] = ()
    media: str = ""
    body: bytes = b""
    declared: int | None = None

    def settle(self) -> dict[str, Any]:
        """The entry's request fields, redacted: ``query``, ``headers``, ``body`` and, when
        part of the body was left out, ``body_omitted``."""
        lines = self.headers.split(_LINES) if self.headers else []
        pairs = [line.decode("utf-8", "surrogateescape").partition(":")[::2] for line in lines]
        body, omitted = (
            read_body(self.media, self.body, self.declared)
            if self.body or self.declared
            else (None, None)
        )
        fields: dict[str, Any] = {
            "query": redact_query(self.query),
            "headers": redact_headers(pairs),
            "body": body,
        }
        if omitted is not None:
            fields["body_omitted"] = omitted
        return fields


#: An HTTP entry as recorded: seq, time, method, path, status, user, the request side's
#: fields (headers, query, media, body, declared) and extra (see :meth:`Journal.record_http`).
_Unread = tuple[
    int, float, str, str, int | None, str | None,
    bytes | None, tuple[tuple[str, str], ...], str, bytes, int | None,
    dict[str, Any] | None,
]  # fmt: skip


def _settled(entry: _Unread) -> dict[str, Any]:
    """An HTTP entry as readers get it: its keys in the order seq, time, kind, method, path,
    status, user, query, headers, body, then what a fault or the answer added."""
    seq, time, method, path, status, user, headers, query, media, body, declared, extra = entry
    settled: dict[str, Any] = {
        "seq": seq,
        "time": time,
        "kind": "http",
        "method": method,
        "path": path,
        "status": status,
        "user": user,
    }
    if headers is not None:
        settled.update(RequestSide(headers, query, media, body, declared).settle())
    if extra:
        settled.update(extra)
    return settled


#: How :class:`RequestSide` joins header lines, and a name to its value.
_LINES, _COLON = b"\r\n", b":"


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Header (name, value) pairs, as they arrived, the way :class:`RequestSide` keeps them."""
    return _LINES.join(map(_COLON.join, headers))


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """Header (name, value) pairs, decoded, the way :class:`RequestSide` keeps them (the HTTP
    parser decodes a header as UTF-8 with surrogate escapes)."""
    return header_lines(
        (name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape"))
        for name, value in headers
    )


def request_side(
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    media: str,
    raw: bytes,
    declared: int | None = None,
) -> RequestSide:
    """What a request sent, from its query and headers as (name, value) pairs, its body's
    media type and bytes, and ``declared``, the size of a body that was not read."""
    return RequestSide(header_block(headers), tuple(query), media, raw, declared)
