"""Login: the checks of CONTRACT §4, in order, as one machine.

Every check is a state; the one event ``checked`` leaves it, either to the outcome the check
stops at (a guarded transition listed first) or on to the next check::

    looking_up_user          --checked[user_unknown]-----------> unknown_user            401/999
    checking_otp_given       --checked[otp_missing]------------> otp_required            428/100
    verifying_otp            --checked[otp_mismatch]-----------> otp_rejected            401/103
    checking_adfs            --checked[adfs_enabled]-----------> adfs_required           428/101
    checking_hardware_token  --checked[hardware_token_enabled]-> hardware_token_required 428/102
    checking_credentials     --checked[credentials_rejected]---> credentials_rejected    401/999
                             --checked-------------------------> authenticated           200

transitions tries a trigger's transitions in the order they were added, so the order of
:data:`TRANSITIONS` *is* the order of the checks. A new check (an ADFS or hardware-token
step, TOTP) is two more rows and an outcome state; the handler maps outcome states to answers
and never re-derives the flow. The machine reads no clock: the attempt carries the OTP the
server accepts now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

#: The OTP is the server's date in this format (``250911``), as the original emulates TOTP.
OTP_FORMAT = "%y%m%d"


class LoginState(StrEnum):
    # The checks, in the order they run.
    LOOKING_UP_USER = "looking_up_user"
    CHECKING_OTP_GIVEN = "checking_otp_given"
    VERIFYING_OTP = "verifying_otp"
    CHECKING_ADFS = "checking_adfs"
    CHECKING_HARDWARE_TOKEN = "checking_hardware_token"
    CHECKING_CREDENTIALS = "checking_credentials"
    # The outcomes, one per answer.
    UNKNOWN_USER = "unknown_user"
    OTP_REQUIRED = "otp_required"
    OTP_REJECTED = "otp_rejected"
    ADFS_REQUIRED = "adfs_required"
    HARDWARE_TOKEN_REQUIRED = "hardware_token_required"
    CREDENTIALS_REJECTED = "credentials_rejected"
    AUTHENTICATED = "authenticated"


L = LoginState

CHECK_STATES = (
    L.LOOKING_UP_USER,
    L.CHECKING_OTP_GIVEN,
    L.VERIFYING_OTP,
    L.CHECKING_ADFS,
    L.CHECKING_HARDWARE_TOKEN,
    L.CHECKING_CREDENTIALS,
)
OUTCOME_STATES = frozenset(L) - frozenset(CHECK_STATES)

STATES = [state.value for state in LoginState]
INITIAL = L.LOOKING_UP_USER.value

#: The one event: the current check ran (its guard decides where the attempt goes).
CHECKED = "checked"
TRIGGERS = [CHECKED]


def _check(
    state: LoginState, stops_if: str, outcome: LoginState, then: LoginState
) -> list[dict[str, Any]]:
    """One check: to ``outcome`` when ``stops_if`` holds, else on to ``then``."""
    return [
        {"trigger": CHECKED, "source": state.value, "dest": outcome.value, "conditions": stops_if},
        {"trigger": CHECKED, "source": state.value, "dest": then.value},
    ]


TRANSITIONS: list[dict[str, Any]] = [
    *_check(L.LOOKING_UP_USER, "user_unknown", L.UNKNOWN_USER, L.CHECKING_OTP_GIVEN),
    *_check(L.CHECKING_OTP_GIVEN, "otp_missing", L.OTP_REQUIRED, L.VERIFYING_OTP),
    *_check(L.VERIFYING_OTP, "otp_mismatch", L.OTP_REJECTED, L.CHECKING_ADFS),
    *_check(L.CHECKING_ADFS, "adfs_enabled", L.ADFS_REQUIRED, L.CHECKING_HARDWARE_TOKEN),
    *_check(
        L.CHECKING_HARDWARE_TOKEN,
        "hardware_token_enabled",
        L.HARDWARE_TOKEN_REQUIRED,
        L.CHECKING_CREDENTIALS,
    ),
    *_check(
        L.CHECKING_CREDENTIALS, "credentials_rejected", L.CREDENTIALS_REJECTED, L.AUTHENTICATED
    ),
]


def expected_otp(now: datetime) -> str:
    """The OTP accepted at ``now``: its UTC date as ``%y%m%d``."""
    return now.astimezone(UTC).strftime(OTP_FORMAT)


@dataclass(frozen=True, slots=True)
class Account:
    """What the checks need to know about the user an attempt names."""

    password: str
    disabled: bool = False
    otp: bool = False
    adfs: bool = False
    hardware_token: bool = False


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
    state: str = INITIAL

    @property
    def outcome(self) -> LoginState | None:
        """Where the attempt stopped; None while a check is still to run."""
        state = LoginState(self.state)
        return state if state in OUTCOME_STATES else None

    # -- guards: each is "this check stops the attempt here" ---------------------------------
    def user_unknown(self, event: EventData) -> bool:
        return self.account is None

    def otp_missing(self, event: EventData) -> bool:
        # Missing, null and "" all count as not given.
        return self._account.otp and not self.otp_code

    def otp_mismatch(self, event: EventData) -> bool:
        # Exact comparison: " 250911" fails. Users without OTP never see their code checked.
        return self._account.otp and self.otp_code != self.expected_otp

    def adfs_enabled(self, event: EventData) -> bool:
        return self._account.adfs

    def hardware_token_enabled(self, event: EventData) -> bool:
        return self._account.hardware_token

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
    return Machine(
        model=None,
        states=STATES,
        transitions=TRANSITIONS,
        initial=INITIAL,
        send_event=True,
        auto_transitions=False,
    )


def run_login(machine: Machine, attempt: LoginAttempt) -> LoginState:
    """Run the checks on ``attempt`` and return the outcome state it stopped in.

    The attempt is a model of ``machine`` only while its checks run, so the machine holds no
    attempts between requests.
    """
    machine.add_model(attempt)
    try:
        # Every check moves the attempt forward, so the checks end in at most this many steps.
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
