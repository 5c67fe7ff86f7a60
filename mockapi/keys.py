"""Typed application state keys of the core services: what every handler may read.

They name leaf service classes only (the domain's, the hub, the settings), never a handler
module, so importing this module closes no cycle. A component that owns state only its own
handlers read declares its key beside its class: the pages' templates
(:data:`mockapi.pages.render.PAGES`), the dashboard's feed
(:data:`mockapi.dashboard.feed.DASHBOARD`) and the route table
(:data:`mockapi.web.route.ROUTE_TABLE`).
"""

from __future__ import annotations

from aiohttp import web
from transitions import Machine

from mockapi.domain.clock import Clock
from mockapi.domain.coverage import Coverage
from mockapi.domain.faults import FaultEngine
from mockapi.domain.journal import Journal
from mockapi.domain.runtime import Runtime
from mockapi.domain.tokens import TokenService
from mockapi.domain.watch import ScenarioWatcher
from mockapi.hub.hub import Hub
from mockapi.settings import Settings
from mockapi.tls.service import TlsService

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
#: The active faults: HTTP through the fault middleware, frames through ``publish``.
FAULTS = web.AppKey("faults", FaultEngine)
#: Present only with ``--tls``: the certificate shown and the CA file.
TLS = web.AppKey("tls", TlsService)
#: What the suite reached since the last reset: transitions, error answers, routes, faults.
COVERAGE = web.AppKey("coverage", Coverage)
