"""SKELETON: handlers to be written."""

from aiohttp import web



async def get_clock(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def set_clock(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError
