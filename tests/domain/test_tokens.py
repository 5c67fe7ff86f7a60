"""The access token (CONTRACT §4, §10): header, claims in order, exp on the scenario clock."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain._jwt import sign
from mockapi.domain.clock import Clock
from mockapi.domain.tokens import TokenService
from mockapi.keys import CLOCK
from mockapi.settings import Settings
from tests.answers import (
    LOGIN,
    PERMISSION_DENIED,
    SETTINGS,
    USER_IDS,
    default_client_with,
    expect,
    login_body,
)
from tests.conftest import SECRET
from tests.helpers import Client, auth, login, today_otp

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


def test_every_token_has_its_own_jti_of_32_hex_digits() -> None:
    tokens = TokenService(SECRET.encode(), Clock())
    user_id = uuid.UUID(USER_IDS["astravdi"])
    jtis = [claims_of(tokens.issue(user_id, "astravdi", ["user"]))["jti"] for _ in range(100)]
    assert all(len(jti) == 32 and set(jti) <= set("0123456789abcdef") for jti in jtis)
    assert len(set(jtis)) == len(jtis)


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


# -- the verified-token cache ------------------------------------------------------------------
def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the tokens that go through PyJWT's decode."""
    calls: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return calls


def service() -> TokenService:
    return TokenService(SECRET.encode(), Clock(start=1_800_000_000.0, mode="manual"))


def test_a_token_goes_through_pyjwt_once_then_is_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issued by another service with the same key (a restart with --jwt-secret, say).
    token = service().issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["admin", "user"])
    tokens = service()
    calls = counting_decode(monkeypatch)
    first, second = tokens.verify(token), tokens.verify(token)
    assert first is not None
    assert second == first
    assert calls == [token]


def test_a_token_this_service_issued_is_known_without_pyjwt_and_as_pyjwt_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = service()
    token = tokens.issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["admin", "user"])
    calls = counting_decode(monkeypatch)
    known = tokens.verify(token)
    assert calls == []
    assert known is not None
    assert known == service().verify(token)  # what a fresh service decodes through PyJWT
    assert calls == [token]


def test_an_issued_token_whose_sub_is_not_a_uuid4_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As before the issued-token shortcut: the claims require a version-4 sub.
    tokens = service()
    token = tokens.issue(uuid.uuid1(), "astravdi", ["user"])
    calls = counting_decode(monkeypatch)
    assert tokens.verify(token) is None
    assert calls == [token]


def test_a_remembered_token_still_expires_on_the_scenario_clock() -> None:
    clock = Clock(start=1_800_000_000.0, mode="manual")
    tokens = TokenService(SECRET.encode(), clock)
    token = tokens.issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["user"], ttl_s=60)
    assert tokens.verify(token) is not None
    clock.advance(60)
    assert tokens.verify(token) is None


def test_a_remembered_token_can_still_be_revoked() -> None:
    tokens = service()
    token = tokens.issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["user"])
    claims = tokens.verify(token)
    assert claims is not None
    tokens.revoke(token, claims.exp)
    assert tokens.verify(token) is None


def test_a_refused_token_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = service()
    token = tokens.issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["user"])
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    calls = counting_decode(monkeypatch)
    assert tokens.verify(forged) is None
    assert tokens.verify(forged) is None
    assert calls == [forged, forged]


@pytest.mark.parametrize(
    "client_id", [USER_IDS["user-2"], USER_IDS["astravdi"].upper(), USER_IDS["astravdi"][:-1]]
)
def test_a_token_whose_client_id_is_not_its_sub_is_refused(
    client_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 2: the check is made when the token is decoded, and such a token is not remembered.
    tokens = service()
    genuine = claims_of(tokens.issue(uuid.UUID(USER_IDS["astravdi"]), "astravdi", ["user"]))
    token = sign(genuine | {"client_id": client_id}, SECRET.encode())
    calls = counting_decode(monkeypatch)
    assert tokens.verify(token) is None
    assert tokens.verify(token) is None
    assert calls == [token, token]


def test_the_cache_is_bounded_and_forgets_the_oldest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = service()
    tokens.verified_capacity = 2
    user = uuid.UUID(USER_IDS["astravdi"])
    first, second, third = (tokens.issue(user, "astravdi", ["user"]) for _ in range(3))
    for token in (first, second, third):
        assert tokens.verify(token) is not None
    calls = counting_decode(monkeypatch)
    assert tokens.verify(third) is not None
    assert tokens.verify(second) is not None
    assert calls == []
    assert tokens.verify(first) is not None  # forgotten: verified again, and still genuine
    assert calls == [first]


# -- signing -----------------------------------------------------------------------------------
