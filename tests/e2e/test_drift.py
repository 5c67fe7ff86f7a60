"""``mockapi drift`` against a second mockapi process playing the real dispatcher: no false
drift against itself, each difference planted in its scenario found, §10's kept apart, and
no probe that changes the upstream's state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from mockapi.domain.scenario import default_scenario_path
from tests.helpers import running

AS = "astravdi:Bazalt1!"


def drift(upstream: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockapi", "drift", "--upstream", upstream, "--as", AS, *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def found(report: dict[str, Any], part: str) -> set[tuple[str, str, str]]:
    return {(d["probe"], d["where"], d["kind"]) for d in report[part]}


def upstream_world(tmp_path: Path, edit: Any, faults: str = "") -> Path:
    text = default_scenario_path().read_text(encoding="utf-8")
    path = tmp_path / "upstream.toml"
    path.write_text(edit(text) + faults, encoding="utf-8")
    return path


@pytest.mark.parametrize("scenario", ["default", "happy-path"])
def test_no_false_drift_against_itself(tmp_path: Path, scenario: str) -> None:
    credentials = AS if scenario == "default" else "alice:alice-password"
    with running(tmp_path, "--scenario", scenario) as upstream:
        done = subprocess.run(
            [sys.executable, "-m", "mockapi", "drift", "--upstream", upstream.url,
             "--as", credentials, "--scenario", scenario],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[1] == "33 probes, 0 skipped"
    assert "real drift (0):" in done.stdout
    assert done.stdout.rstrip().endswith("no real drift")


def test_probes_change_nothing_upstream(tmp_path: Path) -> None:
    with running(tmp_path) as upstream:
        before = requests.get(f"{upstream.url}/service/all-tasks/", timeout=10).json()
        requests.delete(f"{upstream.url}/service/journal/", timeout=10)
        done = drift(upstream.url, "--json")
        journal = requests.get(f"{upstream.url}/service/journal/", timeout=10).json()
        after = requests.get(f"{upstream.url}/service/all-tasks/", timeout=10).json()
    assert done.returncode == 0, done.stdout + done.stderr
    assert after == before
    paths = [entry["path"] for entry in journal["entries"] if entry["kind"] == "http"]
    assert len(paths) == 33  # the login and the 32 probes
    assert not [p for p in paths if "/connect/" in p or "/logout/" in p]
    methods = {(e["method"], e["status"]) for e in journal["entries"] if e["kind"] == "http"}
    assert ("GET", 101) not in methods  # no WebSocket was accepted


PLANTED_FAULTS = """
[[faults]]
method = "GET"
path = "/api/v2/no-such-route/"
status = 410

[[faults]]
method = "GET"
path = "/api/v2/tasks/not-a-uuid/"
status = 422
# mockapi's own 422 body with its first two keys swapped.
[[faults.body.detail]]
loc = ["path", "task_id"]
type = "uuid_parsing"
msg = "Input should be a valid UUID, invalid character: found `n` at 0"
input = "not-a-uuid"
ctx = { error = "invalid character: found `n` at 0" }
err_code = 999

[[faults]]
method = "GET"
path = "/api/v2/tasks/00000000-0000-4000-8000-00000000d71f/"
status = 404
body = { detail = [ { msg = "Not found.", err_code = "999", type = "default" } ] }
"""


def test_each_planted_difference_is_found(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        text = text.replace('version = "7.0.1"', 'version = "7.0.2"')
        text = text.replace(
            'name = "pool-astra-1"\npool_type = "STATIC"\nos_type = "Linux"',
            'name = "pool-astra-1"\npool_type = "STATIC"\nos_type = "Astra Linux"',
        )
        text = text.replace('roles = ["admin", "user"]', 'roles = ["admin", "user", "auditor"]')
        return text + "\n[client_settings.net]\nnetwork_timeout = 30\n"

    world = upstream_world(tmp_path, edit, PLANTED_FAULTS)
    with running(tmp_path, "--scenario", str(world)) as upstream:
        done = drift(upstream.url, "--json")
        text = drift(upstream.url)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    drifted = found(report, "drift")
    planted = {
        ("version", "data.version", "value"),
        ("pools", "data[2].os_type", "value"),
        ("jwt", "claims.roles", "length"),
        ("settings", "data.net.network_timeout", "value"),
        ("unknown-route-404", "", "status"),
        ("task-bad-id", "detail[0]", "key order"),
        ("task-unknown", "detail[0].err_code", "type"),
    }
    assert planted <= drifted, drifted
    # Nothing else: each planted difference shows where it was planted, and only there
    # (a fault's answer also has the error shape and www-authenticate of a 410 or a 422).
    assert drifted - planted == {
        ("unknown-route-404", "detail", "type"),
        ("unknown-route-404", "header www-authenticate", "value"),
        ("task-bad-id", "header www-authenticate", "value"),
    }
    assert report["expected"] == []
    assert text.returncode == 1
    assert 'data.version: value: upstream "7.0.2", mockapi "7.0.1"' in text.stdout
    assert text.stdout.rstrip().endswith("REAL DRIFT")


def test_differences_section_10_expects_are_not_drift(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        # The original served the pools in a random order: here win-2 comes first.
        first = text.index('[[pools]]\nid = "bc4f9e45')
        second = text.index('[[pools]]\nid = "22aaa425')
        third = text.index('[[pools]]\nid = "35f4392a')
        return text[:first] + text[second:third] + text[first:second] + text[third:]

    adfs_404 = """
[[faults]]
method = "GET"
path = "/api/v2/users/adfs/"
status = 404
body = { detail = "Not Found" }
"""
    world = upstream_world(tmp_path, edit, adfs_404)
    with running(tmp_path, "--scenario", str(world)) as upstream:
        done = drift(upstream.url, "--json")
        text = drift(upstream.url)
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["drift"] == []
    reasons = {d["probe"]: d["expected"] for d in report["expected"]}
    assert reasons["pools"].startswith("pools order random per process")
    assert reasons["adfs-next-step"].startswith("ADFS and hardware-token next_step routes")
    assert text.returncode == 0
    assert "expected by CONTRACT §10 (" in text.stdout


def test_an_unreachable_upstream_is_exit_2(tmp_path: Path) -> None:
    done = drift("http://127.0.0.1:9")
    assert done.returncode == 2
    assert "127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_arguments_are_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockapi", "drift", "--upstream", "ftp://x", "--as", AS],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--upstream" in done.stderr


def test_a_login_both_sides_refuse_is_exit_2_with_the_probes_skipped(tmp_path: Path) -> None:
    with running(tmp_path) as upstream:
        done = subprocess.run(
            [sys.executable, "-m", "mockapi", "drift", "--upstream", upstream.url,
             "--as", "nobody:x"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert "--as nobody: the login failed on both sides (401)" in done.stderr
    assert "skipped settings: no token" in done.stdout
