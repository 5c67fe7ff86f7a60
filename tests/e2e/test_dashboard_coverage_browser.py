"""The dashboard's diagrams in headless Chromium: readable at a glance on a 1400-pixel page
(every machine at one scale, none overflowing, no edge label over another), coverage painted
on them, and the client conformance panel.

The screenshot goes to pytest's tmp dir, or to ``$MOCKAPI_SCREENSHOT_DIR/dashboard-coverage.png``
when that is set (``MOCKAPI_SCREENSHOT_DIR=docs/screenshots`` refreshes the committed one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.e2e import test_dashboard_browser as base
from tests.e2e.test_dashboard_browser import CHROMIUM, Watched, call, serve
from tests.helpers import POOL_WIN_1

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Chromium at /usr/bin/chromium: install Debian's package (apt-get install "
    "chromium), as .ci/run does, to run the browser test",
)
MACHINES = ("login", "connection", "task")
#: Edge labels each view draws: one per transition, but the state diagram draws connection's
#: two parallel edges (start_cancelled, start_failed) as one.
LABELS = {
    "states": {"login": 16, "connection": 7, "task": 5},
    "coverage": {"login": 16, "connection": 8, "task": 5},
}
#: The browser and its pages, as the dashboard's own browser test starts them.
browser = base.browser
watched = base.watched


@pytest.fixture
def server_url() -> Iterator[str]:
    # A server per test: coverage counts from its start.
    yield from serve(Settings(port=0, clock="manual", jwt_secret=SECRET))


def geometry(page: Page, name: str) -> dict[str, Any]:
    """The drawn diagram: its natural (viewBox) and shown widths, and its column's width."""
    found: dict[str, Any] = page.evaluate(
        """(name) => {
            const svg = document.querySelector(`#machine-${name} .diagram svg`);
            const box = svg.getBoundingClientRect();
            return {natural: svg.viewBox.baseVal.width, shown: box.width,
                    right: box.right, column: svg.parentElement.getBoundingClientRect().right,
                    page: document.documentElement.clientWidth};
        }""",
        name,
    )
    return found


def label_overlaps(page: Page, name: str) -> dict[str, Any]:
    """The drawn diagram's edge labels: how many, and each pair whose boxes intersect."""
    found: dict[str, Any] = page.evaluate(
        """(name) => {
            const svg = document.querySelector(`#machine-${name} .diagram svg`);
            // The outer label of each edge (Mermaid nests a span.edgeLabel in g.edgeLabel);
            // an edge without a label ([*] -->) has an empty box.
            const labels = [...svg.querySelectorAll('.edgeLabel')]
                .filter((label) => !label.parentElement.closest('.edgeLabel'))
                .map((label) => [label.textContent.trim(), label.getBoundingClientRect()])
                .filter(([, box]) => box.width > 0 && box.height > 0);
            const overlaps = [];
            labels.forEach(([text, box], i) => labels.slice(i + 1).forEach(([other, next]) => {
                if (box.left < next.right && next.left < box.right
                        && box.top < next.bottom && next.top < box.bottom) {
                    overlaps.push([text, other]);
                }
            }));
            return {count: labels.length, overlaps};
        }""",
        name,
    )
    return found


def test_every_diagram_is_drawn_at_one_scale_and_none_overflows(
    server_url: str, watched: Watched
) -> None:
    page = watched.page
    page.goto(f"{server_url}/")
    for paint in ("states", "coverage"):
        page.locator(f'#paint input[value="{paint}"]').check()
        for name in MACHINES:
            expect(page.locator(f"#machine-{name} .diagram svg")).to_have_count(1)
        if paint == "coverage":
            expect(page.locator("#machine-task .diagram svg")).to_contain_text("complete")
            expect(page.locator("#machine-task .diagram svg .edgeLabel").first).to_be_visible()
        for name in MACHINES:
            shape = geometry(page, name)
            # Natural size: the same font size in every machine, no small one blown up.
            assert shape["shown"] == pytest.approx(shape["natural"], abs=1), (paint, name, shape)
            assert shape["right"] <= shape["column"] + 1, (paint, name, shape)
            assert shape["right"] <= shape["page"], (paint, name, shape)
        # In balance: the largest is at most about twice the width of the smallest.
        widths = [geometry(page, name)["shown"] for name in MACHINES]
        assert max(widths) <= 2.2 * min(widths), (paint, widths)
        # Readable: no edge label drawn over another (login's three routes share outcomes;
        # drawn once each, their labels stacked).
        for name in MACHINES:
            labels = label_overlaps(page, name)
            assert labels["count"] == LABELS[paint][name], (paint, name, labels)
            assert labels["overlaps"] == [], (paint, name, labels)
    assert watched.errors == []


def test_coverage_is_painted_on_the_diagrams_and_the_conformance_panel_checks(
    server_url: str, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(f"{server_url}/")
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
    expect(page.locator('[data-covered="login"]')).to_have_text("0/16 transitions covered")

    # A client logs in and asks for a machine without its socket open; the task runs.
    credentials = {"username": "astravdi", "password": "Bazalt1!", "ldap": False}
    _, logged_in = call(f"{server_url}/api/v2/users/login/", "POST", credentials)
    token = logged_in["data"]["access_token"]
    status, answer = call(
        f"{server_url}/api/v2/pools/{POOL_WIN_1}/connect/", Authorization=f"JWT {token}"
    )
    assert status == 202
    call(f"{server_url}/service/clock/", "POST", {"advance_s": 3})

    page.locator('#paint input[value="coverage"]').check()
    expect(page.locator('#diagrams-panel [data-paint="coverage"]')).to_be_visible()
    expect(page.locator('[data-covered="login"]')).to_have_text("1/16 transitions covered")
    expect(page.locator('[data-covered="task"]')).to_have_text("1/5 transitions covered")
    task = page.locator("#machine-task .diagram svg")
    expect(task).to_contain_text("start ×1")
    expect(page.locator("#machine-login .diagram svg")).to_contain_text("checked ×1")
    # Covered edges green and solid, the rest grey and dashed (Mermaid's linkStyle).
    styles: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('#machine-task .diagram svg .flowchart-link')]
                   .map((path) => path.getAttribute('style') || '')"""
    )
    assert len(styles) == 5
    assert sum("stroke:#2e7d32" in style for style in styles) == 1
    assert sum("stroke-dasharray:5 5" in style for style in styles) == 4

    # The page follows: another transition turns green without a reload.
    call(f"{server_url}/service/tasks/{answer['data']['id']}/", "POST", {"status": "COMPLETED"})
    expect(task).to_contain_text("complete ×1")
    expect(page.locator('[data-covered="task"]')).to_have_text("2/5 transitions covered")

    page.click("#conformance-check")
    socket_rule = page.locator('#conformance tr[data-rule="socket_before_connect"]')
    expect(socket_rule.locator("td.verdict")).to_have_text("fail")
    expect(page.locator('#conformance tr[data-rule="auth_header"] td.verdict')).to_have_text("pass")
    expect(page.locator("#conformance tbody tr")).to_have_count(8)

    folder = os.environ.get("MOCKAPI_SCREENSHOT_DIR")
    path = (Path(folder) if folder else tmp_path) / "dashboard-coverage.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    # From the top: scrolled down to the panel, the states tables' sticky headers would be
    # drawn over their last rows.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)

    page.locator('#paint input[value="states"]').check()
    expect(task).not_to_contain_text("×1")
    assert watched.errors == []
