"""``python -m mockapi drift --upstream URL --as USER:PASSWORD [--scenario FILE]``.

Sends the read-only probes of :mod:`mockapi.proxy.drift` to the upstream and to a mockapi
this command serves on the scenario (loopback, a free port, for the length of the run), and
prints what differs. Exit 0: no real drift; 1: real drift; 2: bad input (a login both sides
refuse, too) or a side that does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from mockapi.app import create_app
from mockapi.cli.args import EXIT_USAGE, Parser, UsageError, positive_float, prog_name
from mockapi.cli.serve import read_scenario, scenario_path
from mockapi.domain.scenario import default_scenario_path
from mockapi.proxy.app import upstream_url
from mockapi.proxy.drift import Report, Unreachable, run_probes
from mockapi.settings import Settings

EXIT_DRIFT = 1

EPILOG = """\
examples:
  python -m mockapi drift --upstream https://dispatcher.lab --as astravdi:secret
  python -m mockapi drift --upstream http://127.0.0.1:9000 --as alice:pw --json \\
      --scenario world.toml

No probe changes state upstream: no connect, no logout, no accepted WebSocket. Exit 0: no
real drift; 1: real drift; 2: bad input or a side that does not answer.
"""


def parser() -> Parser:
    """The parser of ``python -m mockapi drift``."""
    root = Parser(
        prog=f"{prog_name()} drift",
        description="Send one fixed set of read-only probes to a real dispatcher and to a "
        "mockapi on a scenario, and report where their answers differ: status, key order, "
        "types and the values the contract fixes. Differences CONTRACT §10 makes on purpose "
        "are listed apart from real drift.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--upstream", required=True, metavar="URL", help="the dispatcher's base URL")
    root.add_argument(
        "--as",
        dest="credentials",
        required=True,
        metavar="USER:PASSWORD",
        help="a user both sides know, for the probes that need a token (one login each side)",
    )
    root.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE",
        help="the mockapi side's scenario (a file, or a shipped name; default: default)",
    )
    root.add_argument(
        "--upstream-ca", type=Path, metavar="FILE", help="PEM CA bundle for an https upstream"
    )
    root.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds each probe may take (default 30)",
    )
    root.add_argument("--json", action="store_true", help="print the report as JSON")
    return root


async def _against_mockapi(
    path: Path, upstream: str, user: str, password: str, tls: ssl.SSLContext | bool, limit_s: float
) -> Report:
    """Serve the scenario on a free loopback port, probe both sides, stop serving."""
    scenario = read_scenario(path)
    app = create_app(Settings(scenario=path), scenario)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    try:
        await site.start()
        port = runner.addresses[0][1]
        return await run_probes(
            upstream, f"http://127.0.0.1:{port}", user, password, tls=tls, timeout_s=limit_s
        )
    finally:
        await runner.cleanup()


def main(argv: Sequence[str]) -> int:
    """Probe and report: exit 0, 1 on real drift, 2 on bad input or an unreachable side."""
    cli = parser()
    args = cli.parse_args(argv)
    name = f"{prog_name()} drift"
    try:
        upstream_url(args.upstream)
    except ValueError as exc:
        cli.error(f"--upstream: {exc}")
    user, sep, password = args.credentials.partition(":")
    if not sep or not user:
        cli.error("--as: expected USER:PASSWORD")
    path = scenario_path(args.scenario) or default_scenario_path()
    try:
        tls: ssl.SSLContext | bool = True
        if args.upstream_ca is not None:
            tls = ssl.create_default_context(cafile=str(args.upstream_ca))
        report = asyncio.run(
            _against_mockapi(path, args.upstream, user, password, tls, args.timeout)
        )
    except (UsageError, Unreachable) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the CA file
        print(f"{name}: error: --upstream-ca {args.upstream_ca}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report.mockapi = f"on scenario {path}"
    try:
        if args.json:
            print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            print(report.text())
    except BrokenPipeError:
        # The reader went away (``| head``): the exit code still says whether there is drift.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if report.drift:
        return EXIT_DRIFT
    login = report.probes[0]
    if login.upstream != 200:
        # Both sides refused the same login: not drift, but the token probes never ran.
        print(f"{name}: error: --as {user}: the login failed on both sides ({login.upstream}), "
              "so the probes that need a token were skipped", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    return 0
