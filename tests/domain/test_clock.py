"""The scenario clock: manual and real time, and timers that fire in time order."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from mockapi.domain.clock import Clock, iso_z

START = 1_800_000_000.0
#: Fast enough that a timer minutes away in scenario time fires within microseconds of wall time.
HUGE_SCALE = 1e9
#: A safety net for waits on the event loop, never a sleep: the awaited event is already due.
WAIT_S = 5.0


def manual_clock() -> Clock:
    return Clock(start=START, mode="manual")


def test_manual_time_stands_still_until_advanced() -> None:
    clock = manual_clock()
    assert clock.time() == START
    assert clock.time() == START
    assert clock.now() == datetime.fromtimestamp(START, UTC)
    clock.advance(2.5)
    assert clock.time() == START + 2.5


def test_advance_fires_due_timers_in_time_order_not_scheduling_order() -> None:
    clock = manual_clock()
    fired: list[str] = []
    clock.call_later(5, lambda: fired.append("five"))
    clock.call_later(1, lambda: fired.append("one"))
    clock.call_later(3, lambda: fired.append("three"))
    clock.call_later(3, lambda: fired.append("three again"))  # same time: scheduling order
    clock.call_later(9, lambda: fired.append("nine"))

    assert clock.advance(5) == 4
    assert fired == ["one", "three", "three again", "five"]
    assert clock.pending == 1
    assert clock.time() == START + 5


def test_each_callback_sees_the_clock_at_its_own_due_time() -> None:
    clock = manual_clock()
    seen: list[float] = []
    for delay in (4, 1, 2.5):
        clock.call_later(delay, lambda: seen.append(clock.time()))
    clock.advance(10)
    assert seen == [START + 1, START + 2.5, START + 4]
    assert clock.time() == START + 10


def test_timers_scheduled_by_a_callback_fire_in_the_same_advance_when_inside_the_window() -> None:
    clock = manual_clock()
    fired: list[tuple[str, float]] = []

    def pending_over() -> None:
        fired.append(("running", clock.time()))
        clock.call_later(5, lambda: fired.append(("done", clock.time())))
        clock.call_later(50, lambda: fired.append(("too late", clock.time())))

    clock.call_later(3, pending_over)
    assert clock.advance(10) == 2
    assert fired == [("running", START + 3), ("done", START + 8)]
    assert clock.pending == 1
    clock.advance(43)
    assert fired[-1] == ("too late", START + 53)


def test_a_timer_due_exactly_at_the_end_of_the_window_fires() -> None:
    clock = manual_clock()
    fired: list[int] = []
    clock.call_later(3, lambda: fired.append(1))
    clock.advance(3)
    assert fired == [1]


def test_a_cancelled_timer_never_fires_and_is_not_pending() -> None:
    clock = manual_clock()
    fired: list[str] = []
    timer = clock.call_later(1, lambda: fired.append("cancelled"))
    clock.call_later(2, lambda: fired.append("kept"))
    timer.cancel()
    assert clock.pending == 1
    assert clock.advance(5) == 1
    assert fired == ["kept"]


def test_advance_zero_fires_timers_due_now_and_negative_is_refused() -> None:
    clock = manual_clock()
    fired: list[int] = []
    clock.call_later(0, lambda: fired.append(1))
    clock.call_later(-5, lambda: fired.append(2))  # a negative delay means "now"
    assert clock.advance(0) == 2
    assert fired == [1, 2]
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    assert clock.time() == START


def test_a_failing_callback_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    clock = manual_clock()
    fired: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    clock.call_later(1, broken)
    clock.call_later(2, lambda: fired.append("after"))
    with caplog.at_level(logging.ERROR, logger="mockapi.domain.clock"):
        assert clock.advance(3) == 2
    assert fired == ["after"]
    assert "timer callback failed" in caplog.text


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Clock(time_scale=0)
    clock = manual_clock()
    with pytest.raises(ValueError, match="greater than 0"):
        clock.set_time_scale(-1)
    assert clock.time_scale == 1.0


def test_switching_scale_keeps_pending_timers_and_the_current_time() -> None:
    clock = manual_clock()
    fired: list[float] = []
    clock.call_later(10, lambda: fired.append(clock.time()))
    clock.set_time_scale(100)
    assert clock.time_scale == 100
    assert clock.time() == START
    assert clock.pending == 1
    clock.advance(10)
    assert fired == [START + 10]


async def test_switching_mode_keeps_pending_timers_and_the_current_time() -> None:
    clock = Clock(start=START, mode="manual", time_scale=1.0)
    fired: list[float] = []
    clock.call_later(3600, lambda: fired.append(clock.time()))
    clock.set_mode("real")
    assert clock.mode == "real"
    assert clock.time() >= START
    clock.set_mode("manual")
    frozen = clock.time()
    assert clock.pending == 1
    assert frozen - START < 3600  # an hour of real time did not pass
    clock.advance(3600)
    assert fired == [START + 3600]
    clock.close()


async def test_real_mode_fires_timers_on_the_running_loop() -> None:
    clock = Clock(start=START, mode="real", time_scale=HUGE_SCALE)
    fired = asyncio.Event()
    due: list[float] = []

    def callback() -> None:
        due.append(clock.time())
        fired.set()

    clock.call_later(600, callback)  # ten scenario minutes: well under a millisecond of wall time
    await asyncio.wait_for(fired.wait(), WAIT_S)
    assert due[0] >= START + 600
    assert clock.pending == 0
    clock.close()


async def test_real_mode_time_flows_at_the_time_scale() -> None:
    clock = Clock(start=START, mode="real", time_scale=HUGE_SCALE)
    reached = asyncio.Event()
    clock.call_later(3600, reached.set)
    await asyncio.wait_for(reached.wait(), WAIT_S)
    assert clock.time() >= START + 3600
    clock.close()


async def test_timers_left_from_manual_mode_are_armed_when_switching_to_real() -> None:
    clock = Clock(start=START, mode="manual", time_scale=HUGE_SCALE)
    fired = asyncio.Event()
    clock.call_later(60, fired.set)
    clock.set_mode("real")
    await asyncio.wait_for(fired.wait(), WAIT_S)
    clock.close()


async def test_advance_in_real_mode_jumps_ahead_and_fires_what_came_due() -> None:
    clock = Clock(start=START, mode="real", time_scale=1.0)
    fired: list[str] = []
    clock.call_later(3600, lambda: fired.append("hour"))
    clock.call_later(7200, lambda: fired.append("two hours"))
    assert clock.advance(3600) == 1
    assert fired == ["hour"]
    assert clock.time() >= START + 3600
    assert clock.pending == 1
    clock.close()


def test_reset_drops_every_timer_and_starts_over() -> None:
    clock = manual_clock()
    fired: list[int] = []
    clock.call_later(1, lambda: fired.append(1))
    clock.advance(0.5)
    clock.reset(start=START - 100, mode="manual", time_scale=2.0)
    assert clock.pending == 0
    assert clock.time() == START - 100
    assert clock.time_scale == 2.0
    clock.advance(10)
    assert fired == []


async def test_close_cancels_every_timer() -> None:
    clock = Clock(start=START, mode="real", time_scale=1.0)
    fired: list[int] = []
    clock.call_later(1, lambda: fired.append(1))
    clock.close()
    assert clock.pending == 0
    clock.set_mode("manual")
    clock.advance(5)
    assert fired == []


def test_iso_z_prints_utc_with_microseconds_and_drops_zero_microseconds() -> None:
    assert iso_z(datetime(2026, 11, 25, 7, 45, 16, 710622, UTC)) == "2026-11-25T07:45:16.710622Z"
    assert iso_z(datetime(2022, 1, 1, tzinfo=UTC)) == "2022-01-01T00:00:00Z"
    assert iso_z(datetime.fromtimestamp(START, UTC)) == "2027-01-15T08:00:00Z"
