"""``--scenario NAME`` finds a shipped scenario from any folder; a real file always wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockapi.cli.serve import settings_from_args
from mockapi.domain.scenario import default_scenario_path


def scenario_of(*argv: str) -> Path | None:
    return settings_from_args(list(argv), environ={}).scenario


def test_a_shipped_name_is_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_of("--scenario", "happy-path") == default_scenario_path().with_name(
        "happy-path.toml"
    )


def test_a_file_of_that_name_in_the_current_folder_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "happy-path").write_text("")
    assert scenario_of("--scenario", "happy-path") == Path("happy-path")


@pytest.mark.parametrize("given", ["nope", "sub/happy-path", "happy-path.json"])
def test_anything_else_stays_a_path(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_of("--scenario", given) == Path(given)
