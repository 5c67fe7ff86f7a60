"""The task machine alone: PENDING → RUNNING → COMPLETED | FAILED | CANCELLED (CONTRACT §6, §7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from transitions import Machine, MachineError

from mockapi.statemachines.task import (
    ACTIVE,
    TERMINAL,
    TRIGGER_FOR,
    Task,
    TaskKind,
    TaskStatus,
    build_task_machine,
    force,
)

S = TaskStatus
T0 = datetime(2026, 11, 25, 7, 45, 16, 710622, tzinfo=UTC)
T1 = T0 + timedelta(seconds=3)
T2 = T0 + timedelta(seconds=42)

#: Every change the machine allows; everything else is refused.
ALLOWED = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
}

Change = tuple[Task, TaskStatus, TaskStatus]


@pytest.fixture
def changes() -> list[Change]:
    return []


@pytest.fixture
def machine(changes: list[Change]) -> Machine:
    return build_task_machine(lambda task, source, dest: changes.append((task, source, dest)))


def new_task(machine: Machine, status: TaskStatus = S.PENDING) -> Task:
    task = Task(
        id=uuid.uuid4(),
        kind=TaskKind.POOL_EXPAND,
        user_id=uuid.uuid4(),
        pool_id=uuid.uuid4(),
        created=T0,
        state=status.value,
    )
    machine.add_model(task, initial=status.value)
    return task


def test_a_new_task_is_pending_with_only_created_set(machine: Machine) -> None:
    task = new_task(machine)
    assert (task.status, task.started, task.finished) == (S.PENDING, None, None)
    assert task.is_active
    assert not task.is_done


def test_start_moves_pending_to_running_and_stamps_started(
    machine: Machine, changes: list[Change]
) -> None:
    task = new_task(machine)
    assert task.start(at=T1, reason="timer") is True
    assert (task.status, task.started, task.finished, task.reason) == (
        S.RUNNING,
        T1,
        None,
        "timer",
    )
    assert changes == [(task, S.PENDING, S.RUNNING)]


@pytest.mark.parametrize(
    ("trigger", "outcome"),
    [("complete", S.COMPLETED), ("fail", S.FAILED), ("cancel", S.CANCELLED)],
)
def test_a_running_task_ends_in_each_terminal_status_with_finished_set(
    machine: Machine, changes: list[Change], trigger: str, outcome: TaskStatus
) -> None:
    task = new_task(machine)
    task.start(at=T1)
    assert task.trigger(trigger, at=T2, reason="rule") is True
    assert (task.status, task.started, task.finished, task.reason) == (outcome, T1, T2, "rule")
    assert task.is_done
    assert not task.is_active
    assert changes == [(task, S.PENDING, S.RUNNING), (task, S.RUNNING, outcome)]


def test_a_pending_task_can_be_cancelled_without_ever_starting(
    machine: Machine, changes: list[Change]
) -> None:
    task = new_task(machine)
    assert task.cancel(at=T1, reason="forced") is True
    assert (task.status, task.started, task.finished) == (S.CANCELLED, None, T1)
    assert changes == [(task, S.PENDING, S.CANCELLED)]


@pytest.mark.parametrize(
    ("status", "trigger"),
    [
        (S.PENDING, "complete"),
        (S.PENDING, "fail"),
        (S.RUNNING, "start"),
        (S.COMPLETED, "start"),
        (S.COMPLETED, "cancel"),
        (S.FAILED, "start"),
        (S.CANCELLED, "start"),
        (S.CANCELLED, "complete"),
    ],
)
def test_a_trigger_from_a_state_without_that_transition_is_refused_and_changes_nothing(
    machine: Machine, changes: list[Change], status: TaskStatus, trigger: str
) -> None:
    task = new_task(machine, status)
    with pytest.raises(MachineError):
        task.trigger(trigger, at=T2)
    assert (task.status, task.started, task.finished) == (status, None, None)
    assert changes == []


@pytest.mark.parametrize(("source", "dest"), list(product(S, S)))
def test_force_applies_exactly_the_allowed_changes(
    machine: Machine, changes: list[Change], source: TaskStatus, dest: TaskStatus
) -> None:
    task = new_task(machine, source)
    allowed = (source, dest) in ALLOWED
    assert force(task, dest, T2) is allowed
    if allowed:
        assert (task.status, task.reason) == (dest, "forced")
        assert changes == [(task, source, dest)]
    else:
        assert task.status is source
        assert changes == []


def test_completed_to_running_is_refused(machine: Machine, changes: list[Change]) -> None:
    task = new_task(machine)
    task.start(at=T1)
    task.complete(at=T2)
    changes.clear()
    assert force(task, S.RUNNING, T2) is False
    assert task.status is S.COMPLETED
    assert changes == []


def test_the_hook_sees_the_new_state_and_its_timestamp_already_in_place() -> None:
    seen: list[tuple[str, bool, bool]] = []
    machine = build_task_machine(
        lambda task, _source, _dest: seen.append(
            (task.state, task.started is not None, task.finished is not None)
        )
    )
    task = new_task(machine)
    task.start(at=T1)
    task.fail(at=T2)
    assert seen == [("RUNNING", True, False), ("FAILED", True, True)]


def test_one_machine_serves_many_tasks_independently(
    machine: Machine, changes: list[Change]
) -> None:
    first, second = new_task(machine), new_task(machine)
    first.start(at=T1)
    assert (first.status, second.status) == (S.RUNNING, S.PENDING)
    assert changes == [(first, S.PENDING, S.RUNNING)]


def test_status_sets_and_triggers_cover_every_status() -> None:
    assert set(S) == ACTIVE | TERMINAL
    assert not ACTIVE & TERMINAL
    assert set(TRIGGER_FOR) == set(S) - {S.PENDING}
