"""``python -m mockapi [options]``: serve the API on a scenario until SIGINT or SIGTERM.

Every option also reads ``MOCKAPI_<NAME>`` from the environment (the option wins). Bad
input ends with a one-line error (or the list of a scenario's problems) and exit code 2, never
a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from mockapi.app import create_app
from mockapi.cli._startup import resume_collector
from mockapi.cli.args import (
    EXIT_USAGE,
    LOG_LEVELS,
    Parser,
    UsageError,
    env_name,
    flag,
    from_env,
    log_level,
    missing_file,
    options,
    port_number,
    positive_float,
    positive_int,
    prog_name,
    whole_number,
)
from mockapi.domain.limits import LIMITS, Limit, LimitExceeded, Limits, check_scenario, resolve
from mockapi.domain.scenario import Scenario, ScenarioError, default_scenario_path, load_scenario
from mockapi.domain.world import World, build_world
from mockapi.keys import CLOCK, RUNTIME, TLS
from mockapi.settings import (
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_JOURNAL_BYTES,
    DEFAULT_PORT,
    Settings,
    is_loopback,
)
from mockapi.tls import TlsSetupError
from mockapi.web.tls import TlsSite

#: RFC 7518 section 3.2: an HS256 key of at least 256 bits.
MIN_SECRET_BYTES = 32

log = logging.getLogger("mockapi")

SERVE_EPILOG = """\
other commands:
  python -m mockapi scenario check FILE   validate a scenario file (exit 0, or 2 with every problem)
  python -m mockapi scenario schema       print the scenario JSON Schema (for editors)
  python -m mockapi diagrams [NAME]       print the state diagrams (Mermaid); --out DIR writes files
  python -m mockapi ctl COMMAND ...       steer a running server: clock, reset, faults, waits
                                          (python -m mockapi ctl --help)
  python -m mockapi proxy --upstream URL  forward to a real dispatcher, journaling the traffic
  python -m mockapi capture JOURNAL -o F  write a scenario from the proxy's journal
  python -m mockapi drift --upstream URL --as USER:PASSWORD
                                          compare a real dispatcher with mockapi (read-only)

Every option also reads MOCKAPI_<NAME> from the environment (e.g. MOCKAPI_PORT=9000);
the option on the command line wins. Bad input exits with code 2.
"""


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
        type=port_number,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, "
        "shown in the start-up line)",
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        metavar="PATH",
        help="scenario file (TOML or JSON) describing users, pools, timings and rules, "
        "relative to the current folder; or the name of a shipped one (happy-path, mfa, "
        "failures, load, flaky-network; default: default, the original mock's world)",
    )
    parser.add_argument(
        "--seed",
        type=whole_number,
        metavar="N",
        help="seed of the random generator for task durations and outcomes "
        "(default: the scenario's; same seed + same requests = same outcomes)",
    )
    parser.add_argument(
        "--jwt-secret",
        type=jwt_secret,
        metavar="SECRET",
        help="HS256 key for access tokens, 32 bytes or more (default: random per process, "
        "so tokens do not survive a restart)",
    )
    parser.add_argument(
        "--time-scale",
        type=positive_float,
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
        help="require header X-Service-Token: TOKEN on /service/ routes (default: open on "
        "loopback; beyond loopback a random token, printed on the start line)",
    )
    watch = parser.add_argument(
        "--watch",
        action="store_const",
        const=True,
        help="reload the --scenario file when it changes; an invalid edit keeps the running "
        "world and logs every problem",
    )
    # Only the env value goes through this (1/true/yes/on or 0/false/no/off).
    watch.type = flag
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        metavar="S",
        help="close a connection that has sent no complete request for S wall seconds: "
        "before its first request's headers (slowloris) or between requests "
        f"(default {DEFAULT_IDLE_TIMEOUT_S:g}; open WebSockets are not idle)",
    )
    tls = parser.add_argument(
        "--tls",
        action="store_const",
        const=True,
        help="serve HTTPS and WSS (not HTTP) with a certificate from mockapi's own CA; the "
        "start line names the CA file for clients to trust",
    )
    tls.type = flag
    parser.add_argument(
        "--tls-dir",
        type=Path,
        metavar="DIR",
        help="where --tls keeps its CA (ca.pem) and server key across starts "
        "(default: $XDG_STATE_HOME/mockapi/tls or ~/.local/state/mockapi/tls)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve this certificate chain (PEM) instead of mockapi's; needs --tls-key, "
        "turns --tls on",
    )
    parser.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the private key (PEM) of --tls-cert"
    )
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="mutual TLS: require a client certificate signed by this CA (PEM); needs --tls",
    )
    parser.add_argument(
        "--journal-max-bytes",
        type=positive_int,
        metavar="N",
        help="keep journal entries of about N bytes of JSON in all, the oldest dropped first "
        f"(default {DEFAULT_JOURNAL_BYTES})",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="once listening, write the base URL (one line, e.g. http://127.0.0.1:41234) to "
        "PATH, atomically; removed on exit. With --port 0, a harness waits for the file and "
        "reads the port from it",
    )
    parser.add_argument(
        "--log-level",
        type=log_level,
        metavar="LEVEL",
        help=f"log verbosity, one of {', '.join(LOG_LEVELS)} (default INFO: one line per task "
        "transition and socket event)",
    )
    parser.add_argument(
        "--access-log",
        type=flag,
        metavar="on|off",
        help="one line per request (method, path, status, user, time taken) at DEBUG level, "
        "shown with --log-level DEBUG (default on)",
    )
    limits = parser.add_argument_group(
        "limits on the whole world",
        "A scenario, a --watch reload or a control request that would go over one is\n"
        "refused (422, or exit 2 at start-up) and nothing changes. Default: the start-up\n"
        "scenario's [settings] value, else the figure shown; docs/performance.md gives what\n"
        "each item costs in memory.",
    )
    for limit in LIMITS:
        limits.add_argument(
            limit.flag,
            type=_limit_value(limit),
            metavar="N",
            help=f"{limit.counts} (default {limit.default:,})",
        )
    for action in options(parser):
        action.help = f"{action.help} [env {env_name(action.dest)}]"
    return parser


def scenario_path(path: Path | None) -> Path | None:
    """``path`` as given, or a shipped scenario's when it names one and no such file exists.

    ``--scenario happy-path`` then works from any folder, as the pytest marker's names do.
    """
    if path is None or path.exists() or path.suffix or path.name != str(path):
        return path
    shipped = default_scenario_path().with_name(f"{path.name}.toml")
    return shipped if shipped.is_file() else path


def jwt_secret(text: str) -> str:
    """An HS256 key as ``--help`` promises it: 32 bytes or more (UTF-8)."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size < MIN_SECRET_BYTES:
        raise argparse.ArgumentTypeError(
            f"{size} bytes; an HS256 key needs at least {MIN_SECRET_BYTES} (RFC 7518 section 3.2)"
        )
    return text


def _limit_value(limit: Limit) -> Callable[[str], int]:
    # Rules and faults may be limited to none; a world of no users or pools is no limit.
    lowest = 0 if limit.key in ("max_rules", "max_faults") else 1

    def convert(text: str) -> int:
        value = whole_number(text.replace("_", ""))
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be {lowest} or more: {text!r}")
        return value

    return convert


def settings_from_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Parse serve options; an option not given falls back to ``MOCKAPI_*``, then the default.

    An empty variable counts as unset. Bad input exits with code 2 and one line on stderr.
    """
    environ = os.environ if environ is None else environ
    parser = serve_parser()
    args = parser.parse_args(argv)
    for action in options(parser):
        raw = environ.get(env_name(action.dest), "")
        if getattr(args, action.dest) is None and raw != "":
            setattr(args, action.dest, from_env(parser, action, raw))
    if args.watch and args.scenario is None:
        parser.error("--watch needs --scenario PATH (the file to watch)")
    if args.ready_file is not None and not args.ready_file.parent.is_dir():
        parser.error(f"--ready-file: no such folder: {args.ready_file.parent}")
    host = args.host or DEFAULT_HOST
    token, generated = args.service_token, False
    if token is None and not is_loopback(host):
        # As Jupyter does: reset, scenario replacement and token minting are not opened to
        # the network with no word said. The token is printed on the start line.
        token, generated = secrets.token_urlsafe(32), True
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    tls = bool(args.tls) or args.tls_cert is not None
    if args.tls_client_ca is not None and not tls:
        parser.error("--tls-client-ca needs --tls")
    for name in ("tls_cert", "tls_key", "tls_client_ca"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            option = "--" + name.replace("_", "-")
            parser.error(f"{option}: no such file: {path}")
    return Settings(
        host=host,
        port=DEFAULT_PORT if args.port is None else args.port,
        scenario=scenario_path(args.scenario),
        seed=args.seed,
        jwt_secret=args.jwt_secret,
        log_level=args.log_level or "INFO",
        time_scale=args.time_scale,
        clock=args.clock,
        service_token=token,
        service_token_generated=generated,
        watch=bool(args.watch),
        idle_timeout=DEFAULT_IDLE_TIMEOUT_S if args.idle_timeout is None else args.idle_timeout,
        ready_file=args.ready_file,
        access_log=True if args.access_log is None else args.access_log,
        **{limit.key: getattr(args, limit.key) for limit in LIMITS},
        tls=tls,
        tls_dir=args.tls_dir,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        journal_max_bytes=args.journal_max_bytes or DEFAULT_JOURNAL_BYTES,
    )


def read_scenario(path: Path) -> Scenario:
    """Load a scenario file or raise :class:`UsageError` saying why not (every problem)."""
    problem = missing_file(path)
    if problem:
        raise UsageError(problem)
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise UsageError(_invalid(path, exc.problems)) from None


def _invalid(path: Path, problems: Sequence[str]) -> str:
    count = len(problems)
    lines = [f"invalid scenario {path} ({count} problem{'s' if count != 1 else ''}):"]
    lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)


def server_limits(settings: Settings, scenario: Scenario, path: Path) -> Limits:
    """The server's limits (flags, then the start-up scenario's [settings], then the
    defaults), or :class:`UsageError` with the same words a PUT's 422 uses."""
    limits = resolve(settings.given_limits(), scenario.settings.limit_values())
    try:
        check_scenario(scenario, limits)
    except LimitExceeded as exc:
        raise UsageError(_invalid(path, exc.problems)) from None
    return limits


def _reason(exc: OSError) -> str:
    # asyncio wraps bind errors as "error while attempting to bind on address ...: <reason>";
    # the errno alone says it shorter. Resolver errors carry their own text and odd errnos.
    if exc.errno and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _url(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def write_ready_file(path: Path, url: str) -> None:
    """Write ``url`` to ``path`` so that a reader sees no file or the whole line, never part.

    A temporary file in the same folder is renamed over ``path`` (``os.replace`` is atomic
    within one file system); a harness polling for the file can read it as soon as it exists.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(url + "\n")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


async def until_stopped(
    runner: web.AppRunner, url: str, ready: Path | None, stop: asyncio.Event
) -> None:
    """Say the server is ready (the ``--ready-file``), serve until ``stop``, then clean up.

    ``mockapi`` and ``mockapi proxy`` both end this way: the file is written once the site
    listens and removed on the way out, whatever ended the wait.
    """
    try:
        if ready is not None:
            try:
                write_ready_file(ready, url)
            except OSError as exc:
                raise UsageError(
                    f"cannot write the ready file {ready}: {exc.strerror or exc}"
                ) from None
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
        if ready is not None:
            remove_ready_file(ready, url)


def remove_ready_file(path: Path, url: str) -> None:
    """Remove the ready file on the way out, unless it is no longer ours (another server's)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="ascii").strip() == url:
            path.unlink()


async def _build_or_stop(scenario: Scenario, seed: int | None, stop: asyncio.Event) -> World | None:
    """The scenario's world, built in slices so a signal ends the start at once (None)."""
    building = asyncio.ensure_future(build_world(scenario, seed))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({building, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not building.done():
        building.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await building
        return None
    return building.result()


def start_line(
    settings: Settings, url: str, scenario_path: Path, seed: int, clock: str, trust: str = ""
) -> str:
    """What the server prints once it listens (ASCII only: any terminal prints it).

    ``trust`` says, with ``--tls``, which CA file (or which certificate) a client trusts.
    """
    line = (
        f"mockapi serving {url}/api/v2/ (scenario {scenario_path}, seed {seed}, clock {clock}); "
        f"docs at {url}/docs{trust}"
    )
    if settings.service_token_generated:
        # As Jupyter does: the token a server beyond loopback made itself, once, here.
        line += f"; /service/ needs the header X-Service-Token: {settings.service_token}"
    return line


async def _serve(
    settings: Settings, scenario: Scenario, scenario_path: Path, limits: Limits
) -> None:
    # The signals are handled before the world is built: a large world takes seconds, and
    # SIGTERM or SIGINT meanwhile must still end the process at once, with exit 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(sig, stop.set)
    world = await _build_or_stop(scenario, settings.seed, stop)
    if world is None:
        log.info("stopped while the world was built")
        return
    try:
        app = create_app(settings, scenario, world=world, limits=limits)
    except TlsSetupError as exc:
        raise UsageError(str(exc)) from None
    resume_collector()
    # keepalive_timeout is aiohttp's only clock on a connection with no complete request: it
    # starts at the connect and no partial request line or header resets it.
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=settings.idle_timeout
    )
    await runner.setup()
    tls = app.get(TLS)
    site: web.TCPSite
    if tls is not None:
        # One port, one scheme: with --tls every route, page and socket is HTTPS/WSS.
        site = TlsSite(runner, settings.host, settings.port, tls.switch, settings.idle_timeout)
    else:
        site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(
            f"cannot listen on {settings.host}:{settings.port}: {_reason(exc)}"
        ) from None
    runtime, clock = app[RUNTIME], app[CLOCK]
    # With --port 0 the OS picked the port: say the real one.
    port = runner.addresses[0][1] if runner.addresses else settings.port
    url = _url(settings.host, port, "https" if tls is not None else "http")
    trust = ""
    if tls is not None:
        trust = f"; CA {tls.ca_file}"
        if tls.user_cert is not None:
            trust = f"; certificate {tls.user_cert} (mockapi's CA for the faults: {tls.ca_file})"
    clock_text = f"{clock.mode} x{clock.time_scale:g}"
    print(
        start_line(settings, url, scenario_path, runtime.world.seed, clock_text, trust), flush=True
    )
    await until_stopped(runner, url, settings.ready_file, stop)


def _stop_quietly(signum: int, frame: object) -> None:
    """SIGTERM before the event loop handles signals: end as SIGINT would, with exit 0."""
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    """Serve until SIGINT or SIGTERM: exit 0, or 2 with a one-line reason."""
    signal.signal(signal.SIGTERM, _stop_quietly)
    try:
        settings = settings_from_args(argv)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        scenario_path = settings.scenario or default_scenario_path()
        scenario = read_scenario(scenario_path)
        limits = server_limits(settings, scenario, scenario_path)
        asyncio.run(_serve(settings, scenario, scenario_path, limits))
    except KeyboardInterrupt:
        return 0
    except UsageError as exc:
        print(f"{prog_name()}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
