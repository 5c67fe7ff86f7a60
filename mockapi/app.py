"""The application factory: it wires settings, scenario, clock, tokens, hub and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from mockapi.clock import Clock
from mockapi.errors import error_middleware
from mockapi.keys import CLOCK, HUB, LOGIN_MACHINE, RUNTIME, SETTINGS, TOKENS
from mockapi.routes import setup_routes
from mockapi.runtime import ClockOverrides, Runtime
from mockapi.scenario import Scenario, default_scenario_path, load_scenario
from mockapi.settings import Settings
from mockapi.tokens import TokenService, random_secret
from mockapi.ws import Hub
from statemachines.login import build_login_machine

#: The original's limit; a larger body gets 413 in the error shape.
MAX_BODY = 1024 * 1024


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Arm the clock on the running loop; stop every timer on the way out."""
    clock = app[CLOCK]
    clock.set_mode(clock.mode)  # arms pending timers now that a loop runs
    yield
    clock.close()


async def _close_sockets(app: web.Application) -> None:
    # on_shutdown runs before the server waits for handlers, so open sockets end at once (1001).
    await app[HUB].close_all()


def create_app(
    settings: Settings | None = None, scenario: Scenario | None = None
) -> web.Application:
    """Build the mockapi application; ``scenario`` overrides the file named in ``settings``."""
    settings = settings or Settings()
    if scenario is None:
        scenario = load_scenario(settings.scenario or default_scenario_path())
    clock = Clock()
    secret = settings.jwt_secret.encode() if settings.jwt_secret else random_secret()
    tokens = TokenService(secret, clock)
    hub = Hub()
    runtime = Runtime(
        scenario,
        clock,
        tokens,
        hub.publish,
        ClockOverrides(time_scale=settings.time_scale, mode=settings.clock, seed=settings.seed),
    )

    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[TOKENS] = tokens
    app[HUB] = hub
    app[RUNTIME] = runtime
    app[LOGIN_MACHINE] = build_login_machine()
    # Pages (the ADFS sign-in) render from the package's templates; autoescape stays on.
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("mockapi", "templates"))
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_close_sockets)
    setup_routes(app)
    return app
