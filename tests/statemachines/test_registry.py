"""The identity-keyed model registry the task and connection machines keep their models in."""

from __future__ import annotations

import uuid

import pytest

from mockapi.statemachines.connection import Connection, build_connection_machine
from mockapi.statemachines.registry import ModelRegistry
from mockapi.statemachines.task import build_task_machine


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
