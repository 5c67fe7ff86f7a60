"""Fast paths through transitions' internals: a private copy that only build_machine opts into.

:class:`PlannedMachine` makes ``add_model`` cheap: transitions binds ``trigger``,
``may_trigger``, each trigger, each ``may_<trigger>`` and each ``is_<state>`` onto every new
model, and works out afresh for each one which of those names to bind and which
``on_enter_<state>``/``on_exit_<state>`` methods to register, all the same for every model of a
class. It works that out once per model class, and then serves the names from the class
(:class:`LazyBinding`) instead of storing some fifty partials in every model's ``__dict__``:
each model keeps one attribute, its plan, and reading a name makes the partial transitions
would have stored. ``remove_model`` drops what ``add_model`` bound, as transitions does not.

:class:`LeanEvent` makes a trigger cheap. transitions' ``Event.trigger`` wraps every trigger
in a partial, a queue check, a ``finalize_event`` pass and ``prepare``/``on_exit``/``on_enter``
passes over empty callback lists, with log calls at each step. mockapi's machines use none of
that: no queue, no machine-wide hook but ``after_state_change``, and transitions' logger at
WARNING. For such a machine a trigger does exactly what transitions' does (same callbacks,
same order, same ``EventData``, same result), without the passes that would do nothing; any
other machine, an invalid trigger, or transitions' logger at INFO, takes transitions' own
path. ``may_trigger`` likewise asks only the trigger's own transitions.

Both copy what transitions does inside ``add_model`` and ``Event.trigger`` (pinned ``<0.10`` in
setup.cfg); ``tests/statemachines/test_lean.py`` holds them against plain transitions, and
docs/performance.md has what they save. If the benchmark stops showing that, delete this
module and let :func:`~mockapi.statemachines.registry.build_machine` build plain machines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from transitions import Event, EventData, Machine, State, Transition

#: transitions' own logger: while it is enabled for INFO, triggers take transitions' path so
#: every line it would log is logged.
_TRANSITIONS_LOG = logging.getLogger("transitions.core")


#: How transitions binds one name on a model: ``name = partial(func, model)``, or with one more
#: argument before the model (``is_<state>``) or after it (``may_<trigger>``).
Binder = tuple[str, Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class BindingPlan:
    """What ``add_model`` binds on every model of one class, grouped by the partial's shape."""

    #: ``name = partial(func, model)``
    plain: list[tuple[str, Callable[..., Any]]]
    #: ``name = partial(func, arg, model)``
    before: list[tuple[str, Callable[..., Any], Any]]
    #: ``name = partial(func, model, arg)``
    after: list[tuple[str, Callable[..., Any], Any]]
    #: All the names: a model that already has one of them goes through ``add_model`` in full.
    names: frozenset[str]
    #: Whether the names can be served from the class (:class:`LazyBinding`) instead of
    #: going into each model's ``__dict__``: the class has no attribute of any of them (but
    #: these descriptors) and no ``__setattr__`` of its own, so reading a name gives what
    #: ``setattr`` would have stored.
    direct: bool
    #: Each name's partial as ``(func, before, after)``: ``partial(func, *before, model, *after)``.
    shapes: Mapping[str, tuple[Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]] = field(
        default_factory=dict
    )


#: The one attribute a model bound from a plan keeps: the plan (shared by every model of the
#: class in that machine), which :class:`LazyBinding` reads.
PLANNED = "_planned_bindings"


class LazyBinding:
    """A name ``add_model`` binds, served from the model's class.

    transitions stores some fifty partials in every model's ``__dict__`` (kilobytes a model:
    with one connection model per (user, pool), the largest cost of a busy world). Reading the
    name here makes the same partial transitions would have stored, ``partial(func, model)``
    (with the state or trigger argument where transitions puts one), from the model's plan. A
    model without a plan of this machine has no such attribute, as before ``add_model``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        plan: BindingPlan | None = instance.__dict__.get(PLANNED)
        shape = None if plan is None else plan.shapes.get(self.name)
        if shape is None:
            raise AttributeError(self.name)
        func, before, after = shape
        return partial(func, *before, instance, *after)


def _serve_from_class(cls: type, names: frozenset[str]) -> None:
    """Put a :class:`LazyBinding` on ``cls`` for each of ``names`` it has none for yet."""
    for name in names:
        if not isinstance(cls.__dict__.get(name), LazyBinding):
            setattr(cls, name, LazyBinding(name))


def _ours(cls: type, name: str) -> bool:
    """Whether ``cls`` has no attribute ``name`` but a :class:`LazyBinding`."""
    return not hasattr(cls, name) or isinstance(getattr(cls, name), LazyBinding)


class LeanEvent(Event):
    """An event whose trigger skips the steps of transitions' that would do nothing here.

    Taken when the machine has no queue, no ``prepare_event``, ``finalize_event`` or
    ``on_exception`` hooks, and transitions' logger would drop its lines; otherwise, and for
    a trigger the model's state does not know (MachineError or its warning), transitions'
    own ``Event.trigger`` runs.
    """

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        machine = self.machine
        if not _lean(machine):
            return bool(super().trigger(model, *args, **kwargs))
        state = machine.get_model_state(model)
        candidates = self.transitions.get(state.name)
        if candidates is None:
            return bool(super().trigger(model, *args, **kwargs))
        event_data = EventData(state, self, machine, model, args=args, kwargs=kwargs)
        for transition in candidates:
            event_data.transition = transition
            if _execute(transition, event_data):
                event_data.result = True
                break
        return bool(event_data.result)


def _lean(machine: Machine) -> bool:
    """Whether ``machine`` uses none of what the lean paths leave out."""
    return not (
        machine.has_queue
        or machine.prepare_event
        or machine.finalize_event
        or machine.on_exception
        or _TRANSITIONS_LOG.isEnabledFor(logging.INFO)
    )


def _run(machine: Machine, callbacks: list[Any], event_data: EventData) -> None:
    """``Machine.callbacks`` without its log line per callback (its logger drops them)."""
    for callback in callbacks:
        machine.callback(callback, event_data)


def _execute(transition: Transition, event_data: EventData) -> bool:
    """``Transition.execute`` for a lean machine: the same callbacks in the same order.

    Left out: log calls (the logger drops them) and the ``exit``/``enter`` passes of states
    without callbacks (transitions' plain ``State`` does nothing else in them).
    """
    machine = event_data.machine
    if transition.prepare:
        _run(machine, transition.prepare, event_data)
    for condition in transition.conditions:
        if not condition.check(event_data):
            return False
    _run(machine, machine.before_state_change, event_data)
    _run(machine, transition.before, event_data)
    if transition.dest:  # None: an internal transition, no change of state
        model = event_data.model
        states = machine.states
        source = states[transition.source]
        if source.on_exit:
            source.exit(event_data)
        dest = states[transition.dest]
        setattr(model, machine.model_attribute, dest.value)  # what set_state does for one model
        event_data.state = dest  # what event_data.update does with the state just set
        if dest.on_enter:
            dest.enter(event_data)
        if dest.final:
            _run(machine, machine.on_final, event_data)
    _run(machine, transition.after, event_data)
    _run(machine, machine.after_state_change, event_data)
    return True


class PlannedMachine(Machine):
    """A transitions ``Machine`` whose ``add_model`` binds from a plan made once per model class.

    The first model of a class (and any model after the machine's states or events changed)
    goes through transitions' own ``add_model``, which also registers the class's
    ``on_enter_<state>``/``on_exit_<state>`` methods on the states and skips (with its warning)
    names the model already has. Each later model of the class gets the same names bound to
    the same callables transitions would make, without redoing those checks. A model that
    carries its own attributes of those names (one added before, say) goes the full way.
    """

    event_cls = LeanEvent

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._plans: dict[type, tuple[Hashable, BindingPlan]] = {}
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
            if plan.direct:
                _serve_from_class(type(mod), plan.names)
                mod.__dict__[PLANNED] = plan
            else:
                bound = {name: partial(func, mod) for name, func in plan.plain}
                for name, func, arg in plan.before:
                    bound[name] = partial(func, arg, mod)
                for name, func, arg in plan.after:
                    bound[name] = partial(func, mod, arg)
                for name, value in bound.items():
                    setattr(mod, name, value)
            # What set_state does for one model.
            state = initial if isinstance(initial, State) else self.get_state(initial)
            setattr(mod, self.model_attribute, state.value)
            self.models.append(mod)

    def remove_model(self, model: Any) -> None:
        """transitions' ``remove_model``, and the names ``add_model`` bound go too.

        transitions leaves them on the model: some fifty partials that each refer to the model
        (kilobytes a model, kept as long as a finished task is), and a cycle only the cyclic
        collector can free. A name is dropped only if it is still this machine's partial for
        this model.
        """
        super().remove_model(model)
        for mod in model if isinstance(model, list) else [model]:
            own = getattr(mod, "__dict__", None)
            planned = self._plans.get(type(mod))
            if own is None or planned is None:
                continue
            if own.get(PLANNED) is planned[1]:
                del own[PLANNED]
            for name in planned[1].names:
                bound = own.get(name)
                if isinstance(bound, partial) and any(arg is mod for arg in bound.args):
                    del own[name]

    def _can_trigger(self, model: Any, trigger: str, *args: Any, **kwargs: Any) -> bool:
        """``may_trigger``: transitions' answer, without listing every trigger of the state.

        The same checks in the same order: the trigger's transitions from the model's state
        whose destination exists, each one's ``prepare`` callbacks, then its conditions.
        """
        if not _lean(self):
            return bool(super()._can_trigger(model, trigger, *args, **kwargs))  # type: ignore[misc]
        state = self.get_model_state(model)
        event = self.events.get(trigger)
        candidates = None if event is None else event.transitions.get(state.name)
        if not candidates:
            return False
        # As transitions does: a fresh Event of that name, so no callback sees the real one.
        event_data = EventData(state, Event(trigger, self), self, model, args, kwargs)
        for transition in candidates:
            if transition.dest is not None and transition.dest not in self.states:
                continue
            event_data.transition = transition
            _run(self, transition.prepare, event_data)
            if all(condition.check(event_data) for condition in transition.conditions):
                return True
        return False

    def _signature(self) -> Hashable:
        return (tuple(self.events), tuple(self.states), self.model_attribute, self.model_override)

    def _plan_for(self, model: object) -> BindingPlan | None:
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
        plan = planned[1]
        if PLANNED in own or not plan.names.isdisjoint(own):
            return None  # bound already (by another machine), or its own attributes: in full
        return plan

    def _make_plan(self, model: object) -> BindingPlan:
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
        cls = type(model)
        return BindingPlan(
            plain=[(name, func) for name, func, before, after in planned if not before + after],
            before=[(name, func, before[0]) for name, func, before, _ in planned if before],
            after=[(name, func, after[0]) for name, func, _, after in planned if after],
            names=frozenset(binder[0] for binder in planned),
            direct=cls.__setattr__ is object.__setattr__
            and all(_ours(cls, binder[0]) for binder in planned),
            shapes={name: (func, before, after) for name, func, before, after in planned},
        )
