"""Control of scenario time: ``GET`` and ``POST /service/clock/``.

A test (or a person) reads the clock, switches it between real and manual time, changes its
speed, or jumps it ahead. An advance answers only after the frames of every transition it fired
were handed to the open sockets, so a client that gets the answer can read its frames at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from mockapi.clock import Clock, iso_z
from mockapi.keys import CLOCK, HUB
from mockapi.responses import json_response
from mockapi.validation import parse_body

#: One advance may cover at most a century: scenario time must stay inside what a datetime can
#: hold (year 9999), or every timestamp after it would fail.
MAX_ADVANCE_S = 3_155_760_000  # 100 years of 365.25 days
#: Faster than this, real-mode time would pass year 9999 within weeks of wall time.
MAX_TIME_SCALE = 10_000


class ClockUpdate(BaseModel):
    """Any of the three changes; only the keys present are applied (see ``model_fields_set``).

    The defaults are never applied; they exist so each field keeps its plain type, and an
    explicit ``null`` is refused like any other bad value.
    """

    model_config = ConfigDict(extra="forbid")

    advance_s: Annotated[float, Field(ge=0, le=MAX_ADVANCE_S, allow_inf_nan=False)] = 0.0
    time_scale: Annotated[float, Field(gt=0, le=MAX_TIME_SCALE, allow_inf_nan=False)] = 1.0
    mode: Literal["manual", "real"] = "manual"


def clock_view(clock: Clock) -> dict[str, object]:
    """The clock as the control API shows it."""
    return {"now": iso_z(clock.now()), "mode": clock.mode, "time_scale": float(clock.time_scale)}


async def get_clock(request: web.Request) -> web.StreamResponse:
    """``GET /service/clock/``: ``{"now","mode","time_scale"}``."""
    return json_response(clock_view(request.app[CLOCK]))


async def set_clock(request: web.Request) -> web.StreamResponse:
    """``POST /service/clock/``: switch mode, then scale, then advance; answer the new view.

    Mode and scale come first so ``{"mode": "manual", "advance_s": 10}`` moves exactly ten
    seconds. An advance works in real mode too (time jumps ahead).
    """
    update = await parse_body(request, ClockUpdate)
    clock = request.app[CLOCK]
    given = update.model_fields_set
    if "mode" in given:
        clock.set_mode(update.mode)
    if "time_scale" in given:
        clock.set_time_scale(update.time_scale)
    if "advance_s" in given:
        clock.advance(update.advance_s)
        await request.app[HUB].flush()
    return json_response(clock_view(clock))
