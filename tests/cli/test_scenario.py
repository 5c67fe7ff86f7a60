"""``python -m mockapi scenario``: check says ok or every problem by path; schema is JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockapi.cli.scenario import main
from mockapi.domain.scenario import Scenario, default_scenario_path, shipped_scenarios

BAD = """\
colour = "red"

[[users]]
id = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
username = "ann"
pools = ["pool-a", "pool-x"]
nickname = "annie"
"""

BAD_REFERENCES = """\
[[users]]
id = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
username = "ann"
pools = ["pool-a", "pool-x"]

[[pools]]
id = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"
name = "pool-a"

[[tasks]]
id = "fabb9a84-ae96-4d07-b5a0-329ea70fa476"
user = "bob"
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def write(tmp_path: Path, text: str, name: str = "world.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_default_scenario_is_ok_with_counts(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_scenario_path()
    code, lines = run(["check", str(path)], capsys)
    assert code == 0
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: ok (6 users, 4 pools, ")


def test_check_passes_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(path) for path in shipped_scenarios()]
    assert len(paths) >= 1
    code, lines = run(["check", *paths], capsys)
    assert code == 0, lines
    assert [line.split(": ok (")[0] for line in lines] == paths


def test_check_prints_every_problem_by_path_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BAD)
    code, lines = run(["check", str(path)], capsys)
    assert code == 2
    assert lines == [
        f"{path}: users[0].nickname: unknown key",
        f"{path}: colour: unknown key",
        # Reference problems come in the same run as schema problems: every problem at once.
        f'{path}: users[0].pools[0]: unknown pool "pool-a"',
        f'{path}: users[0].pools[1]: unknown pool "pool-x"',
        f"{path}: invalid, 4 problems",
    ]


def test_check_reports_every_bad_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BAD_REFERENCES)
    code, lines = run(["check", str(path)], capsys)
    assert code == 2
    assert lines == [
        f'{path}: users[0].pools[1]: unknown pool "pool-x"',
        f'{path}: tasks[0].user: unknown user "bob"',
        f"{path}: invalid, 2 problems",
    ]


def test_check_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    code, lines = run(["check", str(missing)], capsys)
    assert code == 2
    assert lines == [f"scenario file not found: {missing}"]


def test_check_syntax_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[[users]\n")
    code, lines = run(["check", str(path)], capsys)
    assert code == 2
    assert lines[0].startswith(f"{path}: (syntax): ")
    assert lines[-1] == f"{path}: invalid, 1 problem"


def test_check_several_files_reports_each_and_fails_if_any_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = default_scenario_path(), write(tmp_path, BAD)
    code, lines = run(["check", str(good), str(bad)], capsys)
    assert code == 2
    assert lines[0].startswith(f"{good}: ok (")
    assert lines[-1] == f"{bad}: invalid, 4 problems"


def test_check_reads_json_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, json.dumps({"settings": {"seed": 7}}), name="world.json")
    code, lines = run(["check", str(path)], capsys)
    assert code == 0
    assert lines == [
        f"{path}: warning: no users ([[users]] or [[user_groups]]): every login will fail",
        f"{path}: ok (0 users, 0 pools, 0 machines, 0 tasks, 0 rules, 0 faults)",
    ]


def test_schema_is_json_schema_of_the_scenario_sections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(["schema"], capsys)
    assert code == 0
    schema = json.loads("\n".join(lines))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {
        "settings",
        "version",
        "client_settings",
        "timing",
        "users",
        "user_groups",
        "pools",
        "machines",
        "tasks",
        "rules",
    } <= set(schema["properties"])
    assert "UserSpec" in schema["$defs"]
    # A key of [client_settings] is documented down to the protocols' options.
    protocol = schema["$defs"]["ProtocolSettings"]
    assert protocol["properties"]["fps"] == {"default": 30, "title": "Fps", "type": "integer"}
    assert protocol["additionalProperties"] is False
    assert lines[1].startswith('  "')  # indent 2, readable in a diff


def test_help_explains_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "check" in out
    assert "schema" in out


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["check"]])
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python -m mockapi scenario")
    assert ": error: " in err


def test_check_counts_every_list_section_of_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[[faults]]\npath = "/api/v2/pools/"\nstatus = 503\n')
    code, lines = run(["check", str(path)], capsys)
    assert code == 0
    assert lines == [
        f"{path}: warning: no users ([[users]] or [[user_groups]]): every login will fail",
        f"{path}: ok (0 users, 0 pools, 0 machines, 0 tasks, 0 rules, 1 fault)",
    ]
    sections = [
        name
        for name, field in Scenario.model_fields.items()
        if str(field.annotation).startswith("list[")
    ]
    # Groups are counted as their users; every other list section has its own count.
    counted = {"user_groups": "users"}
    for name in sections:
        assert counted.get(name, name).rstrip("s") in lines[1], name
