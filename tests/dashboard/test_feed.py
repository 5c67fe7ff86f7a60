"""The live dashboard (issue 5): ``GET /``, its feed ``/dashboard/feed`` and its files.

The feed is read as a page reads it: open the socket, send a view, take snapshots. Every
change point (a task, a connection, a login, a socket, the clock, a reset) must produce a
snapshot; an idle server must send none; a burst of changes must be coalesced.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from mockapi.dashboard.feed import (
    DASHBOARD,
    MAX_USERS,
    MIN_INTERVAL_S,
    TOKEN_REFUSED,
    View,
    force_targets,
    marked_mermaid,
)
from mockapi.dashboard.handlers import ASSETS
from mockapi.domain.scenario import default_scenario_path
from mockapi.keys import RUNTIME
from mockapi.settings import Settings
from mockapi.statemachines.diagrams import MACHINES, mermaid
from tests.conftest import SECRET
from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, fresh_python, login

FEED = "/dashboard/feed"
RECEIVE_S = 5.0
URL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""", re.IGNORECASE)
ATTRIBUTES = re.compile(r"""\b(?:src|href)="([^"]+)\"""")
MakeClient = Callable[[Settings], Awaitable[Client]]


# -- helpers ---------------------------------------------------------------------------------


async def open_feed(
    client: Client, token: str | None = None, **view: Any
) -> ClientWebSocketResponse:
    """A dashboard socket that has sent its view (and the service token, if given)."""
    ws = await client.ws_connect(FEED)
    message: dict[str, Any] = {"type": "view", "view": view}
    if token is not None:
        message["token"] = token
    await ws.send_json(message)
    return ws


async def next_snapshot(ws: ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=RECEIVE_S)
    assert message.type is WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def snapshot_where(
    ws: ClientWebSocketResponse, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first snapshot for which ``predicate`` holds (a change may take two)."""
    async with asyncio.timeout(RECEIVE_S):
        while True:
            snapshot = await next_snapshot(ws)
            if predicate(snapshot):
                return snapshot


def task_row(snapshot: dict[str, Any], task_id: str) -> dict[str, Any] | None:
    return next((row for row in snapshot["tasks"]["items"] if row["id"] == task_id), None)


def status_of(snapshot: dict[str, Any], task_id: str) -> str | None:
    row = task_row(snapshot, task_id)
    return None if row is None else str(row["status"])


def user_row(snapshot: dict[str, Any], username: str) -> dict[str, Any]:
    return next(row for row in snapshot["users"]["items"] if row["username"] == username)


async def start_expand(client: Client) -> str:
    """astravdi asks for a machine in pool-win-1: a new PENDING POOL_EXPAND; its id."""
    token = await login(client)
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202, await resp.text()
    task_id: str = (await resp.json())["data"]["id"]
    return task_id


async def advance(client: Client, seconds: float) -> None:
    resp = await client.post("/service/clock/", json={"advance_s": seconds})
    assert resp.status == 200, await resp.text()


class _Config(HTMLParser):
    """Pulls the page's JSON configuration out of its ``<script type=application/json>``."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "script" and ("id", "dashboard-config") in attrs

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        self.inside = False


def page_config(page: str) -> dict[str, Any]:
    parser = _Config()
    parser.feed(page)
    config: dict[str, Any] = json.loads(parser.text)
    return config


# -- the page --------------------------------------------------------------------------------


def test_transitions_diagram_extension_is_loaded_with_the_first_page_not_at_start_up() -> None:
    # A fresh interpreter: this one has drawn the diagrams already.
    script = (
        "import sys\n"
        "from mockapi.app import create_app\n"
        "from mockapi.settings import Settings\n"
        "create_app(Settings(jwt_secret='x' * 32))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mockapi.statemachines.diagrams',"
        " 'transitions.extensions.diagrams'))))\n"
    )
    output = fresh_python(script)
    assert output.strip() == "[]"


async def test_the_dashboard_is_an_html_page_at_the_root(client: Client) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "<title>mockapi dashboard</title>" in page
    for element in ('id="users"', 'id="tasks"', 'id="clock-now"', 'id="advance"', 'id="reset"'):
        assert element in page


async def test_the_page_and_its_own_files_name_no_other_host(client: Client) -> None:
    # Client teams work on closed networks: no CDN, no absolute URL, no protocol-relative one.
    page = await (await client.get("/")).text()
    assert URL.findall(page) == []
    links = ATTRIBUTES.findall(page)
    assert links
    for link in links:
        assert link.startswith("/") or link.startswith("data:"), link
        assert not link.startswith("//"), link
    for name in ("dashboard.js", "dashboard.css"):
        text = await (await client.get(f"/dashboard/static/{name}")).text()
        assert URL.findall(text) == [], name


async def test_every_file_the_page_loads_is_served_from_the_package(client: Client) -> None:
    page = await (await client.get("/")).text()
    loaded = [link for link in ATTRIBUTES.findall(page) if link.startswith("/")]
    assert {link.split("?")[0].rsplit("/", 1)[1] for link in loaded} == set(ASSETS)
    for link in loaded:
        resp = await client.get(link)
        assert resp.status == 200, link
        assert resp.content_type == ASSETS[link.split("?")[0].rsplit("/", 1)[1]][1]
        assert len(await resp.read()) > 1000


async def test_the_mermaid_build_is_shipped_not_fetched(client: Client) -> None:
    resp = await client.get("/dashboard/static/mermaid.tiny.js")
    body = await resp.text()
    # The IIFE build defines the global the page uses, and it lazy-loads no other chunk.
    assert 'globalThis["mermaid"]' in body
    assert "import(" not in body


async def test_an_unknown_dashboard_file_is_404(client: Client) -> None:
    assert (await client.get("/dashboard/static/secrets.txt")).status == 404
    assert (await client.get("/dashboard/static/..%2Fapp.py")).status == 404


async def test_the_page_holds_itself_to_its_own_origin(client: Client) -> None:
    headers = (await client.get("/")).headers
    directives = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert headers["Cache-Control"] == "no-store"


async def test_the_page_carries_the_first_snapshot_and_the_control_routes(
    client: Client,
) -> None:
    config = page_config(await (await client.get("/")).text())
    assert config["feed"] == FEED
    assert config["clock"] == "/service/clock/"
    assert config["reset"] == "/service/reset/"
    assert config["force"] == "/service/tasks/TASK_ID/"
    assert config["token_required"] is False
    assert config["force_targets"] == force_targets()
    usernames = [row["username"] for row in config["initial"]["users"]["items"]]
    assert usernames == ["astravdi", "user-1", "user-2", "user-3", "user-4", "user-5"]


async def test_the_page_shows_each_diagram_as_text_with_its_states(client: Client) -> None:
    text = await (await client.get("/")).text()
    for name, definition in MACHINES.items():
        assert f'id="machine-{name}"' in text
        for state in definition.states:
            assert f'data-state="{state}"' in text
    # The Mermaid text is escaped into a <pre>: its arrows arrive as &gt;.
    assert "PENDING --&gt; RUNNING: start" in text


async def test_world_values_are_escaped_in_the_page(make_client: MakeClient) -> None:
    scenario = default_scenario_path().read_text(encoding="utf-8")
    scenario = scenario.replace('full_name = "Lupis Pupas"', 'full_name = "</script><b>x"', 1)
    client = await make_client(Settings(jwt_secret=SECRET, clock="manual"))
    resp = await client.put(
        "/service/scenario/", data=scenario, headers={"Content-Type": "application/toml"}
    )
    assert resp.status == 200, await resp.text()
    page = await (await client.get("/")).text()
    assert "</script><b>x" not in page
    config = page_config(page)
    assert user_row(config["initial"], "user-2")["full_name"] == "</script><b>x"


# -- snapshots -------------------------------------------------------------------------------


async def test_a_snapshot_of_the_default_world(client: Client) -> None:
    ws = await open_feed(client)
    snapshot = await next_snapshot(ws)
    assert snapshot["type"] == "snapshot"
    assert snapshot["world"] == {
        "users": 6, "pools": 4, "machines": 11, "tasks": 2, "sockets": 0, "seed": 20250911,
    }  # fmt: skip
    assert snapshot["clock"]["mode"] == "manual"
    assert snapshot["clock"]["time_scale"] == 1.0
    assert snapshot["users"]["total"] == 6
    astravdi = user_row(snapshot, "astravdi")
    assert astravdi["id"] == ASTRAVDI_ID
    assert astravdi["roles"] == ["admin", "user"]
    assert astravdi["sockets"] == 0
    assert [(c["pool"], c["state"]) for c in astravdi["connections"]] == [
        ("pool-win-1", "no_machine"),
        ("pool-win-2", "no_machine"),
        ("pool-astra-1", "no_machine"),
        ("pool-astra-2", "no_machine"),
    ]
    assert [(c["pool"], c["state"]) for c in user_row(snapshot, "user-2")["connections"]] == [
        ("pool-win-1", "expand_failed"),
        ("pool-astra-2", "no_machine"),
    ]
    assert user_row(snapshot, "user-1")["disabled"] is True
    assert user_row(snapshot, "user-3")["mfa"] == ["hardware_token"]
    tasks = snapshot["tasks"]["items"]
    assert [(t["user"], t["status"], t["pool"]) for t in tasks] == [
        ("user-2", "FAILED", "pool-win-1"),  # made after user-1's: same time, newer
        ("user-1", "PENDING", None),
    ]
    assert tasks[0]["started"] == "2022-01-02T00:00:00Z"
    assert tasks[0]["finished"] == "2022-01-03T00:00:00Z"
    machines = snapshot["machines"]
    assert machines["task"]["marked"] == ["PENDING", "FAILED"]
    assert machines["task"]["counts"]["PENDING"] == 1
    # 7 assigned (user, pool) pairs: one failed expand, the rest untouched.
    assert machines["connection"]["counts"]["no_machine"] == 6
    assert machines["connection"]["counts"]["expand_failed"] == 1
    assert machines["login"]["marked"] == []
    assert machines["login"]["last"] is None


async def test_the_first_message_carries_every_diagram_marked(client: Client) -> None:
    ws = await open_feed(client)
    snapshot = await next_snapshot(ws)
    assert set(snapshot["diagrams"]) == set(MACHINES)
    assert snapshot["diagrams"]["task"] == marked_mermaid("task", ["PENDING", "FAILED"])
    # Unchanged marks are not sent again.
    await advance(client, 1)
    later = await next_snapshot(ws)
    assert "diagrams" not in later


def test_one_marked_state_is_the_diagram_of_that_current_state() -> None:
    for name, definition in MACHINES.items():
        for state in definition.states:
            assert marked_mermaid(name, [state]) == mermaid(definition, current=str(state))


def test_a_marked_login_outcome_is_marked_in_every_fan_and_nowhere_else() -> None:
    text = marked_mermaid("login", ["unknown_user", "signing_in_with_adfs"])
    active = re.findall(r"^  Class (\S+) s_active$", text, re.MULTILINE)
    assert sorted(active) == [
        "logging_in__unknown_user",
        "signing_in_with_adfs",
        "signing_in_with_adfs__unknown_user",
        "signing_in_with_hardware_token__unknown_user",
    ]
    assert re.findall(r"^  Class \S+ s_active$", marked_mermaid("login", []), re.MULTILINE) == []


def test_marks_rewrite_only_the_class_lines() -> None:
    text = marked_mermaid("task", ["RUNNING", "FAILED"])
    assert "Class RUNNING s_active" in text
    assert "Class FAILED s_active" in text
    assert "Class PENDING s_default" in text
    assert "s_active" not in marked_mermaid("task", []).split("classDef s_active")[1]
    base = mermaid(MACHINES["task"])
    assert [line for line in text.splitlines() if "Class " not in line] == [
        line for line in base.splitlines() if "Class " not in line
    ]


def test_force_targets_are_the_task_machine_transitions() -> None:
    assert force_targets() == {
        "PENDING": ["RUNNING", "CANCELLED"],
        "RUNNING": ["COMPLETED", "FAILED", "CANCELLED"],
    }


# -- the feed follows every change -----------------------------------------------------------


async def test_a_new_task_and_each_of_its_changes_reach_the_page(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    task_id = await start_expand(client)
    pending = await snapshot_where(ws, lambda s: task_row(s, task_id) is not None)
    row = task_row(pending, task_id)
    assert row is not None
    assert (row["status"], row["kind"], row["user"], row["pool"]) == (
        "PENDING", "POOL_EXPAND", "astravdi", "pool-win-1",
    )  # fmt: skip
    assert pending["tasks"]["items"][0]["id"] == task_id  # newest first
    assert user_row(pending, "astravdi")["connections"][0]["state"] == "reserving"

    await advance(client, 3)  # the default scenario's pending_s
    running = await snapshot_where(ws, lambda s: status_of(s, task_id) == "RUNNING")
    row = task_row(running, task_id)
    assert row is not None
    assert row["started"] == running["clock"]["now"]
    assert "RUNNING" in running["machines"]["task"]["marked"]


async def test_a_forced_status_reaches_the_page(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    task_id = await start_expand(client)
    resp = await client.post(f"/service/tasks/{task_id}/", json={"status": "CANCELLED"})
    assert resp.status == 200
    snapshot = await snapshot_where(ws, lambda s: status_of(s, task_id) == "CANCELLED")
    assert user_row(snapshot, "astravdi")["connections"][0]["state"] == "no_machine"


async def test_an_advance_reaches_the_page_with_the_new_time(client: Client) -> None:
    ws = await open_feed(client)
    before = await next_snapshot(ws)
    await advance(client, 3600)
    after = await next_snapshot(ws)
    assert after["clock"]["epoch"] == pytest.approx(before["clock"]["epoch"] + 3600)


async def test_a_clock_mode_change_reaches_the_page(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    resp = await client.post("/service/clock/", json={"mode": "real", "time_scale": 60})
    assert resp.status == 200
    snapshot = await snapshot_where(ws, lambda s: s["clock"]["mode"] == "real")
    assert snapshot["clock"]["time_scale"] == 60.0


async def test_user_sockets_opening_and_closing_reach_the_page(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    token = await login(client)
    user_ws = await client.ws_connect(
        f"/api/v2/pools/ws/{ASTRAVDI_ID}/", headers={"Cookie": f"JWT {token}"}
    )
    opened = await snapshot_where(ws, lambda s: user_row(s, "astravdi")["sockets"] == 1)
    assert opened["world"]["sockets"] == 1
    await user_ws.close()
    closed = await snapshot_where(ws, lambda s: user_row(s, "astravdi")["sockets"] == 0)
    assert closed["world"]["sockets"] == 0


async def test_a_login_marks_where_it_stopped(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    await login(client)
    snapshot = await snapshot_where(ws, lambda s: s["machines"]["login"]["marked"] != [])
    assert snapshot["machines"]["login"]["marked"] == ["authenticated"]
    assert snapshot["machines"]["login"]["last"]["username"] == "astravdi"
    assert user_row(snapshot, "astravdi")["last_login"]["outcome"] == "authenticated"
    for start in ("logging_in", "signing_in_with_adfs", "signing_in_with_hardware_token"):
        # Login is drawn as one fan per start state: each fan's copy of the outcome is marked.
        assert f"Class {start}__authenticated s_active" in snapshot["diagrams"]["login"]

    resp = await client.post(
        "/api/v2/users/login/", json={"username": "user-4", "password": "x", "ldap": False}
    )
    assert resp.status == 428  # user-4 needs an OTP
    snapshot = await snapshot_where(
        ws, lambda s: s["machines"]["login"]["marked"] == ["otp_required"]
    )
    assert snapshot["machines"]["login"]["counts"]["authenticated"] == 1
    assert snapshot["machines"]["login"]["counts"]["otp_required"] == 1


async def test_a_reset_reaches_the_page(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    task_id = await start_expand(client)
    await snapshot_where(ws, lambda s: task_row(s, task_id) is not None)
    assert (await client.post("/service/reset/")).status == 200
    snapshot = await snapshot_where(ws, lambda s: task_row(s, task_id) is None)
    assert snapshot["world"]["tasks"] == 2
    assert snapshot["machines"]["login"]["last"] is None


async def test_an_idle_server_sends_nothing(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=3 * MIN_INTERVAL_S)


async def test_a_burst_of_changes_is_coalesced(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    started = time.monotonic()
    for _ in range(200):
        await advance(client, 1)
    received = 0
    last: dict[str, Any] = {}
    while True:
        try:
            last = await next_snapshot_within(ws, 3 * MIN_INTERVAL_S)
        except TimeoutError:
            break
        received += 1
    elapsed = time.monotonic() - started
    # At most one snapshot per MIN_INTERVAL_S (plus the one the burst started with), and the
    # last one shows where the burst ended.
    assert 1 <= received <= elapsed / MIN_INTERVAL_S + 2
    assert received < 200
    now = client.app[RUNTIME].clock.time()
    assert last["clock"]["epoch"] == pytest.approx(now)


async def next_snapshot_within(ws: ClientWebSocketResponse, seconds: float) -> dict[str, Any]:
    message = await ws.receive(timeout=seconds)
    assert message.type is WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def test_a_failing_snapshot_closes_its_page_and_spares_the_api(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)

    def broken(view: View) -> dict[str, Any]:
        raise RuntimeError("a dashboard bug")

    monkeypatch.setattr(client.app[DASHBOARD], "snapshot", broken)
    task_id = await start_expand(client)
    message = await ws.receive(timeout=RECEIVE_S)
    assert message.type is WSMsgType.CLOSE
    assert ws.close_code == 1011
    await advance(client, 3)
    resp = await client.get(f"/api/v2/tasks/{task_id}/", headers=auth(await login(client)))
    assert (await resp.json())["data"]["status"] == "RUNNING"


# -- views: filter, pages, caps --------------------------------------------------------------


@pytest.fixture
async def load_client(make_client: MakeClient) -> Client:
    """The load scenario: 10,000 users."""
    scenario = default_scenario_path().with_name("load.toml")
    return await make_client(Settings(jwt_secret=SECRET, clock="manual", scenario=scenario))


async def test_ten_thousand_users_come_a_page_at_a_time(load_client: Client) -> None:
    ws = await open_feed(load_client)
    message = await ws.receive(timeout=RECEIVE_S)
    snapshot = json.loads(message.data)
    assert snapshot["users"]["total"] == 10_000
    assert len(snapshot["users"]["items"]) == View().limit
    assert snapshot["users"]["items"][0]["username"] == "load00001"
    assert len(message.data) < 64_000  # diagrams included
    await ws.send_json({"type": "view", "view": {"offset": 9_990, "limit": 20}})
    last_page = await next_snapshot(ws)
    assert [row["username"] for row in last_page["users"]["items"]] == [
        f"load{index:05d}" for index in range(9_991, 10_001)
    ]


async def test_the_page_itself_stays_small_with_ten_thousand_users(load_client: Client) -> None:
    page = await (await load_client.get("/")).text()
    assert len(page) < 100_000
    assert page_config(page)["initial"]["users"]["total"] == 10_000


async def test_the_filter_matches_username_name_or_id(load_client: Client) -> None:
    ws = await open_feed(load_client, q="LOAD0001")
    snapshot = await next_snapshot(ws)
    assert snapshot["users"]["total"] == 10
    assert [row["username"] for row in snapshot["users"]["items"]] == [
        f"load{index:05d}" for index in range(10, 20)
    ]
    user_id = snapshot["users"]["items"][3]["id"]
    await ws.send_json({"type": "view", "view": {"q": user_id}})
    by_id = await next_snapshot(ws)
    assert [row["id"] for row in by_id["users"]["items"]] == [user_id]
    await ws.send_json({"type": "view", "view": {"q": "nobody"}})
    nobody = await next_snapshot(ws)
    assert nobody["users"] == {"total": 0, "offset": 0, "limit": View().limit, "items": []}


async def test_tasks_and_counts_follow_the_filter(client: Client) -> None:
    task_id = await start_expand(client)
    ws = await open_feed(client, q="user-2")
    snapshot = await next_snapshot(ws)
    assert [row["user"] for row in snapshot["tasks"]["items"]] == ["user-2"]
    assert snapshot["tasks"]["total"] == 1
    assert snapshot["machines"]["task"]["marked"] == ["FAILED"]
    assert snapshot["machines"]["connection"]["counts"]["expand_failed"] == 1
    await ws.send_json({"type": "view", "view": {"q": "astra"}})
    astra = await next_snapshot(ws)
    assert [row["id"] for row in astra["tasks"]["items"]] == [task_id]
    assert astra["machines"]["connection"]["marked"] == ["no_machine", "reserving"]


async def test_tasks_are_capped_with_their_total(client: Client) -> None:
    ws = await open_feed(client, tasks=1)
    snapshot = await next_snapshot(ws)
    assert snapshot["tasks"]["total"] == 2
    assert [row["user"] for row in snapshot["tasks"]["items"]] == ["user-2"]


async def test_a_bad_view_is_refused_and_the_old_one_kept(client: Client) -> None:
    ws = await open_feed(client, limit=2)
    await next_snapshot(ws)
    await ws.send_json({"type": "view", "view": {"limit": MAX_USERS + 1}})
    snapshot = await next_snapshot(ws)
    assert "limit" in snapshot["notice"]
    assert snapshot["view"]["limit"] == 2
    assert len(snapshot["users"]["items"]) == 2


async def test_a_first_message_that_is_not_a_view_closes_the_feed(client: Client) -> None:
    ws = await client.ws_connect(FEED)
    await ws.send_str("hello")
    message = await ws.receive(timeout=RECEIVE_S)
    assert message.type is WSMsgType.CLOSE
    assert ws.close_code == 1008


async def test_a_plain_get_of_the_feed_is_404(client: Client) -> None:
    assert (await client.get(FEED)).status == 404


async def test_pages_on_the_same_view_share_one_snapshot(client: Client) -> None:
    feed = client.app[DASHBOARD]
    first = feed.snapshot(View())
    assert feed.snapshot(View()) is first
    await advance(client, 1)
    assert feed.snapshot(View()) is not first


async def test_shutdown_closes_every_page_with_1001(client: Client) -> None:
    ws = await open_feed(client)
    await next_snapshot(ws)
    await client.app[DASHBOARD].close_all()
    message = await ws.receive(timeout=RECEIVE_S)
    assert message.type is WSMsgType.CLOSE
    assert ws.close_code == 1001


# -- with a service token --------------------------------------------------------------------


@pytest.fixture
async def guarded(make_client: MakeClient) -> Client:
    return await make_client(Settings(jwt_secret=SECRET, clock="manual", service_token="s3cret"))


async def test_with_a_service_token_the_page_carries_no_world(guarded: Client) -> None:
    page = await (await guarded.get("/")).text()
    config = page_config(page)
    assert config["token_required"] is True
    assert config["token_header"] == "X-Service-Token"
    assert config["initial"] is None
    assert "astravdi" not in page


async def test_with_a_service_token_the_feed_needs_it(guarded: Client) -> None:
    for token in (None, "wrong"):
        ws = await open_feed(guarded, token=token)
        message = await ws.receive(timeout=RECEIVE_S)
        assert message.type is WSMsgType.CLOSE
        assert ws.close_code == TOKEN_REFUSED
    ws = await open_feed(guarded, token="s3cret")
    assert (await next_snapshot(ws))["users"]["total"] == 6


async def test_the_controls_routes_need_the_token_the_page_sends(guarded: Client) -> None:
    assert (await guarded.post("/service/clock/", json={"advance_s": 1})).status == 403
    resp = await guarded.post(
        "/service/clock/", json={"advance_s": 1}, headers={"X-Service-Token": "s3cret"}
    )
    assert resp.status == 200


def test_the_vendored_mermaid_is_the_published_file() -> None:
    vendor = resources.files("mockapi.pages") / "static" / "dashboard" / "vendor"
    recorded = re.search(
        r"sha256 of `mermaid.tiny.js`: `([0-9a-f]{64})`",
        (vendor / "README.md").read_text(encoding="utf-8"),
    )
    assert recorded is not None
    digest = hashlib.sha256((vendor / "mermaid.tiny.js").read_bytes()).hexdigest()
    assert digest == recorded[1]
    assert "MIT License" in (vendor / "mermaid.LICENSE.txt").read_text(encoding="utf-8")
