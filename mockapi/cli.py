"""Command line: ``python -m mockapi`` serves; ``scenario`` and ``diagrams`` are tools.

Every serve option also reads ``MOCKAPI_<NAME>`` from the environment (the option wins). Bad
input ends with a one-line error (or the list of a scenario's problems) and exit code 2, never
a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from mockapi.app import create_app
from mockapi.keys import CLOCK, RUNTIME
from mockapi.scenario import Scenario, ScenarioError, default_scenario_path, load_scenario
from mockapi.settings import DEFAULT_HOST, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_PORT, Settings

log = logging.getLogger("mockapi")

EXIT_USAGE = 2
ENV_PREFIX = "MOCKAPI_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

SERVE_EPILOG = """\
other commands:
  python -m mockapi scenario check FILE   validate a scenario file (exit 0, or 2 with every problem)
  python -m mockapi scenario schema       print the scenario JSON Schema (for editors)
  python -m mockapi diagrams [--out DIR]  write the state diagrams (Mermaid) of every machine

Every option also reads MOCKAPI_<NAME> from the environment (e.g. MOCKAPI_PORT=9000);
the option on the command line wins. Bad input exits with code 2.
"""


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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0..65535: {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a yes/no value: {text!r}")


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown level {text!r} (choose from {', '.join(LOG_LEVELS)})"
        )
    return level


def serve_parser() -> Parser:
    """The parser of ``python -m mockapi [options]``; every help line names its env variable."""
    parser = Parser(
        prog=prog_name(),
        description="A stateful mock of the Space dispatcher API v2: serves the API, its "
        "WebSocket and the /service/ control routes on one port, playing the world a "
        "scenario file describes.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        help=f"address to bind (default {DEFAULT_HOST}; loopback keeps /service/ private)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, "
        "shown in the start-up line)",
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        metavar="PATH",
        help="scenario file (TOML or JSON) describing users, pools, timings and rules "
        "(default: the shipped default.toml, the original mock's world)",
    )
    parser.add_argument(
        "--seed",
        type=_int,
        metavar="N",
        help="seed of the random generator for task durations and outcomes "
        "(default: the scenario's; same seed + same requests = same outcomes)",
    )
    parser.add_argument(
        "--jwt-secret",
        metavar="SECRET",
        help="HS256 key for access tokens, 32 bytes or more (default: random per process, "
        "so tokens do not survive a restart)",
    )
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        metavar="F",
        help="run the scenario clock F times faster than real time (100 turns the 3 s PENDING "
        "into 30 ms; default: the scenario's, usually 1)",
    )
    parser.add_argument(
        "--clock",
        choices=["real", "manual"],
        help="'manual' stands time still until POST /service/clock/ advances it "
        "(default: the scenario's, usually real)",
    )
    parser.add_argument(
        "--service-token",
        metavar="TOKEN",
        help="require header X-Service-Token: TOKEN on /service/ routes (default: open)",
    )
    watch = parser.add_argument(
        "--watch",
        action="store_const",
        const=True,
        help="reload the --scenario file when it changes; an invalid edit keeps the running "
        "world and logs every problem",
    )
    # Only the env value goes through this (1/true/yes/on or 0/false/no/off).
    watch.type = _flag
    parser.add_argument(
        "--idle-timeout",
        type=_positive_float,
        metavar="S",
        help="close a connection that has sent no complete request for S wall seconds: "
        "before its first request's headers (slowloris) or between requests "
        f"(default {DEFAULT_IDLE_TIMEOUT_S:g}; open WebSockets are not idle)",
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        metavar="LEVEL",
        help=f"log verbosity, one of {', '.join(LOG_LEVELS)} (default INFO: one line per task "
        "transition and socket event)",
    )
    for action in _options(parser):
        action.help = f"{action.help} [env {env_name(action.dest)}]"
    return parser


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def _from_env(parser: argparse.ArgumentParser, action: argparse.Action, raw: str) -> Any:
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


def settings_from_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Parse serve options; an option not given falls back to ``MOCKAPI_*``, then the default.

    An empty variable counts as unset. Bad input exits with code 2 and one line on stderr.
    """
    environ = os.environ if environ is None else environ
    parser = serve_parser()
    args = parser.parse_args(argv)
    for action in _options(parser):
        raw = environ.get(env_name(action.dest), "")
        if getattr(args, action.dest) is None and raw != "":
            setattr(args, action.dest, _from_env(parser, action, raw))
    if args.watch and args.scenario is None:
        parser.error("--watch needs --scenario PATH (the file to watch)")
    return Settings(
        host=args.host or DEFAULT_HOST,
        port=DEFAULT_PORT if args.port is None else args.port,
        scenario=args.scenario,
        seed=args.seed,
        jwt_secret=args.jwt_secret,
        log_level=args.log_level or "INFO",
        time_scale=args.time_scale,
        clock=args.clock,
        service_token=args.service_token,
        watch=bool(args.watch),
        idle_timeout=DEFAULT_IDLE_TIMEOUT_S if args.idle_timeout is None else args.idle_timeout,
    )


def missing_file(path: Path) -> str | None:
    """Why ``path`` cannot be a scenario file, in one line, or ``None`` if it is a file."""
    if not path.exists():
        return f"scenario file not found: {path}"
    if not path.is_file():
        return f"scenario path is not a file: {path}"
    return None


def read_scenario(path: Path) -> Scenario:
    """Load a scenario file or raise :class:`UsageError` saying why not (every problem)."""
    problem = missing_file(path)
    if problem:
        raise UsageError(problem)
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        count = len(exc.problems)
        lines = [f"invalid scenario {path} ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  {problem}" for problem in exc.problems]
        raise UsageError("\n".join(lines)) from None


def _reason(exc: OSError) -> str:
    # asyncio wraps bind errors as "error while attempting to bind on address ...: <reason>";
    # the errno alone says it shorter. Resolver errors carry their own text and odd errnos.
    if exc.errno and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _resume_gc() -> None:
    """Start-up is over: freeze what it made and let the cyclic collector run again.

    ``python -m mockapi`` starts with the collector off (:mod:`mockapi.__main__`). What
    start-up made (modules, models, the world) lives as long as the process: frozen, later
    collections do not walk it again. The price: the few cycles start-up leaves as garbage
    (about 5,000 small blocks with the default scenario) stay; a full collection now to free
    them would cost about 40 ms of the start.
    """
    gc.freeze()
    gc.enable()


async def _serve(settings: Settings, scenario: Scenario, scenario_path: Path) -> None:
    app = create_app(settings, scenario)
    _resume_gc()
    # keepalive_timeout is aiohttp's only clock on a connection with no complete request: it
    # starts at the connect and no partial request line or header resets it (issue 6).
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=settings.idle_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(
            f"cannot listen on {settings.host}:{settings.port}: {_reason(exc)}"
        ) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(sig, stop.set)
    runtime, clock = app[RUNTIME], app[CLOCK]
    # With --port 0 the OS picked the port: say the real one.
    port = runner.addresses[0][1] if runner.addresses else settings.port
    url = _url(settings.host, port)
    # ASCII only: the line must print whatever the terminal's encoding.
    print(
        f"mockapi serving {url}/api/v2/ (scenario {scenario_path}, seed {runtime.world.seed}, "
        f"clock {clock.mode} x{clock.time_scale:g}); docs at {url}/docs",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()


def _tool(name: str) -> Callable[[Sequence[str]], int] | None:
    """The ``main`` of a tool sub-command, imported only when asked for."""
    if name == "scenario":
        from mockapi.scenario_cli import main as scenario_main

        return scenario_main
    if name == "diagrams":
        from mockapi.diagrams_cli import main as diagrams_main

        return diagrams_main
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m mockapi`` and the ``mockapi`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    tool = _tool(args[0]) if args else None
    if tool is not None:
        raise SystemExit(tool(args[1:]))
    try:
        settings = settings_from_args(args)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        scenario_path = settings.scenario or default_scenario_path()
        scenario = read_scenario(scenario_path)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, scenario, scenario_path))
    except UsageError as exc:
        print(f"{prog_name()}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
