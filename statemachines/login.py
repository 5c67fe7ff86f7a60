"""Login: the checks of CONTRACT §4, in order, as one machine, and the MFA steps that finish it.

An attempt starts in the state of the route it came through (:class:`LoginStep`) and takes
one event, ``checked``. From each start state ``checked`` has that route's checks as an
ordered list of guarded transitions, each to the outcome its check answers with. transitions
takes the first whose ``conditions`` hold and whose ``unless`` fail; the last has no guard
and is reached only when every check passed::

    logging_in (POST /users/login/) --checked-->
        [user_unknown]                          unknown_user             401/999
        [otp_missing]                           otp_required             428/100
        [otp_mismatch] unless [totp_accepted]   otp_rejected             401/103
        [adfs_enabled]                          adfs_required            428/101
        [hardware_token_enabled]                hardware_token_required  428/102
        [credentials_rejected]                  credentials_rejected     401/999
                                                authenticated            200

    signing_in_with_adfs (the ADFS sign-in page) --checked-->
        [user_unknown]                          unknown_user
        [adfs_not_enabled]                      wrong_sign_in_method
        [credentials_rejected]                  credentials_rejected
                                                authenticated

    signing_in_with_hardware_token (the hardware-token route) --checked-->
        [user_unknown]                          unknown_user
        [hardware_token_not_enabled]            wrong_sign_in_method
        [token_code_mismatch]                   token_code_rejected
        [credentials_rejected]                  credentials_rejected
                                                authenticated

The ADFS sign-in page and the hardware-token route (the ``next_step`` targets of the 428
answers) skip the MFA questions the login asks and check the answer to their own, then end
with the login's credentials check, so disabled users and checked passwords behave alike on
every path.

TOTP (RFC 6238, for users whose scenario has an ``otp_secret``) is accepted besides the date
code: a code that is the user's TOTP now skips the date check (the ``unless``); anything else
gets the date check, so the original's date code keeps working for every OTP user.

One trigger per attempt, not one per check: a login that took seven triggers could not keep
up with a client's load test (docs/performance.md). Each check is
still a guarded transition of the table, and the order of :data:`TRANSITIONS` *is* the order
of the checks. The handlers map outcome states to answers and never re-derive the flow. The
machine reads no clock: the attempt carries the codes the server accepts now.
"""

from __future__ import annotations

import functools
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine

from .registry import build_machine

#: The OTP is the server's date in this format (``250911``), as the original emulates TOTP.
OTP_FORMAT = "%y%m%d"

#: A hardware-token user without a scenario code accepts any six ASCII digits.
ANY_TOKEN_CODE = re.compile(r"[0-9]{6}")


class LoginState(StrEnum):
    # Where an attempt starts: one state per route, its checks still to run.
    LOGGING_IN = "logging_in"
    SIGNING_IN_WITH_ADFS = "signing_in_with_adfs"
    SIGNING_IN_WITH_HARDWARE_TOKEN = "signing_in_with_hardware_token"
    # The outcomes, one per answer.
    UNKNOWN_USER = "unknown_user"
    OTP_REQUIRED = "otp_required"
    OTP_REJECTED = "otp_rejected"
    ADFS_REQUIRED = "adfs_required"
    HARDWARE_TOKEN_REQUIRED = "hardware_token_required"
    WRONG_SIGN_IN_METHOD = "wrong_sign_in_method"
    TOKEN_CODE_REJECTED = "token_code_rejected"
    CREDENTIALS_REJECTED = "credentials_rejected"
    AUTHENTICATED = "authenticated"


class LoginStep(StrEnum):
    """Which route the attempt came through: the login itself or one of its next steps."""

    LOGIN = "login"
    ADFS = "adfs"
    HARDWARE_TOKEN = "hardware_token"


L = LoginState

#: The state an attempt starts in, by the route it came through.
START: dict[LoginStep, LoginState] = {
    LoginStep.LOGIN: L.LOGGING_IN,
    LoginStep.ADFS: L.SIGNING_IN_WITH_ADFS,
    LoginStep.HARDWARE_TOKEN: L.SIGNING_IN_WITH_HARDWARE_TOKEN,
}
START_STATES = frozenset(START.values())
OUTCOME_STATES = frozenset(L) - START_STATES
#: The outcome a model's state string names (a dict lookup: the outcome is read per request).
_OUTCOMES = {state.value: state for state in OUTCOME_STATES}

STATES = [state.value for state in LoginState]
#: The machine's initial state (a model added without one starts here): the login's.
INITIAL = START[LoginStep.LOGIN].value
#: Drawn as one fan per start state, each with its own copy of the outcomes it reaches
#: (:mod:`mockapi.statemachines.drawing`): the three start states share four outcomes, and
#: drawn once each, the shared outcomes pulled the three fans' edges across each other and
#: stacked their labels; more spacing did not separate them.
DIAGRAM_FAN_PER_SOURCE = True

#: The one event: the route's checks ran (the first guard that holds says where it stopped).
CHECKED = "checked"
TRIGGERS = [CHECKED]

#: A check: the guard that stops the attempt (``conditions``; with ``unless`` when it has an
#: exception) and the outcome it stops in.
Check = tuple[str, str | None, LoginState]


def _checks(start: LoginState, checks: list[Check]) -> list[dict[str, Any]]:
    """``start``'s checks in order, then the unguarded transition to ``authenticated``."""
    rows: list[dict[str, Any]] = []
    for stops_if, unless, outcome in checks:
        row = {"trigger": CHECKED, "source": start.value, "dest": outcome.value}
        row["conditions"] = stops_if
        if unless is not None:
            row["unless"] = unless
        rows.append(row)
    rows.append({"trigger": CHECKED, "source": start.value, "dest": L.AUTHENTICATED.value})
    return rows


TRANSITIONS: list[dict[str, Any]] = [
    # POST /users/login/: CONTRACT §4's checks 1-6, in its order.
    *_checks(
        L.LOGGING_IN,
        [
            ("user_unknown", None, L.UNKNOWN_USER),
            ("otp_missing", None, L.OTP_REQUIRED),
            ("otp_mismatch", "totp_accepted", L.OTP_REJECTED),
            ("adfs_enabled", None, L.ADFS_REQUIRED),
            ("hardware_token_enabled", None, L.HARDWARE_TOKEN_REQUIRED),
            ("credentials_rejected", None, L.CREDENTIALS_REJECTED),
        ],
    ),
    # The next steps: the ADFS sign-in page and the hardware-token route.
    *_checks(
        L.SIGNING_IN_WITH_ADFS,
        [
            ("user_unknown", None, L.UNKNOWN_USER),
            ("adfs_not_enabled", None, L.WRONG_SIGN_IN_METHOD),
            ("credentials_rejected", None, L.CREDENTIALS_REJECTED),
        ],
    ),
    *_checks(
        L.SIGNING_IN_WITH_HARDWARE_TOKEN,
        [
            ("user_unknown", None, L.UNKNOWN_USER),
            ("hardware_token_not_enabled", None, L.WRONG_SIGN_IN_METHOD),
            ("token_code_mismatch", None, L.TOKEN_CODE_REJECTED),
            ("credentials_rejected", None, L.CREDENTIALS_REJECTED),
        ],
    ),
]


def expected_otp(now: datetime) -> str:
    """The OTP accepted at ``now``: its UTC date as ``%y%m%d``."""
    return now.astimezone(UTC).strftime(OTP_FORMAT)


def otp_at(timestamp: float) -> str:
    """:func:`expected_otp` at a Unix time, from a cache of the last few UTC days.

    Every login asks for it and the answer changes once a day; formatting a datetime each
    time was a visible share of a request.
    """
    return _otp_of_day(int(timestamp // SECONDS_PER_DAY))


SECONDS_PER_DAY = 86400


@functools.lru_cache(maxsize=4)
def _otp_of_day(day: int) -> str:
    # Unix time has no leap seconds: every UTC day starts at a multiple of 86,400.
    return expected_otp(datetime.fromtimestamp(day * SECONDS_PER_DAY, UTC))


def _same(given: str | None, expected: str) -> bool:
    # Constant time, and on bytes: compare_digest refuses non-ASCII str, and a client may send
    # any text as a code.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Account:
    """What the checks need to know about the user an attempt names."""

    password: str
    disabled: bool = False
    otp: bool = False
    adfs: bool = False
    hardware_token: bool = False
    #: The code the user's hardware token shows; None accepts any six digits.
    hardware_token_code: str | None = None


@dataclass(eq=False)
class LoginAttempt:
    """One login request as the checks see it; ``eq=False``: compared by identity, as models."""

    username: str
    password: str | None
    ldap: bool
    otp_code: str | None
    #: The user the username names; None when there is none.
    account: Account | None
    #: The OTP the server accepts at the time of the attempt.
    expected_otp: str
    #: Whether the password must equal the account's (a scenario setting); else any passes.
    check_passwords: bool = False
    #: The route the attempt came through; its checks start in ``START[step]``.
    step: LoginStep = LoginStep.LOGIN
    #: The user's RFC 6238 code at the time of the attempt; None when the user has no secret.
    expected_totp: str | None = None
    #: The code typed from a hardware token (the hardware-token step only).
    token_code: str | None = None
    state: str = INITIAL

    @property
    def outcome(self) -> LoginState | None:
        """Where the attempt stopped; None while its checks are still to run."""
        return _OUTCOMES.get(self.state)

    # -- guards: each holds when its check stops the attempt ----------------------------------
    def user_unknown(self, event: EventData) -> bool:
        return self.account is None

    def otp_missing(self, event: EventData) -> bool:
        # Missing, null and "" all count as not given.
        return self._account.otp and not self.otp_code

    def otp_mismatch(self, event: EventData) -> bool:
        # Exact comparison: " 250911" fails. Users without OTP never see their code checked.
        return self._account.otp and self.otp_code != self.expected_otp

    def totp_accepted(self, event: EventData) -> bool:
        # Exact, like the date code: " 123456" fails.
        if not self._account.otp or self.expected_totp is None:
            return False
        return _same(self.otp_code, self.expected_totp)

    def adfs_enabled(self, event: EventData) -> bool:
        return self._account.adfs

    def hardware_token_enabled(self, event: EventData) -> bool:
        return self._account.hardware_token

    def adfs_not_enabled(self, event: EventData) -> bool:
        return not self._account.adfs

    def hardware_token_not_enabled(self, event: EventData) -> bool:
        return not self._account.hardware_token

    def token_code_mismatch(self, event: EventData) -> bool:
        expected = self._account.hardware_token_code
        if expected is None:
            return ANY_TOKEN_CODE.fullmatch(self.token_code or "") is None
        return not _same(self.token_code, expected)

    def credentials_rejected(self, event: EventData) -> bool:
        # ``ldap`` is ignored, as in the original.
        if not self.password or self._account.disabled:
            return True
        return self.check_passwords and self.password != self._account.password

    @property
    def _account(self) -> Account:
        # Only guards listed after user_unknown read it, and that check stops unknown users.
        assert self.account is not None
        return self.account


def build_login_machine() -> Machine:
    """The one login machine; every attempt runs its checks on it."""
    return build_machine(STATES, TRANSITIONS, INITIAL)


def run_login(machine: Machine, attempt: LoginAttempt) -> LoginState:
    """Run the checks of ``attempt``'s route and return the outcome state it stopped in.

    The attempt takes the machine's ``checked`` event without being added as a model:
    ``add_model`` would bind ~16 names on it (trigger, ``may_*``, ``is_<state>``), whose
    partials hold the attempt in a reference cycle the garbage collector must clear, all for
    an object that takes one trigger and is dropped. What ``add_model``
    does that matters here is done directly: the start state is set through the machine, and
    the event is triggered exactly as the ``attempt.checked`` it binds would
    (``machine.events["checked"].trigger``). So the machine holds no attempts, ever.
    """
    machine.set_state(START[attempt.step].value, model=attempt)
    machine.events[CHECKED].trigger(attempt)
    outcome = attempt.outcome
    if outcome is None:
        raise RuntimeError(f"login checks stopped in {attempt.state}, not in an outcome")
    return outcome
