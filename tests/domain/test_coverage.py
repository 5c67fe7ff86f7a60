"""Coverage alone: rows from the machines' tables, counting through their hook, the catalogue,
routes with undocumented statuses, fault actions from journal entries, starting over, and the
flowchart (login as one fan per start state)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from mockapi.domain import errors
from mockapi.domain.coverage import COVERED_EDGE, Coverage, catalogue, mermaid
from mockapi.domain.journal import Journal
from mockapi.statemachines.drawing import SEPARATOR
from mockapi.statemachines.login import (
    Account,
    LoginAttempt,
    LoginStep,
    build_login_machine,
    run_login,
)
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


# -- the flowchart -------------------------------------------------------------------------
def attempt(account: Account | None, step: LoginStep = LoginStep.LOGIN) -> LoginAttempt:
    return LoginAttempt(
        username="someone",
        password="p",
        ldap=False,
        otp_code=None,
        account=account,
        expected_otp="260101",
        step=step,
    )


def test_a_login_outcome_copy_is_reached_only_by_its_own_edge() -> None:
    machine = build_login_machine()
    coverage = Coverage()
    coverage.watch("login", machine)
    run_login(machine, attempt(None))  # logging_in -> unknown_user
    run_login(machine, attempt(None))
    run_login(machine, attempt(Account("p", adfs=True), LoginStep.ADFS))  # -> authenticated
    view = coverage.view()["machines"]["login"]
    text = mermaid("login", view)

    classes = dict(re.findall(r"^  class (\S+) (reached|unreached)$", text, re.MULTILINE))
    reached = sorted(node for node, mark in classes.items() if mark == "reached")
    assert reached == [
        "s_logging_in",
        "s_logging_in__unknown_user",
        "s_signing_in_with_adfs",
        "s_signing_in_with_adfs__authenticated",
    ]
    # The other fans' copies of the same outcomes stay grey; so does a start state none left.
    assert classes["s_signing_in_with_adfs__unknown_user"] == "unreached"
    assert classes["s_logging_in__authenticated"] == "unreached"
    assert classes["s_signing_in_with_hardware_token"] == "unreached"
    # One node per start state and per edge, each edge drawn once, into its own copy.
    assert len(classes) == 3 + 16
    edges = re.findall(r"^  (s_\S+) (==>|-\.->)\|\"([^\"]*)\"\| (s_\S+)$", text, re.MULTILINE)
    assert len(edges) == 16
    assert len({dest for *_, dest in edges}) == 16
    assert ("s_logging_in", "==>", "[user_unknown] ×2", "s_logging_in__unknown_user") in edges
    assert (
        "s_signing_in_with_adfs",
        "==>",
        "checked ×1",
        "s_signing_in_with_adfs__authenticated",
    ) in edges
    # Nodes show the state's own name; linkStyle keeps the rows' order.
    assert '  s_signing_in_with_adfs__authenticated(["authenticated"])' in text
    covered = [str(i) for i, row in enumerate(view["transitions"]) if row["count"]]
    assert f"  linkStyle {','.join(covered)} {COVERED_EDGE}" in text
    assert len(covered) == 2


def test_an_unfanned_machine_draws_each_state_once() -> None:
    coverage, task = task_coverage()
    assert force(task, TaskStatus.CANCELLED, AT)  # PENDING -> CANCELLED
    text = mermaid("task", coverage.view()["machines"]["task"])
    assert SEPARATOR not in text
    assert text.count('(["CANCELLED"])') == 1
    # Both cancels end in the one CANCELLED, reached by the one taken.
    assert '  s_PENDING ==>|"cancel ×1"| s_CANCELLED' in text
    assert '  s_RUNNING -.->|"cancel"| s_CANCELLED' in text
    assert "  class s_CANCELLED reached" in text
    assert "  class s_RUNNING unreached" in text
