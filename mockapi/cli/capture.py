"""``python -m mockapi capture JOURNAL.json -o world.toml``: a scenario from a proxy's journal.

The journal is what ``mockapi proxy`` serves at ``GET /service/journal/``; the scenario is
checked before it is written, so a file this command writes passes ``scenario check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mockapi.cli.args import EXIT_USAGE, Parser, prog_name
from mockapi.domain.scenario import ScenarioError
from mockapi.proxy.capture import CaptureError, capture, scenario_of

EPILOG = """\
example:
  curl -s http://127.0.0.1:8000/service/journal/ > journal.json   (the proxy's journal)
  python -m mockapi capture journal.json -o world.toml
  python -m mockapi --scenario world.toml
"""


def parser() -> Parser:
    """The parser of ``python -m mockapi capture``."""
    root = Parser(
        prog=f"{prog_name()} capture",
        description="Write a scenario from what a mockapi proxy saw: the version body, the "
        "users who logged in with their MFA kind, their pools and machines, and the task "
        "timings and outcomes observed, as rules.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument(
        "journal",
        type=Path,
        metavar="JOURNAL.json",
        help="the proxy's journal as GET /service/journal/ serves it ('-': stdin)",
    )
    root.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        required=True,
        help="the scenario TOML to write ('-': stdout)",
    )
    return root


def main(argv: Sequence[str]) -> int:
    """Capture: exit 0 with the file written, or 2 with a one-line reason."""
    args = parser().parse_args(argv)
    name = f"{prog_name()} capture"
    try:
        text = sys.stdin.read() if str(args.journal) == "-" else args.journal.read_text("utf-8")
        result = capture(json.loads(text))
        scenario_of(result)  # what is written always loads
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{name}: error: cannot read {args.journal}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # json.JSONDecodeError is one
        print(f"{name}: error: {args.journal} is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CaptureError as exc:
        print(f"{name}: error: {args.journal}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ScenarioError as exc:  # a bug of capture's: say so plainly
        problems = "; ".join(exc.problems)
        print(f"{name}: error: the captured scenario is invalid: {problems}", file=sys.stderr)
        return EXIT_USAGE
    toml = result.toml(str(args.journal))
    if str(args.output) == "-":
        sys.stdout.write(toml)
        return 0
    try:
        args.output.write_text(toml, encoding="utf-8")
    except OSError as exc:
        print(f"{name}: error: cannot write {args.output}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    data = result.data
    print(
        f"{args.output}: {len(data.get('users', []))} users, {len(data.get('pools', []))} pools,"
        f" {len(data.get('machines', []))} machines, {len(data.get('rules', []))} rules"
    )
    return 0
