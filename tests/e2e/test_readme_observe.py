"""The README's section on the journal, verification, coverage and conformance, run as written:
its plugin example with pytester, its shell script with curl and the ``mockapi`` command."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_readme import ARGS, USER_INI
from tests.e2e.test_readme_examples import (
    MOCKAPI,
    named_blocks,
    needs,
    section,
    serve,
    user_env,
)

pytest_plugins = ["pytester"]

SECTION = "## What your client sent, reached and broke"


def test_the_plugin_example_passes(pytester: pytest.Pytester) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```$", section(SECTION), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_readme_observe=blocks[0])
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*- mockapi coverage: state-machine transitions -*"])


def test_the_toml_example_is_a_valid_conformance_section(tmp_path: Path) -> None:
    found = re.search(r"^```toml\n(.*?)^```$", section(SECTION), re.MULTILINE | re.DOTALL)
    assert found is not None
    scenario = tmp_path / "tuned.toml"
    scenario.write_text(found.group(1), encoding="utf-8")
    done = subprocess.run(
        [str(MOCKAPI), "scenario", "check", str(scenario)],
        capture_output=True,
        text=True,
        env=user_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shell_script_works_top_to_bottom(tmp_path: Path) -> None:
    needs("curl")
    script = named_blocks(section(SECTION))["observe.sh"]
    for url in serve(tmp_path):
        done = subprocess.run(
            ["sh", "-c", script],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=user_env(MOCKAPI_URL=url),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith('{"matches":[{"seq":1,')
        assert "409\n" in done.stdout
        miss = json.loads((tmp_path / "miss.json").read_text())
        assert miss["message"] == "expected at least 1 matching request, found 0"
        assert miss["near_misses"][0]["differences"][0]["field"] == "path"
        rules = json.loads((tmp_path / "conformance.json").read_text())["rules"]
        assert {r["id"]: r["status"] for r in rules}["trailing_slash"] == "pass"
        assert sorted(p.name for p in (tmp_path / "coverage").iterdir()) == [
            "connection.mmd", "coverage.json", "login.mmd", "task.mmd",
        ]  # fmt: skip
        assert "\nlogin         1/16    6.2%\n" in done.stdout
