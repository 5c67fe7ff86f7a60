"""What a fault is: a scenario's ``[[faults]]`` entry, the body of ``POST /service/faults/``.

A fault matches HTTP requests (``method``, ``path``, ``user``) or task frames (``user``,
``frame_status``, ``frame_kind``) and says what to do to them. This module only describes and
validates faults; :mod:`mockapi.domain.faults` decides which one fires, and the web layer and
the hub carry out what it does.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mockapi.domain.errors import (
    BODY_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_CREDENTIALS,
    NOT_FOUND,
    PERMISSION_DENIED,
)
from mockapi.domain.lazymodel import DeferredModel
from mockapi.domain.urls import is_service_path

if TYPE_CHECKING:
    pass


#: The longest delay, as for a clock advance: a century of scenario time.
MAX_DELAY_S = 3_155_760_000
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Statuses whose catalogue message (CONTRACT §3) is the fitting default body.
_CATALOGUE_MESSAGES = {
    spec.status: spec.msg
    for spec in (INVALID_CREDENTIALS, PERMISSION_DENIED, NOT_FOUND, BODY_TOO_LARGE, INTERNAL_ERROR)
}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: A fault's answer cannot lie about its own framing: the client would hang or read garbage.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

FrameStatus = Literal["RUNNING", "COMPLETED", "CANCELLED", "FAILED"]
FrameKind = Literal["POOL_EXPAND", "GLINT_START"]
Delay = Annotated[float, Field(gt=0, le=MAX_DELAY_S, allow_inf_nan=False)]
#: It names the fault in a URL (``DELETE /service/faults/{id}/``): one plain path segment.
FaultId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
HTTP_ACTIONS = (
    "delay_s", "status", "drop", "reset", "hang", "truncate", "trickle_bps", "proxy_error",
)  # fmt: skip
WS_ACTIONS = ("close", "lose_frames", "delay_frames_s", "abort", "deaf")
#: HTTP actions after which nothing at all is sent: each excludes every answer and the others.
_SILENT = ("drop", "reset", "hang")
#: HTTP actions that are the answer instead of the handler's.
_ANSWERS = ("status", "proxy_error")
#: The largest trickle rate: past a megabyte a second a trickle is no longer slow.
MAX_TRICKLE_BPS = 1024 * 1024


class FaultSpec(DeferredModel):
    """One fault: what it matches and what it does (see scenarios/README.md, ``[[faults]]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Given, or generated (``fault-1``, ``fault-2``...) when the fault is loaded.
    id: FaultId | None = None
    # -- what it matches -------------------------------------------------------------------
    method: str | None = None
    path: str | None = None
    user: str | None = None
    frame_status: FrameStatus | None = None
    frame_kind: FrameKind | None = None
    probability: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0
    count: Annotated[int, Field(ge=1)] | None = None
    # -- what it does to an HTTP request ---------------------------------------------------
    delay_s: Delay | None = None
    status: Annotated[int, Field(ge=400, le=599)] | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    drop: bool = False
    # -- what it does to the connection of an HTTP request ---------------------------------
    reset: bool = False
    hang: bool = False
    truncate: Annotated[int, Field(ge=0)] | None = None
    trickle_bps: Annotated[int, Field(ge=1, le=MAX_TRICKLE_BPS)] | None = None
    proxy_error: Literal[502, 504] | None = None
    # -- what it does to the user's WebSockets ---------------------------------------------
    close: int | None = None
    lose_frames: Annotated[int, Field(ge=1)] | None = None
    delay_frames_s: Delay | None = None
    abort: bool = False
    deaf: bool = False

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/"):
            raise ValueError('path must start with "/" (a pattern such as /api/v2/pools/*/)')
        if is_service_path(value):
            raise ValueError("/service/ is never faulted (the control API stays reachable)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in _FRAMING_HEADERS:
                raise ValueError(f"{name} is the server's to set (it frames the body)")
            if any(ch in text for ch in "\r\n\0"):
                raise ValueError(f"the value of {name!r} has a line break or NUL")
        return value

    @field_validator("close")
    @classmethod
    def _close_code(cls, value: int | None) -> int | None:
        # RFC 6455 §7.4: 1004-1006 and 1015 must never be sent; 3000-4999 are for applications.
        if value is not None and not (
            1000 <= value <= 1003 or 1007 <= value <= 1014 or 3000 <= value <= 4999
        ):
            raise ValueError(
                "close must be a code a server may send: 1000-1003, 1007-1014, 3000-4999"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FaultSpec:
        ws = [name for name in WS_ACTIONS if self.has(name)]
        # With deaf, delay_s is how long the socket stays deaf: a WebSocket key then.
        http = [
            name
            for name in HTTP_ACTIONS
            if self.has(name) and not (name == "delay_s" and self.deaf)
        ]
        if not http and not ws:
            raise ValueError(
                "no action: give delay_s, status, drop, reset, hang, truncate, trickle_bps or"
                " proxy_error (HTTP), or close, lose_frames, delay_frames_s, abort or deaf"
                " (WebSocket)"
            )
        if http and ws:
            raise ValueError(
                f"{http[0]} acts on HTTP and {ws[0]} on WebSockets: make them two faults"
            )
        if http:
            self._consistent_http(http)
        else:
            self._consistent_ws(ws)
        return self

    def _consistent_http(self, actions: list[str]) -> None:
        if self.frame_status is not None or self.frame_kind is not None:
            raise ValueError(
                "frame_status and frame_kind match frames: an HTTP fault cannot use them"
            )
        silent = [name for name in _SILENT if name in actions]
        sent = [name for name in actions if name not in _SILENT and name != "delay_s"]
        if self.status is not None and self.drop:
            raise ValueError("status and drop: a dropped answer has no status")
        if len(silent) > 1:
            raise ValueError(f"{silent[0]} and {silent[1]}: a connection ends only one way")
        if silent and sent:
            raise ValueError(f"{silent[0]} and {sent[0]}: after {silent[0]} nothing is sent")
        answers = [name for name in _ANSWERS if name in actions]
        if len(answers) > 1:
            raise ValueError("status and proxy_error: give one answer")
        if self.status is None and (self.body is not None or self.headers is not None):
            raise ValueError("body and headers are the answer of status: give status")

    def _consistent_ws(self, actions: list[str]) -> None:
        if self.method is not None or self.path is not None:
            raise ValueError("method and path match requests: a WebSocket fault cannot use them")
        if self.lose_frames is not None and self.delay_frames_s is not None:
            raise ValueError("lose_frames and delay_frames_s: a lost frame cannot also be late")
        if self.abort and self.close is not None:
            raise ValueError("abort and close: an aborted socket sends no close frame")
        if self.deaf and len(actions) > 1:
            other = next(name for name in actions if name != "deaf")
            raise ValueError(
                f"deaf and {other}: a deaf socket sends nothing and ends aborted (delay_s says"
                " when)"
            )

    def has(self, name: str) -> bool:
        """Whether the key ``name`` is set (not None, not false)."""
        value = getattr(self, name)
        return value is not None and value is not False

    @property
    def on_http(self) -> bool:
        """Whether this fault acts on HTTP requests (else on WebSocket frames)."""
        return not any(self.has(name) for name in WS_ACTIONS)


class FaultOut(FaultSpec):
    """A fault as the control API shows it: its id, and how often it may and did fire."""

    id: str  # always set once loaded
    remaining: int | None = Field(description="Firings left; null when the fault has no count.")
    hits: int = Field(description="How many times the fault fired.")


class FaultBody(DeferredModel):
    """One fault."""

    data: FaultOut


class FaultList(DeferredModel):
    """Every fault, spent ones included (``remaining: 0``), in matching order."""

    data: list[FaultOut]


def compile_path(pattern: str) -> re.Pattern[str]:
    """A path pattern as a regex: ``*`` is any text inside one segment, ``**`` any text."""
    parts = []
    for chunk in re.split(r"(\*\*|\*)", pattern):
        if chunk == "**":
            parts.append(".*")
        elif chunk == "*":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(chunk))
    return re.compile("".join(parts))


def default_message(status: int) -> str:
    """The ``msg`` of a fault's default body: the catalogue's, else the status phrase."""
    if status in _CATALOGUE_MESSAGES:
        return _CATALOGUE_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Error."
