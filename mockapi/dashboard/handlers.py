"""The dashboard's routes: the page ``GET /``, its feed ``WS /dashboard/feed`` and its files.

The view model, the snapshots and the feed that sends them are :mod:`mockapi.dashboard.feed`;
these handlers only translate HTTP and the page's messages to and from it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from mockapi.keys import SETTINGS
from mockapi.pages.assets import Asset, AssetSet, static_file
from mockapi.pages.headers import page_headers
from mockapi.pages.render import render_template
from mockapi.web.api.websocket import BAD_HANDSHAKE, refuse
from mockapi.web.rules import SERVICE_TOKEN_HEADER, is_websocket_upgrade, service_token_ok

if TYPE_CHECKING:
    pass

from mockapi.dashboard.feed import (
    DASHBOARD,
    DASHBOARD_TEMPLATE,
    HEARTBEAT_S,
    HELLO_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    TOKEN_REFUSED,
    View,
    Viewer,
    ViewMessage,
    close_page,
    force_targets,
    machine_names,
    marked_mermaid,
    state_names,
)

log = logging.getLogger(__name__)


def _token_ok(app: web.Application, given: str | None) -> bool:
    expected = app[SETTINGS].service_token
    if not expected:
        return True
    return service_token_ok(given, expected)


async def feed(request: web.Request) -> web.StreamResponse:
    """``WS /dashboard/feed``: snapshots of the world for one dashboard page."""
    if not is_websocket_upgrade(request):
        raise web.HTTPNotFound()  # a plain GET does not match a WebSocket route
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES)
    if not ws.can_prepare(request).ok:
        return refuse(BAD_HANDSHAKE)
    dashboard = request.app[DASHBOARD]
    await ws.prepare(request)
    if dashboard.closing:
        await close_page(ws, WSCloseCode.GOING_AWAY, b"server shutdown")
        return ws

    # The page speaks first: its view, and the service token when the server has one.
    try:
        first = await ws.receive(timeout=HELLO_TIMEOUT_S)
    except TimeoutError:
        await close_page(ws, WSCloseCode.POLICY_VIOLATION, b"expected a view message")
        return ws
    if first.type is not WSMsgType.TEXT:
        await close_page(ws, WSCloseCode.POLICY_VIOLATION, b"expected a view message")
        return ws
    try:
        hello = ViewMessage.model_validate_json(first.data)
    except ValidationError as exc:
        reason = _problem(exc).encode("ascii", "replace")[:120]  # a close reason is short
        await close_page(ws, WSCloseCode.POLICY_VIOLATION, reason)
        return ws
    if not _token_ok(request.app, hello.token):
        await close_page(ws, TOKEN_REFUSED, b"service token required")
        return ws

    viewer = Viewer(ws=ws, view=hello.view)
    dashboard.viewers.add(viewer)
    dashboard.changed()  # everyone's viewer count changed; this page gets its first snapshot
    writer = asyncio.get_running_loop().create_task(dashboard.serve(viewer))
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                update = ViewMessage.model_validate_json(msg.data)
            except ValidationError as exc:
                viewer.notice = _problem(exc)
            else:
                viewer.view = update.view
            viewer.wake.set()
            if writer.done():
                break  # the socket failed to send: the page is gone
    finally:
        dashboard.viewers.discard(viewer)
        writer.cancel()
        await asyncio.wait([writer])
        dashboard.changed()
    return ws


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"bad view message: {where}: {first['msg']}" if where else first["msg"]


#: Every file the page may load: name → (where it is, media type). Nothing else is served.
ASSETS: dict[str, Asset] = {
    "dashboard.js": (static_file("dashboard", "dashboard.js"), "text/javascript"),
    "dashboard.css": (static_file("dashboard", "dashboard.css"), "text/css"),
    "mermaid.tiny.js": (static_file("dashboard", "vendor", "mermaid.tiny.js"), "text/javascript"),
}

FILES = AssetSet(ASSETS)


AssetPath = FILES.path_model("dashboard", "dashboard.js", __name__)


#: The page's policy: its own origin only (fetch and the feed included). Mermaid writes
#: inline styles into the SVG it draws, hence that one allowance.
PAGE_HEADERS = page_headers(
    script_src="'self'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    font_src="'self'",
    connect_src="'self'",
)


async def static(request: web.Request) -> web.Response:
    """One file of the dashboard, from the installed package."""
    return FILES.response(request)


async def page(request: web.Request) -> web.Response:
    """The live dashboard: users, connections, tasks, clock and state diagrams."""
    app = request.app
    router = app.router
    dashboard = app[DASHBOARD]
    protected = bool(app[SETTINGS].service_token)

    def asset(name: str) -> str:
        url = router["dashboard-static"].url_for(filename=name)
        return str(url.with_query(v=FILES.version(name)))

    # Without a service token the first snapshot comes with the page; with one, the world is
    # shown only once the page has sent the token over the feed.
    initial = None
    if not protected:
        initial = {**dashboard.snapshot(View()), "generation": dashboard.generation}
    diagrams = {
        name: marked_mermaid(name, initial["machines"][name]["marked"] if initial else ())
        for name in machine_names()
    }
    config = {
        "feed": str(router["dashboard-feed"].url_for()),
        "clock": str(router["service-clock-set"].url_for()),
        "reset": str(router["service-reset"].url_for()),
        "conformance": str(router["service-conformance"].url_for()),
        "force": str(router["service-task-force"].url_for(id="TASK_ID")),
        "token_required": protected,
        "token_header": SERVICE_TOKEN_HEADER,
        "force_targets": force_targets(),
        "view": View().model_dump(),
        "machines": list(machine_names()),
        "initial": initial,
    }
    context = {
        "css": asset("dashboard.css"),
        "scripts": [asset("mermaid.tiny.js"), asset("dashboard.js")],
        "config": config,
        "diagrams": diagrams,
        "states": {name: state_names(name) for name in machine_names()},
        "protected": protected,
    }
    response = render_template(DASHBOARD_TEMPLATE, request, context)
    response.headers.update(PAGE_HEADERS)
    return response
