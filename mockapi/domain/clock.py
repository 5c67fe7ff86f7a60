"""The scenario clock: the one source of time for OTP codes, tokens, task timestamps and delays.

Nothing else in mockapi may read the wall clock. A test switches the clock to manual mode and
moves time with :meth:`Clock.advance`, so task lifecycles run instantly and deterministically;
a person runs it in real mode, optionally faster (``time_scale``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from mockapi.domain.listeners import Listeners

log = logging.getLogger(__name__)

ClockMode = Literal["real", "manual"]


def iso_z(moment: datetime) -> str:
    """Format an aware UTC datetime as the API does: ISO 8601 ending in ``Z``."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


class Timer:
    """A callback due at a scenario time; cancel it to drop it."""

    __slots__ = ("callback", "cancelled", "due", "seq")

    def __init__(self, due: float, seq: int, callback: Callable[[], None]) -> None:
        self.due = due
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Scenario time as Unix seconds, with timers that fire in time order.

    In real mode time flows at ``time_scale`` times the wall clock and timers are armed on
    the running event loop. In manual mode time stands still until :meth:`advance`. Both
    modes keep every pending timer in one heap, so switching mode or scale never loses one.
    """

    def __init__(
        self,
        start: float | None = None,
        mode: ClockMode = "real",
        time_scale: float = 1.0,
    ) -> None:
        self._validate_scale(time_scale)
        self._mode: ClockMode = mode
        self._scale = time_scale
        self._anchor_value = time.time() if start is None else start
        self._anchor_mono = time.monotonic()
        #: A heap of (due, seq, timer): tuples compare in C, a Timer's ``__lt__`` in Python
        #: (a push or pop compares ~log2(n) times; a load test keeps thousands of timers).
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._firing = False
        #: Told after each change of mode, scale or time (not as real time flows by).
        self.listeners = Listeners()

    @staticmethod
    def _validate_scale(time_scale: float) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be greater than 0")

    # -- reading -------------------------------------------------------------------------
    @property
    def mode(self) -> ClockMode:
        return self._mode

    @property
    def time_scale(self) -> float:
        return self._scale

    def time(self) -> float:
        """Scenario time as Unix seconds (a float, like ``time.time()``)."""
        if self._mode == "manual":
            return self._anchor_value
        return self._anchor_value + (time.monotonic() - self._anchor_mono) * self._scale

    def now(self) -> datetime:
        """Scenario time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    @property
    def pending(self) -> int:
        """How many timers are still waiting."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    # -- steering ------------------------------------------------------------------------
    def _reanchor(self) -> None:
        self._anchor_value = self.time()
        self._anchor_mono = time.monotonic()

    def set_mode(self, mode: ClockMode) -> None:
        self._reanchor()
        self._mode = mode
        self._arm()
        self.listeners()

    def set_time_scale(self, time_scale: float) -> None:
        self._validate_scale(time_scale)
        self._reanchor()
        self._scale = time_scale
        self._arm()
        self.listeners()

    def reset(self, start: float | None, mode: ClockMode, time_scale: float) -> None:
        """Drop every timer and start over at ``start`` (now when None)."""
        self._validate_scale(time_scale)
        for _, _, timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._mode = mode
        self._scale = time_scale
        self._anchor_value = time.time() if start is None else start
        self._anchor_mono = time.monotonic()
        self._arm()
        self.listeners()

    def _jump_to(self, value: float) -> None:
        current = self.time()
        if value > current:
            self._anchor_value += value - current

    def advance(self, seconds: float) -> int:
        """Move time ahead by ``seconds``, firing every timer due on the way, in time order.

        Timers scheduled by a firing callback run too if they fall inside the window, so one
        advance can carry a task from PENDING through RUNNING to its end. Each callback sees
        the clock at its own due time. Returns how many timers fired.
        """
        if seconds < 0:
            raise ValueError("cannot advance the clock backwards")
        target = self.time() + seconds
        fired = self._fire_due(until=target)
        self._jump_to(target)
        self._arm()
        self.listeners()
        return fired

    # -- timers --------------------------------------------------------------------------
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``delay_s`` scenario seconds."""
        timer = Timer(self.time() + max(delay_s, 0.0), next(self._seq), callback)
        heapq.heappush(self._timers, (timer.due, timer.seq, timer))
        if self._timers[0][2] is timer:
            self._arm()
        return timer

    def _fire_due(self, until: float) -> int:
        fired = 0
        self._firing = True
        try:
            while self._timers and self._timers[0][0] <= until:
                timer = heapq.heappop(self._timers)[2]
                if timer.cancelled:
                    continue
                self._jump_to(timer.due)
                fired += 1
                try:
                    timer.callback()
                except Exception:
                    # A broken callback must not stop the clock for every other task.
                    log.exception("timer callback failed")
        finally:
            self._firing = False
        return fired

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if self._mode != "real" or not self._timers or self._firing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # armed again on the next call made from inside the loop
        delay = max((self._timers[0][0] - self.time()) / self._scale, 0.0)
        self._handle = loop.call_later(delay, self._wake)

    def _wake(self) -> None:
        self._handle = None
        self._fire_due(until=self.time())
        self._arm()

    def close(self) -> None:
        """Cancel the armed wake-up and every timer (server shutdown)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for _, _, timer in self._timers:
            timer.cancel()
        self._timers.clear()
