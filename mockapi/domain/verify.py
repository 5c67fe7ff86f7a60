"""Verification: did the client send what a test expects, how often, when, and in what order.

A test posts a request matcher and an expectation (``POST /service/verify/``); the journal's
HTTP entries are matched against it. When the expectation fails, the answer explains it the
way WireMock does: the entries that matched, and the closest ones that did not (near misses),
each with the fields that differed, closest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from mockapi.domain.faultspec import compile_path
from mockapi.domain.lazymodel import DeferredModel
from mockapi.domain.redaction import redact_text, redact_value

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
#: How many near misses an answer lists at most.
MAX_NEAR_MISSES = 5
#: The longest window, as for a clock advance: a century of scenario time.
MAX_WINDOW_S = 3_155_760_000


class RequestMatcher(DeferredModel):
    """Which journaled requests count; every key given must hold, an absent key matches all.

    ``path`` is a pattern as faults use it (``*`` is any text inside one segment, ``**`` any
    text); ``body`` is a subset (every key given, at any depth, must be there and equal);
    ``headers`` maps a name (any case) to the value it must have, ``true`` (it must be sent)
    or ``false`` (it must not be); ``query`` maps a name to its value (a list for a repeated
    name). A JWT given in a value is compared as the journal keeps it, by its fingerprint.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method | None = Field(default=None, examples=["POST"])
    path: Annotated[str, Field(pattern=r"^/")] | None = Field(
        default=None, examples=["/api/v2/pools/*/connect/"]
    )
    user: str | None = Field(default=None, examples=["astravdi"])
    body: Any = Field(default=None, examples=[{"username": "astravdi"}])
    headers: dict[str, str | bool] | None = Field(default=None, examples=[{"authorization": True}])
    query: dict[str, str | list[str]] | None = Field(default=None, examples=[{"page": "2"}])

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        # Any case, as faults take it; the document lists the upper-case names.
        return value.upper() if isinstance(value, str) else value


#: A count's number: given as a JSON integer, never null (an absent key is not given).
_Number = Annotated[
    Annotated[int, Field(ge=0)] | None, WithJsonSchema({"type": "integer", "minimum": 0})
]


def _one_count_schema(schema: dict[str, Any]) -> None:
    """One key, an integer: no property has a (null) default to send."""
    schema["minProperties"] = 1
    schema["maxProperties"] = 1
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class Count(DeferredModel):
    """How many matches the expectation wants: exactly one of the three keys."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=_one_count_schema,
    )

    exactly: _Number = None
    at_least: _Number = None
    at_most: _Number = None

    @model_validator(mode="after")
    def _one(self) -> Count:
        given = [
            name for name in ("exactly", "at_least", "at_most") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of exactly, at_least, at_most")
        return self

    @property
    def kind(self) -> Literal["exactly", "at_least", "at_most"]:
        if self.exactly is not None:
            return "exactly"
        return "at_least" if self.at_least is not None else "at_most"

    @property
    def number(self) -> int:
        value = getattr(self, self.kind)
        assert isinstance(value, int)
        return value

    def holds(self, found: int) -> bool:
        """Whether ``found`` matches satisfy the count."""
        if self.kind == "exactly":
            return found == self.number
        if self.kind == "at_least":
            return found >= self.number
        return found <= self.number

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.number}"


class Verification(DeferredModel):
    """``POST /service/verify/``: a matcher and what is expected of its matches.

    ``count`` defaults to at least one. ``within_s`` counts only the entries of the last that
    many seconds of scenario time. ``after`` counts only the entries that come after the
    first entry matching it (the order of the journal).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: RequestMatcher
    count: Count = Field(default_factory=lambda: Count(at_least=1))
    within_s: Annotated[float, Field(gt=0, le=MAX_WINDOW_S, allow_inf_nan=False)] | None = None
    after: RequestMatcher | None = None


@dataclass(slots=True)
class Difference:
    """One field of an entry that the matcher wanted otherwise."""

    field: str
    expected: Any
    actual: Any

    def view(self) -> dict[str, Any]:
        return {"field": self.field, "expected": self.expected, "actual": self.actual}


@dataclass(slots=True)
class Outcome:
    """What a verification found: whether it holds, the matches, the near misses, why."""

    ok: bool
    matches: list[dict[str, Any]]
    near_misses: list[tuple[dict[str, Any], list[Difference]]] = field(default_factory=list)
    message: str = ""


def differences(matcher: RequestMatcher, entry: dict[str, Any]) -> list[Difference]:
    """The fields of a journaled HTTP ``entry`` that ``matcher`` wanted otherwise."""
    found: list[Difference] = []
    if matcher.method is not None and entry.get("method") != matcher.method:
        found.append(Difference("method", matcher.method, entry.get("method")))
    if matcher.path is not None and not _path_pattern(matcher.path).fullmatch(entry["path"]):
        found.append(Difference("path", matcher.path, entry["path"]))
    if matcher.user is not None and entry.get("user") != matcher.user:
        found.append(Difference("user", matcher.user, entry.get("user")))
    if matcher.body is not None:
        wanted = redact_value(matcher.body)
        body = entry.get("body")
        for where in _subset_problems(wanted, body, "body"):
            found.append(Difference(where[0], where[1], where[2]))
    headers = entry.get("headers") or {}
    for name, want in (matcher.headers or {}).items():
        key = name.lower()
        have = headers.get(key)
        if want is True or want is False:
            if (have is not None) != want:
                expected = "present" if want else "absent"
                found.append(Difference(f"headers.{key}", expected, have))
        elif have != redact_text(want):
            found.append(Difference(f"headers.{key}", redact_text(want), have))
    query = entry.get("query") or {}
    for name, want_value in (matcher.query or {}).items():
        want_query = redact_value(want_value)
        if query.get(name) != want_query:
            found.append(Difference(f"query.{name}", want_query, query.get(name)))
    return found


def _subset_problems(wanted: Any, actual: Any, where: str) -> list[tuple[str, Any, Any]]:
    """Where ``actual`` fails to contain ``wanted``: a dict's keys at any depth, else equality."""
    if isinstance(wanted, dict):
        if not isinstance(actual, dict):
            return [(where, wanted, actual)]
        problems: list[tuple[str, Any, Any]] = []
        for key, value in wanted.items():
            if key not in actual:
                problems.append((f"{where}.{key}", value, None))
            else:
                problems.extend(_subset_problems(value, actual[key], f"{where}.{key}"))
        return problems
    return [] if wanted == actual else [(where, wanted, actual)]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _path_pattern(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        if len(_PATTERNS) > 256:  # bounded: patterns come from requests
            _PATTERNS.clear()
        compiled = _PATTERNS[pattern] = compile_path(pattern)
    return compiled


def verify(
    check: Verification,
    entries: Sequence[dict[str, Any]],
    now: float,
    time_format: Callable[[float], str] = str,
) -> Outcome:
    """Run ``check`` against the journal's ``entries`` (oldest first) at scenario time ``now``.

    A near miss is an HTTP entry that did not count, with what differed: its fields, or
    that it came before ``after``'s entry, or before the window. The closest come first
    (fewest differences, then newest); none are listed when the count failed by too many.
    """
    http = [entry for entry in entries if entry.get("kind") == "http"]
    start_seq = 0
    if check.after is not None:
        first = next((e for e in http if not differences(check.after, e)), None)
        if first is None:
            return Outcome(
                ok=False,
                matches=[],
                message="no journaled request matches after: nothing can come after it",
            )
        start_seq = first["seq"]
    since = now - check.within_s if check.within_s is not None else None
    matches: list[dict[str, Any]] = []
    misses: list[tuple[dict[str, Any], list[Difference]]] = []
    for entry in http:
        problems = differences(check.request, entry)
        if entry["seq"] <= start_seq:
            problems.append(Difference("order", f"after #{start_seq}", f"#{entry['seq']}"))
        if since is not None and entry["time"] < since:
            problems.append(
                Difference("time", f"at or after {time_format(since)}", time_format(entry["time"]))
            )
        if problems:
            misses.append((entry, problems))
        else:
            matches.append(entry)
    found = len(matches)
    ok = check.count.holds(found)
    plural = "" if check.count.number == 1 else "s"
    message = f"expected {check.count.describe()} matching request{plural}, found {found}"
    near: list[tuple[dict[str, Any], list[Difference]]] = []
    if not ok and (check.count.kind != "at_most" and found < check.count.number):
        misses.sort(key=lambda miss: (len(miss[1]), -miss[0]["seq"]))
        near = misses[:MAX_NEAR_MISSES]
    return Outcome(ok=ok, matches=matches, near_misses=near, message=message)
