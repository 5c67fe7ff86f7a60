"""``python -m mockapi diagrams``: write every machine's Mermaid state diagram to files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_OUT = Path("docs/diagrams")


def render_all() -> dict[str, str]:
    """File name → Mermaid text, for every machine the server runs."""
    from mockapi.statemachines.diagrams import MACHINES, mermaid

    return {f"{name}.mmd": mermaid(definition) for name, definition in MACHINES.items()}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mockapi diagrams",
        description="Write one Mermaid stateDiagram-v2 file per state machine (login, "
        "connection, task), drawn from the same definitions the server runs.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder to write into, created if missing (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in render_all().items():
            path = args.out / name
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    except OSError as exc:
        print(f"mockapi diagrams: error: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 2
    return 0
