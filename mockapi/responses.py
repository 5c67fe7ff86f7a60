"""Compact JSON responses exactly as the original sends them (no charset, no spaces)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel


def dumps(data: Any) -> bytes:
    """Serialise to the compact JSON form every answer and frame uses."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # A 422 echoes its input, which may hold a lone surrogate ("\ud800" in the request); as
    # "\ud800" it stays valid JSON, where strict UTF-8 would raise and answer a text/plain 500.
    return text.encode("utf-8", errors="backslashreplace")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer ``data`` as compact JSON with ``content-type: application/json`` and no charset."""
    return web.Response(
        body=dumps(data), status=status, content_type="application/json", headers=headers
    )


def model_response(
    model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Answer a response model (:mod:`mockapi.schemas`) the way :func:`json_response` does.

    ``mode="json"`` turns ids and times into their API strings; the compact encoding stays
    :func:`dumps`'s, so a body is byte for byte what the dict form would have sent.
    """
    return json_response(model.model_dump(mode="json"), status=status, headers=headers)
