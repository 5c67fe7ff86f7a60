"""Coverage alone: rows from the machines' tables, counting through their hook, the catalogue,
routes with undocumented statuses, fault actions from journal entries, and starting over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mockapi.domain import errors
from mockapi.domain.coverage import Coverage, catalogue
from mockapi.domain.journal import Journal
from mockapi.statemachines.task import Task, TaskKind, TaskStatus, build_task_machine, force

AT = datetime(2026, 1, 1, tzinfo=UTC)


def task_coverage() -> tuple[Coverage, Task]:
    machine = build_task_machine()
    coverage = Coverage()
    coverage.watch("task", machine)
    task = Task(uuid.uuid4(), TaskKind.POOL_EXPAND, uuid.uuid4(), None, AT)
    machine.add_model(task)
    return coverage, task


def test_a_row_per_transition_and_source_in_table_order() -> None:
    coverage, _ = task_coverage()
    rows = [
        (t["trigger"], t["source"], t["dest"])
        for t in coverage.view()["machines"]["task"]["transitions"]
    ]
    assert rows == [
        ("start", "PENDING", "RUNNING"),
        ("complete", "RUNNING", "COMPLETED"),
        ("fail", "RUNNING", "FAILED"),
        ("cancel", "PENDING", "CANCELLED"),
        ("cancel", "RUNNING", "CANCELLED"),
    ]


def test_transitions_are_counted_through_the_machines_hook_and_cleared() -> None:
    coverage, task = task_coverage()
    assert force(task, TaskStatus.RUNNING, AT)
    assert force(task, TaskStatus.CANCELLED, AT)
    view = coverage.view()["machines"]["task"]
    assert [t["count"] for t in view["transitions"]] == [1, 0, 0, 0, 1]
    assert (view["covered"], view["total"]) == (2, 5)
    coverage.clear()
    assert coverage.view()["machines"]["task"]["covered"] == 0


def test_the_catalogue_is_every_error_spec_of_the_errors_module() -> None:
    assert catalogue()["otp_required"] is errors.OTP_REQUIRED
    assert len(catalogue()) == 12


def test_answers_count_by_route_and_status_and_catalogue_entry() -> None:
    coverage = Coverage()
    coverage.expect_routes([("GET", "/a/{id}/", [200, 404])])
    coverage.note_answer("GET", "/a/{id}/", 404, errors.NOT_FOUND)
    coverage.note_answer("GET", "/a/{id}/", 503, None)
    coverage.note_answer("GET", "/elsewhere/", 200, errors.NOT_FOUND)
    view = coverage.view()
    assert view["routes"] == [
        {"method": "GET", "path": "/a/{id}/", "status": 200, "documented": True, "count": 0},
        {"method": "GET", "path": "/a/{id}/", "status": 404, "documented": True, "count": 1},
        {"method": "GET", "path": "/a/{id}/", "status": 503, "documented": False, "count": 1},
    ]
    assert [(e["name"], e["count"]) for e in view["errors"] if e["count"]] == [("not_found", 2)]


def test_fault_actions_are_counted_from_the_journal_as_it_is_written() -> None:
    coverage = Coverage()
    journal = Journal(lambda: 0.0)
    journal.observers.append(coverage.note_entry)
    journal.record("fault", fault="f", action="lose_frames")
    journal.record("fault", fault="f", action="lose_frames")
    journal.record_http("GET", "/", 200, None)
    assert [(f["action"], f["count"]) for f in coverage.view()["faults"] if f["count"]] == [
        ("lose_frames", 2)
    ]
