"""Compact JSON (mockapi.jsonfmt): the original's bytes, and fast_dumps proven against dumps."""

from __future__ import annotations

import json
import random
import struct
import sys
from typing import Any

import pytest

from mockapi.jsonfmt import FAST_FLOATS, dumps, fast_dumps


def test_dumps_is_json_dumps_compact_without_ascii_escapes() -> None:
    data = {"a": [1, 2.5, None, True], "é": "ü\u2028\x7f", "n": {"k": '\x00\x1f"\\'}}
    expected = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert dumps(data) == expected


def test_dumps_writes_a_lone_surrogate_as_its_escape() -> None:
    assert dumps({"input": "a\ud800b"}) == b'{"input":"a\\ud800b"}'


def _floats() -> list[float]:
    """Floats of every magnitude, both signs, the specials and random bit patterns."""
    rng = random.Random(6)
    values = [0.0, -0.0, 1.0, 0.1, 1e15, 1e16, 1e22, 5e-324, sys.float_info.max, FAST_FLOATS]
    values += [float("inf"), float("-inf"), float("nan"), 1764056716.710622, 1764056716.0]
    for exponent in range(-4, 308):
        values += [rng.uniform(1, 10) * 10.0**exponent for _ in range(5)]
    for _ in range(20_000):
        (value,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        values.append(value)
    return [-v for v in values] + values


def test_fast_dumps_writes_every_float_in_its_terms_as_dumps_does() -> None:
    floats = [f for f in _floats() if f == 0 or not abs(f) < FAST_FLOATS]
    different = [f for f in floats if fast_dumps(f) != dumps(f)]
    assert different == []
    assert fast_dumps(floats) == dumps(floats)


def test_floats_below_its_terms_are_why_it_has_terms() -> None:
    # The documented exception: if this ever passes, the terms can go.
    assert dumps(1e-05) == b"1e-05"
    assert fast_dumps(1e-05) != dumps(1e-05)


def test_fast_dumps_escapes_every_code_point_as_dumps_does() -> None:
    chars = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    for start in range(0, len(chars), 4096):
        text = chars[start : start + 4096]
        assert fast_dumps(text) == dumps(text)
        assert fast_dumps({text: [text]}) == dumps({text: [text]})


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"lone": "a\ud800b"}, id="lone surrogate"),
        pytest.param(["\udfff", {"k": "\ud83d\ude00"}], id="surrogate pair as two"),
    ],
)
def test_what_fast_dumps_refuses_goes_through_dumps(data: Any) -> None:
    assert fast_dumps(data) == dumps(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([0, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40, -(10**40)], id="ints"),
        pytest.param([True, False, None, [], {}, [[]], {"a": {}}], id="constants"),
        pytest.param({"1": 1, "b": [1, "x", 2.5], "c": {"d": None}}, id="nested"),
        pytest.param({1: "int key", 2.5: "float key"}, id="number keys"),
        pytest.param({True: "bool key", False: "bool key"}, id="bool keys"),
        pytest.param(("a", ("b", 1)), id="tuples"),
    ],
)
def test_fast_dumps_writes_the_rest_as_dumps_does(data: Any) -> None:
    assert fast_dumps(data) == dumps(data)
