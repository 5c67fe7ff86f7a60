"""Compact JSON exactly as the original writes it: no spaces, UTF-8, escaping only what must be.

Every answer, WebSocket frame and dashboard message is encoded here, so the bytes a client
sees are the same wherever they come from. A leaf module: the web layer, the socket hub and
the dashboard all import it, and it imports none of them.
"""

from __future__ import annotations

import json
from typing import Any

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
