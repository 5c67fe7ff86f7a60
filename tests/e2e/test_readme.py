"""The README's plugin example is a test: it runs here as a user's suite would run it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.settings import Settings

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using mockapi in your tests (pytest plugin)"
#: A user's plain configuration: pytest-asyncio in its default (strict) mode, warnings as errors.
USER_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""
#: Plugins load from entry points as in a user's run (mockapi's included); the two that only
#: slow the start are left out.
ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis")


def plugin_example() -> str:
    """The first fenced python block of the plugin section."""
    text = README.read_text(encoding="utf-8")
    assert text.count(SECTION) == 1, f"README has no single {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert found is not None, "the plugin section has no ```python block"
    return found.group(1)


def test_the_example_is_short_and_uses_the_fixture_and_the_marker() -> None:
    example = plugin_example()
    assert "async def test_" in example
    assert "@pytest.mark.mockapi(" in example
    assert "import mockapi" not in example  # the fixture is all a user needs
    body = example.split("async def test_", 1)[1].splitlines()[1:]
    assert len([line for line in body if line.strip()]) <= 12


def test_the_readme_plugin_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_readme_example=plugin_example())
    # A process of its own, as a user's run is (in-process, the outer run's imports clash).
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)


LIMITS_SECTION = "## Limits and exposure"


def _limits_blocks() -> tuple[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(LIMITS_SECTION, 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    answer = re.search(r"^```json\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert shell is not None
    assert answer is not None
    return shell.group(1), answer.group(1).strip()


async def test_the_readme_limits_example_answers_what_it_shows(
    aiohttp_client: AiohttpClient,
) -> None:
    shell, shown = _limits_blocks()
    # The example's server flag, file and request, as the shell lines give them.
    flag = re.search(r"--max-users (\d+)", shell)
    body = re.search(r"printf '(.*?)' > big\.toml", shell)
    assert flag is not None
    assert body is not None
    settings = replace(Settings(clock="manual"), max_users=int(flag.group(1)))
    client = await aiohttp_client(create_app(settings))
    toml = body.group(1).encode().decode("unicode_escape")
    resp = await client.put(
        "/service/scenario/", data=toml, headers={"content-type": "application/toml"}
    )
    assert resp.status == 422
    assert await resp.text() == shown


TLS_SECTION = "## HTTPS and WSS"


def tls_example() -> str:
    """The python block of the HTTPS section that uses the plugin's ``tls=True``."""
    text = README.read_text(encoding="utf-8")
    section = text.split(TLS_SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    [example] = [block for block in blocks if "@pytest.mark.mockapi(tls=True)" in block]
    return str(example)


def test_the_readme_tls_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_readme_tls_example=tls_example())
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)
