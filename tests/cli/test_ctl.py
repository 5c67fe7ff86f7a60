"""``mockapi ctl`` as a harness runs it: a real process against a real server, every command
with its output and its exit code (0 done, 1 a wait that failed, 2 usage or refused)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from mockapi.domain.scenario import default_scenario_path
from tests.client.conftest import Server, start_expand, start_server
from tests.helpers import fresh_python

#: The console script a harness runs, from the environment under test (tox's or the venv's).
SCRIPT = Path(sys.executable).with_name("mockapi")
CTL = [str(SCRIPT), "ctl"]
#: The other spelling; test_both_spellings_run_the_same_command runs it.
MODULE = [sys.executable, "-m", "mockapi", "ctl"]
ID = "63ca828d-d5f4-43b2-a4b0-6ce60741c7a8"


@pytest.fixture
def server() -> Iterator[Server]:
    """A real server (a thread of the test process, real TCP): happy-path, manual clock."""
    yield from start_server()


@dataclass
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def ctl(
    server: Server | None,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    command: tuple[str, ...] | list[str] = CTL,
) -> Done:
    """Run ``mockapi ctl ARGS`` (with ``--url`` of ``server`` unless None) and wait for it."""
    url = [] if server is None else ["--url", server.url]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
    done = subprocess.run(
        [*command, *url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ | (env or {}),
        cwd=cwd,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def new_task(server: Server) -> dict[str, Any]:
    token = ctl(server, "token", "alice").out.strip()
    return start_expand(server.url, token)


def test_both_spellings_run_the_same_command(server: Server) -> None:
    script = ctl(server, "clock", "--json")
    module = ctl(server, "clock", "--json", command=MODULE)
    assert (script.code, module.code) == (0, 0)
    assert script.json() == module.json()
    assert ctl(None, "--help").out.startswith("usage: mockapi ctl ")
    assert ctl(None, "--help", command=MODULE).out.startswith("usage: python -m mockapi ctl ")


def test_help_explains_commands_waits_and_exit_codes() -> None:
    done = ctl(None, "--help")
    assert done.code == 0
    for text in (
        "clock", "advance", "reset", "scenario", "force", "token", "journal", "faults",
        "wait", "--url", "--service-token", "--timeout", "--json", "MOCKAPI_URL",
        "exit codes", "1  a wait ended without its condition", "--no-advance",
    ):  # fmt: skip
        assert text in done.out, text
    wait_help = ctl(None, "wait", "frame", "--help")
    assert wait_help.code == 0
    assert "--user NAME" in wait_help.out


# -- exit 0: every command -------------------------------------------------------------------
def test_clock_shows_and_changes_the_clock(server: Server) -> None:
    shown = ctl(server, "clock")
    assert (shown.code, shown.out.split()[1:]) == (0, ["manual", "x1"])
    changed = ctl(server, "clock", "--mode", "real", "--time-scale", "2", "--json")
    assert changed.code == 0
    assert changed.json()["mode"] == "real"
    assert changed.json()["time_scale"] == 2.0


def test_advance_moves_the_clock(server: Server) -> None:
    before = datetime.fromisoformat(ctl(server, "--json", "clock").json()["now"])
    done = ctl(server, "advance", "90")
    assert done.code == 0
    assert done.out.startswith("now ")
    after = datetime.fromisoformat(ctl(server, "clock", "--json").json()["now"])
    assert (after - before).total_seconds() == pytest.approx(90)


def test_reset_says_what_the_world_holds(server: Server) -> None:
    new_task(server)
    done = ctl(server, "reset")
    assert done.code == 0
    assert done.out.startswith("reset: 2 users, 3 pools, 4 machines, 0 tasks, seed 1; clock ")
    assert ctl(server, "reset", "--json").json()["world"]["tasks"] == 0


def test_scenario_get_prints_it_and_put_reads_a_path_from_the_current_folder(
    server: Server, tmp_path: Path
) -> None:
    got = ctl(server, "scenario", "get")
    assert got.code == 0
    assert [user["username"] for user in json.loads(got.out)["users"]] == ["alice", "bob"]
    (tmp_path / "world.toml").write_bytes(default_scenario_path().read_bytes())
    put = ctl(server, "scenario", "put", "world.toml", cwd=tmp_path)
    assert put.code == 0, put.err
    assert put.out.startswith("scenario world.toml loaded: 6 users")


def test_force_moves_a_task(server: Server) -> None:
    task = new_task(server)
    done = ctl(server, "force", task["id"], "running")
    assert (done.code, done.out.strip()) == (0, f"task {task['id']} POOL_EXPAND: RUNNING")


def test_token_prints_only_the_token_for_a_shell_variable(server: Server) -> None:
    done = ctl(server, "token", "bob", "--ttl", "600")
    assert done.code == 0
    claims = jwt.decode(done.out.strip(), options={"verify_signature": False})
    assert claims["username"] == "bob"
    assert claims["exp"] - claims["iat"] == pytest.approx(600, abs=1)
    assert "access_token" in ctl(server, "token", "bob", "--json").json()


def test_journal_prints_entries_after_a_sequence_number(server: Server) -> None:
    ctl(server, "advance", "1")
    lines = ctl(server, "journal").out.splitlines()
    assert lines[-1].endswith(" http POST /service/clock/ 200 -")
    last = int(lines[-1].split()[0].lstrip("#"))
    page = ctl(server, "journal", "--since", str(last), "--json")
    assert (page.code, page.json()) == (0, {"entries": [], "dropped": 0})


def test_journal_follow_prints_new_entries_until_interrupted(server: Server) -> None:
    with subprocess.Popen(
        [*CTL, "--url", server.url, "journal", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follow:
        assert follow.stdout is not None
        ctl(server, "advance", "1")
        while True:  # ends with the entry, or with the pipe (the 60 s timeout below)
            line = follow.stdout.readline()
            assert line, "follow ended early"
            if json.loads(line)["path"] == "/service/clock/":
                break
        follow.send_signal(signal.SIGINT)
        assert follow.wait(60) == 0


def test_a_reader_that_goes_away_ends_follow_quietly(server: Server) -> None:
    with subprocess.Popen(
        [*CTL, "--url", server.url, "journal", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follow:
        assert follow.stdout is not None
        ctl(server, "advance", "1")
        assert follow.stdout.readline()  # as `| head -1` reads
        follow.stdout.close()
        ctl(server, "advance", "1")  # the next entry meets the closed pipe
        assert follow.wait(60) == 0
        assert follow.stderr is not None
        assert follow.stderr.read() == ""


def test_faults_are_added_listed_removed_and_cleared(server: Server, tmp_path: Path) -> None:
    added = ctl(server, "faults", "add", '{"id": "p", "path": "/api/v2/pools/", "status": 503}')
    assert (added.code, added.out.split(":")[0]) == (0, "added p")
    (tmp_path / "fault.json").write_text('{"path": "/api/v2/health/", "drop": true}')
    from_file = ctl(server, "faults", "add", "@fault.json", "--json", cwd=tmp_path)
    other = from_file.json()["id"]
    listed = ctl(server, "faults", "list")
    assert [line.split(":")[0] for line in listed.out.splitlines()] == ["p", other]
    assert ctl(server, "faults", "rm", "p").out.strip() == "removed p"
    assert [f["id"] for f in ctl(server, "faults", "list", "--json").json()] == [other]
    assert ctl(server, "faults", "clear").code == 0
    assert ctl(server, "faults", "list").out.strip() == "(no faults)"


def test_wait_task_advances_a_manual_clock_until_the_status(server: Server) -> None:
    task = new_task(server)
    done = ctl(server, "wait", "task", task["id"], "COMPLETED", "--timeout", "10")
    assert (done.code, done.out.strip()) == (0, f"task {task['id']} POOL_EXPAND: COMPLETED")


def test_wait_frame_prints_the_entry_of_the_frame(server: Server) -> None:
    task = new_task(server)
    done = ctl(server, "wait", "frame", "--user", "alice", "--status", "RUNNING", "--json")
    assert done.code == 0, done.err
    assert done.json()["frame"] == {"status": "RUNNING", "id": task["id"], "kind": "POOL_EXPAND"}
    text = ctl(server, "wait", "frame", "--user", "alice", "--task", task["id"])
    assert " ws alice " in text.out


def test_wait_journal_finds_an_entry_that_matches(server: Server, tmp_path: Path) -> None:
    task = new_task(server)
    step1 = ctl(server, "wait", "journal", '{"kind": "http", "status": 202}', "--json")
    assert step1.code == 0, step1.err
    assert step1.json()["user"] == "alice"
    (tmp_path / "done.json").write_text('{"kind": "ws", "frame": {"status": "COMPLETED"}}')
    done = ctl(server, "wait", "journal", "@done.json", cwd=tmp_path)
    assert done.code == 0, done.err
    assert f'"id": "{task["id"]}"' in done.out
    missing = ctl(server, "wait", "journal", '{"kind": "nope"}', "--timeout", "0.3")
    assert (missing.code, "a journal entry matching" in missing.err) == (1, True)


# -- exit 1: a wait that failed --------------------------------------------------------------
def test_a_wait_that_times_out_exits_1_and_says_so(server: Server) -> None:
    task = new_task(server)
    done = ctl(server, "wait", "task", task["id"], "RUNNING", "--timeout", "0.2")
    assert done.code == 1
    assert "timed out after 0.2 s of scenario time" in done.err
    polled = ctl(server, "wait", "task", task["id"], "RUNNING", "--no-advance", "--timeout", "0.2")
    assert (polled.code, "polled" in polled.err) == (1, True)
    frame = ctl(server, "--timeout", "1", "wait", "frame", "--user", "bob")
    assert (frame.code, "a frame to bob" in frame.err) == (1, True)


def test_a_wait_for_a_status_the_task_can_no_longer_reach_exits_1(server: Server) -> None:
    task = new_task(server)
    ctl(server, "force", task["id"], "CANCELLED")
    done = ctl(server, "wait", "task", task["id"], "RUNNING")
    assert done.code == 1
    assert "ended CANCELLED without reaching RUNNING" in done.err


# -- exit 2: usage, refused, unreachable -----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("rewind",), "invalid choice: 'rewind'"),
        (("force", "xyz", "RUNNING"), "not a task id (a UUID): 'xyz'"),
        (("force", ID, "DONE"), "unknown task status 'DONE'"),
        (("advance", "-1"), "must be a number, 0 or more"),
        (("journal", "--since", "x"), "not a whole number"),
        (("wait", "frame"), "the following arguments are required: --user"),
        (("--timeout", "0", "clock"), "must be a number greater than 0"),
        (("--url", "localhost:8000", "clock"), "not an http(s) URL"),
        (("faults", "add", "{nope"), "the fault is not JSON"),
        (("faults", "add", "[1]"), "must be a JSON object"),
        (("faults", "add", "@missing.json"), "cannot read missing.json"),
        (("wait", "journal", "kind=http"), "the pattern is not JSON"),
        (("scenario", "put", "missing.toml"), "cannot read missing.toml"),
        (("scenario", "put", "world.yaml"), "ends in .toml or .json"),
    ],
)
def test_a_usage_error_exits_2_with_one_line(
    server: Server, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = ctl(server, *args, cwd=tmp_path)
    assert done.code == 2
    assert message in done.err
    assert done.out == ""
    assert "Traceback" not in done.err


def test_a_refused_request_exits_2_with_the_servers_message(server: Server) -> None:
    done = ctl(server, "token", "nobody")
    assert done.code == 2
    assert done.err.strip().endswith(
        "refused: 422 POST /service/tokens/: body.username: Value error, unknown user 'nobody'"
    )
    assert ctl(server, "force", ID, "RUNNING").err.strip().endswith("Not found.")
    assert ctl(server, "faults", "rm", "nope").code == 2


def test_no_server_exits_2_saying_where_it_looked() -> None:
    done = ctl(None, "clock", env={"MOCKAPI_URL": "http://127.0.0.1:9"})
    assert done.code == 2
    assert "cannot reach http://127.0.0.1:9" in done.err


def test_the_url_and_the_service_token_come_from_the_environment(tmp_path: Path) -> None:
    for server in start_server(service_token="s3cret"):
        env = {"MOCKAPI_URL": server.url}
        refused = ctl(None, "clock", env=env)
        assert (refused.code, "403" in refused.err) == (2, True)
        assert ctl(None, "clock", env=env | {"MOCKAPI_SERVICE_TOKEN": "s3cret"}).code == 0
        assert ctl(None, "clock", "--service-token", "s3cret", env=env).code == 0


def test_ctl_starts_without_the_servers_or_aiohttps_imports() -> None:
    # A harness runs it once per step: it imports only the sync face and the standard library.
    loaded = fresh_python(
        "import sys; from mockapi.cli import ctl; "
        "print(sorted(m for m in ('aiohttp', 'pydantic', 'mockapi.app') if m in sys.modules))"
    )
    assert loaded.strip() == "[]"
