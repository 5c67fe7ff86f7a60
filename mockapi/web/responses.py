"""Compact JSON responses exactly as the original sends them (no charset, no spaces)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_json

#: ``json.dumps`` with these options builds a new encoder on every call; this one is the same
#: encoder, made once (an encoder holds no state between calls).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(data: Any) -> bytes:
    """Serialise to the compact JSON form every answer and frame uses."""
    text = _ENCODER.encode(data)
    # A 422 echoes its input, which may hold a lone surrogate ("\ud800" in the request); as
    # "\ud800" it stays valid JSON, where strict UTF-8 would raise and answer a text/plain 500.
    return text.encode("utf-8", errors="backslashreplace")


#: The smallest magnitude of a non-zero float that :func:`fast_dumps` writes as :func:`dumps` does.
FAST_FLOATS = 1e-4


def fast_dumps(data: Any) -> bytes:
    """:func:`dumps`, byte for byte and several times faster, for plain JSON data (dicts with
    string keys, lists, tuples, strings, ints, bools, None) whose floats are 0 or at least
    :data:`FAST_FLOATS` in magnitude.

    pydantic-core's serializer writes what ``dumps`` writes (a test compares both over every
    code point, floats of every magnitude, big integers, infinities and NaN) except for a
    float below 1e-4 (``1e-05`` becomes ``0.00001``) and a ``None`` key, and it also writes
    what ``dumps`` refuses (a UUID, a datetime). A lone surrogate, which ``dumps`` escapes,
    makes it raise: such data, and anything else it refuses, goes through :func:`dumps`.
    """
    try:
        return to_json(data, inf_nan_mode="constants")
    except PydanticSerializationError:
        return dumps(data)


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
