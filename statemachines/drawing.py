"""How each machine is drawn: which way its diagram runs, and which node draws which state.

The one home of these rules for both drawings of a machine: the ``stateDiagram-v2`` of
:mod:`mockapi.statemachines.diagrams` (the exported files and the dashboard's "states in use")
and the coverage flowchart of :mod:`mockapi.domain.coverage`. The coverage flowchart is drawn
at request time, so this module stays light: it reads the machines' modules and never loads
transitions' diagram extension (GraphMachine).

A machine's module says how it wants to be drawn, beside its table:

- ``DIAGRAM_DIRECTION``: ``LR`` (the default), ``TB``, ``RL`` or ``BT``.
- ``DIAGRAM_FAN_PER_SOURCE``: when true, each source state gets its own copy of each state
  it leads to, so the drawing is one fan per source with no edges crossing between fans. It
  suits a machine whose sources are only sources (login's start states), where the sources
  share outcomes and a layout engine draws their edges crossing, with labels on top of each
  other. The copies are drawn with the state's own name; their node ids are
  ``{source}__{dest}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import connection, login, task

#: Between a source and a state in the node id of a fanned copy; never part of a state name.
SEPARATOR = "__"
#: The directions Mermaid takes in both ``stateDiagram-v2`` and ``flowchart``.
DIRECTIONS = frozenset({"LR", "RL", "TB", "BT"})


@dataclass(frozen=True, slots=True)
class Drawing:
    """How one machine is drawn."""

    direction: str = "LR"
    fan_per_source: bool = False

    def node(self, source: str, dest: str) -> str:
        """The node that draws ``dest`` as reached from ``source``.

        A fanned machine's own copy for that source; else the state itself. A transition
        that stays in its source (an internal one) loops on the source's node either way.
        """
        if self.fan_per_source and dest != source:
            return f"{source}{SEPARATOR}{dest}"
        return dest

    def state_of(self, node: str) -> str:
        """The state ``node`` draws: the inverse of :meth:`node` (a source's node is itself)."""
        return node.rpartition(SEPARATOR)[2]

    def starts(self, initial: str, transitions: Iterable[Mapping[str, Any]]) -> list[str]:
        """The states the start arrow (``[*] -->``) points at: the initial state, and in a
        fanned machine every other source no transition leads to.

        A model is in such a state only because it was started there (login: the start
        state of each route). Each fan gets the arrow, so the fans line up in one column:
        with the initial state's alone, its fan was pushed a rank to the right of the others
        and the drawing was too wide for its column.
        """
        if not self.fan_per_source:
            return [initial]
        rows = list(transitions)
        entered = {row["dest"] for row in rows if row.get("dest") is not None}
        others = [s for s in sources(rows) if s != initial and s not in entered]
        return [initial, *others]


def state_name(state: str | Mapping[str, Any]) -> str:
    """The name of an entry of a machine's ``STATES`` (a name, or a state's definition)."""
    return state if isinstance(state, str) else str(state["name"])


def sources(transitions: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every source state of ``transitions`` in the order they first appear (a row's
    ``source`` may be one state or a list)."""
    found: dict[str, None] = {}
    for row in transitions:
        source = row["source"]
        for state in [source] if isinstance(source, str) else source:
            found[state] = None
    return list(found)


def drawing_of(module: ModuleType) -> Drawing:
    """How the machine of ``module`` is drawn, as the module says; checked, so a bad setting
    fails at import rather than as a garbled diagram."""
    direction = getattr(module, "DIAGRAM_DIRECTION", "LR")
    if direction not in DIRECTIONS:
        raise ValueError(
            f"{module.__name__}.DIAGRAM_DIRECTION: {direction!r} is none of {sorted(DIRECTIONS)}"
        )
    fan = getattr(module, "DIAGRAM_FAN_PER_SOURCE", False)
    if not isinstance(fan, bool):
        raise ValueError(f"{module.__name__}.DIAGRAM_FAN_PER_SOURCE must be a bool")
    for state in module.STATES:
        name = state_name(state)
        if SEPARATOR in name:
            # The node id of a copy could not be read back into its state.
            raise ValueError(f"{module.__name__}: state {name!r} contains {SEPARATOR!r}")
    return Drawing(direction, fan)


#: The machines by name, in the order every list of them follows.
MODULES: dict[str, ModuleType] = {"login": login, "connection": connection, "task": task}
DRAWINGS: dict[str, Drawing] = {name: drawing_of(module) for name, module in MODULES.items()}
