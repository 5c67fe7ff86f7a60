"""Bad input at the door and a safe default beyond loopback, as a new user meets them.

The exposed-bind tests decide from the settings alone and never bind beyond loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.cli.serve import settings_from_args, start_line

TIMEOUT_S = 30.0


def run(folder: Path, *argv: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")} | extra_env
    return subprocess.run(
        [sys.executable, "-m", "mockapi", *argv],
        cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip


# -- the JWT secret --------------------------------------------------------------------------
def test_a_jwt_secret_under_32_bytes_exits_2_with_the_reason(tmp_path: Path) -> None:
    done = run(tmp_path, "--port", "0", "--jwt-secret", "too-short")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "python -m mockapi: error: argument --jwt-secret: 9 bytes; an HS256 key needs at "
        "least 32 (RFC 7518 section 3.2) (see --help)\n"
    )


def test_the_secret_from_the_environment_is_checked_the_same_way(tmp_path: Path) -> None:
    done = run(tmp_path, "--port", "0", MOCKAPI_JWT_SECRET="é" * 15)
    assert done.returncode == 2
    assert "MOCKAPI_JWT_SECRET: 30 bytes; an HS256 key needs at least 32" in done.stderr


def test_a_32_byte_secret_is_accepted() -> None:
    assert settings_from_args(["--jwt-secret", "x" * 32], {}).jwt_secret == "x" * 32


# -- an empty scenario -----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n  \n", "# only a comment\n"], ids=repr)
def test_an_empty_scenario_file_exits_2_naming_the_mistake(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(text, encoding="utf-8")
    done = run(tmp_path, "--port", "0", "--scenario", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"python -m mockapi: error: invalid scenario {path} (1 problem):",
        "  (empty): the scenario is empty: it would replace the world with no users and no "
        "pools (did --data-binary @FILE or --scenario name a missing or empty file?)",
    ]


def test_scenario_check_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    done = run(tmp_path, "scenario", "check", str(path))
    assert done.returncode == 2
    assert f"{path}: (empty): the scenario is empty" in done.stdout


def test_scenario_check_warns_about_a_scenario_without_users(tmp_path: Path) -> None:
    path = tmp_path / "pools-only.toml"
    path.write_text(
        '[[pools]]\nid = "00000000-0000-4000-8000-000000000001"\nname = "p"\n', encoding="utf-8"
    )
    done = run(tmp_path, "scenario", "check", str(path))
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        f"{path}: warning: no users ([[users]] or [[user_groups]]): every login will fail",
        f"{path}: ok (0 users, 1 pool, 0 machines, 0 tasks, 0 rules, 0 faults)",
    ]


# -- beyond loopback ---------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.1.2.3"])
def test_on_loopback_the_service_routes_stay_open(host: str) -> None:
    settings = settings_from_args(["--host", host], {})
    assert settings.service_token is None
    assert not settings.service_token_generated


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_beyond_loopback_a_random_service_token_is_made_and_required(host: str) -> None:
    first = settings_from_args(["--host", host], {})
    second = settings_from_args(["--host", host], {})
    assert first.service_token_generated
    assert first.service_token is not None
    assert len(first.service_token) >= 32
    assert first.service_token != second.service_token


def test_beyond_loopback_a_given_token_is_used_as_given() -> None:
    settings = settings_from_args(["--host", "0.0.0.0", "--service-token", "mine"], {})
    assert (settings.service_token, settings.service_token_generated) == ("mine", False)
    from_env = settings_from_args(["--host", "0.0.0.0"], {"MOCKAPI_SERVICE_TOKEN": "env"})
    assert (from_env.service_token, from_env.service_token_generated) == ("env", False)


def test_the_start_line_prints_a_made_token_and_only_a_made_one() -> None:
    made = settings_from_args(["--host", "0.0.0.0"], {})
    line = start_line(made, "http://0.0.0.0:8000", Path("default.toml"), 1, "real x1")
    assert line.endswith(f"; /service/ needs the header X-Service-Token: {made.service_token}")
    assert line.isascii()
    given = settings_from_args(["--host", "0.0.0.0", "--service-token", "mine"], {})
    assert "mine" not in start_line(given, "http://0.0.0.0:8000", Path("x.toml"), 1, "real x1")
    loopback = settings_from_args([], {})
    assert "X-Service-Token" not in start_line(
        loopback, "http://127.0.0.1:8000", Path("x.toml"), 1, "real x1"
    )


async def test_a_made_token_is_required_on_the_service_routes(
    aiohttp_client: AiohttpClient,
) -> None:
    # The app the exposed settings make, served here on loopback only.
    settings = settings_from_args(["--host", "0.0.0.0", "--clock", "manual"], {})
    assert settings.service_token is not None
    client = await aiohttp_client(create_app(settings))
    assert (await client.post("/service/reset/")).status == 403
    resp = await client.post("/service/reset/", headers={"X-Service-Token": settings.service_token})
    assert resp.status == 200


# -- the limits' flags ---------------------------------------------------------------------------
def test_every_limit_is_a_flag_and_a_variable_and_the_flag_wins() -> None:
    settings = settings_from_args(
        ["--max-users", "5", "--max-sockets", "7"],
        {"MOCKAPI_MAX_USERS": "9", "MOCKAPI_MAX_POOLS": "3", "MOCKAPI_MAX_FAULTS": "0"},
    )
    assert settings.given_limits() == {
        "max_users": 5, "max_pools": 3, "max_machines": None, "max_assignments": None,
        "max_tasks": None, "max_rules": None, "max_faults": 0, "max_journal": None,
        "max_sockets_per_user": None, "max_sockets": 7,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--max-users", "0"], {}, "argument --max-users: must be 1 or more: '0'"),
        (["--max-pools", "many"], {}, "argument --max-pools: not a whole number: 'many'"),
        ([], {"MOCKAPI_MAX_TASKS": "-1"}, "MOCKAPI_MAX_TASKS: must be 1 or more: '-1'"),
    ],
)
def test_a_bad_limit_exits_2_naming_it(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(argv, env)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
