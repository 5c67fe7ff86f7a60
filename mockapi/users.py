"""SKELETON: handlers to be written."""

from aiohttp import web



async def login(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def logout(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def user_settings(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError
