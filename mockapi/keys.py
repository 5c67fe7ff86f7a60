"""Typed application state keys: the one place that says what the app holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from transitions import Machine

from mockapi.domain.clock import Clock
from mockapi.domain.faults import FaultEngine
from mockapi.domain.journal import Journal
from mockapi.domain.runtime import Runtime
from mockapi.domain.tokens import TokenService
from mockapi.domain.watch import ScenarioWatcher
from mockapi.hub.hub import Hub
from mockapi.settings import Settings

if TYPE_CHECKING:
    # The dashboard's handlers read these keys: a runtime import would be circular.
    from mockapi.dashboard.feed import Feed
    from mockapi.pages.render import Pages

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
TOKENS = web.AppKey("tokens", TokenService)
HUB = web.AppKey("hub", Hub)
RUNTIME = web.AppKey("runtime", Runtime)
#: The one login machine (mockapi.statemachines.login); each attempt is a model while it runs.
LOGIN_MACHINE = web.AppKey("login_machine", Machine)
JOURNAL = web.AppKey("journal", Journal)
#: Present only with ``--watch``.
WATCHER = web.AppKey("watcher", ScenarioWatcher)
#: The active faults (issue 7): HTTP through the fault middleware, frames through ``publish``.
FAULTS = web.AppKey("faults", FaultEngine)
#: The live dashboard's feed (every open dashboard page).
DASHBOARD: web.AppKey[Feed] = web.AppKey("dashboard")
#: The HTML pages' templates (Jinja2 is loaded with the first page: see mockapi.pages.render).
PAGES: web.AppKey[Pages] = web.AppKey("pages")
