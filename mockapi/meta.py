"""Health and version: the two open informational routes."""

from __future__ import annotations

import socket

from aiohttp import web

from mockapi.keys import CLOCK, RUNTIME
from mockapi.responses import model_response
from mockapi.schemas import HealthBody, HealthData, HealthResponseData, VersionBody


async def health(request: web.Request) -> web.Response:
    """Real hostname and the scenario clock's time (the original froze both)."""
    return model_response(
        HealthBody(
            data=HealthData(
                code=200,
                response_data=HealthResponseData(
                    ok=True,
                    hostname=socket.gethostname(),
                    timestamp=request.app[CLOCK].time(),
                    detail="",
                ),
            )
        )
    )


async def version(request: web.Request) -> web.Response:
    """The version body; its values are scenario settings."""
    return model_response(VersionBody(data=request.app[RUNTIME].scenario.version))
