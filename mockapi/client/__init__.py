"""A client for mockapi's control routes, sync and async: the clock, the world, the journal,
faults, and waits that run on the scenario clock.

    from mockapi.client import Client

    with Client("http://127.0.0.1:8000") as ctl:
        ctl.advance(3)
        ctl.wait_task(task_id, "COMPLETED", timeout=120)

:class:`AsyncClient` has the same methods, awaited. Both carry out one implementation
(:mod:`mockapi.client.core`), which also says how waits use the clock. ``AsyncClient`` is
imported when first asked for: the sync face and ``mockapi ctl`` (run once per shell command)
do not pay for aiohttp's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mockapi.client.core import (
    BadAnswer,
    ControlError,
    NotVerified,
    Refused,
    Unreachable,
    WaitFailed,
    WaitPolicy,
    WaitTimeout,
)
from mockapi.client.sync import Client

if TYPE_CHECKING:
    from mockapi.client.aio import AsyncClient

__all__ = [
    "AsyncClient",
    "BadAnswer",
    "Client",
    "ControlError",
    "NotVerified",
    "Refused",
    "Unreachable",
    "WaitFailed",
    "WaitPolicy",
    "WaitTimeout",
]


def __getattr__(name: str) -> Any:
    if name == "AsyncClient":
        from mockapi.client.aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
