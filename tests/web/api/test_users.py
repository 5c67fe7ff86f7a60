"""The users API (CONTRACT §3–§4): login, logout and settings, answers checked exactly."""

from __future__ import annotations

import io
import json
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from mockapi.app import MAX_BODY, create_app
from mockapi.domain.scenario import default_scenario_path, parse_scenario
from mockapi.jsonfmt import dumps
from mockapi.keys import CLOCK, RUNTIME, TOKENS
from mockapi.settings import Settings
from mockapi.web.bodies import TokenBody
from tests.answers import (
    ADFS_REQUIRED,
    BODY_TOO_LARGE,
    HARDWARE_TOKEN_REQUIRED,
    INVALID_CREDENTIALS,
    JSON_HEADERS,
    LOGIN,
    LOGOUT,
    OTP_INVALID,
    OTP_REQUIRED,
    PERMISSION_DENIED,
    SETTINGS,
    USER_IDS,
    Answer,
    compact,
    default_client_with,
    expect,
    invalid,
    item,
    login_body,
)
from tests.conftest import SECRET
from tests.helpers import Client, auth, login, today_otp

DEFAULT_TOML = default_scenario_path().read_text(encoding="utf-8")
OK = Answer(200, None)  # a token; checked by expect_token


async def expect_token(resp: ClientResponse, username: str) -> str:
    """A 200 login answer for ``username``: the token body of §4, keys in order."""
    assert resp.status == 200, await resp.text()
    assert resp.headers["content-type"] == "application/json"
    body = await resp.json()
    assert list(body) == ["data"]
    assert list(body["data"]) == ["access_token", "refresh_token", "token_type"]
    assert body["data"]["refresh_token"] == ""
    assert body["data"]["token_type"] == "JWT"
    token: str = body["data"]["access_token"]
    # Scenario time may run ahead of the wall clock, so exp and iat are not checked here.
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["username"] == username
    assert claims["sub"] == USER_IDS[username]
    return token


async def expect_login(resp: ClientResponse, username: str, answer: Answer) -> None:
    if answer is OK:
        await expect_token(resp, username)
    else:
        await expect(resp, answer)


# -- CONTRACT §4's user table: each user x no / good / bad OTP -------------------------------------
USER_TABLE: list[tuple[str, str, Answer]] = [
    ("astravdi", "none", OK),
    ("astravdi", "good", OK),
    ("astravdi", "bad", OK),
    ("user-1", "none", OTP_REQUIRED),
    ("user-1", "good", INVALID_CREDENTIALS),
    ("user-1", "bad", OTP_INVALID),
    ("user-2", "none", OK),
    ("user-2", "good", OK),
    ("user-2", "bad", OK),
    ("user-3", "none", HARDWARE_TOKEN_REQUIRED),
    ("user-3", "good", HARDWARE_TOKEN_REQUIRED),
    ("user-3", "bad", HARDWARE_TOKEN_REQUIRED),
    ("user-4", "none", OTP_REQUIRED),
    ("user-4", "good", OK),
    ("user-4", "bad", OTP_INVALID),
    ("user-5", "none", ADFS_REQUIRED),
    ("user-5", "good", ADFS_REQUIRED),
    ("user-5", "bad", ADFS_REQUIRED),
]


@pytest.mark.parametrize(
    ("username", "otp", "answer"), USER_TABLE, ids=[f"{u}-{o}-otp" for u, o, _ in USER_TABLE]
)
async def test_login_user_table(client: Client, username: str, otp: str, answer: Answer) -> None:
    body = login_body(username)
    if otp == "good":
        body["otp_code"] = today_otp(client)
    elif otp == "bad":
        body["otp_code"] = "000000"
    await expect_login(await client.post(LOGIN, json=body), username, answer)


# -- CONTRACT §3's login rows -------------------------------------------------------------------
@pytest.mark.parametrize(
    "username", ["ghost", "ASTRAVDI", "Astravdi", "astravdi ", " astravdi", ""]
)
async def test_unknown_user_is_401_999_and_usernames_are_case_sensitive(
    client: Client, username: str
) -> None:
    await expect(await client.post(LOGIN, json=login_body(username)), INVALID_CREDENTIALS)


@pytest.mark.parametrize(
    "user_id",
    [USER_IDS["astravdi"], USER_IDS["astravdi"].upper(), USER_IDS["astravdi"].replace("-", "")],
)
async def test_a_user_id_is_not_a_username(client: Client, user_id: str) -> None:
    await expect(await client.post(LOGIN, json=login_body(user_id)), INVALID_CREDENTIALS)


@pytest.mark.parametrize("password", [None, ""], ids=["null", "empty"])
@pytest.mark.parametrize("username", ["astravdi", "user-2"])
async def test_null_or_empty_password_is_401_999(
    client: Client, username: str, password: str | None
) -> None:
    await expect(await client.post(LOGIN, json=login_body(username, password)), INVALID_CREDENTIALS)


async def test_a_null_password_still_gets_the_mfa_answer_first(client: Client) -> None:
    # The client's first step may omit the password (otp_example.png); MFA is asked before it.
    await expect(await client.post(LOGIN, json=login_body("user-4", None)), OTP_REQUIRED)
    await expect(await client.post(LOGIN, json=login_body("user-3", None)), HARDWARE_TOKEN_REQUIRED)


async def test_disabled_user_is_401_999_after_a_good_otp(client: Client) -> None:
    body = login_body("user-1", otp_code=today_otp(client))
    await expect(await client.post(LOGIN, json=body), INVALID_CREDENTIALS)


@pytest.mark.parametrize(
    "otp_body", [{}, {"otp_code": None}, {"otp_code": ""}], ids=["missing", "null", "empty"]
)
async def test_otp_user_without_a_code_is_428_100(client: Client, otp_body: dict[str, Any]) -> None:
    await expect(await client.post(LOGIN, json=login_body("user-4", **otp_body)), OTP_REQUIRED)


@pytest.mark.parametrize("shape", ["{} ", " {}", "{}\n", "0{}", "{}0", "20{}"])
async def test_otp_is_compared_exactly(client: Client, shape: str) -> None:
    body = login_body("user-4", otp_code=shape.format(today_otp(client)))
    await expect(await client.post(LOGIN, json=body), OTP_INVALID)


async def test_mfa_users_may_use_the_otp_to_finish_the_login(client: Client) -> None:
    first = await client.post(LOGIN, json=login_body("user-4", None))
    await expect(first, OTP_REQUIRED)
    second = await client.post(LOGIN, json=login_body("user-4", otp_code=today_otp(client)))
    await expect_token(second, "user-4")


async def test_the_otp_is_the_scenario_clock_date_and_changes_with_it(client: Client) -> None:
    clock = client.app[CLOCK]
    yesterday = today_otp(client)
    clock.advance(86400)
    assert today_otp(client) != yesterday
    stale = await client.post(LOGIN, json=login_body("user-4", otp_code=yesterday))
    await expect(stale, OTP_INVALID)
    fresh = await client.post(LOGIN, json=login_body("user-4", otp_code=today_otp(client)))
    await expect_token(fresh, "user-4")


async def test_the_otp_date_is_utc_and_turns_at_utc_midnight(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await default_client_with(
        aiohttp_client, start=datetime(2025, 9, 11, 23, 59, 59, tzinfo=UTC)
    )
    await expect_token(
        await client.post(LOGIN, json=login_body("user-4", otp_code="250911")), "user-4"
    )
    client.app[CLOCK].advance(1)
    await expect(
        await client.post(LOGIN, json=login_body("user-4", otp_code="250911")), OTP_INVALID
    )
    await expect_token(
        await client.post(LOGIN, json=login_body("user-4", otp_code="250912")), "user-4"
    )


async def test_ldap_is_ignored(client: Client) -> None:
    body = login_body("astravdi") | {"ldap": True}
    await expect_token(await client.post(LOGIN, json=body), "astravdi")


async def test_extra_keys_are_ignored(client: Client) -> None:
    body = login_body("astravdi", remember_me=True, domain="corp", otp_code=None)
    await expect_token(await client.post(LOGIN, json=body), "astravdi")


# -- password checking (a scenario setting) -------------------------------------------------------
@pytest.mark.parametrize("password", ["Bazalt1!", "anything", "x"])
async def test_any_non_empty_password_passes_when_passwords_are_not_checked(
    client: Client, password: str
) -> None:
    assert not client.app[RUNTIME].scenario.settings.check_passwords  # the default scenario
    await expect_token(await client.post(LOGIN, json=login_body("astravdi", password)), "astravdi")


@pytest.mark.parametrize(
    ("password", "answer"),
    [
        ("Bazalt1!", OK),
        ("bazalt1!", INVALID_CREDENTIALS),
        ("wrong", INVALID_CREDENTIALS),
        ("", INVALID_CREDENTIALS),
        (None, INVALID_CREDENTIALS),
    ],
    ids=["right", "wrong-case", "wrong", "empty", "null"],
)
async def test_the_password_must_match_when_the_scenario_checks_passwords(
    aiohttp_client: AiohttpClient, password: str | None, answer: Answer
) -> None:
    client = await default_client_with(aiohttp_client, check_passwords=True)
    resp = await client.post(LOGIN, json=login_body("astravdi", password))
    await expect_login(resp, "astravdi", answer)


async def test_checked_passwords_come_after_the_mfa_checks(aiohttp_client: AiohttpClient) -> None:
    client = await default_client_with(aiohttp_client, check_passwords=True)
    await expect(
        await client.post(LOGIN, json=login_body("user-3", "wrong")), HARDWARE_TOKEN_REQUIRED
    )
    await expect(await client.post(LOGIN, json=login_body("user-4", "wrong")), OTP_REQUIRED)
    wrong = login_body("user-4", "wrong", otp_code=today_otp(client))
    await expect(await client.post(LOGIN, json=wrong), INVALID_CREDENTIALS)
    right = login_body("user-4", "Bazalt1!", otp_code=today_otp(client))
    await expect_token(await client.post(LOGIN, json=right), "user-4")


# -- validation (422) ----------------------------------------------------------------------------
async def test_missing_fields_are_listed_in_field_order_with_the_whole_body(client: Client) -> None:
    await expect(
        await client.post(LOGIN, json={}),
        invalid(
            item("missing", ["body", "username"], "Field required", {}),
            item("missing", ["body", "password"], "Field required", {}),
            item("missing", ["body", "ldap"], "Field required", {}),
        ),
    )


async def test_password_is_a_required_key_even_though_it_may_be_null(client: Client) -> None:
    body = {"username": "astravdi", "ldap": False}
    await expect(
        await client.post(LOGIN, json=body),
        invalid(item("missing", ["body", "password"], "Field required", body)),
    )


async def test_ldap_is_required(client: Client) -> None:
    body = {"username": "astravdi", "password": "x", "otp_code": None}
    await expect(
        await client.post(LOGIN, json=body),
        invalid(item("missing", ["body", "ldap"], "Field required", body)),
    )


async def test_wrong_types_are_all_listed(client: Client) -> None:
    body = {"username": 1, "password": 2, "ldap": "maybe", "otp_code": 3}
    await expect(
        await client.post(LOGIN, json=body),
        invalid(
            item("string_type", ["body", "username"], "Input should be a valid string", 1),
            item("string_type", ["body", "password"], "Input should be a valid string", 2),
            item(
                "bool_parsing",
                ["body", "ldap"],
                "Input should be a valid boolean, unable to interpret input",
                "maybe",
            ),
            item("string_type", ["body", "otp_code"], "Input should be a valid string", 3),
        ),
    )


@pytest.mark.parametrize("username", [None, ["astravdi"], {"name": "astravdi"}, True])
async def test_username_must_be_a_string(client: Client, username: Any) -> None:
    await expect(
        await client.post(LOGIN, json=login_body("x") | {"username": username}),
        invalid(
            item("string_type", ["body", "username"], "Input should be a valid string", username)
        ),
    )


@pytest.mark.parametrize("ldap", ["yes", "true", "on", 1, "1", "True", "no", "false", "off", 0])
async def test_ldap_accepts_pydantic_lax_booleans(client: Client, ldap: Any) -> None:
    body = login_body("astravdi") | {"ldap": ldap}
    await expect_token(await client.post(LOGIN, json=body), "astravdi")


async def test_ldap_maybe_is_bool_parsing(client: Client) -> None:
    await expect(
        await client.post(LOGIN, json=login_body("astravdi") | {"ldap": "maybe"}),
        invalid(
            item(
                "bool_parsing",
                ["body", "ldap"],
                "Input should be a valid boolean, unable to interpret input",
                "maybe",
            )
        ),
    )


async def test_ldap_null_is_bool_type(client: Client) -> None:
    await expect(
        await client.post(LOGIN, json=login_body("astravdi") | {"ldap": None}),
        invalid(item("bool_type", ["body", "ldap"], "Input should be a valid boolean", None)),
    )


async def test_ldap_2_is_bool_parsing(client: Client) -> None:
    await expect(
        await client.post(LOGIN, json=login_body("astravdi") | {"ldap": 2}),
        invalid(
            item(
                "bool_parsing",
                ["body", "ldap"],
                "Input should be a valid boolean, unable to interpret input",
                2,
            )
        ),
    )


async def test_a_missing_body_is_one_missing_item_with_null_input(client: Client) -> None:
    missing = invalid(item("missing", ["body"], "Field required", None))
    await expect(await client.post(LOGIN), missing)
    await expect(await client.post(LOGIN, data=b"", headers=JSON_HEADERS), missing)


async def test_a_json_null_body_counts_as_missing(client: Client) -> None:
    await expect(
        await client.post(LOGIN, data=b"null", headers=JSON_HEADERS),
        invalid(item("missing", ["body"], "Field required", None)),
    )


@pytest.mark.parametrize(
    ("raw", "offset", "error"),
    [
        (b'{"username":', 12, "Expecting value"),
        (b"{'username': 'astravdi'}", 1, "Expecting property name enclosed in double quotes"),
        (b'{"username": "astravdi",}', 24, "Expecting property name enclosed in double quotes"),
        (b'{"username" "astravdi"}', 12, "Expecting ':' delimiter"),
        (b"not json", 0, "Expecting value"),
        (b'{"a":1} trailing', 8, "Extra data"),
        # Python 3.13 words trailing commas differently; the answer must not change with it.
        (b"[1, ]", 4, "Expecting value"),
    ],
)
async def test_invalid_json_is_json_invalid_at_the_char_offset(
    client: Client, raw: bytes, offset: int, error: str
) -> None:
    await expect(
        await client.post(LOGIN, data=raw, headers=JSON_HEADERS),
        invalid(item("json_invalid", ["body", offset], "JSON decode error", {}, {"error": error})),
    )


async def test_the_offset_counts_characters_not_bytes(client: Client) -> None:
    raw = '{"username": "пользователь", }'.encode()
    await expect(
        await client.post(LOGIN, data=raw, headers=JSON_HEADERS),
        invalid(
            item(
                "json_invalid",
                ["body", 29],
                "JSON decode error",
                {},
                {"error": "Expecting property name enclosed in double quotes"},
            )
        ),
    )


NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


@pytest.mark.parametrize("body", [[], [1, 2], "astravdi", 42, True])
async def test_a_json_body_that_is_not_an_object_is_model_attributes_type(
    client: Client, body: Any
) -> None:
    await expect(
        await client.post(LOGIN, json=body),
        invalid(item("model_attributes_type", ["body"], NOT_AN_OBJECT, body)),
    )


async def test_a_form_encoded_body_is_model_attributes_type(client: Client) -> None:
    resp = await client.post(LOGIN, data={"username": "astravdi", "password": "x", "ldap": "0"})
    await expect(
        resp,
        invalid(
            item(
                "model_attributes_type",
                ["body"],
                NOT_AN_OBJECT,
                "username=astravdi&password=x&ldap=0",
            )
        ),
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "text/json"])
async def test_json_under_another_content_type_is_model_attributes_type(
    client: Client, content_type: str
) -> None:
    raw = compact(login_body("astravdi"))
    resp = await client.post(LOGIN, data=raw.encode(), headers={"content-type": content_type})
    await expect(resp, invalid(item("model_attributes_type", ["body"], NOT_AN_OBJECT, raw)))


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
async def test_json_content_types_are_parsed(client: Client, content_type: str) -> None:
    raw = compact(login_body("astravdi")).encode()
    resp = await client.post(LOGIN, data=raw, headers={"content-type": content_type})
    await expect_token(resp, "astravdi")


async def test_a_body_without_content_type_is_parsed_as_json(client: Client) -> None:
    raw = compact(login_body("astravdi")).encode()
    resp = await client.post(LOGIN, data=raw, skip_auto_headers=["content-type"])
    await expect_token(resp, "astravdi")


async def test_non_utf8_json_is_json_invalid_not_500(client: Client) -> None:
    resp = await client.post(LOGIN, data=b'{"username":"\xff"}', headers=JSON_HEADERS)
    await expect(
        resp,
        invalid(
            item(
                "json_invalid",
                ["body", 13],
                "JSON decode error",
                {},
                {"error": "Invalid UTF-8 byte"},
            )
        ),
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"\xff\xfe\x00",
        b"\x00\x00\x00",
        b"\xc3\x28",
        b'{"username":"\xed\xa0\x80"}',
        b"\x80" * 100,
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_arbitrary_bytes_are_a_422_never_a_500(
    client: Client, raw: bytes, content_type: str | None
) -> None:
    if content_type is None:
        resp = await client.post(LOGIN, data=raw, skip_auto_headers=["content-type"])
    else:
        resp = await client.post(LOGIN, data=raw, headers={"content-type": content_type})
    assert resp.status == 422, await resp.text()
    assert resp.headers["content-type"] == "application/json"
    errors = (await resp.json())["detail"]
    assert errors
    for error in errors:
        assert error["loc"][0] == "body"
        assert list(error)[-1] == "err_code"


async def test_a_body_over_1_mib_is_413_in_the_error_shape(client: Client) -> None:
    raw = io.BytesIO(b'{"username":"' + b"a" * MAX_BODY + b'"}')
    await expect(await client.post(LOGIN, data=raw, headers=JSON_HEADERS), BODY_TOO_LARGE)


async def test_a_body_of_exactly_1_mib_is_not_too_large(client: Client) -> None:
    prefix = b'{"username":"astravdi","password":"x","ldap":false,"pad":"'
    raw = prefix + b"a" * (MAX_BODY - len(prefix) - 2) + b'"}'
    assert len(raw) == MAX_BODY == 1024 * 1024
    resp = await client.post(LOGIN, data=io.BytesIO(raw), headers=JSON_HEADERS)
    await expect_token(resp, "astravdi")


# -- logout ------------------------------------------------------------------------------------
async def test_logout_is_205_with_an_empty_body(client: Client) -> None:
    token = await login(client)
    resp = await client.post(LOGOUT, headers=auth(token))
    assert resp.status == 205
    assert await resp.read() == b""
    assert resp.headers["content-length"] == "0"


async def test_logout_revokes_that_token(client: Client) -> None:
    token = await login(client)
    assert (await client.post(LOGOUT, headers=auth(token))).status == 205
    await expect(await client.get(SETTINGS, headers=auth(token)), PERMISSION_DENIED)
    await expect(await client.post(LOGOUT, headers=auth(token)), PERMISSION_DENIED)


async def test_logout_revokes_only_that_token(client: Client) -> None:
    first = await login(client)
    second = await login(client)
    assert first != second
    assert (await client.post(LOGOUT, headers=auth(first))).status == 205
    assert (await client.get(SETTINGS, headers=auth(second))).status == 200
    other_user = await login(client, "user-2")
    assert (await client.get(SETTINGS, headers=auth(other_user))).status == 200


async def test_logging_in_again_after_logout_gives_a_working_token(client: Client) -> None:
    token = await login(client)
    assert (await client.post(LOGOUT, headers=auth(token))).status == 205
    again = await login(client)
    assert (await client.get(SETTINGS, headers=auth(again))).status == 200


async def test_logout_ignores_its_body(client: Client) -> None:
    token = await login(client)
    resp = await client.post(LOGOUT, data=b"{not json", headers={**auth(token), **JSON_HEADERS})
    assert resp.status == 205


async def test_anonymous_logout_is_403(client: Client) -> None:
    await expect(await client.post(LOGOUT), PERMISSION_DENIED)


# -- settings ----------------------------------------------------------------------------------
def settings_text(otp: bool = False, adfs: bool = False, hardware_token: bool = False) -> str:
    def js(flag: bool) -> str:
        return "true" if flag else "false"

    return (
        '{"data":{"general":{"admin_mode_enabled":false,"file_logging_enabled":false,'
        '"default_remote_protocol":1,"last_pool_autoconnect_enabled":false,'
        '"automatically_install_updates_enabled":true,'
        '"documentation_url":"https://spacevm.ru/client-docs/latest/"},'
        f'"security":{{"otp_enabled":{js(otp)},"adfs_enabled":{js(adfs)},'
        f'"hardware_token_enabled":{js(hardware_token)},"domain_username_format_enabled":false,'
        '"sc_permissions":[]},'
        '"net":{"network_timeout":15,"ws_channels":[{"channel":"api/v2/pools/ws/","event":"pool_update"}]},'
        '"protocols":[{"id":1,"name":"GLINT","version":"1.0.0","image_format":"BGRX32","fps":30,'
        '"keep_session_enabled":false,"full_screen_enabled":true,"multi_screen_enabled":false,'
        '"scale_image_enabled":true,"full_image_redraw_enabled":false,'
        '"hardware_acceleration_options":{"hardware_acceleration_enabled":false,'
        '"video_compression_codec":"AVC420","h264_bitrate_mbs":3},"audio_playback_mode":"CLIENT"}]}}'
    )


def test_the_default_settings_text_is_the_contract_body() -> None:
    # Copied from CONTRACT §4, so the builder above cannot drift from it.
    assert settings_text() == (
        '{"data":{"general":{"admin_mode_enabled":false,"file_logging_enabled":false,"default_remote_protocol":1,"last_pool_autoconnect_enabled":false,"automatically_install_updates_enabled":true,"documentation_url":"https://spacevm.ru/client-docs/latest/"},"security":{"otp_enabled":false,"adfs_enabled":false,"hardware_token_enabled":false,"domain_username_format_enabled":false,"sc_permissions":[]},"net":{"network_timeout":15,"ws_channels":[{"channel":"api/v2/pools/ws/","event":"pool_update"}]},"protocols":[{"id":1,"name":"GLINT","version":"1.0.0","image_format":"BGRX32","fps":30,"keep_session_enabled":false,"full_screen_enabled":true,"multi_screen_enabled":false,"scale_image_enabled":true,"full_image_redraw_enabled":false,"hardware_acceleration_options":{"hardware_acceleration_enabled":false,"video_compression_codec":"AVC420","h264_bitrate_mbs":3},"audio_playback_mode":"CLIENT"}]}}'
    )


SETTINGS_BY_USER = [
    ("astravdi", {}),
    ("user-2", {}),
    ("user-3", {"hardware_token": True}),
    ("user-4", {"otp": True}),
    ("user-5", {"adfs": True}),
]


@pytest.mark.parametrize(
    ("username", "flags"), SETTINGS_BY_USER, ids=[u for u, _ in SETTINGS_BY_USER]
)
async def test_settings_are_constant_but_for_the_users_mfa_flags(
    client: Client, username: str, flags: dict[str, bool]
) -> None:
    # user-3 and user-5 cannot finish a login yet (their MFA routes come later), so their
    # tokens are issued directly; auth accepts any genuine token of an enabled user.
    roles = ["admin", "user"] if username == "astravdi" else ["user"]
    token = client.app[TOKENS].issue(uuid.UUID(USER_IDS[username]), username, roles)
    resp = await client.get(SETTINGS, headers=auth(token))
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert await resp.text() == settings_text(**flags)


async def test_settings_after_a_real_login(client: Client) -> None:
    token = await login(client, "user-4", otp=today_otp(client))
    resp = await client.get(SETTINGS, headers=auth(token))
    assert resp.status == 200
    assert await resp.text() == settings_text(otp=True)


#: A world whose upstream answers other settings: every part of the body but the MFA flags.
CLIENT_SETTINGS_TOML = """
[client_settings.general]
admin_mode_enabled = true
default_remote_protocol = 2
documentation_url = "https://docs.example.test/client/"

[client_settings.security]
domain_username_format_enabled = true
sc_permissions = ["USB", "PRINTER"]

[client_settings.net]
network_timeout = 45
ws_channels = [
  { channel = "api/v2/pools/ws/", event = "pool_update" },
  { channel = "api/v2/tasks/ws/", event = "task_update" },
]

[[client_settings.protocols]]
id = 2
name = "RDP"
version = "10.0"
fps = 60
hardware_acceleration_options = { hardware_acceleration_enabled = true, h264_bitrate_mbs = 8 }

[[client_settings.protocols]]
id = 1
audio_playback_mode = "SERVER"
"""


def custom_settings_text(otp: bool) -> str:
    flag = "true" if otp else "false"
    return (
        '{"data":{"general":{"admin_mode_enabled":true,"file_logging_enabled":false,'
        '"default_remote_protocol":2,"last_pool_autoconnect_enabled":false,'
        '"automatically_install_updates_enabled":true,'
        '"documentation_url":"https://docs.example.test/client/"},'
        f'"security":{{"otp_enabled":{flag},"adfs_enabled":false,"hardware_token_enabled":false,'
        '"domain_username_format_enabled":true,"sc_permissions":["USB","PRINTER"]},'
        '"net":{"network_timeout":45,"ws_channels":['
        '{"channel":"api/v2/pools/ws/","event":"pool_update"},'
        '{"channel":"api/v2/tasks/ws/","event":"task_update"}]},'
        '"protocols":[{"id":2,"name":"RDP","version":"10.0","image_format":"BGRX32","fps":60,'
        '"keep_session_enabled":false,"full_screen_enabled":true,"multi_screen_enabled":false,'
        '"scale_image_enabled":true,"full_image_redraw_enabled":false,'
        '"hardware_acceleration_options":{"hardware_acceleration_enabled":true,'
        '"video_compression_codec":"AVC420","h264_bitrate_mbs":8},"audio_playback_mode":"CLIENT"},'
        '{"id":1,"name":"GLINT","version":"1.0.0","image_format":"BGRX32","fps":30,'
        '"keep_session_enabled":false,"full_screen_enabled":true,"multi_screen_enabled":false,'
        '"scale_image_enabled":true,"full_image_redraw_enabled":false,'
        '"hardware_acceleration_options":{"hardware_acceleration_enabled":false,'
        '"video_compression_codec":"AVC420","h264_bitrate_mbs":3},"audio_playback_mode":"SERVER"}'
        "]}}"
    )


async def test_a_scenarios_client_settings_are_the_body_and_the_mfa_flags_stay_each_users(
    aiohttp_client: AiohttpClient,
) -> None:
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data |= tomllib.loads(CLIENT_SETTINGS_TOML)
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    client = await aiohttp_client(app)
    astravdi = await login(client)
    resp = await client.get(SETTINGS, headers=auth(astravdi))
    assert (resp.status, await resp.text()) == (200, custom_settings_text(otp=False))
    user_4 = await login(client, "user-4", otp=today_otp(client))
    resp = await client.get(SETTINGS, headers=auth(user_4))
    assert (resp.status, await resp.text()) == (200, custom_settings_text(otp=True))


async def test_a_new_scenario_brings_its_client_settings_and_the_default_world_the_originals(
    client: Client,
) -> None:
    resp = await client.put(
        "/service/scenario/",
        data=DEFAULT_TOML + CLIENT_SETTINGS_TOML,
        headers={"content-type": "application/toml"},
    )
    assert resp.status == 200, await resp.text()
    token = await login(client)
    assert await (await client.get(SETTINGS, headers=auth(token))).text() == (
        custom_settings_text(otp=False)
    )
    resp = await client.put(
        "/service/scenario/", data=DEFAULT_TOML, headers={"content-type": "application/toml"}
    )
    assert resp.status == 200, await resp.text()
    token = await login(client)
    assert await (await client.get(SETTINGS, headers=auth(token))).text() == settings_text()


def readme_example(title: str) -> str:
    """The first TOML block of a scenarios/README.md section."""
    text = (Path(__file__).resolve().parents[3] / "scenarios" / "README.md").read_text("utf-8")
    section = text.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


async def test_the_readme_example_of_client_settings_is_what_a_user_is_answered(
    client: Client,
) -> None:
    example = readme_example("## `[client_settings]`")
    resp = await client.put(
        "/service/scenario/",
        data=DEFAULT_TOML + example,
        headers={"content-type": "application/toml"},
    )
    assert resp.status == 200, await resp.text()
    token = await login(client)
    data = (await (await client.get(SETTINGS, headers=auth(token))).json())["data"]
    default = json.loads(settings_text())["data"]
    assert data["general"] == default["general"] | {
        "last_pool_autoconnect_enabled": True,
        "documentation_url": "https://docs.example.test/client/",
    }
    assert data["security"] == default["security"] | {
        "domain_username_format_enabled": True,
        "sc_permissions": ["USB", "PRINTER"],
    }
    assert data["net"] == default["net"] | {"network_timeout": 45}
    glint = default["protocols"][0]
    accelerated = glint["hardware_acceleration_options"] | {
        "hardware_acceleration_enabled": True,
        "h264_bitrate_mbs": 8,
    }
    assert data["protocols"] == [
        glint | {"hardware_acceleration_options": accelerated},
        glint | {"id": 2, "name": "RDP", "version": "10.0"},
    ]


async def test_anonymous_settings_is_403(client: Client) -> None:
    await expect(await client.get(SETTINGS), PERMISSION_DENIED)


async def test_a_lone_surrogate_in_the_input_is_echoed_as_an_escape_not_a_500(
    client: Client,
) -> None:
    resp = await client.post(LOGIN, data=b'{"username":"\\ud800"}', headers=JSON_HEADERS)
    assert resp.status == 422
    assert resp.headers["content-type"] == "application/json"
    assert await resp.text() == (
        '{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required",'
        '"input":{"username":"\\ud800"},"err_code":999},'
        '{"type":"missing","loc":["body","ldap"],"msg":"Field required",'
        '"input":{"username":"\\ud800"},"err_code":999}]}'
    )


async def test_the_login_body_is_the_token_body_model_byte_for_byte(client: Client) -> None:
    # The handler answers a dict for speed; the model is the documented schema.
    resp = await client.post(LOGIN, json=login_body("astravdi"))
    raw = await resp.read()
    token = (await resp.json())["data"]["access_token"]
    model = TokenBody.model_validate(
        {"data": {"access_token": token, "refresh_token": "", "token_type": "JWT"}}
    )
    assert raw == dumps(model.model_dump(mode="json"))
    assert resp.headers["Content-Type"] == "application/json"
