"""SKELETON: handlers to be written."""

from aiohttp import web



async def all_pools(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def all_users(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def all_tasks(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError


async def create_pools(request: web.Request) -> web.StreamResponse:
    raise NotImplementedError
