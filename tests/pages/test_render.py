"""The pages' templates: configured by the factory, Jinja2 made with the first page rendered."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from mockapi.pages.render import PAGES, render_template, setup_pages
from tests.helpers import Client

CONTEXTS: dict[str, dict[str, Any]] = {
    "docs.html": {
        "css": "/a.css",
        "favicon": "/f.png",
        "scripts": ["/a.js", "/b.js"],
        "openapi_url": "/openapi.json",
    },
    "adfs.html": {
        "username": "<b>&amp;",
        "error": 'bad "quote"',
        "show_form": True,
        "action": "/api/v2/users/adfs/",
        "redirect_uri": "http://localhost/?a=1&b=2",
    },
}


async def test_the_factory_configures_the_templates_and_the_first_page_makes_jinja2s_env(
    client: Client,
) -> None:
    pages = client.app[PAGES]
    assert not pages.loaded
    assert (await client.get("/docs")).status == 200
    assert pages.loaded


@pytest.mark.parametrize("status", [200, 400, 401])
@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_a_page_is_what_aiohttp_jinja2_renders(name: str, status: int) -> None:
    app = web.Application()
    setup_pages(app)
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("mockapi.pages", "templates"))
    request = make_mocked_request("GET", "/", app=app)
    ours = render_template(name, request, CONTEXTS[name], status=status)
    theirs = aiohttp_jinja2.render_template(name, request, CONTEXTS[name], status=status)
    assert ours.status == theirs.status == status
    assert ours.headers == theirs.headers
    assert ours.body == theirs.body


def test_pages_are_autoescaped() -> None:
    app = web.Application()
    setup_pages(app)
    request = make_mocked_request("GET", "/", app=app)
    page = render_template("adfs.html", request, CONTEXTS["adfs.html"]).text or ""
    assert 'value="&lt;b&gt;&amp;amp;"' in page
    assert "<b>" not in page
