"""The HTML pages' templates (dashboard, Swagger UI, ADFS sign-in), with Jinja2 loaded late.

The usual wiring is ``aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader(...))`` in the
factory. That imports Jinja2 and builds its environment at every start (a large share of
mockapi's own start-up) for three pages the API itself never serves.
So the factory configures the templates with :func:`setup_pages` (a :class:`Pages` under
:data:`PAGES`) and the environment is made when the first page is rendered.

It cannot be made late through ``aiohttp_jinja2.setup``, which stores the environment in the
application: a running application is frozen. The environment is the one ``setup`` makes
(:mod:`mockapi.pages._jinja`), and :func:`render_template` answers exactly as
``aiohttp_jinja2.render_template`` does: ``text/html; charset=utf-8``, the status given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import jinja2

#: The package and directory the templates are read from.
TEMPLATES = ("mockapi.pages", "templates")


class Pages:
    """The templates of one application; the Jinja2 environment is made on first use."""

    def __init__(self, app: web.Application, package: str, directory: str) -> None:
        self._app = app
        self._package = package
        self._directory = directory
        self._environment: jinja2.Environment | None = None

    @property
    def loaded(self) -> bool:
        """Whether the environment has been made (a page was rendered)."""
        return self._environment is not None

    @property
    def environment(self) -> jinja2.Environment:
        """The environment ``aiohttp_jinja2.setup(app, loader=PackageLoader(...))`` makes."""
        if self._environment is None:
            from mockapi.pages._jinja import setup_environment

            self._environment = setup_environment(self._app, self._package, self._directory)
        return self._environment

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Template ``name`` rendered with ``context`` (autoescaped)."""
        return self.environment.get_template(name).render(context)


#: The application's templates (set by :func:`setup_pages`).
PAGES: web.AppKey[Pages] = web.AppKey("pages")


def setup_pages(app: web.Application) -> Pages:
    """Configure the package's templates for ``app`` (Jinja2 itself loads at the first page)."""
    pages = Pages(app, *TEMPLATES)
    app[PAGES] = pages
    return pages


def render_template(
    name: str,
    request: web.Request,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """Template ``name`` as an HTML response, as ``aiohttp_jinja2.render_template`` answers."""
    response = web.Response(status=status)
    response.content_type = "text/html"
    response.charset = "utf-8"
    response.text = request.config_dict[PAGES].render(name, context)
    return response
