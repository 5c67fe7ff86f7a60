"""``python -m mockapi coverage`` as a user runs it: a real process against a real server,
the JSON and the Mermaid diagrams it writes, and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockapi.client import Client
from mockapi.domain.coverage import COVERED_EDGE, UNCOVERED_EDGE
from mockapi.domain.coverage import mermaid as render
from tests.client.conftest import Server, start_expand, start_server


@pytest.fixture
def server() -> Iterator[Server]:
    yield from start_server()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockapi", "coverage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_writes_the_json_and_a_diagram_per_machine(server: Server, tmp_path: Path) -> None:
    with Client(server.url) as ctl:
        task = start_expand(server.url, ctl.token("alice"))
        ctl.force(task["id"], "RUNNING")
        expected = ctl.coverage()
    done = run("--url", server.url, "--out", str(tmp_path / "cov"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "cov"
    assert sorted(p.name for p in out.iterdir()) == [
        "connection.mmd", "coverage.json", "login.mmd", "task.mmd",
    ]  # fmt: skip
    assert json.loads((out / "coverage.json").read_text()) == expected
    assert done.stdout.splitlines()[:3] == [
        "login         0/16    0.0%",
        "connection    1/8    12.5%",
        "task          1/5    20.0%",
    ]
    task_mmd = (out / "task.mmd").read_text()
    assert task_mmd.splitlines()[:4] == [
        "---", "title: task (1/5 transitions covered)", "---", "flowchart LR",
    ]  # fmt: skip
    assert '  s_PENDING ==>|"start ×1"| s_RUNNING' in task_mmd
    assert '  s_RUNNING -.->|"complete"| s_COMPLETED' in task_mmd
    assert f"  linkStyle 0 {COVERED_EDGE}" in task_mmd
    assert f"  linkStyle 1,2,3,4 {UNCOVERED_EDGE}" in task_mmd
    assert "  class s_PENDING reached" in task_mmd
    assert "  class s_COMPLETED unreached" in task_mmd
    assert ":red" not in task_mmd  # nothing drawn as an error
    # Login is one fan per start state there too: each route's own copy of an outcome.
    login_mmd = (out / "login.mmd").read_text()
    assert (
        '  s_signing_in_with_adfs -.->|"[user_unknown]"| s_signing_in_with_adfs__unknown_user'
        in login_mmd
    )
    assert "  class s_signing_in_with_adfs__unknown_user unreached" in login_mmd


def test_a_login_diagram_names_the_guard_of_each_outcome() -> None:
    machine = {
        "covered": 1,
        "total": 2,
        "transitions": [
            {"trigger": "checked", "source": "logging_in", "dest": "otp_required",
             "guard": "otp_missing", "count": 2},
            {"trigger": "checked", "source": "logging_in", "dest": "end",
             "guard": 'a "quoted" guard', "count": 0},
        ],
    }  # fmt: skip
    text = render("login", machine)
    # One trigger: named once in the title, the edges by their guards.
    assert text.startswith(
        "---\ntitle: login (1/2 transitions covered; every transition is checked)"
    )
    # Login fans out per start state: each outcome is drawn as the start state's own copy.
    assert '  s_logging_in ==>|"[otp_missing] ×2"| s_logging_in__otp_required' in text
    assert '  s_logging_in__otp_required(["otp_required"])' in text
    # Quotes are escaped.
    assert '  s_logging_in -.->|"[a #quot;quoted#quot; guard]"| s_logging_in__end' in text


def test_a_state_named_like_a_mermaid_keyword_is_still_a_node() -> None:
    machine = {
        "covered": 0,
        "total": 1,
        "transitions": [
            {"trigger": "stop", "source": "RUNNING", "dest": "end", "guard": None, "count": 0},
        ],
    }
    assert '  s_RUNNING -.->|"stop"| s_end' in render("task", machine)


def test_an_unreachable_server_is_exit_2_with_one_line(tmp_path: Path) -> None:
    done = run("--url", "http://127.0.0.1:9", "--out", str(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "coverage: error:" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_exit_2(tmp_path: Path) -> None:
    assert run("--url", "http://127.0.0.1:9").returncode == 2  # no --out
    done = run("--url", "ftp://x", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "--url" in done.stderr


def test_a_folder_that_cannot_be_written_is_exit_2(server: Server, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = run("--url", server.url, "--out", str(blocker / "sub"))
    assert done.returncode == 2
    assert "cannot write" in done.stderr
