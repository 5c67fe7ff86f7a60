"""Login: the checks of CONTRACT §4, in order, as one machine, and the MFA steps that finish it.

Every check is a state; the one event ``checked`` leaves it, either to where the check sends
the attempt (a guarded transition listed first) or on to the next check::

    looking_up_user          --checked[user_unknown]-----------> unknown_user            401/999
                             --checked[via_adfs]---------------> signing_in_with_adfs
                             --checked[via_hardware_token]-----> signing_in_with_hardware_token
    checking_otp_given       --checked[otp_missing]------------> otp_required            428/100
    verifying_totp           --checked[totp_accepted]----------> checking_adfs
    verifying_otp            --checked[otp_mismatch]-----------> otp_rejected            401/103
    checking_adfs            --checked[adfs_enabled]-----------> adfs_required           428/101
    checking_hardware_token  --checked[hardware_token_enabled]-> hardware_token_required 428/102
                             --checked-------------------------> checking_credentials

    signing_in_with_adfs            --checked[adfs_not_enabled]-----------> wrong_sign_in_method
                                    --checked-----------------------------> checking_credentials
    signing_in_with_hardware_token  --checked[hardware_token_not_enabled]-> wrong_sign_in_method
    verifying_token_code            --checked[token_code_mismatch]--------> token_code_rejected
                                    --checked-----------------------------> checking_credentials

    checking_credentials     --checked[credentials_rejected]---> credentials_rejected    401/999
                             --checked-------------------------> authenticated           200

The first block is ``POST /users/login/``. The ADFS sign-in page and the hardware-token route
(the ``next_step`` targets of the 428 answers) run the same machine with another
:class:`LoginStep`: they skip the MFA questions the login asks and check the answer to their
own, then meet the login at the credentials check, so disabled users and checked passwords
behave alike on every path.

TOTP (RFC 6238, for users whose scenario has an ``otp_secret``) is tried before the date
code: a code that is today's TOTP skips the date check; anything else still gets the date
check, so the original's date code keeps working for every OTP user.

transitions tries a trigger's transitions in the order they were added, so the order of
:data:`TRANSITIONS` *is* the order of the checks. The handlers map outcome states to answers
and never re-derive the flow. The machine reads no clock: the attempt carries the codes the
server accepts now.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from statemachines.registry import build_machine

#: The OTP is the server's date in this format (``250911``), as the original emulates TOTP.
OTP_FORMAT = "%y%m%d"

#: A hardware-token user without a scenario code accepts any six ASCII digits.
ANY_TOKEN_CODE = re.compile(r"[0-9]{6}")


class LoginState(StrEnum):
    # The checks, in the order they run.
    LOOKING_UP_USER = "looking_up_user"
    CHECKING_OTP_GIVEN = "checking_otp_given"
    VERIFYING_TOTP = "verifying_totp"
    VERIFYING_OTP = "verifying_otp"
    CHECKING_ADFS = "checking_adfs"
    CHECKING_HARDWARE_TOKEN = "checking_hardware_token"
    SIGNING_IN_WITH_ADFS = "signing_in_with_adfs"
    SIGNING_IN_WITH_HARDWARE_TOKEN = "signing_in_with_hardware_token"
    VERIFYING_TOKEN_CODE = "verifying_token_code"
    CHECKING_CREDENTIALS = "checking_credentials"
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

CHECK_STATES = (
    L.LOOKING_UP_USER,
    L.CHECKING_OTP_GIVEN,
    L.VERIFYING_TOTP,
    L.VERIFYING_OTP,
    L.CHECKING_ADFS,
    L.CHECKING_HARDWARE_TOKEN,
    L.SIGNING_IN_WITH_ADFS,
    L.SIGNING_IN_WITH_HARDWARE_TOKEN,
    L.VERIFYING_TOKEN_CODE,
    L.CHECKING_CREDENTIALS,
)
OUTCOME_STATES = frozenset(L) - frozenset(CHECK_STATES)

STATES = [state.value for state in LoginState]
INITIAL = L.LOOKING_UP_USER.value

#: The one event: the current check ran (its guard decides where the attempt goes).
CHECKED = "checked"
TRIGGERS = [CHECKED]


def _branch(
    state: LoginState, branches: list[tuple[str, LoginState]], otherwise: LoginState
) -> list[dict[str, Any]]:
    """One check: to the first branch whose guard holds, else on to ``otherwise``."""
    return [
        *(
            {"trigger": CHECKED, "source": state.value, "dest": dest.value, "conditions": guard}
            for guard, dest in branches
        ),
        {"trigger": CHECKED, "source": state.value, "dest": otherwise.value},
    ]


def _check(
    state: LoginState, stops_if: str, outcome: LoginState, then: LoginState
) -> list[dict[str, Any]]:
    """One check: to ``outcome`` when ``stops_if`` holds, else on to ``then``."""
    return _branch(state, [(stops_if, outcome)], then)


TRANSITIONS: list[dict[str, Any]] = [
    *_branch(
        L.LOOKING_UP_USER,
        [
            ("user_unknown", L.UNKNOWN_USER),
            ("via_adfs", L.SIGNING_IN_WITH_ADFS),
            ("via_hardware_token", L.SIGNING_IN_WITH_HARDWARE_TOKEN),
        ],
        L.CHECKING_OTP_GIVEN,
    ),
    # POST /users/login/: the MFA questions, in CONTRACT §4's order.
    *_check(L.CHECKING_OTP_GIVEN, "otp_missing", L.OTP_REQUIRED, L.VERIFYING_TOTP),
    *_branch(L.VERIFYING_TOTP, [("totp_accepted", L.CHECKING_ADFS)], L.VERIFYING_OTP),
    *_check(L.VERIFYING_OTP, "otp_mismatch", L.OTP_REJECTED, L.CHECKING_ADFS),
    *_check(L.CHECKING_ADFS, "adfs_enabled", L.ADFS_REQUIRED, L.CHECKING_HARDWARE_TOKEN),
    *_check(
        L.CHECKING_HARDWARE_TOKEN,
        "hardware_token_enabled",
        L.HARDWARE_TOKEN_REQUIRED,
        L.CHECKING_CREDENTIALS,
    ),
    # The next steps: the ADFS sign-in page and the hardware-token route.
    *_check(
        L.SIGNING_IN_WITH_ADFS, "adfs_not_enabled", L.WRONG_SIGN_IN_METHOD, L.CHECKING_CREDENTIALS
    ),
    *_check(
        L.SIGNING_IN_WITH_HARDWARE_TOKEN,
        "hardware_token_not_enabled",
        L.WRONG_SIGN_IN_METHOD,
        L.VERIFYING_TOKEN_CODE,
    ),
    *_check(
        L.VERIFYING_TOKEN_CODE,
        "token_code_mismatch",
        L.TOKEN_CODE_REJECTED,
        L.CHECKING_CREDENTIALS,
    ),
    # Every path ends here.
    *_check(
        L.CHECKING_CREDENTIALS, "credentials_rejected", L.CREDENTIALS_REJECTED, L.AUTHENTICATED
    ),
]


def expected_otp(now: datetime) -> str:
    """The OTP accepted at ``now``: its UTC date as ``%y%m%d``."""
    return now.astimezone(UTC).strftime(OTP_FORMAT)


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
    """One login request as the checks see it; ``eq=False`` so every attempt registers."""

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
    #: The route the attempt came through.
    step: LoginStep = LoginStep.LOGIN
    #: The user's RFC 6238 code at the time of the attempt; None when the user has no secret.
    expected_totp: str | None = None
    #: The code typed from a hardware token (the hardware-token step only).
    token_code: str | None = None
    state: str = INITIAL

    @property
    def outcome(self) -> LoginState | None:
        """Where the attempt stopped; None while a check is still to run."""
        state = LoginState(self.state)
        return state if state in OUTCOME_STATES else None

    # -- guards: each says where this check sends the attempt ---------------------------------
    def user_unknown(self, event: EventData) -> bool:
        return self.account is None

    def via_adfs(self, event: EventData) -> bool:
        return self.step is LoginStep.ADFS

    def via_hardware_token(self, event: EventData) -> bool:
        return self.step is LoginStep.HARDWARE_TOKEN

    def otp_missing(self, event: EventData) -> bool:
        # Missing, null and "" all count as not given.
        return self._account.otp and not self.otp_code

    def totp_accepted(self, event: EventData) -> bool:
        # Exact, like the date code: " 123456" fails. A miss falls through to the date check.
        if not self._account.otp or self.expected_totp is None:
            return False
        return _same(self.otp_code, self.expected_totp)

    def otp_mismatch(self, event: EventData) -> bool:
        # Exact comparison: " 250911" fails. Users without OTP never see their code checked.
        return self._account.otp and self.otp_code != self.expected_otp

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
        # Only guards after the user lookup read it, and the lookup stops unknown users.
        assert self.account is not None
        return self.account

    if TYPE_CHECKING:
        # Bound by the machine in add_model; declared for type checkers only, since
        # transitions will not replace an attribute the model already has.
        def checked(self) -> bool: ...
        def trigger(self, name: str, **kwargs: Any) -> bool: ...
        def may_trigger(self, name: str) -> bool: ...


def build_login_machine() -> Machine:
    """The one login machine; each attempt is added as a model for the time of its checks."""
    return build_machine(STATES, TRANSITIONS, INITIAL)


def run_login(machine: Machine, attempt: LoginAttempt) -> LoginState:
    """Run the checks on ``attempt`` and return the outcome state it stopped in.

    The attempt is a model of ``machine`` only while its checks run, so the machine holds no
    attempts between requests.
    """
    machine.add_model(attempt)
    try:
        # No path visits a check twice, so the checks end in at most this many steps.
        for _ in CHECK_STATES:
            if attempt.outcome is not None:
                break
            attempt.checked()
        outcome = attempt.outcome
        if outcome is None:
            raise RuntimeError(f"login checks stopped in {attempt.state}, not in an outcome")
        return outcome
    finally:
        machine.remove_model(attempt)
