"""The README's examples for harnesses, run as written: the CTest fixture (with CMake and CTest),
the control-API curl script, and the pytest plugin's sync example.

Each runs against the real ``mockapi`` script of the environment under test, in a fresh folder,
the way a user copies it out of the README.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_readme import ARGS, USER_INI

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
MOCKAPI = BIN / "mockapi"
START_S = 30.0


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    assert text.count(title + "\n") == 1, f"README has no single {title!r}"
    return text.split(title + "\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def named_blocks(text: str) -> dict[str, str]:
    """The fenced blocks that start with ``# NAME: ...``, by NAME (the file they are)."""
    found = {}
    for body in re.findall(r"^```(?:cmake|sh)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        name = re.match(r"# ([\w.-]+): ", body)
        if name:
            found[name.group(1)] = body
    return found


def user_env(**extra: str) -> dict[str, str]:
    """A user's environment: the venv's commands on PATH, no MOCKAPI_* of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
    return env | {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"} | extra


def needs(*commands: str) -> None:
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them)")


def serve(tmp_path: Path, *args: str) -> Iterator[str]:
    """``mockapi --port 0 --clock manual --ready-file ARGS`` as the README starts it; its URL."""
    ready = tmp_path / "mockapi.url"
    with subprocess.Popen(
        [str(MOCKAPI), "--port", "0", "--clock", "manual", "--ready-file", str(ready), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=user_env(),
    ) as proc:
        try:
            deadline = time.monotonic() + START_S
            while not ready.exists():
                assert proc.poll() is None, "mockapi ended before it was ready"
                assert time.monotonic() < deadline, "mockapi did not start"
                time.sleep(0.01)
            yield ready.read_text(encoding="ascii").strip()
        finally:
            proc.terminate()
            proc.wait(START_S)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path)


def test_the_ctest_fixture_example_passes_with_cmake_and_ctest(tmp_path: Path) -> None:
    needs("cmake", "ctest", "curl")
    files = named_blocks(section("### A CTest fixture"))
    assert set(files) == {
        "CMakeLists.txt",
        "mockapi-start.sh",
        "mockapi-stop.sh",
        "connect-completes.sh",
    }
    source = tmp_path / "src"
    source.mkdir()
    for name, body in files.items():
        (source / name).write_text(body, encoding="utf-8")
    env = user_env()
    configure = subprocess.run(
        ["cmake", "-S", str(source), "-B", str(tmp_path / "build")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert configure.returncode == 0, configure.stderr
    run = subprocess.run(
        ["ctest", "--test-dir", str(tmp_path / "build"), "--output-on-failure"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "100% tests passed, 0 tests failed out of 3" in run.stdout
    # The cleanup stopped the server: its ready file is gone, and so is the process.
    build = tmp_path / "build"
    assert not (build / "mockapi.url").exists()
    pid = int((build / "mockapi.pid").read_text())
    deadline = time.monotonic() + START_S
    while running(pid):
        assert time.monotonic() < deadline, f"mockapi (pid {pid}) still runs"
        time.sleep(0.01)


def running(pid: int) -> bool:
    """Whether the process still runs (an exited one its new parent has not reaped is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_control_api_script_works_top_to_bottom(server: str, tmp_path: Path) -> None:
    needs("curl")
    script = named_blocks(section("## Control API"))["control-api.sh"]
    done = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=user_env(MOCKAPI_URL=server),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "world.json").exists()
    # The forced FAILED frame reached the journal the script read before clearing it.
    assert re.search(r'"kind":"ws","user":"astravdi","frame":\{"status":"FAILED"', done.stdout)


def test_the_python_control_client_example_prints_what_it_says(tmp_path: Path) -> None:
    text = section("### The Python control client")
    found = re.search(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    assert found is not None
    script = tmp_path / "control_client.py"
    script.write_text(found.group(1), encoding="utf-8")
    for url in serve(tmp_path, "--scenario", "happy-path"):
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=user_env(MOCKAPI_URL=url),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["RUNNING", "COMPLETED", "['fault-1']"]


def test_the_plugins_sync_example_passes(pytester: pytest.Pytester) -> None:
    blocks = re.findall(
        r"^```python\n(.*?)^```$",
        section("## Using mockapi in your tests (pytest plugin)"),
        re.MULTILINE | re.DOTALL,
    )
    sync = [block for block in blocks if "\ndef test_" in block]
    assert len(sync) == 1, "the plugin section has no single sync example"
    assert "await" not in sync[0]
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_readme_sync=sync[0])
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)


def test_the_test_command_takes_whatever_patch_releases_pyenv_has() -> None:
    for name in ("README.md", "Makefile", ".ci/run"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "PYENV_VERSION" in text, name
        assert not re.search(r"3\.1[123]\.\d", text), f"{name} pins a patch release"


def test_the_readme_runs_mockapi_only_through_the_venv_or_its_command() -> None:
    text = README.read_text(encoding="utf-8")
    for block in re.findall(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            if "python -m mockapi" in line:
                assert ".venv/bin/python -m mockapi" in line, line
