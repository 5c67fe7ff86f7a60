"""The scenario loader: strict, complete validation, every problem reported with its path."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Literal

import pytest

from mockapi.domain.scenario import (
    EMPTY,
    ClientSettingsSection,
    Scenario,
    ScenarioError,
    default_scenario_path,
    load_scenario,
    parse_scenario,
    parse_text,
    shipped_scenarios,
)

ANN = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
POOL_A = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"

WORLD = f"""\
[[users]]
id = "{ANN}"
username = "ann"
pools = ["pool-a"]

[[pools]]
id = "{POOL_A}"
name = "pool-a"
"""


def problems(text: str) -> list[str]:
    """The problems the loader reports for a TOML text (fails the test if it loads)."""
    with pytest.raises(ScenarioError) as error:
        parse_text(text, "toml", source="test.toml")
    assert error.value.source == "test.toml"
    return error.value.problems


# --- what loads ----------------------------------------------------------------------------------


def test_default_scenario_is_the_original_world() -> None:
    scenario = load_scenario(default_scenario_path())
    assert [u.username for u in scenario.users] == [
        "astravdi",
        "user-1",
        "user-2",
        "user-3",
        "user-4",
        "user-5",
    ]
    assert [p.name for p in scenario.pools] == [
        "pool-win-1",
        "pool-win-2",
        "pool-astra-1",
        "pool-astra-2",
    ]
    assert len(scenario.tasks) == 2


def test_every_shipped_scenario_loads() -> None:
    paths = shipped_scenarios()
    assert default_scenario_path() in paths
    for path in paths:
        assert isinstance(load_scenario(path), Scenario), path


def test_a_scenario_of_one_setting_takes_the_defaults_for_the_rest() -> None:
    scenario = parse_text("[settings]\nseed = 1\n", "toml")
    assert scenario.users == []
    assert set(scenario.timing) == {"POOL_EXPAND", "GLINT_START"}


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("", "toml"), (" \n\t\n", "toml"), ("# comments only\n", "toml"), ("{}", "json")],
    ids=["nothing", "blank", "comments", "empty object"],
)
def test_an_empty_scenario_is_refused_naming_the_likely_mistake(
    text: str, fmt: Literal["toml", "json"]
) -> None:
    # curl --data-binary @missing-file sends an empty body: it must not wipe the world.
    with pytest.raises(ScenarioError) as caught:
        parse_text(text, fmt)
    assert caught.value.problems == [EMPTY]
    assert "missing or empty file" in EMPTY


def test_references_take_a_name_or_an_id_in_any_uuid_spelling() -> None:
    text = WORLD + (
        f'\n[[tasks]]\nid = "{uuid.uuid4()}"\nuser = "{ANN.upper()}"\n'
        f'pool = "{uuid.UUID(POOL_A).hex}"\n'
        '\n[[rules]]\nuser = "ann"\npool = "pool-a"\n'
    )
    scenario = parse_text(text, "toml")
    assert len(scenario.tasks) == 1
    assert len(scenario.rules) == 1


def test_json_scenario_loads_like_toml(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text('{"settings": {"seed": 7, "clock": "manual"}}', encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.settings.seed == 7
    assert scenario.settings.clock == "manual"


# --- what is refused, and how it is said ---------------------------------------------------------


def test_unknown_keys_are_errors_with_their_path() -> None:
    text = WORLD.replace('username = "ann"', 'username = "ann"\nnickname = "annie"') + (
        "\n[settings]\ncolour = 1\n\n[extras]\n"
    )
    assert problems(text) == [
        "settings.colour: unknown key",
        "users[0].nickname: unknown key",
        "extras: unknown key",
    ]


def test_bad_reference_names_its_path_and_the_missing_pool() -> None:
    text = WORLD.replace('pools = ["pool-a"]', 'pools = ["pool-a", "pool-x"]')
    assert problems(text) == ['users[0].pools[1]: unknown pool "pool-x"']


def test_bad_references_in_every_section_are_reported() -> None:
    text = WORLD + (
        '\n[[user_groups]]\nprefix = "load"\ncount = 2\npools = ["pool-y"]\n'
        f'\n[[machines]]\nid = "{uuid.uuid4()}"\nverbose_name = "vm"\n'
        'pool = "pool-z"\nuser = "bob"\n'
        f'\n[[tasks]]\nid = "{uuid.uuid4()}"\nuser = "carl"\npool = "pool-w"\n'
        '\n[[rules]]\nuser = "dora"\npool = "pool-v"\n'
    )
    assert problems(text) == [
        'user_groups[0].pools[0]: unknown pool "pool-y"',
        'machines[0].pool: unknown pool "pool-z"',
        'machines[0].user: unknown user "bob"',
        'tasks[0].user: unknown user "carl"',
        'tasks[0].pool: unknown pool "pool-w"',
        'rules[0].user: unknown user "dora"',
        'rules[0].pool: unknown pool "pool-v"',
    ]


def test_duplicates_name_both_places() -> None:
    text = WORLD + (
        f'\n[[users]]\nid = "{ANN.upper()}"\nusername = "ann"\n'
        f'\n[[pools]]\nid = "{uuid.uuid4()}"\nname = "pool-a"\n'
    )
    assert problems(text) == [
        'users[1].username: duplicate "ann" (first at users[0])',
        f'users[1].id: duplicate "{ANN}" (first at users[0])',
        'pools[1].name: duplicate "pool-a" (first at pools[0])',
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = """\
[settings]
seed = "x"
clock = "sometimes"

[timing.POOL_EXPAND]
pending_s = -1

[[users]]
id = "not-a-uuid"
username = ""

[[pools]]
name = "pool-a"
max_new_machines = -2
"""
    found = problems(text)
    assert [p.split(":")[0] for p in found] == [
        "settings.seed",
        "settings.clock",
        "timing.POOL_EXPAND.pending_s",
        "users[0].id",
        "users[0].username",
        "pools[0].id",
        "pools[0].max_new_machines",
    ]


def test_syntax_error_is_one_problem() -> None:
    found = problems("[[users]\n")
    assert len(found) == 1
    assert found[0].startswith("(syntax): ")


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[version]\nversion = "\xe9"\n')
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert error.value.source == str(path)
    assert error.value.problems[0].startswith("(file): ")


def test_schema_and_reference_problems_are_reported_in_one_run() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            {
                "users": [
                    {
                        "id": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4",
                        "username": "a",
                        "colour": 1,
                        "pools": ["nowhere"],
                    },
                ],
            }
        )
    assert caught.value.problems == [
        "users[0].colour: unknown key",
        'users[0].pools[0]: unknown pool "nowhere"',
    ]


def test_a_generated_user_name_may_not_clash_with_a_listed_user() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            {
                "users": [{"id": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4", "username": "load00002"}],
                "user_groups": [{"prefix": "load", "count": 3}],
            }
        )
    assert caught.value.problems == ['user_groups[0]: generates "load00002", which users[0] has']


def test_ids_in_other_spellings_are_still_duplicates() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            {
                "users": [
                    {"id": "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4", "username": "a"},
                    {"id": "7E1459C23E194C3D98F58344D44AE6F4", "username": "b"},
                ],
            }
        )
    assert caught.value.problems == [
        'users[1].id: duplicate "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4" (first at users[0])'
    ]


# --- [[faults]] (issue 7) ------------------------------------------------------------------------


def test_faults_load_with_their_matches_and_actions() -> None:
    text = WORLD + (
        '\n[[faults]]\nid = "slow"\nmethod = "post"\npath = "/api/v2/users/login/"\n'
        f'user = "{ANN.upper()}"\ndelay_s = 2.5\nprobability = 0.5\ncount = 3\n'
        '\n[[faults]]\nuser = "ann"\nframe_status = "RUNNING"\nclose = 1012\n'
    )
    slow, close = parse_text(text, "toml").faults
    assert (slow.id, slow.method, slow.user, slow.delay_s, slow.count) == (
        "slow", "POST", ANN.upper(), 2.5, 3,
    )  # fmt: skip
    assert (close.id, close.frame_status, close.close, close.probability) == (
        None, "RUNNING", 1012, 1.0,
    )  # fmt: skip


def test_bad_faults_are_reported_with_their_paths_all_in_one_run() -> None:
    text = (
        WORLD
        + """
[[faults]]
id = "x"
path = "/api/v2/version/"

[[faults]]
path = "/api/v2/version/"
status = 503
probability = 1.5

[[faults]]
user = "nobody"
close = 1005

[[faults]]
id = "x"
delay_s = 1
lose_frames = 2

[[faults]]
path = "api/v2/version/"
method = "FETCH"
status = 200

[[faults]]
path = "/service/reset/"
drop = true
colour = "red"

[[faults]]
status = 503
frame_status = "RUNNING"

[[faults]]
drop = true
status = 500

[[faults]]
delay_s = 0

[[faults]]
lose_frames = 1
delay_frames_s = 1

[[faults]]
body = { detail = "x" }
drop = true

[[faults]]
path = "/api/v2/pools/"
close = 1011
"""
    )
    assert problems(text) == [
        "faults[0]: Value error, no action: give delay_s, status, drop, reset, hang, truncate,"
        " trickle_bps or proxy_error (HTTP), or close, lose_frames, delay_frames_s, abort or"
        " deaf (WebSocket)",
        "faults[1].probability: Input should be less than or equal to 1",
        "faults[2].close: Value error, close must be a code a server may send: 1000-1003,"
        " 1007-1014, 3000-4999",
        "faults[3]: Value error, delay_s acts on HTTP and lose_frames on WebSockets: make them"
        " two faults",
        "faults[4].method: Value error, method must be one of GET, POST, PUT, PATCH, DELETE,"
        " HEAD, OPTIONS",
        'faults[4].path: Value error, path must start with "/" (a pattern such as'
        " /api/v2/pools/*/)",
        "faults[4].status: Input should be greater than or equal to 400",
        "faults[5].path: Value error, /service/ is never faulted (the control API stays reachable)",
        "faults[5].colour: unknown key",
        "faults[6]: Value error, frame_status and frame_kind match frames: an HTTP fault cannot"
        " use them",
        "faults[7]: Value error, status and drop: a dropped answer has no status",
        "faults[8].delay_s: Input should be greater than 0",
        "faults[9]: Value error, lose_frames and delay_frames_s: a lost frame cannot also be late",
        "faults[10]: Value error, body and headers are the answer of status: give status",
        "faults[11]: Value error, method and path match requests: a WebSocket fault cannot use"
        " them",
        'faults[3].id: duplicate "x" (first at faults[0])',
        'faults[2].user: unknown user "nobody"',
    ]


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1011, 1012, 1014, 3000, 4999])
def test_a_fault_may_close_with_any_code_a_server_may_send(code: int) -> None:
    (fault,) = parse_text(WORLD + f"\n[[faults]]\nclose = {code}\n", "toml").faults
    assert fault.close == code


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_a_fault_may_not_close_with_a_reserved_code(code: int) -> None:
    assert problems(WORLD + f"\n[[faults]]\nclose = {code}\n") == [
        "faults[0].close: Value error, close must be a code a server may send: 1000-1003,"
        " 1007-1014, 3000-4999"
    ]


def test_a_user_group_has_no_cap_of_its_own_the_worlds_max_users_counts_them_all() -> None:
    # mockapi.domain.limits refuses a world of too many users, whatever the groups.
    scenario = parse_scenario({"user_groups": [{"prefix": "load", "count": 10**12}]})
    assert scenario.user_groups[0].count == 10**12
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"user_groups": [{"prefix": "load", "count": 0}]})
    assert caught.value.problems == [
        "user_groups[0].count: Input should be greater than or equal to 1"
    ]


# --- [client_settings] ---------------------------------------------------------------------------


def test_client_settings_default_to_the_originals_constant_body() -> None:
    settings = load_scenario(default_scenario_path()).client_settings
    assert settings == ClientSettingsSection()
    assert settings.model_dump(mode="json") == {
        "general": {
            "admin_mode_enabled": False,
            "file_logging_enabled": False,
            "default_remote_protocol": 1,
            "last_pool_autoconnect_enabled": False,
            "automatically_install_updates_enabled": True,
            "documentation_url": "https://spacevm.ru/client-docs/latest/",
        },
        "security": {"domain_username_format_enabled": False, "sc_permissions": []},
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


def test_client_settings_set_only_the_keys_written_and_a_list_whole() -> None:
    text = """\
[client_settings.general]
documentation_url = "https://docs.example.test/"

[client_settings.security]
sc_permissions = ["USB", "PRINTER"]

[client_settings.net]
network_timeout = 30

[[client_settings.protocols]]
id = 2
name = "RDP"
"""
    settings = parse_text(text, "toml").client_settings
    default = ClientSettingsSection()
    assert settings.general.documentation_url == "https://docs.example.test/"
    assert settings.general.default_remote_protocol == 1
    assert settings.security.sc_permissions == ["USB", "PRINTER"]
    assert not settings.security.domain_username_format_enabled
    assert settings.net.network_timeout == 30
    assert settings.net.ws_channels == default.net.ws_channels
    # A list is the scenario's: the one protocol written replaces GLINT, its other keys default.
    [protocol] = settings.protocols
    assert (protocol.id, protocol.name, protocol.fps) == (2, "RDP", 30)


def test_bad_client_settings_are_reported_with_their_paths_all_in_one_run() -> None:
    text = """\
[client_settings]
colour = "red"

[client_settings.general]
default_remote_protocol = "2"
admin_mode_enabled = 1

[client_settings.security]
adfs_enabled = true

[client_settings.net]
network_timeout = 15.0
ws_channels = [{ channel = "x", topic = "y" }]

[[client_settings.protocols]]
fps = 29.97
"""
    # Strict types: the body answers what the file says, never a conversion of it. Problems
    # come in the section's key order.
    assert problems(text) == [
        "client_settings.general.admin_mode_enabled: Input should be a valid boolean",
        "client_settings.general.default_remote_protocol: Input should be a valid integer",
        "client_settings.security: Value error, adfs_enabled is each user's own: "
        "set `adfs = true` on the user instead",
        "client_settings.net.network_timeout: Input should be a valid integer",
        "client_settings.net.ws_channels[0].topic: unknown key",
        "client_settings.protocols[0].fps: Input should be a valid integer",
        "client_settings.colour: unknown key",
    ]
