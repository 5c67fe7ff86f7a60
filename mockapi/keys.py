"""Typed application state keys: the one place that says what the app holds."""

from __future__ import annotations

from aiohttp import web
from transitions import Machine

from mockapi.clock import Clock
from mockapi.journal import Journal
from mockapi.runtime import Runtime
from mockapi.settings import Settings
from mockapi.tokens import TokenService
from mockapi.watch import ScenarioWatcher
from mockapi.ws import Hub

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
TOKENS = web.AppKey("tokens", TokenService)
HUB = web.AppKey("hub", Hub)
RUNTIME = web.AppKey("runtime", Runtime)
#: The one login machine (statemachines.login); each attempt is a model while it runs.
LOGIN_MACHINE = web.AppKey("login_machine", Machine)
JOURNAL = web.AppKey("journal", Journal)
#: Present only with ``--watch``.
WATCHER = web.AppKey("watcher", ScenarioWatcher)
