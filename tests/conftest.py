"""Shared fixtures: an app on a manual clock (time moves only when a test advances it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.settings import Settings
from tests.helpers import Client

SECRET = "a-test-secret-of-at-least-32-bytes-0123456789"


@pytest.fixture
def settings() -> Settings:
    """Default scenario, fixed secret, manual clock."""
    return Settings(jwt_secret=SECRET, clock="manual")


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, app: web.Application) -> Client:
    return await aiohttp_client(app)


@pytest.fixture
def make_client(aiohttp_client: AiohttpClient) -> Callable[[Settings], Awaitable[Client]]:
    """A client for an app built from other settings (another scenario, seed, ...)."""

    async def make(settings: Settings) -> Client:
        return await aiohttp_client(create_app(settings))

    return make
