"""State diagrams come from the machines the server runs; the committed copies are current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockapi.cli.diagrams import main, render_all
from mockapi.statemachines import connection, login, task
from mockapi.statemachines.diagrams import ACTIVE_STYLE, MACHINES, drawn_table, mermaid

DOCS = Path(__file__).resolve().parents[2] / "docs" / "diagrams"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_committed_diagram_is_up_to_date(name: str) -> None:
    committed = DOCS / f"{name}.mmd"
    assert committed.exists(), (
        f"run: python -m mockapi diagrams --out docs/diagrams (missing {committed})"
    )
    assert committed.read_text(encoding="utf-8") == render_all()[f"{name}.mmd"], (
        f"{committed} is stale: run python -m mockapi diagrams --out docs/diagrams"
    )


#: A node's line: ``state "<label>" as <node id>``.
NODE = re.compile(r'^  state "(?P<label>[^"]+)" as (?P<node>\S+)$', re.MULTILINE)
EDGE = re.compile(r"^  (?P<source>\S+) --> (?P<dest>\S+): (?P<label>.+)$", re.MULTILINE)


@pytest.mark.parametrize("module", [login, connection, task])
def test_every_state_and_trigger_of_the_machine_is_drawn(module: object) -> None:
    name = module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    definition = MACHINES[name]
    text = mermaid(definition)
    assert text.startswith(f"---\ntitle: {name}\n---\nstateDiagram-v2\n")
    drawn = {m["label"] for m in NODE.finditer(text)}
    for match in NODE.finditer(text):
        # Each node is labelled with the state it draws (a fanned copy too).
        assert definition.drawing.state_of(match["node"]) == match["label"]
    for state in module.STATES:  # type: ignore[attr-defined]
        state_name = state if isinstance(state, str) else state["name"]
        assert state_name in drawn
    for transition in module.TRANSITIONS:  # type: ignore[attr-defined]
        # Parallel edges share one label: "a --> b: start_cancelled | start_failed".
        assert re.search(rf"[:|] {transition['trigger']}\b", text), transition


def test_login_is_one_fan_per_start_state_each_with_its_own_outcomes() -> None:
    definition = MACHINES["login"]
    text = mermaid(definition)
    nodes = {m["node"]: m["label"] for m in NODE.finditer(text)}
    drawn_edges = [(m["source"], m["dest"]) for m in EDGE.finditer(text)]
    # Every transition of the table once, to its own source's copy of its outcome.
    assert drawn_edges == [
        (row["source"], f"{row['source']}__{row['dest']}") for row in login.TRANSITIONS
    ]
    assert len(set(drawn_edges)) == len(login.TRANSITIONS) == 16
    # The three start states are nodes of their own; every other node is a copy with one
    # edge into it, labelled with its outcome's name.
    starts = [state.value for state in login.START.values()]
    assert [node for node in nodes if node in login.STATES] == starts
    copies = {node: label for node, label in nodes.items() if node not in starts}
    assert sorted(copies) == sorted(dest for _, dest in drawn_edges)
    assert set(copies.values()) == set(login.STATES) - set(starts)
    assert nodes["signing_in_with_adfs__unknown_user"] == "unknown_user"
    assert nodes["signing_in_with_hardware_token__authenticated"] == "authenticated"
    # No edge goes from one fan into another: the drawing has no crossings to make.
    for source, dest in drawn_edges:
        assert dest.startswith(f"{source}__")
    # Each route's start state gets the start arrow, the initial state's first.
    assert re.findall(r"^  \[\*\] --> (\S+)$", text, re.MULTILINE) == starts
    assert f"Class {login.INITIAL} s_active" in text


def test_an_unfanned_machine_is_drawn_from_its_own_table_unchanged() -> None:
    for name in ("connection", "task"):
        definition = MACHINES[name]
        assert drawn_table(definition) == (definition.states, definition.transitions)
        text = mermaid(definition)
        assert "__" not in text
        assert re.findall(r"^  \[\*\] --> (\S+)$", text, re.MULTILINE) == [definition.initial]


def test_a_current_state_of_login_is_marked_on_every_copy() -> None:
    text = mermaid(MACHINES["login"], current="credentials_rejected")
    active = re.findall(r"^  Class (\S+) s_active$", text, re.MULTILINE)
    assert sorted(active) == [
        "logging_in__credentials_rejected",
        "signing_in_with_adfs__credentials_rejected",
        "signing_in_with_hardware_token__credentials_rejected",
    ]


def test_the_current_state_is_marked() -> None:
    text = mermaid(MACHINES["task"], current="RUNNING")
    assert "Class RUNNING s_active" in text
    assert "Class PENDING s_default" in text


def test_diagrams_command_writes_one_file_per_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(f"{name}.mmd" for name in MACHINES)
    assert "wrote" in capsys.readouterr().out


def test_diagrams_command_reports_an_unwritable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--out", str(blocker / "sub")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_diagrams_without_out_prints_every_machine_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    for name, text in render_all().items():
        assert f"%% {name}\n{text}" in out
    assert list(tmp_path.iterdir()) == []  # nothing in the current folder


def test_diagrams_of_one_machine_prints_just_its_mermaid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["task"]) == 0
    assert capsys.readouterr().out == render_all()["task.mmd"]
    assert list(tmp_path.iterdir()) == []


def test_diagrams_of_an_unknown_machine_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["pool"])
    assert caught.value.code == 2
    assert "invalid choice: 'pool'" in capsys.readouterr().err


def test_the_marked_state_is_not_drawn_as_an_error() -> None:
    for definition in MACHINES.values():
        text = mermaid(definition)
        assert ":red" not in text
        assert "salmon" not in text
        assert ACTIVE_STYLE in text
