"""The control client's one implementation: requests built and answers read, with no I/O.

Every operation is a :class:`Call` (method, path, body, which statuses mean success and how
to read the answer). A wait is a *plan*: a generator that yields calls and :class:`Pause`
steps and is sent each call's result back. The sync face (:mod:`mockapi.client.sync`,
``http.client``) and the async face (:mod:`mockapi.client.aio`, aiohttp) only carry calls
and pauses out, so both behave the same by construction and neither holds a rule of its own.

How a wait meets the clock (see :class:`WaitPolicy`):

- **Manual clock** (what tests run): the wait moves the clock itself, ``step`` scenario
  seconds at a time (``POST /service/clock/``), and checks after each step. An advance answers
  only after every frame it caused went out, so the check sees them at once: no wall-clock
  sleep, and the moment found is exact to one step. Pass ``advance=False`` when something else
  moves the world (the client under test, the harness's own advances): the wait then polls.
- **Real clock**: the wait polls every ``poll`` wall seconds while time flows.
- **Timeout**: ``timeout`` counts scenario seconds from where the clock stood when the wait
  began (read from the server, so ``time_scale`` is honoured). A wait that advances reaches it
  after ``timeout / step`` steps at most; a wait that polls also stops after ``timeout`` wall
  seconds, so a clock nobody moves cannot hang it. Running out raises :class:`WaitTimeout`
  saying what was last seen.
- **Cost**: each step is one advance and one journal read (the task wait reads the tasks
  again only when the journal shows its task moved); the advances are journaled like any
  request, so a long wait with a small step fills the journal faster.
- **What counts as seen**: the journal since ``since`` (0: everything it still holds), read
  incrementally, so a frame sent before the wait began (say, during the advance just before)
  counts, and the caller chains waits with the ``seq`` of the entry a wait returned.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
SERVICE_TOKEN_HEADER = "X-Service-Token"
#: Every status a task can have (the task machine's states; a test keeps the two equal).
TASK_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED")
TERMINAL_STATUSES = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
TASK_KINDS = ("POOL_EXPAND", "GLINT_START")
#: The scenario content types ``PUT /service/scenario/`` takes, by file suffix.
SCENARIO_TYPES = {".toml": "application/toml", ".json": "application/json"}

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_STEP_S = 0.1
DEFAULT_POLL_S = 0.05
#: Below this, what is left of a timeout is float noise, not a step worth taking.
EPSILON_S = 1e-6
#: Each advance aims this far past its mark: the server shows time in microseconds, so a
#: mark measured from its answers can be short by one, and a timer due exactly on the mark
#: (0.5 s of PENDING after five 0.1 s steps) must fire on that step, not the next.
SLACK_S = 1e-6


# -- errors --------------------------------------------------------------------------------
class ControlError(Exception):
    """Anything that kept a control operation from being done."""


class Unreachable(ControlError):
    """No answer from the server: nothing listens there, or the connection broke."""


class BadAnswer(ControlError):
    """An answer that is not what the route sends: another program on that port, or a proxy."""


class Refused(ControlError):
    """The server answered with an error status; ``message`` is its own words, ``body`` the
    whole answer (an MFA refusal's ``next_step``, a fault's own body)."""

    def __init__(self, method: str, path: str, status: int, message: str, body: str = "") -> None:
        super().__init__(f"{method} {path} refused with {status}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.body = body


class NotVerified(ControlError):
    """A verification whose expectation failed; the message explains it as the server did
    (what was expected and found, the closest requests and what differed), and ``answer`` is
    the server's whole answer (``message``, ``matches``, ``near_misses``)."""

    def __init__(self, answer: Mapping[str, Any]) -> None:
        super().__init__(explain(answer))
        self.answer = dict(answer)


def explain(answer: Mapping[str, Any]) -> str:
    """A failed verification in words: the message, then each near miss with its differences."""
    lines = [str(answer.get("message", "the expectation failed"))]
    matches = answer.get("matches") or []
    if matches:
        lines.append("matched: " + ", ".join(_request_line(entry) for entry in matches))
    near = answer.get("near_misses") or []
    if near:
        lines.append("closest requests:")
    for miss in near:
        lines.append(f"  {_request_line(miss.get('entry', {}))}")
        for diff in miss.get("differences", []):
            lines.append(
                f"    {diff.get('field')}: expected {json.dumps(diff.get('expected'))},"
                f" got {json.dumps(diff.get('actual'))}"
            )
    return "\n".join(lines)


def _request_line(entry: Mapping[str, Any]) -> str:
    return f"#{entry.get('seq')} {entry.get('method')} {entry.get('path')} -> {entry.get('status')}"


class WaitFailed(ControlError):
    """A wait ended without its condition (it can no longer come true, or time ran out)."""


class WaitTimeout(WaitFailed, TimeoutError):
    """A wait's timeout ran out before its condition held."""


# -- calls and answers ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: the status and the raw body."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer; a transport sends it and calls :meth:`read`."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: bytes | None = None
    content_type: str | None = None
    ok: frozenset[int] = frozenset({200})

    def read(self, answer: Answer) -> T:
        """The parsed answer, or :class:`Refused` with the server's message."""
        if answer.status not in self.ok:
            raise Refused(
                self.method,
                self.path,
                answer.status,
                error_message(answer),
                answer.body.decode("utf-8", errors="replace"),
            )
        try:
            data = json.loads(answer.body) if answer.body else None
        except ValueError:
            raise BadAnswer(
                f"{self.method} {self.path}: the answer is not JSON: {_excerpt(answer.body)}"
            ) from None
        try:
            return self.parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadAnswer(
                f"{self.method} {self.path}: unexpected answer ({exc!r}): {_excerpt(answer.body)}"
            ) from None


@dataclass(frozen=True, slots=True)
class Pause:
    """Let ``seconds`` of wall time pass before the plan goes on (a poll's interval)."""

    seconds: float


Step = Call[Any] | Pause
#: A multi-request operation: yields steps, is sent each call's result, returns its result.
Plan = Generator[Step, Any, T]


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def error_message(answer: Answer) -> str:
    """The server's words for a refusal: its ``detail`` messages, each with where it applies."""
    try:
        data = json.loads(answer.body)
    except ValueError:
        return _excerpt(answer.body) or "(empty body)"
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            msg = str(item.get("msg", item))
            loc = item.get("loc")
            if isinstance(loc, list) and loc:
                msg = f"{'.'.join(str(part) for part in loc)}: {msg}"
            parts.append(msg)
        return "; ".join(parts)
    return _excerpt(answer.body)


def normalize_url(url: str) -> str:
    """The server's base URL without a trailing slash; a clear error when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r} (e.g. {DEFAULT_URL})")
    if parts.query or parts.fragment:
        raise ValueError(f"the server URL takes no query or fragment: {url!r}")
    return url.strip().rstrip("/")


def _json_body(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value)).encode()


def _same(value: Any) -> Any:
    return value


def _none(_: Any) -> None:
    return None


def task_id_text(task_id: str | uuid.UUID) -> str:
    """A task id as the server writes it (dashed, lower case); ValueError if it is none."""
    try:
        return str(task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id)))
    except ValueError:
        raise ValueError(f"not a task id (a UUID): {task_id!r}") from None


def check_status(status: str) -> str:
    """A task status in upper case; ValueError naming the allowed ones otherwise."""
    upper = status.upper()
    if upper not in TASK_STATUSES:
        raise ValueError(f"unknown task status {status!r} (one of {', '.join(TASK_STATUSES)})")
    return upper


# -- the control routes --------------------------------------------------------------------
def get_clock() -> Call[dict[str, Any]]:
    """``GET /service/clock/``: ``{"now", "mode", "time_scale"}``."""
    return Call("GET", "/service/clock/", dict)


def set_clock(
    *,
    advance_s: float | None = None,
    mode: str | None = None,
    time_scale: float | None = None,
) -> Call[dict[str, Any]]:
    """``POST /service/clock/``: only the given changes (mode, then scale, then advance)."""
    body: dict[str, Any] = {}
    if mode is not None:
        body["mode"] = mode
    if time_scale is not None:
        body["time_scale"] = time_scale
    if advance_s is not None:
        body["advance_s"] = advance_s
    return Call("POST", "/service/clock/", dict, _json_body(body), "application/json")


def reset() -> Call[dict[str, Any]]:
    """``POST /service/reset/``: ``{"world": {...}, "clock": {...}}``."""
    return Call("POST", "/service/reset/", lambda data: dict(data["data"]))


def get_scenario() -> Call[dict[str, Any]]:
    """``GET /service/scenario/``: the active scenario, every default filled in."""
    return Call("GET", "/service/scenario/", dict)


def put_scenario(text: str | bytes, content_type: str) -> Call[dict[str, Any]]:
    """``PUT /service/scenario/``: replace the world (and reset); same answer as a reset."""
    body = text.encode() if isinstance(text, str) else text
    return Call("PUT", "/service/scenario/", lambda data: dict(data["data"]), body, content_type)


def scenario_type(suffix: str) -> str:
    """The content type of a scenario file by its suffix; ValueError for any other."""
    found = SCENARIO_TYPES.get(suffix.lower())
    if found is None:
        raise ValueError(f"a scenario file ends in .toml or .json, not {suffix or '(none)'!r}")
    return found


def force(task_id: str | uuid.UUID, status: str) -> Call[dict[str, Any]]:
    """``POST /service/tasks/{id}/``: force a transition; answers the task."""
    body = _json_body({"status": check_status(status)})
    return Call(
        "POST",
        f"/service/tasks/{task_id_text(task_id)}/",
        lambda data: dict(data["data"]),
        body,
        "application/json",
    )


def issue_token(username: str, ttl_s: float | None = None) -> Call[str]:
    """``POST /service/tokens/``: an access token for any scenario user, MFA skipped."""
    body: dict[str, Any] = {"username": username}
    if ttl_s is not None:
        body["ttl_s"] = ttl_s
    return Call(
        "POST",
        "/service/tokens/",
        lambda data: str(data["access_token"]),
        _json_body(body),
        "application/json",
    )


def get_journal(since: int = 0) -> Call[dict[str, Any]]:
    """``GET /service/journal/?since=N``: ``{"entries": [...], "dropped": N}``."""
    if since < 0:
        raise ValueError(f"since must be 0 or more, not {since}")
    return Call("GET", f"/service/journal/?since={int(since)}", dict)


def clear_journal() -> Call[None]:
    """``DELETE /service/journal/``."""
    return Call("DELETE", "/service/journal/", _none, ok=frozenset({204}))


def list_faults() -> Call[list[dict[str, Any]]]:
    """``GET /service/faults/``: every fault, with ``remaining`` and ``hits``."""
    return Call("GET", "/service/faults/", lambda data: list(data["data"]))


def add_fault(spec: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """``POST /service/faults/``: the fault as added (its id generated when none is given)."""
    return Call(
        "POST",
        "/service/faults/",
        lambda data: dict(data["data"]),
        _json_body(spec),
        "application/json",
        frozenset({201}),
    )


def remove_fault(fault_id: str) -> Call[None]:
    """``DELETE /service/faults/{id}/`` (404 when there is no such fault)."""
    if not fault_id:
        raise ValueError("a fault id is needed")
    return Call(
        "DELETE", f"/service/faults/{quote(fault_id, safe='')}/", _none, ok=frozenset({204})
    )


def clear_faults() -> Call[None]:
    """``DELETE /service/faults/``: every fault, the scenario's included (until a reset)."""
    return Call("DELETE", "/service/faults/", _none, ok=frozenset({204}))


def get_tls() -> Call[dict[str, Any]]:
    """``GET /service/tls/``: ``{"enabled", "certificate", "ca_file", ...}``."""
    return Call("GET", "/service/tls/", dict)


def set_tls(certificate: str) -> Call[dict[str, Any]]:
    """``POST /service/tls/``: show ``certificate`` to new connections (409 without --tls)."""
    return Call(
        "POST",
        "/service/tls/",
        dict,
        _json_body({"certificate": certificate}),
        "application/json",
    )


def all_tasks() -> Call[list[dict[str, Any]]]:
    """``GET /service/all-tasks/``: every task, each with its ``user_id``."""
    return Call("GET", "/service/all-tasks/", list)


def get_coverage() -> Call[dict[str, Any]]:
    """``GET /service/coverage/``: machines, errors, routes and faults reached since the reset."""
    return Call("GET", "/service/coverage/", dict)


def get_conformance() -> Call[list[dict[str, Any]]]:
    """``GET /service/conformance/``: each client rule with its status, evidence and detail."""
    return Call("GET", "/service/conformance/", lambda data: list(data["rules"]))


def nonconformance(rules: list[dict[str, Any]]) -> str | None:
    """The failed rules in words (one line each, with their evidence), or None if none."""
    failed = [rule for rule in rules if rule.get("status") == "fail"]
    if not failed:
        return None
    lines = [f"{len(failed)} client rule(s) failed:"]
    for rule in failed:
        evidence = ", ".join(f"#{seq}" for seq in rule.get("evidence", []))
        lines.append(f"  {rule.get('id')}: {rule.get('detail')} (journal {evidence})")
    return "\n".join(lines)


def _verified(data: Any) -> list[dict[str, Any]]:
    if "near_misses" in data:  # the 409's answer
        raise NotVerified(data)
    return list(data["matches"])


def verify(
    request: Mapping[str, Any],
    *,
    exactly: int | None = None,
    at_least: int | None = None,
    at_most: int | None = None,
    within_s: float | None = None,
    after: Mapping[str, Any] | None = None,
) -> Call[list[dict[str, Any]]]:
    """``POST /service/verify/``: the matches, or :class:`NotVerified` explaining why not.

    ``request`` and ``after`` are matchers (``method``, ``path`` pattern, ``user``, ``body``
    subset, ``headers``, ``query``); give at most one count (default: at least one).
    """
    counts = {"exactly": exactly, "at_least": at_least, "at_most": at_most}
    given = {name: value for name, value in counts.items() if value is not None}
    if len(given) > 1:
        raise ValueError(f"give one count, not {' and '.join(given)}")
    body: dict[str, Any] = {"request": dict(request)}
    if given:
        body["count"] = given
    if within_s is not None:
        body["within_s"] = within_s
    if after is not None:
        body["after"] = dict(after)
    return Call(
        "POST",
        "/service/verify/",
        _verified,
        _json_body(body),
        "application/json",
        ok=frozenset({200, 409}),
    )


def login(username: str, password: str | None, otp: str | None = None) -> Call[str]:
    """``POST /api/v2/users/login/``: the access token (the API's own route, for test handles)."""
    body = {"username": username, "password": password, "ldap": False, "otp_code": otp}
    return Call(
        "POST",
        "/api/v2/users/login/",
        lambda data: str(data["data"]["access_token"]),
        _json_body(body),
        "application/json",
    )


# -- waits ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How a wait spends time; see the module docstring."""

    timeout: float = DEFAULT_TIMEOUT_S
    #: None: advance the clock when it is manual, poll when it is real.
    advance: bool | None = None
    step: float = DEFAULT_STEP_S
    poll: float = DEFAULT_POLL_S

    def __post_init__(self) -> None:
        for name in ("timeout", "step", "poll"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):  # also refuses nan
                raise ValueError(f"{name} must be a number greater than 0, not {value!r}")


def scenario_seconds(iso: str) -> float:
    """An ISO time the server wrote (``...Z``) as Unix seconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def matches(value: Any, pattern: Any) -> bool:
    """``pattern`` holds in ``value``: equal, or for a mapping every key's pattern holds."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            key in value and matches(value[key], sub) for key, sub in pattern.items()
        )
    return bool(value == pattern)


@dataclass
class JournalReader:
    """Reads the journal incrementally from ``seq`` on: each entry is seen once."""

    seq: int = 0
    #: Entries the journal's bound let go before this reader saw them, in all.
    dropped: int = 0

    def read(self) -> Plan[list[dict[str, Any]]]:
        page = yield get_journal(self.seq)
        self.dropped += int(page["dropped"])
        entries: list[dict[str, Any]] = list(page["entries"])
        if entries:
            self.seq = max(self.seq, int(entries[-1]["seq"]))
        return entries


class Probe(Generic[T]):
    """What a wait looks for: :meth:`check` returns it once it holds, else None."""

    def check(self) -> Plan[T | None]:
        raise NotImplementedError

    def describe(self) -> str:
        """What is awaited and what was last seen, for the timeout's message."""
        raise NotImplementedError


@dataclass
class TaskProbe(Probe[dict[str, Any]]):
    """A task has (or had, since ``since``) the given status; answers the task as it is now.

    A status the task passed through between two checks counts: the journal shows its frame
    (sent, or lost to a fault). A task that ended in another status without reaching it
    fails the wait at once, as it never can.
    """

    task_id: str
    status: str
    journal: JournalReader = field(default_factory=JournalReader)
    seen: str | None = None

    def _reached(self, entry: Mapping[str, Any]) -> bool:
        frame = entry.get("frame")
        return (
            entry.get("kind") in ("ws", "fault")
            and isinstance(frame, Mapping)
            and frame.get("id") == self.task_id
            and frame.get("status") == self.status
        )

    def _about_task(self, entry: Mapping[str, Any]) -> bool:
        frame = entry.get("frame")
        return isinstance(frame, Mapping) and frame.get("id") == self.task_id

    def check(self) -> Plan[dict[str, Any] | None]:
        dropped = self.journal.dropped
        entries = yield from self.journal.read()
        moved = any(self._about_task(entry) for entry in entries)
        # The task list is read first, and then only when the journal shows the task moved
        # (or lost entries it might have shown): the wait's own requests stay few.
        if self.seen is not None and not moved and self.journal.dropped == dropped:
            return None
        tasks = yield all_tasks()
        task = next((t for t in tasks if t.get("id") == self.task_id), None)
        if task is None:
            raise WaitFailed(f"no task {self.task_id} on the server")
        self.seen = str(task["status"])
        if self.seen == self.status or any(self._reached(entry) for entry in entries):
            return dict(task)
        if self.seen in TERMINAL_STATUSES:
            raise WaitFailed(
                f"task {self.task_id} ended {self.seen} without reaching {self.status}"
            )
        return None

    def describe(self) -> str:
        return f"task {self.task_id} to be {self.status} (it is {self.seen})"


@dataclass
class EntryProbe(Probe[dict[str, Any]]):
    """A journal entry after ``since`` satisfies ``predicate``; answers the entry."""

    predicate: Callable[[Mapping[str, Any]], bool]
    what: str
    journal: JournalReader = field(default_factory=JournalReader)
    checked: int = 0

    def check(self) -> Plan[dict[str, Any] | None]:
        entries = yield from self.journal.read()
        for entry in entries:
            self.checked += 1
            if self.predicate(entry):
                return entry
        return None

    def describe(self) -> str:
        return f"{self.what} (journal read up to seq {self.journal.seq})"


def frame_probe(
    user: str,
    status: str | None = None,
    kind: str | None = None,
    task_id: str | None = None,
    since: int = 0,
) -> EntryProbe:
    """A task frame has gone to ``user`` (optionally of that status, kind or task)."""
    want: dict[str, Any] = {}
    if status is not None:
        want["status"] = check_status(status)
    if kind is not None:
        if kind.upper() not in TASK_KINDS:
            raise ValueError(f"unknown task kind {kind!r} (one of {', '.join(TASK_KINDS)})")
        want["kind"] = kind.upper()
    if task_id is not None:
        want["id"] = task_id_text(task_id)
    pattern = {"kind": "ws", "user": user, "frame": want}
    described = ", ".join(f"{key} {value}" for key, value in want.items())
    what = f"a frame to {user}" + (f" with {described}" if described else "")
    return EntryProbe(lambda entry: matches(entry, pattern), what, JournalReader(since))


def entry_probe(
    match: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool], since: int = 0
) -> EntryProbe:
    """A journal entry matches: a mapping (each key's value equal, mappings matched as
    subsets) or any predicate."""
    if callable(match):
        return EntryProbe(match, "a journal entry the predicate accepts", JournalReader(since))
    pattern = dict(match)
    return EntryProbe(
        lambda entry: matches(entry, pattern),
        f"a journal entry matching {json.dumps(pattern)}",
        JournalReader(since),
    )


def wait(probe: Probe[T], policy: WaitPolicy) -> Plan[T]:
    """Check ``probe``, then advance or poll, until it holds or the timeout runs out."""
    view = yield get_clock()
    drive = policy.advance if policy.advance is not None else view["mode"] == "manual"
    start = scenario_seconds(view["now"])
    wall_start = time.monotonic()
    elapsed = 0.0
    steps = 0
    while True:
        found = yield from probe.check()
        if found is not None:
            return found
        left = policy.timeout - elapsed
        wall = time.monotonic() - wall_start
        if left <= EPSILON_S or (not drive and wall >= policy.timeout):
            how = "advanced by the wait" if drive else f"clock {view['mode']}, polled"
            raise WaitTimeout(
                f"timed out after {round(elapsed, 3):g} s of scenario time and {wall:.1f} s "
                f"of wall time ({how}) waiting for {probe.describe()}"
            )
        if drive:
            # Steps land on start + k * step (not on a sum of floats, which drifts short).
            steps += 1
            mark = min(steps * policy.step, policy.timeout)
            view = yield set_clock(advance_s=max(mark - elapsed, 0.0) + SLACK_S)
        else:
            yield Pause(policy.poll)
            view = yield get_clock()
        elapsed = scenario_seconds(view["now"]) - start


def wait_task(
    task_id: str | uuid.UUID, status: str, policy: WaitPolicy, since: int = 0
) -> Plan[dict[str, Any]]:
    """Until the task has ``status``; returns the task as it is then."""
    probe = TaskProbe(task_id_text(task_id), check_status(status), JournalReader(since))
    return wait(probe, policy)
