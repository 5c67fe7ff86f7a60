"""Health and version: the two open informational routes."""

from __future__ import annotations

import socket

from aiohttp import web

from mockapi.keys import CLOCK, RUNTIME
from mockapi.responses import json_response


async def health(request: web.Request) -> web.Response:
    """Real hostname and the scenario clock's time (the original froze both)."""
    return json_response(
        {
            "data": {
                "code": 200,
                "response_data": {
                    "ok": True,
                    "hostname": socket.gethostname(),
                    "timestamp": request.app[CLOCK].time(),
                    "detail": "",
                },
            }
        }
    )


async def version(request: web.Request) -> web.Response:
    """The version body; its values are scenario settings."""
    return json_response({"data": request.app[RUNTIME].scenario.version.model_dump()})
