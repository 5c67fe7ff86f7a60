"""State diagrams drawn from the very tables the server runs (never hand-drawn).

``transitions``' GraphMachine with the pure-Python Mermaid engine renders each machine's
``STATES``/``TRANSITIONS``; it is used only here, never at runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from transitions.extensions.diagrams import GraphMachine

from . import connection, login, task


@dataclass(frozen=True, slots=True)
class MachineDefinition:
    name: str
    states: list[Any]
    transitions: list[dict[str, Any]]
    initial: str
    #: ``LR`` (transitions' default) or ``TB``, as the machine's module says.
    direction: str = "LR"


def _definition(name: str, module: ModuleType) -> MachineDefinition:
    return MachineDefinition(
        name,
        module.STATES,
        module.TRANSITIONS,
        module.INITIAL,
        getattr(module, "DIAGRAM_DIRECTION", "LR"),
    )


MACHINES: dict[str, MachineDefinition] = {
    "login": _definition("login", login),
    "connection": _definition("connection", connection),
    "task": _definition("task", task),
}


#: transitions' style of the current state, and what mockapi draws it with instead.
_TRANSITIONS_ACTIVE = "classDef s_active color:red,fill:darksalmon"
ACTIVE_STYLE = "classDef s_active fill:#dbeafe,stroke:#1d4ed8,color:#1e3a8a,stroke-width:2px"


class _Model:
    """A stand-in model: the diagram marks its state as the current one."""


def mermaid(definition: MachineDefinition, current: str | None = None) -> str:
    """The machine as Mermaid ``stateDiagram-v2`` text, ``current`` (default: initial) marked."""
    machine = GraphMachine(
        model=None,
        states=definition.states,
        transitions=definition.transitions,
        initial=definition.initial,
        auto_transitions=False,
        show_conditions=True,
        graph_engine="mermaid",
        title=definition.name,
    )
    model = _Model()
    machine.add_model(model, initial=current or definition.initial)
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    # transitions draws the marked state red on salmon, which reads as an error; a marked state
    # is only where a model is (the start state, in an export).
    text = text.replace(_TRANSITIONS_ACTIVE, ACTIVE_STYLE)
    text = text.replace("\n  direction LR\n", f"\n  direction {definition.direction}\n", 1)
    triggers = {row["trigger"] for row in definition.transitions}
    if len(triggers) == 1:
        # One trigger (login: ``checked``): its guards tell the edges apart, and the labels,
        # shorter, overlap less. The unguarded edge still names it.
        text = text.replace(f": {next(iter(triggers))} [", ": [")
    # transitions writes the title as a bare YAML scalar; Mermaid wants ``title: ...``.
    header = f"---\n{definition.name}\n---\n"
    if text.startswith(header):
        text = f"---\ntitle: {definition.name}\n---\n" + text[len(header) :]
    return text if text.endswith("\n") else text + "\n"
