"""Connection to a pool, one model per (user, pool): the two flow pictures as one machine.

Step 1 (get_machine_step_1.png) reserves a machine with a POOL_EXPAND task::

    no_machine --expand_requested[expandable]--> reserving
    reserving  --expand_completed--> has_machine
    reserving  --expand_cancelled--> no_machine      (restartable)
    reserving  --expand_failed---->  expand_failed   (step 1 answers 403/800 from then on)

Step 2 (get_machine_step_2.png) starts the remote-access server with a GLINT_START task::

    has_machine --start_requested--> starting
    starting    --start_completed--> ready
    starting    --start_cancelled | start_failed--> has_machine   (restartable)

Every trigger carries the task that fires it (``task=``), and the machine-wide
``after_state_change`` hook hands each change and that task to whoever built the machine.
``expand_requested`` alone carries a maker of the task (``new_task=``) instead: its guard can
refuse, and the task is made only once the guard let the request through (a refused request
must draw nothing from the scenario's seeded generator). The trigger's result says which.
The machine keeps the task that moved it; what each resting state answers is
:data:`STEP1_ANSWER` and :data:`STEP2_ANSWER`, so a handler maps state to response and never
re-derives the flow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from .registry import build_machine
from .task import Task


class ConnectionState(StrEnum):
    NO_MACHINE = "no_machine"
    RESERVING = "reserving"
    EXPAND_FAILED = "expand_failed"
    HAS_MACHINE = "has_machine"
    STARTING = "starting"
    READY = "ready"


class Step1(StrEnum):
    """What step 1 answers in a state."""

    NEW_TASK = "new_task"  # 202 with a new POOL_EXPAND, if the pool is expandable, else 403/800
    ACTIVE_TASK = "active_task"  # 202 with the running POOL_EXPAND
    COMPLETED_TASK = "completed_task"  # 200 with the COMPLETED POOL_EXPAND
    CANNOT_EXPAND = "cannot_expand"  # 403/800


class Step2(StrEnum):
    """What step 2 answers in a state."""

    NO_MACHINE = "no_machine"  # 409/801
    NEW_TASK = "new_task"  # 202 with a new GLINT_START
    ACTIVE_TASK = "active_task"  # 202 with the running GLINT_START
    CONNECTION_DATA = "connection_data"  # 200 with the machine's connection data


S = ConnectionState
STEP1_ANSWER = {
    S.NO_MACHINE: Step1.NEW_TASK,
    S.RESERVING: Step1.ACTIVE_TASK,
    S.EXPAND_FAILED: Step1.CANNOT_EXPAND,
    S.HAS_MACHINE: Step1.COMPLETED_TASK,
    S.STARTING: Step1.COMPLETED_TASK,
    S.READY: Step1.COMPLETED_TASK,
}
STEP2_ANSWER = {
    S.NO_MACHINE: Step2.NO_MACHINE,
    S.RESERVING: Step2.NO_MACHINE,
    S.EXPAND_FAILED: Step2.NO_MACHINE,
    S.HAS_MACHINE: Step2.NEW_TASK,
    S.STARTING: Step2.ACTIVE_TASK,
    S.READY: Step2.CONNECTION_DATA,
}

STATES = [state.value for state in ConnectionState]
#: A state by its name, without a call of the enum machinery on every read.
STATE_OF = {state.value: state for state in ConnectionState}
INITIAL = S.NO_MACHINE.value
#: The machine is drawn top to bottom: its chain of states left to right is twice as wide as
#: a page's column, and shrunk to fit it was unreadable.
DIAGRAM_DIRECTION = "TB"

TRANSITIONS: list[dict[str, Any]] = [
    {
        "trigger": "expand_requested",
        "source": S.NO_MACHINE.value,
        "dest": S.RESERVING.value,
        "conditions": "is_expandable",
        "before": "_make_expand_task",
    },
    {"trigger": "expand_completed", "source": S.RESERVING.value, "dest": S.HAS_MACHINE.value},
    {"trigger": "expand_cancelled", "source": S.RESERVING.value, "dest": S.NO_MACHINE.value},
    {"trigger": "expand_failed", "source": S.RESERVING.value, "dest": S.EXPAND_FAILED.value},
    {
        "trigger": "start_requested",
        "source": S.HAS_MACHINE.value,
        "dest": S.STARTING.value,
        "before": "_keep_start_task",
    },
    {"trigger": "start_completed", "source": S.STARTING.value, "dest": S.READY.value},
    {"trigger": "start_cancelled", "source": S.STARTING.value, "dest": S.HAS_MACHINE.value},
    {"trigger": "start_failed", "source": S.STARTING.value, "dest": S.HAS_MACHINE.value},
]

#: The connection trigger a finished task fires, by (task kind, task status).
TASK_OUTCOME_TRIGGER = {
    ("POOL_EXPAND", "COMPLETED"): "expand_completed",
    ("POOL_EXPAND", "CANCELLED"): "expand_cancelled",
    ("POOL_EXPAND", "FAILED"): "expand_failed",
    ("GLINT_START", "COMPLETED"): "start_completed",
    ("GLINT_START", "CANCELLED"): "start_cancelled",
    ("GLINT_START", "FAILED"): "start_failed",
}


@dataclass(eq=False)
class Connection:
    """A user's connection state in one pool; ``eq=False`` so every model registers."""

    user_id: uuid.UUID
    pool_id: uuid.UUID
    state: str = S.NO_MACHINE.value
    #: The POOL_EXPAND that gave (or is giving) the machine; None for a scenario-assigned one.
    expand_task: Task | None = None
    #: The latest GLINT_START.
    start_task: Task | None = None

    @property
    def status(self) -> ConnectionState:
        return STATE_OF[self.state]

    @property
    def step1(self) -> Step1:
        return STEP1_ANSWER[self.status]

    @property
    def step2(self) -> Step2:
        return STEP2_ANSWER[self.status]

    def is_expandable(self, event: EventData) -> bool:
        """Guard of ``expand_requested``: the caller says whether the pool can give a machine."""
        return bool(event.kwargs.get("expandable", False))

    def _make_expand_task(self, event: EventData) -> None:
        # The guard has passed: only now may the task be drawn. It goes into the event's
        # arguments too, so the hook reports it like the task of any other trigger.
        task = event.kwargs["task"] = event.kwargs["new_task"]()
        self.expand_task = task

    def _keep_start_task(self, event: EventData) -> None:
        self.start_task = event.kwargs["task"]

    if TYPE_CHECKING:

        def expand_requested(self, *, new_task: Callable[[], Task], expandable: bool) -> bool: ...
        def start_requested(self, *, task: Task) -> bool: ...
        def trigger(self, name: str, **kwargs: Any) -> bool: ...
        def may_trigger(self, name: str, **kwargs: Any) -> bool: ...


ChangeHook = Callable[[Connection, ConnectionState, ConnectionState, Task | None], None]


def build_connection_machine(on_change: ChangeHook | None = None) -> Machine:
    """The one connection machine; ``on_change(conn, source, dest, task)`` runs after every change.

    ``task`` is the task that moved the connection (the trigger's ``task`` argument).
    """

    def after_state_change(event: EventData) -> None:
        conn, transition = event.model, event.transition
        if on_change is not None and isinstance(conn, Connection) and transition is not None:
            task = event.kwargs.get("task")
            on_change(conn, STATE_OF[transition.source], STATE_OF[conn.state], task)

    return build_machine(STATES, TRANSITIONS, INITIAL, after_state_change)
