"""How drift compares two answers: types, keys, key order, lengths and the values it fixes."""

from __future__ import annotations

import warnings

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from mockapi.proxy.drift import (
    ORIGINAL_SECRET,
    PROBES,
    SECTION_10,
    Answer,
    compare,
    compare_answers,
    compare_tokens,
    health_frozen,
)

PROBE = {probe.name: probe for probe in PROBES}


def test_equal_bodies_have_no_difference() -> None:
    body = {"data": [{"id": "a", "n": 1}], "total": 1}
    assert compare(body, body) == []


def test_a_type_is_compared_before_the_value_and_int_is_not_float() -> None:
    assert compare({"exp": 1.5}, {"exp": 1}) == [("exp", "type", "number", "integer")]
    assert compare({"ok": True}, {"ok": 1}) == [("ok", "type", "boolean", "integer")]
    assert compare({"err_code": "999"}, {"err_code": 999}) == [
        ("err_code", "type", "string", "integer")
    ]


def test_keys_missing_extra_and_out_of_order() -> None:
    assert compare({"a": 1, "b": 2}, {"b": 2, "a": 1}) == [
        ("", "key order", ["a", "b"], ["b", "a"])
    ]
    assert compare({"a": 1, "b": 2}, {"a": 1, "c": 2}) == [("", "keys", ["b"], ["c"])]


def test_lists_are_compared_item_by_item_and_by_length() -> None:
    assert compare([1, 2, 3], [1, 5]) == [("", "length", 3, 2), ("[1]", "value", 2, 5)]


def test_a_free_value_may_differ_but_not_its_type() -> None:
    free = frozenset({"data.items[*].when"})
    up = {"data": {"items": [{"when": 1.5}]}}
    assert compare(up, {"data": {"items": [{"when": 2.5}]}}, free) == []
    assert compare(up, {"data": {"items": [{"when": "x"}]}}, free) == [
        ("data.items[0].when", "type", "number", "string")
    ]


def test_status_and_contract_headers_are_compared() -> None:
    up = Answer(405, {"allow": "GET", "content-type": "application/json"}, {"detail": "x"})
    mock = Answer(404, {"content-type": "application/json"}, {"detail": "x"})
    found = {(d.where, d.kind) for d in compare_answers(PROBE["method-405"], up, mock)}
    assert found == {("", "status"), ("header allow", "value")}


def test_the_same_pools_in_another_order_is_section_10() -> None:
    pools = [{"id": "1"}, {"id": "2"}]
    up = Answer(200, {}, {"data": pools[::-1], "total": 2})
    mock = Answer(200, {}, {"data": pools, "total": 2})
    diffs = compare_answers(PROBE["pools"], up, mock)
    assert diffs
    assert {d.expected for d in diffs} == {SECTION_10["pools_order"]}
    # Another total is no reordering: real drift.
    other = Answer(200, {}, {"data": pools[::-1], "total": 3})
    assert {d.expected for d in compare_answers(PROBE["pools"], other, mock)} == {None}


def test_an_accepted_socket_for_another_client_id_is_section_10() -> None:
    diffs = compare_answers(
        PROBE["ws-other-client-id"],
        Answer(101, {}, None),
        Answer(403, {"www-authenticate": "JWT"}, {"detail": []}),
    )
    assert diffs
    assert {d.expected for d in diffs} == {SECTION_10["ws_client_id"]}


def test_frozen_health_values_are_named_as_section_10() -> None:
    body = {
        "data": {"response_data": {"hostname": "2ec4a07b9dd4", "timestamp": 1753277200.0986974}}
    }
    found = health_frozen(PROBE["health"], Answer(200, {}, body))
    assert [d.where for d in found] == [
        "data.response_data.hostname",
        "data.response_data.timestamp",
    ]
    assert {d.expected for d in found} == {SECTION_10["health"]}


def _token(secret: str, **claims: object) -> str:
    base = {"sub": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4", "username": "astravdi", "exp": 1.5,
            "roles": ["admin", "user"], "client_id": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4",
            "domain": None}  # fmt: skip
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


def test_tokens_compare_claims_and_spot_the_originals_secret() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the original's short key
        original = _token(ORIGINAL_SECRET)
    ours = _token("m" * 32, iat=1.0, jti="abc")
    found = {(d.where, d.kind, d.expected) for d in compare_tokens(original, ours)}
    assert found == {
        ("claims", "extra claims", SECTION_10["claims"]),
        ("signature", "secret", SECTION_10["jwt_secret"]),
    }
    drifted = {(d.where, d.kind) for d in compare_tokens(_token("m" * 32, roles=["user"]), ours)}
    assert drifted == {
        ("claims.roles", "length"),
        ("claims.roles[0]", "value"),
        ("claims", "extra claims"),  # §10, listed apart by the report
    }
