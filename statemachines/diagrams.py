"""State diagrams drawn from the very tables the server runs (never hand-drawn).

``transitions``' GraphMachine with the pure-Python Mermaid engine renders each machine's
``STATES``/``TRANSITIONS``; it is used only here, never at runtime. How a machine is drawn
(its direction, one fan per source) is :mod:`mockapi.statemachines.drawing`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from transitions import State
from transitions.extensions.diagrams import GraphMachine

from .drawing import DRAWINGS, MODULES, Drawing, sources, state_name


@dataclass(frozen=True, slots=True)
class MachineDefinition:
    name: str
    states: list[Any]
    transitions: list[dict[str, Any]]
    initial: str
    drawing: Drawing


MACHINES: dict[str, MachineDefinition] = {
    name: MachineDefinition(name, module.STATES, module.TRANSITIONS, module.INITIAL, DRAWINGS[name])
    for name, module in MODULES.items()
}


#: transitions' style of the current state, and what mockapi draws it with instead.
_TRANSITIONS_ACTIVE = "classDef s_active color:red,fill:darksalmon"
ACTIVE_STYLE = "classDef s_active fill:#dbeafe,stroke:#1d4ed8,color:#1e3a8a,stroke-width:2px"
#: The line that gives a node its style: where marks are set.
_CLASS_LINE = re.compile(r"(?P<indent>\s*)Class (?P<node>\S+) s_(?:default|active)")


class _Model:
    """A stand-in model: GraphMachine draws a machine through one."""


class _LabelledState(State):
    """A state drawn with a ``label`` other than its name (a fanned copy: its state's name).

    GraphMachine's Mermaid engine draws a state's ``label`` where it has one; transitions'
    own State takes none.
    """

    def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label or self.name


class _Graph(GraphMachine):
    state_cls = _LabelledState


def drawn_table(definition: MachineDefinition) -> tuple[list[Any], list[dict[str, Any]]]:
    """The states and transitions GraphMachine draws for ``definition``.

    The machine's own, unless it fans per source: then each source keeps its node and each
    state it leads to is a copy of its own for that source (a state dict with the copy's node
    id as ``name`` and the state's name as ``label``), each transition row rewritten to its
    source's copy (one row per source where a row has several).
    """
    drawing = definition.drawing
    if not drawing.fan_per_source:
        return definition.states, definition.transitions
    rows: list[dict[str, Any]] = []
    #: Each copy's node id, to the state it draws, in the order the rows reach them.
    copies: dict[str, str] = {}
    for row in definition.transitions:
        source = row["source"]
        for state in [source] if isinstance(source, str) else source:
            drawn = dict(row, source=state)
            dest = row.get("dest")
            if dest is not None:
                drawn["dest"] = drawing.node(state, dest)
                if drawn["dest"] != dest:
                    copies[drawn["dest"]] = dest
            rows.append(drawn)
    # Drawn as themselves: the sources, and a state that is only ever reached from itself
    # or from no state at all; every other state only as its copies.
    starts = set(sources(definition.transitions))
    reached = set(copies.values())
    own = [s for s in definition.states if state_name(s) in starts or state_name(s) not in reached]
    return [*own, *({"name": node, "label": state} for node, state in copies.items())], rows


def mark(text: str, drawing: Drawing, marked: Iterable[str]) -> str:
    """``text`` (this module's Mermaid) with every node that draws a state of ``marked``
    active, and every other node not."""
    chosen = set(marked)
    lines = []
    for line in text.splitlines():
        match = _CLASS_LINE.fullmatch(line)
        if match is not None:
            node = match["node"]
            style = "active" if drawing.state_of(node) in chosen else "default"
            line = f"{match['indent']}Class {node} s_{style}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def mermaid(definition: MachineDefinition, current: str | None = None) -> str:
    """The machine as Mermaid ``stateDiagram-v2`` text, ``current`` (default: initial) marked
    on every node that draws it."""
    states, transitions = drawn_table(definition)
    machine = _Graph(
        model=None,
        states=states,
        transitions=transitions,
        initial=definition.initial,
        auto_transitions=False,
        show_conditions=True,
        graph_engine="mermaid",
        title=definition.name,
    )
    model = _Model()
    machine.add_model(model)
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    # transitions draws the marked state red on salmon, which reads as an error; a marked state
    # is only where a model is (the start state, in an export).
    text = text.replace(_TRANSITIONS_ACTIVE, ACTIVE_STYLE)
    direction = definition.drawing.direction
    text = text.replace("\n  direction LR\n", f"\n  direction {direction}\n", 1)
    triggers = {row["trigger"] for row in definition.transitions}
    if len(triggers) == 1:
        # One trigger (login: ``checked``): its guards tell the edges apart, and the labels,
        # shorter, overlap less. The unguarded edge still names it.
        text = text.replace(f": {next(iter(triggers))} [", ": [")
    # transitions writes the title as a bare YAML scalar; Mermaid wants ``title: ...``.
    header = f"---\n{definition.name}\n---\n"
    if text.startswith(header):
        text = f"---\ntitle: {definition.name}\n---\n" + text[len(header) :]
    # GraphMachine draws the start arrow to the initial state only; the others follow it.
    starts = definition.drawing.starts(definition.initial, definition.transitions)
    text = text.rstrip("\n") + "".join(f"\n  [*] --> {state}" for state in starts[1:])
    # GraphMachine marks the one node its model is in; a fanned state has several.
    return mark(text, definition.drawing, [current or definition.initial])
