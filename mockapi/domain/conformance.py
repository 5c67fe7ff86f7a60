"""Client conformance: rules a well-behaved client keeps, checked against the journal.

Each rule reads the journal's entries (requests with their redacted headers, socket events,
fault entries) and answers ``pass``, ``fail`` or ``not_exercised`` (the journal holds nothing
the rule could judge), with the sequence numbers of the entries that show it. Times are the
scenario clock's. Only the API under test counts: ``/service/`` requests are the harness's.

The scenario's ``[conformance]`` section switches a rule off (``poll_rate = false``) or sets
its threshold (``poll_rate = { max_per_s = 1, window_s = 10 }``); a rule switched off is not
listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mockapi.domain.urls import is_service_path

Status = Literal["pass", "fail", "not_exercised"]
Entry = Mapping[str, Any]
#: At most this many sequence numbers are listed as one rule's evidence.
MAX_EVIDENCE = 20

_CONNECT = re.compile(r"^/api/v2/pools/[^/]+/connect/$")
_TASK = re.compile(r"^/api/v2/tasks/(?P<id>[^/]+)/(?:is-done/)?$")
_WS = re.compile(r"^/api/v2/pools/ws/[^/]+/$")
_AUTH = re.compile(r"^JWT jwt:[0-9a-f]{12}$")
_FINGERPRINT = re.compile(r"jwt:[0-9a-f]{12}")
_LOGOUT = "/api/v2/users/logout/"
#: The close codes that ask a client to come back later: going away, service restart.
_RECONNECT_CODES = (1001, 1012)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class PollRate(_Options):
    """At most ``max_per_s`` reads of one task a second, averaged over ``window_s``."""

    max_per_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.0
    window_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] = 5.0


class Backoff(_Options):
    """A socket closed with 1001 or 1012 is reopened no sooner than ``min_delay_s``."""

    min_delay_s: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] = 0.5


class ConformanceSection(_Options):
    """The scenario's ``[conformance]``: each rule on (``true``, the default), off
    (``false``), or on with its thresholds."""

    token_after_logout: bool = True
    retry_after: bool = True
    resync_after_loss: bool = True
    socket_before_connect: bool = True
    poll_rate: bool | PollRate = True
    reconnect_backoff: bool | Backoff = True
    trailing_slash: bool = True
    auth_header: bool = True


@dataclass(slots=True)
class RuleResult:
    """One rule's verdict, with the entries that show it."""

    id: str
    status: Status
    evidence: list[int] = field(default_factory=list)
    detail: str = ""

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "evidence": self.evidence[:MAX_EVIDENCE],
            "detail": self.detail,
        }


@dataclass(slots=True)
class Journaled:
    """The entries the rules read, sorted by kind once."""

    http: list[Entry]
    events: list[Entry]
    now: float
    #: A token's fingerprint -> when it expires, for the tokens the server knows.
    expiry: Mapping[str, float]


def _fingerprint(entry: Entry) -> str | None:
    headers = entry.get("headers") or {}
    value = headers.get("authorization")
    if value is None and _WS.match(entry["path"]):
        value = headers.get("cookie")
    if not value:
        return None
    found = _FINGERPRINT.search(value)
    return found.group(0) if found else None


def _fail_or_pass(
    rule: str, exercised: bool, violations: list[int], fail: str, ok: str
) -> RuleResult:
    if violations:
        return RuleResult(rule, "fail", violations, fail)
    if not exercised:
        return RuleResult(rule, "not_exercised", [], "the journal has nothing this rule judges")
    return RuleResult(rule, "pass", [], ok)


def token_after_logout(j: Journaled, _: object) -> RuleResult:
    revoked: dict[str, int] = {}
    violations: list[int] = []
    exercised = any(exp <= j.now for exp in j.expiry.values())
    for entry in j.http:
        token = _fingerprint(entry)
        if token is None:
            continue
        if token in revoked:
            violations += [revoked[token], entry["seq"]]
            continue
        expires = j.expiry.get(token)
        if expires is not None and entry["time"] >= expires:
            violations.append(entry["seq"])
            continue
        if entry["path"] == _LOGOUT and entry["status"] == 205:
            revoked[token] = entry["seq"]
            exercised = True
    return _fail_or_pass(
        "token_after_logout",
        exercised,
        violations,
        "a token was used after its logout or its expiry",
        "no token was used after its logout or expiry",
    )


def _retry_after_s(value: Any, now: float) -> float | None:
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        return parsedate_to_datetime(text).timestamp() - now
    except (TypeError, ValueError):
        return None


def retry_after(j: Journaled, _: object) -> RuleResult:
    violations: list[int] = []
    exercised = False
    waits: dict[tuple[str, str, Any], tuple[float, int]] = {}
    for entry in j.http:
        key = (entry["method"], entry["path"], entry.get("user"))
        pending = waits.pop(key, None)
        if pending is not None:
            exercised = True
            if entry["time"] < pending[0]:
                violations += [pending[1], entry["seq"]]
        if entry["status"] == 503 and entry.get("retry_after") is not None:
            delay = _retry_after_s(entry["retry_after"], entry["time"])
            if delay is not None:
                waits[key] = (entry["time"] + delay, entry["seq"])
    return _fail_or_pass(
        "retry_after",
        exercised,
        violations,
        "a request came back before its 503's Retry-After had passed",
        "every retry waited for the 503's Retry-After",
    )


def resync_after_loss(j: Journaled, _: object) -> RuleResult:
    """After a lost frame or a socket close, the task is read before the next step."""
    violations: list[int] = []
    exercised = False
    # user -> (seq of the loss, the task whose frame was lost or None for a close)
    losses: dict[Any, tuple[int, str | None]] = {}
    for entry in sorted([*j.http, *j.events], key=lambda e: e["seq"]):
        kind = entry["kind"]
        if kind == "fault" and entry.get("action") == "lose_frames":
            frame = entry.get("frame") or {}
            losses[entry.get("user")] = (entry["seq"], frame.get("id"))
        elif kind == "ws_close":
            losses.setdefault(entry.get("user"), (entry["seq"], None))
        elif kind == "http":
            user = entry.get("user")
            loss = losses.get(user)
            if loss is None:
                continue
            found = _TASK.match(entry["path"])
            if found and entry["method"] == "GET" and (loss[1] in (None, found["id"])):
                del losses[user]
                exercised = True
            elif _CONNECT.match(entry["path"]):
                exercised = True
                violations += [loss[0], entry["seq"]]
                del losses[user]
    return _fail_or_pass(
        "resync_after_loss",
        exercised,
        violations,
        "after a lost frame or a closed socket, a step was requested before the task was read",
        "after each loss the task was read before the next step",
    )


def socket_before_connect(j: Journaled, _: object) -> RuleResult:
    violations: list[int] = []
    exercised = False
    open_sockets: dict[Any, set[int]] = {}
    for entry in sorted([*j.http, *j.events], key=lambda e: e["seq"]):
        kind = entry["kind"]
        if kind == "ws_open":
            open_sockets.setdefault(entry.get("user"), set()).add(entry["socket"])
        elif kind == "ws_close":
            open_sockets.get(entry.get("user"), set()).discard(entry["socket"])
        elif kind == "http" and entry["method"] == "GET" and _CONNECT.match(entry["path"]):
            if entry.get("user") is None:
                continue  # refused before anyone was known: nothing to hold against a user
            exercised = True
            if not open_sockets.get(entry.get("user")):
                violations.append(entry["seq"])
    return _fail_or_pass(
        "socket_before_connect",
        exercised,
        violations,
        "step 1 was requested while the user had no open WebSocket",
        "every step 1 came with the user's WebSocket open",
    )


def poll_rate(j: Journaled, options: object) -> RuleResult:
    settings = options if isinstance(options, PollRate) else PollRate()
    limit = max(1, math.floor(settings.max_per_s * settings.window_s))
    polls: dict[str, list[Entry]] = {}
    for entry in j.http:
        found = _TASK.match(entry["path"])
        if found and entry["method"] == "GET":
            polls.setdefault(found["id"], []).append(entry)
    violations: list[int] = []
    for entries in polls.values():
        start = 0
        for end, entry in enumerate(entries):
            while entry["time"] - entries[start]["time"] >= settings.window_s:
                start += 1
            if end - start + 1 > limit:
                violations.append(entry["seq"])
    return _fail_or_pass(
        "poll_rate",
        bool(polls),
        violations,
        f"a task was read more than {limit} times within {settings.window_s:g} s",
        f"no task was read more than {limit} times within {settings.window_s:g} s",
    )


def reconnect_backoff(j: Journaled, options: object) -> RuleResult:
    settings = options if isinstance(options, Backoff) else Backoff()
    violations: list[int] = []
    exercised = False
    closed: dict[Any, Entry] = {}
    for entry in j.events:
        if entry["kind"] == "ws_close" and entry.get("code") in _RECONNECT_CODES:
            closed[entry.get("user")] = entry
        elif entry["kind"] == "ws_open" and entry.get("user") in closed:
            close = closed.pop(entry.get("user"))
            exercised = True
            if entry["time"] - close["time"] < settings.min_delay_s:
                violations += [close["seq"], entry["seq"]]
    return _fail_or_pass(
        "reconnect_backoff",
        exercised,
        violations,
        f"a socket closed with 1001 or 1012 was reopened within {settings.min_delay_s:g} s",
        f"every reopening waited at least {settings.min_delay_s:g} s",
    )


def trailing_slash(j: Journaled, _: object) -> RuleResult:
    violations = [entry["seq"] for entry in j.http if entry["status"] == 307]
    return _fail_or_pass(
        "trailing_slash",
        bool(j.http),
        violations,
        "a request needed the 307 to its trailing-slash form",
        "no request needed a 307",
    )


def auth_header(j: Journaled, _: object) -> RuleResult:
    sent = [e for e in j.http if "authorization" in (e.get("headers") or {})]
    violations = [e["seq"] for e in sent if not _AUTH.match(e["headers"]["authorization"])]
    return _fail_or_pass(
        "auth_header",
        bool(sent),
        violations,
        "an Authorization header was not exactly `JWT <token>`",
        "every Authorization header was exactly `JWT <token>`",
    )


RULES: dict[str, Callable[[Journaled, object], RuleResult]] = {
    "token_after_logout": token_after_logout,
    "retry_after": retry_after,
    "resync_after_loss": resync_after_loss,
    "socket_before_connect": socket_before_connect,
    "poll_rate": poll_rate,
    "reconnect_backoff": reconnect_backoff,
    "trailing_slash": trailing_slash,
    "auth_header": auth_header,
}


def check(
    entries: Sequence[Entry],
    settings: ConformanceSection,
    now: float,
    expiry: Mapping[str, float] | None = None,
) -> list[RuleResult]:
    """Every rule the scenario keeps on, in the order of :data:`RULES`."""
    journaled = Journaled(
        http=[e for e in entries if e.get("kind") == "http" and not is_service_path(e["path"])],
        events=[e for e in entries if e.get("kind") in ("ws_open", "ws_close", "fault")],
        now=now,
        expiry=expiry or {},
    )
    results = []
    for rule, run in RULES.items():
        options = getattr(settings, rule)
        if options is False:
            continue
        results.append(run(journaled, options))
    return results
