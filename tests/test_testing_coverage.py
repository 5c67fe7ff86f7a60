"""The plugin's coverage, run as a user runs it (pytester, a pytest process of its own): the
terminal summary summed over a session's tests, ``--mockapi-cov-fail-under``, and the handle's
``verify`` and ``coverage``."""

from __future__ import annotations

import pytest

from mockapi.testing import SessionCoverage

pytest_plugins = ["pytester"]

INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis")
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

#: Two tests, each with a server of its own: one logs in (authenticated), one is refused
#: an OTP user (otp_required) and runs a task to its end on the happy-path world.
SESSION = """
import pytest


def test_login(mockapi):
    mockapi.login("astravdi")
    assert mockapi.coverage()["machines"]["login"]["covered"] == 1


@pytest.mark.mockapi(scenario="happy-path")
async def test_task(mockapi):
    import aiohttp
    token = await mockapi.token("alice")
    async with aiohttp.ClientSession() as session:
        pools = await session.get(
            f"{mockapi.url}/api/v2/pools/", headers={"Authorization": f"JWT {token}"}
        )
        pool = (await pools.json())["data"][0]["id"]
        step1 = await session.get(
            f"{mockapi.url}/api/v2/pools/{pool}/connect/",
            headers={"Authorization": f"JWT {token}"},
        )
        task = (await step1.json())["data"]["id"]
    await mockapi.wait_task(task, "COMPLETED", timeout=30)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_session=SESSION)
    return pytester.runpytest_subprocess(*INNER_ARGS, *args)


def test_the_summary_sums_the_sessions_tests_per_machine(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*- mockapi coverage: state-machine transitions -*",
            "machine      covered  total   cover",
            "login              1     16      6%",
            "connection         2      8     25%",
            "task               2      5     40%",
            "TOTAL              5     29     17%",
            "never taken:",
            "  login: logging_in --checked [user_unknown]--> unknown_user",
        ]
    )
    result.stdout.fnmatch_lines(["  task: RUNNING --fail--> FAILED"])
    assert "login: logging_in --checked--> authenticated" not in result.stdout.str()


def test_fail_under_fails_a_passing_session_below_the_figure(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--mockapi-cov-fail-under=50")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["FAIL Required mockapi coverage of 50% not reached. Total coverage: 17.24%"]
    )


def test_fail_under_passes_at_or_above_the_figure(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--mockapi-cov-fail-under=17")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["Required mockapi coverage of 17% reached. Total coverage: 17.24%"]
    )


def test_no_summary_without_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_plain="def test_nothing():\n    assert True\n")
    result = pytester.runpytest_subprocess(*INNER_ARGS, "--mockapi-cov-fail-under=90")
    assert result.ret == pytest.ExitCode.OK
    assert "mockapi coverage" not in result.stdout.str()


VERIFY = """
import pytest


def test_sync_verify(mockapi):
    mockapi.login("astravdi")
    (match,) = mockapi.verify({"method": "POST", "path": "/api/v2/users/login/"}, exactly=1)
    assert match["body"]["password"] == "[redacted]"
    mockapi.verify({"path": "/api/v2/pools/"})


async def test_async_verify(mockapi):
    await mockapi.login("astravdi")
    await mockapi.verify({"path": "/api/v2/users/login/", "body": {"username": "bob"}})
"""


def test_the_handles_verify_fails_the_test_with_the_explanation(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_verify=VERIFY)
    result = pytester.runpytest_subprocess(*INNER_ARGS)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: expected at least 1 matching request, found 0",
            "E * closest requests:",
            "E *   #1 POST /api/v2/users/login/ -> 200",
            'E *     path: expected "/api/v2/pools/", got "/api/v2/users/login/"',
        ]
    )
    result.stdout.fnmatch_lines(['E *     body.username: expected "bob", got "astravdi"'])


CONFORMANCE = """
import urllib.request


def get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_conformant(mockapi):
    token = mockapi.login("astravdi")
    assert get(f"{mockapi.url}/api/v2/pools/", Authorization=f"JWT {token}") == 200
    mockapi.assert_conformant()
    assert {r["id"]: r["status"] for r in mockapi.conformance()}["auth_header"] == "pass"


async def test_not_conformant(mockapi):
    token = await mockapi.login("astravdi")
    get(f"{mockapi.url}/api/v2/pools/", Authorization=f"Bearer {token}")
    await mockapi.assert_conformant()
"""


def test_assert_conformant_names_each_broken_rule_with_its_evidence(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_conformance=CONFORMANCE)
    result = pytester.runpytest_subprocess(*INNER_ARGS)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: 1 client rule(s) failed:",
            "E *   auth_header: an Authorization header was not exactly `JWT <token>` (journal #2)",
        ]
    )


def test_a_test_whose_coverage_could_not_be_read_is_named_in_the_summary() -> None:
    session = SessionCoverage()
    session.add(
        {"machines": {"task": {"transitions": [
            {"trigger": "start", "source": "PENDING", "dest": "RUNNING", "guard": None,
             "count": 1},
            {"trigger": "fail", "source": "RUNNING", "dest": "FAILED", "guard": None,
             "count": 0},
        ]}}}
    )  # fmt: skip
    session.unread.append("test_x.py::test_gone: no answer")
    assert session.percent() == 50.0
    assert session.report() == [
        "machine      covered  total   cover",
        "task               1      2     50%",
        "TOTAL              1      2     50%",
        "never taken:",
        "  task: RUNNING --fail--> FAILED",
        "not counted (1 test(s) whose coverage was unreadable):",
        "  test_x.py::test_gone: no answer",
    ]
