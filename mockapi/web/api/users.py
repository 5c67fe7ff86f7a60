"""The users API (CONTRACT §4): login, logout and the client settings.

Login feeds the request into the login machine and maps the outcome state to an answer; the
order of the checks lives in :mod:`mockapi.statemachines.login`, not here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from mockapi.domain.errors import (
    ADFS_REQUIRED,
    HARDWARE_TOKEN_REQUIRED,
    INVALID_CREDENTIALS,
    OTP_INVALID,
    OTP_REQUIRED,
    ApiError,
    ErrorSpec,
)
from mockapi.domain.scenario import ClientSettingsSection, UserFields, user_fields
from mockapi.domain.world import User
from mockapi.keys import CLOCK, LOGIN_MACHINE, RUNTIME, TOKENS
from mockapi.statemachines.login import (
    Account,
    LoginAttempt,
    LoginState,
    LoginStep,
    otp_at,
    run_login,
)
from mockapi.web.auth import USER_KEY, authenticate
from mockapi.web.bodies import SettingsBody
from mockapi.web.responses import fast_json_response, model_response
from mockapi.web.validation import parse_body


class LoginBody(BaseModel):
    """The login body; ``password`` may be null but must be present. Extra keys are ignored."""

    # The default scenario's users: a plain login, and an OTP user's first step (428/100).
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"username": "astravdi", "password": "Bazalt1!", "ldap": False},
                {"username": "user-4", "password": "Bazalt1!", "ldap": False, "otp_code": None},
            ]
        }
    )

    username: str
    password: str | None
    ldap: bool
    otp_code: str | None = None


#: The answer of every outcome but success, one to one. The last two are reached only from
#: the hardware-token step (the ADFS page answers with itself), listed so the map is total.
REFUSALS: dict[LoginState, ErrorSpec] = {
    LoginState.UNKNOWN_USER: INVALID_CREDENTIALS,
    LoginState.OTP_REQUIRED: OTP_REQUIRED,
    LoginState.OTP_REJECTED: OTP_INVALID,
    LoginState.ADFS_REQUIRED: ADFS_REQUIRED,
    LoginState.HARDWARE_TOKEN_REQUIRED: HARDWARE_TOKEN_REQUIRED,
    LoginState.CREDENTIALS_REJECTED: INVALID_CREDENTIALS,
    LoginState.WRONG_SIGN_IN_METHOD: INVALID_CREDENTIALS,
    LoginState.TOKEN_CODE_REJECTED: OTP_INVALID,
}


def _account(user: User, fields: UserFields | None) -> Account:
    return Account(
        password=user.password,
        disabled=user.disabled,
        otp=user.otp,
        adfs=user.adfs,
        hardware_token=user.hardware_token,
        hardware_token_code=fields.hardware_token_code if fields else None,
    )


def totp_code(secret: str, now: datetime) -> str:
    """The RFC 6238 code of ``secret`` at ``now`` (SHA-1, 6 digits, 30-s steps, as apps use)."""
    # Imported here, the one place that uses it: only scenarios with TOTP users need it, and
    # the server should not pay for it at start-up.
    import pyotp

    return pyotp.TOTP(secret).at(now)


def run_attempt(
    app: web.Application,
    username: str,
    password: str | None,
    *,
    step: LoginStep = LoginStep.LOGIN,
    ldap: bool = False,
    otp_code: str | None = None,
    token_code: str | None = None,
) -> tuple[LoginState, User | None]:
    """Run the login machine on one request of any login step; the outcome and the user.

    Every route that logs a user in comes through here, so the codes accepted now are
    computed in one place, from the scenario clock.
    """
    runtime = app[RUNTIME]
    # By username only and case-sensitively: the world's lookup also takes ids, login must not.
    user = runtime.world.users_by_name.get(username)
    # Unix seconds: a datetime is made only for a TOTP user, and the date code is cached per day.
    now = app[CLOCK].time()
    account = None
    expected_totp = None
    if user is not None:
        # The MFA secrets live in the scenario entry the user was built from; only MFA users
        # have any to look up.
        fields = None
        if user.otp or user.hardware_token:
            fields = user_fields(runtime.scenario, user.username, user.id)
        account = _account(user, fields)
        if user.otp and fields is not None and fields.otp_secret is not None:
            expected_totp = totp_code(fields.otp_secret, datetime.fromtimestamp(now, UTC))
    attempt = LoginAttempt(
        username=username,
        password=password,
        ldap=ldap,
        otp_code=otp_code,
        account=account,
        expected_otp=otp_at(now),
        check_passwords=runtime.scenario.settings.check_passwords,
        step=step,
        expected_totp=expected_totp,
        token_code=token_code,
    )
    outcome = run_login(app[LOGIN_MACHINE], attempt)
    runtime.note_login(username, user, outcome.value)
    return outcome, user


def token_body(request: web.Request, user: User) -> dict[str, Any]:
    """The login's 200 body with a new token for ``user``, the same on every login step.

    A dict in the shape of :class:`~mockapi.web.bodies.TokenBody` (the OpenAPI schema; a test
    holds the two equal), not the model: every login builds one, and the model and its dump
    cost more than the dict through :func:`fast_json_response` (no floats in it).
    """
    request[USER_KEY] = user.username  # the journal attributes a successful login to its user
    token = request.app[TOKENS].issue(user.id, user.username, user.roles)
    return {"data": {"access_token": token, "refresh_token": "", "token_type": "JWT"}}


async def login(request: web.Request) -> web.Response:
    """Run the login checks; 200 with a token, or the refusal of the check that stopped it."""
    body = await parse_body(request, LoginBody)
    outcome, user = run_attempt(
        request.app, body.username, body.password, ldap=body.ldap, otp_code=body.otp_code
    )
    if outcome is not LoginState.AUTHENTICATED:
        raise ApiError(REFUSALS[outcome])
    assert user is not None  # the machine authenticates known users only
    return fast_json_response(token_body(request, user))


async def logout(request: web.Request) -> web.Response:
    """Revoke the caller's token (the original did nothing, so a client never saw logout work)."""
    identity = authenticate(request)
    request.app[TOKENS].revoke(identity.token, identity.claims.exp)
    return web.Response(status=205)


def settings_body(user: User, client: ClientSettingsSection) -> SettingsBody:
    """The scenario's ``[client_settings]`` (by default the original's constant body), with the
    three MFA flags of ``user``."""
    return SettingsBody.of(
        client,
        otp_enabled=user.otp,
        adfs_enabled=user.adfs,
        hardware_token_enabled=user.hardware_token,
    )


async def user_settings(request: web.Request) -> web.Response:
    """The client settings of the caller."""
    identity = authenticate(request)
    client = request.app[RUNTIME].scenario.client_settings
    return model_response(settings_body(identity.user, client))
