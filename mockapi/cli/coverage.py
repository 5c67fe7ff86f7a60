"""``python -m mockapi coverage``: what a suite reached, as Mermaid diagrams and JSON.

It reads ``GET /service/coverage/`` from a running server and writes, into ``--out``:
``coverage.json`` (the server's answer as is) and one ``<machine>.mmd`` per state machine, a
Mermaid flowchart whose covered transitions are drawn solid and green with their count and
whose uncovered ones are grey and dashed. A flowchart, not a ``stateDiagram-v2``: Mermaid
can style single edges only in flowcharts (``linkStyle``).

Exit codes: 0 written; 2 a usage error, an unreachable server, a refused request, or a folder
that cannot be written.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mockapi.cli.args import EXIT_USAGE, Parser, prog_name
from mockapi.client import core
from mockapi.client.core import ControlError, Refused
from mockapi.client.sync import Client

EXIT_OK = 0
ENV_URL = "MOCKAPI_URL"
ENV_SERVICE_TOKEN = "MOCKAPI_SERVICE_TOKEN"
JSON_FILE = "coverage.json"

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


def render(name: str, machine: Mapping[str, Any]) -> str:
    """One machine's coverage (an entry of the answer's ``machines``) as a Mermaid flowchart."""
    transitions: list[Mapping[str, Any]] = list(machine["transitions"])
    states: list[str] = []
    for row in transitions:
        for state in (row["source"], row["dest"]):
            if state not in states:
                states.append(state)
    reached = {s for row in transitions if row["count"] for s in (row["source"], row["dest"])}
    lines = [
        "---",
        f"title: {name} ({machine['covered']}/{machine['total']} transitions covered)",
        "---",
        "flowchart LR",
        CLASS_DEFS.rstrip("\n"),
    ]
    for state in states:
        lines.append(f'  {_node(state)}(["{_label(state)}"])')
    covered: list[str] = []
    uncovered: list[str] = []
    for index, row in enumerate(transitions):
        label = row["trigger"]
        if row.get("guard"):
            label += f" [{row['guard']}]"
        label += f" ×{row['count']}" if row["count"] else " (never)"
        arrow = "==>" if row["count"] else "-.->"
        lines.append(f'  {_node(row["source"])} {arrow}|"{_label(label)}"| {_node(row["dest"])}')
        (covered if row["count"] else uncovered).append(str(index))
    for state in states:
        lines.append(f"  class {_node(state)} {'reached' if state in reached else 'unreached'}")
    if covered:
        lines.append(f"  linkStyle {','.join(covered)} {COVERED_EDGE}")
    if uncovered:
        lines.append(f"  linkStyle {','.join(uncovered)} {UNCOVERED_EDGE}")
    return "\n".join(lines) + "\n"


def summary(answer: Mapping[str, Any]) -> list[str]:
    """One line per machine and per list: covered/total and percent."""
    lines = []
    for name, machine in answer["machines"].items():
        lines.append(_ratio_line(name, machine["covered"], machine["total"]))
    for key in ("errors", "routes", "faults"):
        items = [i for i in answer[key] if i.get("documented", True)]
        lines.append(_ratio_line(key, sum(1 for i in items if i["count"]), len(items)))
    return lines


def _ratio_line(name: str, covered: int, total: int) -> str:
    percent = 100.0 * covered / total if total else 100.0
    return f"{name:<11} {covered:>3}/{total:<3} {percent:5.1f}%"


def write(answer: Mapping[str, Any], out: Path) -> list[Path]:
    """Write the JSON and one diagram per machine into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / JSON_FILE
    path.write_text(json.dumps(answer, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    for name, machine in answer["machines"].items():
        path = out / f"{name}.mmd"
        path.write_text(render(name, machine), encoding="utf-8")
        written.append(path)
    return written


def build_parser() -> Parser:
    parser = Parser(
        prog=f"{prog_name()} coverage",
        description="Read what a running mockapi's clients reached since its last reset "
        "(GET /service/coverage/) and write it as JSON and one Mermaid diagram per state "
        "machine, covered transitions solid and green, the others grey and dashed.",
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"the server's base URL (default ${ENV_URL}, else {core.DEFAULT_URL})",
    )
    parser.add_argument(
        "--service-token",
        metavar="TOKEN",
        default=None,
        help=f"sent as X-Service-Token (default ${ENV_SERVICE_TOKEN})",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write into"
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``mockapi coverage ...``; returns the exit code."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    url = args.url or environ.get(ENV_URL) or core.DEFAULT_URL
    token = args.service_token or environ.get(ENV_SERVICE_TOKEN) or None
    try:
        client = Client(url, token)
    except ValueError as exc:
        parser.error(f"--url: {exc}")
    try:
        with client:
            answer = client.coverage()
    except Refused as exc:
        print(
            f"{parser.prog}: refused: {exc.status} {exc.method} {exc.path}: {exc.message}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except ControlError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        written = write(answer, args.out)
    except OSError as exc:
        print(f"{parser.prog}: error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in summary(answer):
        print(line)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK
