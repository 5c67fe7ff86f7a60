"""The private fast paths of mockapi.statemachines._lean, held against plain transitions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from transitions import EventData, Machine, MachineError

from mockapi.statemachines._lean import PLANNED, LazyBinding, PlannedMachine
from mockapi.statemachines.connection import Connection, build_connection_machine
from mockapi.statemachines.registry import build_machine


# -- the binding plan --------------------------------------------------------------------------
#: Every name a connection machine binds: its triggers, their ``may_`` and its states' ``is_``.
def binding_names(machine: Machine) -> list[str]:
    names = ["trigger", "may_trigger"]
    names += [name for event in machine.events for name in (event, f"may_{event}")]
    return names + [f"is_{state}" for state in machine.states]


def bound_names(model: object, names: list[str]) -> dict[str, tuple[Any, ...]]:
    """What reading each of ``names`` on ``model`` gives: name -> (function, arguments but the
    model), for every name that is a partial holding the model (stored or served)."""
    found = {}
    for name in names:
        value = getattr(model, name, None)
        if isinstance(value, partial) and any(arg is model for arg in value.args):
            found[name] = (value.func, tuple(arg for arg in value.args if arg is not model))
    return found


def test_a_later_model_of_a_class_gets_what_add_model_gives_the_first() -> None:
    machine = build_connection_machine()
    first, second = (Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4()) for _ in range(2))
    machine.add_model(first)  # transitions' own add_model: it makes the plan
    machine.add_model(second)  # from the plan
    names = binding_names(machine)
    assert bound_names(second, names) == bound_names(first, names)
    assert set(bound_names(second, names)) == set(names)
    assert {"trigger", "may_trigger", "expand_requested", "may_start_failed", "is_ready"} <= set(
        names
    )
    assert list(machine.models) == [first, second]
    assert second.state == "no_machine"
    assert second.may_trigger("expand_requested", expandable=True)
    assert second.expand_requested(new_task=lambda: None, expandable=True)  # type: ignore[arg-type,return-value]
    assert (second.state, first.state) == ("reserving", "no_machine")


@dataclass(eq=False)
class Lamp:
    state: str = "off"
    entered: int = 0

    def on_enter_on(self, event: EventData) -> None:
        self.entered += 1


def lamp_machine() -> Machine:
    return build_machine(["off", "on"], [{"trigger": "flip", "source": "off", "dest": "on"}], "off")


def test_on_enter_methods_of_the_class_run_for_every_model() -> None:
    machine = lamp_machine()
    lamps = [Lamp() for _ in range(3)]
    for lamp in lamps:
        machine.add_model(lamp)
        lamp.flip()  # type: ignore[attr-defined]
    assert [lamp.entered for lamp in lamps] == [1, 1, 1]


def test_a_model_with_its_own_attribute_of_a_bound_name_keeps_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    machine = lamp_machine()
    machine.add_model(Lamp())
    own = Lamp()
    own.may_flip = "mine"  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="transitions"):
        machine.add_model(own)
    assert own.may_flip == "mine"  # type: ignore[attr-defined]
    assert "Skip binding of 'may_flip'" in caplog.text
    assert own.flip()  # type: ignore[attr-defined]


def test_triggers_added_later_are_bound_on_later_models() -> None:
    machine = lamp_machine()
    machine.add_model(Lamp())
    machine.add_transition("unflip", "on", "off")
    lamp = Lamp(state="on")
    machine.add_model(lamp, initial="on")
    assert lamp.unflip()  # type: ignore[attr-defined]
    assert lamp.state == "off"


def test_a_removed_model_added_again_starts_in_the_initial_state() -> None:
    machine = lamp_machine()
    machine.add_model(Lamp())
    lamp = Lamp()
    machine.add_model(lamp)
    lamp.flip()  # type: ignore[attr-defined]
    machine.remove_model(lamp)
    machine.add_model(lamp)
    assert lamp.state == "off"
    assert lamp.flip()  # type: ignore[attr-defined]
    assert list(machine.models) == [machine.models[0], lamp]


def test_a_later_model_keeps_one_attribute_not_one_per_name() -> None:
    # transitions stores every binding in each model's __dict__: kilobytes a connection.
    machine = build_connection_machine()
    first, second = (Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4()) for _ in range(2))
    machine.add_model(first)
    machine.add_model(second)
    assert not any(isinstance(value, partial) for value in vars(second).values())
    fresh = Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4())
    assert set(vars(second)) == {*vars(fresh), PLANNED}
    assert isinstance(vars(Connection)["expand_requested"], LazyBinding)


def test_a_model_of_another_machine_of_the_same_class_gets_that_machines_bindings() -> None:
    machines = [build_connection_machine() for _ in range(2)]
    models = [Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4()) for _ in range(4)]
    for index, model in enumerate(models):
        machines[index % 2].add_model(model)
    names = binding_names(machines[0])
    assert bound_names(models[2], names) == bound_names(models[0], names)
    assert bound_names(models[3], names) == bound_names(models[1], names)
    assert bound_names(models[2], names) != bound_names(models[3], names)
    assert models[3].expand_requested(new_task=lambda: None, expandable=True)  # type: ignore[arg-type,return-value]
    assert [model.state for model in models] == ["no_machine"] * 3 + ["reserving"]


def test_a_removed_model_keeps_no_binding_and_no_cycle() -> None:
    # Each binding is a partial holding the model: left behind, a finished task kept kilobytes
    # and a cycle only the cyclic collector could free.
    machine = build_connection_machine()
    first, second = (Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4()) for _ in range(2))
    machine.add_model(first)  # transitions' own add_model
    machine.add_model(second)  # from the plan
    names = binding_names(machine)
    for model in (first, second):
        assert bound_names(model, names)
        machine.remove_model(model)
        assert bound_names(model, names) == {}
        assert not hasattr(model, "expand_requested")
        assert model.state == "no_machine"  # the model's own data stays
    assert list(machine.models) == []


def test_a_removed_model_keeps_what_it_set_itself() -> None:
    machine = lamp_machine()
    lamp = Lamp()
    machine.add_model(lamp)
    own = partial(print, "mine")
    lamp.flip = own  # type: ignore[attr-defined]
    machine.remove_model(lamp)
    assert vars(lamp)["flip"] is own


# -- the lean trigger --------------------------------------------------------------------------
@dataclass(eq=False)
class Recorder:
    """Notes every callback with what it sees: the event's state, the transition, its own state."""

    state: str = "a"
    seen: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    allow: bool = True

    def _note(self, name: str, event: EventData) -> None:
        dest = event.transition.dest if event.transition is not None else None
        self.seen.append((name, event.state.name, dest, self.state))

    def prep(self, event: EventData) -> None:
        self._note("prep", event)

    def yes(self, event: EventData) -> bool:
        self._note("yes", event)
        return self.allow

    def no(self, event: EventData) -> bool:
        self._note("no", event)
        return bool(event.kwargs.get("force", False))

    def __getattr__(self, name: str) -> Callable[[EventData], None]:
        if name.startswith("cb_"):
            return partial(self._note, name)
        raise AttributeError(name)

    if TYPE_CHECKING:

        def trigger(self, name: str, **kwargs: Any) -> bool: ...
        def may_trigger(self, name: str, **kwargs: Any) -> bool: ...


RECORDER_STATES: list[Any] = [
    {"name": "a", "on_exit": ["cb_exit_a"]},
    "b",
    {"name": "c", "on_enter": ["cb_enter_c"], "final": True},
]
RECORDER_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "go", "source": "a", "dest": "b", "conditions": "no"},
    {
        "trigger": "go",
        "source": "a",
        "dest": "c",
        "prepare": "prep",
        "conditions": "yes",
        "unless": "no",
        "before": "cb_before",
        "after": "cb_after",
    },
    {"trigger": "poke", "source": "*", "dest": None, "after": "cb_after_poke"},
    {"trigger": "back", "source": ["b", "c"], "dest": "a"},
]


def recorder_machine(cls: type[Machine], **hooks: Any) -> Machine:
    return cls(
        model=None,
        states=RECORDER_STATES,
        transitions=RECORDER_TRANSITIONS,
        initial="a",
        send_event=True,
        auto_transitions=False,
        before_state_change="cb_before_state_change",
        after_state_change="cb_after_state_change",
        on_final="cb_final",
        **hooks,
    )


SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("poke", {}),
    ("go", {"force": True}),  # the first transition's guard passes: a -> b
    ("poke", {}),
    ("back", {}),
    ("go", {}),  # the first refuses, the second runs (a -> c, a final state) if allowed
    ("poke", {}),
]


def run_script(machine: Machine, allow: bool = True) -> tuple[list[Any], list[Any]]:
    model = Recorder(allow=allow)
    machine.add_model(model)
    results = [(name, model.trigger(name, **kwargs), model.state) for name, kwargs in SCRIPT]
    return results, model.seen


def test_a_lean_trigger_runs_the_callbacks_transitions_runs_in_the_same_order() -> None:
    runs = {}
    for allow in (True, False):
        runs[allow] = run_script(recorder_machine(PlannedMachine), allow)
        assert runs[allow] == run_script(recorder_machine(Machine), allow)
    assert ("cb_final", "c", "c", "c") in runs[True][1]
    assert runs[True][0][4] == ("go", True, "c")
    assert runs[False][0][4] == ("go", False, "a")  # both guards refused: nothing changed


def test_may_trigger_answers_as_transitions_answers_from_every_state() -> None:
    lean_machine, plain_machine = recorder_machine(PlannedMachine), recorder_machine(Machine)
    for state in ("a", "b", "c"):
        for trigger in ("go", "poke", "back", "unknown"):
            for kwargs in ({}, {"force": True}):
                lean, plain = Recorder(state=state), Recorder(state=state)
                lean_machine.add_model(lean, initial=state)
                plain_machine.add_model(plain, initial=state)
                assert lean.may_trigger(trigger, **kwargs) == plain.may_trigger(trigger, **kwargs)
                assert lean.seen == plain.seen
                assert lean.state == state


def test_a_trigger_its_state_does_not_know_is_still_a_machine_error() -> None:
    machine = recorder_machine(PlannedMachine)
    model = Recorder(state="c")
    machine.add_model(model, initial="c")
    with pytest.raises(MachineError, match="Can't trigger event go from state c"):
        model.trigger("go")
    assert (model.state, model.seen) == ("c", [])


def test_machine_hooks_the_lean_trigger_leaves_out_are_run_by_transitions_path() -> None:
    hooks = {"prepare_event": "cb_prepare_event", "finalize_event": "cb_finalize_event"}
    lean = run_script(recorder_machine(PlannedMachine, **hooks))
    assert lean == run_script(recorder_machine(Machine, **hooks))
    names = [name for name, *_ in lean[1]]
    assert names.count("cb_finalize_event") == names.count("cb_prepare_event") == len(SCRIPT)


def test_with_transitions_logging_at_info_its_lines_are_all_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="transitions"):
        lean = run_script(recorder_machine(PlannedMachine))
        lean_lines = [record.getMessage() for record in caplog.records]
        caplog.clear()
        plain = run_script(recorder_machine(Machine))
        plain_lines = [record.getMessage() for record in caplog.records]
    assert lean == plain
    assert lean_lines == plain_lines
    assert "Executed callback 'cb_before'" in lean_lines
