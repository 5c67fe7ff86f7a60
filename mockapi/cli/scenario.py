"""``python -m mockapi scenario``: check scenario files, print their JSON Schema."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from mockapi.cli.args import EXIT_USAGE, Parser, missing_file, prog_name
from mockapi.domain.limits import LimitExceeded, check_scenario, resolve
from mockapi.domain.scenario import Scenario, ScenarioError, load_scenario

#: Valid, but most likely a mistake: a world nobody can log in to.
NO_USERS = "no users ([[users]] or [[user_groups]]): every login will fail"

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

EPILOG = """\
examples:
  python -m mockapi scenario check scenarios/*.toml
  python -m mockapi scenario schema > scenario.schema.json

An editor that knows JSON Schema (VS Code's Even Better TOML: a first line
'#:schema ./scenario.schema.json') then completes and checks scenario keys as you type.
"""


def parser() -> Parser:
    """The parser of ``python -m mockapi scenario ...``."""
    prog = f"{prog_name()} scenario"
    root = Parser(
        prog=prog,
        description="Tools for scenario files, the TOML (or JSON) worlds mockapi plays.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="validate scenario files: exit 0, or 2 listing every problem with its path",
        description="Validate scenario files completely, as the server would before starting. "
        'A valid file prints "FILE: ok (...)" with what it holds; an invalid one prints every '
        'problem as "FILE: PATH: PROBLEM", PATH indexing from 0 (users[3].pools[1]). '
        "Exit code 0 if every file is valid, 2 otherwise.",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="scenario file")
    commands.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (for editors)",
        description="Print the JSON Schema (draft 2020-12) that scenario files follow.",
    )
    return root


#: Sections counted into another one rather than on their own: a group's users are users.
_FOLDED = {"user_groups": "users"}
#: Singular words of the sections' counts.
_WORDS = {"users": "user", "pools": "pool", "machines": "machine", "tasks": "task",
          "rules": "rule", "faults": "fault"}  # fmt: skip


def summary(scenario: Scenario) -> str:
    """What a scenario holds, counted as the server will build it: every list section.

    The sections are read from the model, so a new section is counted without a change here.
    """
    counts: dict[str, int] = {}
    for name in type(scenario).model_fields:
        items = getattr(scenario, name)
        if not isinstance(items, list) or name in _FOLDED:
            continue
        counts[name] = len(items)
    counts["users"] += sum(group.count for group in scenario.user_groups)
    counts["machines"] += sum(pool.free_machines for pool in scenario.pools)
    return ", ".join(
        f"{n} {_WORDS.get(name, name.rstrip('s'))}{'' if n == 1 else 's'}"
        for name, n in counts.items()
    )


def check(files: Sequence[Path]) -> int:
    """Check each file; print one ``ok`` line or every problem; 0 if all are valid, else 2."""
    status = 0
    for path in files:
        problem = missing_file(path)
        if problem:
            print(problem)
            status = EXIT_USAGE
            continue
        try:
            scenario = load_scenario(path)
            # As the server would start with it, no flags given: the limits of its own
            # [settings], else the defaults.
            check_scenario(scenario, resolve({}, scenario.settings.limit_values()))
        except (ScenarioError, LimitExceeded) as exc:
            for problem in exc.problems:
                print(f"{path}: {problem}")
            count = len(exc.problems)
            print(f"{path}: invalid, {count} problem{'' if count == 1 else 's'}")
            status = EXIT_USAGE
            continue
        if not scenario.users and not scenario.user_groups:
            print(f"{path}: warning: {NO_USERS}")
        print(f"{path}: ok ({summary(scenario)})")
    return status


def schema() -> dict[str, object]:
    """The JSON Schema of :class:`~mockapi.domain.scenario.Scenario`, with its dialect named."""
    return {"$schema": SCHEMA_DIALECT, **Scenario.model_json_schema()}


def main(argv: Sequence[str]) -> int:
    """Run ``scenario check FILE...`` or ``scenario schema``; return the exit code."""
    args = parser().parse_args(argv)
    if args.command == "check":
        return check(args.files)
    print(json.dumps(schema(), indent=2))
    return 0
