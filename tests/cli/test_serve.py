"""The command line: options and MOCKAPI_* variables, one-line errors with exit 2, a real server."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from mockapi.cli import main
from mockapi.cli._startup import resume_collector
from mockapi.cli.serve import serve_parser, settings_from_args
from mockapi.settings import DEFAULT_HOST, DEFAULT_PORT, Settings
from tests.helpers import fresh_python

FLAGS = [
    "--host",
    "--port",
    "--scenario",
    "--seed",
    "--jwt-secret",
    "--time-scale",
    "--clock",
    "--service-token",
    "--log-level",
]

#: Long enough for a cold interpreter to import aiohttp and pydantic on a busy CI machine.
START_TIMEOUT_S = 20.0


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``main`` in-process; return its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    assert isinstance(code, int)
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert ": error: " in err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A socket bound and listening on a free 127.0.0.1 port: that port is in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- start-up ----------------------------------------------------------------------------------


def test_python_m_mockapi_starts_with_the_cyclic_collector_off() -> None:
    # --help ends before the server starts: the collector is still off at that point.
    script = (
        "import contextlib, gc, runpy, sys\n"
        "sys.argv = ['mockapi', '--help']\n"
        "with contextlib.suppress(SystemExit):\n"
        "    runpy.run_module('mockapi', run_name='__main__')\n"
        "print(gc.isenabled())\n"
    )
    output = fresh_python(script)
    assert output.splitlines()[-1] == "False"


def test_once_the_app_is_built_the_collector_runs_again_without_what_start_up_made() -> None:
    gc.disable()
    try:
        resume_collector()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


# --- help and options ------------------------------------------------------------------------


def test_help_explains_every_flag_and_its_env_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["--help"], capsys)
    assert code == 0
    assert err == ""
    for flag in FLAGS:
        assert flag in out
        assert f"MOCKAPI_{flag[2:].upper().replace('-', '_')}" in out
    assert "scenario check FILE" in out
    assert "scenario schema" in out


def test_every_option_has_help_text() -> None:
    for action in serve_parser()._actions:
        assert action.help, action.dest


def test_bad_flag_exits_2_with_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["--bogus"], capsys)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "--bogus")


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "http"],
        ["--port", "70000"],
        ["--seed", "1.5"],
        ["--time-scale", "0"],
        ["--time-scale", "nan"],
        ["--clock", "fast"],
        ["--log-level", "loud"],
        ["--scenario"],
    ],
)
def test_bad_flag_value_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert_one_line_error(err, argv[0])


# --- settings: option, then environment, then default ------------------------------------------


def test_defaults_when_neither_option_nor_environment() -> None:
    assert settings_from_args([], environ={}) == Settings(host=DEFAULT_HOST, port=DEFAULT_PORT)


def test_every_option_reads_its_environment_variable() -> None:
    environ = {
        "MOCKAPI_HOST": "0.0.0.0",
        "MOCKAPI_PORT": "9001",
        "MOCKAPI_SCENARIO": "worlds/mine.toml",
        "MOCKAPI_SEED": "42",
        "MOCKAPI_JWT_SECRET": "s" * 32,
        "MOCKAPI_TIME_SCALE": "100",
        "MOCKAPI_CLOCK": "manual",
        "MOCKAPI_SERVICE_TOKEN": "let-me-in",
        "MOCKAPI_LOG_LEVEL": "debug",
        "MOCKAPI_ACCESS_LOG": "off",
        "MOCKAPI_JOURNAL_MAX_BYTES": "65536",
    }
    assert settings_from_args([], environ=environ) == Settings(
        host="0.0.0.0",
        port=9001,
        scenario=Path("worlds/mine.toml"),
        seed=42,
        jwt_secret="s" * 32,
        time_scale=100.0,
        clock="manual",
        service_token="let-me-in",
        log_level="DEBUG",
        access_log=False,
        journal_max_bytes=65536,
    )


@pytest.mark.parametrize("flag", ["--journal-max-bytes"])
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_the_journal_size_bound_is_a_whole_number_of_1_or_more(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main([flag, value], capsys)
    assert code == 2
    assert_one_line_error(err, flag)


def test_option_wins_over_environment_variable() -> None:
    environ = {"MOCKAPI_PORT": "9001", "MOCKAPI_CLOCK": "manual", "MOCKAPI_SEED": "42"}
    settings = settings_from_args(["--port", "9002", "--clock", "real"], environ=environ)
    assert settings.port == 9002
    assert settings.clock == "real"
    assert settings.seed == 42  # not given as an option: the environment still counts


def test_empty_environment_variable_counts_as_unset() -> None:
    settings = settings_from_args([], environ={"MOCKAPI_PORT": "", "MOCKAPI_SCENARIO": ""})
    assert settings.port == DEFAULT_PORT
    assert settings.scenario is None


def test_settings_read_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKAPI_PORT", "9003")
    assert settings_from_args([]).port == 9003


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MOCKAPI_PORT", "abc"),
        ("MOCKAPI_PORT", "-1"),
        ("MOCKAPI_SEED", "many"),
        ("MOCKAPI_TIME_SCALE", "-2"),
        ("MOCKAPI_CLOCK", "weird"),
        ("MOCKAPI_LOG_LEVEL", "loud"),
    ],
)
def test_bad_environment_value_exits_2_naming_the_variable(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        settings_from_args([], environ={name: value})
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, name)


# --- start-up errors -----------------------------------------------------------------------------


def test_missing_scenario_file_exits_2_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    code, out, err = run_main(["--scenario", str(missing)], capsys)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"scenario file not found: {missing}")


def test_scenario_that_is_a_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["--scenario", str(tmp_path)], capsys)
    assert code == 2
    assert_one_line_error(err, f"scenario path is not a file: {tmp_path}")


def test_invalid_scenario_exits_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('colour = "red"\n[settings]\nseed = "x"\n', encoding="utf-8")
    code, out, err = run_main(["--scenario", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == f"python -m mockapi: error: invalid scenario {path} (2 problems):"
    assert lines[1].startswith("  settings.seed: ")
    assert lines[2] == "  colour: unknown key"
    assert len(lines) == 3


def test_port_in_use_exits_2_with_one_line(
    listening_socket: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    port = listening_socket.getsockname()[1]
    code, out, err = run_main(["--port", str(port), "--clock", "manual"], capsys)
    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"cannot listen on 127.0.0.1:{port}", "in use")


def test_scenario_command_is_dispatched(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["scenario", "--help"], capsys)
    assert code == 0
    assert "check" in out
    assert "schema" in out


# --- a real server process -----------------------------------------------------------------------


class Server:
    """``python -m mockapi`` in a subprocess, started from an empty folder."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, cwd: Path, *argv: str) -> Server:
        # From an empty folder with no MOCKAPI_* variables: the installed package and its
        # shipped default scenario are what runs, as for a user.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mockapi",
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def start_up_line(self) -> str:
        """The first line on stdout, waited for with a timeout (the server prints it when ready)."""
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            pytest.fail(f"no start-up line within {START_TIMEOUT_S} s")
        if not raw:
            _, err = await self.proc.communicate()
            pytest.fail(f"server exited {self.proc.returncode} before it started:\n{err.decode()}")
        return raw.decode()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.communicate()


async def test_server_starts_answers_and_stops_on_sigterm_within_1s(tmp_path: Path) -> None:
    port = free_port()
    server = await Server.start(tmp_path, "--port", str(port), "--clock", "manual")
    try:
        line = await server.start_up_line()
        url = f"http://127.0.0.1:{port}"
        assert line.startswith(f"mockapi serving {url}/api/v2/ ")
        assert "default.toml" in line
        assert "clock manual" in line
        assert f"docs at {url}/docs" in line

        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/api/v2/health/") as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["data"]["response_data"]["ok"] is True

            # The keep-alive connection is still open: shutdown must not wait for it.
            server.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = await asyncio.wait_for(server.proc.wait(), 1.0)
            assert time.monotonic() - started < 1.0
        assert code == 0
        _, err = await server.proc.communicate()
        assert "Traceback" not in err.decode()
    finally:
        await server.stop()


async def test_port_0_start_up_line_names_the_port_the_os_picked(tmp_path: Path) -> None:
    server = await Server.start(tmp_path, "--port", "0", "--clock", "manual")
    try:
        line = await server.start_up_line()
        url = line.split()[2]  # "mockapi serving http://127.0.0.1:PORT/api/v2/ ..."
        port = int(url.split(":")[2].split("/")[0])
        assert port != 0
        async with aiohttp.ClientSession() as session, session.get(url + "version/") as resp:
            assert resp.status == 200
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [([], True), (["--access-log", "on"], True), (["--access-log", "off"], False),
     (["--access-log", "no"], False)],
)  # fmt: skip
def test_access_log_is_on_by_default_and_switchable(argv: list[str], expected: bool) -> None:
    assert settings_from_args(argv, environ={}).access_log is expected


async def access_lines(tmp_path: Path, *flags: str) -> list[str]:
    """The access-log lines a real server writes at DEBUG for a 200, a 403 and a 404."""
    server = await Server.start(tmp_path, "--port", "0", "--log-level", "DEBUG", *flags)
    try:
        url = (await server.start_up_line()).split()[2]  # http://127.0.0.1:PORT/api/v2/
        async with aiohttp.ClientSession() as session:
            for path, status in (("health/", 200), ("pools/", 403), ("nowhere/", 404)):
                async with session.get(url + path) as resp:
                    assert resp.status == status
        server.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(server.proc.communicate(), 5)
    finally:
        await server.stop()
    return [line for line in err.decode().splitlines() if " mockapi.access: " in line]


async def test_access_log_one_debug_line_per_request(tmp_path: Path) -> None:
    lines = await access_lines(tmp_path)
    assert len(lines) == 3, lines
    pattern = r" DEBUG mockapi\.access: GET /api/v2/{} {} user=- \d+\.\d\dms$"
    for line, (path, status) in zip(
        lines, (("health/", 200), ("pools/", 403), ("nowhere/", 404)), strict=True
    ):
        assert re.search(pattern.format(re.escape(path), status), line), line


async def test_access_log_off_writes_no_line(tmp_path: Path) -> None:
    assert await access_lines(tmp_path, "--access-log", "off") == []


# -- --tls -----------------------------------------------------------------------------------


def test_every_tls_option_reads_its_environment_variable(tmp_path: Path) -> None:
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for path in (cert, key, ca):
        path.write_text("PEM\n")
    environ = {
        "MOCKAPI_TLS": "yes",
        "MOCKAPI_TLS_DIR": str(tmp_path / "tls"),
        "MOCKAPI_TLS_CERT": str(cert),
        "MOCKAPI_TLS_KEY": str(key),
        "MOCKAPI_TLS_CLIENT_CA": str(ca),
    }
    settings = settings_from_args([], environ=environ)
    assert (settings.tls, settings.tls_dir) == (True, tmp_path / "tls")
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (cert, key, ca)
    assert settings_from_args([], environ={"MOCKAPI_TLS": "0"}).tls is False
    assert settings_from_args(["--tls"], environ={"MOCKAPI_TLS": "0"}).tls is True


def test_tls_is_off_by_default_and_tls_dir_alone_does_not_turn_it_on(tmp_path: Path) -> None:
    assert settings_from_args([], environ={}).tls is False
    assert settings_from_args(["--tls-dir", str(tmp_path)], environ={}).tls is False


def test_a_users_certificate_turns_tls_on(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("PEM\n")
    key.write_text("PEM\n")
    settings = settings_from_args(["--tls-cert", str(cert), "--tls-key", str(key)], environ={})
    assert settings.tls is True


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--tls-cert", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-key", "{cert}"], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", "{cert}"], "--tls-client-ca needs --tls"),
        (["--tls", "--tls-client-ca", "{missing}"], "--tls-client-ca: no such file"),
        (["--tls-cert", "{missing}", "--tls-key", "{cert}"], "--tls-cert: no such file"),
    ],
)
def test_bad_tls_options_exit_2_with_one_line(
    argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("PEM\n")
    args = [a.format(cert=cert, missing=tmp_path / "missing.pem") for a in argv]
    code, _, err = run_main(args, capsys)
    assert code == 2
    assert_one_line_error(err, fragment)


def test_an_unusable_certificate_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    argv = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-dir", str(tmp_path / "t")]
    code, _, err = run_main([*argv, "--port", "0"], capsys)
    assert code == 2
    assert_one_line_error(err, "cannot load --tls-cert")


async def test_tls_start_up_line_names_the_https_url_and_the_ca(tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    server = await Server.start(
        tmp_path, "--tls", "--tls-dir", str(tls_dir), "--port", "0", "--clock", "manual"
    )
    try:
        line = await server.start_up_line()
        url = line.split()[2]
        assert url.startswith("https://127.0.0.1:")
        assert line.rstrip().endswith(f"; CA {tls_dir / 'ca.pem'}")
        context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        connector = aiohttp.TCPConnector(ssl=context)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url + "health/") as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()
