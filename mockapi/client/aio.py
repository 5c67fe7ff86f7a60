"""The async face of the control client, on aiohttp (mockapi's own HTTP library).

The same calls and plans as the sync face (:mod:`mockapi.client.core`), carried out with
``await``: a session of its own, kept for the client's life (``async with``). A wait's
``timeout`` counts scenario seconds, which ``asyncio.timeout`` cannot measure: the parameter
is the interface here (hence ASYNC109 is silenced on it).
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from mockapi.client import core
from mockapi.client.core import Answer, Call, Pause, Plan, WaitPolicy

T = TypeVar("T")

DEFAULT_REQUEST_TIMEOUT_S = 30.0


class AsyncClient:
    """The control routes and the waits, awaited; ``async with AsyncClient(url) as ctl: ...``."""

    def __init__(
        self,
        url: str = core.DEFAULT_URL,
        service_token: str | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = core.normalize_url(url)
        self.service_token = service_token
        self.request_timeout = request_timeout
        #: For an ``https://`` server: the context to connect with (default: the system's CAs).
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (a later call opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the transport -------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self.service_token is not None:
                headers[core.SERVICE_TOKEN_HEADER] = self.service_token
            connector = (
                aiohttp.TCPConnector(ssl=self.ssl_context) if self.ssl_context is not None else None
            )
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                connector=connector,
            )
        return self._session

    async def _exchange(self, call: Call[Any]) -> Answer:
        headers = {} if call.content_type is None else {"Content-Type": call.content_type}
        try:
            async with self._open().request(
                call.method, self.url + call.path, data=call.body, headers=headers
            ) as response:
                return Answer(response.status, await response.read())
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise core.Unreachable(
                f"cannot reach {self.url} ({call.method} {call.path}): {reason}"
            ) from None

    async def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (:class:`~mockapi.client.core.Refused` on an
        error status)."""
        return call.read(await self._exchange(call))

    async def run(self, plan: Plan[T]) -> T:
        """Carry a plan out: send its calls, sleep its pauses, return what it returns."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(await self.send(step))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            plan.close()

    # -- the control routes --------------------------------------------------------------
    async def clock(self) -> dict[str, Any]:
        """The clock: ``{"now", "mode", "time_scale"}``."""
        return await self.send(core.get_clock())

    async def set_clock(
        self, *, mode: str | None = None, time_scale: float | None = None
    ) -> dict[str, Any]:
        """Switch the clock's mode and/or scale; answers the clock."""
        return await self.send(core.set_clock(mode=mode, time_scale=time_scale))

    async def advance(self, seconds: float) -> dict[str, Any]:
        """Move time ahead; answers once the frames it caused went out, with the clock."""
        return await self.send(core.set_clock(advance_s=seconds))

    async def reset(self) -> dict[str, Any]:
        """Back to the scenario's start: ``{"world": {...}, "clock": {...}}``."""
        return await self.send(core.reset())

    async def scenario(self) -> dict[str, Any]:
        """The active scenario, every default filled in."""
        return await self.send(core.get_scenario())

    async def put_scenario(self, text: str | bytes, content_type: str) -> dict[str, Any]:
        """Replace the world with a scenario (``application/toml`` or ``/json``) and reset."""
        return await self.send(core.put_scenario(text, content_type))

    async def put_scenario_file(self, path: str | Path) -> dict[str, Any]:
        """Replace the world with a scenario file (``.toml`` or ``.json``) and reset."""
        path = Path(path)
        return await self.put_scenario(path.read_bytes(), core.scenario_type(path.suffix))

    async def force(self, task_id: str | uuid.UUID, status: str) -> dict[str, Any]:
        """Force a task's transition (pushed like any other); answers the task."""
        return await self.send(core.force(task_id, status))

    async def token(self, username: str, ttl_s: float | None = None) -> str:
        """An access token for any scenario user, MFA skipped."""
        return await self.send(core.issue_token(username, ttl_s))

    async def journal(self, since: int = 0) -> dict[str, Any]:
        """The journal after ``since``: ``{"entries": [...], "dropped": N}``."""
        return await self.send(core.get_journal(since))

    async def clear_journal(self) -> None:
        """Forget every journal entry (sequence numbers keep counting)."""
        await self.send(core.clear_journal())

    async def faults(self) -> list[dict[str, Any]]:
        """Every fault, with ``remaining`` and ``hits``."""
        return await self.send(core.list_faults())

    async def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a fault (the scenario's ``[[faults]]`` keys); answers it with its id."""
        return await self.send(core.add_fault(spec))

    async def remove_fault(self, fault_id: str) -> None:
        """Remove one fault (:class:`Refused` 404 when there is none)."""
        await self.send(core.remove_fault(fault_id))

    async def clear_faults(self) -> None:
        """Remove every fault, the scenario's included (until a reset)."""
        await self.send(core.clear_faults())

    async def tls(self) -> dict[str, Any]:
        """What ``--tls`` shows new connections: ``{"enabled", "certificate", "ca_file", ...}``."""
        return await self.send(core.get_tls())

    async def certificate(self, name: str) -> dict[str, Any]:
        """Show certificate ``name`` (``valid``, ``expired``, ...) to new connections."""
        return await self.send(core.set_tls(name))

    async def coverage(self) -> dict[str, Any]:
        """What the suite reached since the last reset: ``{"machines", "errors", "routes",
        "faults"}``."""
        return await self.send(core.get_coverage())

    async def verify(
        self,
        request: Mapping[str, Any],
        *,
        exactly: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        within_s: float | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The journal entries ``request`` matches when the expectation holds; else raises
        :class:`~mockapi.client.core.NotVerified` with the server's explanation."""
        return await self.send(
            core.verify(
                request,
                exactly=exactly,
                at_least=at_least,
                at_most=at_most,
                within_s=within_s,
                after=after,
            )
        )

    async def conformance(self) -> list[dict[str, Any]]:
        """Each client rule: ``{"id", "status", "evidence", "detail"}``."""
        return await self.send(core.get_conformance())

    async def tasks(self) -> list[dict[str, Any]]:
        """Every task, each with its ``user_id``."""
        return await self.send(core.all_tasks())

    # -- waits ---------------------------------------------------------------------------
    async def wait_task(
        self,
        task_id: str | uuid.UUID,
        status: str,
        *,
        timeout: float = core.DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 (scenario seconds)
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
        since: int = 0,
    ) -> dict[str, Any]:
        """Until the task has ``status`` (see :mod:`mockapi.client.core` for how time moves)."""
        policy = WaitPolicy(timeout, advance, step)
        return await self.run(core.wait_task(task_id, status, policy, since))

    async def wait_frame(
        self,
        user: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        task_id: str | uuid.UUID | None = None,
        since: int = 0,
        timeout: float = core.DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 (scenario seconds)
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
    ) -> dict[str, Any]:
        """Until a task frame has gone to ``user``; returns its journal entry."""
        probe = core.frame_probe(
            user, status, kind, None if task_id is None else str(task_id), since
        )
        return await self.run(core.wait(probe, WaitPolicy(timeout, advance, step)))

    async def wait_journal(
        self,
        match: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool],
        *,
        since: int = 0,
        timeout: float = core.DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 (scenario seconds)
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
    ) -> dict[str, Any]:
        """Until a journal entry matches; returns it."""
        probe = core.entry_probe(match, since)
        return await self.run(core.wait(probe, WaitPolicy(timeout, advance, step)))

    async def login(self, username: str, password: str | None, otp: str | None = None) -> str:
        """Log in through the API's own route; returns the access token."""
        return await self.send(core.login(username, password, otp))
