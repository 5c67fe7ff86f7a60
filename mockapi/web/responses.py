"""Compact JSON responses exactly as the original sends them (no charset, no spaces)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from mockapi.jsonfmt import dumps, fast_dumps


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer ``data`` as compact JSON with ``content-type: application/json`` and no charset."""
    return web.Response(
        body=dumps(data), status=status, content_type="application/json", headers=headers
    )


def fast_json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """:func:`json_response` through :func:`fast_dumps`: only for data that meets its terms."""
    return web.Response(
        body=fast_dumps(data), status=status, content_type="application/json", headers=headers
    )


def model_response(
    model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer a response model (:mod:`mockapi.web.bodies`) the way :func:`json_response` does.

    ``mode="json"`` turns ids and times into their API strings; the compact encoding stays
    :func:`dumps`'s, so a body is byte for byte what the dict form would have sent.
    """
    return json_response(model.model_dump(mode="json"), status=status, headers=headers)
