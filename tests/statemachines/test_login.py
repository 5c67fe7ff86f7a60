"""The login machine alone: CONTRACT §4's checks, their order and their outcomes, and the MFA
next steps (ADFS page, hardware token) and TOTP that run through the same machine."""

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
    LoginStep,
    build_login_machine,
    expected_otp,
    run_login,
)

L = LoginState
TODAY = "261125"
TOTP_NOW = "287082"  # whatever the handler computed from the secret and the clock

PLAIN = Account(password="secret")
OTP = Account(password="secret", otp=True)
ADFS = Account(password="secret", adfs=True)
HARDWARE = Account(password="secret", hardware_token=True)
DISABLED = Account(password="secret", disabled=True)
EVERYTHING = Account(password="secret", disabled=True, otp=True, adfs=True, hardware_token=True)
FIXED_TOKEN = Account(password="secret", hardware_token=True, hardware_token_code="428571")


def attempt(
    account: Account | None,
    *,
    password: str | None = "any",
    otp_code: str | None = None,
    check_passwords: bool = False,
    ldap: bool = False,
    step: LoginStep = LoginStep.LOGIN,
    expected_totp: str | None = None,
    token_code: str | None = None,
) -> LoginAttempt:
    return LoginAttempt(
        username="someone",
        password=password,
        ldap=ldap,
        otp_code=otp_code,
        account=account,
        expected_otp=TODAY,
        check_passwords=check_passwords,
        step=step,
        expected_totp=expected_totp,
        token_code=token_code,
    )


adfs_step = partial(attempt, step=LoginStep.ADFS)
token_step = partial(attempt, step=LoginStep.HARDWARE_TOKEN)


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
        "verifying_totp",
        "verifying_otp",
        "checking_adfs",
        "checking_hardware_token",
        "signing_in_with_adfs",
        "signing_in_with_hardware_token",
        "verifying_token_code",
        "checking_credentials",
        "unknown_user",
        "otp_required",
        "otp_rejected",
        "adfs_required",
        "hardware_token_required",
        "wrong_sign_in_method",
        "token_code_rejected",
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
        ("looking_up_user", "via_adfs", "signing_in_with_adfs"),
        ("looking_up_user", "via_hardware_token", "signing_in_with_hardware_token"),
        ("looking_up_user", None, "checking_otp_given"),
        ("checking_otp_given", "otp_missing", "otp_required"),
        ("checking_otp_given", None, "verifying_totp"),
        ("verifying_totp", "totp_accepted", "checking_adfs"),
        ("verifying_totp", None, "verifying_otp"),
        ("verifying_otp", "otp_mismatch", "otp_rejected"),
        ("verifying_otp", None, "checking_adfs"),
        ("checking_adfs", "adfs_enabled", "adfs_required"),
        ("checking_adfs", None, "checking_hardware_token"),
        ("checking_hardware_token", "hardware_token_enabled", "hardware_token_required"),
        ("checking_hardware_token", None, "checking_credentials"),
        ("signing_in_with_adfs", "adfs_not_enabled", "wrong_sign_in_method"),
        ("signing_in_with_adfs", None, "checking_credentials"),
        ("signing_in_with_hardware_token", "hardware_token_not_enabled", "wrong_sign_in_method"),
        ("signing_in_with_hardware_token", None, "verifying_token_code"),
        ("verifying_token_code", "token_code_mismatch", "token_code_rejected"),
        ("verifying_token_code", None, "checking_credentials"),
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
    # TOTP (a user with an otp_secret): its code now, or the date code, passes.
    (
        "totp user with the current totp",
        partial(attempt, OTP, otp_code=TOTP_NOW, expected_totp=TOTP_NOW),
        L.AUTHENTICATED,
    ),
    (
        "totp user with the date code",
        partial(attempt, OTP, otp_code=TODAY, expected_totp=TOTP_NOW),
        L.AUTHENTICATED,
    ),
    (
        "totp user with a stale code",
        partial(attempt, OTP, otp_code="123456", expected_totp=TOTP_NOW),
        L.OTP_REJECTED,
    ),
    (
        "totp compared exactly",
        partial(attempt, OTP, otp_code=f"{TOTP_NOW} ", expected_totp=TOTP_NOW),
        L.OTP_REJECTED,
    ),
    (
        "totp with non-ascii digits",
        partial(attempt, OTP, otp_code="٢٨٧٠٨٢", expected_totp=TOTP_NOW),
        L.OTP_REJECTED,
    ),
    (
        "totp user without a code",
        partial(attempt, OTP, expected_totp=TOTP_NOW),
        L.OTP_REQUIRED,
    ),
    (
        "a totp code means nothing to a user without otp",
        partial(attempt, PLAIN, otp_code="x", expected_totp=TOTP_NOW),
        L.AUTHENTICATED,
    ),
    # The ADFS page.
    ("adfs page: adfs user", partial(adfs_step, ADFS), L.AUTHENTICATED),
    ("adfs page: unknown user", partial(adfs_step, None), L.UNKNOWN_USER),
    ("adfs page: not an adfs user", partial(adfs_step, PLAIN), L.WRONG_SIGN_IN_METHOD),
    (
        "adfs page: disabled adfs user",
        partial(adfs_step, Account(password="secret", adfs=True, disabled=True)),
        L.CREDENTIALS_REJECTED,
    ),
    ("adfs page: empty password", partial(adfs_step, ADFS, password=""), L.CREDENTIALS_REJECTED),
    (
        "adfs page: wrong password when passwords are checked",
        partial(adfs_step, ADFS, check_passwords=True),
        L.CREDENTIALS_REJECTED,
    ),
    (
        "adfs page: right password when passwords are checked",
        partial(adfs_step, ADFS, password="secret", check_passwords=True),
        L.AUTHENTICATED,
    ),
    # The hardware-token route.
    (
        "hardware token: any 6 digits without a scenario code",
        partial(token_step, HARDWARE, token_code="000000"),
        L.AUTHENTICATED,
    ),
    (
        "hardware token: 5 digits",
        partial(token_step, HARDWARE, token_code="12345"),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "hardware token: 7 digits",
        partial(token_step, HARDWARE, token_code="1234567"),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "hardware token: letters",
        partial(token_step, HARDWARE, token_code="12345a"),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "hardware token: non-ascii digits",
        partial(token_step, HARDWARE, token_code="١٢٣٤٥٦"),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "hardware token: a trailing newline",
        partial(token_step, HARDWARE, token_code="123456\n"),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "hardware token: the scenario code",
        partial(token_step, FIXED_TOKEN, token_code="428571"),
        L.AUTHENTICATED,
    ),
    (
        "hardware token: another code than the scenario's",
        partial(token_step, FIXED_TOKEN, token_code="123456"),
        L.TOKEN_CODE_REJECTED,
    ),
    ("hardware token: unknown user", partial(token_step, None, token_code="1"), L.UNKNOWN_USER),
    (
        "hardware token: not a hardware-token user",
        partial(token_step, PLAIN, token_code="123456"),
        L.WRONG_SIGN_IN_METHOD,
    ),
    (
        "hardware token: disabled user with a good code",
        partial(
            token_step,
            Account(password="x", hardware_token=True, disabled=True),
            token_code="123456",
        ),
        L.CREDENTIALS_REJECTED,
    ),
    (
        "hardware token: wrong password when passwords are checked",
        partial(token_step, HARDWARE, token_code="123456", check_passwords=True),
        L.CREDENTIALS_REJECTED,
    ),
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
LOGIN_PATH = [
    "looking_up_user",
    "checking_otp_given",
    "verifying_totp",
    "verifying_otp",
    "checking_adfs",
    "checking_hardware_token",
    "checking_credentials",
    "authenticated",
]


def test_a_successful_login_runs_every_login_check_in_order(machine: Machine) -> None:
    assert path_of(machine, attempt(PLAIN)) == LOGIN_PATH


def test_a_good_totp_skips_the_date_check(machine: Machine) -> None:
    login = attempt(OTP, otp_code=TOTP_NOW, expected_totp=TOTP_NOW)
    assert path_of(machine, login) == [s for s in LOGIN_PATH if s != "verifying_otp"]


def test_a_code_that_is_not_the_totp_still_gets_the_date_check(machine: Machine) -> None:
    login = attempt(OTP, otp_code=TODAY, expected_totp=TOTP_NOW)
    assert path_of(machine, login) == LOGIN_PATH


def test_the_adfs_page_skips_the_login_questions_and_meets_it_at_the_credentials(
    machine: Machine,
) -> None:
    assert path_of(machine, adfs_step(ADFS)) == [
        "looking_up_user",
        "signing_in_with_adfs",
        "checking_credentials",
        "authenticated",
    ]


def test_the_hardware_token_step_checks_the_code_then_the_credentials(machine: Machine) -> None:
    assert path_of(machine, token_step(HARDWARE, token_code="123456")) == [
        "looking_up_user",
        "signing_in_with_hardware_token",
        "verifying_token_code",
        "checking_credentials",
        "authenticated",
    ]


def test_every_check_state_is_on_some_path(machine: Machine) -> None:
    visited: set[str] = set()
    for _, make, _ in OUTCOMES:
        visited.update(path_of(machine, make()))
    assert {s.value for s in CHECK_STATES} <= visited


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
        "a disabled hardware-token user with a bad code gets the code's answer, as user-1's OTP",
        partial(
            token_step,
            Account(password="x", hardware_token=True, disabled=True),
            token_code="bad",
        ),
        L.TOKEN_CODE_REJECTED,
    ),
    (
        "a step's own user check before the password check",
        partial(adfs_step, PLAIN, password=None, check_passwords=True),
        L.WRONG_SIGN_IN_METHOD,
    ),
    (
        "the adfs page ignores otp (the page has no otp field)",
        partial(adfs_step, Account(password="x", otp=True, adfs=True)),
        L.AUTHENTICATED,
    ),
    (
        "the hardware-token step ignores adfs (its own answer is the token code)",
        partial(token_step, Account(password="x", adfs=True, hardware_token=True), token_code="1"),
        L.TOKEN_CODE_REJECTED,
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
    assert len(seen) == len(LOGIN_PATH) - 1  # one change per check run
    assert all(seen)
    assert login not in machine.models
    assert list(machine.models) == []


def test_one_machine_serves_many_attempts(machine: Machine) -> None:
    first, second = attempt(PLAIN), attempt(PLAIN)  # equal fields, two attempts
    assert run_login(machine, first) is L.AUTHENTICATED
    assert run_login(machine, second) is L.AUTHENTICATED
    assert run_login(machine, attempt(None)) is L.UNKNOWN_USER
    assert list(machine.models) == []


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
    assert list(machine.models) == []


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


# -- the diagram -------------------------------------------------------------------------------
def test_the_exported_diagram_shows_the_mfa_steps_and_totp() -> None:
    # Imported here: only this test needs GraphMachine, the rest of the module runs without it.
    from statemachines.diagrams import MACHINES, mermaid

    text = mermaid(MACHINES["login"])
    for row in TRANSITIONS:
        guard = f" [{row['conditions']}]" if "conditions" in row else ""
        assert f"  {row['source']} --> {row['dest']}: checked{guard}\n" in text
    for state in ("verifying_totp", "signing_in_with_adfs", "verifying_token_code"):
        assert f'state "{state}" as {state}' in text
