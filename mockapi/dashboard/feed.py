"""The live dashboard: ``GET /``, its feed ``/dashboard/feed`` and its files.

The page shows the world as the server runs it: users with their open sockets and each
(user, pool) connection state, tasks newest first, the clock, and the three state machines
drawn from their own tables with the states in use marked. Its controls call the ordinary
``/service/`` routes with ``fetch``; the page itself changes nothing.

Updates come over one WebSocket per open page. The clock, the runtime and the socket hub tell
the :class:`Feed` after every change (:mod:`mockapi.domain.listeners`); the feed only bumps a
counter and wakes each page's writer, so a change costs the API a few attribute writes whatever the
pages do. A writer builds the snapshot of its page's view (a filter and a page of users, a
cap on tasks), sends it, and rests before the next one: at least :data:`MIN_INTERVAL_S`,
longer when building took long, so the dashboard never takes more than a small share of the
event loop (:data:`BUILD_SHARE`). Changes made meanwhile are coalesced into the next
snapshot: at most one is ever pending per page, and an idle server sends nothing.

Offline: the page loads only its own files. Mermaid (``@mermaid-js/tiny``, vendored under
``static/dashboard/vendor/``, MIT) draws the diagrams in the browser; the same Mermaid text
and a table of the states stay on the page, so it is readable even where the script is not
run.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aiohttp import WSCloseCode, web
from pydantic import ConfigDict, Field

from mockapi.domain.clock import Clock, iso_z
from mockapi.domain.coverage import Coverage
from mockapi.domain.coverage import mermaid as coverage_mermaid
from mockapi.domain.journal import iso_time
from mockapi.domain.lazymodel import DeferredModel
from mockapi.domain.runtime import Runtime
from mockapi.domain.world import World
from mockapi.hub.hub import Hub
from mockapi.jsonfmt import dumps
from mockapi.keys import CLOCK, COVERAGE, HUB, RUNTIME
from mockapi.statemachines import connection as connection_machine
from mockapi.statemachines import task as task_machine

if TYPE_CHECKING:
    from mockapi.statemachines.diagrams import MachineDefinition

log = logging.getLogger(__name__)

DASHBOARD_TEMPLATE = "dashboard.html"

#: Users one page of the view may show, and tasks (newest first) the view may list.
DEFAULT_USERS = 50
MAX_USERS = 500
DEFAULT_TASKS = 100
MAX_TASKS = 500
#: Pools listed per user row; a user in more pools gets a count of the rest.
MAX_POOLS_PER_USER = 20
#: A page gets at most ten snapshots a second ...
MIN_INTERVAL_S = 0.1
#: ... and rests at least this many times as long as its snapshot took to build, so the
#: dashboard uses at most about 1/(1 + BUILD_SHARE) of the loop however busy the world is.
BUILD_SHARE = 5.0
#: Wall seconds a page has to say what it wants to see after the handshake.
HELLO_TIMEOUT_S = 10.0
#: Incoming messages are small view changes.
MAX_MESSAGE_BYTES = 4096
HEARTBEAT_S = 20.0
CLOSE_TIMEOUT_S = 0.5
#: Close code for a page without the right service token (the page then asks for one); in
#: the 4000-4999 range applications define, after HTTP's 403.
TOKEN_REFUSED = 4403


# -- what a page asks to see ----------------------------------------------------------------


class View(DeferredModel):
    """What one page shows: users matching ``q`` from ``offset``, and the newest tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Case-insensitive substring of a username, full name or user id; tasks and connection
    #: counts follow the same users.
    q: Annotated[str, Field(max_length=200)] = ""
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_USERS)] = DEFAULT_USERS
    tasks: Annotated[int, Field(ge=1, le=MAX_TASKS)] = DEFAULT_TASKS
    #: What the diagrams show: the states in use, or the transitions covered since the reset.
    paint: Literal["states", "coverage"] = "states"


class ViewMessage(DeferredModel):
    """A page's message on the feed: its view, and the service token when one is set."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["view"]
    view: View = View()
    token: Annotated[str, Field(max_length=1000)] | None = None


# -- diagrams ------------------------------------------------------------------------------


@functools.cache
def machine_names() -> dict[str, MachineDefinition]:
    """The machines the page draws, by name, from :mod:`mockapi.statemachines.diagrams`.

    That module loads transitions' diagram extension (GraphMachine), which serving the API
    never needs: it is imported with the first dashboard page or snapshot, not at start-up.
    """
    from mockapi.statemachines.diagrams import MACHINES

    return MACHINES


@functools.cache
def _base_text(name: str) -> str:
    # GraphMachine is built once per machine and process; marks are rewritten below.
    from mockapi.statemachines.diagrams import mermaid

    return mermaid(machine_names()[name])


def marked_mermaid(name: str, marked: Iterable[str]) -> str:
    """Machine ``name`` as Mermaid text with every state of ``marked`` (and no other) active.

    :func:`mockapi.statemachines.diagrams.mermaid` marks one current state; a dashboard shows many
    models at once, so each node's ``Class`` line is rewritten to active or default: active
    on every node that draws a marked state (a fanned machine draws a state once per source).
    """
    from mockapi.statemachines.diagrams import mark

    return mark(_base_text(name), machine_names()[name].drawing, marked)


def force_targets() -> dict[str, list[str]]:
    """For each task status, the statuses the control API may force it to (the machine's)."""
    targets: dict[str, list[str]] = {}
    for transition in task_machine.TRANSITIONS:
        sources = transition["source"]
        for source in [sources] if isinstance(sources, str) else sources:
            targets.setdefault(source, []).append(transition["dest"])
    return targets


# -- snapshots -----------------------------------------------------------------------------


class _Index:
    """A world's users as the filter and the connection counts see them, kept between snapshots.

    A world's users never change and a reset builds a new world, so an index lives exactly as
    long as its world. Pool assignments only grow, and only when pools are created: the pool
    count tells when to count them again, so 10,000 users are not walked on every snapshot.
    """

    __slots__ = ("assigned", "pools_seen", "texts", "total", "users")

    def __init__(self, world: World) -> None:
        self.users = list(world.users.values())
        self.texts = [f"{u.username}\n{u.full_name}\n{u.id}".lower() for u in self.users]
        self.pools_seen = -1
        self.assigned: list[int] = []
        self.total = 0

    def refresh(self, world: World) -> None:
        if len(world.pools) != self.pools_seen:
            self.pools_seen = len(world.pools)
            # A pool listed twice is one assignment.
            self.assigned = [len(set(user.pool_ids)) for user in self.users]
            self.total = sum(self.assigned)


_INDEX: weakref.WeakKeyDictionary[World, _Index] = weakref.WeakKeyDictionary()


def _index(world: World) -> _Index:
    index = _INDEX.get(world)
    if index is None:
        index = _INDEX[world] = _Index(world)
    index.refresh(world)
    return index


def _stamp(value: datetime | None) -> str | None:
    return iso_z(value) if value is not None else None


def build_snapshot(runtime: Runtime, hub: Hub, clock: Clock, view: View) -> dict[str, Any]:
    """Everything one page shows for ``view``, as plain JSON data."""
    world = runtime.world
    needle = view.q.strip().lower()
    index = _index(world)
    if needle:
        matched = [i for i, text in enumerate(index.texts) if needle in text]
        users = [index.users[i] for i in matched]
        assigned = sum(index.assigned[i] for i in matched)
        # Ids as ints: a UUID hashes in Python, its int in C (10,000 of them per snapshot).
        user_ids: set[int] | None = {user.id.int for user in users}
    else:
        users = index.users
        assigned = index.total
        user_ids = None

    # Users, a page of them, each with sockets, connections and last login.
    rows = []
    for user in users[view.offset : view.offset + view.limit]:
        pools = world.user_pools(user)
        connections = []
        for pool in pools[:MAX_POOLS_PER_USER]:
            conn = runtime.connections.get((user.id, pool.id))
            connections.append(
                {
                    "pool": pool.name,
                    "pool_id": str(pool.id),
                    "state": conn.state if conn is not None else connection_machine.INITIAL,
                }
            )
        login = runtime.logins.get(user.id)
        rows.append(
            {
                "id": str(user.id),
                "username": user.username,
                "full_name": user.full_name,
                "roles": list(user.roles),
                "disabled": user.disabled,
                "mfa": [
                    name
                    for name, enabled in (
                        ("otp", user.otp),
                        ("adfs", user.adfs),
                        ("hardware_token", user.hardware_token),
                    )
                    if enabled
                ],
                "sockets": hub.count(user.id),
                "machines": len(user.machines),
                "connections": connections,
                "more_pools": max(len(pools) - MAX_POOLS_PER_USER, 0),
                "last_login": (
                    {"outcome": login.outcome, "at": iso_time(login.at)} if login else None
                ),
            }
        )

    # Tasks of those users, newest first (created, then the order they were made in).
    if user_ids is None:
        tasks = list(world.tasks.values())
    else:
        tasks = [task for task in world.tasks.values() if task.user_id.int in user_ids]
    # (created, position, task): positions are unique, so tasks themselves are never compared.
    # Tasks are mostly made in time order, which sorted() walks in one pass, in C.
    ordered = sorted(zip(map(attrgetter("created"), tasks), itertools.count(), tasks), reverse=True)
    newest = ordered[: view.tasks]
    task_rows = []
    for _created, _position, task in newest:
        owner = world.users.get(task.user_id)
        where = world.pools.get(task.pool_id) if task.pool_id is not None else None
        task_rows.append(
            {
                "id": str(task.id),
                "kind": task.kind.value,
                "status": task.state,
                "user": owner.username if owner else str(task.user_id),
                "pool": where.name if where else None,
                "created": iso_z(task.created),
                "started": _stamp(task.started),
                "finished": _stamp(task.finished),
                "reason": task.reason,
            }
        )

    # How many models sit in each state, for the same users.
    task_counts = Counter(map(attrgetter("state"), tasks))
    if user_ids is None:
        connection_counts = Counter(map(attrgetter("state"), runtime.connections.values()))
    else:
        connection_counts = Counter(
            conn.state
            for (user_id, _pool), conn in runtime.connections.items()
            if user_id.int in user_ids
        )
    tracked = connection_counts.total()
    # A (user, pool) pair nothing has touched yet has no model: it is in the initial state.
    connection_counts[connection_machine.INITIAL] += max(assigned - tracked, 0)
    login_counts: Counter[str] = Counter()
    latest = runtime.last_login if user_ids is None else None
    for user_id, record in runtime.logins.items():
        if user_ids is None or user_id.int in user_ids:
            login_counts[record.outcome] += 1
            if user_ids is not None and (latest is None or record.at >= latest.at):
                latest = record

    def states(name: str, counts: Counter[str], marked: list[str]) -> dict[str, Any]:
        return {
            "counts": {state: counts.get(state, 0) for state in state_names(name)},
            "marked": marked,
        }

    return {
        "type": "snapshot",
        "clock": {
            "now": iso_z(clock.now()),
            "mode": clock.mode,
            "time_scale": float(clock.time_scale),
            "epoch": clock.time(),
        },
        "world": {
            "users": len(world.users),
            "pools": len(world.pools),
            "machines": len(world.machines),
            "tasks": len(world.tasks),
            "sockets": len(hub.peers()),
            "seed": world.seed,
        },
        "view": view.model_dump(),
        "users": {
            "total": len(users),
            "offset": view.offset,
            "limit": view.limit,
            "items": rows,
        },
        "tasks": {"total": len(tasks), "limit": view.tasks, "items": task_rows},
        "machines": {
            "task": states("task", task_counts, [s for s in state_names("task") if task_counts[s]]),
            "connection": states(
                "connection",
                connection_counts,
                [s for s in state_names("connection") if connection_counts[s]],
            ),
            "login": states("login", login_counts, [latest.outcome] if latest else [])
            | {
                "last": (
                    {
                        "username": latest.username,
                        "outcome": latest.outcome,
                        "at": iso_time(latest.at),
                    }
                    if latest
                    else None
                )
            },
        },
    }


@functools.cache
def state_names(name: str) -> tuple[str, ...]:
    return tuple(str(state) for state in machine_names()[name].states)


# -- the feed ------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Viewer:
    """One open dashboard page: its socket, its view, and what it was last sent."""

    ws: web.WebSocketResponse
    view: View
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The marks of each diagram as last sent (the states in use, or the coverage counts): a
    #: diagram's text goes out only when they change.
    marks_sent: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: A message about the page's last request, sent with the next snapshot.
    notice: str | None = None


class Feed:
    """Every open dashboard page, and the snapshots they are sent."""

    def __init__(
        self, runtime: Runtime, hub: Hub, clock: Clock, coverage: Coverage | None = None
    ) -> None:
        self.runtime = runtime
        self.coverage = coverage
        self.hub = hub
        self.clock = clock
        self.viewers: set[Viewer] = set()
        #: Bumped on every change; snapshots are built once per generation and view.
        self.generation = 0
        self.closing = False
        self._built: dict[View, dict[str, Any]] = {}
        self._built_generation = -1

    def changed(self) -> None:
        """Something changed: every page gets a new snapshot soon. Never blocks, never raises."""
        self.generation += 1
        for viewer in self.viewers:
            viewer.wake.set()

    def snapshot(self, view: View) -> dict[str, Any]:
        """The snapshot of ``view`` now; pages with the same view share one build."""
        if self._built_generation != self.generation:
            self._built.clear()
            self._built_generation = self.generation
        built = self._built.get(view)
        if built is None:
            built = build_snapshot(self.runtime, self.hub, self.clock, view)
            self._built[view] = built
        return built

    def message(self, viewer: Viewer) -> dict[str, Any]:
        """``viewer``'s next message: the snapshot, with the diagrams whose marks changed."""
        snapshot = self.snapshot(viewer.view)
        diagrams = {}
        covered = self.coverage.machines if self.coverage is not None else {}
        painted = viewer.view.paint == "coverage" and bool(covered)
        for name, machine in snapshot["machines"].items():
            if painted and name in covered:
                view = covered[name].view()
                marks: tuple[Any, ...] = ("coverage", *covered[name].counts)
                if viewer.marks_sent.get(name) != marks:
                    diagrams[name] = coverage_mermaid(name, view)
            else:
                marks = tuple(machine["marked"])
                if viewer.marks_sent.get(name) != marks:
                    diagrams[name] = marked_mermaid(name, marks)
            viewer.marks_sent[name] = marks
        message = {**snapshot, "generation": self.generation, "viewers": len(self.viewers)}
        # Read at each message, not with the cached snapshot: a login moves it too.
        message["coverage"] = {
            name: {"covered": sum(1 for n in m.counts if n), "total": len(m.counts)}
            for name, m in covered.items()
        }
        if diagrams:
            message["diagrams"] = diagrams
        if viewer.notice is not None:
            message["notice"] = viewer.notice
            viewer.notice = None
        return message

    async def serve(self, viewer: Viewer) -> None:
        """Send ``viewer`` a snapshot whenever it is woken, at a bounded rate, until cancelled.

        A snapshot that cannot be built closes this page (1011) and nothing else.
        """
        loop = asyncio.get_running_loop()
        while True:
            await viewer.wake.wait()
            viewer.wake.clear()
            started = loop.time()
            try:
                text = dumps(self.message(viewer)).decode()
            except Exception:
                log.exception("could not build a dashboard snapshot: closing the page")
                await close_page(viewer.ws, WSCloseCode.INTERNAL_ERROR, b"snapshot failed")
                return
            built = loop.time() - started
            try:
                await viewer.ws.send_str(text)
            except Exception as exc:  # the page went away under us
                log.debug("dashboard page stopped taking snapshots: %r", exc)
                return
            # Changes made during the rest wake the writer again: one coalesced snapshot.
            rest = max(MIN_INTERVAL_S, BUILD_SHARE * built) - (loop.time() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    async def close_all(self) -> None:
        """Close every page's socket with 1001 (server shutdown)."""
        self.closing = True
        await asyncio.gather(
            *(
                close_page(viewer.ws, WSCloseCode.GOING_AWAY, b"server shutdown")
                for viewer in self.viewers
            )
        )


async def close_page(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code=code, message=message)
    except Exception as exc:  # a page that stopped reading must not hold up shutdown
        log.debug("closing a dashboard socket failed: %r", exc)


#: The feed of the application's dashboard pages (set by :func:`setup_dashboard`).
DASHBOARD: web.AppKey[Feed] = web.AppKey("dashboard")


def setup_dashboard(app: web.Application) -> Feed:
    """Create the feed, subscribe it to every change point, close its pages on shutdown."""
    feed = Feed(app[RUNTIME], app[HUB], app[CLOCK], app[COVERAGE])
    app[DASHBOARD] = feed
    for listeners in (app[RUNTIME].listeners, app[HUB].listeners, app[CLOCK].listeners):
        listeners.add(feed.changed)

    async def close_pages(app: web.Application) -> None:
        await feed.close_all()

    app.on_shutdown.append(close_pages)
    return feed
