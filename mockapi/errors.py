"""The error catalogue of CONTRACT §3 and the translation of failures into its JSON.

Handlers raise :class:`ApiError` with a catalogue entry or :class:`ValidationFailed` with
pydantic's error list; nothing else in mockapi builds an error body. The one request
middleware (:mod:`mockapi.middlewares`) answers what they raise with :func:`error_response`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiohttp import web

from mockapi.responses import json_response

log = logging.getLogger(__name__)

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

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=AUTH_HEADERS)


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


def _slash_redirect(request: web.Request) -> web.StreamResponse | None:
    """The 307 to the trailing-slash form, when that form is a route."""
    if request.path.endswith("/"):
        return None
    for resource in request.app.router.resources():
        if _matches(resource, request.path + "/"):
            location = str(request.url.with_path(request.path + "/", encoded=False))
            # The query as sent: re-encoding its decoded form turns %2B into %252B.
            raw_query = request.rel_url.raw_query_string
            if raw_query:
                location += "?" + raw_query
            return web.Response(status=307, headers={"location": location})
    return None


def _matches(resource: web.AbstractResource, path: str) -> bool:
    if isinstance(resource, web.PlainResource):
        return resource.canonical == path
    if isinstance(resource, web.DynamicResource):
        # aiohttp has no public matcher for a bare path.
        return resource._match(path) is not None
    return False


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("upgrade", "").lower() == "websocket"


def error_response(request: web.Request, exc: Exception) -> web.StreamResponse | None:
    """The JSON the original answers for what a handler raised, never a text/plain 500.

    None for a redirect (an :class:`~aiohttp.web.HTTPException` below 400), which the caller
    re-raises so aiohttp sends it. :mod:`mockapi.middlewares` calls this for every handler.
    """
    if isinstance(exc, ApiError):
        return exc.spec.response()
    if isinstance(exc, ValidationFailed):
        return json_response({"detail": exc.errors}, status=422)
    if isinstance(exc, Conflict):
        return json_response(
            {"detail": [{"msg": exc.msg, "err_code": int(ErrorCode.DEFAULT), "type": "default"}]},
            status=409,
            headers=AUTH_HEADERS,
        )
    if isinstance(exc, web.HTTPException):
        return _http_error(request, exc)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return INTERNAL_ERROR.response()


def _http_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse | None:
    """aiohttp's own errors (routing, body size) in the original's shapes."""
    if isinstance(exc, web.HTTPNotFound):
        if _is_websocket(request):
            # Starlette refuses an unmatched WebSocket handshake with a bare 403.
            return web.Response(status=403)
        redirect = _slash_redirect(request)
        if redirect is not None:
            return redirect
        return json_response({"detail": "Not Found"}, status=404)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return json_response(
            {"detail": "Method Not Allowed"},
            status=405,
            headers={"allow": ", ".join(sorted(exc.allowed_methods))},
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return BODY_TOO_LARGE.response()
    if exc.status < 400:
        return None
    return json_response(
        {"detail": [{"msg": exc.reason, "err_code": 999, "type": "default"}]},
        status=exc.status,
        headers=AUTH_HEADERS,
    )
