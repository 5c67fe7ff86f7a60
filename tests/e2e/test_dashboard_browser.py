"""The live dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

A real server (``ServerThread``: 127.0.0.1, a free port, manual clock, default scenario)
serves the page; Playwright's Python package starts ``/usr/bin/chromium`` itself (never a
browser of its own: ``playwright install`` is not used), with the flags this closed network
needs. The test starts a task through the API and watches it appear and move on the page
after the page's own controls advance the clock and force its status.

The screenshot goes to pytest's tmp dir, or to ``$MOCKAPI_SCREENSHOT_DIR/dashboard.png``
when that is set (``MOCKAPI_SCREENSHOT_DIR=docs/screenshots`` refreshes the committed one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from mockapi.settings import Settings
from mockapi.testing import ServerThread, resolve_scenario
from tests.conftest import SECRET
from tests.helpers import POOL_WIN_1

CHROMIUM = Path("/usr/bin/chromium")
#: Headless on a closed network: no sandbox (CI runs as root), no GPU, and none of the
#: background connections Chromium would otherwise try (and see refused) at every start.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
]
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Chromium at /usr/bin/chromium: install Debian's package (apt-get install "
    "chromium), as .ci/run does, to run the browser test",
)


def serve(settings: Settings) -> Iterator[str]:
    server = ServerThread(settings, resolve_scenario(None))
    server.start_and_wait()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    yield from serve(Settings(port=0, clock="manual", jwt_secret=SECRET))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page, with every request it made and every error it logged."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def call(url: str, method: str = "GET", body: Any = None, **headers: str) -> tuple[int, Any]:
    """One HTTP request to the server, as a client under test would make it."""
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


@contextlib.contextmanager
def user_socket(url: str, token: str) -> Iterator[None]:
    """A client's task WebSocket, held open (in a thread of its own) while the block runs."""
    client_id = jwt.decode(token, options={"verify_signature": False})["client_id"]
    opened = threading.Event()
    done = threading.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"{url}/api/v2/pools/ws/{client_id}/", headers={"Cookie": f"JWT {token}"}
            ),
        ):
            opened.set()
            await asyncio.to_thread(done.wait)

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:  # reported to the test
            failure.append(exc)
            opened.set()

    thread = threading.Thread(target=run, name="user-socket", daemon=True)
    thread.start()
    try:
        assert opened.wait(10), "the socket did not open"
        assert not failure, failure
        yield
    finally:
        done.set()
        thread.join(10)


def screenshot_path(tmp_path: Path) -> Path:
    folder = os.environ.get("MOCKAPI_SCREENSHOT_DIR")
    path = (Path(folder) if folder else tmp_path) / "dashboard.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_task_started_through_the_api_appears_and_moves_on_the_page(
    server_url: str, watched: Watched, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = watched.page
    page.goto(f"{server_url}/")
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
    expect(page.locator("#tasks tbody tr")).to_have_count(2)  # the scenario's own tasks

    # A client under test logs in and asks for a machine: a new PENDING POOL_EXPAND.
    credentials = {"username": "astravdi", "password": "Bazalt1!", "ldap": False}
    _, logged_in = call(f"{server_url}/api/v2/users/login/", "POST", credentials)
    token = logged_in["data"]["access_token"]
    status, answer = call(
        f"{server_url}/api/v2/pools/{POOL_WIN_1}/connect/", Authorization=f"JWT {token}"
    )
    assert status == 202
    task_id = answer["data"]["id"]
    row = page.locator(f'#tasks tr[data-task-id="{task_id}"]')
    expect(row.locator("td.status")).to_have_text("PENDING")
    expect(page.locator("#tasks tbody tr").first).to_have_attribute("data-task-id", task_id)
    chip = page.locator('#users tr[data-username="astravdi"] .chip[data-pool="pool-win-1"]')
    expect(chip).to_have_text("pool-win-1: reserving")

    # The page's own control advances the clock past the task's pending time.
    page.fill("#advance-seconds", "3")
    page.click("#advance")
    expect(row.locator("td.status")).to_have_text("RUNNING")
    expect(row.locator("td.started")).not_to_have_text("–")
    expect(page.locator("#notice")).to_have_text("advance 3 s: done")

    # And its force control finishes it.
    row.locator("td.force select").select_option("COMPLETED")
    row.locator("td.force button").click()
    expect(row.locator("td.status")).to_have_text("COMPLETED")
    expect(row.locator("td.force select")).to_have_count(0)
    expect(chip).to_have_text("pool-win-1: has_machine")
    _, task = call(f"{server_url}/api/v2/tasks/{task_id}/", Authorization=f"JWT {token}")
    expect(row.locator("td.finished")).to_have_text(task["data"]["finished"])

    # The diagrams are drawn by the shipped Mermaid, the states in use marked.
    for name in ("login", "connection", "task"):
        expect(page.locator(f"#machine-{name} .diagram svg")).to_have_count(1)
    expect(page.locator('#machine-task tr.marked[data-state="COMPLETED"]')).to_have_count(1)
    expect(page.locator('#machine-login tr.marked[data-state="authenticated"]')).to_have_count(1)
    astravdi = page.locator('#users tr[data-username="astravdi"]')
    expect(astravdi.locator("td").last).to_contain_text("authenticated")

    # The client's open socket is counted on its user's row.
    with user_socket(server_url, token):
        expect(astravdi.locator("td.sockets")).to_have_text("1")
        path = screenshot_path(tmp_path)
        page.screenshot(path=str(path), full_page=True)
        with capsys.disabled():  # the path is for the person running the tests
            print(f"\ndashboard screenshot: {path}")
    expect(astravdi.locator("td.sockets")).to_have_text("0")

    # The filter narrows users and tasks server-side.
    page.fill("#user-filter", "user-2")
    expect(page.locator("#users tbody tr")).to_have_count(1)
    expect(page.locator("#tasks tbody tr")).to_have_count(1)
    page.fill("#user-filter", "")
    expect(page.locator("#users tbody tr")).to_have_count(6)

    # Reset, after the page's confirmation: the task is gone.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#reset")
    expect(row).to_have_count(0)
    expect(page.locator("#tasks tbody tr")).to_have_count(2)

    # Everything came from this server, and nothing failed on the page.
    assert watched.requests
    assert all(url.startswith(f"{server_url}/") for url in watched.requests), watched.requests
    assert watched.errors == []


def test_with_a_service_token_the_page_asks_for_it_and_sends_it(
    watched: Watched,
) -> None:
    for url in serve(Settings(port=0, clock="manual", jwt_secret=SECRET, service_token="s3")):
        page = watched.page
        page.goto(f"{url}/")
        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator("#feed-state")).to_have_attribute("data-state", "token")
        expect(page.locator("#users tbody tr")).to_have_count(0)

        page.fill("#token", "wrong")
        page.click("#token-form button")
        expect(page.locator("#token-problem")).to_have_text("The service token was refused.")

        page.fill("#token", "s3")
        page.click("#token-form button")
        expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
        expect(page.locator("#users tbody tr")).to_have_count(6)
        before = page.locator("#clock-now").inner_text()
        page.fill("#advance-seconds", "60")
        page.click("#advance")
        expect(page.locator("#notice")).to_have_text("advance 60 s: done")
        expect(page.locator("#clock-now")).not_to_have_text(before)
        # The only failure logged is the refused socket of the wrong token.
        assert [error for error in watched.errors if "4403" not in error] == []
