"""The answers of CONTRACT §3–§4 as data, and one assertion that checks an answer exactly.

An answer is compared as text, so status, every key, its order and the compact form all count.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.domain.scenario import default_scenario_path, parse_scenario
from mockapi.settings import Settings
from tests.conftest import SECRET
from tests.helpers import Client

LOGIN = "/api/v2/users/login/"
LOGOUT = "/api/v2/users/logout/"
SETTINGS = "/api/v2/users/settings/"
JSON_HEADERS = {"content-type": "application/json"}

USER_IDS = {
    "astravdi": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4",
    "user-1": "516d600c-4273-40b8-8f5c-105cc3a4bbc9",
    "user-2": "e8d8dd14-cb09-4099-b96e-a83c6b09496c",
    "user-3": "e8d8dd14-cb09-4099-b96e-a83c6b09496d",
    "user-4": "516d600c-4273-40b8-8f6c-105cc4a4bbc9",
    "user-5": "e8d8dd15-cb09-4099-b96e-a83c6b09496c",
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    #: Application errors always carry ``www-authenticate: JWT`` (CONTRACT §3).
    app_error: bool = False


def app_error(status: int, msg: str, err_code: int, next_step: str | None = None) -> Answer:
    """A catalogue answer; the MFA ones have ``type: auth`` and ``next_step`` last."""
    item: dict[str, Any] = {"msg": msg, "err_code": err_code, "type": "default"}
    if next_step is not None:
        item = {"msg": msg, "err_code": err_code, "type": "auth", "next_step": next_step}
    return Answer(status, {"detail": [item]}, app_error=True)


INVALID_CREDENTIALS = app_error(401, "Invalid Credentials.", 999)
OTP_INVALID = app_error(401, "Invalid Credentials.", 103)
OTP_REQUIRED = app_error(428, "MFA required.", 100, "/api/v2/users/login/")
ADFS_REQUIRED = app_error(428, "MFA required.", 101, "/api/v2/users/adfs/")
HARDWARE_TOKEN_REQUIRED = app_error(428, "MFA required.", 102, "/api/v2/users/hardware_token/")
PERMISSION_DENIED = app_error(403, "Permission denied.", 999)
BODY_TOO_LARGE = app_error(413, "Request body too large.", 999)


def item(
    type_: str, loc: list[str | int], msg: str, input_: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One 422 item: type, loc, msg, input, [ctx], then ``err_code: 999`` last."""
    result: dict[str, Any] = {"type": type_, "loc": loc, "msg": msg, "input": input_}
    if ctx is not None:
        result["ctx"] = ctx
    result["err_code"] = 999
    return result


def invalid(*items: dict[str, Any]) -> Answer:
    """A 422 listing ``items`` in order."""
    return Answer(422, {"detail": list(items)})


def compact(data: Any) -> str:
    """The compact JSON text the API sends."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


async def expect(resp: ClientResponse, answer: Answer) -> None:
    """``resp`` is exactly ``answer``: status, body text (keys and order), content type."""
    text = await resp.text()
    assert (resp.status, text) == (answer.status, compact(answer.body))
    assert resp.headers["content-type"] == "application/json"
    if answer.app_error:
        assert resp.headers.get("www-authenticate") == "JWT"


def login_body(username: str, password: str | None = "Bazalt1!", **extra: Any) -> dict[str, Any]:
    """A login body with every required key."""
    return {"username": username, "password": password, "ldap": False, **extra}


async def default_client_with(aiohttp_client: AiohttpClient, **settings: Any) -> Client:
    """A client for the default scenario with ``[settings]`` keys changed, on a manual clock."""
    data = tomllib.loads(default_scenario_path().read_text(encoding="utf-8"))
    data["settings"].update(settings)
    app = create_app(Settings(jwt_secret=SECRET, clock="manual"), scenario=parse_scenario(data))
    return await aiohttp_client(app)
