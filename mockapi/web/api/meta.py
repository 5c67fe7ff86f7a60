"""Health and version: the two open informational routes."""

from __future__ import annotations

import functools
import socket
from typing import Any

from aiohttp import web

from mockapi.jsonfmt import FAST_FLOATS
from mockapi.keys import CLOCK, RUNTIME
from mockapi.web.bodies import VersionBody
from mockapi.web.responses import fast_json_response, json_response, model_response


def health_body(hostname: str, timestamp: float) -> dict[str, Any]:
    """The health answer as :class:`~mockapi.web.bodies.HealthBody` dumps it.

    Built as a dict: health is the route load tests poll hardest, and its three models cost
    more than the rest of the handler. A test holds this equal to the model's dump.
    """
    return {
        "data": {
            "code": 200,
            "response_data": {
                "ok": True,
                "hostname": hostname,
                "timestamp": timestamp,
                "detail": "",
            },
        }
    }


#: The machine's real name, asked once per process: asking is a system call, on the route
#: load tests poll hardest, and a machine is not renamed under a running test.
hostname = functools.cache(socket.gethostname)


async def health(request: web.Request) -> web.Response:
    """Real hostname and the scenario clock's time (the original froze both)."""
    timestamp = request.app[CLOCK].time()
    body = health_body(hostname(), timestamp)
    if timestamp == 0 or abs(timestamp) >= FAST_FLOATS:
        return fast_json_response(body)
    return json_response(body)  # a clock within 1e-4 s of the epoch: see fast_dumps


async def version(request: web.Request) -> web.Response:
    """The version body; its values are scenario settings."""
    return model_response(VersionBody(data=request.app[RUNTIME].scenario.version))
