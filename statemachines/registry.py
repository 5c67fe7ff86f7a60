"""An identity-keyed model registry for machines that serve many models.

transitions keeps a machine's models in a list: ``add_model`` checks ``mod not in models``
and ``remove_model`` calls ``models.remove(mod)``, both linear. With one model per task and
per (user, pool), 10,000 users made step 1 quadratic (20,000 requests took 33 s). This
registry keeps the list interface transitions uses (append, remove, in, iteration, len,
indexing) over a dict keyed by identity, so both are O(1). Models are compared by identity
anyway: they are ``eq=False`` dataclasses.

:class:`PlannedMachine` makes ``add_model`` itself cheap: transitions binds ``trigger``,
``may_trigger``, each trigger, each ``may_<trigger>`` and each ``is_<state>`` onto every new
model, and works out afresh for each one which of those names to bind and which
``on_enter_<state>``/``on_exit_<state>`` methods to register, all the same for every model of a
class (70-160 µs a model; a step-1 request added two models). It works that out once per model
class and then binds the same callables directly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from functools import partial
from typing import Any

from transitions import EventData, Machine


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


#: How transitions binds one name on a model: ``name = partial(func, model)``, or with one more
#: argument before the model (``is_<state>``) or after it (``may_<trigger>``).
Binder = tuple[str, Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]
#: A plan: the binders, and their names (to see whether a model already has some of them).
Plan = tuple[list[Binder], frozenset[str]]


class PlannedMachine(Machine):
    """A transitions ``Machine`` whose ``add_model`` binds from a plan made once per model class.

    The first model of a class (and any model after the machine's states or events changed)
    goes through transitions' own ``add_model``, which also registers the class's
    ``on_enter_<state>``/``on_exit_<state>`` methods on the states and skips (with its warning)
    names the model already has. Each later model of the class gets the same names bound to
    the same callables transitions would make, without redoing those checks. A model that
    carries its own attributes of those names (one added before, say) goes the full way.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._plans: dict[type, tuple[Hashable, Plan]] = {}
        super().__init__(*args, **kwargs)

    def add_model(self, model: Any, initial: Any = None) -> None:
        if initial is None:
            initial = self.initial
        for mod in model if isinstance(model, list) else [model]:
            if mod in self.models:
                continue  # as transitions: a model is added once
            plan = self._plan_for(mod)
            if plan is None:
                super().add_model(mod, initial)
                continue
            for name, func, before, after in plan:
                if before:
                    setattr(mod, name, partial(func, before[0], mod))
                elif after:
                    setattr(mod, name, partial(func, mod, after[0]))
                else:
                    setattr(mod, name, partial(func, mod))
            self.set_state(initial, model=mod)
            self.models.append(mod)

    def _signature(self) -> Hashable:
        return (tuple(self.events), tuple(self.states), self.model_attribute, self.model_override)

    def _plan_for(self, model: object) -> list[Binder] | None:
        """The bindings for ``model``, or None when it must go through ``add_model`` in full."""
        if model is self.self_literal or model is self:
            return None
        own = getattr(model, "__dict__", None)
        if own is None:
            return None
        signature = self._signature()
        planned = self._plans.get(type(model))
        if planned is None or planned[0] != signature:
            # Made now, for the next model of the class: transitions' own add_model does this
            # one, with every check it makes.
            self._plans[type(model)] = (signature, self._make_plan(model))
            return None
        binders, names = planned[1]
        if not names.isdisjoint(own):
            return None
        return binders

    def _make_plan(self, model: object) -> Plan:
        """What transitions' ``add_model`` binds on ``model``."""
        can_trigger: Callable[..., bool] = getattr(self, "_can_trigger")  # noqa: B009 (not in the stubs)
        binders: list[Binder] = [
            ("trigger", self._get_trigger, (), ()),
            ("may_trigger", can_trigger, (), ()),
        ]
        for name, event in self.events.items():
            binders.append((name, event.trigger, (), ()))
            binders.append((f"may_{name}", can_trigger, (), (name,)))
        attribute = self.model_attribute
        for state in self.states.values():
            name = f"is_{state.name}" if attribute == "state" else f"is_{attribute}_{state.name}"
            binders.append((name, self.is_state, (state.value,), ()))
        # transitions binds a name only where the model has no attribute of it (or, with
        # model_override, only where it has one).
        planned = [
            binder
            for binder in binders
            if (getattr(model, binder[0], None) is None) ^ self.model_override
        ]
        return planned, frozenset(binder[0] for binder in planned)


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
