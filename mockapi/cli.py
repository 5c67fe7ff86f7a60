"""Command line: ``python -m mockapi`` serves; ``scenario`` and ``diagrams`` are tools.

Every serve flag also reads ``MOCKAPI_<NAME>`` from the environment (the flag wins). Bad
input ends with a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from mockapi.app import create_app
from mockapi.keys import CLOCK, RUNTIME
from mockapi.scenario import ScenarioError, default_scenario_path, load_scenario
from mockapi.settings import DEFAULT_HOST, DEFAULT_PORT, Settings

log = logging.getLogger("mockapi")

EXIT_USAGE = 2

SERVE_EPILOG = """\
other commands:
  python -m mockapi scenario check FILE   validate a scenario file (exit 0, or 2 with every problem)
  python -m mockapi scenario schema       print the scenario JSON Schema (for editors)
  python -m mockapi diagrams [--out DIR]  write the state diagrams (Mermaid) of every machine

Every option also reads MOCKAPI_<NAME> from the environment (e.g. MOCKAPI_PORT=9000);
the option on the command line wins.
"""


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"MOCKAPI_{name.upper().replace('-', '_')}", default)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
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


class _Parser(argparse.ArgumentParser):
    """argparse that keeps its one-line error and exit code 2, and checks env values too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _typed_env(
    parser: argparse.ArgumentParser, name: str, convert: Callable[[str], Any]
) -> Any:
    raw = _env(name)
    if raw is None:
        return None
    try:
        return convert(raw)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"MOCKAPI_{name.upper().replace('-', '_')}: {exc}")


def serve_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m mockapi",
        description="A stateful mock of the Space dispatcher API v2: serves the API, its "
        "WebSocket and the /service/ control routes on one port.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", help=f"address to bind (default {DEFAULT_HOST}; loopback keeps /service/ private)"
    )
    parser.add_argument("--port", type=_port, help=f"port to listen on (default {DEFAULT_PORT})")
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
        help="HS256 key for access tokens, at least 32 bytes advised (default: random per process,"
        " so tokens do not survive a restart)",
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
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log verbosity (default INFO: one line per task transition and socket event)",
    )
    return parser


def settings_from_args(argv: Sequence[str]) -> Settings:
    """Parse serve options, falling back to ``MOCKAPI_*`` variables, then defaults."""
    parser = serve_parser()
    args = parser.parse_args(argv)

    def pick(name: str, convert: Callable[[str], Any] = str) -> Any:
        value = getattr(args, name.replace("-", "_"))
        return value if value is not None else _typed_env(parser, name, convert)

    clock = pick("clock")
    if clock is not None and clock not in ("real", "manual"):
        parser.error(f"MOCKAPI_CLOCK: must be 'real' or 'manual', not {clock!r}")
    log_level = (pick("log-level") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        parser.error(f"MOCKAPI_LOG_LEVEL: unknown level {log_level!r}")
    scenario = pick("scenario", Path)
    port = pick("port", _port)
    return Settings(
        host=pick("host") or DEFAULT_HOST,
        port=DEFAULT_PORT if port is None else port,
        scenario=Path(scenario) if scenario is not None else None,
        seed=pick("seed", _int),
        jwt_secret=pick("jwt-secret"),
        log_level=log_level,
        time_scale=pick("time-scale", _positive_float),
        clock=clock,
        service_token=pick("service-token"),
    )


def _fail(message: str) -> NoReturn:
    print(f"mockapi: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


async def _serve(settings: Settings) -> None:
    scenario_path = settings.scenario or default_scenario_path()
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        _fail(f"{exc.source}: invalid scenario:\n  " + "\n  ".join(exc.problems))
    app = create_app(settings, scenario)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime, clock = app[RUNTIME], app[CLOCK]
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"mockapi serving {url}/api/v2/ — scenario {scenario_path} — seed {runtime.world.seed}, "
        f"clock {clock.mode} ×{clock.time_scale:g} — docs {url}/docs",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m mockapi`` and the ``mockapi`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "scenario":
        from mockapi.scenario_cli import main as scenario_main

        raise SystemExit(scenario_main(args[1:]))
    if args and args[0] == "diagrams":
        from mockapi.diagrams_cli import main as diagrams_main

        raise SystemExit(diagrams_main(args[1:]))
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings))
