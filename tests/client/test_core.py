"""The client core's pure parts: how answers are read, URLs and ids checked, patterns matched."""

from __future__ import annotations

from typing import Any

import pytest

from mockapi.client import core
from mockapi.client.core import Answer, BadAnswer, Refused
from mockapi.statemachines.task import TaskKind, TaskStatus


def test_the_client_knows_every_task_status_and_kind_of_the_machine() -> None:
    assert tuple(status.value for status in TaskStatus) == core.TASK_STATUSES
    assert tuple(kind.value for kind in TaskKind) == core.TASK_KINDS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"detail":"Not Found"}', "Not Found"),
        (
            b'{"detail":[{"msg":"Not found.","err_code":999,"type":"default"}]}',
            "Not found.",
        ),
        (
            b'{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required"},'
            b'{"type":"missing","loc":["body","ldap"],"msg":"Field required"}]}',
            "body.username: Field required; body.ldap: Field required",
        ),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"", "(empty body)"),
    ],
)
def test_a_refusal_reads_the_servers_own_words(body: bytes, message: str) -> None:
    assert core.error_message(Answer(404, body)) == message


def test_a_call_refuses_a_status_it_does_not_expect() -> None:
    call = core.remove_fault("x")
    with pytest.raises(Refused) as refused:
        call.read(Answer(404, b'{"detail":[{"msg":"Not found.","err_code":999}]}'))
    assert (refused.value.method, refused.value.path) == ("DELETE", "/service/faults/x/")
    assert str(refused.value) == "DELETE /service/faults/x/ refused with 404: Not found."


def test_an_answer_that_is_not_what_the_route_sends_is_a_clear_error() -> None:
    with pytest.raises(BadAnswer, match="not JSON"):
        core.get_clock().read(Answer(200, b"<html>"))
    with pytest.raises(BadAnswer, match="unexpected answer"):
        core.reset().read(Answer(200, b'{"nodata": 1}'))
    with pytest.raises(BadAnswer, match="unexpected answer"):
        core.get_clock().read(Answer(200, b""))


def test_a_fault_id_is_quoted_into_its_path() -> None:
    assert core.remove_fault("a b/c").path == "/service/faults/a%20b%2Fc/"


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host/", "http://", "http://h/?q=1"])
def test_a_server_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        core.normalize_url(url)


def test_a_server_url_loses_its_trailing_slash() -> None:
    assert core.normalize_url(" http://127.0.0.1:9000/ ") == "http://127.0.0.1:9000"


def test_task_ids_and_statuses_are_checked_before_any_request() -> None:
    assert core.task_id_text("63CA828DD5F443B2A4B06CE60741C7A8") == (
        "63ca828d-d5f4-43b2-a4b0-6ce60741c7a8"
    )
    with pytest.raises(ValueError, match="not a task id"):
        core.force("nope", "RUNNING")
    with pytest.raises(ValueError, match="unknown task status 'DONE'"):
        core.force("63ca828d-d5f4-43b2-a4b0-6ce60741c7a8", "DONE")
    with pytest.raises(ValueError, match="unknown task kind"):
        core.frame_probe("alice", kind="EXPAND")


def test_a_pattern_matches_equal_values_and_nested_subsets() -> None:
    entry = {"kind": "ws", "user": "alice", "frame": {"status": "RUNNING", "id": "1"}}
    assert core.matches(entry, {"kind": "ws", "frame": {"status": "RUNNING"}})
    assert not core.matches(entry, {"frame": {"status": "COMPLETED"}})
    assert not core.matches(entry, {"missing": None})
    assert not core.matches({"frame": "text"}, {"frame": {"status": "RUNNING"}})


@pytest.mark.parametrize("field", ["timeout", "step", "poll"])
@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_a_wait_policy_refuses_a_time_that_is_not_positive(field: str, value: float) -> None:
    given: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        core.WaitPolicy(**given)


def test_a_scenario_file_type_comes_from_its_suffix() -> None:
    assert core.scenario_type(".TOML") == "application/toml"
    assert core.scenario_type(".json") == "application/json"
    with pytest.raises(ValueError, match=r"\.toml or \.json"):
        core.scenario_type(".yaml")
