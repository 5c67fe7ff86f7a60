"""Limits on the whole world: how much a scenario, a control request or the clients may make.

Memory is bounded by what the world holds, not by the size of a request: a 1 MiB scenario can
ask for billions of users through ``[[user_groups]]``, and ``create-pools`` adds a quarter of a
million machines a call. So every count is checked against a limit on the *whole* world, and
checked cheaply, from the numbers a scenario or a request states, before a single user or
machine is made. Going over answers a 422 in the §3 shape that names the limit, the number asked
for and the setting that raises it; nothing changes.

Where a limit comes from: a command-line flag (or its ``MOCKAPI_*`` variable) wins, then the
``[settings]`` of the scenario the server starts with, then the default. That resolution happens
once, at start-up, and gives the server's *ceiling*: a scenario that arrives later (``PUT
/service/scenario/``, a ``--watch`` reload) may lower a limit for its own world in its
``[settings]``, never raise it, or a request body could lift the bound meant to hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "MOCKAPI_"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit: its setting's name, what it counts, and its default."""

    #: The ``[settings]`` key and the :class:`Limits` field (``max_users``).
    key: str
    #: The plural noun of what is counted, as a message says it (``users``).
    noun: str
    #: What counts, for ``--help`` and the documentation.
    counts: str
    default: int

    @property
    def flag(self) -> str:
        """The command-line option: ``max_users`` -> ``--max-users``."""
        return "--" + self.key.replace("_", "-")

    @property
    def env(self) -> str:
        """The environment variable: ``max_users`` -> ``MOCKAPI_MAX_USERS``."""
        return ENV_PREFIX + self.key.upper()

    @property
    def how_to_raise(self) -> str:
        """Where the limit is set, as the refusal tells it."""
        return (
            f"{self.flag} (or {self.env}) at start-up, or {self.key} in the [settings] of the "
            "scenario the server starts with"
        )


# The defaults hold the shipped load.toml (10,000 users), a 100,000-user load test with a few
# pools each and a machine per pair, and one create-pools call at its maximum (500 pools of 500
# machines); docs/performance.md gives what each item costs in memory.
USERS = Limit(
    "max_users", "users", "every [[users]] entry and every user a [[user_groups]] entry makes",
    200_000,
)  # fmt: skip
POOLS = Limit("max_pools", "pools", "the scenario's pools and every pool create-pools adds", 10_000)
MACHINES = Limit(
    "max_machines", "machines",
    "[[machines]], every pool's free_machines, create-pools' machines and the machines expands "
    "create on demand (a pool at the limit cannot expand: step 1 answers 403/800)",
    300_000,
)  # fmt: skip
ASSIGNMENTS = Limit(
    "max_assignments", "pool assignments",
    "(user, pool) pairs: every pool a user lists, for each user of a group, and create-pools' "
    "assigned_users times its count",
    2_000_000,
)  # fmt: skip
TASKS = Limit(
    "max_tasks", "tasks",
    "tasks the world keeps: [[tasks]] and the tasks requests create (past the limit the oldest "
    "finished task is forgotten; with every task kept still running, step 1 answers 403/800 "
    "and step 2 503)",
    500_000,
)  # fmt: skip
RULES = Limit("max_rules", "rules", "[[rules]] entries (every task creation reads them)", 10_000)
FAULTS = Limit(
    "max_faults", "faults", "[[faults]] and faults added through /service/faults/", 1_000
)
JOURNAL = Limit(
    "max_journal", "journal entries", "entries /service/journal/ keeps (the oldest go)", 10_000
)
SOCKETS_PER_USER = Limit(
    "max_sockets_per_user", "sockets of one user", "open WebSockets of one user", 2_000
)
SOCKETS = Limit("max_sockets", "sockets", "open WebSockets in all", 20_000)

#: Every limit, in the order messages and ``--help`` list them.
LIMITS: tuple[Limit, ...] = (
    USERS, POOLS, MACHINES, ASSIGNMENTS, TASKS, RULES, FAULTS, JOURNAL, SOCKETS_PER_USER, SOCKETS,
)  # fmt: skip
BY_KEY: Mapping[str, Limit] = {limit.key: limit for limit in LIMITS}


@dataclass(frozen=True, slots=True)
class Limits:
    """The value of every limit (the field names are the ``[settings]`` keys)."""

    max_users: int = USERS.default
    max_pools: int = POOLS.default
    max_machines: int = MACHINES.default
    max_assignments: int = ASSIGNMENTS.default
    max_tasks: int = TASKS.default
    max_rules: int = RULES.default
    max_faults: int = FAULTS.default
    max_journal: int = JOURNAL.default
    max_sockets_per_user: int = SOCKETS_PER_USER.default
    max_sockets: int = SOCKETS.default

    def __getitem__(self, limit: Limit) -> int:
        value: int = getattr(self, limit.key)
        return value

    def lowered(self, wanted: Mapping[str, int | None]) -> Limits:
        """These limits, each lowered to ``wanted``'s value where that is given and lower."""
        changes = {
            key: value
            for key, value in wanted.items()
            if value is not None and key in BY_KEY and value < self[BY_KEY[key]]
        }
        return replace(self, **changes)


def resolve(given: Mapping[str, int | None], scenario: Mapping[str, int | None]) -> Limits:
    """The server's limits: a flag (or its env variable), else the start-up scenario's
    ``[settings]``, else the default. Keys are :class:`Limits` field names; None is not given."""
    values: dict[str, int] = {}
    for limit in LIMITS:
        for source in (given, scenario):
            value = source.get(limit.key)
            if value is not None:
                values[limit.key] = value
                break
    return Limits(**values)


Count = Annotated[int, Field(ge=1)]


class LimitSettings(BaseModel):
    """The limit keys of a scenario's ``[settings]`` (None: as the server says).

    Mixed into the scenario's settings section, so the scenario schema, ``scenario check`` and
    the JSON Schema for editors know them like every other setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    max_users: Count | None = None
    max_pools: Count | None = None
    max_machines: Count | None = None
    max_assignments: Count | None = None
    max_tasks: Count | None = None
    max_rules: Annotated[int, Field(ge=0)] | None = None
    max_faults: Annotated[int, Field(ge=0)] | None = None
    max_journal: Count | None = None
    max_sockets_per_user: Count | None = None
    max_sockets: Count | None = None

    def limit_values(self) -> dict[str, int | None]:
        """Every limit key with its value here (None where not given)."""
        return {limit.key: getattr(self, limit.key) for limit in LIMITS}


@dataclass(frozen=True, slots=True)
class WorldCounts:
    """How many of each counted thing a world holds, or a change would add."""

    users: int = 0
    pools: int = 0
    machines: int = 0
    assignments: int = 0
    tasks: int = 0
    rules: int = 0
    faults: int = 0

    def __add__(self, other: WorldCounts) -> WorldCounts:
        return WorldCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


#: Which :class:`WorldCounts` field each world limit checks.
_COUNTED: tuple[tuple[Limit, str], ...] = (
    (USERS, "users"),
    (POOLS, "pools"),
    (MACHINES, "machines"),
    (ASSIGNMENTS, "assignments"),
    (TASKS, "tasks"),
    (RULES, "rules"),
    (FAULTS, "faults"),
)


class _Assigned(Protocol):
    @property
    def pools(self) -> Sequence[str]: ...


class _Group(_Assigned, Protocol):
    @property
    def count(self) -> int: ...


class _Pool(Protocol):
    @property
    def free_machines(self) -> int: ...


class _Settings(Protocol):
    def limit_values(self) -> dict[str, int | None]: ...


class Scenario(Protocol):
    """What the limits read of a scenario (:class:`mockapi.domain.scenario.Scenario`, which
    imports this module: a protocol keeps the two free of a cycle)."""

    @property
    def settings(self) -> _Settings: ...
    @property
    def users(self) -> Sequence[_Assigned]: ...
    @property
    def user_groups(self) -> Sequence[_Group]: ...
    @property
    def pools(self) -> Sequence[_Pool]: ...
    @property
    def machines(self) -> Sequence[object]: ...
    @property
    def tasks(self) -> Sequence[object]: ...
    @property
    def rules(self) -> Sequence[object]: ...
    @property
    def faults(self) -> Sequence[object]: ...


def count_scenario(scenario: Scenario) -> WorldCounts:
    """What ``scenario`` would build, from the numbers it states: nothing is generated.

    The cost is one pass over the entries as written (a group of 100,000 users is one entry).
    """
    groups = scenario.user_groups
    return WorldCounts(
        users=len(scenario.users) + sum(group.count for group in groups),
        pools=len(scenario.pools),
        machines=len(scenario.machines) + sum(pool.free_machines for pool in scenario.pools),
        assignments=sum(len(user.pools) for user in scenario.users)
        + sum(group.count * len(group.pools) for group in groups),
        tasks=len(scenario.tasks),
        rules=len(scenario.rules),
        faults=len(scenario.faults),
    )


Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Excess:
    """One limit a change would go over."""

    limit: Limit
    allowed: int
    #: The count the world would reach.
    asked: int
    #: Where the count comes from, as a 422 item's ``loc`` (``("body", "user_groups")``).
    loc: Loc

    @property
    def message(self) -> str:
        """One sentence: the limit, the number asked for, and the setting that raises it."""
        return (
            f"Too many {self.limit.noun}: {self.asked:,} asked for, the limit ({self.limit.key}) "
            f"is {self.allowed:,}. Raise it with {self.limit.how_to_raise}."
        )

    def item(self) -> dict[str, Any]:
        """The 422 item (CONTRACT §3's validation shape: type, loc, msg, input, ctx, err_code)."""
        return {
            "type": "limit_exceeded",
            "loc": list(self.loc),
            "msg": self.message,
            "input": self.asked,
            "ctx": {
                "limit": self.limit.key,
                "allowed": self.allowed,
                "flag": self.limit.flag,
                "env": self.limit.env,
            },
            "err_code": 999,
        }

    @property
    def problem(self) -> str:
        """The line ``scenario check`` and a refused start-up print: ``path: message``."""
        where = [part for part in self.loc if part != "body"]
        path = ".".join(str(part) for part in where) or "(top level)"
        return f"{path}: {self.message}"


class LimitExceeded(Exception):
    """A change that would take the world over one or more limits; nothing was changed."""

    def __init__(self, excesses: Sequence[Excess]) -> None:
        super().__init__("; ".join(excess.message for excess in excesses))
        self.excesses = list(excesses)

    def detail(self) -> list[dict[str, Any]]:
        """The 422 body's ``detail`` list, one item per limit."""
        return [excess.item() for excess in self.excesses]

    @property
    def problems(self) -> list[str]:
        """One ``path: message`` line per limit."""
        return [excess.problem for excess in self.excesses]


#: Where each counted thing of a scenario is written, for the 422 item's ``loc``.
SCENARIO_LOCS: Mapping[str, Loc] = {
    "users": ("body", "user_groups"),
    "pools": ("body", "pools"),
    "machines": ("body", "machines"),
    "assignments": ("body", "users"),
    "tasks": ("body", "tasks"),
    "rules": ("body", "rules"),
    "faults": ("body", "faults"),
}


def scenario_locs(scenario: Scenario) -> dict[str, Loc]:
    """:data:`SCENARIO_LOCS`, pointing at the section that makes most of each count: the
    groups for users and assignments when there are any, the pools' free machines when no
    [[machines]] are listed."""
    locs = dict(SCENARIO_LOCS)
    if not scenario.user_groups:
        locs["users"] = ("body", "users")
    if any(group.pools for group in scenario.user_groups):
        locs["assignments"] = ("body", "user_groups")
    if not scenario.machines:
        locs["machines"] = ("body", "pools")
    return locs


def excesses(
    limits: Limits, counts: WorldCounts, locs: Mapping[str, Loc], base: WorldCounts | None = None
) -> list[Excess]:
    """Every limit ``base + counts`` goes over (``base``: what the world already holds)."""
    total = counts if base is None else base + counts
    found = []
    for limit, name in _COUNTED:
        asked, added = getattr(total, name), getattr(counts, name)
        if added > 0 and asked > limits[limit]:
            found.append(Excess(limit, limits[limit], asked, locs.get(name, ("body",))))
    return found


def check_scenario(scenario: Scenario, ceiling: Limits) -> Limits:
    """The limits ``scenario``'s world plays under, or :class:`LimitExceeded` naming each one
    it would go over. Call it before the world is built: it only counts."""
    limits = ceiling.lowered(scenario.settings.limit_values())
    found = excesses(limits, count_scenario(scenario), scenario_locs(scenario))
    if found:
        raise LimitExceeded(found)
    return limits


def check_growth(
    limits: Limits, current: WorldCounts, added: WorldCounts, locs: Mapping[str, Loc]
) -> None:
    """Raise :class:`LimitExceeded` if adding ``added`` to a world holding ``current`` would go
    over a limit (a control request that grows the world: all or nothing)."""
    found = excesses(limits, added, locs, base=current)
    if found:
        raise LimitExceeded(found)


def describe(limits: Limits) -> Iterable[tuple[Limit, int]]:
    """Each limit with its value, in :data:`LIMITS` order (for the start line and the docs)."""
    return ((limit, limits[limit]) for limit in LIMITS)
