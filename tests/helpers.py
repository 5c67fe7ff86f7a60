"""Helpers that drive multi-step flows in tests (log in, OTP, ...)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from mockapi.keys import CLOCK

Client = TestClient[web.Request, web.Application]

ASTRAVDI_ID = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
POOL_WIN_1 = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"
POOL_WIN_2 = "22aaa425-6387-4767-9611-3c26ad1a6161"
POOL_ASTRA_1 = "35f4392a-2cc6-4f9b-aea5-dce568493175"
POOL_ASTRA_2 = "2378c527-64eb-48cf-817a-645b645dba54"


def today_otp(client: Client) -> str:
    """The OTP the server accepts now: the scenario clock's date as %y%m%d."""
    return client.app[CLOCK].now().strftime("%y%m%d")


async def login(client: Client, username: str = "astravdi", otp: str | None = None) -> str:
    """Log in and return the access token; fails the test on anything but 200."""
    body: dict[str, Any] = {"username": username, "password": "Bazalt1!", "ldap": False}
    if otp is not None:
        body["otp_code"] = otp
    resp = await client.post("/api/v2/users/login/", json=body)
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["data"]["access_token"]
    return token


def auth(token: str) -> dict[str, str]:
    """The Authorization header of a JWT route."""
    return {"Authorization": f"JWT {token}"}


def fresh_python(script: str) -> str:
    """What ``script`` prints when run by this interpreter in a new process (clean imports)."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout
