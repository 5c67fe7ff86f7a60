"""Request middlewares besides the error one: the service-token guard and the journal.

Order in the app (outermost first): journal, service token, errors. The journal sees the
final status of every answer, including the 403 of a refused service token.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from mockapi.auth import USER_KEY
from mockapi.errors import PERMISSION_DENIED
from mockapi.keys import JOURNAL, SETTINGS

SERVICE_PREFIX = "/service/"
SERVICE_TOKEN_HEADER = "X-Service-Token"
#: Reading the journal must not write to it, or every poll would grow what it polls.
UNJOURNALED = ("/service/journal/",)


def note_user(request: web.Request, username: str) -> None:
    """Attribute this request to ``username`` in the journal."""
    request[USER_KEY] = username


@web.middleware
async def service_token_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """With ``--service-token`` set, /service/ needs ``X-Service-Token``; 403/999 otherwise."""
    expected = request.app[SETTINGS].service_token
    if expected and request.path.startswith(SERVICE_PREFIX):
        given = request.headers.get(SERVICE_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return PERMISSION_DENIED.response()
    return await handler(request)


@web.middleware
async def journal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every answer (method, path, status, user) in the journal."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like pass through the error middleware
        _record(request, exc.status)
        raise
    _record(request, response.status)
    return response


def _record(request: web.Request, status: int) -> None:
    if request.path.startswith(UNJOURNALED):
        return
    request.app[JOURNAL].record_http(request.method, request.path, status, request.get(USER_KEY))
