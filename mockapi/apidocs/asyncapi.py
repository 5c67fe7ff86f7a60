"""``/asyncapi.json``: the WebSocket ``/api/v2/pools/ws/{client_id}/`` as AsyncAPI 3.0.

OpenAPI cannot describe frames, so the socket has its own document (CONTRACT §8). The frame
schema is :class:`mockapi.web.bodies.TaskFrame`, the refusal body is the catalogue's 403; the
document describes the mockapi server, so "send" is what the server sends.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from mockapi import __version__
from mockapi.domain.errors import PERMISSION_DENIED
from mockapi.web.bodies import AppError, TaskFrame

ASYNCAPI_VERSION = "3.0.0"
CHANNEL_ADDRESS = "/api/v2/pools/ws/{client_id}/"
REF_TEMPLATE = "#/components/schemas/{model}"
#: The echo of a client's text (the original's, kept): sent to every socket of the user.
ECHO_PATTERN = r"^User .+ sent: [\s\S]*$"

HANDSHAKE = f"""\
Open the socket with an HTTP GET (Upgrade: websocket) to `{CHANNEL_ADDRESS}`:

- Authentication is the **raw `Cookie` header value `JWT <token>`** (the login's access_token),
  not a name=value cookie. The Authorization header is ignored.
- `client_id` must equal the token's `client_id` claim: the dashed, lower-case user id.
- No subprotocol is offered.
- On any failure the handshake is refused with HTTP **403**, headers `www-authenticate: JWT`
  and `Connection: close`, and the body `{PERMISSION_DENIED.body()}`.
  A path without the trailing slash gets 403 with an empty body; a plain GET without Upgrade,
  404 `{{"detail":"Not Found"}}`.
- One user may hold many sockets; each gets every update of that user. On server shutdown
  every socket is closed with code 1001.
"""


@functools.cache
def _model_schemas() -> dict[str, Any]:
    # The models never change while the process runs; only the host does, per request.
    _, top = models_json_schema(
        [(TaskFrame, "serialization"), (AppError, "serialization")], ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


def build_asyncapi(host: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the socket, as served from ``host``."""
    schemas = copy.deepcopy(_model_schemas())
    schemas["HandshakeHeaders"] = {
        "type": "object",
        "required": ["Cookie"],
        "properties": {
            "Cookie": {
                "type": "string",
                "pattern": r"^JWT \S+$",
                "description": "Exactly `JWT <token>`: one space, no cookie name.",
            }
        },
    }
    channel_ref = {"$ref": "#/channels/poolUpdates"}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "mockapi: Space dispatcher task updates",
            "version": __version__,
            "description": (
                "The WebSocket of the Space dispatcher API v2: the state changes of the"
                " caller's tasks, pushed as they happen.\n\n" + HANDSHAKE
            ),
        },
        "servers": {
            "mockapi": {
                "host": host,
                "protocol": "ws",
                "description": "This server (plain ws: the mock listens on loopback).",
            }
        },
        "defaultContentType": "application/json",
        "channels": {
            "poolUpdates": {
                "address": CHANNEL_ADDRESS,
                "title": "Task updates of one user",
                "description": HANDSHAKE,
                "parameters": {
                    "client_id": {
                        "description": "The token's client_id claim (the dashed user id).",
                        "examples": ["7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"],
                    }
                },
                "messages": {
                    "taskUpdate": {"$ref": "#/components/messages/taskUpdate"},
                    "clientText": {"$ref": "#/components/messages/clientText"},
                    "echo": {"$ref": "#/components/messages/echo"},
                },
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "headers": {"$ref": "#/components/schemas/HandshakeHeaders"},
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "sendTaskUpdate": {
                "action": "send",
                "channel": channel_ref,
                "title": "A task of the user changed state",
                "description": (
                    "Every state change of the user's tasks after creation: RUNNING, then the"
                    " terminal status, and any forced change. The initial PENDING is the 202"
                    " answer itself and is not pushed. Frames of one task arrive in state"
                    " order on every socket."
                ),
                "messages": [{"$ref": "#/channels/poolUpdates/messages/taskUpdate"}],
            },
            "receiveClientText": {
                "action": "receive",
                "channel": channel_ref,
                "title": "Any text from the client",
                "description": "Answered by the echo, on every socket of the same user.",
                "messages": [{"$ref": "#/channels/poolUpdates/messages/clientText"}],
            },
            "sendEcho": {
                "action": "send",
                "channel": channel_ref,
                "title": "The echo of a client's text",
                "messages": [{"$ref": "#/channels/poolUpdates/messages/echo"}],
            },
        },
        "components": {
            "schemas": schemas,
            "messages": {
                "taskUpdate": {
                    "name": "taskUpdate",
                    "title": "Task update",
                    "summary": "A text frame: status, id, kind and nothing else.",
                    "contentType": "application/json",
                    "payload": {"$ref": "#/components/schemas/TaskFrame"},
                    "examples": [
                        {
                            "name": "running",
                            "payload": {
                                "status": "RUNNING",
                                "id": "821b7a78-1b6e-4a88-9488-07eeba0099cf",
                                "kind": "POOL_EXPAND",
                            },
                        }
                    ],
                },
                "clientText": {
                    "name": "clientText",
                    "title": "Client text",
                    "summary": "Any text frame; binary frames are ignored.",
                    "contentType": "text/plain",
                    "payload": {"type": "string"},
                },
                "echo": {
                    "name": "echo",
                    "title": "Echo",
                    "summary": "`User <username> sent: <text>`, as a text frame.",
                    "contentType": "text/plain",
                    "payload": {"type": "string", "pattern": ECHO_PATTERN},
                    "examples": [{"name": "echo", "payload": "User astravdi sent: hello"}],
                },
            },
        },
    }
