"""The scenario loader: strict, complete validation, every problem reported with its path."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mockapi.scenario import (
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


def test_empty_scenario_takes_the_defaults() -> None:
    scenario = parse_text("", "toml")
    assert scenario.users == []
    assert set(scenario.timing) == {"POOL_EXPAND", "GLINT_START"}


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
