"""The application factory: it wires settings, scenario, clock, tokens, hub and routes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from mockapi.dashboard.feed import setup_dashboard
from mockapi.domain.clock import Clock
from mockapi.domain.coverage import Coverage
from mockapi.domain.faults import FaultEngine
from mockapi.domain.journal import Journal
from mockapi.domain.limits import Limits, resolve
from mockapi.domain.runtime import ClockOverrides, Runtime
from mockapi.domain.scenario import Scenario, default_scenario_path, load_scenario
from mockapi.domain.tokens import TokenService, random_secret
from mockapi.domain.watch import ScenarioWatcher
from mockapi.domain.world import World
from mockapi.hub.hub import Hub
from mockapi.keys import (
    CLOCK,
    COVERAGE,
    FAULTS,
    HUB,
    JOURNAL,
    LOGIN_MACHINE,
    RUNTIME,
    SETTINGS,
    TLS,
    TOKENS,
    WATCHER,
)
from mockapi.pages.render import setup_pages
from mockapi.routes import contract_routes, setup_routes
from mockapi.settings import Settings
from mockapi.statemachines.login import build_login_machine
from mockapi.tls import TlsService, default_tls_dir
from mockapi.web import parser_errors
from mockapi.web.metrics import setup_metrics
from mockapi.web.middleware import request_middleware, setup_middleware
from mockapi.web.transport import STALLS, Stalls

#: The original's limit; a larger body gets 413 in the error shape.
MAX_BODY = 1024 * 1024


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Arm the clock on the running loop; stop every timer on the way out."""
    clock = app[CLOCK]
    clock.set_mode(clock.mode)  # arms pending timers now that a loop runs
    yield
    clock.close()


async def _watching(app: web.Application) -> AsyncIterator[None]:
    """Poll the ``--watch`` file while the app runs."""
    watcher = app[WATCHER]
    task = asyncio.create_task(watcher.poll())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_sockets(app: web.Application) -> None:
    # on_shutdown runs before the server waits for handlers, so open sockets end at once (1001)
    # and requests held by a delay fault go on instead of waiting for a clock that has stopped.
    app[FAULTS].release()
    # A world being built for a PUT or a reset would hold the shutdown until it is done.
    app[RUNTIME].stop_building()
    app[STALLS].release()  # hung requests close, trickled bodies go out whole
    await app[HUB].close_all()


def create_app(
    settings: Settings | None = None,
    scenario: Scenario | None = None,
    *,
    world: World | None = None,
    limits: Limits | None = None,
) -> web.Application:
    """Build the mockapi application; ``scenario`` overrides the file named in ``settings``.

    ``world`` is the scenario's world built already (the server builds it without holding the
    loop, :func:`~mockapi.domain.world.build_world`); ``limits`` the server's, resolved from
    ``settings`` and the scenario's ``[settings]`` when None. A scenario over a limit raises
    :class:`~mockapi.domain.limits.LimitExceeded`.

    With ``settings.tls`` it makes the certificates (``TlsSetupError`` says why it cannot);
    the server then listens with :class:`mockapi.web.tls.TlsSite`.
    """
    settings = settings or Settings()
    if scenario is None:
        scenario = load_scenario(settings.scenario or default_scenario_path())
    if limits is None:
        limits = resolve(settings.given_limits(), scenario.settings.limit_values())
    parser_errors.install()
    clock = Clock()
    secret = settings.jwt_secret.encode() if settings.jwt_secret else random_secret()
    tokens = TokenService(secret, clock)
    hub = Hub(max_sockets=limits.max_sockets, max_sockets_per_user=limits.max_sockets_per_user)
    # The count is a world limit (--max-journal); the size is the journal's own bound.
    journal = Journal(clock.time, capacity=limits.max_journal, max_bytes=settings.journal_max_bytes)

    def deliver(user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        # Every frame sent goes to the journal and to the owner's sockets, in that order.
        user = runtime.world.users.get(user_id)
        journal.record_ws(user.username if user else None, frame)
        hub.publish(user_id, frame)

    # Task frames pass the WebSocket faults (lost, late, followed by a close) on their way.
    faults = FaultEngine(clock, journal, hub, deliver)
    runtime = Runtime(
        scenario,
        clock,
        tokens,
        faults.publish,
        ClockOverrides(time_scale=settings.time_scale, mode=settings.clock, seed=settings.seed),
        limits=limits,
        world=world,
    )
    faults.load(runtime.scenario.faults, runtime.world)
    stalls = Stalls(clock)
    tls: TlsService | None = None
    if settings.tls:
        user_chain = (
            (settings.tls_cert, settings.tls_key)
            if settings.tls_cert is not None and settings.tls_key is not None
            else None
        )
        tls = TlsService.build(
            settings.tls_dir or default_tls_dir(),
            settings.host,
            journal.record,
            user_chain=user_chain,
            client_ca=settings.tls_client_ca,
        )
        tls.select(runtime.scenario.tls.certificate, "scenario")

    login_machine = build_login_machine()
    # Counted from the machines' own hook, the answers (the middleware) and the journal's
    # fault entries; a reset starts it over.
    coverage = Coverage()
    coverage.watch("login", login_machine)
    coverage.watch("connection", runtime.connection_machine)
    coverage.watch("task", runtime.task_machine)
    journal.observers.append(coverage.note_entry)

    def restore() -> None:
        # What a reset restores, the one place that says it: the runtime has just rebuilt the
        # world, tasks, tokens and clock from the scenario (Runtime.reset); the scenario's
        # faults come back and the journal starts over. Every reset goes through here: the
        # control API's reset, a new scenario, a --watch reload.
        faults.load(runtime.scenario.faults, runtime.world)
        stalls.release()
        journal.clear()
        if tls is not None:
            tls.select(runtime.scenario.tls.certificate, "scenario")
        coverage.clear()

    runtime.on_reset.add(restore)

    app = web.Application(
        middlewares=[request_middleware],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[TOKENS] = tokens
    app[HUB] = hub
    app[RUNTIME] = runtime
    app[JOURNAL] = journal
    app[FAULTS] = faults
    app[STALLS] = stalls
    app[LOGIN_MACHINE] = login_machine
    app[COVERAGE] = coverage
    if tls is not None:
        app[TLS] = tls
    # Pages (dashboard, docs, ADFS sign-in) render from the package's templates, autoescape
    # on; Jinja2 is loaded with the first page, not at start-up (mockapi.pages.render).
    setup_pages(app)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_close_sockets)
    if settings.watch and settings.scenario is not None:
        watcher = ScenarioWatcher(settings.scenario, runtime.replace)
        app[WATCHER] = watcher
        app.cleanup_ctx.append(_watching)
    # The live dashboard hears every change of the clock, the runtime and the hub.
    setup_dashboard(app)
    setup_metrics(app)
    setup_middleware(app)
    setup_routes(app)
    coverage.expect_routes(contract_routes())
    return app
