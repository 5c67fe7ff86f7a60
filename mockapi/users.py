"""The users API (CONTRACT §4): login, logout and the client settings.

Login feeds the request into the login machine and maps the outcome state to an answer; the
order of the checks lives in :mod:`statemachines.login`, not here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from mockapi.auth import authenticate
from mockapi.errors import (
    ADFS_REQUIRED,
    HARDWARE_TOKEN_REQUIRED,
    INVALID_CREDENTIALS,
    OTP_INVALID,
    OTP_REQUIRED,
    ApiError,
    ErrorSpec,
)
from mockapi.keys import CLOCK, LOGIN_MACHINE, RUNTIME, TOKENS
from mockapi.responses import json_response
from mockapi.validation import parse_body
from mockapi.world import User
from statemachines.login import Account, LoginAttempt, LoginState, expected_otp, run_login


class LoginBody(BaseModel):
    """The login body; ``password`` may be null but must be present. Extra keys are ignored."""

    username: str
    password: str | None
    ldap: bool
    otp_code: str | None = None


#: The answer of every outcome but success, one to one.
REFUSALS: dict[LoginState, ErrorSpec] = {
    LoginState.UNKNOWN_USER: INVALID_CREDENTIALS,
    LoginState.OTP_REQUIRED: OTP_REQUIRED,
    LoginState.OTP_REJECTED: OTP_INVALID,
    LoginState.ADFS_REQUIRED: ADFS_REQUIRED,
    LoginState.HARDWARE_TOKEN_REQUIRED: HARDWARE_TOKEN_REQUIRED,
    LoginState.CREDENTIALS_REJECTED: INVALID_CREDENTIALS,
}


def _account(user: User | None) -> Account | None:
    if user is None:
        return None
    return Account(
        password=user.password,
        disabled=user.disabled,
        otp=user.otp,
        adfs=user.adfs,
        hardware_token=user.hardware_token,
    )


async def login(request: web.Request) -> web.Response:
    """Run the login checks; 200 with a token, or the refusal of the check that stopped it."""
    body = await parse_body(request, LoginBody)
    runtime = request.app[RUNTIME]
    # By username only and case-sensitively: the world's lookup also takes ids, login must not.
    user = runtime.world.users_by_name.get(body.username)
    attempt = LoginAttempt(
        username=body.username,
        password=body.password,
        ldap=body.ldap,
        otp_code=body.otp_code,
        account=_account(user),
        expected_otp=expected_otp(request.app[CLOCK].now()),
        check_passwords=runtime.scenario.settings.check_passwords,
    )
    outcome = run_login(request.app[LOGIN_MACHINE], attempt)
    if outcome is not LoginState.AUTHENTICATED:
        raise ApiError(REFUSALS[outcome])
    assert user is not None  # the machine authenticates known users only
    token = request.app[TOKENS].issue(user.id, user.username, user.roles)
    return json_response(
        {"data": {"access_token": token, "refresh_token": "", "token_type": "JWT"}}
    )


async def logout(request: web.Request) -> web.Response:
    """Revoke the caller's token (the original did nothing, so a client never saw logout work)."""
    identity = authenticate(request)
    request.app[TOKENS].revoke(identity.token, identity.claims.exp)
    return web.Response(status=205)


def settings_body(user: User) -> dict[str, Any]:
    """The original's constant settings; only the three MFA flags come from the user."""
    return {
        "data": {
            "general": {
                "admin_mode_enabled": False,
                "file_logging_enabled": False,
                "default_remote_protocol": 1,
                "last_pool_autoconnect_enabled": False,
                "automatically_install_updates_enabled": True,
                "documentation_url": "https://spacevm.ru/client-docs/latest/",
            },
            "security": {
                "otp_enabled": user.otp,
                "adfs_enabled": user.adfs,
                "hardware_token_enabled": user.hardware_token,
                "domain_username_format_enabled": False,
                "sc_permissions": [],
            },
            "net": {
                "network_timeout": 15,
                "ws_channels": [{"channel": "api/v2/pools/ws/", "event": "pool_update"}],
            },
            "protocols": [
                {
                    "id": 1,
                    "name": "GLINT",
                    "version": "1.0.0",
                    "image_format": "BGRX32",
                    "fps": 30,
                    "keep_session_enabled": False,
                    "full_screen_enabled": True,
                    "multi_screen_enabled": False,
                    "scale_image_enabled": True,
                    "full_image_redraw_enabled": False,
                    "hardware_acceleration_options": {
                        "hardware_acceleration_enabled": False,
                        "video_compression_codec": "AVC420",
                        "h264_bitrate_mbs": 3,
                    },
                    "audio_playback_mode": "CLIENT",
                }
            ],
        }
    }


async def user_settings(request: web.Request) -> web.Response:
    """The client settings of the caller."""
    identity = authenticate(request)
    return json_response(settings_body(identity.user))
