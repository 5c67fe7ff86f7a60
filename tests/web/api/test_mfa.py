"""The MFA next steps (CONTRACT §3, §10): the ADFS page, the hardware-token route, real TOTP.

Time moves only through the scenario clock (``CLOCK.advance``); no test sleeps.
"""

from __future__ import annotations

import html
import io
import re
import tomllib
from datetime import UTC, datetime
from typing import Any

import jwt
import pyotp
import pytest
from aiohttp import ClientResponse, FormData
from pytest_aiohttp import AiohttpClient
from yarl import URL

from mockapi.app import MAX_BODY, create_app
from mockapi.domain.scenario import ScenarioError, parse_scenario, shipped_scenarios
from mockapi.keys import CLOCK
from mockapi.settings import Settings
from mockapi.statemachines.login import OUTCOME_STATES, LoginState
from mockapi.web.api.mfa import BAD_CREDENTIALS, NOT_ADFS, UNREADABLE_FORM, redirect_uri_problem
from mockapi.web.api.users import REFUSALS
from tests.answers import (
    BODY_TOO_LARGE,
    HARDWARE_TOKEN_REQUIRED,
    INVALID_CREDENTIALS,
    JSON_HEADERS,
    LOGIN,
    OTP_INVALID,
    SETTINGS,
    compact,
    expect,
    invalid,
    item,
    login_body,
)
from tests.conftest import SECRET
from tests.helpers import Client, auth, today_otp

ADFS = "/api/v2/users/adfs/"
HARDWARE_TOKEN = "/api/v2/users/hardware_token/"
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}

#: On a 30-s step boundary, so "29 s later" is the same step and "30 s later" the next.
START = datetime(2026, 11, 25, 7, 45, 0, tzinfo=UTC)
TOTP_SECRET = "AYCJPOPRPLAK3KRCJTFSZFUZWPSBQQYZ"  # the totp user of scenarios/mfa.toml

IDS = {
    "plain": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e01",
    "otp": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e02",
    "adfs": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e03",
    "hardware": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e04",
    "totp": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e07",
    "hardware-fixed": "3f6c1d2e-8a9b-4c0d-9e1f-2a3b4c5d6e08",
    "adfs-disabled": "5b1e7d0c-0000-4000-8000-000000000001",
    "hardware-disabled": "5b1e7d0c-0000-4000-8000-000000000002",
}

#: Users only the tests need, added to the shipped mfa.toml.
EXTRA_USERS: list[dict[str, Any]] = [
    {
        "id": IDS["adfs-disabled"],
        "username": "adfs-disabled",
        "password": "adfs-disabled-password",
        "adfs": True,
        "disabled": True,
    },
    {
        "id": IDS["hardware-disabled"],
        "username": "hardware-disabled",
        "password": "hardware-disabled-password",
        "hardware_token": True,
        "disabled": True,
    },
]


def mfa_scenario_data() -> dict[str, Any]:
    """scenarios/mfa.toml (passwords checked) on a fixed start, plus the disabled MFA users."""
    path = next(p for p in shipped_scenarios() if p.name == "mfa.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["settings"]["start"] = START
    data["users"].extend(EXTRA_USERS)
    return data


async def client_for(aiohttp_client: AiohttpClient, data: dict[str, Any]) -> Client:
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    return await aiohttp_client(app)


@pytest.fixture
async def mfa(aiohttp_client: AiohttpClient) -> Client:
    """A client for the MFA scenario on a manual clock at :data:`START`."""
    return await client_for(aiohttp_client, mfa_scenario_data())


# -- helpers -----------------------------------------------------------------------------------
def claims_of(token: str) -> dict[str, Any]:
    # Scenario time runs ahead of the wall clock here, so exp and iat are not checked.
    claims: dict[str, Any] = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    return claims


async def expect_token(resp: ClientResponse, username: str) -> str:
    """The login's 200 body (§4), keys in order, with a token for ``username``."""
    assert resp.status == 200, await resp.text()
    assert resp.headers["content-type"] == "application/json"
    body = await resp.json()
    assert list(body) == ["data"]
    assert list(body["data"]) == ["access_token", "refresh_token", "token_type"]
    assert body["data"]["refresh_token"] == ""
    assert body["data"]["token_type"] == "JWT"
    token: str = body["data"]["access_token"]
    claims = claims_of(token)
    assert claims["username"] == username
    if username in IDS:
        assert claims["sub"] == IDS[username]
    return token


ERROR = re.compile(r'<p class="error" id="error" role="alert">(.*?)</p>', re.S)


async def expect_page(
    resp: ClientResponse, status: int, error: str | None = None, *, form: bool = True
) -> str:
    """The sign-in page with ``status``, showing exactly ``error`` (or none); its HTML."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert "Location" not in resp.headers
    found = ERROR.search(text)
    if error is None:
        assert found is None, found
    else:
        assert found is not None, text
        assert html.unescape(found.group(1)) == error
    assert ('<form method="post" action="/api/v2/users/adfs/"' in text) is form
    return text


def field_value(page: str, name: str) -> str | None:
    """The (unescaped) value of the input called ``name``; None when there is no such input."""
    found = re.search(rf'<input [^>]*name="{name}"[^>]*?(?: value="([^"]*)")?[^>]*>', page)
    if found is None:
        return None
    return html.unescape(found.group(1) or "")


def form(**fields: str) -> dict[str, str]:
    return fields


#: The fragment a finished ADFS login appends: exactly the token (a JWT) and its type.
FRAGMENT = re.compile(
    r"#access_token=([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)&token_type=JWT"
)


# -- the page ----------------------------------------------------------------------------------
async def test_the_page_renders_with_the_username_and_redirect_uri(client: Client) -> None:
    resp = await client.get(ADFS, params={"username": "user-5", "redirect_uri": "spaceclient://cb"})
    page = await expect_page(resp, 200)
    assert field_value(page, "username") == "user-5"
    assert field_value(page, "redirect_uri") == "spaceclient://cb"
    assert field_value(page, "password") == ""  # present, never prefilled
    # Nothing loaded from elsewhere (closed networks) and no script at all.
    assert re.search(r"\b(src|href)=", page) is None
    assert "<script" not in page


async def test_the_page_renders_without_parameters(client: Client) -> None:
    page = await expect_page(await client.get(ADFS), 200)
    assert field_value(page, "username") == ""
    assert field_value(page, "redirect_uri") is None


async def test_the_page_escapes_what_it_echoes(client: Client) -> None:
    username = "<script>alert(1)</script>\"'&"
    redirect = 'https://client.example/cb?x="><script>alert(2)</script>'
    resp = await client.get(ADFS, params={"username": username, "redirect_uri": redirect})
    page = await expect_page(resp, 200)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;" in page
    assert field_value(page, "username") == username
    assert field_value(page, "redirect_uri") == redirect


async def test_a_failed_submit_escapes_the_username_it_shows_again(mfa: Client) -> None:
    username = '"><script>alert(1)</script>'
    resp = await mfa.post(ADFS, data=form(username=username, password="x"))
    page = await expect_page(resp, 401, BAD_CREDENTIALS)
    assert "<script>" not in page
    assert field_value(page, "username") == username


@pytest.mark.parametrize(
    "query",
    [
        "username=%FF",  # not UTF-8
        "username=%ED%A0%80",  # an encoded lone surrogate
        "username=a%00b",
        "username=" + "x" * 5000,
        "username=a&username=b&redirect_uri=",
        "redirect_uri",  # a key without "="
        "%",
    ],
)
async def test_odd_queries_never_give_a_500(client: Client, query: str) -> None:
    resp = await client.get(URL(f"{ADFS}?{query}", encoded=True))
    await expect_page(resp, 200)


async def test_a_repeated_parameter_answers_its_last_value(client: Client) -> None:
    resp = await client.get(URL(f"{ADFS}?username=a&username=b", encoded=True))
    assert field_value(await expect_page(resp, 200), "username") == "b"


async def test_the_page_has_no_head_and_the_slash_rule_holds(client: Client) -> None:
    head = await client.head(ADFS)
    assert head.status == 405
    resp = await client.get(
        URL("/api/v2/users/adfs?username=a%2Bb", encoded=True), allow_redirects=False
    )
    assert resp.status == 307
    assert resp.headers["location"].endswith("/api/v2/users/adfs/?username=a%2Bb")


# -- redirect_uri ------------------------------------------------------------------------------
GOOD_REDIRECTS = [
    "spaceclient://cb",
    "spaceclient://auth/callback?state=abc",
    "com.example.client:/oauth2redirect",  # RFC 8252 §7.1 style
    "https://client.example/cb",
    "http://127.0.0.1:8765/callback?state=a%20b",
    "HTTPS://CLIENT.EXAMPLE/cb",
]

BAD_REDIRECTS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "javascript%3Aalert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "blob:https://x/1",
    "about:blank",
    "https://",
    "http:///path",
    "https:host/cb",
    "https://host:99999/cb",
    "https://host:port/cb",
    "https:\\\\evil.example",
    "//evil.example/cb",
    "/relative/cb",
    "cb",
    "spaceclient:",
    "1client://cb",
    "https://client.example/cb#frag",
    "spaceclient://cb\r\nSet-Cookie: x=1",
    "https://clіent.example/cb",  # a Cyrillic і
    "ftp://files.example/cb",
]


@pytest.mark.parametrize("uri", GOOD_REDIRECTS)
def test_callbacks_a_client_registers_are_accepted(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
def test_anything_else_is_refused_with_a_reason(uri: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None
    assert problem.startswith("redirect_uri must be an absolute http(s) URL or a client's custom")


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
async def test_the_page_refuses_a_bad_redirect_uri_with_400_and_no_form(
    client: Client, uri: str
) -> None:
    resp = await client.get(ADFS, params={"username": "user-5", "redirect_uri": uri})
    await expect_page(resp, 400, redirect_uri_problem(uri), form=False)


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
async def test_a_submit_with_a_bad_redirect_uri_is_400_before_the_password_is_checked(
    mfa: Client, uri: str
) -> None:
    data = form(username="adfs", password="adfs-password", redirect_uri=uri)
    resp = await mfa.post(ADFS, data=data, allow_redirects=False)
    await expect_page(resp, 400, redirect_uri_problem(uri), form=False)


def test_the_redirect_messages_say_what_is_wrong() -> None:
    assert "fragment" in (redirect_uri_problem("https://h/cb#x") or "")
    assert "needs a host" in (redirect_uri_problem("https:///cb") or "")
    assert "javascript: cannot receive a token" in (redirect_uri_problem("javascript:x") or "")
    assert "percent-encode" in (redirect_uri_problem("https://h/a b") or "")


# -- submit: success ---------------------------------------------------------------------------
@pytest.mark.parametrize("uri", GOOD_REDIRECTS)
async def test_a_submit_with_redirect_uri_redirects_with_the_token_in_the_fragment(
    mfa: Client, uri: str
) -> None:
    data = form(username="adfs", password="adfs-password", redirect_uri=uri)
    resp = await mfa.post(ADFS, data=data, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith(uri + "#")
    match = FRAGMENT.fullmatch(location[len(uri) :])
    assert match is not None, location
    assert location == f"{uri}#access_token={match.group(1)}&token_type=JWT"
    assert resp.headers["cache-control"] == "no-store"
    assert await resp.read() == b""
    claims = claims_of(match.group(1))
    assert (claims["username"], claims["sub"]) == ("adfs", IDS["adfs"])


async def test_the_redirected_token_works(mfa: Client) -> None:
    data = form(username="adfs", password="adfs-password", redirect_uri="spaceclient://cb")
    resp = await mfa.post(ADFS, data=data, allow_redirects=False)
    match = FRAGMENT.search(resp.headers["Location"])
    assert match is not None
    settings = await mfa.get(SETTINGS, headers=auth(match.group(1)))
    assert settings.status == 200
    assert (await settings.json())["data"]["security"]["adfs_enabled"] is True


@pytest.mark.parametrize("extra", [{}, {"redirect_uri": ""}], ids=["absent", "empty"])
async def test_a_submit_without_redirect_uri_answers_the_login_body(
    mfa: Client, extra: dict[str, str]
) -> None:
    resp = await mfa.post(ADFS, data=form(username="adfs", password="adfs-password", **extra))
    await expect_token(resp, "adfs")


async def test_multipart_forms_are_read_too(mfa: Client) -> None:
    data = FormData(default_to_multipart=True)
    data.add_field("username", "adfs")
    data.add_field("password", "adfs-password")
    await expect_token(await mfa.post(ADFS, data=data), "adfs")


async def test_any_password_passes_when_the_scenario_does_not_check_passwords(
    client: Client,
) -> None:
    resp = await client.post(ADFS, data=form(username="user-5", password="anything"))
    await expect_token(resp, "user-5")


async def test_a_client_finishes_an_adfs_login_from_the_428(client: Client) -> None:
    refused = await client.post(LOGIN, json=login_body("user-5"))
    assert refused.status == 428
    next_step = (await refused.json())["detail"][0]["next_step"]
    page = await client.get(next_step, params={"username": "user-5", "redirect_uri": "sc://cb"})
    await expect_page(page, 200)
    data = form(username="user-5", password="x", redirect_uri="sc://cb")
    done = await client.post(next_step, data=data, allow_redirects=False)
    assert done.status == 302
    assert FRAGMENT.fullmatch(done.headers["Location"][len("sc://cb") :])


async def test_the_otp_adfs_user_finishes_at_the_page(mfa: Client) -> None:
    # The login asks for the OTP first, then sends the user here; the page asks no OTP.
    body = login_body("otp-adfs", "otp-adfs-password", otp_code=today_otp(mfa))
    assert (await mfa.post(LOGIN, json=body)).status == 428
    resp = await mfa.post(ADFS, data=form(username="otp-adfs", password="otp-adfs-password"))
    await expect_token(resp, "otp-adfs")


# -- submit: refusals --------------------------------------------------------------------------
ADFS_REFUSALS: list[tuple[str, dict[str, str], str]] = [
    ("wrong password", form(username="adfs", password="wrong"), BAD_CREDENTIALS),
    ("password of another case", form(username="adfs", password="ADFS-PASSWORD"), BAD_CREDENTIALS),
    ("unknown user", form(username="ghost", password="ghost-password"), BAD_CREDENTIALS),
    (
        "username is case-sensitive",
        form(username="ADFS", password="adfs-password"),
        BAD_CREDENTIALS,
    ),
    (
        "disabled user",
        form(username="adfs-disabled", password="adfs-disabled-password"),
        BAD_CREDENTIALS,
    ),
    ("not an adfs user", form(username="plain", password="plain-password"), NOT_ADFS),
    ("hardware-token user", form(username="hardware", password="hardware-password"), NOT_ADFS),
    ("empty password", form(username="adfs", password=""), BAD_CREDENTIALS),
    ("missing password", form(username="adfs"), BAD_CREDENTIALS),
    ("missing username", form(password="adfs-password"), BAD_CREDENTIALS),
    ("empty form", form(), BAD_CREDENTIALS),
]


@pytest.mark.parametrize(
    ("data", "message"),
    [(d, m) for _, d, m in ADFS_REFUSALS],
    ids=[n for n, _, _ in ADFS_REFUSALS],
)
async def test_a_refused_submit_shows_the_page_again_with_401(
    mfa: Client, data: dict[str, str], message: str
) -> None:
    data = {**data, "redirect_uri": "spaceclient://cb"}
    resp = await mfa.post(ADFS, data=data, allow_redirects=False)
    page = await expect_page(resp, 401, message)
    # Ready for another try: the username and the redirect kept, the password not echoed.
    assert field_value(page, "username") == data.get("username", "")
    assert field_value(page, "redirect_uri") == "spaceclient://cb"
    assert field_value(page, "password") == ""
    if data.get("password"):
        assert data["password"] not in page


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"username=\xff\xfe&password=x", "application/x-www-form-urlencoded"),
        (b"username=%FF&password=x", "application/x-www-form-urlencoded"),
        (b"username=%ED%A0%80&password=x", "application/x-www-form-urlencoded"),
        (b"&".join([b"a=1"] * 101), "application/x-www-form-urlencoded"),
        (b'{"username":"adfs","password":"adfs-password"}', "application/json"),
        (b"username=adfs&password=adfs-password", "text/plain"),
        (b"--xx\r\nbroken", "multipart/form-data; boundary=xx"),
        (b"", "multipart/form-data; boundary=xx"),
        (b"abc", "multipart/form-data"),
        (
            b'--xx\r\nContent-Disposition: form-data; name="username"\r\n\r\n\xff\r\n--xx--\r\n',
            "multipart/form-data; boundary=xx",
        ),
        (
            b'--xx\r\nContent-Disposition: form-data; name="username"\r\n'
            b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nadfs\r\n--xx--\r\n",
            "multipart/form-data; boundary=xx",
        ),
        (
            b'--xx\r\nContent-Disposition: form-data; name="password"; filename="p.txt"\r\n\r\n'
            b"adfs-password\r\n--xx--\r\n",
            "multipart/form-data; boundary=xx",
        ),
    ],
    ids=[
        "raw-non-utf8",
        "escaped-non-utf8",
        "escaped-surrogate",
        "too-many-fields",
        "json",
        "text-plain",
        "truncated-multipart",
        "empty-multipart",
        "multipart-without-boundary",
        "multipart-non-utf8",
        "multipart-unknown-charset",
        "multipart-file-as-password",
    ],
)
async def test_an_unreadable_form_is_400_never_a_500(
    mfa: Client, body: bytes, content_type: str
) -> None:
    resp = await mfa.post(ADFS, data=body, headers={"content-type": content_type})
    await expect_page(resp, 400, UNREADABLE_FORM, form=False)


async def test_a_form_without_a_content_type_is_read_as_url_encoded(mfa: Client) -> None:
    # The test client adds no content type to raw bytes; aiohttp sees application/octet-stream.
    resp = await mfa.post(ADFS, data=b"username=adfs&password=adfs-password")
    await expect_token(resp, "adfs")


async def test_the_last_of_repeated_form_fields_counts(mfa: Client) -> None:
    raw = b"username=plain&username=adfs&password=wrong&password=adfs-password"
    await expect_token(await mfa.post(ADFS, data=raw, headers=FORM_HEADERS), "adfs")


async def test_an_oversized_form_is_the_413_of_every_route(mfa: Client) -> None:
    raw = io.BytesIO(b"username=" + b"a" * MAX_BODY)
    await expect(await mfa.post(ADFS, data=raw, headers=FORM_HEADERS), BODY_TOO_LARGE)


async def test_an_oversized_multipart_form_is_413_too(mfa: Client) -> None:
    data = FormData(default_to_multipart=True)
    data.add_field("username", "a" * MAX_BODY)
    await expect(await mfa.post(ADFS, data=data), BODY_TOO_LARGE)


# -- hardware token ----------------------------------------------------------------------------
def token_body(username: str, password: str | None, token_code: Any) -> dict[str, Any]:
    return {"username": username, "password": password, "token_code": token_code}


@pytest.mark.parametrize("code", ["000000", "123456", "999999"])
async def test_a_hardware_token_user_without_a_scenario_code_takes_any_six_digits(
    mfa: Client, code: str
) -> None:
    resp = await mfa.post(HARDWARE_TOKEN, json=token_body("hardware", "hardware-password", code))
    await expect_token(resp, "hardware")


async def test_the_scenario_code_logs_in(mfa: Client) -> None:
    body = token_body("hardware-fixed", "hardware-fixed-password", "428571")
    await expect_token(await mfa.post(HARDWARE_TOKEN, json=body), "hardware-fixed")


HARDWARE_REFUSALS: list[tuple[str, dict[str, Any], Any]] = [
    (
        "another code than the scenario's",
        token_body("hardware-fixed", "hardware-fixed-password", "123456"),
        OTP_INVALID,
    ),
    (
        "the scenario code with a space",
        token_body("hardware-fixed", "hardware-fixed-password", " 428571"),
        OTP_INVALID,
    ),
    ("five digits", token_body("hardware", "hardware-password", "12345"), OTP_INVALID),
    ("seven digits", token_body("hardware", "hardware-password", "1234567"), OTP_INVALID),
    ("letters", token_body("hardware", "hardware-password", "abcdef"), OTP_INVALID),
    ("empty code", token_body("hardware", "hardware-password", ""), OTP_INVALID),
    ("non-ascii digits", token_body("hardware", "hardware-password", "١٢٣٤٥٦"), OTP_INVALID),
    ("unknown user", token_body("ghost", "x", "123456"), INVALID_CREDENTIALS),
    (
        "disabled user with a good code",
        token_body("hardware-disabled", "hardware-disabled-password", "123456"),
        INVALID_CREDENTIALS,
    ),
    (
        "not a hardware-token user",
        token_body("plain", "plain-password", "123456"),
        INVALID_CREDENTIALS,
    ),
    ("adfs user", token_body("adfs", "adfs-password", "123456"), INVALID_CREDENTIALS),
    ("wrong password", token_body("hardware", "wrong", "123456"), INVALID_CREDENTIALS),
    ("null password", token_body("hardware", None, "123456"), INVALID_CREDENTIALS),
    ("empty password", token_body("hardware", "", "123456"), INVALID_CREDENTIALS),
]


@pytest.mark.parametrize(
    ("body", "answer"),
    [(b, a) for _, b, a in HARDWARE_REFUSALS],
    ids=[n for n, _, _ in HARDWARE_REFUSALS],
)
async def test_hardware_token_refusals(mfa: Client, body: dict[str, Any], answer: Any) -> None:
    await expect(await mfa.post(HARDWARE_TOKEN, json=body), answer)


async def test_a_client_finishes_a_hardware_token_login_from_the_428(client: Client) -> None:
    refused = await client.post(LOGIN, json=login_body("user-3"))
    await expect(refused, HARDWARE_TOKEN_REQUIRED)
    next_step = HARDWARE_TOKEN_REQUIRED.body["detail"][0]["next_step"]
    resp = await client.post(next_step, json=token_body("user-3", "any", "314159"))
    token = await expect_token(resp, "user-3")
    assert (await client.get(SETTINGS, headers=auth(token))).status == 200


async def test_hardware_token_validation_lists_every_field(mfa: Client) -> None:
    await expect(
        await mfa.post(HARDWARE_TOKEN, json={}),
        invalid(
            item("missing", ["body", "username"], "Field required", {}),
            item("missing", ["body", "password"], "Field required", {}),
            item("missing", ["body", "token_code"], "Field required", {}),
        ),
    )


@pytest.mark.parametrize("code", [None, 123456, ["123456"]])
async def test_the_token_code_must_be_a_string(mfa: Client, code: Any) -> None:
    body = token_body("hardware", "hardware-password", code)
    await expect(
        await mfa.post(HARDWARE_TOKEN, json=body),
        invalid(
            item("string_type", ["body", "token_code"], "Input should be a valid string", code)
        ),
    )


async def test_hardware_token_bodies_that_are_not_json_objects(mfa: Client) -> None:
    await expect(
        await mfa.post(HARDWARE_TOKEN), invalid(item("missing", ["body"], "Field required", None))
    )
    await expect(
        await mfa.post(HARDWARE_TOKEN, data=b'{"username":', headers=JSON_HEADERS),
        invalid(
            item(
                "json_invalid", ["body", 12], "JSON decode error", {}, {"error": "Expecting value"}
            )
        ),
    )
    await expect(
        await mfa.post(HARDWARE_TOKEN, data=b"username=hardware", headers=FORM_HEADERS),
        invalid(
            item(
                "model_attributes_type",
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                "username=hardware",
            )
        ),
    )


async def test_hardware_token_non_utf8_json_is_422_not_500(mfa: Client) -> None:
    resp = await mfa.post(HARDWARE_TOKEN, data=b'{"username":"\xff"}', headers=JSON_HEADERS)
    assert resp.status == 422
    assert resp.headers["content-type"] == "application/json"


async def test_hardware_token_route_is_post_only(mfa: Client) -> None:
    resp = await mfa.get(HARDWARE_TOKEN)
    assert (resp.status, await resp.text()) == (405, compact({"detail": "Method Not Allowed"}))


# -- TOTP --------------------------------------------------------------------------------------
def totp_at(moment: datetime, secret: str = TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).at(moment)


async def login_totp(client: Client, code: str, username: str = "totp") -> ClientResponse:
    return await client.post(
        LOGIN, json=login_body(username, f"{username}-password", otp_code=code)
    )


async def test_the_totp_of_the_scenario_time_logs_in(mfa: Client) -> None:
    assert mfa.app[CLOCK].now() == START
    await expect_token(await login_totp(mfa, totp_at(START)), "totp")


async def test_a_totp_is_good_for_its_own_30_second_step_only(mfa: Client) -> None:
    code = totp_at(START)
    mfa.app[CLOCK].advance(29)
    await expect_token(await login_totp(mfa, code), "totp")
    mfa.app[CLOCK].advance(1)  # 30 s after START: the next step
    now = mfa.app[CLOCK].now()
    assert totp_at(now) != code
    await expect(await login_totp(mfa, code), OTP_INVALID)
    await expect_token(await login_totp(mfa, totp_at(now)), "totp")


async def test_a_totp_from_long_ago_is_refused(mfa: Client) -> None:
    code = totp_at(START)
    mfa.app[CLOCK].advance(3600)
    await expect(await login_totp(mfa, code), OTP_INVALID)


async def test_the_date_code_still_logs_a_totp_user_in(mfa: Client) -> None:
    await expect_token(await login_totp(mfa, today_otp(mfa)), "totp")
    mfa.app[CLOCK].advance(45)
    await expect_token(await login_totp(mfa, today_otp(mfa)), "totp")


async def test_a_totp_user_still_gets_428_without_a_code_and_103_for_a_wrong_one(
    mfa: Client,
) -> None:
    resp = await mfa.post(LOGIN, json=login_body("totp", "totp-password"))
    assert resp.status == 428
    await expect(await login_totp(mfa, "000000"), OTP_INVALID)
    await expect(await login_totp(mfa, f" {totp_at(START)}"), OTP_INVALID)


async def test_a_totp_means_nothing_to_an_otp_user_without_a_secret(mfa: Client) -> None:
    await expect(await login_totp(mfa, totp_at(START), username="otp"), OTP_INVALID)


async def test_the_totp_is_rfc_6238(aiohttp_client: AiohttpClient) -> None:
    # RFC 6238 appendix B: the SHA-1 secret "12345678901234567890" at T=1111111109 gives
    # 07081804; an authenticator shows its last six digits.
    data = mfa_scenario_data()
    data["settings"]["start"] = datetime.fromtimestamp(1111111109, UTC)
    data["users"].append(
        {
            "id": "5b1e7d0c-0000-4000-8000-000000000003",
            "username": "rfc",
            "password": "rfc-password",
            "otp": True,
            "otp_secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        }
    )
    client = await client_for(aiohttp_client, data)
    await expect_token(await login_totp(client, "081804", username="rfc"), "rfc")


async def test_the_other_mfa_answers_come_after_a_good_totp(
    aiohttp_client: AiohttpClient,
) -> None:
    data = mfa_scenario_data()
    data["users"].append(
        {
            "id": "5b1e7d0c-0000-4000-8000-000000000004",
            "username": "totp-adfs",
            "password": "totp-adfs-password",
            "otp": True,
            "adfs": True,
            "otp_secret": TOTP_SECRET,
        }
    )
    client = await client_for(aiohttp_client, data)
    resp = await login_totp(client, totp_at(START), username="totp-adfs")
    assert resp.status == 428
    assert (await resp.json())["detail"][0]["err_code"] == 101


# -- scenario keys -----------------------------------------------------------------------------
def problems_of(user: dict[str, Any], section: str = "users") -> list[str]:
    base: dict[str, Any] = {"id": "5b1e7d0c-0000-4000-8000-00000000000a", "username": "u"}
    if section == "user_groups":
        base = {"prefix": "g", "count": 1}
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({section: [base | user]})
    return caught.value.problems


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("NOT-BASE32", "users[0].otp_secret: Value error, otp_secret must be base32"),
        ("NOTBASE32!", "users[0].otp_secret: Value error, otp_secret is not valid base32"),
        ("AYCJPOPRPLAK3KRCJTFSZFUZWPSBQQY1", "users[0].otp_secret: Value error, otp_secret is not"),
        ("AYCJ POPR PLAK 3KRC JTFS ZFUZ WPSB QQYZ", "users[0].otp_secret: Value error, otp_sec"),
        ("", "users[0].otp_secret: Value error, otp_secret must be base32"),
        ("JBSWY3DPEHPK3PXP", "users[0].otp_secret: Value error, otp_secret is 80 bits; a TOTP"),
        ("A", "users[0].otp_secret: Value error, otp_secret is not valid base32"),
    ],
)
def test_a_bad_otp_secret_is_a_path_addressed_problem(secret: str, problem: str) -> None:
    problems = problems_of({"otp": True, "otp_secret": secret})
    assert len(problems) == 1
    assert problems[0].startswith(problem), problems


def test_otp_secret_is_checked_in_user_groups_too() -> None:
    problems = problems_of({"otp": True, "otp_secret": "x"}, section="user_groups")
    assert problems[0].startswith("user_groups[0].otp_secret: Value error")


@pytest.mark.parametrize(
    "secret",
    [
        TOTP_SECRET,
        TOTP_SECRET.lower(),
        "GAYTEMZUGU3DOOBZMFRGGZDFMY======",  # 128 bits, the least, padded
        "GAYTEMZUGU3DOOBZMFRGGZDFMY",  # the same without padding
    ],
)
def test_good_otp_secrets_load(secret: str) -> None:
    user = {"id": IDS["totp"], "username": "t", "otp": True, "otp_secret": secret}
    assert parse_scenario({"users": [user]}).users[0].otp_secret == secret


def test_mfa_values_need_their_flag() -> None:
    assert problems_of({"otp_secret": TOTP_SECRET}) == [
        "users[0]: Value error, otp_secret is set but otp is false: the code would never be asked"
    ]
    assert problems_of({"hardware_token_code": "123456"}) == [
        "users[0]: Value error, hardware_token_code is set but hardware_token is false:"
        " it would never be asked"
    ]


@pytest.mark.parametrize("code", ["", " 123456", "123 456", 123456])
def test_a_bad_hardware_token_code_is_a_path_addressed_problem(code: Any) -> None:
    problems = problems_of({"hardware_token": True, "hardware_token_code": code})
    assert len(problems) == 1
    assert problems[0].startswith("users[0].hardware_token_code: "), problems


async def test_generated_users_get_their_group_s_mfa_values(
    aiohttp_client: AiohttpClient,
) -> None:
    data = mfa_scenario_data()
    data["user_groups"] = [
        {"prefix": "tok", "count": 3, "hardware_token": True, "hardware_token_code": "111111"},
        {"prefix": "totp-g", "count": 2, "otp": True, "otp_secret": TOTP_SECRET},
    ]
    client = await client_for(aiohttp_client, data)
    ok = await client.post(HARDWARE_TOKEN, json=token_body("tok00003", "password", "111111"))
    await expect_token(ok, "tok00003")
    bad = await client.post(HARDWARE_TOKEN, json=token_body("tok00002", "password", "222222"))
    await expect(bad, OTP_INVALID)
    body = login_body("totp-g00002", "password", otp_code=totp_at(START))
    await expect_token(await client.post(LOGIN, json=body), "totp-g00002")


def test_the_shipped_mfa_scenario_has_a_totp_and_a_fixed_code_user() -> None:
    data = mfa_scenario_data()
    users = {user["username"]: user for user in data["users"]}
    assert users["totp"]["otp_secret"] == TOTP_SECRET
    assert users["hardware-fixed"]["hardware_token_code"] == "428571"


# -- the answer maps ---------------------------------------------------------------------------
def test_the_login_has_an_answer_for_every_refusal() -> None:
    assert set(REFUSALS) == OUTCOME_STATES - {LoginState.AUTHENTICATED}
