"""Verification alone, on hand-made journal entries: what differs, counts, window, order."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mockapi.domain.redaction import fingerprint
from mockapi.domain.verify import (
    MAX_NEAR_MISSES,
    Count,
    Difference,
    RequestMatcher,
    Verification,
    differences,
    verify,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


def entry(seq: int, time: float = 0.0, **fields: Any) -> dict[str, Any]:
    base = {"seq": seq, "time": time, "kind": "http", "method": "GET", "path": "/a/",
            "status": 200, "user": None, "query": {}, "headers": {}, "body": None}  # fmt: skip
    return {**base, **fields}


def test_a_body_subset_reports_each_missing_or_different_key_by_its_path() -> None:
    matcher = RequestMatcher(body={"a": {"b": 1, "c": [1, 2]}, "d": "x"})
    found = differences(matcher, entry(1, body={"a": {"b": 2, "c": [1, 2], "z": 0}}))
    assert found == [Difference("body.a.b", 1, 2), Difference("body.d", "x", None)]
    assert differences(matcher, entry(1, body={"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": 0})) == []


def test_headers_present_absent_and_equal_with_a_jwt_compared_by_fingerprint() -> None:
    headers = {"authorization": f"JWT {fingerprint(TOKEN)}", "accept": "*/*"}
    ok = RequestMatcher(headers={"Authorization": f"JWT {TOKEN}", "ACCEPT": True, "x": False})
    assert differences(ok, entry(1, headers=headers)) == []
    wrong = RequestMatcher(headers={"accept": False, "x": True, "authorization": "JWT other"})
    assert differences(wrong, entry(1, headers=headers)) == [
        Difference("headers.accept", "absent", "*/*"),
        Difference("headers.x", "present", None),
        Difference("headers.authorization", "JWT other", headers["authorization"]),
    ]


def test_query_values_compare_whole_a_repeated_name_as_its_list() -> None:
    matcher = RequestMatcher(query={"tag": ["a", "b"]})
    assert differences(matcher, entry(1, query={"tag": ["a", "b"]})) == []
    assert differences(matcher, entry(1, query={"tag": "a"})) == [
        Difference("query.tag", ["a", "b"], "a")
    ]


@pytest.mark.parametrize(
    ("count", "holds"),
    [
        ({"exactly": 2}, [False, False, True, False]),
        ({"at_least": 2}, [False, False, True, True]),
        ({"at_most": 2}, [True, True, True, False]),
    ],
)
def test_each_count_kind(count: dict[str, int], holds: list[bool]) -> None:
    assert [Count.model_validate(count).holds(n) for n in range(4)] == holds


def test_a_count_needs_exactly_one_kind() -> None:
    with pytest.raises(ValidationError):
        Count.model_validate({"exactly": 1, "at_least": 1})


def test_window_and_order_are_differences_of_a_near_miss() -> None:
    entries = [entry(1, 0.0, path="/start/"), entry(2, 1.0), entry(3, 9.0, path="/start/"),
               entry(4, 10.0), entry(5, 20.0)]  # fmt: skip
    check = Verification.model_validate(
        {
            "request": {"path": "/a/"},
            "after": {"path": "/start/"},
            "within_s": 15,
            "count": {"exactly": 3},
        }
    )
    outcome = verify(check, entries, now=20.0)
    assert [e["seq"] for e in outcome.matches] == [4, 5]
    assert not outcome.ok
    # Fewest differences first: the second start differs by path only, entry 2 came before
    # the window, and the first start is the after entry itself, before the window too.
    near = [(e["seq"], [d.field for d in found]) for e, found in outcome.near_misses]
    assert near == [(3, ["path"]), (2, ["time"]), (1, ["path", "order", "time"])]


def test_no_more_than_five_near_misses() -> None:
    entries = [entry(seq, path=f"/b{seq}/") for seq in range(1, 10)]
    outcome = verify(Verification(request=RequestMatcher(path="/a/")), entries, now=0.0)
    assert len(outcome.near_misses) == MAX_NEAR_MISSES
    assert [e["seq"] for e, _ in outcome.near_misses] == [9, 8, 7, 6, 5]
