"""What a handler raised, answered in the original's JSON (CONTRACT §1, §3), never a text/plain 500.

The catalogue itself is :mod:`mockapi.domain.errors`; this module is the one place that turns
an entry or an exception into an HTTP answer. The one request middleware
(:mod:`mockapi.web.middleware`) calls :func:`error_response` for every handler.
"""

from __future__ import annotations

import logging

from aiohttp import web

from mockapi.domain.errors import (
    AUTH_HEADERS,
    BODY_TOO_LARGE,
    INTERNAL_ERROR,
    ApiError,
    Conflict,
    ErrorCode,
    ErrorSpec,
    ValidationFailed,
)
from mockapi.web.responses import json_response
from mockapi.web.route import ROUTE_TABLE
from mockapi.web.rules import is_websocket_upgrade

log = logging.getLogger(__name__)


#: The catalogue entry an answer was made from, for the coverage of the catalogue.
ERROR_SPEC = web.ResponseKey("error_spec", ErrorSpec)


def answer(spec: ErrorSpec) -> web.Response:
    """The catalogue entry as the original answers it, ``www-authenticate: JWT`` included."""
    response = json_response(spec.body(), status=spec.status, headers=AUTH_HEADERS)
    response[ERROR_SPEC] = spec
    return response


def _slash_redirect(request: web.Request) -> web.StreamResponse | None:
    """The 307 to the trailing-slash form, when that form is a route that is not a WebSocket.

    A plain request to a WebSocket path is a 404 with or without the slash (CONTRACT §1): the
    original's router never redirects to a WebSocket route.
    """
    if request.path.endswith("/"):
        return None
    sockets = {route.name for route in request.app.get(ROUTE_TABLE, ()) if route.websocket}
    for resource in request.app.router.resources():
        if resource.name not in sockets and _matches(resource, request.path + "/"):
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


def error_response(request: web.Request, exc: Exception) -> web.StreamResponse | None:
    """The JSON the original answers for what a handler raised, never a text/plain 500.

    None for a redirect (an :class:`~aiohttp.web.HTTPException` below 400), which the caller
    re-raises so aiohttp sends it. :mod:`mockapi.web.middleware` calls this for every handler.
    """
    if isinstance(exc, ApiError):
        return answer(exc.spec)
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
    return answer(INTERNAL_ERROR)


def _http_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse | None:
    """aiohttp's own errors (routing, body size) in the original's shapes."""
    if isinstance(exc, web.HTTPNotFound):
        if is_websocket_upgrade(request):
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
        return answer(BODY_TOO_LARGE)
    if exc.status < 400:
        return None
    return json_response(
        {"detail": [{"msg": exc.reason, "err_code": 999, "type": "default"}]},
        status=exc.status,
        headers=AUTH_HEADERS,
    )
