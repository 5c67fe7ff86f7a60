"""The running scenario: the world, the machines that move it, and the timers that drive them.

Handlers translate HTTP into calls here; this module turns them into triggers. Every task
change passes through :meth:`Runtime._on_task_change` (the task machine's
``after_state_change``), which logs it, moves the connection machine, and publishes the frame,
once. A reset builds a new world in place, so the app keeps one ``Runtime`` for its lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from typing import Any

from transitions import MachineError

from mockapi.domain.clock import Clock, Timer
from mockapi.domain.limits import (
    Limits,
    WorldCounts,
    check_growth,
    check_scenario,
)
from mockapi.domain.listeners import Listeners
from mockapi.domain.scenario import RuleSpec, Scenario, Timing, normalise_ref
from mockapi.domain.tokens import TokenService
from mockapi.domain.world import Desktop, Pool, User, World, build_world, task_frame
from mockapi.statemachines.connection import (
    TASK_OUTCOME_TRIGGER,
    Connection,
    ConnectionState,
    Step1,
    Step2,
    build_connection_machine,
)
from mockapi.statemachines.task import Task, TaskKind, TaskStatus, build_task_machine, force

log = logging.getLogger(__name__)

Publish = Callable[[uuid.UUID, dict[str, Any]], None]


#: Where each count of a create-pools request comes from, for the 422 item's ``loc``.
CREATE_POOLS_LOCS = {
    "pools": ("body", "count"),
    "machines": ("body", "create_machines_count"),
    "assignments": ("body", "assigned_users"),
}


class UnknownTask(LookupError):
    """No task with that id."""


class TaskLimitReached(Exception):
    """Every task the world may keep (``max_tasks``) is still running: none can be added."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many tasks: all {limit:,} the world may keep are running (max_tasks; "
            "raise it with --max-tasks or MOCKAPI_MAX_TASKS)."
        )


class TransitionRefused(Exception):
    """The task machine does not allow that change from the task's current state."""


@dataclass(slots=True)
class TaskPlan:
    """What a task will do, drawn once when it is created (same seed, same plan)."""

    pending_s: float
    running_s: float
    outcome: TaskStatus
    reason: str
    timer: Timer | None = None


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """Where a login attempt stopped (a state of the login machine), and when."""

    username: str
    outcome: str
    #: Scenario time as Unix seconds: formatted when the dashboard shows it, not at every
    #: login (``clock.now()`` builds a datetime).
    at: float


@dataclass(frozen=True, slots=True)
class ClockOverrides:
    """Clock settings from the command line, which win over the scenario's."""

    time_scale: float | None = None
    mode: str | None = None
    seed: int | None = None


class Runtime:
    """One scenario being played: world, machines, timers and the seeded generator."""

    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        tokens: TokenService,
        publish: Publish,
        overrides: ClockOverrides = ClockOverrides(),
        *,
        limits: Limits | None = None,
        world: World | None = None,
    ) -> None:
        """Play ``scenario``: ``world`` is its world already built (:func:`build_world`), or
        None to build it here. ``limits`` are the server's (the ceiling every later scenario
        may only lower); ``scenario`` must fit them (:func:`check_scenario`)."""
        self.clock = clock
        self.tokens = tokens
        self.overrides = overrides
        self._publish = publish
        self.task_machine = build_task_machine(self._on_task_change)
        self.connection_machine = build_connection_machine(self._on_connection_change)
        self.connections: dict[tuple[uuid.UUID, uuid.UUID], Connection] = {}
        self.plans: dict[uuid.UUID, TaskPlan] = {}
        #: Each task kind's outcomes and cumulative weights as ``rng.choices`` takes them,
        #: made once per scenario (the lists are the same for every task of a kind).
        self._outcomes: dict[str, tuple[list[TaskStatus], list[float]]] = {}
        #: The last login attempt of each scenario user, and the last attempt of anyone (an
        #: unknown username included): the login machine holds no attempt between requests.
        self.logins: dict[uuid.UUID, LoginRecord] = {}
        self.last_login: LoginRecord | None = None
        #: Told after every change of the world (tasks, connections, logins, a reset).
        self.listeners = Listeners()
        #: Told after a reset built the new world, before :attr:`listeners`: what lives next
        #: to the world and starts over with it (the scenario's faults).
        self.on_reset = Listeners()
        #: The server's limits; :attr:`limits` are those of the scenario being played.
        self.ceiling = limits or Limits()
        self.limits = check_scenario(scenario, self.ceiling)
        #: One world is built at a time: a second replacement waits for the first.
        self._rebuilding = asyncio.Lock()
        self._building: asyncio.Future[World] | None = None
        self.scenario = scenario
        self.world: World
        self.reset(scenario, world)

    # -- resetting -------------------------------------------------------------------------
    async def replace(self, scenario: Scenario | None = None) -> None:
        """Back to the initial state of ``scenario`` (the active one when None), the world
        built without holding the loop (:func:`build_world`) and swapped in at once.

        Raises :class:`LimitExceeded`, before anything is built or changed, when ``scenario``
        would go over a limit.
        """
        async with self._rebuilding:
            target = scenario or self.scenario
            limits = check_scenario(target, self.ceiling)
            self._building = asyncio.ensure_future(build_world(target, self.overrides.seed))
            try:
                world = await self._building
            finally:
                self._building = None
            self.limits = limits
            self.reset(target, world)

    def stop_building(self) -> None:
        """Drop a world being built (the server is stopping): its replacement never happens."""
        if self._building is not None:
            self._building.cancel()

    def reset(self, scenario: Scenario | None = None, world: World | None = None) -> None:
        """Back to the initial state of ``scenario`` (the active one when None); ``world`` is
        its world built already, or None to build it now (holding the loop meanwhile)."""
        if scenario is not None:
            if scenario is not self.scenario:
                self.limits = check_scenario(scenario, self.ceiling)
            self.scenario = scenario
        for plan in self.plans.values():
            if plan.timer is not None:
                plan.timer.cancel()
        for model in list(self.task_machine.models):
            self.task_machine.remove_model(model)
        for model in list(self.connection_machine.models):
            self.connection_machine.remove_model(model)
        self.plans.clear()
        self._outcomes.clear()
        self.connections.clear()
        self.logins.clear()
        self.last_login = None
        settings = self.scenario.settings
        self.clock.reset(
            start=settings.start.timestamp() if settings.start else None,
            mode="manual" if (self.overrides.mode or settings.clock) == "manual" else "real",
            time_scale=self.overrides.time_scale or settings.time_scale,
        )
        self.tokens.ttl_s = settings.token_ttl_s
        self.tokens.clear_revoked()
        self.world = world or World(self.scenario, self.overrides.seed)
        self._seed_connections()
        self.on_reset()
        self.listeners()

    def _seed_connections(self) -> None:
        """Put each (user, pool) the scenario touches in the state its machines and tasks imply.

        The machine check comes first, as in step 1: a user with a machine in a pool has one,
        whatever older expands say. Otherwise the latest POOL_EXPAND decides (active:
        reserving, FAILED: expand_failed). With a machine, the latest GLINT_START decides
        (active: starting, COMPLETED: ready). Seeded active tasks get no timers: they stay as
        the scenario wrote them (user-1's PENDING task is part of the original's world) until
        something forces them.
        """
        latest: dict[tuple[uuid.UUID, uuid.UUID, TaskKind], Task] = {}
        for task in sorted(self.world.tasks.values(), key=lambda t: t.created):
            if task.is_active:
                self.task_machine.add_model(task, initial=task.state)
            if task.pool_id is not None:
                latest[(task.user_id, task.pool_id, task.kind)] = task
        pairs = dict.fromkeys(
            [(user.id, m.pool_id) for user in self.world.users.values() for m in user.machines]
            + [(user_id, pool_id) for user_id, pool_id, _ in latest]
        )
        for user_id, pool_id in pairs:
            conn = self.connection(user_id, pool_id)
            expand = latest.get((user_id, pool_id, TaskKind.POOL_EXPAND))
            start = latest.get((user_id, pool_id, TaskKind.GLINT_START))
            state = ConnectionState.NO_MACHINE
            if self.world.users[user_id].machine_in(pool_id) is not None:
                state = ConnectionState.HAS_MACHINE
                if expand is not None and expand.status is TaskStatus.COMPLETED:
                    conn.expand_task = expand
                if start is not None:
                    conn.start_task = start
                    if start.is_active:
                        state = ConnectionState.STARTING
                    elif start.status is TaskStatus.COMPLETED:
                        state = ConnectionState.READY
            elif expand is not None:
                conn.expand_task = expand
                if expand.is_active:
                    state = ConnectionState.RESERVING
                elif expand.status is TaskStatus.FAILED:
                    state = ConnectionState.EXPAND_FAILED
            # The plain value: transitions reads an Enum state by its *name* (HAS_MACHINE).
            conn.state = state.value

    # -- connections -----------------------------------------------------------------------
    def connection(self, user_id: uuid.UUID, pool_id: uuid.UUID) -> Connection:
        """The (user, pool) connection model, created on first use."""
        key = (user_id, pool_id)
        conn = self.connections.get(key)
        if conn is None:
            conn = Connection(user_id=user_id, pool_id=pool_id)
            self.connection_machine.add_model(conn)
            self.connections[key] = conn
        return conn

    def expandable(self, user: User, pool: Pool) -> bool:
        """Whether step 1 may start a POOL_EXPAND: the world's machine limit, the rules, then
        the pool's capacity."""
        if not pool.free and len(self.world.machines) >= self.limits.max_machines:
            return False  # a new machine would go over max_machines: 403/800, as exhausted
        rule = self.rule_for(user, pool, TaskKind.POOL_EXPAND)
        if rule is not None and rule.expandable is not None:
            return rule.expandable
        return pool.has_capacity

    def request_machine(self, user: User, pool: Pool) -> tuple[Step1, Task | None]:
        """Step 1. Synchronous from check to creation, so concurrent requests share one task."""
        conn = self.connection(user.id, pool.id)
        answer = conn.step1
        if answer is Step1.NEW_TASK:
            # The trigger's guard decides, once; the task is drawn inside the transition only
            # when it passed, so a refusal leaves the seeded generator untouched and cannot
            # shift the outcomes of other requests.
            made = conn.expand_requested(
                new_task=partial(self._new_expand, user, pool),
                expandable=self.expandable(user, pool) and self._room_for_a_task(),
            )
            if not made:
                return Step1.CANNOT_EXPAND, None
            return Step1.NEW_TASK, conn.expand_task
        if answer is Step1.COMPLETED_TASK:
            return answer, conn.expand_task or self._synthetic_expand(conn)
        if answer is Step1.ACTIVE_TASK:
            return answer, conn.expand_task
        return answer, None

    def request_connection(self, user: User, pool: Pool) -> tuple[Step2, Task | Desktop | None]:
        """Step 2: a new or running GLINT_START, or the machine's connection data."""
        conn = self.connection(user.id, pool.id)
        answer = conn.step2
        if answer is Step2.NEW_TASK:
            if not self._room_for_a_task():
                raise TaskLimitReached(self.limits.max_tasks)
            task = self._new_task(TaskKind.GLINT_START, user, pool)
            self._launch(task, user, pool)
            conn.start_requested(task=task)
            return answer, task
        if answer is Step2.ACTIVE_TASK:
            return answer, conn.start_task
        if answer is Step2.CONNECTION_DATA:
            return answer, user.machine_in(pool.id)
        return answer, None

    def _room_for_a_task(self) -> bool:
        """Whether a new task fits ``max_tasks``, forgetting the oldest finished task if not.

        A forgotten task leaves the tasks API (404) and /service/all-tasks/; a connection that
        answers with it (step 1's COMPLETED expand) keeps answering the same object. Only when
        every task kept is still running is there no room.
        """
        tasks = self.world.tasks
        if len(tasks) < self.limits.max_tasks:
            return True
        for task_id, task in tasks.items():  # oldest first: a dict keeps insertion order
            if task.is_done:
                del tasks[task_id]
                return True
        return False

    def _new_expand(self, user: User, pool: Pool) -> Task:
        """The POOL_EXPAND of a step 1 the connection machine let through, launched."""
        task = self._new_task(TaskKind.POOL_EXPAND, user, pool)
        task.extra["machine"] = self._take_machine(pool)
        self._launch(task, user, pool)
        return task

    def _synthetic_expand(self, conn: Connection) -> Task:
        # A machine the scenario assigned up front has no task; answer a COMPLETED one, made
        # once and kept, so repeats (and the tasks API) show the same task.
        self._room_for_a_task()  # done and kept as the connection's, even at the limit
        created = self.clock.now()
        task = Task(
            id=self.world.new_id(),
            kind=TaskKind.POOL_EXPAND,
            user_id=conn.user_id,
            pool_id=conn.pool_id,
            created=created,
            started=created,
            finished=created,
            state=TaskStatus.COMPLETED.value,
            reason="scenario",
        )
        self.world.tasks[task.id] = task
        conn.expand_task = task
        self.listeners()
        return task

    def _take_machine(self, pool: Pool) -> Desktop:
        """A free machine of ``pool``, or a new one when none is free.

        Step 1 takes it when the expand is created, so two users racing for a pool's last
        machine cannot both win; a CANCELLED or FAILED expand puts it back.
        """
        if pool.free:
            return pool.free.pop(0)
        return self.world.new_machine(pool)

    def create_pools(self, count: int, machines_per_pool: int, users: list[User]) -> list[Pool]:
        """New pools drawn from the seeded generator, each with free machines, assigned.

        Raises :class:`LimitExceeded`, and creates nothing, when the world would go over its
        pools, machines or assignments limit.
        """
        world = self.world
        current = WorldCounts(
            pools=len(world.pools),
            machines=len(world.machines),
            assignments=sum(len(user.pool_ids) for user in world.users.values()),
        )
        added = WorldCounts(
            pools=count,
            machines=count * machines_per_pool,
            assignments=count * len(dict.fromkeys(users)),
        )
        check_growth(self.limits, current, added, CREATE_POOLS_LOCS)
        pools = self.world.create_pools(count, machines_per_pool, users)
        log.info(
            "created %d pool(s) with %d free machine(s) each, assigned to %d user(s): %s",
            len(pools), machines_per_pool, len(users), ", ".join(p.name for p in pools),
        )  # fmt: skip
        self.listeners()
        return pools

    # -- logins ----------------------------------------------------------------------------
    def note_login(self, username: str, user: User | None, outcome: str) -> None:
        """Remember where a login attempt stopped (the dashboard marks it on the diagram)."""
        record = LoginRecord(username=username, outcome=outcome, at=self.clock.time())
        self.last_login = record
        if user is not None:  # only scenario users: unknown names must not grow memory
            self.logins[user.id] = record
        self.listeners()

    # -- tasks -----------------------------------------------------------------------------
    def rule_for(self, user: User, pool: Pool | None, kind: TaskKind) -> RuleSpec | None:
        """The first scenario rule matching (user, pool, kind); None when none does."""
        for rule in self.scenario.rules:
            if rule.kind is not None and rule.kind != kind.value:
                continue
            if rule.user is not None and self.world.user(normalise_ref(rule.user)) is not user:
                continue
            if rule.pool is not None and (
                pool is None or self.world.pool(normalise_ref(rule.pool)) is not pool
            ):
                continue
            return rule
        return None

    def _new_task(self, kind: TaskKind, user: User, pool: Pool) -> Task:
        return Task(
            id=self.world.new_id(),
            kind=kind,
            user_id=user.id,
            pool_id=pool.id,
            created=self.clock.now(),
        )

    def _plan(self, kind: TaskKind, user: User, pool: Pool) -> TaskPlan:
        timing: Timing = self.scenario.timing[kind.value]
        rule = self.rule_for(user, pool, kind)
        rng = self.world.rng
        pending = timing.pending_s
        running_spec = timing.running_s
        reason = "timer"
        if rule is not None:
            if rule.pending_s is not None:
                pending = rule.pending_s
            if rule.running_s is not None:
                running_spec = rule.running_s
        if isinstance(running_spec, tuple):
            low, high = running_spec
            if float(low).is_integer() and float(high).is_integer():
                running = float(rng.randint(int(low), int(high)))
            else:
                running = rng.uniform(low, high)
        else:
            running = running_spec
        outcomes = self._outcomes.get(kind.value)
        if outcomes is None:
            outcomes = self._outcomes[kind.value] = (
                [TaskStatus(name) for name in timing.outcomes],
                # Cumulative, as choices() would make them from the weights on every call:
                # the same draw for the same random number.
                list(accumulate(timing.outcomes.values())),
            )
        population, cum_weights = outcomes
        outcome = rng.choices(population, cum_weights=cum_weights)[0]
        if rule is not None and rule.outcome is not None:
            outcome = TaskStatus(rule.outcome)
            reason = "rule"
        return TaskPlan(pending_s=pending, running_s=running, outcome=outcome, reason=reason)

    def _launch(self, task: Task, user: User, pool: Pool) -> None:
        """Register a new task, draw its plan and start its PENDING timer."""
        self.world.tasks[task.id] = task
        self.task_machine.add_model(task, initial=TaskStatus.PENDING.value)
        plan = self._plan(task.kind, user, pool)
        self.plans[task.id] = plan
        plan.timer = self.clock.call_later(plan.pending_s, lambda: self._timer_start(task))
        if log.isEnabledFor(logging.INFO):  # the arguments alone cost more than the rest
            log.info(
                "task %s %s created for %s in %s: PENDING (plan: %gs pending, %gs running, %s)",
                task.id, task.kind.value, user.username, pool.name,
                plan.pending_s, plan.running_s, plan.outcome.value,
            )  # fmt: skip
        self.listeners()

    def _timer_start(self, task: Task) -> None:
        task.start(at=self.clock.now(), reason="timer")

    def _timer_finish(self, task: Task) -> None:
        plan = self.plans[task.id]
        task.trigger(_FINISH_TRIGGER[plan.outcome], at=self.clock.now(), reason=plan.reason)

    def force(self, task_id: uuid.UUID, status: TaskStatus) -> Task:
        """Force a task's change, as the control API asks; pushed like any other change."""
        task = self.world.tasks.get(task_id)
        if task is None:
            raise UnknownTask(str(task_id))
        if not task.is_active or not force(task, status, self.clock.now()):
            raise TransitionRefused(f"{task.state} → {status.value} is not a task transition")
        return task

    def _on_task_change(self, task: Task, source: TaskStatus, dest: TaskStatus) -> None:
        """The one hook every task change passes through (``after_state_change``)."""
        user = self.world.users.get(task.user_id)
        pool = self.world.pools.get(task.pool_id) if task.pool_id else None
        if log.isEnabledFor(logging.INFO):
            log.info(
                "task %s %s user=%s pool=%s: %s → %s (%s)",
                task.id, task.kind.value, user.username if user else task.user_id,
                pool.name if pool else None, source.value, dest.value, task.reason,
            )  # fmt: skip
        plan = self.plans.get(task.id)
        if plan is not None and plan.timer is not None:
            plan.timer.cancel()
            plan.timer = None
        if dest is TaskStatus.RUNNING and plan is not None:
            plan.timer = self.clock.call_later(plan.running_s, lambda: self._timer_finish(task))
        if task.is_done:
            self._settle(task, user, pool)
        try:
            self._publish(task.user_id, task_frame(task))
        except Exception:
            # The change has happened; a broken broadcast must not undo or stop it (§10).
            log.exception("publishing %s of task %s failed", dest.value, task.id)
        self.listeners()

    def _settle(self, task: Task, user: User | None, pool: Pool | None) -> None:
        """A finished task moves its connection and hands out or returns its machine."""
        self.task_machine.remove_model(task)
        self.plans.pop(task.id, None)
        if pool is None:
            return
        if task.kind is TaskKind.POOL_EXPAND:
            machine: Desktop | None = task.extra.pop("machine", None)
            if (
                task.status is TaskStatus.COMPLETED
                and user is not None
                and user.machine_in(pool.id) is None
            ):
                # A seeded expand reserved nothing when it was created: take one now.
                machine = machine or self._take_machine(pool)
                machine.user_id = user.id
                user.machines.append(machine)
            elif machine is not None:
                pool.free.insert(0, machine)
        conn = self.connections.get((task.user_id, pool.id))
        if conn is None:
            return
        # The trigger itself says whether the connection is where this outcome leads from;
        # when it is not (a seeded task forced to its end while the scenario put its
        # connection elsewhere, say), the outcome has nothing to move.
        with suppress(MachineError):
            conn.trigger(TASK_OUTCOME_TRIGGER[(task.kind.value, task.state)], task=task)

    def _on_connection_change(
        self,
        conn: Connection,
        source: ConnectionState,
        dest: ConnectionState,
        task: Task | None,
    ) -> None:
        """Log a connection change with the task that caused it (step 1 and 2 answer from it)."""
        if log.isEnabledFor(logging.INFO):
            user = self.world.users.get(conn.user_id)
            pool = self.world.pools.get(conn.pool_id)
            log.info(
                "connection user=%s pool=%s: %s → %s (task %s %s %s)",
                user.username if user else conn.user_id, pool.name if pool else conn.pool_id,
                source.value, dest.value, task.id if task else None,
                task.kind.value if task else None, task.state if task else None,
            )  # fmt: skip
        self.listeners()


_FINISH_TRIGGER = {
    TaskStatus.COMPLETED: "complete",
    TaskStatus.FAILED: "fail",
    TaskStatus.CANCELLED: "cancel",
}
