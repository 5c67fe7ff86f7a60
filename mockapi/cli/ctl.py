"""``mockapi ctl``: the control client from a shell, for harnesses in any language.

A CTest fixture, a shell script or a GUI robot steers a running mockapi with it: move the
clock, reset, swap the scenario, force a task, mint a token, read or follow the journal, add
and remove faults, and wait (on the scenario clock) for a task's status or a user's frame.

Exit codes are the interface: 0 done, 1 a wait that ended without its condition (timed out,
or the task ended otherwise), 2 a usage error, an unreachable server or a refused request
(the server's own message on stderr). Output is for people by default and JSON with
``--json`` (one document; ``journal --follow`` writes one entry per line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from mockapi.cli.args import EXIT_USAGE, Parser, UsageError, prog_name
from mockapi.client import core
from mockapi.client.core import ControlError, Refused, WaitFailed
from mockapi.client.sync import Client

EXIT_OK = 0
EXIT_WAIT_FAILED = 1
ENV_URL = "MOCKAPI_URL"
#: The server's own variable: a harness that exports it once serves both.
ENV_SERVICE_TOKEN = "MOCKAPI_SERVICE_TOKEN"
#: The CA file of an ``https://`` server (mockapi --tls prints it on its start line).
ENV_CACERT = "MOCKAPI_CACERT"
#: What ``tls NAME`` accepts (the server checks it too: 422 for any other).
CERTIFICATES = (
    "valid", "expired", "not_yet_valid", "wrong_host", "self_signed", "unknown_ca", "rotated"
)  # fmt: skip
#: Wall seconds between two reads of ``journal --follow``.
FOLLOW_POLL_S = 0.2
EXAMPLE_OBJECT = '{"path": "/api/v2/pools/"}'

DESCRIPTION = """\
Steer a running mockapi through its /service/ control routes: the clock, the world, the
journal, faults, and waits that run on the scenario clock.
"""

EPILOG = f"""\
waits:
  'wait task', 'wait frame' and 'wait journal' check the tasks and the journal until their
  condition holds. On a manual clock they advance it themselves, --step scenario seconds at
  a time, and check after each step (--no-advance: leave the clock alone and poll, when
  something else moves it); on a real clock they poll. --timeout counts scenario seconds
  from where the clock stood when the wait began; a wait that polls also stops after that
  many wall seconds, so a clock nobody moves cannot hang it. Everything the journal still
  holds counts (--since N: only entries after N), so a frame sent during the advance just
  before the wait is found.

output:
  human-readable lines by default; --json prints the server's answer as one JSON document
  (journal --follow: one entry per line).

exit codes:
  0  done
  1  a wait ended without its condition (timed out, or the task ended in another status)
  2  usage error, server unreachable, or request refused (the server's message on stderr)

environment:
  {ENV_URL}            the server's URL when --url is not given (default {core.DEFAULT_URL})
  {ENV_SERVICE_TOKEN}  the service token when --service-token is not given

examples:
  %(prog)s advance 3
  %(prog)s wait task 821b7a78-1b6e-4a88-9488-07eeba0099cf COMPLETED --timeout 120
  %(prog)s wait frame --user alice --status RUNNING
  %(prog)s wait journal '{{"kind": "http", "path": "/api/v2/pools/", "user": "alice"}}' --no-advance
  TOKEN=$(%(prog)s token alice --ttl 600)
  %(prog)s faults add '{{"path": "/api/v2/pools/", "status": 503, "count": 1}}'
  %(prog)s journal --since 40 --json
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number greater than 0: {text!r}")
    return value


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number, 0 or more: {text!r}")
    return value


def _seq(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _status(text: str) -> str:
    try:
        return core.check_status(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _task_id(text: str) -> str:
    try:
        return core.task_id_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(suppress: bool) -> Parser:
    """The global options, accepted before or after the command.

    On the sub-commands their defaults are suppressed, so an option given before the command
    is not overwritten by the sub-command's default.
    """
    parent = Parser(add_help=False)

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parent.add_argument(
        "--url",
        default=default(None),
        help=f"the server's base URL (default ${ENV_URL}, else {core.DEFAULT_URL})",
    )
    parent.add_argument(
        "--service-token",
        metavar="TOKEN",
        default=default(None),
        help=f"sent as X-Service-Token (default ${ENV_SERVICE_TOKEN})",
    )
    parent.add_argument(
        "--cacert",
        type=Path,
        metavar="FILE",
        default=default(None),
        help=f"an https:// server's CA file: its start line names it (default ${ENV_CACERT}, "
        "else the system's CAs)",
    )
    parent.add_argument(
        "--insecure",
        "-k",
        action="store_true",
        default=default(False),
        help="do not verify an https:// server's certificate: what gets through while the "
        "server shows a fault certificate (expired, wrong host, ...)",
    )
    parent.add_argument(
        "--timeout",
        type=_positive,
        metavar="S",
        default=default(core.DEFAULT_TIMEOUT_S),
        help="how long to wait: a wait's scenario seconds (see 'waits' below), and the wall "
        f"seconds any one request may take (default {core.DEFAULT_TIMEOUT_S:g})",
    )
    parent.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print the server's answer as JSON instead of text",
    )
    return parent


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=_seq, default=0, metavar="N", help="only journal entries after N"
    )
    parser.add_argument(
        "--no-advance",
        dest="advance",
        action="store_false",
        default=None,
        help="never move a manual clock: poll while something else moves it",
    )
    parser.add_argument(
        "--step",
        type=_positive,
        default=core.DEFAULT_STEP_S,
        metavar="S",
        help=f"scenario seconds per advance on a manual clock (default {core.DEFAULT_STEP_S:g})",
    )


def build_parser() -> Parser:
    """The parser of ``mockapi ctl``."""
    prog = f"{prog_name()} ctl"
    parser = Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[_common(suppress=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_common(suppress=True)]

    def command(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text, parents=common, **kwargs
        )
        return sub

    clock = command("clock", "show the clock; --mode and --time-scale change it")
    clock.add_argument("--mode", choices=["real", "manual"], help="switch the clock's mode")
    clock.add_argument("--time-scale", type=_positive, metavar="F", help="change its speed")

    advance = command(
        "advance",
        "move the clock ahead, firing everything due; returns once its frames went out",
    )
    advance.add_argument("seconds", type=_not_negative, metavar="SECONDS")

    command("reset", "back to the scenario's start: tasks, machines, tokens, journal, clock")

    scenario = command("scenario", "read or replace the active scenario")
    scenario_commands = scenario.add_subparsers(dest="action", metavar="ACTION", required=True)
    scenario_commands.add_parser(
        "get", help="print the active scenario (JSON, defaults filled in)", parents=common
    )
    put = scenario_commands.add_parser(
        "put",
        help="replace the world with a scenario file (.toml or .json) and reset",
        parents=common,
    )
    put.add_argument("file", type=Path, metavar="FILE", help="relative to the current folder")

    force = command("force", "force a task's transition (pushed like any other)")
    force.add_argument("task_id", type=_task_id, metavar="TASK_ID")
    force.add_argument("status", type=_status, metavar="STATUS")

    tls = command("tls", "show the certificate new connections get (--tls), or choose another")
    tls.add_argument(
        "certificate", nargs="?", choices=CERTIFICATES, metavar="NAME",
        help=f"one of {', '.join(CERTIFICATES)}",
    )  # fmt: skip

    token = command("token", "print an access token for a scenario user (MFA skipped)")
    token.add_argument("username", metavar="USERNAME")
    token.add_argument("--ttl", type=_positive, metavar="S", help="lifetime in scenario seconds")

    journal = command("journal", "print what the server answered and sent")
    journal.add_argument("--since", type=_seq, default=0, metavar="N", help="only entries after N")
    journal.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new entries until interrupted (Ctrl-C: exit 0)",
    )

    faults = command("faults", "list, add or remove faults")
    fault_commands = faults.add_subparsers(dest="action", metavar="ACTION", required=True)
    fault_commands.add_parser("list", help="every fault, with remaining and hits", parents=common)
    add = fault_commands.add_parser(
        "add", help="add a fault: JSON with the scenario's [[faults]] keys", parents=common
    )
    add.add_argument("spec", metavar="JSON", help="the fault as JSON, or @FILE to read it")
    remove = fault_commands.add_parser("rm", help="remove one fault", parents=common)
    remove.add_argument("fault_id", metavar="ID")
    fault_commands.add_parser(
        "clear", help="remove every fault (a reset restores the scenario's)", parents=common
    )

    wait = command(
        "wait", "wait, on the scenario clock, for a task's status, a frame or a journal entry"
    )
    wait_commands = wait.add_subparsers(dest="action", metavar="WHAT", required=True)
    task = wait_commands.add_parser(
        "task", help="until the task has STATUS; prints the task", parents=common
    )
    task.add_argument("task_id", type=_task_id, metavar="TASK_ID")
    task.add_argument("status", type=_status, metavar="STATUS")
    _wait_options(task)
    frame = wait_commands.add_parser(
        "frame", help="until a task frame has gone to a user; prints its entry", parents=common
    )
    frame.add_argument("--user", required=True, metavar="NAME")
    frame.add_argument("--status", type=_status, metavar="S")
    frame.add_argument("--kind", choices=core.TASK_KINDS)
    frame.add_argument("--task", type=_task_id, metavar="TASK_ID")
    _wait_options(frame)
    entry = wait_commands.add_parser(
        "journal",
        help="until a journal entry matches JSON (each key equal, a nested object a subset); "
        "prints the entry",
        parents=common,
    )
    entry.add_argument(
        "match",
        metavar="JSON",
        help='the pattern, e.g. \'{"kind": "http", "status": 202}\', or @FILE',
    )
    _wait_options(entry)
    return parser


# -- output ----------------------------------------------------------------------------------
def _clock_text(view: Mapping[str, Any]) -> str:
    return f"{view['now']} {view['mode']} x{float(view['time_scale']):g}"


def _world_text(data: Mapping[str, Any]) -> str:
    world = data["world"]
    return (
        f"{world['users']} users, {world['pools']} pools, {world['machines']} machines, "
        f"{world['tasks']} tasks, seed {world['seed']}; clock {_clock_text(data['clock'])}"
    )


def entry_text(entry: Mapping[str, Any]) -> str:
    """One journal entry as one line."""
    head = f"#{entry.get('seq')} {entry.get('time')} {entry.get('kind')}"
    rest = {k: v for k, v in entry.items() if k not in ("seq", "time", "kind")}
    if entry.get("kind") == "http":
        user = rest.get("user") or "-"
        return f"{head} {rest.get('method')} {rest.get('path')} {rest.get('status')} {user}"
    if entry.get("kind") == "ws":
        return f"{head} {rest.get('user') or '-'} {json.dumps(rest.get('frame'))}"
    return f"{head} " + " ".join(
        f"{key}={json.dumps(value) if isinstance(value, dict | list) else value}"
        for key, value in rest.items()
    )


def _fault_text(fault: Mapping[str, Any]) -> str:
    remaining = fault.get("remaining")
    keys = {k: v for k, v in fault.items() if k not in ("id", "remaining", "hits")}
    spec = " ".join(f"{k}={json.dumps(v)}" for k, v in keys.items() if v not in (None, False))
    left = "unlimited" if remaining is None else remaining
    return f"{fault.get('id')}: remaining {left}, hits {fault.get('hits')}; {spec}".rstrip()


class Output:
    """Where a command's result goes: text for people, or JSON."""

    def __init__(self, as_json: bool, stream: TextIO) -> None:
        self.as_json = as_json
        self.stream = stream

    def show(self, data: Any, text: Callable[[Any], str]) -> None:
        if self.as_json:
            print(json.dumps(data), file=self.stream, flush=True)
        else:
            print(text(data), file=self.stream, flush=True)


# -- commands --------------------------------------------------------------------------------
def _read_json(text: str, what: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@FILE``; UsageError saying what is wrong."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object, e.g. '{EXAMPLE_OBJECT}'")
    return value


def _read_scenario(path: Path) -> tuple[bytes, str]:
    try:
        content_type = core.scenario_type(path.suffix)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        return path.read_bytes(), content_type
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[list[bool]]:
    """SIGINT and SIGTERM end a follow cleanly (exit 0) instead of with a traceback."""
    stopped = [False]

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped[0] = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow(ctl: Client, since: int, out: Output) -> int:
    """Print entries as they come, until a signal; a server that goes away ends it (2)."""
    seq = since
    with _stop_on_signals() as stopped:
        while not stopped[0]:
            page = ctl.journal(seq)
            if page["dropped"]:
                print(f"({page['dropped']} entries dropped)", file=sys.stderr, flush=True)
            for entry in page["entries"]:
                seq = max(seq, int(entry["seq"]))
                out.show(entry, entry_text)
            # Short sleeps, so a signal ends the follow promptly.
            deadline = time.monotonic() + FOLLOW_POLL_S
            while not stopped[0] and time.monotonic() < deadline:
                time.sleep(0.05)
    return EXIT_OK


def run(args: argparse.Namespace, ctl: Client, out: Output) -> int:
    """Carry out one parsed command; errors are raised for :func:`main` to report."""
    command = args.command
    if command == "clock":
        if args.mode is None and args.time_scale is None:
            out.show(ctl.clock(), _clock_text)
        else:
            out.show(ctl.set_clock(mode=args.mode, time_scale=args.time_scale), _clock_text)
    elif command == "advance":
        out.show(ctl.advance(args.seconds), lambda view: f"now {_clock_text(view)}")
    elif command == "reset":
        out.show(ctl.reset(), lambda data: f"reset: {_world_text(data)}")
    elif command == "scenario" and args.action == "get":
        scenario = ctl.scenario()
        out.show(scenario, lambda data: json.dumps(data, indent=2))
    elif command == "scenario":
        body, content_type = _read_scenario(args.file)
        answer = ctl.put_scenario(body, content_type)
        out.show(answer, lambda data: f"scenario {args.file} loaded: {_world_text(data)}")
    elif command == "force":
        task = ctl.force(args.task_id, args.status)
        out.show(task, lambda t: f"task {t['id']} {t['kind']}: {t['status']}")
    elif command == "token":
        token = ctl.token(args.username, args.ttl)
        out.show({"access_token": token}, lambda data: str(data["access_token"]))
    elif command == "journal" and args.follow:
        return _follow(ctl, args.since, out)
    elif command == "journal":
        page = ctl.journal(args.since)
        if out.as_json:
            out.show(page, str)
        else:
            if page["dropped"]:
                print(f"({page['dropped']} entries dropped)", file=out.stream)
            for entry in page["entries"]:
                print(entry_text(entry), file=out.stream)
    elif command == "tls":
        view = ctl.tls() if args.certificate is None else ctl.certificate(args.certificate)
        out.show(view, lambda data: f"certificate {data['certificate']}, CA {data['ca_file']}")
    elif command == "faults":
        return _faults(args, ctl, out)
    elif command == "wait":
        return _wait(args, ctl, out)
    return EXIT_OK


def _faults(args: argparse.Namespace, ctl: Client, out: Output) -> int:
    if args.action == "list":
        faults = ctl.faults()
        out.show(faults, lambda data: "\n".join(map(_fault_text, data)) or "(no faults)")
    elif args.action == "add":
        fault = ctl.add_fault(_read_json(args.spec, "the fault"))
        out.show(fault, lambda data: f"added {_fault_text(data)}")
    elif args.action == "rm":
        ctl.remove_fault(args.fault_id)
        out.show({"removed": args.fault_id}, lambda data: f"removed {data['removed']}")
    else:
        ctl.clear_faults()
        out.show({"removed": "all"}, lambda data: "removed every fault")
    return EXIT_OK


def _wait(args: argparse.Namespace, ctl: Client, out: Output) -> int:
    common = {"timeout": args.timeout, "advance": args.advance, "step": args.step}
    if args.action == "task":
        task = ctl.wait_task(args.task_id, args.status, since=args.since, **common)
        out.show(task, lambda t: f"task {t['id']} {t['kind']}: {t['status']}")
    elif args.action == "journal":
        match = _read_json(args.match, "the pattern")
        out.show(ctl.wait_journal(match, since=args.since, **common), entry_text)
    else:
        entry = ctl.wait_frame(
            args.user,
            status=args.status,
            kind=args.kind,
            task_id=args.task,
            since=args.since,
            **common,
        )
        out.show(entry, entry_text)
    return EXIT_OK


def _tls_context(cacert: Path | None, insecure: bool) -> ssl.SSLContext | None:
    """How to reach an ``https://`` server: trust ``cacert``, or verify nothing."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if cacert is not None:
        return ssl.create_default_context(cafile=str(cacert))
    return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``mockapi ctl ...``; returns the exit code."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    url = args.url or environ.get(ENV_URL) or core.DEFAULT_URL
    token = args.service_token or environ.get(ENV_SERVICE_TOKEN) or None
    cacert = args.cacert or (Path(environ[ENV_CACERT]) if environ.get(ENV_CACERT) else None)
    try:
        context = _tls_context(cacert, args.insecure)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--cacert {cacert}: {getattr(exc, 'strerror', None) or exc}")
    try:
        client = Client(url, token, request_timeout=args.timeout, ssl_context=context)
    except ValueError as exc:
        parser.error(f"--url: {exc}")
    out = Output(args.json, sys.stdout)
    try:
        with client:
            return run(args, client, out)
    except WaitFailed as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return EXIT_WAIT_FAILED
    except Refused as exc:
        print(
            f"{parser.prog}: refused: {exc.status} {exc.method} {exc.path}: {exc.message}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (ControlError, UsageError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``journal --follow | head -1``): what it did not want to read
        # is not an error. Python's own flush at exit would fail again: point it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
