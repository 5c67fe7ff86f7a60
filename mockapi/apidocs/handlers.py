"""The documents and the Swagger UI: ``/openapi.json``, ``/asyncapi.json``, ``/docs``.

Client teams work on closed networks, so the page loads nothing from anywhere else: Swagger
UI's files come from the installed ``swagger-ui-bundle-v2`` package (upstream swagger-ui-dist,
unchanged; the original ``swagger-ui-bundle`` ships Swagger UI 4, which cannot show an
OpenAPI 3.1 document) and are served under ``/docs/static/``, and a Content-Security-Policy
holds the page to its own origin.
"""

from __future__ import annotations

import functools
from importlib.resources.abc import Traversable

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from mockapi.jsonfmt import dumps
from mockapi.pages.assets import Asset, AssetSet, static_file
from mockapi.pages.headers import page_headers
from mockapi.pages.render import render_template
from mockapi.web.route import ROUTE_TABLE, Route

DOCS_TEMPLATE = "docs.html"


def _swagger(name: str) -> Traversable:
    path: Traversable = swagger_ui_path / name
    return path


#: Every file the page may load: name → (where it is, its media type). Nothing else is served.
ASSETS: dict[str, Asset] = {
    "swagger-ui.css": (_swagger("swagger-ui.css"), "text/css"),
    "swagger-ui.css.map": (_swagger("swagger-ui.css.map"), "application/json"),
    "swagger-ui-bundle.js": (_swagger("swagger-ui-bundle.js"), "text/javascript"),
    "swagger-ui-bundle.js.map": (_swagger("swagger-ui-bundle.js.map"), "application/json"),
    "swagger-ui-standalone-preset.js": (
        _swagger("swagger-ui-standalone-preset.js"),
        "text/javascript",
    ),
    "swagger-ui-standalone-preset.js.map": (
        _swagger("swagger-ui-standalone-preset.js.map"),
        "application/json",
    ),
    "favicon-32x32.png": (_swagger("favicon-32x32.png"), "image/png"),
    "favicon-16x16.png": (_swagger("favicon-16x16.png"), "image/png"),
    # Ours: starts Swagger UI. A file rather than an inline script, so the policy can say
    # script-src 'self' and nothing else.
    "docs.js": (static_file("docs.js"), "text/javascript"),
}

FILES = AssetSet(ASSETS)


AssetPath = FILES.path_model("docs page", "swagger-ui.css", __name__)


#: The page's policy: everything from this origin only. Swagger UI sets inline styles and
#: shows data: images (its SVG icons), and its "Try it out" form posts to this origin.
DOCS_HEADERS = page_headers(
    script_src="'self'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    font_src="'self' data:",
    connect_src="'self'",
    form_action="'self'",
)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document, generated from the route table the server runs."""
    return web.Response(
        body=_openapi_bytes(request.app[ROUTE_TABLE]), content_type="application/json"
    )


@functools.cache
def _openapi_bytes(routes: tuple[Route, ...]) -> bytes:
    # The table and its models never change while the process runs: build once, on first use
    # (not in create_app, which every test calls).
    from mockapi.apidocs.openapi import build_openapi

    return dumps(build_openapi(routes))


async def asyncapi_json(request: web.Request) -> web.Response:
    """The AsyncAPI 3.0 document of the WebSocket, with this server as its host."""
    from mockapi.apidocs.asyncapi import build_asyncapi

    return web.Response(body=dumps(build_asyncapi(request.host)), content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    """Swagger UI on /openapi.json; "Authorize" takes the value `JWT <token>`."""
    router = request.app.router

    def asset(name: str) -> str:
        return str(router["docs-static"].url_for(filename=name))

    context = {
        "css": asset("swagger-ui.css"),
        "favicon": asset("favicon-32x32.png"),
        "scripts": [
            asset("swagger-ui-bundle.js"),
            asset("swagger-ui-standalone-preset.js"),
            asset("docs.js"),
        ],
        "openapi_url": str(router["openapi"].url_for()),
    }
    response = render_template(DOCS_TEMPLATE, request, context)
    response.headers.update(DOCS_HEADERS)
    return response


async def docs_static(request: web.Request) -> web.Response:
    """One file of the docs page, from the installed packages."""
    return FILES.response(request)
