"""What every mockapi command shares: one-line usage errors, exit codes, env variables.

Each sub-command (serve, scenario, diagrams, ...) builds its parser from these, so a bad
argument reads the same everywhere: one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2
ENV_PREFIX = "MOCKAPI_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def prog_name() -> str:
    """How the program was started (``mockapi`` or ``python -m mockapi``), for usage lines."""
    return "mockapi" if Path(sys.argv[0]).name == "mockapi" else "python -m mockapi"


class UsageError(Exception):
    """Input the server cannot start with; the message is the whole report."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage dump) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def env_name(dest: str) -> str:
    """The environment variable of an option: ``jwt_secret`` -> ``MOCKAPI_JWT_SECRET``."""
    return ENV_PREFIX + dest.upper()


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0..65535: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a yes/no value: {text!r}")


def log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown level {text!r} (choose from {', '.join(LOG_LEVELS)})"
        )
    return level


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def from_env(parser: argparse.ArgumentParser, action: argparse.Action, raw: str) -> Any:
    """Convert and check an env value exactly as the option's own value would be."""
    name = env_name(action.dest)
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    try:
        value = convert(raw)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        parser.error(f"{name}: {exc}")
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        parser.error(f"{name}: {raw!r} is not one of {choices}")
    return value


def missing_file(path: Path) -> str | None:
    """Why ``path`` cannot be a scenario file, in one line, or ``None`` if it is a file."""
    if not path.exists():
        return f"scenario file not found: {path}"
    if not path.is_file():
        return f"scenario path is not a file: {path}"
    return None
