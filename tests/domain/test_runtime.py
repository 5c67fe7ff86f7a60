"""The runtime engine without HTTP: plans, rules, capacity, settling and the one change hook."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from mockapi.domain.clock import Clock
from mockapi.domain.runtime import ClockOverrides, Publish, Runtime, TransitionRefused, UnknownTask
from mockapi.domain.scenario import parse_scenario
from mockapi.domain.tokens import TokenService
from mockapi.domain.world import Desktop, Pool, User
from mockapi.statemachines.connection import ConnectionState, Step1, Step2
from mockapi.statemachines.task import Task, TaskKind, TaskStatus

ALICE = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a01"
BOB = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a02"
CAROL = "0b5a8a3e-1f7e-4c1d-9a55-2b8e4f0c6a03"
AUTO = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01"
STATIC = "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d02"
LONGEST_TASK_S = 3 + 60

Frame = tuple[uuid.UUID, dict[str, Any]]


def scenario(static_free: int = 2, **sections: Any) -> dict[str, Any]:
    """Three users on an unlimited AUTOMATED pool and a STATIC pool of ``static_free`` machines."""
    users = [
        {"id": ident, "username": name, "pools": ["auto", "static"]}
        for ident, name in [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")]
    ]
    return {
        "settings": {"seed": 11, "start": "2026-11-25T07:00:00Z", "clock": "manual"},
        "users": users,
        "pools": [
            {"id": AUTO, "name": "auto", "pool_type": "AUTOMATED"},
            {
                "id": STATIC,
                "name": "static",
                "pool_type": "STATIC",
                "free_machines": static_free,
                "max_new_machines": 0,
            },
        ],
        **sections,
    }


class Harness:
    """A runtime on a manual clock that records every published frame."""

    def __init__(
        self, data: dict[str, Any], seed: int | None = None, publish: Publish | None = None
    ) -> None:
        self.clock = Clock(mode="manual")
        self.frames: list[Frame] = []
        self.runtime = Runtime(
            parse_scenario(data),
            self.clock,
            TokenService(b"k" * 32, self.clock),
            publish or (lambda user_id, frame: self.frames.append((user_id, frame))),
            ClockOverrides(seed=seed),
        )

    def user(self, name: str) -> User:
        user = self.runtime.world.user(name)
        assert user is not None
        return user

    def pool(self, name: str) -> Pool:
        pool = self.runtime.world.pool(name)
        assert pool is not None
        return pool

    def step1(self, user: str, pool: str) -> tuple[Step1, Task | None]:
        return self.runtime.request_machine(self.user(user), self.pool(pool))

    def step2(self, user: str, pool: str) -> tuple[Step2, Task | Desktop | None]:
        return self.runtime.request_connection(self.user(user), self.pool(pool))

    def new_expand(self, user: str, pool: str) -> Task:
        answer, task = self.step1(user, pool)
        assert answer is Step1.NEW_TASK
        assert task is not None
        return task

    def new_start(self, user: str, pool: str) -> Task:
        answer, task = self.step2(user, pool)
        assert answer is Step2.NEW_TASK
        assert isinstance(task, Task)
        return task

    def connection_state(self, user: str, pool: str) -> ConnectionState:
        return self.runtime.connection(self.user(user).id, self.pool(pool).id).status


def play(harness: Harness) -> list[tuple[Any, ...]]:
    """The same requests every time: every user expands in both pools, then starts."""
    for name in ("alice", "bob", "carol"):
        for pool in ("auto", "static"):
            harness.step1(name, pool)
    harness.clock.advance(LONGEST_TASK_S)
    for name in ("alice", "bob", "carol"):
        for pool in ("auto", "static"):
            harness.step2(name, pool)
    harness.clock.advance(LONGEST_TASK_S)
    tasks = [
        (t.id, t.kind, t.state, t.created, t.started, t.finished)
        for t in harness.runtime.world.tasks.values()
    ]
    machines = [
        (u.username, [(m.id, m.host, m.port) for m in u.machines])
        for u in harness.runtime.world.users.values()
    ]
    return [*tasks, *machines]


# -- determinism -----------------------------------------------------------------------------
def test_same_seed_and_same_requests_give_the_same_tasks_outcomes_and_machines() -> None:
    first, second = play(Harness(scenario())), play(Harness(scenario()))
    assert first == second
    assert len(first) > 3  # the flows really ran


def test_another_seed_gives_other_draws() -> None:
    assert play(Harness(scenario())) != play(Harness(scenario(), seed=12))


def test_default_plan_is_3s_pending_then_a_whole_number_of_seconds_in_5_to_60() -> None:
    harness = Harness(scenario())
    task = harness.new_expand("alice", "auto")
    harness.clock.advance(LONGEST_TASK_S)
    assert task.started is not None
    assert task.finished is not None
    assert task.started - task.created == timedelta(seconds=3)
    running = (task.finished - task.started).total_seconds()
    assert running.is_integer()
    assert 5 <= running <= 60
    assert task.status in {TaskStatus.COMPLETED, TaskStatus.CANCELLED}


# -- rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outcome", "then"), [("CANCELLED", Step1.NEW_TASK), ("FAILED", Step1.CANNOT_EXPAND)]
)
def test_a_rule_decides_the_outcome_for_its_user_only(outcome: str, then: Step1) -> None:
    harness = Harness(
        scenario(
            timing={"POOL_EXPAND": {"outcomes": {"COMPLETED": 1}}},
            rules=[{"user": "alice", "kind": "POOL_EXPAND", "outcome": outcome}],
        )
    )
    alice, bob = harness.new_expand("alice", "auto"), harness.new_expand("bob", "auto")
    harness.clock.advance(LONGEST_TASK_S)
    assert (alice.state, bob.state) == (outcome, "COMPLETED")
    # CANCELLED is restartable; a FAILED expand blocks step 1 for that user and pool.
    assert harness.step1("alice", "auto")[0] is then


def test_a_rule_sets_pending_and_running_times_exactly() -> None:
    harness = Harness(scenario(rules=[{"kind": "POOL_EXPAND", "pending_s": 1, "running_s": 2.5}]))
    task = harness.new_expand("alice", "auto")
    harness.clock.advance(1)
    assert (task.status, task.started) == (TaskStatus.RUNNING, task.created + timedelta(seconds=1))
    harness.clock.advance(2.5)
    assert task.is_done
    assert task.finished == task.created + timedelta(seconds=3.5)


def test_expandable_false_answers_cannot_expand_without_a_task_or_a_draw() -> None:
    harness = Harness(scenario(rules=[{"user": "bob", "kind": "POOL_EXPAND", "expandable": False}]))
    rng_before = harness.runtime.world.rng.getstate()
    assert harness.step1("bob", "auto") == (Step1.CANNOT_EXPAND, None)
    assert harness.runtime.world.rng.getstate() == rng_before
    assert harness.runtime.world.tasks == {}
    assert harness.connection_state("bob", "auto") is ConnectionState.NO_MACHINE
    assert harness.step1("alice", "auto")[0] is Step1.NEW_TASK


def test_the_first_matching_rule_wins() -> None:
    harness = Harness(
        scenario(
            rules=[
                {"user": "alice", "outcome": "FAILED"},
                {"outcome": "COMPLETED"},
            ]
        )
    )
    alice, bob = harness.new_expand("alice", "auto"), harness.new_expand("bob", "auto")
    harness.clock.advance(LONGEST_TASK_S)
    assert (alice.status, bob.status) == (TaskStatus.FAILED, TaskStatus.COMPLETED)


# -- capacity --------------------------------------------------------------------------------
COMPLETE_ALL = [{"outcome": "COMPLETED"}]


def test_a_static_pool_with_n_free_machines_gives_n_machines_then_cannot_expand() -> None:
    harness = Harness(scenario(static_free=2, rules=COMPLETE_ALL))
    free = list(harness.pool("static").free)
    harness.new_expand("alice", "static")
    harness.new_expand("bob", "static")
    assert harness.step1("carol", "static") == (Step1.CANNOT_EXPAND, None)
    harness.clock.advance(LONGEST_TASK_S)
    assert [harness.user(n).machine_in(harness.pool("static").id) for n in ("alice", "bob")] == free
    assert harness.pool("static").free == []
    assert harness.step1("carol", "static") == (Step1.CANNOT_EXPAND, None)


@pytest.mark.parametrize("outcome", ["CANCELLED", "FAILED"])
def test_a_machine_reserved_by_an_expand_that_did_not_complete_returns_to_the_pool(
    outcome: str,
) -> None:
    harness = Harness(
        scenario(static_free=1, rules=[{"user": "alice", "outcome": outcome}, *COMPLETE_ALL])
    )
    [machine] = harness.pool("static").free
    harness.new_expand("alice", "static")
    # Reserved at creation: nobody else can have it while alice's expand runs.
    assert harness.step1("bob", "static") == (Step1.CANNOT_EXPAND, None)
    harness.clock.advance(LONGEST_TASK_S)
    assert harness.pool("static").free == [machine]
    assert harness.user("alice").machines == []
    harness.new_expand("bob", "static")
    harness.clock.advance(LONGEST_TASK_S)
    assert harness.user("bob").machines == [machine]
    assert machine.user_id == harness.user("bob").id


def test_an_automated_pool_creates_machines_up_to_its_limit() -> None:
    data = scenario(rules=COMPLETE_ALL)
    data["pools"][0]["max_new_machines"] = 1
    harness = Harness(data)
    harness.new_expand("alice", "auto")
    assert harness.step1("bob", "auto") == (Step1.CANNOT_EXPAND, None)
    harness.clock.advance(LONGEST_TASK_S)
    [machine] = harness.user("alice").machines
    assert (machine.pool_id, machine.user_id) == (harness.pool("auto").id, harness.user("alice").id)


def test_a_completed_expand_adds_to_the_machines_the_user_has_in_other_pools() -> None:
    harness = Harness(
        scenario(
            rules=COMPLETE_ALL,
            machines=[
                {
                    "id": "9c3f2b1a-4d5e-4f60-8a7b-1c2d3e4f5a01",
                    "verbose_name": "alice-static",
                    "pool": "static",
                    "user": "alice",
                }
            ],
        )
    )
    [static_machine] = harness.user("alice").machines
    harness.new_expand("alice", "auto")
    harness.clock.advance(LONGEST_TASK_S)
    machines = harness.user("alice").machines
    assert machines[0] is static_machine
    assert [m.pool_id for m in machines] == [harness.pool("static").id, harness.pool("auto").id]


# -- the change hook: publish and log --------------------------------------------------------
def test_every_change_after_creation_is_published_once_to_the_owner_in_order() -> None:
    harness = Harness(scenario(rules=COMPLETE_ALL))
    task = harness.new_expand("alice", "auto")
    assert harness.frames == []  # PENDING is the 202 answer, not a frame
    harness.clock.advance(LONGEST_TASK_S)
    alice = harness.user("alice").id
    assert harness.frames == [
        (alice, {"status": "RUNNING", "id": str(task.id), "kind": "POOL_EXPAND"}),
        (alice, {"status": "COMPLETED", "id": str(task.id), "kind": "POOL_EXPAND"}),
    ]


def test_a_failing_publish_never_stops_a_task(caplog: pytest.LogCaptureFixture) -> None:
    def broken(user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        raise ConnectionResetError("socket gone")

    harness = Harness(scenario(rules=COMPLETE_ALL), publish=broken)
    task = harness.new_expand("alice", "auto")
    with caplog.at_level(logging.ERROR, "mockapi.domain.runtime"):
        harness.clock.advance(LONGEST_TASK_S)
    assert task.status is TaskStatus.COMPLETED
    assert harness.connection_state("alice", "auto") is ConnectionState.HAS_MACHINE
    assert len(caplog.records) == 2  # RUNNING and COMPLETED, each reported


def test_every_transition_is_logged_once_at_info_with_who_what_and_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(scenario(rules=[{"user": "alice", "outcome": "COMPLETED"}]))
    task = harness.new_expand("alice", "auto")
    with caplog.at_level(logging.DEBUG):
        harness.clock.advance(LONGEST_TASK_S)
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    changes = [line for line in info if line.startswith(f"task {task.id}")]
    assert changes == [
        f"task {task.id} POOL_EXPAND user=alice pool=auto: PENDING → RUNNING (timer)",
        f"task {task.id} POOL_EXPAND user=alice pool=auto: RUNNING → COMPLETED (rule)",
    ]
    assert [line for line in info if line.startswith("connection")] == [
        f"connection user=alice pool=auto: reserving → has_machine "
        f"(task {task.id} POOL_EXPAND COMPLETED)"
    ]
    # transitions' own per-callback chatter would repeat every change at INFO.
    assert not [r for r in caplog.records if r.name.startswith("transitions")]


def test_a_forced_change_is_published_and_logged_as_forced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(scenario())
    task = harness.new_expand("alice", "static")
    [machine_left] = harness.pool("static").free
    with caplog.at_level(logging.INFO, "mockapi.domain.runtime"):
        assert harness.runtime.force(task.id, TaskStatus.CANCELLED) is task
    assert task.status is TaskStatus.CANCELLED
    assert harness.frames == [
        (
            harness.user("alice").id,
            {"status": "CANCELLED", "id": str(task.id), "kind": "POOL_EXPAND"},
        )
    ]
    assert any(r.getMessage().endswith("PENDING → CANCELLED (forced)") for r in caplog.records)
    assert harness.clock.pending == 0  # its PENDING timer went with it
    assert len(harness.pool("static").free) == 2
    assert machine_left in harness.pool("static").free


def test_a_forced_change_the_machine_does_not_allow_is_refused_and_changes_nothing() -> None:
    harness = Harness(scenario())
    task = harness.new_expand("alice", "auto")
    with pytest.raises(TransitionRefused):
        harness.runtime.force(task.id, TaskStatus.COMPLETED)  # PENDING → COMPLETED
    harness.runtime.force(task.id, TaskStatus.RUNNING)
    harness.runtime.force(task.id, TaskStatus.COMPLETED)
    with pytest.raises(TransitionRefused):
        harness.runtime.force(task.id, TaskStatus.RUNNING)  # COMPLETED → RUNNING
    assert task.status is TaskStatus.COMPLETED
    assert [frame["status"] for _, frame in harness.frames] == ["RUNNING", "COMPLETED"]
    with pytest.raises(UnknownTask):
        harness.runtime.force(uuid.uuid4(), TaskStatus.CANCELLED)


# -- the scenario's initial state ------------------------------------------------------------
SEEDED = "fabb9a84-ae96-4d07-b5a0-329ea70fa476"


def test_a_seeded_failed_expand_blocks_step1_and_a_seeded_active_one_waits_to_be_forced() -> None:
    harness = Harness(
        scenario(
            tasks=[
                {"id": SEEDED, "user": "alice", "pool": "auto", "status": "PENDING"},
                {
                    "id": "22aaa425-6387-4767-9611-3c26ad1a6161",
                    "user": "bob",
                    "pool": "auto",
                    "status": "FAILED",
                },
            ]
        )
    )
    assert harness.step1("bob", "auto") == (Step1.CANNOT_EXPAND, None)
    answer, task = harness.step1("alice", "auto")
    assert (answer, task and str(task.id)) == (Step1.ACTIVE_TASK, SEEDED)
    harness.clock.advance(LONGEST_TASK_S)
    assert task is not None
    assert task.status is TaskStatus.PENDING
    harness.runtime.force(task.id, TaskStatus.RUNNING)
    harness.runtime.force(task.id, TaskStatus.COMPLETED)
    # It reserved nothing when the scenario made it, so completing it hands out a machine now.
    [machine] = harness.user("alice").machines
    assert machine.pool_id == harness.pool("auto").id
    assert harness.step1("alice", "auto") == (Step1.COMPLETED_TASK, task)


def test_a_task_that_ends_where_its_connection_has_no_such_outcome_moves_nothing() -> None:
    # A seeded GLINT_START of a user with no machine in the pool: its connection stays
    # no_machine, where start_completed leads from nowhere.
    harness = Harness(
        scenario(
            tasks=[
                {"id": SEEDED, "user": "alice", "pool": "auto", "kind": "GLINT_START",
                 "status": "RUNNING"},
            ]
        )
    )  # fmt: skip
    assert harness.connection_state("alice", "auto") is ConnectionState.NO_MACHINE
    task = harness.runtime.force(uuid.UUID(SEEDED), TaskStatus.COMPLETED)
    assert task.status is TaskStatus.COMPLETED
    assert harness.connection_state("alice", "auto") is ConnectionState.NO_MACHINE
    assert [frame["status"] for _, frame in harness.frames] == ["COMPLETED"]
    assert harness.step1("alice", "auto")[0] is Step1.NEW_TASK


def test_a_machine_assigned_up_front_answers_one_synthetic_completed_expand() -> None:
    harness = Harness(
        scenario(
            machines=[
                {
                    "id": "9c3f2b1a-4d5e-4f60-8a7b-1c2d3e4f5a01",
                    "verbose_name": "m",
                    "pool": "static",
                    "user": "alice",
                }
            ],
            tasks=[{"id": SEEDED, "user": "alice", "pool": "static", "status": "FAILED"}],
        )
    )
    # The machine counts first, whatever older expands say (CONTRACT §7 step 1, check 4).
    answer, task = harness.step1("alice", "static")
    assert answer is Step1.COMPLETED_TASK
    assert task is not None
    assert (task.status, task.kind, task.created, task.finished) == (
        TaskStatus.COMPLETED,
        TaskKind.POOL_EXPAND,
        harness.clock.now(),
        harness.clock.now(),
    )
    assert harness.step1("alice", "static") == (Step1.COMPLETED_TASK, task)
    assert harness.runtime.world.tasks[task.id] is task


def test_reset_returns_to_the_scenario_initial_state() -> None:
    harness = Harness(scenario(rules=COMPLETE_ALL))
    free = [m.id for m in harness.pool("static").free]
    harness.new_expand("alice", "static")
    harness.clock.advance(LONGEST_TASK_S)
    harness.runtime.reset()
    assert harness.runtime.world.tasks == {}
    assert [m.id for m in harness.pool("static").free] == free
    assert harness.user("alice").machines == []
    assert harness.connection_state("alice", "static") is ConnectionState.NO_MACHINE
    assert harness.step1("alice", "static")[0] is Step1.NEW_TASK


# -- pools created at run time ---------------------------------------------------------------
def test_created_pools_are_drawn_from_the_seed_with_free_machines_and_assigned() -> None:
    def create(harness: Harness) -> list[Pool]:
        return harness.runtime.create_pools(3, 2, [harness.user("alice")])

    first, second = create(Harness(scenario())), create(Harness(scenario()))
    assert [p.to_dict() for p in first] == [p.to_dict() for p in second]
    harness = Harness(scenario())
    pools = create(harness)
    assert all(re.fullmatch(r"pool-[0-9a-f]{4}", p.name) for p in pools)
    assert all(len(p.free) == 2 and all(m.pool_id == p.id for m in p.free) for p in pools)
    assert harness.user("alice").pool_ids[-3:] == [p.id for p in pools]
    assert harness.user("bob").pool_ids == [harness.pool("auto").id, harness.pool("static").id]
    assert list(harness.runtime.world.pools.values())[-3:] == pools
