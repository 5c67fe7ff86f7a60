"""``/docs`` in a real browser: Swagger UI renders offline, and Authorize sends `JWT <token>`.

Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol with aiohttp, so
no other driver is needed. Skipped only where no Chromium is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.helpers import Client, login

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")

OPERATION = "#operations-users-user-settings"
WAIT_S = 15.0
POLL_S = 0.1
#: Sets a React-controlled input's value the way typing does.
TYPE_INTO = """(el, text) => {
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(el, text);
  el.dispatchEvent(new Event("input", {bubbles: true}));
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Page:
    """One browser tab over the DevTools protocol: evaluate JavaScript, collect problems."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        #: Console errors and exceptions (a CSP violation is one).
        self.problems: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.ws.send_json({"id": number, "method": method, "params": params})
        while True:
            message: dict[str, Any] = await self.ws.receive_json(timeout=20)
            if message.get("id") == number:
                return message
            event = message.get("method")
            if event == "Runtime.exceptionThrown" or (
                event == "Log.entryAdded" and message["params"]["entry"]["level"] == "error"
            ):
                self.problems.append(json.dumps(message["params"])[:500])

    async def js(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        # While a page loads, its context may be gone: no value yet, not a failure.
        return answer.get("result", {}).get("result", {}).get("value")

    async def wait_for(self, expression: str) -> Any:
        """The first truthy value of ``expression``, polled for up to ``WAIT_S``."""
        for _ in range(int(WAIT_S / POLL_S)):
            if value := await self.js(expression):
                return value
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"still falsy after {WAIT_S} s: {expression}")


async def _debugger_url(http: aiohttp.ClientSession, port: int) -> str:
    """The DevTools socket of the browser's tab, once the browser listens."""
    for _ in range(int(WAIT_S / POLL_S)):
        try:
            async with http.get(f"http://127.0.0.1:{port}/json") as resp:
                for target in await resp.json():
                    if target["type"] == "page":
                        return str(target["webSocketDebuggerUrl"])
        except aiohttp.ClientError:
            pass  # not listening yet
        await asyncio.sleep(POLL_S)
    raise AssertionError("Chromium did not open its DevTools port")


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    assert CHROMIUM is not None
    port = _free_port()
    # Chromium's helper processes outlive the main one by a moment and may still write to
    # the profile while it is removed; a leftover file in a temporary folder is harmless.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "about:blank",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it stops the helpers too
        )
        try:
            async with aiohttp.ClientSession() as http:
                url = await _debugger_url(http, port)
                async with http.ws_connect(url, max_msg_size=0) as ws:
                    tab = Page(ws)
                    await tab.send("Runtime.enable")
                    await tab.send("Log.enable")
                    yield tab
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            await asyncio.wait_for(browser.wait(), 10)


async def test_swagger_ui_renders_every_operation_offline(client: Client, page: Page) -> None:
    await page.send("Page.navigate", url=str(client.make_url("/docs")))
    count = await page.wait_for("document.querySelectorAll('.opblock').length")
    spec = await (await client.get("/openapi.json")).json()
    assert count == sum(len(item) for item in spec["paths"].values())
    assert page.problems == []  # no CSP violation, no script error


async def test_authorize_sends_the_jwt_header(client: Client, page: Page) -> None:
    token = await login(client)
    await page.send("Page.navigate", url=str(client.make_url("/docs")))
    await page.wait_for("!!document.querySelector('.btn.authorize')")
    await page.js("document.querySelector('.btn.authorize').click()")
    await page.wait_for("!!document.querySelector('.modal-ux input')")
    await page.js(f"({TYPE_INTO})(document.querySelector('.modal-ux input'), 'JWT {token}')")
    await page.js(
        "[...document.querySelectorAll('.modal-ux button')]"
        ".find(b => b.textContent.trim() === 'Authorize').click()"
    )
    await page.js(
        "[...document.querySelectorAll('.modal-ux button')]"
        ".find(b => b.textContent.trim() === 'Close').click()"
    )
    await page.js(f"document.querySelector('{OPERATION} .opblock-summary-control').click()")
    await page.wait_for(f"!!document.querySelector('{OPERATION} .try-out__btn')")
    await page.js(f"document.querySelector('{OPERATION} .try-out__btn').click()")
    await page.wait_for(f"!!document.querySelector('{OPERATION} .execute')")
    await page.js(f"document.querySelector('{OPERATION} .execute').click()")
    # The table's first status cell is its header ("Code"); the answer's is the next one.
    status = await page.wait_for(
        f"[...document.querySelectorAll('{OPERATION} .live-responses-table .response-col_status')]"
        ".map(cell => cell.textContent.trim()).filter(text => text !== 'Code')[0]"
    )
    assert status == "200"
    curl = await page.js(f"document.querySelector('{OPERATION} .curl-command').textContent")
    assert f"Authorization: JWT {token}" in curl
    # persistAuthorization: the value survives a reload.
    stored = json.loads(await page.js("localStorage.getItem('authorized')"))
    assert stored["JWT"]["value"] == f"JWT {token}"
