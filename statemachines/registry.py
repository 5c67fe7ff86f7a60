"""How every mockapi machine is built: an identity-keyed model registry and the fast-path opt-in.

transitions keeps a machine's models in a list: ``add_model`` checks ``mod not in models``
and ``remove_model`` calls ``models.remove(mod)``, both linear. With one model per task and
per (user, pool), 10,000 users made step 1 quadratic. :class:`ModelRegistry` keeps the list
interface transitions uses (append, remove, in, iteration, len, indexing) over a dict keyed by
identity, so both are O(1). Models are compared by identity anyway: they are ``eq=False``
dataclasses.

:func:`build_machine` is the one place that decides a machine takes the fast ``add_model``
and trigger paths of the private :mod:`mockapi.statemachines._lean`; callers use the plain
transitions API either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from transitions import EventData, Machine

from ._lean import PlannedMachine


class ModelRegistry:
    """The models of one machine, in the order they were added."""

    __slots__ = ("_models",)

    def __init__(self) -> None:
        self._models: dict[int, object] = {}

    def append(self, model: object) -> None:
        self._models[id(model)] = model

    def remove(self, model: object) -> None:
        if self._models.pop(id(model), None) is None:
            raise ValueError("model is not registered")

    def __contains__(self, model: object) -> bool:
        return id(model) in self._models

    def __iter__(self) -> Iterator[object]:
        return iter(list(self._models.values()))

    def __len__(self) -> int:
        return len(self._models)

    def __getitem__(self, index: int) -> object:
        return list(self._models.values())[index]


def build_machine(
    states: list[Any],
    transitions: list[dict[str, Any]],
    initial: str,
    after_state_change: Callable[[EventData], None] | None = None,
) -> Machine:
    """A machine with the policy every mockapi machine follows.

    ``send_event=True`` so every callback takes one ``EventData``; no auto transitions, so
    only the table's transitions exist; models kept in a :class:`ModelRegistry`.
    """
    # transitions logs every callback at INFO; the one line per change is the runtime's. With
    # its logger quiet, triggers also take the lean path (a logger at INFO turns it off).
    logging.getLogger("transitions").setLevel(logging.WARNING)
    machine = PlannedMachine(
        model=None,
        states=states,
        transitions=transitions,
        initial=initial,
        send_event=True,
        auto_transitions=False,
        after_state_change=after_state_change,
    )
    return with_registry(machine)


def with_registry(machine: Machine) -> Machine:
    """``machine`` with its model list replaced by a :class:`ModelRegistry` (before any model)."""
    assert not machine.models, "swap the registry before adding models"
    machine.models = ModelRegistry()  # type: ignore[assignment]
    return machine
