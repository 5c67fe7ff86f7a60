"""How each machine is drawn: its direction, one fan per source for login, the node rule and
its inverse, and the start arrows; checked settings; light enough for request time."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from mockapi.statemachines import connection, login, task
from mockapi.statemachines.drawing import (
    DRAWINGS,
    MODULES,
    SEPARATOR,
    Drawing,
    drawing_of,
    sources,
)
from tests.helpers import fresh_python

FAN = Drawing(fan_per_source=True)
PLAIN = Drawing()


def edges(module: Any) -> list[tuple[str, str]]:
    """Every (source, dest) of a machine's table, one per source of a row."""
    pairs = []
    for row in module.TRANSITIONS:
        for source in [row["source"]] if isinstance(row["source"], str) else row["source"]:
            pairs.append((source, row.get("dest") or source))
    return pairs


def test_only_login_fans_out_per_source() -> None:
    assert {name: drawing.fan_per_source for name, drawing in DRAWINGS.items()} == {
        "login": True,
        "connection": False,
        "task": False,
    }


def test_each_machine_runs_the_way_its_module_says() -> None:
    assert DRAWINGS["connection"].direction == connection.DIAGRAM_DIRECTION == "TB"
    assert DRAWINGS["login"].direction == "LR"
    assert DRAWINGS["task"].direction == "LR"
    assert list(DRAWINGS) == ["login", "connection", "task"] == list(MODULES)


def test_a_fanned_machine_draws_each_dest_once_per_source() -> None:
    assert FAN.node("logging_in", "unknown_user") == f"logging_in{SEPARATOR}unknown_user"
    assert FAN.node("signing_in_with_adfs", "unknown_user") == (
        f"signing_in_with_adfs{SEPARATOR}unknown_user"
    )
    # Any other machine draws a state once, whatever leads to it.
    assert PLAIN.node("RUNNING", "CANCELLED") == PLAIN.node("PENDING", "CANCELLED") == "CANCELLED"


def test_a_transition_that_stays_loops_on_its_source_even_when_fanned() -> None:
    assert FAN.node("reserving", "reserving") == "reserving"


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_every_node_reads_back_as_the_state_it_draws(name: str) -> None:
    drawing, module = DRAWINGS[name], MODULES[name]
    for source, dest in edges(module):
        assert drawing.state_of(drawing.node(source, dest)) == dest
        assert drawing.state_of(source) == source


def test_login_draws_its_sixteen_edges_to_sixteen_distinct_copies() -> None:
    pairs = edges(login)
    nodes = {DRAWINGS["login"].node(source, dest) for source, dest in pairs}
    assert len(pairs) == len(nodes) == 16
    # No copy is a state of the machine, nor a source: the fans share no node.
    assert not nodes & set(login.STATES)


def test_a_fanned_machine_has_sources_no_transition_leads_to() -> None:
    # Fanning suits such a machine: a copy of a state that was also a source would end a path
    # the machine goes on from.
    for name, drawing in DRAWINGS.items():
        if drawing.fan_per_source:
            module = MODULES[name]
            assert not set(sources(module.TRANSITIONS)) & {d for _, d in edges(module)}


def test_sources_are_listed_once_in_table_order_lists_included() -> None:
    assert sources(task.TRANSITIONS) == ["PENDING", "RUNNING"]
    assert sources(login.TRANSITIONS) == [state.value for state in login.START.values()]


def test_each_login_route_start_state_gets_the_start_arrow_the_initial_first() -> None:
    starts = DRAWINGS["login"].starts(login.INITIAL, login.TRANSITIONS)
    assert starts == ["logging_in", "signing_in_with_adfs", "signing_in_with_hardware_token"]
    assert set(starts) == {state.value for state in login.START_STATES}


@pytest.mark.parametrize("module", [connection, task])
def test_an_unfanned_machine_starts_only_in_its_initial_state(module: Any) -> None:
    name = module.__name__.rsplit(".", 1)[-1]
    assert DRAWINGS[name].starts(module.INITIAL, module.TRANSITIONS) == [module.INITIAL]


def fake(**attributes: Any) -> ModuleType:
    module = ModuleType("fake_machine")
    module.STATES = ["a", "b"]  # type: ignore[attr-defined]
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def test_a_module_without_settings_is_drawn_left_to_right_unfanned() -> None:
    assert drawing_of(fake()) == Drawing("LR", fan_per_source=False)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"DIAGRAM_DIRECTION": "sideways"}, "DIAGRAM_DIRECTION: 'sideways' is none of"),
        ({"DIAGRAM_FAN_PER_SOURCE": "yes"}, "DIAGRAM_FAN_PER_SOURCE must be a bool"),
        ({"STATES": ["a", {"name": f"b{SEPARATOR}c"}]}, "state 'b__c' contains '__'"),
    ],
)
def test_a_bad_drawing_setting_is_a_clear_error(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        drawing_of(fake(**attributes))


def test_the_drawing_rules_load_no_diagram_extension() -> None:
    # The coverage flowchart imports them at request time; GraphMachine is for exports only.
    script = (
        "import sys\n"
        "import mockapi.domain.coverage\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mockapi.statemachines.diagrams',"
        " 'transitions.extensions'))))\n"
    )
    assert fresh_python(script).strip() == "[]"
