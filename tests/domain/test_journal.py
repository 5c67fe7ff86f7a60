"""The Journal alone: sequence numbers, ``since``, the bound and what it counts as dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mockapi.domain.journal import Journal, iso_time, request_side
from mockapi.domain.redaction import MAX_BODY_BYTES, read_body, redact_headers, redact_query

TIME = "2026-11-25T07:45:16.710622Z"
#: TIME as the clock gives it: the journal keeps the number and formats it when read.
TIME_S = datetime.fromisoformat(TIME).timestamp()


def journal(capacity: int = 100) -> Journal:
    return Journal(lambda: TIME_S, capacity=capacity)


def http(seq: int, path: str = "/api/v2/health/", user: str | None = None) -> dict[str, Any]:
    return {"seq": seq, "time": TIME, "kind": "http", "method": "GET", "path": path,
            "status": 200, "user": user}  # fmt: skip


def fill(j: Journal, count: int) -> None:
    for _ in range(count):
        j.record_http("GET", "/api/v2/health/", 200, None)


def seqs(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["seq"] for entry in entries]


# -- entries ---------------------------------------------------------------------------------
def test_an_empty_journal_has_no_entries_and_nothing_dropped() -> None:
    j = journal()
    assert j.since() == ([], 0)
    assert j.last_seq == 0


def test_http_entries_have_the_contract_shape_in_key_order() -> None:
    j = journal()
    j.record_http("POST", "/api/v2/users/login/", 401, None)
    j.record_http("GET", "/api/v2/pools/", 200, "astravdi")
    entries, dropped = j.since()
    assert entries == [
        {"seq": 1, "time": TIME, "kind": "http", "method": "POST",
         "path": "/api/v2/users/login/", "status": 401, "user": None},
        http(2, "/api/v2/pools/", "astravdi"),
    ]  # fmt: skip
    assert list(entries[0]) == ["seq", "time", "kind", "method", "path", "status", "user"]
    assert dropped == 0


def test_ws_entries_carry_the_frame_sent() -> None:
    j = journal()
    frame = {"status": "RUNNING", "id": "fabb9a84-ae96-4d07-b5a0-329ea70fa476",
             "kind": "POOL_EXPAND"}  # fmt: skip
    j.record_ws("user-1", frame)
    entries, _ = j.since()
    assert entries == [{"seq": 1, "time": TIME, "kind": "ws", "user": "user-1", "frame": frame}]
    assert list(entries[0]) == ["seq", "time", "kind", "user", "frame"]


def test_other_kinds_keep_their_fields_after_seq_time_and_kind() -> None:
    j = journal()
    j.record("fault", rule=0, action="drop")
    assert j.since() == (
        [{"seq": 1, "time": TIME, "kind": "fault", "rule": 0, "action": "drop"}],
        0,
    )


def test_the_time_is_read_from_the_clock_when_the_entry_is_made() -> None:
    start = datetime.fromisoformat("2030-01-01T00:00:00Z").timestamp()
    times = iter([start, start + 5])
    j = Journal(lambda: next(times))
    fill(j, 2)
    assert [entry["time"] for entry in j.since()[0]] == [
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:05Z",
    ]


# -- since -----------------------------------------------------------------------------------
def test_since_returns_the_entries_after_seq_oldest_first() -> None:
    j = journal()
    fill(j, 5)
    assert seqs(j.since(0)[0]) == [1, 2, 3, 4, 5]
    assert seqs(j.since(2)[0]) == [3, 4, 5]
    assert j.since(5) == ([], 0)
    assert j.since(99) == ([], 0)  # a seq from the future is simply nothing new


def test_a_list_returned_by_since_does_not_grow_with_later_entries() -> None:
    j = journal()
    fill(j, 2)
    first, _ = j.since()
    fill(j, 1)
    assert seqs(first) == [1, 2]


# -- the bound -------------------------------------------------------------------------------
def test_the_bound_drops_the_oldest_and_counts_them_for_readers_behind() -> None:
    j = journal(capacity=3)
    fill(j, 5)  # 1 and 2 are gone
    assert (seqs(j.since(0)[0]), j.since(0)[1]) == ([3, 4, 5], 2)
    assert (seqs(j.since(1)[0]), j.since(1)[1]) == ([3, 4, 5], 1)
    assert (seqs(j.since(2)[0]), j.since(2)[1]) == ([3, 4, 5], 0)
    assert (seqs(j.since(4)[0]), j.since(4)[1]) == ([5], 0)
    assert j.last_seq == 5


def test_a_reader_that_kept_up_never_sees_a_drop() -> None:
    j = journal(capacity=2)
    seen = 0
    for _ in range(10):
        fill(j, 2)
        entries, dropped = j.since(seen)
        assert (len(entries), dropped) == (2, 0)
        seen = entries[-1]["seq"]
    assert seen == 20


# -- clear -----------------------------------------------------------------------------------
def test_clear_forgets_every_entry_but_sequence_numbers_keep_growing() -> None:
    j = journal()
    fill(j, 3)
    j.clear()
    assert j.since() == ([], 0)
    fill(j, 2)
    assert seqs(j.since()[0]) == [4, 5]
    assert j.last_seq == 5


def test_cleared_entries_are_not_counted_as_dropped() -> None:
    # A clear is on purpose; ``dropped`` reports only what the bound lost.
    j = journal()
    fill(j, 3)
    j.clear()
    assert j.since(0) == ([], 0)
    assert j.since(1) == ([], 0)
    fill(j, 1)
    assert (seqs(j.since(0)[0]), j.since(0)[1]) == ([4], 0)


def test_after_a_clear_the_bound_still_counts_its_own_drops() -> None:
    j = journal(capacity=2)
    fill(j, 3)
    j.clear()
    fill(j, 5)  # 4..8 made, 4..6 lost to the bound
    assert (seqs(j.since(0)[0]), j.since(0)[1]) == ([7, 8], 3)
    assert (seqs(j.since(5)[0]), j.since(5)[1]) == ([7, 8], 1)


def test_a_time_reads_as_the_api_writes_times() -> None:
    assert iso_time(TIME_S) == TIME
    assert iso_time(1_800_000_000.0) == "2027-01-15T08:00:00Z"


def test_a_since_past_any_index_is_nothing_new_not_an_error() -> None:
    # Found by schemathesis: ?since=83242106335181017651703971840 made islice raise (a 500).
    j = journal()
    fill(j, 3)
    assert j.since(83242106335181017651703971840) == ([], 0)


# -- the request side, socket events, the size bound -----------------------------------------
def test_an_http_entry_keeps_the_query_headers_and_parsed_body_after_the_answer() -> None:
    j = journal()
    sent = request_side(
        [("page", "2")], [("Content-Type", "application/json")], "application/json",
        b'{"username": "ann", "password": "p"}',
    )  # fmt: skip
    j.record_http("POST", "/api/v2/users/login/", 200, "ann", *sent)
    (entry,), _ = j.since()
    assert entry == {
        "seq": 1, "time": TIME, "kind": "http", "method": "POST", "path": "/api/v2/users/login/",
        "status": 200, "user": "ann", "query": {"page": "2"},
        "headers": {"content-type": "application/json"},
        "body": {"username": "ann", "password": "[redacted]"},
    }  # fmt: skip


def test_a_body_left_out_is_said_so() -> None:
    j = journal()
    j.record_http("POST", "/x/", 200, None, *request_side([], [], "image/png", b"\x89PNG"))
    (entry,), _ = j.since()
    assert (entry["body"], entry["body_omitted"]) == (None, {"media": "image/png", "bytes": 4})


def test_socket_events_name_the_socket_by_the_seq_of_its_opening() -> None:
    j = journal()
    socket = j.record_ws_open("ann", "client-1")
    j.record_ws_message("ann", socket, "hello")
    j.record_ws_message("ann", socket, b"\x00\x01\x02")
    j.record_ws_close("ann", socket, 1000, "client")
    entries, _ = j.since()
    assert socket == 1
    assert [{k: v for k, v in e.items() if k != "time"} for e in entries] == [
        {"seq": 1, "kind": "ws_open", "user": "ann", "socket": 1, "client_id": "client-1"},
        {"seq": 2, "kind": "ws_message", "user": "ann", "socket": 1, "text": "hello"},
        {"seq": 3, "kind": "ws_message", "user": "ann", "socket": 1, "binary_bytes": 3},
        {"seq": 4, "kind": "ws_close", "user": "ann", "socket": 1, "code": 1000, "by": "client"},
    ]


def test_a_long_message_is_cut_and_its_length_kept() -> None:
    j = journal()
    j.record_ws_message("ann", 1, "x" * (MAX_BODY_BYTES + 5))
    (entry,), _ = j.since()
    assert (len(entry["text"]), entry["text_chars"]) == (MAX_BODY_BYTES, MAX_BODY_BYTES + 5)


def test_the_size_bound_drops_the_oldest_entries_and_counts_them() -> None:
    j = Journal(lambda: TIME_S, capacity=1000, max_bytes=10_000)
    big = request_side([], [], "text/plain", b"x" * 3000)
    for _ in range(5):
        j.record_http("POST", "/api/v2/x/", 200, None, *big)
    entries, dropped = j.since()
    # Each entry holds over 3000 bytes of text: three fit in 10 000, the two oldest went.
    assert (seqs(entries), dropped) == ([3, 4, 5], 2)
    assert 9_000 < j.size <= 10_000


def test_one_entry_larger_than_the_bound_is_still_kept_alone() -> None:
    j = Journal(lambda: TIME_S, max_bytes=100)
    fill(j, 1)
    j.record_http("POST", "/x/", 200, None, *request_side([], [], "text/plain", b"y" * 500))
    entries, dropped = j.since()
    assert (seqs(entries), dropped) == ([2], 1)


def test_a_clear_gives_back_the_size() -> None:
    j = journal()
    fill(j, 3)
    assert j.size > 0
    j.clear()
    assert j.size == 0


# -- the request side, redacted when read ---------------------------------------------------
#: A token-shaped value (the journal fingerprints anything JWT-shaped).
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl"
#: Requests as (query pairs, header pairs, media type, body): a login with its secrets, a
#: form, a token in a header and in the query, text, a binary body, an unread body, a body
#: over the kept size, a header that is not UTF-8.
SIDES: list[tuple[list[tuple[str, str]], list[tuple[str, str]], str, bytes, int | None]] = [
    ([], [("Host", "h"), ("Content-Type", "application/json")], "application/json",
     b'{"username": "ann", "password": "p", "otp_code": "1"}', None),
    ([], [("Content-Type", "application/x-www-form-urlencoded")],
     "application/x-www-form-urlencoded", b"username=ann&password=p&token_code=123456", None),
    ([("access_token", JWT), ("page", "2"), ("page", "3")], [("Authorization", f"JWT {JWT}")],
     "", b"", None),
    ([], [("X-Service-Token", "s3cret"), ("Cookie", f"a=1; t={JWT}")], "text/plain",
     b"hello", None),
    ([], [("Content-Type", "image/png")], "image/png", b"\x89PNG", None),
    ([], [("Content-Type", "multipart/form-data")], "multipart/form-data", b"", 1234),
    ([], [("Content-Type", "text/plain")], "text/plain", b"x" * (MAX_BODY_BYTES + 10), None),
    ([], [("X-Odd", "caf\udce9")], "", b"", None),
]  # fmt: skip


def eager(query: Any, headers: Any, media: str, raw: bytes, declared: int | None) -> Any:
    """What the request side reads as, redacted by the redaction module's own functions."""
    body, omitted = read_body(media, raw, declared) if raw or declared else (None, None)
    fields = {"query": redact_query(query), "headers": redact_headers(headers), "body": body}
    return fields if omitted is None else {**fields, "body_omitted": omitted}


def test_a_request_side_reads_as_the_redaction_functions_make_it() -> None:
    j = journal()
    for side in SIDES:
        j.record_http("POST", "/x/", 200, "ann", *request_side(*side))
    entries, _ = j.since()
    for entry, side in zip(entries, SIDES, strict=True):
        fields = {
            k: v for k, v in entry.items() if k in ("query", "headers", "body", "body_omitted")
        }
        assert fields == eager(*side)
    assert JWT not in repr(entries)
    assert "s3cret" not in repr(entries)


def test_entries_recorded_between_reads_are_settled_among_the_others() -> None:
    j = journal()
    j.record_http("GET", "/a/", 200, None, *request_side([], [("Host", "h")], "", b""))
    j.record("fault", fault="f", action="status")
    first, _ = j.since()
    j.record_ws("ann", {"type": "task"})
    j.record_http("GET", "/b/", 200, None, *request_side([], [("Host", "h")], "", b""))
    j.record_http("GET", "/c/", 204, None)  # no request side: no request fields
    j.record("fault", fault="f", action="drop")
    entries, dropped = j.since()
    assert (seqs(first), seqs(entries), dropped) == ([1, 2], [1, 2, 3, 4, 5, 6], 0)
    assert [e["kind"] for e in entries] == ["http", "fault", "ws", "http", "http", "fault"]
    assert [e.get("headers") for e in entries] == [
        {"host": "h"},
        None,
        None,
        {"host": "h"},
        None,
        None,
    ]
    assert all(all(not key.startswith("_") for key in e) for e in j.entries())


def test_a_body_over_the_kept_size_is_cut_when_recorded() -> None:
    j = journal()
    big = b"y" * (4 * MAX_BODY_BYTES)
    j.record_http("POST", "/x/", 200, None, *request_side([], [], "text/plain", big))
    assert j.size < MAX_BODY_BYTES + 1024  # what the entry holds, not what was sent
    (entry,), _ = j.since()
    assert entry["body_omitted"] == {
        "media": "text/plain",
        "bytes": len(big),
        "kept": MAX_BODY_BYTES,
    }


def test_observers_hear_every_entry_but_the_http_answers() -> None:
    j = journal()
    heard: list[str] = []
    j.observers.append(lambda entry: heard.append(entry["kind"]))
    j.record_http("GET", "/a/", 200, None)
    j.record("fault", fault="f", action="status")
    j.record_ws("ann", {"type": "task"})
    assert heard == ["fault", "ws"]
