"""The HTTP rules every layer asks about a request, each defined once.

"Is this a WebSocket upgrade?" and "is this the service token?" were once answered in several
places, and the copies drifted (one survived a non-UTF-8 header, another did not).
"""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web

#: The header a /service/ request carries when the server runs with ``--service-token``.
SERVICE_TOKEN_HEADER = "X-Service-Token"


def is_websocket_upgrade(request: web.Request) -> bool:
    """Whether the request asks to become a WebSocket (``Upgrade: websocket``, any case)."""
    return request.headers.get(hdrs.UPGRADE, "").strip().lower() == "websocket"


def service_token_ok(given: str | None, expected: str) -> bool:
    """Whether ``given`` is the service token, compared in constant time.

    surrogateescape: aiohttp decodes header bytes that are not UTF-8 to surrogates, and a
    strict encode raised on them (a text/plain 500 instead of the 403).
    """
    if given is None:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
