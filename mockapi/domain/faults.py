"""Fault injection: the backend misbehaves on purpose, reproducibly.

A fault matches HTTP requests (``method``, ``path``, ``user``) or task frames (``user``,
``frame_status``, ``frame_kind``) and does something to them: it delays, fails or drops an
answer, resets, hangs, cuts or slows its connection, answers as a reverse proxy would, or
closes, aborts, deafens, loses or delays WebSocket frames. ``probability`` is drawn from a generator
of the fault's own, seeded from the scenario seed and the fault id: the same seed faults the
same requests, and adding a fault shifts neither the task outcomes (the world's generator) nor
the draws of the other faults. The first matching fault that fires wins; a fault's ``count``
spends it.

A fault never corrupts the world. A dropped answer is dropped *after* its handler ran, as a
lost response would be: the task it created exists. A lost frame is only not sent: the task
still changes state. Every fault that fires is written to the journal (``kind: "fault"``).

This module decides which fault fires; it knows no HTTP library. How an HTTP fault then acts
on the request, and in which order, is :mod:`mockapi.web.middleware`'s. The WebSocket side is
:meth:`FaultEngine.publish`, which every task frame passes through on its way to the
sockets, reached through the small :class:`Sockets` protocol (the hub implements it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mockapi.domain.clock import Clock, Timer
from mockapi.domain.journal import Journal
from mockapi.domain.urls import is_faultable

if TYPE_CHECKING:
    from mockapi.domain.world import User, World

from mockapi.domain.faultspec import (
    FaultOut,
    FaultSpec,
    compile_path,
)

log = logging.getLogger(__name__)


class Sockets(Protocol):
    """What the fault engine needs of the WebSocket hub."""

    def has_open(self, user_id: uuid.UUID) -> bool:
        """Whether the user has a socket that frames can still reach."""
        ...

    def close_after_sent(self, user_id: uuid.UUID, code: int) -> int:
        """Close the user's sockets with ``code`` once what was queued is sent; how many."""
        ...

    def abort_after_sent(self, user_id: uuid.UUID) -> int:
        """End the user's connections without a close frame once what was queued is sent."""
        ...

    def deafen(self, user_id: uuid.UUID) -> tuple[int, Callable[[], int]]:
        """Stop sending to the user's sockets and answering their pings.

        Returns how many sockets went deaf, and what aborts them (how many were still open).
        """
        ...

    def abort_deaf(self) -> int:
        """Abort every deaf socket now (a reset); how many."""
        ...


@dataclass(eq=False)
class ActiveFault:
    """A loaded fault: its spec, its id, what is left of it, and its own generator."""

    spec: FaultSpec
    id: str
    rng: random.Random
    remaining: int | None
    pattern: re.Pattern[str] | None = None
    user_id: uuid.UUID | None = None
    hits: int = 0

    @property
    def spent(self) -> bool:
        return self.remaining == 0

    def fire(self) -> bool:
        """Draw the probability and spend one use; True if the fault acts now."""
        if self.spent:
            return False
        probability = self.spec.probability
        # A certain fault has nothing to draw: its stream moves only for faults that can miss.
        if probability < 1 and self.rng.random() >= probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1
        return True

    def view(self) -> FaultOut:
        data = self.spec.model_dump()
        data.update(id=self.id, remaining=self.remaining, hits=self.hits)
        return FaultOut.model_validate(data)


@dataclass(frozen=True, slots=True)
class HttpHit:
    """A fault that fired on a request, and who made the request (when known)."""

    fault: ActiveFault
    user: User | None

    @property
    def username(self) -> str | None:
        return self.user.username if self.user is not None else None


@dataclass(eq=False, slots=True)
class _Held:
    """A frame held by ``delay_frames_s`` (or one queued behind it), and a close to follow."""

    release_at: float
    frame: dict[str, Any] | None
    close: ActiveFault | None = None
    timer: Timer | None = None


@dataclass(eq=False, slots=True)
class _Burst:
    fault: ActiveFault
    left: int


class DuplicateFault(ValueError):
    """A fault with that id exists already."""


class UnknownUser(ValueError):
    """A fault names a user the world does not have."""


Deliver = Callable[[uuid.UUID, dict[str, Any]], None]
Requester = Callable[[], Awaitable["User | None"]]
_UNKNOWN: Any = object()


class FaultEngine:
    """The active faults, and what they are doing right now (held frames, loss bursts, delays).

    ``deliver`` journals a frame and hands it to the hub: what :meth:`publish` calls for every
    frame a fault leaves alone. :meth:`load` (at every reset) must run before anything else.
    """

    def __init__(self, clock: Clock, journal: Journal, sockets: Sockets, deliver: Deliver) -> None:
        self.clock = clock
        self.journal = journal
        self.sockets = sockets
        self.deliver = deliver
        #: In matching order: the first that matches and fires wins. Changed only through
        #: load, add, remove and clear, which keep the two flags below up to date.
        self.faults: list[ActiveFault] = []
        #: Whether an unspent HTTP fault, or frame fault, is loaded: every request (and every
        #: frame) asks, and scanning the list costs even when it is empty. Set by
        #: :meth:`_refresh`, after every change to the list and every use that spends a fault.
        self._http_live = False
        self._frames_live = False
        self._world: World | None = None
        #: Frames held per user by ``delay_frames_s``, and the ones queued behind them.
        self._held: dict[uuid.UUID, deque[_Held]] = {}
        #: Users whose next frames are being lost by ``lose_frames``.
        self._bursts: dict[uuid.UUID, _Burst] = {}
        self._sleepers: set[asyncio.Future[None]] = set()
        #: Task frames by fate since start (``sent`` counts a delayed frame when it goes), and
        #: the actions faults took, by name: read by ``GET /metrics``.
        self.frames: dict[str, int] = {"sent": 0, "lost": 0, "delayed": 0}
        self.fired: dict[str, int] = {}

    # -- loading and the control API -------------------------------------------------------
    def load(self, specs: Sequence[FaultSpec], world: World) -> None:
        """Start over with ``specs`` (a reset): control-added faults, holds and bursts go."""
        for hold in self._held.values():
            for entry in hold:
                if entry.timer is not None:
                    entry.timer.cancel()
        self._held.clear()
        self._bursts.clear()
        self.release()
        # A deaf socket's timer went with the clock's: the reset ends its silence now.
        self.sockets.abort_deaf()
        self._world = world
        self.faults = []
        given = {spec.id for spec in specs if spec.id is not None}
        for spec in specs:
            # The scenario loader checked the user references and the uniqueness of the ids.
            self.faults.append(self._activate(spec, spec.id or self._new_id(given)))
        self._refresh()

    def add(self, spec: FaultSpec) -> ActiveFault:
        """Add ``spec`` after the others; raises :class:`DuplicateFault`, :class:`UnknownUser`."""
        if spec.id is not None and self.get(spec.id) is not None:
            raise DuplicateFault(spec.id)
        fault = self._activate(spec, spec.id or self._new_id())
        self.faults.append(fault)
        self._refresh()
        log.info("fault %s added: %s", fault.id, _describe(spec))
        return fault

    def get(self, fault_id: str) -> ActiveFault | None:
        """The fault with that id, or None."""
        return next((fault for fault in self.faults if fault.id == fault_id), None)

    def remove(self, fault_id: str) -> bool:
        """Remove a fault; a loss burst it started stops. False if there is no such fault."""
        fault = self.get(fault_id)
        if fault is None:
            return False
        self.faults.remove(fault)
        self._refresh()
        self._bursts = {uid: b for uid, b in self._bursts.items() if b.fault is not fault}
        return True

    def clear(self) -> None:
        """Remove every fault (frames already held still arrive when due)."""
        self.faults = []
        self._refresh()
        self._bursts.clear()

    def _refresh(self) -> None:
        self._http_live = any(fault.spec.on_http and not fault.spent for fault in self.faults)
        self._frames_live = any(not fault.spec.on_http and not fault.spent for fault in self.faults)

    def _fire(self, fault: ActiveFault) -> bool:
        """:meth:`ActiveFault.fire`, refreshing the flags when that use was the last."""
        fired = fault.fire()
        if fired and fault.spent:
            self._refresh()
        return fired

    def _new_id(self, reserved: Iterable[str] = ()) -> str:
        taken = {fault.id for fault in self.faults} | set(reserved)
        n = 1
        while f"fault-{n}" in taken:
            n += 1
        return f"fault-{n}"

    def _activate(self, spec: FaultSpec, fault_id: str) -> ActiveFault:
        assert self._world is not None, "load() first"
        user_id = None
        if spec.user is not None:
            user = self._world.user(spec.user)
            if user is None:
                raise UnknownUser(spec.user)
            user_id = user.id
        return ActiveFault(
            spec=spec,
            id=fault_id,
            # Seeded from the world's seed (``--seed`` included) and the id: a string seed is
            # hashed with SHA-512, the same on every run and every Python.
            rng=random.Random(f"mockapi-fault:{self._world.seed}:{fault_id}"),
            remaining=spec.count,
            pattern=compile_path(spec.path) if spec.path is not None else None,
            user_id=user_id,
        )

    # -- HTTP ------------------------------------------------------------------------------
    @property
    def on_http(self) -> bool:
        """Whether any fault may still act on a request (the middleware's fast path)."""
        return self._http_live

    async def match_http(self, method: str, path: str, requester: Requester) -> HttpHit | None:
        """The first fault that matches the request and fires, or None.

        ``requester`` finds who makes the request; it is asked only when a fault names a user
        or fires, since it may have to read the body (a login names its user there).
        """
        if not is_faultable(path):
            return None
        user: User | None = _UNKNOWN
        for fault in tuple(self.faults):  # the requester awaits: the list may change meanwhile
            spec = fault.spec
            if not spec.on_http or fault.spent:
                continue
            if spec.method is not None and spec.method != method:
                continue
            if fault.pattern is not None and not fault.pattern.fullmatch(path):
                continue
            if fault.user_id is not None:
                if user is _UNKNOWN:
                    user = await requester()
                if user is None or user.id != fault.user_id:
                    continue
            if not self._fire(fault):
                continue
            if user is _UNKNOWN:
                user = await requester()
            return HttpHit(fault, user)
        return None

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of scenario time: under a manual clock, until an advance covers it.

        A reset or the server's shutdown ends the wait early (the clock drops its timers).
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.clock.call_later(seconds, lambda: _resolve(waiter))
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._sleepers.discard(waiter)

    @property
    def sleeping(self) -> int:
        """How many requests wait in a ``delay_s`` right now."""
        return len(self._sleepers)

    def release(self) -> None:
        """End every ``delay_s`` wait now (a reset, the server's shutdown)."""
        for waiter in tuple(self._sleepers):
            _resolve(waiter)

    def note_http(self, hit: HttpHit, action: str, method: str, path: str, **fields: Any) -> None:
        """Journal and log what a fault did to a request, and count the action."""
        self.fired[action] = self.fired.get(action, 0) + 1
        self.journal.record(
            "fault",
            fault=hit.fault.id,
            action=action,
            user=hit.username,
            method=method,
            path=path,
            **fields,
        )
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        log.info(
            "fault %s: %s on %s %s (user %s) %s",
            hit.fault.id, action, method, path, hit.username, details,
        )  # fmt: skip

    # -- WebSocket frames ------------------------------------------------------------------
    def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        """Send a task frame through the WebSocket faults to ``deliver``; never waits.

        Faults act only on frames that would reach a socket (the user has one open): a
        frame nobody would receive cannot be lost, late or followed by a close.
        """
        fault: ActiveFault | None = None
        if (self._bursts or self._on_frames) and self._has_socket(user_id):
            burst = self._bursts.get(user_id)
            if burst is not None:
                burst.left -= 1
                if burst.left == 0:
                    del self._bursts[user_id]
                self.frames["lost"] += 1
                self._note_ws(
                    burst.fault, "lose_frames", user_id, fired=False, frame=frame, left=burst.left
                )
                return
            fault = self._match_frame(user_id, frame)
        if fault is None:
            self._send(user_id, frame)
            return
        spec = fault.spec
        ends = spec.close is not None or spec.abort
        if spec.deaf:
            self._deafen(fault, user_id, frame)
            return
        if spec.lose_frames is not None:
            left = spec.lose_frames - 1
            if left:
                self._bursts[user_id] = _Burst(fault, left)
            self.frames["lost"] += 1
            self._note_ws(fault, "lose_frames", user_id, frame=frame, left=left)
            if ends:
                self._send(user_id, None, close=fault)
            return
        if spec.delay_frames_s is not None:
            self.frames["delayed"] += 1
            self._note_ws(
                fault, "delay_frames_s", user_id, frame=frame, delay_frames_s=spec.delay_frames_s
            )
            self._hold(user_id, frame, spec.delay_frames_s, close=fault if ends else None)
            return
        self._send(user_id, frame, close=fault)

    def _deafen(self, fault: ActiveFault, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        """The user's open sockets go deaf; after ``delay_s`` (if given) they are aborted."""
        sockets, abort = self.sockets.deafen(user_id)
        self.frames["lost"] += 1
        delay_s = fault.spec.delay_s
        self._note_ws(fault, "deaf", user_id, frame=frame, sockets=sockets, delay_s=delay_s)
        if delay_s is None:
            return

        def end() -> None:
            aborted = abort()
            self._note_ws(fault, "abort", user_id, fired=False, sockets=aborted, after="deaf")

        self.clock.call_later(delay_s, end)

    @property
    def _on_frames(self) -> bool:
        return self._frames_live

    def _has_socket(self, user_id: uuid.UUID) -> bool:
        return self.sockets.has_open(user_id)

    def _match_frame(self, user_id: uuid.UUID, frame: dict[str, Any]) -> ActiveFault | None:
        for fault in self.faults:
            spec = fault.spec
            if spec.on_http or fault.spent:
                continue
            if fault.user_id is not None and fault.user_id != user_id:
                continue
            if spec.frame_status is not None and spec.frame_status != frame.get("status"):
                continue
            if spec.frame_kind is not None and spec.frame_kind != frame.get("kind"):
                continue
            if self._fire(fault):
                return fault
        return None

    def _send(
        self, user_id: uuid.UUID, frame: dict[str, Any] | None, close: ActiveFault | None = None
    ) -> None:
        """Deliver now, or queue behind held frames: a TCP stream never reorders frames."""
        hold = self._held.get(user_id)
        if hold:
            hold.append(_Held(hold[-1].release_at, frame, close))
            return
        self._emit(user_id, frame, close)

    def _hold(
        self, user_id: uuid.UUID, frame: dict[str, Any], delay_s: float, close: ActiveFault | None
    ) -> None:
        hold = self._held.setdefault(user_id, deque())
        now = self.clock.time()
        # Never before the frames already held: they must still arrive first.
        release_at = max(now + delay_s, hold[-1].release_at if hold else now)
        entry = _Held(release_at, frame, close)
        hold.append(entry)
        entry.timer = self.clock.call_later(release_at - now, lambda: self._release(user_id, entry))

    def _release(self, user_id: uuid.UUID, upto: _Held) -> None:
        """Send the held frames of ``user_id`` up to and including ``upto``, in order."""
        hold = self._held.get(user_id)
        if hold is None or upto not in hold:
            return  # released already, together with an earlier entry, or dropped by a reset
        while hold:
            entry = hold.popleft()
            self._emit(user_id, entry.frame, entry.close)
            if entry is upto:
                break
        # Frames queued behind without a timer of their own go with the last held one.
        while hold and hold[0].timer is None:
            entry = hold.popleft()
            self._emit(user_id, entry.frame, entry.close)
        if not hold:
            del self._held[user_id]

    def _emit(
        self, user_id: uuid.UUID, frame: dict[str, Any] | None, close: ActiveFault | None
    ) -> None:
        if frame is not None:
            self.frames["sent"] += 1
            self.deliver(user_id, frame)
        if close is not None and close.spec.abort:
            sockets = self.sockets.abort_after_sent(user_id)
            self._note_ws(close, "abort", user_id, frame=frame, sockets=sockets)
        elif close is not None and close.spec.close is not None:
            sockets = self.sockets.close_after_sent(user_id, close.spec.close)
            self._note_ws(
                close, "close", user_id, frame=frame, code=close.spec.close, sockets=sockets
            )

    def _note_ws(
        self,
        fault: ActiveFault,
        action: str,
        user_id: uuid.UUID,
        *,
        fired: bool = True,
        **fields: Any,
    ) -> None:
        """Journal and log what a fault did to frames; count the action unless it is the
        continuation of one already counted (the rest of a loss burst, a deaf socket's end)."""
        if fired:
            self.fired[action] = self.fired.get(action, 0) + 1
        user = self._world.users.get(user_id) if self._world is not None else None
        username = user.username if user is not None else None
        self.journal.record("fault", fault=fault.id, action=action, user=username, **fields)
        log.info("fault %s: %s for user %s %s", fault.id, action, username, fields)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _describe(spec: FaultSpec) -> str:
    return ", ".join(
        f"{key}={value!r}"
        for key, value in spec.model_dump(exclude_defaults=True).items()
        if key != "id"
    )
