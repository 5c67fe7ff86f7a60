"""Coverage of the contract since the last reset: which parts of its behaviour a suite reached.

Counted as they happen, never derived afterwards: every transition the three machines took
(a login's outcome together with the guard that chose it), every answer from the error
catalogue, every route with every status it answered, every fault action that fired. Each
list holds everything that *could* happen too, with a count of 0, so what a suite never
reached is as plain as what it did.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine, Transition

from mockapi.domain import errors
from mockapi.domain.errors import ErrorSpec
from mockapi.domain.faultspec import HTTP_ACTIONS, WS_ACTIONS
from mockapi.statemachines.drawing import DRAWINGS, Drawing

#: The machines, in the order the coverage lists them.
MACHINES = tuple(DRAWINGS)


def _nothing() -> None:
    """Nothing is held elsewhere (the default :attr:`Coverage.flush_pending`)."""


def catalogue() -> dict[str, ErrorSpec]:
    """The error catalogue by name: the module-level entries of :mod:`mockapi.domain.errors`
    (its one home), in their order there."""
    return {
        name.lower(): value for name, value in vars(errors).items() if isinstance(value, ErrorSpec)
    }


@dataclass(frozen=True, slots=True)
class TransitionRow:
    """One transition of a machine's table; ``guard`` names its conditions (None: none)."""

    trigger: str
    source: str
    dest: str
    guard: str | None


def _guard(transition: Transition) -> str | None:
    parts = [
        ("" if condition.target else "unless ")
        + str(getattr(condition.func, "__name__", condition.func))
        for condition in transition.conditions
    ]
    return " ".join(parts) if parts else None


class MachineCoverage:
    """The transitions of one machine's table, each with how often it was taken."""

    def __init__(self, machine: Machine) -> None:
        self.rows: list[TransitionRow] = []
        #: A transition object (transitions makes one per table row and source) to its row.
        self._row_of: dict[int, int] = {}
        for name, event in machine.events.items():
            for transitions in event.transitions.values():
                for transition in transitions:
                    self._row_of[id(transition)] = len(self.rows)
                    self.rows.append(
                        TransitionRow(
                            name,
                            transition.source,
                            transition.dest or transition.source,  # internal: stays
                            _guard(transition),
                        )
                    )
        self.counts = [0] * len(self.rows)
        machine.after_state_change.append(self._taken)

    def _taken(self, event: EventData) -> None:
        # A machine-wide hook after the change: a transition that ran to its end.
        index = self._row_of.get(id(event.transition))
        if index is not None:
            self.counts[index] += 1

    def clear(self) -> None:
        self.counts = [0] * len(self.rows)

    def view(self) -> dict[str, Any]:
        return {
            "transitions": [
                {
                    "trigger": row.trigger,
                    "source": row.source,
                    "dest": row.dest,
                    "guard": row.guard,
                    "count": count,
                }
                for row, count in zip(self.rows, self.counts, strict=True)
            ],
            "covered": sum(1 for count in self.counts if count),
            "total": len(self.rows),
        }


class Coverage:
    """What a suite reached since the last reset (see the module docstring)."""

    def __init__(self) -> None:
        self.machines: dict[str, MachineCoverage] = {}
        self._catalogue = catalogue()
        self._name_of = {spec: name for name, spec in self._catalogue.items()}
        self._errors: Counter[str] = Counter()
        #: (method, path template) -> the statuses it documents, in order.
        self._routes: dict[tuple[str, str], tuple[int, ...]] = {}
        self._answers: Counter[tuple[str, str, int]] = Counter()
        self._faults: Counter[str] = Counter()
        #: Called before the counts are read or cleared: answers counted elsewhere and not
        #: yet handed in (the middleware's tally, :mod:`mockapi.web.recording`) come in first.
        self.flush_pending: Callable[[], None] = _nothing

    # -- what could happen -------------------------------------------------------------------
    def watch(self, name: str, machine: Machine) -> None:
        """Count the transitions ``machine`` takes under ``name``."""
        self.machines[name] = MachineCoverage(machine)

    def expect_routes(self, routes: Iterable[tuple[str, str, Iterable[int]]]) -> None:
        """The routes to cover: (method, path template, the statuses it may answer)."""
        for method, path, statuses in routes:
            self._routes[(method, path)] = tuple(sorted(statuses))

    # -- what happened ---------------------------------------------------------------------
    def note_answer(
        self, method: str, path: str, status: int, error: ErrorSpec | None, answers: int = 1
    ) -> None:
        """``answers`` requests to the route ``(method, path template)`` answered ``status``;
        ``error`` is the catalogue entry they answered with, if any."""
        if (method, path) in self._routes:
            self._answers[(method, path, status)] += answers
        if error is not None:
            name = self._name_of.get(error)
            if name is not None:
                self._errors[name] += answers

    def note_entry(self, entry: dict[str, Any]) -> None:
        """A journal entry as it is made: fault actions are counted from their entries."""
        if entry["kind"] == "fault":
            self._faults[str(entry.get("action"))] += 1

    def clear(self) -> None:
        """Start counting over (a reset); what was held elsewhere came before it."""
        self.flush_pending()
        for machine in self.machines.values():
            machine.clear()
        self._errors.clear()
        self._answers.clear()
        self._faults.clear()

    # -- the report --------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        """``GET /service/coverage/``'s answer."""
        self.flush_pending()
        machines = {name: self.machines[name].view() for name in MACHINES if name in self.machines}
        errors_view = [
            {
                "name": name,
                "status": spec.status,
                "err_code": int(spec.err_code),
                "count": self._errors[name],
            }
            for name, spec in self._catalogue.items()
        ]
        routes: list[dict[str, Any]] = []
        for (method, path), statuses in self._routes.items():
            seen = {s for (m, p, s) in self._answers if (m, p) == (method, path)}
            for status in sorted(set(statuses) | seen):
                routes.append(
                    {
                        "method": method,
                        "path": path,
                        "status": status,
                        "documented": status in statuses,
                        "count": self._answers[(method, path, status)],
                    }
                )
        faults = [
            {"action": action, "count": self._faults[action]}
            for action in (*HTTP_ACTIONS, *WS_ACTIONS)
        ]
        return {
            "machines": machines,
            "errors": errors_view,
            "routes": routes,
            "faults": faults,
        }


# -- drawing -------------------------------------------------------------------------------
#: Reached states and covered edges: green; the rest: grey, and dashed for edges. Plain
#: colours, no red anywhere: nothing here is an error.
CLASS_DEFS = (
    "  classDef reached fill:#e8f5e9,stroke:#2e7d32,color:#1b5e20\n"
    "  classDef unreached fill:#fafafa,stroke:#9e9e9e,color:#616161\n"
)
COVERED_EDGE = "stroke:#2e7d32,stroke-width:3px"
UNCOVERED_EDGE = "stroke:#9e9e9e,stroke-width:1px,stroke-dasharray:5 5"
_ID = re.compile(r"[^A-Za-z0-9_]")


def _node(state: str) -> str:
    # Prefixed: a bare ``end`` (or any keyword) would end the flowchart.
    return "s_" + _ID.sub("_", state)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(name: str, machine: Mapping[str, Any]) -> str:
    """One machine's coverage (an entry of :meth:`Coverage.view`'s ``machines``) as a Mermaid
    flowchart: covered transitions solid and green with their count, the others grey and
    dashed. A flowchart, not a ``stateDiagram-v2``: Mermaid styles single edges only in
    flowcharts (``linkStyle``). Nodes follow the machine's drawing (one fan per source, for
    login): a node is reached when an edge taken starts or ends at it, so a fanned outcome's
    copy is reached only by its own edge."""
    drawing = DRAWINGS.get(name, Drawing())
    transitions: list[Mapping[str, Any]] = list(machine["transitions"])
    ends = [(row["source"], drawing.node(row["source"], row["dest"])) for row in transitions]
    nodes = list(dict.fromkeys(node for pair in ends for node in pair))
    taken = [pair for row, pair in zip(transitions, ends, strict=True) if row["count"]]
    reached = {node for pair in taken for node in pair}
    triggers = sorted({row["trigger"] for row in transitions})
    trigger = f"; every transition is {triggers[0]}" if len(triggers) == 1 else ""
    lines = [
        "---",
        f"title: {name} ({machine['covered']}/{machine['total']} transitions covered{trigger})",
        "---",
        f"flowchart {drawing.direction}",
        CLASS_DEFS.rstrip("\n"),
    ]
    for node in nodes:
        lines.append(f'  {_node(node)}(["{_label(drawing.state_of(node))}"])')
    covered: list[str] = []
    uncovered: list[str] = []
    # A machine of one trigger (login: ``checked``) says it once, in the title; its edges are
    # told apart by their guards, and shorter labels overlap less.
    single = len(triggers) == 1
    for index, (row, (source, dest)) in enumerate(zip(transitions, ends, strict=True)):
        parts = [] if single and row.get("guard") else [row["trigger"]]
        if row.get("guard"):
            parts.append(f"[{row['guard']}]")
        label = " ".join(parts)
        if row["count"]:
            label += f" ×{row['count']}"
        arrow = "==>" if row["count"] else "-.->"
        lines.append(f'  {_node(source)} {arrow}|"{_label(label)}"| {_node(dest)}')
        (covered if row["count"] else uncovered).append(str(index))
    for node in nodes:
        lines.append(f"  class {_node(node)} {'reached' if node in reached else 'unreached'}")
    if covered:
        lines.append(f"  linkStyle {','.join(covered)} {COVERED_EDGE}")
    if uncovered:
        lines.append(f"  linkStyle {','.join(uncovered)} {UNCOVERED_EDGE}")
    return "\n".join(lines) + "\n"
