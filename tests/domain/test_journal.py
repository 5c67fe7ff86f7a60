"""The Journal alone: sequence numbers, ``since``, the bound and what it counts as dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mockapi.domain.journal import Journal, iso_time

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
