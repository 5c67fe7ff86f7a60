"""The access token (CONTRACT §4, §10): header, claims in order, exp on the scenario clock."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.keys import CLOCK
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client, auth, login, today_otp
from tests.mockapi.answers import (
    LOGIN,
    PERMISSION_DENIED,
    SETTINGS,
    USER_IDS,
    default_client_with,
    expect,
    login_body,
)

CLAIM_ORDER = ["sub", "username", "exp", "roles", "client_id", "domain"]


def segment(token: str, index: int) -> bytes:
    """A token segment, base64url-decoded, exactly as sent."""
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def claims_of(token: str) -> dict[str, Any]:
    """The payload as sent: key order kept, numbers as written."""
    payload: dict[str, Any] = json.loads(segment(token, 1))
    return payload


async def test_the_header_is_hs256_jwt(client: Client) -> None:
    token = await login(client)
    assert segment(token, 0) == b'{"alg":"HS256","typ":"JWT"}'
    assert token.count(".") == 2


async def test_the_claims_are_the_originals_in_order(client: Client) -> None:
    now = client.app[CLOCK].time()
    claims = claims_of(await login(client))
    assert list(claims)[:6] == CLAIM_ORDER
    assert set(list(claims)[6:]) <= {"iat", "jti"}  # mockapi may add these
    assert {key: claims[key] for key in CLAIM_ORDER} == {
        "sub": USER_IDS["astravdi"],
        "username": "astravdi",
        "exp": now + 86400,
        "roles": ["admin", "user"],
        "client_id": USER_IDS["astravdi"],
        "domain": None,
    }


async def test_exp_is_a_float_24_hours_after_now_on_the_scenario_clock(client: Client) -> None:
    clock = client.app[CLOCK]
    clock.advance(12345.678)  # scenario time, not the wall clock
    now = clock.time()
    exp = claims_of(await login(client))["exp"]
    assert isinstance(exp, float)
    assert exp == now + 86400


async def test_client_id_is_sub_and_domain_is_null(client: Client) -> None:
    claims = claims_of(await login(client, "user-4", otp=today_otp(client)))
    assert claims["sub"] == claims["client_id"] == USER_IDS["user-4"]
    assert claims["domain"] is None
    assert claims["roles"] == ["user"]


async def test_sub_is_the_dashed_lowercase_user_id(client: Client) -> None:
    sub = claims_of(await login(client, "user-2"))["sub"]
    assert sub == "e8d8dd14-cb09-4099-b96e-a83c6b09496c"


async def test_the_token_is_signed_with_the_configured_secret(client: Client) -> None:
    token = await login(client)
    decoded = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert decoded == claims_of(token)


async def test_each_login_issues_a_new_token(client: Client) -> None:
    assert await login(client) != await login(client)


async def test_the_token_body_has_an_empty_refresh_token(client: Client) -> None:
    resp = await client.post(LOGIN, json=login_body("astravdi"))
    data = (await resp.json())["data"]
    assert list(data) == ["access_token", "refresh_token", "token_type"]
    assert data["refresh_token"] == ""
    assert data["token_type"] == "JWT"


async def test_the_lifetime_is_a_scenario_setting(aiohttp_client: AiohttpClient) -> None:
    client = await default_client_with(aiohttp_client, token_ttl_s=60)
    now = client.app[CLOCK].time()
    token = await login(client)
    assert claims_of(token)["exp"] == now + 60
    client.app[CLOCK].advance(59)
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200
    client.app[CLOCK].advance(1)
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


async def test_without_a_configured_secret_each_server_has_its_own(
    aiohttp_client: AiohttpClient,
) -> None:
    # CONTRACT §10: a random 32-byte secret per process, never the original's "super-secret".
    first = await aiohttp_client(create_app(Settings(clock="manual")))
    second = await aiohttp_client(create_app(Settings(clock="manual")))
    token = await login(first)
    assert (await first.get(SETTINGS, headers=auth(token))).status == 200
    await expect(await second.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)
    with pytest.raises(jwt.InvalidSignatureError), pytest.warns(InsecureKeyLengthWarning):
        jwt.decode(token, "super-secret", algorithms=["HS256"])
