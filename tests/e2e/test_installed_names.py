"""mockapi in a user's project: its shipped scenarios and machines, whatever the project holds.

``scenarios`` and ``statemachines`` are common names in test suites. The distribution installs
everything under ``mockapi`` (``mockapi.scenarios``, ``mockapi.statemachines``), so a project
with packages of those names on ``sys.path`` (its working directory, its rootdir) changes
nothing: the server and the pytest fixture play the shipped default world.
"""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import pytest

from mockapi.domain.scenario import default_scenario_path, load_scenario
from tests.helpers import running

pytest_plugins = ["pytester"]


def make_user_project(folder: Path) -> None:
    """Packages named like mockapi's, which break on import and hold a world of their own."""
    for name in ("scenarios", "statemachines"):
        package = folder / name
        package.mkdir()
        (package / "__init__.py").write_text(
            f"raise ImportError('the project\\'s own {name} package was imported')\n"
        )
    (folder / "scenarios" / "default.toml").write_text('[[users]]\nusername = "not-ours"\n')


def shipped_usernames() -> list[str]:
    return sorted(user.username for user in load_scenario(default_scenario_path()).users)


def test_the_shipped_default_world_is_found_inside_the_package() -> None:
    path = default_scenario_path()
    assert path.name == "default.toml"
    assert path.parent.name == "scenarios"
    assert path.parent.parent.name == "mockapi"


def test_python_m_mockapi_in_a_project_with_its_own_scenarios_serves_the_shipped_world(
    tmp_path: Path,
) -> None:
    make_user_project(tmp_path)
    # From the project's folder: `python -m` puts it first on sys.path.
    with running(tmp_path) as server:
        with urllib.request.urlopen(f"{server.url}/service/all-users/", timeout=10) as answer:
            users = json.load(answer)
        log = server.log()
    assert sorted(user["username"] for user in users) == shipped_usernames()
    assert "not-ours" not in log
    assert "Traceback" not in log


def test_the_fixture_works_in_a_project_with_its_own_scenarios_and_statemachines(
    pytester: pytest.Pytester,
) -> None:
    make_user_project(pytester.path)
    expected = shipped_usernames()
    pytester.makepyfile(
        test_user_suite=textwrap.dedent(
            f"""
            import aiohttp


            async def test_the_fixture_serves_the_shipped_world(mockapi):
                async with aiohttp.ClientSession() as http:
                    async with http.get(mockapi.url + "/service/all-users/") as answer:
                        users = await answer.json()
                assert sorted(user["username"] for user in users) == {expected!r}
            """
        )
    )
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
