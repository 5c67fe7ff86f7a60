"""The login machine alone: CONTRACT §4's checks, their order and their outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from transitions import EventData, Machine

from statemachines.login import (
    CHECK_STATES,
    CHECKED,
    INITIAL,
    OUTCOME_STATES,
    STATES,
    TRANSITIONS,
    TRIGGERS,
    Account,
    LoginAttempt,
    LoginState,
    build_login_machine,
    expected_otp,
    run_login,
)

L = LoginState
TODAY = "261125"

PLAIN = Account(password="secret")
OTP = Account(password="secret", otp=True)
ADFS = Account(password="secret", adfs=True)
HARDWARE = Account(password="secret", hardware_token=True)
DISABLED = Account(password="secret", disabled=True)
EVERYTHING = Account(password="secret", disabled=True, otp=True, adfs=True, hardware_token=True)


def attempt(
    account: Account | None,
    *,
    password: str | None = "any",
    otp_code: str | None = None,
    check_passwords: bool = False,
    ldap: bool = False,
) -> LoginAttempt:
    return LoginAttempt(
        username="someone",
        password=password,
        ldap=ldap,
        otp_code=otp_code,
        account=account,
        expected_otp=TODAY,
        check_passwords=check_passwords,
    )


@pytest.fixture
def machine() -> Machine:
    return build_login_machine()


def path_of(machine: Machine, login: LoginAttempt) -> list[str]:
    """The states ``login`` passes through, the initial one included."""
    visited = [INITIAL]

    def record(event: EventData) -> None:
        assert event.model is login
        visited.append(login.state)

    machine.after_state_change = [record]
    run_login(machine, login)
    return visited


# -- the table ---------------------------------------------------------------------------------
def test_states_are_the_checks_in_contract_order_then_the_outcomes() -> None:
    assert STATES == [
        "looking_up_user",
        "checking_otp_given",
        "verifying_otp",
        "checking_adfs",
        "checking_hardware_token",
        "checking_credentials",
        "unknown_user",
        "otp_required",
        "otp_rejected",
        "adfs_required",
        "hardware_token_required",
        "credentials_rejected",
        "authenticated",
    ]
    assert INITIAL == "looking_up_user"
    assert TRIGGERS == [CHECKED] == ["checked"]
    assert set(CHECK_STATES) | OUTCOME_STATES == set(LoginState)
    assert not set(CHECK_STATES) & OUTCOME_STATES


def test_each_check_stops_at_its_outcome_when_its_guard_holds_else_goes_on() -> None:
    rows = [(t["source"], t.get("conditions"), t["dest"]) for t in TRANSITIONS]
    assert rows == [
        ("looking_up_user", "user_unknown", "unknown_user"),
        ("looking_up_user", None, "checking_otp_given"),
        ("checking_otp_given", "otp_missing", "otp_required"),
        ("checking_otp_given", None, "verifying_otp"),
        ("verifying_otp", "otp_mismatch", "otp_rejected"),
        ("verifying_otp", None, "checking_adfs"),
        ("checking_adfs", "adfs_enabled", "adfs_required"),
        ("checking_adfs", None, "checking_hardware_token"),
        ("checking_hardware_token", "hardware_token_enabled", "hardware_token_required"),
        ("checking_hardware_token", None, "checking_credentials"),
        ("checking_credentials", "credentials_rejected", "credentials_rejected"),
        ("checking_credentials", None, "authenticated"),
    ]
    assert {t["trigger"] for t in TRANSITIONS} == {"checked"}


def test_machine_has_no_auto_transitions_and_passes_event_data(machine: Machine) -> None:
    assert machine.send_event is True
    assert machine.auto_transitions is False
    assert sorted(machine.events) == ["checked"]


# -- outcomes ----------------------------------------------------------------------------------
Case = tuple[str, Callable[[], LoginAttempt], LoginState]

OUTCOMES: list[Case] = [
    ("unknown user", partial(attempt, None), L.UNKNOWN_USER),
    ("otp user without a code", partial(attempt, OTP), L.OTP_REQUIRED),
    ("otp user with a null code", partial(attempt, OTP, otp_code=None), L.OTP_REQUIRED),
    ("otp user with an empty code", partial(attempt, OTP, otp_code=""), L.OTP_REQUIRED),
    ("otp user with a wrong code", partial(attempt, OTP, otp_code="000000"), L.OTP_REJECTED),
    (
        "otp compared exactly (leading space)",
        partial(attempt, OTP, otp_code=f" {TODAY}"),
        L.OTP_REJECTED,
    ),
    (
        "otp compared exactly (trailing space)",
        partial(attempt, OTP, otp_code=f"{TODAY} "),
        L.OTP_REJECTED,
    ),
    ("otp user with today's code", partial(attempt, OTP, otp_code=TODAY), L.AUTHENTICATED),
    ("adfs user", partial(attempt, ADFS), L.ADFS_REQUIRED),
    ("hardware-token user", partial(attempt, HARDWARE), L.HARDWARE_TOKEN_REQUIRED),
    ("null password", partial(attempt, PLAIN, password=None), L.CREDENTIALS_REJECTED),
    ("empty password", partial(attempt, PLAIN, password=""), L.CREDENTIALS_REJECTED),
    ("disabled user", partial(attempt, DISABLED), L.CREDENTIALS_REJECTED),
    ("any password when passwords are not checked", partial(attempt, PLAIN), L.AUTHENTICATED),
    (
        "wrong password when passwords are checked",
        partial(attempt, PLAIN, check_passwords=True),
        L.CREDENTIALS_REJECTED,
    ),
    (
        "right password when passwords are checked",
        partial(attempt, PLAIN, password="secret", check_passwords=True),
        L.AUTHENTICATED,
    ),
    (
        "otp code ignored for a user without otp",
        partial(attempt, PLAIN, otp_code="000000"),
        L.AUTHENTICATED,
    ),
    ("ldap ignored", partial(attempt, PLAIN, ldap=True), L.AUTHENTICATED),
]


@pytest.mark.parametrize(
    ("make", "outcome"), [(m, o) for _, m, o in OUTCOMES], ids=[n for n, _, _ in OUTCOMES]
)
def test_outcome(machine: Machine, make: Callable[[], LoginAttempt], outcome: LoginState) -> None:
    login = make()
    assert run_login(machine, login) is outcome
    assert login.state == outcome.value
    assert login.outcome is outcome


def test_every_outcome_state_is_reachable(machine: Machine) -> None:
    reached = {run_login(machine, make()) for _, make, _ in OUTCOMES}
    assert reached == OUTCOME_STATES


# -- order -------------------------------------------------------------------------------------
def test_a_successful_login_runs_every_check_in_order(machine: Machine) -> None:
    assert path_of(machine, attempt(PLAIN)) == [*(s.value for s in CHECK_STATES), "authenticated"]


def test_an_unknown_user_stops_at_the_lookup(machine: Machine) -> None:
    assert path_of(machine, attempt(None)) == ["looking_up_user", "unknown_user"]


ORDER: list[Case] = [
    ("otp before adfs, hardware token and disabled", partial(attempt, EVERYTHING), L.OTP_REQUIRED),
    ("otp code before adfs", partial(attempt, EVERYTHING, otp_code="000000"), L.OTP_REJECTED),
    ("adfs after a good otp", partial(attempt, EVERYTHING, otp_code=TODAY), L.ADFS_REQUIRED),
    (
        "hardware token before disabled",
        partial(attempt, Account(password="x", disabled=True, hardware_token=True)),
        L.HARDWARE_TOKEN_REQUIRED,
    ),
    (
        "adfs before hardware token",
        partial(attempt, Account(password="x", adfs=True, hardware_token=True)),
        L.ADFS_REQUIRED,
    ),
    (
        "disabled after a good otp (user-1)",
        partial(attempt, Account(password="x", disabled=True, otp=True), otp_code=TODAY),
        L.CREDENTIALS_REJECTED,
    ),
    (
        "mfa before the password check",
        partial(attempt, HARDWARE, password=None, check_passwords=True),
        L.HARDWARE_TOKEN_REQUIRED,
    ),
    (
        "otp before the password check",
        partial(attempt, OTP, password="wrong", check_passwords=True, otp_code="000000"),
        L.OTP_REJECTED,
    ),
]


@pytest.mark.parametrize(
    ("make", "outcome"), [(m, o) for _, m, o in ORDER], ids=[n for n, _, _ in ORDER]
)
def test_check_order(
    machine: Machine, make: Callable[[], LoginAttempt], outcome: LoginState
) -> None:
    assert run_login(machine, make()) is outcome


# -- models ------------------------------------------------------------------------------------
def test_an_attempt_is_a_model_only_while_its_checks_run(machine: Machine) -> None:
    seen: list[bool] = []

    def record(event: EventData) -> None:
        seen.append(event.model in machine.models)

    machine.after_state_change = [record]
    login = attempt(PLAIN)
    run_login(machine, login)
    assert len(seen) == len(CHECK_STATES)
    assert all(seen)
    assert login not in machine.models
    assert machine.models == []


def test_one_machine_serves_many_attempts(machine: Machine) -> None:
    first, second = attempt(PLAIN), attempt(PLAIN)  # equal fields, two attempts
    assert run_login(machine, first) is L.AUTHENTICATED
    assert run_login(machine, second) is L.AUTHENTICATED
    assert run_login(machine, attempt(None)) is L.UNKNOWN_USER
    assert machine.models == []


def test_the_attempt_is_removed_even_when_a_check_fails(machine: Machine) -> None:
    class Broken(LoginAttempt):
        def otp_missing(self, event: EventData) -> bool:
            raise RuntimeError("boom")

    login = Broken(
        username="x",
        password="p",
        ldap=False,
        otp_code=None,
        account=OTP,
        expected_otp=TODAY,
    )
    with pytest.raises(RuntimeError, match="boom"):
        run_login(machine, login)
    assert machine.models == []


def test_a_reused_attempt_starts_over_from_the_lookup(machine: Machine) -> None:
    login = attempt(OTP)
    assert run_login(machine, login) is L.OTP_REQUIRED
    login.otp_code = TODAY
    assert run_login(machine, login) is L.AUTHENTICATED


def test_a_fresh_attempt_has_no_outcome() -> None:
    assert attempt(PLAIN).outcome is None


# -- the OTP -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "otp"),
    [
        (datetime(2025, 9, 11, 0, 0, tzinfo=UTC), "250911"),
        (datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC), "261125"),
        # 01:30 at UTC+3 is still the day before in UTC.
        (datetime(2026, 11, 26, 1, 30, tzinfo=timezone(timedelta(hours=3))), "261125"),
    ],
)
def test_the_otp_is_the_utc_date_as_yymmdd(now: datetime, otp: str) -> None:
    assert expected_otp(now) == otp


def test_guards_take_the_event(machine: Machine) -> None:
    # send_event=True: every guard is called with one EventData and nothing else.
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Recording(LoginAttempt):
        def adfs_enabled(self, *args: Any, **kwargs: Any) -> bool:
            calls.append((args, kwargs))
            return False

    login = Recording(
        username="x",
        password="p",
        ldap=False,
        otp_code=None,
        account=PLAIN,
        expected_otp=TODAY,
    )
    run_login(machine, login)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert len(args) == 1
    assert isinstance(args[0], EventData)
    assert kwargs == {}
