"""SKELETON: handlers to be written."""

from aiohttp import web



async def get_task(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def is_done(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError
