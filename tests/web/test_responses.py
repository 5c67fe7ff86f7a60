"""JSON answers: compact, no charset, and ``fast_dumps`` writing exactly what ``dumps`` writes."""

from __future__ import annotations

from mockapi.web.responses import fast_json_response, json_response


async def test_both_responses_answer_the_same_bytes_and_headers() -> None:
    data = {"data": [{"name": "pool é", "n": 1}], "total": 1}
    slow, fast = json_response(data, status=202), fast_json_response(data, status=202)
    assert (fast.status, fast.body, fast.content_type) == (
        slow.status,
        slow.body,
        slow.content_type,
    )
    assert fast.headers == slow.headers
