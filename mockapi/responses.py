"""Compact JSON responses exactly as the original sends them (no charset, no spaces)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


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
