"""``python -m mockapi diagrams``: every machine's Mermaid state diagram, on stdout or in files.

Without ``--out`` nothing is written to disk: the command may be run from any folder, and a
diagram written into whatever folder that was would only be litter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mockapi.cli.args import EXIT_USAGE, Parser, prog_name


def render_all() -> dict[str, str]:
    """File name → Mermaid text, for every machine the server runs."""
    from mockapi.statemachines.diagrams import MACHINES, mermaid

    return {f"{name}.mmd": mermaid(definition) for name, definition in MACHINES.items()}


def parser() -> Parser:
    """The parser of ``python -m mockapi diagrams``."""
    from mockapi.statemachines.diagrams import MACHINES

    root = Parser(
        prog=f"{prog_name()} diagrams",
        description="Print the Mermaid stateDiagram-v2 of each state machine (login, "
        "connection, task), drawn from the same definitions the server runs; with --out, "
        "write one NAME.mmd file per machine into DIR instead.",
    )
    root.add_argument(
        "machine",
        nargs="?",
        choices=sorted(MACHINES),
        help="only this machine (default: all of them, each after a %%%% NAME.mmd line)",
    )
    root.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write NAME.mmd files into DIR (created if missing; relative to the current "
        "folder) instead of printing",
    )
    return root


def main(argv: Sequence[str]) -> int:
    """Print or write the diagrams; return the exit code."""
    args = parser().parse_args(argv)
    diagrams = render_all()
    if args.machine is not None:
        diagrams = {f"{args.machine}.mmd": diagrams[f"{args.machine}.mmd"]}
    if args.out is None:
        if args.machine is not None:
            sys.stdout.write(diagrams[f"{args.machine}.mmd"])
            return 0
        sys.stdout.write("\n".join(f"%% {name}\n{text}" for name, text in diagrams.items()))
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in diagrams.items():
            path = args.out / name
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    except OSError as exc:
        print(f"{prog_name()} diagrams: error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
