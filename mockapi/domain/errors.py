"""The error catalogue of CONTRACT §3: every application error a client can be answered.

Handlers and the domain raise :class:`ApiError` with a catalogue entry, :class:`ValidationFailed`
with pydantic's error list or :class:`Conflict`; nothing else in mockapi builds an error body.
The web layer turns them into answers (:mod:`mockapi.web.errors`); this module knows no HTTP
library, so the fault engine and the socket hub can name catalogue entries too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

AUTH_HEADERS = {"www-authenticate": "JWT"}


class ErrorCode(IntEnum):
    """The ErrorCodes enum of the original, in its order."""

    DEFAULT = 999
    OTP_REQUIRED = 100
    ADFS_REQUIRED = 101
    HARDWARE_TOKEN_REQUIRED = 102
    OTP_INVALID = 103
    POOL_CANNOT_EXPAND = 800
    NO_ELIGIBLE_MACHINE = 801
    INSUFFICIENT_PERMISSIONS = 900


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One row of the catalogue: status, message, code and, for MFA, the next step."""

    status: int
    msg: str
    err_code: ErrorCode
    next_step: str | None = None

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "msg": self.msg,
            "err_code": int(self.err_code),
            "type": "default" if self.next_step is None else "auth",
        }
        if self.next_step is not None:
            item["next_step"] = self.next_step
        return {"detail": [item]}


INVALID_CREDENTIALS = ErrorSpec(401, "Invalid Credentials.", ErrorCode.DEFAULT)
OTP_INVALID = ErrorSpec(401, "Invalid Credentials.", ErrorCode.OTP_INVALID)
OTP_REQUIRED = ErrorSpec(428, "MFA required.", ErrorCode.OTP_REQUIRED, "/api/v2/users/login/")
ADFS_REQUIRED = ErrorSpec(428, "MFA required.", ErrorCode.ADFS_REQUIRED, "/api/v2/users/adfs/")
HARDWARE_TOKEN_REQUIRED = ErrorSpec(
    428, "MFA required.", ErrorCode.HARDWARE_TOKEN_REQUIRED, "/api/v2/users/hardware_token/"
)
PERMISSION_DENIED = ErrorSpec(403, "Permission denied.", ErrorCode.DEFAULT)
INSUFFICIENT_PERMISSIONS = ErrorSpec(
    403, "Insufficient permissions.", ErrorCode.INSUFFICIENT_PERMISSIONS
)
POOL_CANNOT_EXPAND = ErrorSpec(403, "Pool cannot be expanded.", ErrorCode.POOL_CANNOT_EXPAND)
NO_ELIGIBLE_MACHINE = ErrorSpec(
    409, "No eligible machine found for user connection.", ErrorCode.NO_ELIGIBLE_MACHINE
)
NOT_FOUND = ErrorSpec(404, "Not found.", ErrorCode.DEFAULT)
BODY_TOO_LARGE = ErrorSpec(413, "Request body too large.", ErrorCode.DEFAULT)
INTERNAL_ERROR = ErrorSpec(500, "Internal server error.", ErrorCode.DEFAULT)


class ApiError(Exception):
    """An application error answered with a catalogue entry."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.msg)
        self.spec = spec


class ValidationFailed(Exception):
    """A request that failed validation; ``errors`` is the finished 422 ``detail`` list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class Conflict(Exception):
    """A control request that asks for something the state machines do not allow (409)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
