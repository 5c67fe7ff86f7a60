"""The login machine alone: CONTRACT §4's checks, their order and their outcomes, and the MFA
next steps (ADFS page, hardware token) and TOTP that run through the same machine."""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from transitions import EventData, Machine

from mockapi.statemachines.login import (
    CHECKED,
    INITIAL,
    OUTCOME_STATES,
    START,
    START_STATES,
    STATES,
    TRANSITIONS,
    TRIGGERS,
    Account,
    LoginAttempt,
    LoginState,
    LoginStep,
    build_login_machine,
    expected_otp,
    otp_at,
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


def changes_of(machine: Machine, login: LoginAttempt) -> list[tuple[str, str]]:
    """The state changes ``login`` goes through, as (from, to)."""
    changes: list[tuple[str, str]] = []

    def record(event: EventData) -> None:
        assert event.model is login
        assert event.transition is not None
        changes.append((event.transition.source, login.state))

    machine.after_state_change = [record]
    run_login(machine, login)
    return changes


#: Every guard of the table (``conditions`` and ``unless``).
GUARDS = sorted({row[key] for row in TRANSITIONS for key in ("conditions", "unless") if key in row})


def guards_asked(machine: Machine, login: LoginAttempt) -> list[str]:
    """The guards the machine asks while running ``login``'s checks, in the order it asks."""
    asked: list[str] = []
    for name in GUARDS:
        guard = getattr(login, name)

        def recording(event: EventData, name: str = name, guard: Any = guard) -> bool:
            asked.append(name)
            return bool(guard(event))

        # An instance attribute: transitions looks guards up on the model by name.
        setattr(login, name, recording)
    run_login(machine, login)
    return asked


# -- the table ---------------------------------------------------------------------------------
def test_states_are_the_start_of_each_route_then_the_outcomes() -> None:
    assert STATES == [
        "logging_in",
        "signing_in_with_adfs",
        "signing_in_with_hardware_token",
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
    assert INITIAL == "logging_in"
    assert START == {
        LoginStep.LOGIN: L.LOGGING_IN,
        LoginStep.ADFS: L.SIGNING_IN_WITH_ADFS,
        LoginStep.HARDWARE_TOKEN: L.SIGNING_IN_WITH_HARDWARE_TOKEN,
    }
    assert TRIGGERS == [CHECKED] == ["checked"]
    assert set(LoginState) == START_STATES | OUTCOME_STATES
    assert not START_STATES & OUTCOME_STATES


def test_each_route_lists_its_checks_in_contract_order_then_authenticated() -> None:
    rows = [(t["source"], t.get("conditions"), t.get("unless"), t["dest"]) for t in TRANSITIONS]
    assert rows == [
        # CONTRACT §4, checks 1-7.
        ("logging_in", "user_unknown", None, "unknown_user"),
        ("logging_in", "otp_missing", None, "otp_required"),
        ("logging_in", "otp_mismatch", "totp_accepted", "otp_rejected"),
        ("logging_in", "adfs_enabled", None, "adfs_required"),
        ("logging_in", "hardware_token_enabled", None, "hardware_token_required"),
        ("logging_in", "credentials_rejected", None, "credentials_rejected"),
        ("logging_in", None, None, "authenticated"),
        ("signing_in_with_adfs", "user_unknown", None, "unknown_user"),
        ("signing_in_with_adfs", "adfs_not_enabled", None, "wrong_sign_in_method"),
        ("signing_in_with_adfs", "credentials_rejected", None, "credentials_rejected"),
        ("signing_in_with_adfs", None, None, "authenticated"),
        ("signing_in_with_hardware_token", "user_unknown", None, "unknown_user"),
        (
            "signing_in_with_hardware_token",
            "hardware_token_not_enabled",
            None,
            "wrong_sign_in_method",
        ),
        ("signing_in_with_hardware_token", "token_code_mismatch", None, "token_code_rejected"),
        ("signing_in_with_hardware_token", "credentials_rejected", None, "credentials_rejected"),
        ("signing_in_with_hardware_token", None, None, "authenticated"),
    ]
    assert {t["trigger"] for t in TRANSITIONS} == {"checked"}


def test_every_transition_leaves_a_start_state_for_an_outcome() -> None:
    # One trigger ends every attempt: no transition leads on to another check.
    assert {t["source"] for t in TRANSITIONS} == {s.value for s in START_STATES}
    assert {t["dest"] for t in TRANSITIONS} == {s.value for s in OUTCOME_STATES}


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
LOGIN_CHECKS = [
    "user_unknown",
    "otp_missing",
    "otp_mismatch",
    "adfs_enabled",
    "hardware_token_enabled",
    "credentials_rejected",
]


def test_a_successful_login_runs_every_login_check_in_order_in_one_change(
    machine: Machine,
) -> None:
    login = attempt(PLAIN)
    assert guards_asked(machine, login) == LOGIN_CHECKS
    assert changes_of(machine, attempt(PLAIN)) == [("logging_in", "authenticated")]


def test_a_good_totp_skips_the_date_check(machine: Machine) -> None:
    # The code is not today's date code, so only the TOTP can let it through.
    login = attempt(OTP, otp_code=TOTP_NOW, expected_totp=TOTP_NOW)
    assert guards_asked(machine, login) == [*LOGIN_CHECKS[:3], "totp_accepted", *LOGIN_CHECKS[3:]]
    assert login.outcome is L.AUTHENTICATED


def test_a_code_that_is_not_the_totp_still_gets_the_date_check(machine: Machine) -> None:
    login = attempt(OTP, otp_code=TODAY, expected_totp=TOTP_NOW)
    # The date code matches, so the exception for the TOTP is never asked.
    assert guards_asked(machine, login) == LOGIN_CHECKS
    assert login.outcome is L.AUTHENTICATED


def test_the_adfs_page_skips_the_login_questions_and_ends_with_the_credentials(
    machine: Machine,
) -> None:
    login = adfs_step(ADFS)
    assert guards_asked(machine, login) == [
        "user_unknown",
        "adfs_not_enabled",
        "credentials_rejected",
    ]
    assert changes_of(machine, adfs_step(ADFS)) == [("signing_in_with_adfs", "authenticated")]


def test_the_hardware_token_step_checks_the_code_then_the_credentials(machine: Machine) -> None:
    login = token_step(HARDWARE, token_code="123456")
    assert guards_asked(machine, login) == [
        "user_unknown",
        "hardware_token_not_enabled",
        "token_code_mismatch",
        "credentials_rejected",
    ]
    assert changes_of(machine, token_step(HARDWARE, token_code="123456")) == [
        ("signing_in_with_hardware_token", "authenticated")
    ]


def test_every_transition_of_the_table_is_taken_by_some_case(machine: Machine) -> None:
    taken: set[tuple[str, str]] = set()
    for _, make, _ in OUTCOMES:
        taken.update(changes_of(machine, make()))
    assert taken == {(t["source"], t["dest"]) for t in TRANSITIONS}


def test_an_unknown_user_stops_at_the_lookup(machine: Machine) -> None:
    login = attempt(None)
    assert guards_asked(machine, login) == ["user_unknown"]
    assert login.outcome is L.UNKNOWN_USER


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


# -- the table against the contract, for every combination of inputs ---------------------------
def reference(login: LoginAttempt) -> LoginState:
    """CONTRACT §4's checks (and the MFA steps'), in its order, as plain Python."""
    account = login.account
    if account is None:
        return L.UNKNOWN_USER
    if login.step is LoginStep.LOGIN:
        if account.otp:
            if not login.otp_code:
                return L.OTP_REQUIRED
            is_totp = login.expected_totp is not None and login.otp_code == login.expected_totp
            if not is_totp and login.otp_code != login.expected_otp:
                return L.OTP_REJECTED
        if account.adfs:
            return L.ADFS_REQUIRED
        if account.hardware_token:
            return L.HARDWARE_TOKEN_REQUIRED
    elif login.step is LoginStep.ADFS:
        if not account.adfs:
            return L.WRONG_SIGN_IN_METHOD
    else:
        if not account.hardware_token:
            return L.WRONG_SIGN_IN_METHOD
        code = login.token_code or ""
        expected = account.hardware_token_code
        good = code == expected if expected is not None else len(code) == 6 and code in SIX_DIGITS
        if not good:
            return L.TOKEN_CODE_REJECTED
    if not login.password or account.disabled:
        return L.CREDENTIALS_REJECTED
    if login.check_passwords and login.password != account.password:
        return L.CREDENTIALS_REJECTED
    return L.AUTHENTICATED


#: The six-digit codes the reference's users without a scenario code accept (the inputs'
#: only six-digit ASCII codes, spelled out rather than matched with the machine's pattern).
SIX_DIGITS = {"123456", "428571"}

ACCOUNTS: list[Account | None] = [
    None,
    *(
        Account(
            password="secret",
            disabled=disabled,
            otp=otp,
            adfs=adfs,
            hardware_token=hardware_token,
            hardware_token_code=code,
        )
        for otp, adfs, hardware_token, disabled in itertools.product([False, True], repeat=4)
        for code in ([None, "428571"] if hardware_token else [None])
    ),
]
OTP_CODES = [None, "", TODAY, TOTP_NOW, "000000"]
TOTPS = [None, TOTP_NOW]
PASSWORDS = [None, "", "secret", "wrong"]
TOKEN_CODES = [None, "123456", "428571", "12345a", "123456\n"]


def test_the_table_agrees_with_the_contract_for_every_combination(machine: Machine) -> None:
    disagreements = []
    combinations = itertools.product(
        ACCOUNTS, OTP_CODES, TOTPS, PASSWORDS, [False, True], list(LoginStep), TOKEN_CODES
    )
    count = 0
    reached = set()
    for account, otp_code, totp, password, check_passwords, step, token_code in combinations:
        login = attempt(
            account,
            otp_code=otp_code,
            expected_totp=totp,
            password=password,
            check_passwords=check_passwords,
            step=step,
            token_code=token_code,
        )
        expected = reference(login)
        reached.add(expected)
        if run_login(machine, login) is not expected:
            disagreements.append((login, login.state, expected))
        count += 1
    assert count == 25 * 5 * 2 * 4 * 2 * 3 * 5
    assert reached == OUTCOME_STATES  # the inputs reach every answer
    assert disagreements == []


# -- models ------------------------------------------------------------------------------------
def test_an_attempt_takes_the_event_without_becoming_a_model(machine: Machine) -> None:
    seen: list[tuple[bool, bool]] = []

    def record(event: EventData) -> None:
        seen.append((event.model is login, event.model in machine.models))

    machine.after_state_change = [record]
    login = attempt(PLAIN)
    run_login(machine, login)
    assert seen == [(True, False)]  # one change, from the route's start to its outcome
    assert list(machine.models) == []
    # Nothing bound on it (add_model would bind the trigger and is_<state> helpers).
    assert not any(hasattr(login, name) for name in ("checked", "trigger", "is_authenticated"))


def test_a_finished_attempt_is_freed_without_the_garbage_collector(machine: Machine) -> None:
    # No reference cycle through the machine: an attempt goes when its request drops it.
    gc.disable()
    try:
        login = attempt(OTP, otp_code=TODAY)
        assert run_login(machine, login) is L.AUTHENTICATED
        gone = weakref.ref(login)
        del login
        assert gone() is None
    finally:
        gc.enable()


def test_one_machine_serves_many_attempts(machine: Machine) -> None:
    first, second = attempt(PLAIN), attempt(PLAIN)  # equal fields, two attempts
    assert run_login(machine, first) is L.AUTHENTICATED
    assert run_login(machine, second) is L.AUTHENTICATED
    assert run_login(machine, attempt(None)) is L.UNKNOWN_USER
    assert list(machine.models) == []


def test_a_failing_check_raises_and_leaves_the_machine_holding_nothing(machine: Machine) -> None:
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


def test_a_reused_attempt_starts_over_from_its_route(machine: Machine) -> None:
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


@pytest.mark.parametrize(
    "timestamp",
    [0, 86399.999999, 86400, -0.5, -86400.0, 1_795_679_088.99845, 4_102_444_799.9, 4_102_444_800],
)
def test_the_otp_at_a_unix_time_is_that_times_utc_date(timestamp: float) -> None:
    assert otp_at(timestamp) == expected_otp(datetime.fromtimestamp(timestamp, UTC))


def test_the_cached_otp_changes_exactly_at_utc_midnight() -> None:
    midnight = datetime(2026, 11, 26, tzinfo=UTC).timestamp()
    for day in range(-400, 400):
        start = midnight + day * 86400
        assert otp_at(start - 1e-6) == expected_otp(datetime.fromtimestamp(start - 1, UTC))
        assert otp_at(start) == expected_otp(datetime.fromtimestamp(start, UTC))


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
    from mockapi.statemachines.diagrams import MACHINES, mermaid

    text = mermaid(MACHINES["login"])
    for row in TRANSITIONS:
        # The one trigger names only the unguarded edge; the others are told by their guard.
        label = "checked"
        if "conditions" in row:
            unless = f" & !{row['unless']}" if "unless" in row else ""
            label = f"[{row['conditions']}{unless}]"
        # Drawn as one fan per start state: each reaches a copy of its own of the outcome.
        copy = f"{row['source']}__{row['dest']}"
        assert f"  {row['source']} --> {copy}: {label}\n" in text
        assert f'  state "{row["dest"]}" as {copy}\n' in text
    for state in ("logging_in", "signing_in_with_adfs", "signing_in_with_hardware_token"):
        assert f'state "{state}" as {state}' in text
