"""The identity-keyed model registry the task and connection machines keep their models in."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from transitions import EventData, Machine

from statemachines.connection import Connection, build_connection_machine
from statemachines.registry import ModelRegistry, build_machine
from statemachines.task import build_task_machine


def test_it_keeps_models_by_identity_in_the_order_they_were_added() -> None:
    registry = ModelRegistry()
    first, second, third = Connection(uuid.UUID(int=1), uuid.UUID(int=2)), object(), object()
    for model in (first, second, third):
        registry.append(model)
    registry.remove(second)
    assert list(registry) == [first, third]
    assert (len(registry), registry[0], registry[-1]) == (2, first, third)
    assert first in registry
    assert second not in registry


def test_removing_an_unknown_model_is_an_error_like_a_list() -> None:
    with pytest.raises(ValueError, match="not registered"):
        ModelRegistry().remove(object())


def test_both_machines_use_it_and_add_and_remove_models_through_it() -> None:
    assert isinstance(build_task_machine().models, ModelRegistry)
    machine = build_connection_machine()
    conn = Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4())
    machine.add_model(conn)
    machine.add_model(conn)  # a second add is a no-op, as with the list
    assert list(machine.models) == [conn]
    machine.remove_model(conn)
    assert list(machine.models) == []


# -- the binding plan --------------------------------------------------------------------------
def bound_names(model: object) -> dict[str, tuple[Any, ...]]:
    """The callables the machine bound on ``model``: name -> (function, arguments but the model)."""
    return {
        name: (value.func, tuple(arg for arg in value.args if arg is not model))
        for name, value in vars(model).items()
        if isinstance(value, partial)
    }


def test_a_later_model_of_a_class_gets_what_add_model_gives_the_first() -> None:
    machine = build_connection_machine()
    first, second = (Connection(user_id=uuid.uuid4(), pool_id=uuid.uuid4()) for _ in range(2))
    machine.add_model(first)  # transitions' own add_model: it makes the plan
    machine.add_model(second)  # from the plan
    assert bound_names(second) == bound_names(first)
    assert {"trigger", "may_trigger", "expand_requested", "may_start_failed", "is_ready"} <= set(
        bound_names(second)
    )
    assert all(value.args[0] is second or value.args[1] is second for value in
               (getattr(second, name) for name in bound_names(second)))  # fmt: skip
    assert list(machine.models) == [first, second]
    assert second.state == "no_machine"
    assert second.may_trigger("expand_requested", expandable=True)
    assert second.expand_requested(task=None, expandable=True)  # type: ignore[arg-type]
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
