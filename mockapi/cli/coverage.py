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
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mockapi.cli.args import EXIT_USAGE, Parser, prog_name
from mockapi.client import core
from mockapi.client.core import ControlError, Refused
from mockapi.client.sync import Client
from mockapi.domain.coverage import mermaid

EXIT_OK = 0
ENV_URL = "MOCKAPI_URL"
ENV_SERVICE_TOKEN = "MOCKAPI_SERVICE_TOKEN"
JSON_FILE = "coverage.json"


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
        path.write_text(mermaid(name, machine), encoding="utf-8")
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
