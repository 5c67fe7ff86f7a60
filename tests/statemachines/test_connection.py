"""The connection machine alone: one (user, pool) through the two flow pictures (CONTRACT §7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from transitions import Machine, MachineError

from mockapi.statemachines.connection import (
    STEP1_ANSWER,
    STEP2_ANSWER,
    TASK_OUTCOME_TRIGGER,
    Connection,
    ConnectionState,
    Step1,
    Step2,
    build_connection_machine,
)
from mockapi.statemachines.task import TERMINAL, Task, TaskKind

C = ConnectionState
Change = tuple[Connection, ConnectionState, ConnectionState, Task | None]


@pytest.fixture
def changes() -> list[Change]:
    return []


@pytest.fixture
def machine(changes: list[Change]) -> Machine:
    return build_connection_machine(lambda *change: changes.append(change))


def new_connection(machine: Machine, state: ConnectionState = C.NO_MACHINE) -> Connection:
    conn = Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4())
    machine.add_model(conn, initial=state.value)
    return conn


def new_task(kind: TaskKind) -> Task:
    return Task(
        id=uuid.uuid4(),
        kind=kind,
        user_id=uuid.uuid4(),
        pool_id=uuid.uuid4(),
        created=datetime(2026, 11, 25, tzinfo=UTC),
    )


def no_task() -> Task:
    """A task maker for triggers that must be refused: a refused trigger makes no task."""
    raise AssertionError("a refused trigger made a task")


def test_a_new_connection_has_no_machine(machine: Machine) -> None:
    conn = new_connection(machine)
    assert (conn.status, conn.step1, conn.step2) == (C.NO_MACHINE, Step1.NEW_TASK, Step2.NO_MACHINE)


def test_an_expandable_request_reserves_and_keeps_the_expand_task(
    machine: Machine, changes: list[Change]
) -> None:
    conn = new_connection(machine)
    task = new_task(TaskKind.POOL_EXPAND)
    assert conn.expand_requested(new_task=lambda: task, expandable=True) is True
    assert (conn.status, conn.expand_task) == (C.RESERVING, task)
    assert changes == [(conn, C.NO_MACHINE, C.RESERVING, task)]


def test_the_expandable_guard_refuses_changes_nothing_and_makes_no_task(
    machine: Machine, changes: list[Change]
) -> None:
    conn = new_connection(machine)
    made: list[Task] = []

    def make() -> Task:
        made.append(new_task(TaskKind.POOL_EXPAND))
        return made[-1]

    assert conn.may_trigger("expand_requested", expandable=False) is False
    assert conn.expand_requested(new_task=make, expandable=False) is False
    assert (conn.status, conn.expand_task, made) == (C.NO_MACHINE, None, [])
    assert changes == []


def test_an_expand_request_makes_its_task_once_and_before_the_change(
    machine: Machine, changes: list[Change]
) -> None:
    conn = new_connection(machine)
    seen: list[ConnectionState] = []

    def make() -> Task:
        seen.append(conn.status)
        return new_task(TaskKind.POOL_EXPAND)

    assert conn.expand_requested(new_task=make, expandable=True) is True
    assert seen == [C.NO_MACHINE]
    assert changes == [(conn, C.NO_MACHINE, C.RESERVING, conn.expand_task)]


@pytest.mark.parametrize(
    ("source", "trigger", "dest"),
    [
        (C.RESERVING, "expand_completed", C.HAS_MACHINE),
        (C.RESERVING, "expand_cancelled", C.NO_MACHINE),
        (C.RESERVING, "expand_failed", C.EXPAND_FAILED),
        (C.STARTING, "start_completed", C.READY),
        (C.STARTING, "start_cancelled", C.HAS_MACHINE),
        (C.STARTING, "start_failed", C.HAS_MACHINE),
    ],
)
def test_a_task_outcome_moves_the_connection(
    machine: Machine,
    changes: list[Change],
    source: ConnectionState,
    trigger: str,
    dest: ConnectionState,
) -> None:
    conn = new_connection(machine, source)
    task = new_task(TaskKind.POOL_EXPAND if trigger.startswith("expand") else TaskKind.GLINT_START)
    assert conn.trigger(trigger, task=task) is True
    assert conn.status is dest
    assert changes == [(conn, source, dest, task)]


def test_a_start_request_keeps_the_glint_start_task(
    machine: Machine, changes: list[Change]
) -> None:
    conn = new_connection(machine, C.HAS_MACHINE)
    task = new_task(TaskKind.GLINT_START)
    assert conn.start_requested(task=task) is True
    assert (conn.status, conn.start_task) == (C.STARTING, task)
    assert changes == [(conn, C.HAS_MACHINE, C.STARTING, task)]


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (C.NO_MACHINE, "start_requested"),
        (C.NO_MACHINE, "expand_completed"),
        (C.RESERVING, "expand_requested"),
        (C.EXPAND_FAILED, "expand_requested"),
        (C.HAS_MACHINE, "expand_requested"),
        (C.READY, "start_requested"),
        (C.READY, "expand_requested"),
        (C.HAS_MACHINE, "start_completed"),
    ],
)
def test_a_trigger_the_flow_does_not_allow_is_refused(
    machine: Machine, changes: list[Change], state: ConnectionState, trigger: str
) -> None:
    conn = new_connection(machine, state)
    assert conn.may_trigger(trigger, expandable=True) is False
    with pytest.raises(MachineError):
        conn.trigger(
            trigger, task=new_task(TaskKind.POOL_EXPAND), new_task=no_task, expandable=True
        )
    assert conn.status is state
    assert changes == []


def test_a_whole_flow_with_a_restart_after_each_cancel(
    machine: Machine, changes: list[Change]
) -> None:
    conn = new_connection(machine)
    conn.expand_requested(new_task=lambda: new_task(TaskKind.POOL_EXPAND), expandable=True)
    conn.trigger("expand_cancelled")
    conn.expand_requested(new_task=lambda: new_task(TaskKind.POOL_EXPAND), expandable=True)
    conn.trigger("expand_completed")
    conn.start_requested(task=new_task(TaskKind.GLINT_START))
    conn.trigger("start_failed")
    conn.start_requested(task=new_task(TaskKind.GLINT_START))
    conn.trigger("start_completed")
    assert [(source, dest) for _, source, dest, _ in changes] == [
        (C.NO_MACHINE, C.RESERVING),
        (C.RESERVING, C.NO_MACHINE),
        (C.NO_MACHINE, C.RESERVING),
        (C.RESERVING, C.HAS_MACHINE),
        (C.HAS_MACHINE, C.STARTING),
        (C.STARTING, C.HAS_MACHINE),
        (C.HAS_MACHINE, C.STARTING),
        (C.STARTING, C.READY),
    ]


@pytest.mark.parametrize(
    ("state", "step1", "step2"),
    [
        (C.NO_MACHINE, Step1.NEW_TASK, Step2.NO_MACHINE),
        (C.RESERVING, Step1.ACTIVE_TASK, Step2.NO_MACHINE),
        (C.EXPAND_FAILED, Step1.CANNOT_EXPAND, Step2.NO_MACHINE),
        (C.HAS_MACHINE, Step1.COMPLETED_TASK, Step2.NEW_TASK),
        (C.STARTING, Step1.COMPLETED_TASK, Step2.ACTIVE_TASK),
        (C.READY, Step1.COMPLETED_TASK, Step2.CONNECTION_DATA),
    ],
)
def test_each_state_answers_both_steps(
    machine: Machine, state: ConnectionState, step1: Step1, step2: Step2
) -> None:
    conn = new_connection(machine, state)
    assert (conn.step1, conn.step2) == (step1, step2)


def test_every_state_has_an_answer_and_every_task_outcome_a_trigger() -> None:
    assert set(STEP1_ANSWER) == set(STEP2_ANSWER) == set(C)
    assert set(TASK_OUTCOME_TRIGGER) == {
        (kind.value, status.value) for kind in TaskKind for status in TERMINAL
    }
