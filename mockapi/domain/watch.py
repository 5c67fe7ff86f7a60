"""``--watch``: reload the scenario file when it changes.

A valid edit replaces the world (like ``PUT /service/scenario/``); an invalid one, or one that
would go over a limit of the world, keeps the old world and logs every problem, so a typo never
takes a running mock down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from mockapi.domain.limits import LimitExceeded
from mockapi.domain.scenario import Scenario, ScenarioError, load_scenario

log = logging.getLogger(__name__)

POLL_S = 0.5


class ScenarioWatcher:
    """Notices changes of one scenario file and hands valid new scenarios to ``apply``."""

    def __init__(self, path: Path, apply: Callable[[Scenario], Awaitable[None]]) -> None:
        self.path = path
        self._apply = apply
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    async def check(self) -> bool | None:
        """Reload if the file changed: True applied, False rejected, None unchanged."""
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            scenario = load_scenario(self.path)
            await self._apply(scenario)
        except (ScenarioError, LimitExceeded) as exc:
            log.warning(
                "scenario %s changed but is invalid; keeping the running world:\n  %s",
                self.path,
                "\n  ".join(exc.problems),
            )
            return False
        log.info("scenario %s reloaded; the world was reset", self.path)
        return True

    async def poll(self) -> None:
        """Check the file every :data:`POLL_S` seconds, until cancelled."""
        while True:
            await asyncio.sleep(POLL_S)
            await self.check()
