"""Task lifecycle: PENDING → RUNNING → COMPLETED | FAILED | CANCELLED.

One machine serves every task (tasks are models added and removed). The machine never reads
a clock: each trigger carries ``at`` (the scenario time of the change) and ``reason`` (why:
timer, rule, forced), and the machine-wide ``after_state_change`` hook hands every change to
whoever built the machine, once, after the model is in its new state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from .registry import build_machine


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


class TaskKind(StrEnum):
    POOL_EXPAND = "POOL_EXPAND"
    GLINT_START = "GLINT_START"


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED})
ACTIVE = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})

STATES = [status.value for status in TaskStatus]
#: A status by its state name: a dict lookup, where ``TaskStatus(name)`` costs a call of the
#: enum machinery on every read (several per task change).
STATUS_OF = {status.value: status for status in TaskStatus}
INITIAL = TaskStatus.PENDING.value

#: The trigger that leads into each status; forcing a status fires its trigger.
TRIGGER_FOR = {
    TaskStatus.RUNNING: "start",
    TaskStatus.COMPLETED: "complete",
    TaskStatus.FAILED: "fail",
    TaskStatus.CANCELLED: "cancel",
}

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": "PENDING", "dest": "RUNNING", "before": "_stamp_started"},
    {"trigger": "complete", "source": "RUNNING", "dest": "COMPLETED", "before": "_stamp_finished"},
    {"trigger": "fail", "source": "RUNNING", "dest": "FAILED", "before": "_stamp_finished"},
    {
        "trigger": "cancel",
        "source": ["PENDING", "RUNNING"],
        "dest": "CANCELLED",
        "before": "_stamp_finished",
    },
]


@dataclass(eq=False)
class Task:
    """A task model; ``eq=False`` because ``add_model`` compares models with ``==``."""

    id: uuid.UUID
    kind: TaskKind
    user_id: uuid.UUID
    pool_id: uuid.UUID | None
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    state: str = TaskStatus.PENDING.value
    reason: str = "created"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> TaskStatus:
        return STATUS_OF[self.state]

    @property
    def is_done(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def _stamp_started(self, event: EventData) -> None:
        self.started = event.kwargs["at"]
        self.reason = event.kwargs.get("reason", "timer")

    def _stamp_finished(self, event: EventData) -> None:
        self.finished = event.kwargs["at"]
        self.reason = event.kwargs.get("reason", "timer")

    if TYPE_CHECKING:
        # Bound by the machine in add_model; declared for type checkers only, since
        # transitions will not replace an attribute the model already has.
        def start(self, *, at: datetime, reason: str = ...) -> bool: ...
        def complete(self, *, at: datetime, reason: str = ...) -> bool: ...
        def fail(self, *, at: datetime, reason: str = ...) -> bool: ...
        def cancel(self, *, at: datetime, reason: str = ...) -> bool: ...
        def trigger(self, name: str, *, at: datetime, reason: str = ...) -> bool: ...
        def may_trigger(self, name: str) -> bool: ...


ChangeHook = Callable[[Task, TaskStatus, TaskStatus], None]


def build_task_machine(on_change: ChangeHook | None = None) -> Machine:
    """The one task machine; ``on_change(task, source, dest)`` runs after every change."""

    def after_state_change(event: EventData) -> None:
        task, transition = event.model, event.transition
        # Only a Task model with a real transition gets here; the checks satisfy the stubs.
        if on_change is not None and isinstance(task, Task) and transition is not None:
            on_change(task, STATUS_OF[transition.source], STATUS_OF[task.state])

    return build_machine(STATES, TRANSITIONS, INITIAL, after_state_change)


def force(task: Task, status: TaskStatus, at: datetime) -> bool:
    """Move ``task`` to ``status`` if the machine allows it; False (and no change) otherwise."""
    trigger = TRIGGER_FOR.get(status)
    if trigger is None or not task.may_trigger(trigger):
        return False
    return task.trigger(trigger, at=at, reason="forced")
