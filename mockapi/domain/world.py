"""The in-memory world a scenario describes: users, pools, machines and tasks.

Built from a validated :class:`~mockapi.domain.scenario.Scenario`; a reset builds a new one. The
world owns the seeded random generator, so the same seed and the same requests give the same
outcomes. It imports no web framework: handlers read it and call into it.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mockapi.domain.clock import iso_z
from mockapi.domain.scenario import PoolSpec, Scenario, UserFields, normalise_ref
from mockapi.statemachines.task import Task, TaskKind, TaskStatus

#: Namespace for the stable ids of generated users and machines.
_ID_NAMESPACE = uuid.UUID("4d6f636b-4150-4900-8000-000000000000")
_ID_NAMESPACE_BYTES = _ID_NAMESPACE.bytes


def stable_uuid4(name: str) -> uuid.UUID:
    """A UUID that is the same for the same name on every run, shaped as version 4.

    Tokens require ``sub`` to be a UUID4, so generated users need v4-shaped ids.
    """
    # uuid5's SHA-1 of namespace + name, with the version set to 4 (and the RFC 4122 variant,
    # as uuid5 sets it): one UUID built rather than three, for the 10,000 users of load.toml.
    digest = hashlib.sha1(_ID_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


@dataclass(eq=False, slots=True)
class Desktop:
    """A VDI desktop of a pool, given to one user by step 2 (the API calls it a machine).

    Not ``Machine``: that is transitions' state machine, which the same modules use.
    """

    id: uuid.UUID
    verbose_name: str
    pool_id: uuid.UUID
    user_id: uuid.UUID | None
    host: str
    port: int
    permissions: list[str]
    status: str = "ACTIVE"
    protocol_id: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The connection data of step 2 (and the machines of /service/all-users/)."""
        return {
            "id": str(self.id),
            "verbose_name": self.verbose_name,
            "permissions": list(self.permissions),
            "host": self.host,
            "port": self.port,
            "status": self.status,
            "protocol_id": self.protocol_id,
        }


@dataclass(eq=False, slots=True)
class Pool:
    id: uuid.UUID
    name: str
    status: str
    is_favorite: bool
    pool_type: str
    os_type: str
    connection_types: list[str]
    #: How many more machines the pool may create; -1 is unlimited.
    max_new_machines: int
    #: Position in the scenario, used for stable machine addresses.
    position: int = 0
    free: list[Desktop] = field(default_factory=list)
    #: Machines created on demand so far (counted against ``max_new_machines``).
    created: int = 0
    #: Every machine of the pool ever registered, for stable machine names.
    machine_count: int = 0
    #: ``str(id)``, made once: ``UUID.__str__`` was most of ``to_dict``, which every pools
    #: request calls per pool. A pool's id never changes.
    id_str: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.id_str = str(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id_str,
            "name": self.name,
            "status": self.status,
            "is_favorite": self.is_favorite,
            "pool_type": self.pool_type,
            "os_type": self.os_type,
            "connection_types": list(self.connection_types),
        }

    @property
    def has_capacity(self) -> bool:
        """A machine can be handed out: a free one, or a new one within the limit."""
        return bool(self.free) or self.max_new_machines < 0 or self.created < self.max_new_machines


@dataclass(eq=False, slots=True)
class User:
    id: uuid.UUID
    username: str
    password: str
    full_name: str
    email: str
    roles: list[str]
    disabled: bool
    otp: bool
    adfs: bool
    hardware_token: bool
    pool_ids: list[uuid.UUID]
    machines: list[Desktop] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def machine_in(self, pool_id: uuid.UUID) -> Desktop | None:
        return next((m for m in self.machines if m.pool_id == pool_id), None)


def task_to_dict(task: Task) -> dict[str, Any]:
    """The task object of CONTRACT §6, keys in the original's order."""
    return {
        "id": str(task.id),
        "status": task.state,
        "kind": task.kind.value,
        "created": iso_z(task.created),
        "started": iso_z(task.started) if task.started else None,
        "finished": iso_z(task.finished) if task.finished else None,
    }


def task_frame(task: Task) -> dict[str, Any]:
    """The WebSocket frame of CONTRACT §8: status, id, kind and nothing else."""
    return {"status": task.state, "id": str(task.id), "kind": task.kind.value}


_OS_TYPES = ("Windows", "Linux")
_GENERATED_POOL_TYPES = ("AUTOMATED", "STATIC")
_CONNECTION_TYPES = {"Windows": ("RDP", "NATIVE_RDP"), "Linux": ("GLINT",)}
#: Users, machines or tasks built between two pauses of :meth:`World.build_steps`: small
#: enough that a pause comes often, large enough that pausing costs next to nothing.
BUILD_STEP = 500
#: From this many users and machines on, a world built at run time is frozen for the cyclic
#: collector (see :func:`build_world`). Freezing also keeps whatever else lives at that moment
#: (open sockets, tasks) out of later collections, so a cycle they leave when they go stays:
#: worth it only when walking the world would hold the loop.
FREEZE_FROM = 20_000
#: Longest stretch :func:`build_world` keeps the event loop before letting others run.
BUILD_SLICE_S = 0.005


class World:
    """Users, pools, machines and tasks of one scenario run."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *, build: bool = True) -> None:
        """The world of ``scenario``; with ``build=False`` it stays empty until
        :meth:`build_steps` has run through (see :func:`build_world`)."""
        self.scenario = scenario
        self.seed = scenario.settings.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.users: dict[uuid.UUID, User] = {}
        self.users_by_name: dict[str, User] = {}
        self.pools: dict[uuid.UUID, Pool] = {}
        self.pools_by_name: dict[str, Pool] = {}
        self.machines: dict[uuid.UUID, Desktop] = {}
        self.tasks: dict[uuid.UUID, Task] = {}
        #: :meth:`user_pools` per user id. Assignments and pools change only through
        #: :meth:`add_pool` and :meth:`create_pools`, which clear it; a reset or a new scenario
        #: builds a new World, and with it an empty memo.
        self._user_pools: dict[uuid.UUID, tuple[Pool, ...]] = {}
        if build:
            for _ in self.build_steps():
                pass

    # -- lookups ---------------------------------------------------------------------------
    def user(self, ref: str | uuid.UUID) -> User | None:
        """A user by username or id (any UUID spelling)."""
        if isinstance(ref, uuid.UUID):
            return self.users.get(ref)
        found = self.users_by_name.get(ref)
        if found is not None:
            return found
        try:
            return self.users.get(uuid.UUID(ref))
        except ValueError:
            return None

    def pool(self, ref: str | uuid.UUID) -> Pool | None:
        """A pool by name or id (any UUID spelling)."""
        if isinstance(ref, uuid.UUID):
            return self.pools.get(ref)
        found = self.pools_by_name.get(ref)
        if found is not None:
            return found
        try:
            return self.pools.get(uuid.UUID(ref))
        except ValueError:
            return None

    def user_pools(self, user: User) -> tuple[Pool, ...]:
        """The user's assigned pools in scenario order (not the order the user lists them)."""
        # Memoised: deduplicating, hashing the ids and sorting was a fifth of a pools request.
        # A tuple, so no caller can change what the next request gets.
        pools = self._user_pools.get(user.id)
        if pools is None:
            # From the user's few ids rather than a scan of every pool: all-users asks per user.
            found = (self.pools[pool_id] for pool_id in set(user.pool_ids) if pool_id in self.pools)
            pools = tuple(sorted(found, key=lambda pool: pool.position))
            self._user_pools[user.id] = pools
        return pools

    def assigned_pool(self, user: User, pool_id: uuid.UUID) -> Pool | None:
        """The pool if it exists and is assigned to ``user``; None answers both cases alike."""
        if pool_id not in user.pool_ids:
            return None
        return self.pools.get(pool_id)

    def visible_task(self, user: User, task_id: uuid.UUID) -> Task | None:
        """The task if ``user`` owns it or has the ``admin`` role; None otherwise."""
        task = self.tasks.get(task_id)
        if task is None or (task.user_id != user.id and not user.is_admin):
            return None
        return task

    def new_id(self) -> uuid.UUID:
        """A version-4 id from the seeded generator (tasks, machines, pools)."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # -- building --------------------------------------------------------------------------
    def _pool_ref(self, ref: str) -> Pool:
        pool = self.pool(normalise_ref(ref))
        assert pool is not None, f"scenario validation let through pool {ref!r}"
        return pool

    def _user_ref(self, ref: str) -> User:
        user = self.user(normalise_ref(ref))
        assert user is not None, f"scenario validation let through user {ref!r}"
        return user

    def build_steps(self) -> Iterator[None]:
        """Build the world, pausing (yielding) every :data:`BUILD_STEP` users or machines.

        Whoever drives it may do other work between two steps; the world is complete when the
        iterator is exhausted, and must not be used before.
        """
        for spec in self.scenario.pools:
            self._add_pool(spec)
        for n, user_spec in enumerate(self.scenario.users, 1):
            self._add_user(user_spec.id, user_spec.username, user_spec, self._pool_ids(user_spec))
            if n % BUILD_STEP == 0:
                yield
        for group in self.scenario.user_groups:
            # The group's pools are resolved once, not once per user (10,000 in load.toml).
            pool_ids = self._pool_ids(group)
            for index in range(1, group.count + 1):
                name = f"{group.prefix}{index:05d}"
                self._add_user(stable_uuid4(f"user:{name}"), name, group, pool_ids)
                if index % BUILD_STEP == 0:
                    yield
        for n, machine_spec in enumerate(self.scenario.machines, 1):
            pool = self._pool_ref(machine_spec.pool)
            owner = self._user_ref(machine_spec.user) if machine_spec.user else None
            machine = Desktop(
                id=machine_spec.id,
                verbose_name=machine_spec.verbose_name,
                pool_id=pool.id,
                user_id=owner.id if owner else None,
                host=machine_spec.host,
                port=machine_spec.port,
                permissions=list(machine_spec.permissions),
                status=machine_spec.status,
                protocol_id=machine_spec.protocol_id,
            )
            self.machines[machine.id] = machine
            pool.machine_count += 1
            if owner is None:
                pool.free.append(machine)
            else:
                owner.machines.append(machine)
            if n % BUILD_STEP == 0:
                yield
        for pool_spec in self.scenario.pools:
            pool = self.pools[pool_spec.id]
            for n in range(1, pool_spec.free_machines + 1):
                machine = self.new_machine(pool, count_as_created=False)
                pool.free.append(machine)
                if n % BUILD_STEP == 0:
                    yield
        for n, task_spec in enumerate(self.scenario.tasks, 1):
            if n % BUILD_STEP == 0:
                yield
            owner = self._user_ref(task_spec.user)
            task_pool = self._pool_ref(task_spec.pool) if task_spec.pool else None
            task = Task(
                id=task_spec.id,
                kind=TaskKind(task_spec.kind),
                user_id=owner.id,
                pool_id=task_pool.id if task_pool else None,
                created=task_spec.created,
                started=task_spec.started,
                finished=task_spec.finished,
                state=TaskStatus(task_spec.status).value,
                reason="scenario",
            )
            self.tasks[task.id] = task

    def _add_pool(self, spec: PoolSpec) -> None:
        self.add_pool(
            Pool(
                id=spec.id,
                name=spec.name,
                status=spec.status,
                is_favorite=spec.is_favorite,
                pool_type=spec.pool_type,
                os_type=spec.os_type,
                connection_types=list(spec.connection_types),
                max_new_machines=spec.max_new_machines,
            )
        )

    def add_pool(self, pool: Pool) -> Pool:
        """Register ``pool`` after the others (lists keep this order)."""
        pool.position = len(self.pools)
        self.pools[pool.id] = pool
        self.pools_by_name[pool.name] = pool
        # A user may list a pool's id before the pool exists (not in a valid scenario, but
        # cheap to keep right): every memoised list is recomputed.
        self._user_pools.clear()
        return pool

    def create_pools(self, count: int, machines_per_pool: int, users: list[User]) -> list[Pool]:
        """``count`` new pools with ``machines_per_pool`` free machines each, for ``users``.

        Everything is drawn from the seeded generator, so the same seed and the same requests
        create the same pools. The caller has checked its input: nothing here can fail halfway.
        """
        pools = []
        for _ in range(count):
            os_type = self.rng.choice(_OS_TYPES)
            pool_type = self.rng.choice(_GENERATED_POOL_TYPES)
            pool = self.add_pool(
                Pool(
                    id=self.new_id(),
                    name=self._new_pool_name(),
                    status="ACTIVE",
                    is_favorite=self.rng.random() < 0.5,
                    pool_type=pool_type,
                    os_type=os_type,
                    connection_types=list(_CONNECTION_TYPES[os_type]),
                    # An AUTOMATED pool creates machines on demand; a STATIC one has only its own.
                    max_new_machines=-1 if pool_type == "AUTOMATED" else 0,
                )
            )
            for _ in range(machines_per_pool):
                pool.free.append(self.new_machine(pool, count_as_created=False))
            pools.append(pool)
        for user in dict.fromkeys(users):
            user.pool_ids.extend(pool.id for pool in pools)
        self._user_pools.clear()  # after the assignments, whatever read the lists meanwhile
        return pools

    def _new_pool_name(self) -> str:
        # The original's pool-<4 hex>; redrawn on a clash, since names are references too.
        for _ in range(1000):
            name = f"pool-{self.rng.getrandbits(16):04x}"
            if name not in self.pools_by_name:
                return name
        # All but a few of the 65536 short names are taken: widen rather than loop forever.
        return f"pool-{self.new_id().hex[:12]}"

    def _pool_ids(self, fields: UserFields) -> list[uuid.UUID]:
        return [self._pool_ref(ref).id for ref in fields.pools]

    def _add_user(
        self, user_id: uuid.UUID, username: str, fields: UserFields, pool_ids: list[uuid.UUID]
    ) -> None:
        user = User(
            id=user_id,
            username=username,
            password=fields.password,
            full_name=fields.full_name,
            email=fields.email,
            roles=list(fields.roles),
            disabled=fields.disabled,
            otp=fields.otp,
            adfs=fields.adfs,
            hardware_token=fields.hardware_token,
            pool_ids=list(pool_ids),  # each user's own list: create_pools extends it
        )
        self.users[user.id] = user
        self.users_by_name[user.username] = user

    def new_machine(self, pool: Pool, *, count_as_created: bool = True) -> Desktop:
        """A new machine of ``pool``, its address drawn from the seeded generator."""
        pool.machine_count += 1
        machine = Desktop(
            id=self.new_id(),
            verbose_name=f"{pool.name}-vm-{pool.machine_count:04d}",
            pool_id=pool.id,
            user_id=None,
            host=f"10.254.{150 + pool.position % 100}.{self.rng.randint(2, 254)}",
            port=self.rng.randint(30000, 40000),
            permissions=["VM_POWER_CONTROL"],
        )
        self.machines[machine.id] = machine
        if count_as_created:
            pool.created += 1
        return machine


async def build_world(scenario: Scenario, seed: int | None = None) -> World:
    """Build the world of ``scenario`` on the running loop, in slices of
    :data:`BUILD_SLICE_S`, so every other request (and a signal) is served meanwhile.

    The world is handed over only once complete: no one sees it half built. Cancelling the
    call drops it. The cyclic collector is off while it builds: a full collection walks every
    object the collector tracks (docs/performance.md has the figure for a large world), and
    building frees nothing for it to find. A large world (:data:`FREEZE_FROM`) is then frozen,
    as start-up freezes its world (mockapi.cli._startup), so later collections do not walk it
    either; frozen objects are still freed the usual way once nothing refers to them. Garbage
    cycles left before the build are collected first: frozen, they would stay for good. That
    collection walks what is not frozen yet, which the large worlds are not part of.
    """
    world = World(scenario, seed, build=False)
    collecting = gc.isenabled()
    if collecting:
        gc.collect()
    gc.disable()
    try:
        deadline = time.perf_counter() + BUILD_SLICE_S
        for _ in world.build_steps():
            if time.perf_counter() >= deadline:
                await asyncio.sleep(0)
                deadline = time.perf_counter() + BUILD_SLICE_S
    finally:
        if collecting:
            if len(world.users) + len(world.machines) >= FREEZE_FROM:
                gc.freeze()
            gc.enable()
    return world
