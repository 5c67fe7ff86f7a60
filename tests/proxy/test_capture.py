"""A scenario from a journal: what each kind of answer tells, and what it cannot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mockapi.domain.scenario import parse_text
from mockapi.proxy.capture import CaptureError, capture, scenario_of

POOL = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"
TASK = "821b7a78-1b6e-4a88-9488-07eeba0099cf"


def http(seq: int, method: str, path: str, status: int, user: str | None = None,
         request: Any = None, response: Any = None, time: str = "2026-01-01T00:00:00Z",
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "seq": seq, "time": time, "kind": "http", "method": method, "path": path,
        "status": status, "user": user, "query": "",
        "request": {"headers": {}, "body": request},
        "response": {"headers": {}, "body": response}, **extra,
    }  # fmt: skip


def mfa(code: int) -> dict[str, Any]:
    return {"detail": [{"msg": "MFA required.", "err_code": code, "type": "auth",
                        "next_step": "/x"}]}  # fmt: skip


def login(name: str) -> dict[str, Any]:
    return {"username": name, "password": "[redacted]", "ldap": False}


def test_not_a_journal_is_refused() -> None:
    with pytest.raises(CaptureError):
        capture([1, 2])


def test_mfa_kinds_come_from_the_428s_and_unknown_users_are_left_out() -> None:
    entries = [
        http(1, "POST", "/api/v2/users/login/", 428, request=login("otto"), response=mfa(100)),
        http(2, "POST", "/api/v2/users/login/", 428, request=login("adam"), response=mfa(101)),
        http(3, "POST", "/api/v2/users/login/", 428, request=login("hank"), response=mfa(102)),
        http(4, "POST", "/api/v2/users/login/", 401, request=login("nobody"),
             response={"detail": [{"msg": "Invalid Credentials.", "err_code": 999,
                                   "type": "default"}]}),
        http(5, "POST", "/api/v2/users/login/", 401, request=login("olga"),
             response={"detail": [{"msg": "Invalid Credentials.", "err_code": 103,
                                   "type": "default"}]}),
    ]  # fmt: skip
    result = capture({"entries": entries, "dropped": 0})
    users = {u["username"]: u for u in result.data["users"]}
    assert set(users) == {"otto", "adam", "hank", "olga"}
    assert users["otto"]["otp"]
    assert users["olga"]["otp"]
    assert users["adam"]["adfs"]
    assert users["hank"]["hardware_token"]
    assert any("never got a token" in note for note in result.notes)
    scenario_of(result)  # valid


def test_timings_fall_back_on_the_proxys_own_times() -> None:
    claims = {"sub": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4", "username": "ann", "roles": ["user"]}
    page = {"data": [{"id": POOL, "name": "p", "status": "ACTIVE", "is_favorite": False,
                      "pool_type": "VDI-FARM", "os_type": "Windows", "connection_types": []}],
            "total": 1, "page": 1, "size": 50, "pages": 1}  # fmt: skip
    task = {"id": TASK, "status": "PENDING", "kind": "POOL_EXPAND",
            "created": "2026-01-01T00:00:01Z", "started": None, "finished": None}  # fmt: skip
    entries = [
        http(1, "POST", "/api/v2/users/login/", 200, request=login("ann"), claims=claims,
             response={"data": {"access_token": "jwt:1", "token_type": "JWT"}}),
        http(2, "GET", "/api/v2/pools/", 200, user="ann", response=page),
        http(3, "GET", f"/api/v2/pools/{POOL}/connect/", 202, user="ann", response={"data": task},
             time="2026-01-01T00:00:01Z"),
        {"seq": 4, "time": "2026-01-01T00:00:03.5Z", "kind": "ws", "user": "ann",
         "direction": "down", "frame": {"status": "RUNNING", "id": TASK, "kind": "POOL_EXPAND"}},
        {"seq": 5, "time": "2026-01-01T00:00:13.5Z", "kind": "ws", "user": "ann",
         "direction": "down", "frame": {"status": "CANCELLED", "id": TASK, "kind": "POOL_EXPAND"}},
    ]  # fmt: skip
    result = capture({"entries": entries, "dropped": 0})
    assert result.data["rules"] == [
        {"user": "ann", "pool": "p", "kind": "POOL_EXPAND", "outcome": "CANCELLED",
         "pending_s": 2.5, "running_s": 10.0}
    ]  # fmt: skip
    [user] = result.data["users"]
    assert user["id"] == claims["sub"]
    assert user["pools"] == ["p"]
    # A pool type mockapi does not know is said, and replaced by one it does.
    assert result.data["pools"][0]["pool_type"] == "AUTOMATED"
    assert any("VDI-FARM" in note for note in result.notes)
    # The TOML loads as the same scenario, notes and all.
    assert parse_text(result.toml(), "toml") == scenario_of(result)


def run_capture(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockapi", "capture", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_command_refuses_what_is_not_a_journal_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"entries": 3}), encoding="utf-8")
    for path in (bad, wrong, tmp_path / "missing.json"):
        done = run_capture(str(path), "-o", str(tmp_path / "out.toml"))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.toml").exists()


def test_a_settings_body_mockapi_cannot_play_is_named_in_the_notes() -> None:
    from mockapi.proxy.capture import settings_notes
    from mockapi.web.bodies import SecuritySettings, SettingsBody, UserSettings

    security = SecuritySettings(otp_enabled=True, adfs_enabled=False, hardware_token_enabled=False)
    ours = SettingsBody(data=UserSettings(security=security)).model_dump(mode="json")["data"]
    # The user's own MFA flags are no difference: a scenario sets them.
    assert settings_notes(ours) == []
    theirs = json.loads(json.dumps(ours))
    theirs["net"]["network_timeout"] = 30
    [note] = settings_notes(theirs)
    assert "at net.network_timeout: value: upstream 30, mockapi 15" in note
