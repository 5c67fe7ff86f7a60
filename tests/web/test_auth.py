"""Authentication of JWT routes (CONTRACT §4): every failure is the same 403/999."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse
from jwt.warnings import InsecureKeyLengthWarning

from mockapi.keys import CLOCK
from tests.answers import (
    JSON_HEADERS,
    LOGOUT,
    PERMISSION_DENIED,
    SETTINGS,
    USER_IDS,
    expect,
)
from tests.conftest import SECRET
from tests.helpers import Client, auth, login

#: The JWT routes of this issue; pools and tasks routes reuse the same ``authenticate``.
ROUTES = [("GET", SETTINGS), ("POST", LOGOUT)]
ROUTE_IDS = ["settings", "logout"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(
    client: Client, username: str = "astravdi", roles: list[str] | None = None
) -> dict[str, Any]:
    """Claims as the server issues them, valid for a day of scenario time."""
    sub = USER_IDS[username]
    return {
        "sub": sub,
        "username": username,
        "exp": client.app[CLOCK].time() + 86400,
        "roles": roles if roles is not None else ["user"],
        "client_id": sub,
        "domain": None,
    }


def sign(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> ClientResponse:
    return await client.request(method, path, headers=headers)


# -- the header ------------------------------------------------------------------------------
async def test_a_genuine_token_is_accepted(client: Client) -> None:
    token = await login(client)
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200


async def test_the_header_name_is_case_insensitive(client: Client) -> None:
    token = await login(client)
    assert (await client.get(SETTINGS, headers={"authorization": f"JWT {token}"})).status == 200


HEADER_VARIANTS = {
    "bearer": "Bearer {t}",
    "lowercase jwt": "jwt {t}",
    "upper-lower Jwt": "Jwt {t}",
    "no prefix": "{t}",
    "double space": "JWT  {t}",
    "third part": "JWT {t} extra",
    "tab instead of space": "JWT\t{t}",
    "prefix only": "JWT",
    "prefix and space only": "JWT ",
    "empty value": "",
    "token twice": "JWT {t} JWT {t}",
    "basic": "Basic {t}",
}


@pytest.mark.parametrize("template", HEADER_VARIANTS.values(), ids=HEADER_VARIANTS.keys())
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_only_exactly_jwt_space_token_is_accepted(
    client: Client, method: str, path: str, template: str
) -> None:
    token = await login(client)
    headers = {"Authorization": template.format(t=token)}
    await expect(await call(client, method, path, headers), PERMISSION_DENIED)
    # The refusal did not spend the token.
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_no_header_is_403(client: Client, method: str, path: str) -> None:
    await expect(await call(client, method, path, {}), PERMISSION_DENIED)


@pytest.mark.parametrize("cookie", ["JWT {t}", "JWT={t}", "token={t}"])
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_a_cookie_is_not_accepted_on_http_routes(
    client: Client, method: str, path: str, cookie: str
) -> None:
    token = await login(client)
    await expect(
        await call(client, method, path, {"Cookie": cookie.format(t=token)}), PERMISSION_DENIED
    )


# -- the token -------------------------------------------------------------------------------
async def test_a_token_signed_here_with_the_server_claims_is_accepted(client: Client) -> None:
    # Control for the forgeries below: the same claims, properly signed, pass.
    token = sign(claims_of(client))
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200


async def test_alg_none_is_refused(client: Client) -> None:
    header = b64(b'{"alg":"none","typ":"JWT"}')
    payload = b64(json.dumps(claims_of(client)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_other_algorithms_are_refused_even_with_the_right_secret(
    client: Client, algorithm: str
) -> None:
    # The test secret is too short for these (pyjwt warns); the server refuses them anyway.
    with pytest.warns(InsecureKeyLengthWarning):
        token = sign(claims_of(client), algorithm=algorithm)
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


async def test_a_forged_signature_is_refused(client: Client) -> None:
    forged = sign(claims_of(client), secret="super-secret-of-the-original-mock-xx")
    await expect(await client.get(SETTINGS, headers=auth(forged)), PERMISSION_DENIED)


async def test_the_originals_hard_coded_secret_is_refused(client: Client) -> None:
    # CONTRACT §10: the original signed with "super-secret"; anyone could forge tokens.
    with pytest.warns(InsecureKeyLengthWarning):
        forged = sign(claims_of(client), secret="super-secret")
    await expect(await client.get(SETTINGS, headers=auth(forged)), PERMISSION_DENIED)


async def test_a_tampered_payload_is_refused(client: Client) -> None:
    token = await login(client, "user-2")
    header, _, signature = token.split(".")
    payload = b64(json.dumps(claims_of(client, "astravdi", ["admin", "user"])).encode())
    tampered = f"{header}.{payload}.{signature}"
    await expect(await client.get(SETTINGS, headers=auth(tampered)), PERMISSION_DENIED)


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "....", "eyJ.eyJ.sig", "é.é.é"])
async def test_garbage_tokens_are_refused(client: Client, garbage: str) -> None:
    await expect(await client.get(SETTINGS, headers=auth(garbage)), PERMISSION_DENIED)


async def test_an_expired_token_is_refused(client: Client) -> None:
    token = await login(client)
    client.app[CLOCK].advance(86401)
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


async def test_a_token_lives_24_hours_of_scenario_time(client: Client) -> None:
    token = await login(client)
    client.app[CLOCK].advance(86399)
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200
    client.app[CLOCK].advance(1)  # exp must be in the future: at exp it is refused
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


async def test_an_integer_exp_is_accepted(client: Client) -> None:
    claims = claims_of(client) | {"exp": int(client.app[CLOCK].time()) + 3600}
    assert (await client.get(SETTINGS, headers=auth(sign(claims)))).status == 200


@pytest.mark.parametrize("claim", ["sub", "username", "exp", "roles", "client_id", "domain"])
async def test_a_token_missing_a_claim_is_refused(client: Client, claim: str) -> None:
    claims = claims_of(client)
    del claims[claim]
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


BAD_CLAIMS = {
    "sub not a uuid": {"sub": "astravdi"},
    "sub a uuid1": {"sub": "a8098c1a-f86e-11da-bd1a-00112444be1e"},
    "sub a number": {"sub": 7},
    "roles a string": {"roles": "admin"},
    "roles null": {"roles": None},
    "exp a word": {"exp": "tomorrow"},
    "exp null": {"exp": None},
    "username null": {"username": None},
    "client_id null": {"client_id": None},
    "domain a number": {"domain": 1},
}


@pytest.mark.parametrize("change", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
async def test_claims_that_do_not_fit_the_model_are_refused(
    client: Client, change: dict[str, Any]
) -> None:
    claims = claims_of(client) | change
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_sub_must_be_the_users_id(client: Client) -> None:
    # CONTRACT §10: the original took the user from the username claim alone.
    claims = claims_of(client) | {"sub": USER_IDS["user-2"], "client_id": USER_IDS["user-2"]}
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_client_id_must_equal_sub(client: Client) -> None:
    claims = claims_of(client) | {"client_id": USER_IDS["user-2"]}
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_client_id_must_be_sub_as_issued_dashed_lowercase(client: Client) -> None:
    # The WebSocket route compares its path with client_id, so only the issued spelling passes.
    claims = claims_of(client)
    claims["sub"] = claims["sub"].upper()
    claims["client_id"] = claims["sub"]
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_a_disabled_user_is_refused(client: Client) -> None:
    token = sign(claims_of(client, "user-1"))
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)


async def test_an_unknown_user_is_refused(client: Client) -> None:
    sub = str(uuid.uuid4())
    claims = claims_of(client) | {"username": "ghost", "sub": sub, "client_id": sub}
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_the_user_is_found_by_username_case_sensitively(client: Client) -> None:
    claims = claims_of(client) | {"username": "ASTRAVDI"}
    await expect(await client.get(SETTINGS, headers=auth(sign(claims))), PERMISSION_DENIED)


async def test_a_revoked_token_is_refused_everywhere(client: Client) -> None:
    token = await login(client)
    assert (await client.post(LOGOUT, headers=auth(token))).status == 205
    for method, path in ROUTES:
        await expect(await call(client, method, path, auth(token)), PERMISSION_DENIED)


async def test_a_token_of_another_server_is_refused(client: Client) -> None:
    other = sign(claims_of(client), secret="another-server-secret-of-32-bytes-or-more")
    await expect(await client.get(SETTINGS, headers=auth(other)), PERMISSION_DENIED)


# -- authentication before validation --------------------------------------------------------
BAD_BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "invalid json": (b"{not json", JSON_HEADERS),
    "array": (b"[1,2]", JSON_HEADERS),
    "text": (b"hello", {"content-type": "text/plain"}),
    "non-utf8": (b"\xff\xfe", JSON_HEADERS),
}


@pytest.mark.parametrize(("raw", "headers"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_anonymous_requests_with_a_bad_body_get_403_not_422(
    client: Client, method: str, path: str, raw: bytes, headers: dict[str, str]
) -> None:
    resp = await client.request(method, path, data=raw, headers=headers)
    await expect(resp, PERMISSION_DENIED)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=ROUTE_IDS)
async def test_a_bad_prefix_with_a_bad_body_is_403_not_422(
    client: Client, method: str, path: str
) -> None:
    token = await login(client)
    headers = {"Authorization": f"Bearer {token}", **JSON_HEADERS}
    resp = await client.request(method, path, data=b"{not json", headers=headers)
    await expect(resp, PERMISSION_DENIED)
