"""``python -m mockapi proxy --upstream URL``: stand between a client and a real dispatcher.

The client's HTTP and WebSocket traffic goes to the upstream unchanged and is journaled
(secrets redacted) at the proxy's ``GET /service/journal/``, which ``mockapi capture``
turns into a scenario. Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from mockapi.cli.args import EXIT_USAGE, Parser, UsageError, port_number, positive_float, prog_name
from mockapi.cli.serve import until_stopped
from mockapi.proxy.app import DEFAULT_TIMEOUT_S, ProxySettings, create_proxy_app, upstream_url
from mockapi.settings import DEFAULT_HOST, DEFAULT_PORT

log = logging.getLogger("mockapi.proxy")

EPILOG = """\
example:
  python -m mockapi proxy --upstream https://dispatcher.lab:443 --upstream-ca lab-ca.pem --port 8000
  (point the client at http://127.0.0.1:8000, use it, then)
  curl -s http://127.0.0.1:8000/service/journal/ > journal.json
  python -m mockapi capture journal.json -o world.toml
"""


def parser() -> Parser:
    """The parser of ``python -m mockapi proxy``."""
    root = Parser(
        prog=f"{prog_name()} proxy",
        description="Forward a client's HTTP and WebSocket traffic to a real dispatcher "
        "unchanged, journaling it (passwords, codes and tokens redacted) at this proxy's "
        "GET /service/journal/; its page at / shows the newest entries. An upstream that is "
        "down or too slow is answered 502 in the contract's error shape.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--upstream", required=True, metavar="URL", help="the dispatcher's base "
                      "URL, http:// or https:// (e.g. https://dispatcher.lab)")  # fmt: skip
    root.add_argument(
        "--upstream-ca",
        type=Path,
        metavar="FILE",
        help="PEM bundle of the CA(s) the upstream's certificate chains to "
        "(default: the system's trust store)",
    )
    root.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    root.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, shown at start-up)",
    )
    root.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help="seconds to wait for the upstream to connect, and between bytes of its answer, "
        f"before answering 502 (default {DEFAULT_TIMEOUT_S:g})",
    )
    root.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="once listening, write the proxy's base URL to PATH (as the server's --ready-file "
        "does); removed on exit",
    )
    return root


def settings_from_args(argv: Sequence[str]) -> tuple[ProxySettings, Path | None]:
    """Parse the options (and the ready file); a bad one exits 2 with one line."""
    cli = parser()
    args = cli.parse_args(argv)
    try:
        upstream_url(args.upstream)
    except ValueError as exc:
        cli.error(f"--upstream: {exc}")
    if args.upstream_ca is not None and not args.upstream_ca.is_file():
        cli.error(f"--upstream-ca: no such file: {args.upstream_ca}")
    if args.ready_file is not None and not args.ready_file.parent.is_dir():
        cli.error(f"--ready-file: no such folder: {args.ready_file.parent}")
    return ProxySettings(
        upstream=args.upstream.rstrip("/"),
        host=args.host,
        port=args.port,
        timeout_s=args.timeout,
        upstream_ca=args.upstream_ca,
    ), args.ready_file


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(settings: ProxySettings, ready: Path | None) -> None:
    try:
        app = create_proxy_app(settings)
    except (OSError, ValueError) as exc:  # an unreadable or invalid CA file
        raise UsageError(f"--upstream-ca {settings.upstream_ca}: {exc}") from None
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    port = runner.addresses[0][1] if runner.addresses else settings.port
    url = _url(settings.host, port)
    print(
        f"mockapi proxy serving {url}/ -> {settings.upstream}; journal at {url}/service/journal/",
        flush=True,
    )
    await until_stopped(runner, url, ready, stop)


def main(argv: Sequence[str]) -> int:
    """Proxy until SIGINT or SIGTERM: exit 0, or 2 with a one-line reason."""
    settings, ready = settings_from_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, ready))
    except UsageError as exc:
        print(f"{prog_name()} proxy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
