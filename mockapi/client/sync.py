"""The sync face of the control client, on the standard library's ``http.client``.

For plain ``def`` tests, shell tools and any program without an event loop; it adds no
dependency. One keep-alive connection is reused; when the server closed it while it sat idle
(its ``--idle-timeout``), the request is sent once more on a fresh connection: a server that
closes an idle connection has not read the request that found it closed.
"""

from __future__ import annotations

import http.client
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mockapi.client import core
from mockapi.client.core import Answer, Call, Pause, Plan, WaitPolicy

T = TypeVar("T")

DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: The errors of a kept-alive connection the server closed while it was idle.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Client:
    """The control routes and the waits, blocking; ``with Client(url) as ctl: ...``."""

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
        parts = urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connection (a later call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the transport -------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.request_timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.request_timeout)

    def _exchange(self, call: Call[Any]) -> Answer:
        headers = {"Accept": "application/json"}
        if call.content_type is not None:
            headers["Content-Type"] = call.content_type
        if self.service_token is not None:
            headers[core.SERVICE_TOKEN_HEADER] = self.service_token
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(call.method, self._prefix + call.path, call.body, headers)
                response = self._conn.getresponse()
                body = response.read()
            except STALE as exc:
                self.close()
                if reused and attempt == 1:
                    continue
                raise core.Unreachable(f"{call.method} {self.url}{call.path}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise core.Unreachable(
                    f"cannot reach {self.url} ({call.method} {call.path}): {reason}"
                ) from None
            if response.will_close:
                self.close()
            return Answer(response.status, body)
        raise AssertionError("unreachable")  # the loop returns or raises

    def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (:class:`~mockapi.client.core.Refused` on an
        error status)."""
        return call.read(self._exchange(call))

    def run(self, plan: Plan[T]) -> T:
        """Carry a plan out: send its calls, sleep its pauses, return what it returns."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(self.send(step))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            plan.close()

    # -- the control routes --------------------------------------------------------------
    def clock(self) -> dict[str, Any]:
        """The clock: ``{"now", "mode", "time_scale"}``."""
        return self.send(core.get_clock())

    def set_clock(
        self, *, mode: str | None = None, time_scale: float | None = None
    ) -> dict[str, Any]:
        """Switch the clock's mode and/or scale; answers the clock."""
        return self.send(core.set_clock(mode=mode, time_scale=time_scale))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move time ahead; answers once the frames it caused went out, with the clock."""
        return self.send(core.set_clock(advance_s=seconds))

    def reset(self) -> dict[str, Any]:
        """Back to the scenario's start: ``{"world": {...}, "clock": {...}}``."""
        return self.send(core.reset())

    def scenario(self) -> dict[str, Any]:
        """The active scenario, every default filled in."""
        return self.send(core.get_scenario())

    def put_scenario(self, text: str | bytes, content_type: str) -> dict[str, Any]:
        """Replace the world with a scenario (``application/toml`` or ``/json``) and reset."""
        return self.send(core.put_scenario(text, content_type))

    def put_scenario_file(self, path: str | Path) -> dict[str, Any]:
        """Replace the world with a scenario file (``.toml`` or ``.json``) and reset."""
        path = Path(path)
        return self.put_scenario(path.read_bytes(), core.scenario_type(path.suffix))

    def force(self, task_id: str | uuid.UUID, status: str) -> dict[str, Any]:
        """Force a task's transition (pushed like any other); answers the task."""
        return self.send(core.force(task_id, status))

    def token(self, username: str, ttl_s: float | None = None) -> str:
        """An access token for any scenario user, MFA skipped."""
        return self.send(core.issue_token(username, ttl_s))

    def journal(self, since: int = 0) -> dict[str, Any]:
        """The journal after ``since``: ``{"entries": [...], "dropped": N}``."""
        return self.send(core.get_journal(since))

    def clear_journal(self) -> None:
        """Forget every journal entry (sequence numbers keep counting)."""
        self.send(core.clear_journal())

    def faults(self) -> list[dict[str, Any]]:
        """Every fault, with ``remaining`` and ``hits``."""
        return self.send(core.list_faults())

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a fault (the scenario's ``[[faults]]`` keys); answers it with its id."""
        return self.send(core.add_fault(spec))

    def remove_fault(self, fault_id: str) -> None:
        """Remove one fault (:class:`Refused` 404 when there is none)."""
        self.send(core.remove_fault(fault_id))

    def clear_faults(self) -> None:
        """Remove every fault, the scenario's included (until a reset)."""
        self.send(core.clear_faults())

    def tls(self) -> dict[str, Any]:
        """What ``--tls`` shows new connections: ``{"enabled", "certificate", "ca_file", ...}``."""
        return self.send(core.get_tls())

    def certificate(self, name: str) -> dict[str, Any]:
        """Show certificate ``name`` (``valid``, ``expired``, ...) to new connections."""
        return self.send(core.set_tls(name))

    def coverage(self) -> dict[str, Any]:
        """What the suite reached since the last reset: ``{"machines", "errors", "routes",
        "faults"}``."""
        return self.send(core.get_coverage())

    def verify(
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
        return self.send(
            core.verify(
                request,
                exactly=exactly,
                at_least=at_least,
                at_most=at_most,
                within_s=within_s,
                after=after,
            )
        )

    def conformance(self) -> list[dict[str, Any]]:
        """Each client rule: ``{"id", "status", "evidence", "detail"}``."""
        return self.send(core.get_conformance())

    def tasks(self) -> list[dict[str, Any]]:
        """Every task, each with its ``user_id``."""
        return self.send(core.all_tasks())

    # -- waits ---------------------------------------------------------------------------
    def wait_task(
        self,
        task_id: str | uuid.UUID,
        status: str,
        *,
        timeout: float = core.DEFAULT_TIMEOUT_S,
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
        since: int = 0,
    ) -> dict[str, Any]:
        """Until the task has ``status`` (see :mod:`mockapi.client.core` for how time moves)."""
        policy = WaitPolicy(timeout, advance, step)
        return self.run(core.wait_task(task_id, status, policy, since))

    def wait_frame(
        self,
        user: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        task_id: str | uuid.UUID | None = None,
        since: int = 0,
        timeout: float = core.DEFAULT_TIMEOUT_S,
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
    ) -> dict[str, Any]:
        """Until a task frame has gone to ``user``; returns its journal entry."""
        probe = core.frame_probe(
            user, status, kind, None if task_id is None else str(task_id), since
        )
        return self.run(core.wait(probe, WaitPolicy(timeout, advance, step)))

    def wait_journal(
        self,
        match: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool],
        *,
        since: int = 0,
        timeout: float = core.DEFAULT_TIMEOUT_S,
        advance: bool | None = None,
        step: float = core.DEFAULT_STEP_S,
    ) -> dict[str, Any]:
        """Until a journal entry matches; returns it."""
        probe = core.entry_probe(match, since)
        return self.run(core.wait(probe, WaitPolicy(timeout, advance, step)))

    def login(self, username: str, password: str | None, otp: str | None = None) -> str:
        """Log in through the API's own route; returns the access token."""
        return self.send(core.login(username, password, otp))
