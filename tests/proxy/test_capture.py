"""A scenario from a journal: what each kind of answer tells, and what it cannot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mockapi.domain.scenario import ClientSettingsSection, parse_text
from mockapi.jsonfmt import dumps
from mockapi.proxy.capture import CaptureError, capture, scenario_of
from mockapi.web.bodies import SettingsBody

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


ANN = {"sub": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4", "username": "ann", "roles": ["user"]}


def upstream_settings(otp: bool = True) -> dict[str, Any]:
    """A settings ``data`` unlike mockapi's default in every part, keys in the original's order."""
    return {
        "general": {"admin_mode_enabled": True, "file_logging_enabled": True,
                    "default_remote_protocol": 2, "last_pool_autoconnect_enabled": True,
                    "automatically_install_updates_enabled": False,
                    "documentation_url": "https://docs.example.test/"},
        "security": {"otp_enabled": otp, "adfs_enabled": False, "hardware_token_enabled": False,
                     "domain_username_format_enabled": True, "sc_permissions": ["USB"]},
        "net": {"network_timeout": 45, "ws_channels": []},
        "protocols": [
            {"id": 2, "name": "RDP", "version": "10.0", "image_format": "RGB24", "fps": 60,
             "keep_session_enabled": True, "full_screen_enabled": False,
             "multi_screen_enabled": True, "scale_image_enabled": False,
             "full_image_redraw_enabled": True,
             "hardware_acceleration_options": {"hardware_acceleration_enabled": True,
                                               "video_compression_codec": "HEVC",
                                               "h264_bitrate_mbs": 8},
             "audio_playback_mode": "SERVER"},
        ],
    }  # fmt: skip


def settings_journal(*bodies: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A journal where ann logs in, then each (user, data) is a settings answer."""
    entries = [
        http(1, "POST", "/api/v2/users/login/", 200, request=login("ann"), claims=ANN,
             response={"data": {"access_token": "jwt:1", "token_type": "JWT"}}),
    ]  # fmt: skip
    for seq, (user, data) in enumerate(bodies, start=2):
        entries.append(http(seq, "GET", "/api/v2/users/settings/", 200, user=user,
                            response={"data": data}))  # fmt: skip
    return {"entries": entries, "dropped": 0}


def test_the_settings_body_becomes_client_settings_and_is_answered_byte_for_byte() -> None:
    seen = upstream_settings()
    result = capture(settings_journal(("ann", seen)))
    section = result.data["client_settings"]
    # The MFA flags are ann's own (otp, read from the same body), not the section's.
    assert "otp_enabled" not in section["security"]
    assert result.data["users"][0]["otp"] is True
    assert not [note for note in result.notes if "settings" in note]
    scenario = parse_text(result.toml(), "toml")
    assert scenario == scenario_of(result)
    served = SettingsBody.of(
        scenario.client_settings, otp_enabled=True, adfs_enabled=False, hardware_token_enabled=False
    )
    assert dumps(served.model_dump(mode="json")) == dumps({"data": seen})


def test_the_originals_settings_capture_as_mockapis_defaults() -> None:
    ours = SettingsBody.of(
        ClientSettingsSection(), otp_enabled=False, adfs_enabled=False, hardware_token_enabled=False
    ).model_dump(mode="json")["data"]
    result = capture(settings_journal(("ann", ours)))
    assert scenario_of(result).client_settings == ClientSettingsSection()
    assert not [note for note in result.notes if "settings" in note]


def test_a_settings_part_no_scenario_can_hold_keeps_mockapis_and_is_named_in_the_notes() -> None:
    seen = upstream_settings()
    seen["general"]["theme"] = "dark"  # a key mockapi does not know
    seen["net"]["network_timeout"] = 45.5  # another type
    seen["extra"] = {"beta": True}  # a whole part mockapi does not know
    result = capture(settings_journal(("ann", seen)))
    assert set(result.data["client_settings"]) == {"security", "protocols"}
    notes = [note for note in result.notes if "settings" in note]
    assert notes[:2] == [
        "the settings body's general cannot be a scenario's "
        "(client_settings.general.theme: unknown key): [client_settings] keeps mockapi's general",
        "the settings body's net cannot be a scenario's (client_settings.net.network_timeout: "
        "Input should be a valid integer): [client_settings] keeps mockapi's net",
    ]
    # What the served body still shows differently is listed, as drift lists it.
    differs = "the settings body differs from what the scenario answers at "
    assert f'{differs}the top: keys: upstream ["extra"], mockapi []' in notes
    assert f'{differs}general: keys: upstream ["theme"], mockapi []' in notes
    assert f'{differs}net.network_timeout: type: upstream "number", mockapi "integer"' in notes
    scenario_of(result)  # valid


def test_settings_unseen_or_unlike_the_first_users_are_said_in_the_notes() -> None:
    assert (
        "no settings body seen: [client_settings] keeps mockapi's defaults"
        in capture(settings_journal()).notes
    )
    other = upstream_settings(otp=False)
    other["net"]["network_timeout"] = 99
    result = capture(settings_journal(("ann", upstream_settings()), ("bob", other),
                                      ("ann", upstream_settings(otp=False))))  # fmt: skip
    # bob's timeout differs; ann's second body differs only in an MFA flag, which is per user.
    assert result.notes[-1] == (
        "the settings of bob differ from the first user's beyond the MFA flags; "
        "mockapi answers every user the first user's"
    )
    assert result.data["client_settings"]["net"]["network_timeout"] == 45
