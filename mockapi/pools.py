"""SKELETON: handlers to be written."""

from aiohttp import web



async def list_pools(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def get_machine(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def connect_machine(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError
