"""A private copy of what ``aiohttp_jinja2.setup`` builds, made when the first page is rendered.

``aiohttp_jinja2.setup`` imports Jinja2 and builds the environment when the application is
made, and stores it in the application, which is frozen once it runs. mockapi's API never
serves a page, so :class:`mockapi.pages.render.Pages` makes the same environment late, here:
autoescape on, aiohttp_jinja2's ``url``/``static`` helpers and ``app`` as globals.
``tests/pages/test_render.py`` holds every page against aiohttp_jinja2's own rendering. If
start-up stops showing the gain, delete this module and call ``aiohttp_jinja2.setup``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import jinja2


def setup_environment(app: web.Application, package: str, directory: str) -> jinja2.Environment:
    """What ``aiohttp_jinja2.setup(app, loader=PackageLoader(package, directory))`` makes."""
    import jinja2
    from aiohttp_jinja2.helpers import GLOBAL_HELPERS

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(package, directory), autoescape=True
    )
    environment.globals.update(GLOBAL_HELPERS)
    environment.globals["app"] = app
    return environment
