"""The benchmark suite's entry point: ``python -m benchmarks [--quick] [--only NAME] [--write]``.

Cases (``--only`` picks some; the default runs all, in this order):

- ``http``: the ceiling app (GET and POST), then mockapi's GET /api/v2/health/,
  POST /api/v2/users/login/ and GET /api/v2/pools/ (JWT), 64 connections each; requests/s,
  p50/p99 latency and the ratio to the ceiling (POST routes to the ceiling's POST).
- ``flows``: complete connect flows per second on a manual clock with ``load.toml``.
- ``ws``: server RSS per idle WebSocket (10,000 held), and fan-out time of one task change to
  1,000 sockets of one user; the same two figures for the ceiling app as a reference.
- ``tls``: HTTPS with one certificate made for the run, served by ``mockapi --tls-cert`` and
  by the ceiling app: GET requests/s on keep-alive connections, and new connections/s (each
  ``Connection: close``: a full handshake, one request), 64 connections each; the ratio is to
  the ceiling app over TLS in the same run.
- ``startup``: ``python -m mockapi`` until its first 200 on /api/v2/health/, default scenario
  and ``load.toml`` (median of several runs), and the ceiling app's as a reference; the tree's
  packages are compiled to ``.pyc`` first, as installing them would.

It prints a table with the targets of issue 6 and PASS/MISS; ``--write`` also puts the table,
the command and the machine into ``docs/performance.md`` (between its markers; the rest of the
file is hand-written and kept). Every part is bounded in time and every server it started is
stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import datetime as dt
import math
import os
import platform
import shlex
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import aiohttp

from benchmarks.flows import run_flows
from benchmarks.http_load import LoadResult, Target, measure, wrk_path, wrk_version
from benchmarks.profiling import Profiler, summarise
from benchmarks.servers import (
    HOST,
    LOAD_SCENARIO,
    REPO,
    Chain,
    Server,
    ceiling_server,
    cpu_seconds,
    mockapi_server,
    nofile_limit,
    raise_nofile,
    stop_all,
)
from benchmarks.ws import FanoutSample, run_ws, run_ws_ceiling

CASES = ("http", "flows", "ws", "tls", "startup")
CONNECTIONS = 64
FULL_S, QUICK_S = 10, 3
STARTUP_RUNS, QUICK_STARTUP_RUNS = 5, 3
WS_SOCKETS, WS_FANOUT = 10_000, 1_000
DOC = REPO / "docs" / "performance.md"
BEGIN = "<!-- benchmarks:begin (written by `python -m benchmarks --write`; edit outside) -->"
END = "<!-- benchmarks:end -->"
LOGIN_BODY: dict[str, object] = {"username": "astravdi", "password": "x", "ldap": False}


@dataclass
class Row:
    """One line of the table: a figure, its ratio to the ceiling, its target and verdict."""

    case: str
    figure: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        line = f"  {row.case}: {row.figure}"
        if row.ratio:
            line += f" (ratio {row.ratio})"
        if row.verdict:
            line += f"  [{row.verdict} {row.target}]"
        say(line)

    def detail(self, text: str) -> None:
        self.details.append(text)
        say(f"    {text}")


@dataclass
class Context:
    quick: bool
    duration_s: int
    use_wrk: bool
    generator: str
    profiler: Profiler
    report: Report = field(default_factory=Report)
    limits: dict[str, str] = field(default_factory=dict)
    #: 1-minute load averages at the start and the end: other work on the machine skews figures.
    load_start: float = field(default_factory=lambda: os.getloadavg()[0])
    load_end: float = math.nan


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def at_least(value: float, target: float) -> tuple[str, str]:
    return f">= {target:g}", verdict(value >= target)


def at_most(value: float, target: float) -> tuple[str, str]:
    return f"<= {target:g}", verdict(value <= target)


def load_figure(result: LoadResult, unit: str = "req/s") -> str:
    return f"{result.rps:,.0f} {unit}, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"


def check_server(ctx: Context, server: Server) -> None:
    """Record the warnings and errors a server logged (a clean run logs none)."""
    problems = server.problems()
    if problems:
        ctx.report.problems.append(f"{server.name}: {len(problems)} warning/error lines, first:")
        ctx.report.problems += [f"    {line}" for line in problems[:5]]


async def load(ctx: Context, name: str, server: Server, target: Target) -> LoadResult:
    async with ctx.profiler.record(name, server.pid):
        result = await measure(
            target,
            server_pid=server.pid,
            connections=CONNECTIONS,
            duration_s=ctx.duration_s,
            use_wrk=ctx.use_wrk,
            warmup_s=1,
        )
    ctx.report.detail(
        f"{name}: {result.requests:,} requests in {result.duration_s:.1f} s, "
        f"server CPU {100 * result.server_cpu:.0f}% of a core, "
        f"non-2xx {result.non_2xx}, socket errors {result.errors}"
    )
    if result.non_2xx or result.errors:
        ctx.report.problems.append(
            f"{name}: {result.non_2xx} non-2xx answers, {result.errors} socket errors"
        )
    return result


async def get_token(base: str, body: dict[str, object]) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/v2/users/login/", json=body) as response,
    ):
        answer = await response.json()
        return str(answer["data"]["access_token"])


async def bench_http(ctx: Context) -> None:
    say("http: ceiling app, then mockapi (default scenario)")
    ceiling = ceiling_server()
    ceiling.start()
    try:
        ceiling_get = await load(ctx, "ceiling GET", ceiling, Target("GET", ceiling.url + "/"))
        ceiling_post = await load(
            ctx, "ceiling POST", ceiling, Target("POST", ceiling.url + "/", body=LOGIN_BODY)
        )
        check_server(ctx, ceiling)
    finally:
        ceiling.cleanup()
    ctx.report.add(Row("ceiling GET (minimal aiohttp app)", load_figure(ceiling_get), "1.00"))
    ctx.report.add(Row("ceiling POST (reads the body)", load_figure(ceiling_post), "1.00"))

    server = mockapi_server()
    server.start()
    try:
        api = server.url + "/api/v2"
        token = await get_token(server.url, LOGIN_BODY)
        cases: list[tuple[str, Target, LoadResult, float]] = [
            ("GET /api/v2/health/", Target("GET", f"{api}/health/"), ceiling_get, 0.7),
            (
                "POST /api/v2/users/login/",
                Target("POST", f"{api}/users/login/", body=LOGIN_BODY),
                ceiling_post,
                0.5,
            ),
            (
                "GET /api/v2/pools/ (JWT)",
                Target("GET", f"{api}/pools/", headers={"Authorization": f"JWT {token}"}),
                ceiling_get,
                0.5,
            ),
        ]
        for name, target, ceiling_result, goal in cases:
            result = await load(ctx, name, server, target)
            ratio = result.rps / ceiling_result.rps if ceiling_result.rps else 0.0
            wanted, ok = at_least(ratio, goal)
            if not ctx.use_wrk:
                ok += "?"  # generator-bound: indicative only
            ctx.report.add(Row(name, load_figure(result), f"{ratio:.2f}", f"ratio {wanted}", ok))
        check_server(ctx, server)
    finally:
        server.cleanup()


def cpu_per_request_us(result: LoadResult) -> float:
    """The server's CPU microseconds per request of a run."""
    return 1e6 * result.server_cpu / result.rps if result.rps else math.nan


def tls_figure(result: LoadResult, unit: str = "req/s") -> str:
    return f"{load_figure(result, unit)}, server CPU {cpu_per_request_us(result):.0f} µs each"


def make_chain(folder: Path) -> Chain:
    """One server certificate for the ``tls`` case (mockapi's own CA code), as PEM files."""
    from mockapi.tls import LocalCA

    now = dt.datetime.now(dt.UTC)
    ca = LocalCA.create("benchmark CA", now)
    issued = ca.issue(["localhost", HOST], now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return cert, key


async def bench_tls(ctx: Context) -> None:
    say("tls: ceiling app over TLS, then mockapi --tls-cert (the same certificate)")
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        chain = make_chain(Path(folder))
        close = {"Connection": "close"}
        ceiling = ceiling_server(tls=chain)
        ceiling.start()
        try:
            keep = await load(ctx, "ceiling TLS GET", ceiling, Target("GET", ceiling.url + "/"))
            new = await load(
                ctx, "ceiling TLS new connections", ceiling,
                Target("GET", ceiling.url + "/", headers=close),
            )  # fmt: skip
            check_server(ctx, ceiling)
        finally:
            ceiling.cleanup()
        ctx.report.add(Row("ceiling TLS GET, keep-alive", tls_figure(keep), "1.00"))
        ctx.report.add(
            Row("ceiling TLS new connection per request", tls_figure(new, "conn/s"), "1.00")
        )
        server = mockapi_server(tls=(chain, Path(folder) / "tls"), name="mockapi-tls")
        server.start()
        try:
            health = server.url + "/api/v2/health/"
            cases = [
                ("TLS GET /api/v2/health/, keep-alive", Target("GET", health), keep, "req/s"),
                (
                    "TLS new connection per request (full handshake)",
                    Target("GET", health, headers=close),
                    new,
                    "conn/s",
                ),
            ]
            for name, target, reference, unit in cases:
                result = await load(ctx, name, server, target)
                ratio = result.rps / reference.rps if reference.rps else 0.0
                ctx.report.add(Row(name, tls_figure(result, unit), f"{ratio:.2f}"))
                # Server CPU per request: what the server itself spends, which other work on
                # the machine barely moves (a busy machine moves requests/s a lot).
                mine, theirs = cpu_per_request_us(result), cpu_per_request_us(reference)
                ctx.report.detail(
                    f"{name}: server CPU {mine:.0f} µs per request, ceiling {theirs:.0f} µs "
                    f"(ratio {mine / theirs if theirs else math.nan:.2f})"
                )
            check_server(ctx, server)
        finally:
            server.cleanup()


async def bench_flows(ctx: Context) -> None:
    say("flows: login -> step 1 -> advance -> step 2 -> advance -> data (load.toml, manual clock)")
    server = mockapi_server(scenario=LOAD_SCENARIO, manual_clock=True, name="mockapi-flows")
    server.start()
    try:
        async with ctx.profiler.record("flows", server.pid):
            result = await run_flows(
                server.url, server.pid, budget_s=ctx.duration_s, batch_size=1000
            )
        check_server(ctx, server)
    finally:
        server.cleanup()
    wanted, ok = at_least(result.per_second, 500)
    ctx.report.add(
        Row(
            "complete connect flows (load.toml)",
            f"{result.per_second:,.0f} flows/s",
            "",
            wanted,
            ok,
        )
    )
    phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.phase_s.items())
    ctx.report.detail(
        f"flows: {result.completed:,} complete, {result.failed} failed, in {result.batches} "
        f"batches of {result.batch_size} ({result.elapsed_s:.1f} s; {phases}); "
        f"server CPU {100 * result.server_cpu:.0f}%, generator CPU {100 * result.client_cpu:.0f}% "
        "of a core"
    )
    if result.failed:
        ctx.report.problems.append(f"flows: {result.failed} failed: {result.failures}")


async def bench_ws(ctx: Context) -> None:
    say(f"ws: {WS_SOCKETS:,} idle sockets, fan-out to {WS_FANOUT:,} sockets of one user")
    server = mockapi_server(scenario=LOAD_SCENARIO, manual_clock=True, name="mockapi-ws")
    server.start()
    ctx.limits["server (ws case)"] = nofile_limit(server.pid)
    try:
        result = await run_ws(
            server.url,
            server.port,
            server.pid,
            sockets=WS_SOCKETS,
            fanout=WS_FANOUT,
            record=lambda name: ctx.profiler.record(name, server.pid),
        )
        check_server(ctx, server)
    finally:
        server.cleanup()
    wanted, ok = at_most(result.kib_per_socket, 20)
    ctx.report.add(
        Row(
            f"server RSS per idle WebSocket ({result.sockets:,} held)",
            f"{result.kib_per_socket:.1f} KiB",
            "",
            f"{wanted} KiB",
            ok,
        )
    )
    spreads = result.spread_ms
    median = result.spread_median_ms
    wanted, ok = at_most(median, 10)
    ok = ok if spreads else "MISS"
    ctx.report.add(
        Row(
            f"fan-out to {result.fanout_sockets:,} sockets, first to last frame (median)",
            f"{median:.1f} ms (max {max(spreads, default=math.nan):.1f} ms)",
            "",
            f"{wanted} ms",
            ok,
        )
    )
    to_last = statistics.median(s.to_last_ms for s in result.samples) if result.samples else 0
    advance = statistics.median(s.advance_ms for s in result.samples) if result.samples else 0
    ctx.report.detail(
        f"ws: {result.logins:,} logins in {result.login_s:.1f} s; {result.sockets:,} sockets "
        f"opened in {result.open_s:.1f} s ({result.sockets / result.open_s:,.0f}/s); server RSS "
        f"{result.rss_before_kib / 1024:.1f} -> {result.rss_after_kib / 1024:.1f} MiB; "
        f"idle sockets got {result.idle_frames} frames, {result.closed} sockets closed early"
    )
    ctx.report.detail(
        f"ws fan-out: {len(result.samples)} changes; advance sent -> last frame median "
        f"{to_last:.1f} ms; the advance's answer (frames handed to sockets) median {advance:.1f} ms"
    )
    for sample in result.samples:
        ctx.report.detail(
            f"  {sample.trigger}: {sample.status} to {sample.received}/{result.fanout_sockets}, "
            f"spread {sample.spread_ms:.1f} ms, to last {sample.to_last_ms:.1f} ms, "
            f"advance answered in {sample.advance_ms:.1f} ms"
        )
    if result.failures:
        ctx.report.problems.append(f"ws: failures {result.failures}")
    if result.closed or any(s.received != result.fanout_sockets for s in result.samples):
        ctx.report.problems.append("ws: sockets closed early or frames missing (see details)")

    ceiling = ceiling_server()
    ceiling.start()
    try:
        reference = await run_ws_ceiling(
            ceiling.url,
            ceiling.port,
            ceiling.pid,
            sockets=WS_SOCKETS,
            fanout=WS_FANOUT,
            repeats=len(result.samples) or 8,
        )
        check_server(ctx, ceiling)
    finally:
        ceiling.cleanup()
    ctx.report.add(
        Row(
            f"ceiling app: RSS per idle WebSocket ({reference.sockets:,} held)",
            f"{reference.kib_per_socket:.1f} KiB",
        )
    )
    labels = {
        "send_str": "ceiling app: await send_str socket after socket",
        "raw": "ceiling app: transport.write of one pre-built frame",
    }
    for mode, samples in reference.samples.items():
        ctx.report.add(Row(f"fan-out to {WS_FANOUT:,} sockets, {labels[mode]}", _spread(samples)))
        answered = statistics.median(s.advance_ms for s in samples) if samples else math.nan
        ctx.report.detail(
            f"ceiling fan-out {mode}: the trigger's answer (all frames written) median "
            f"{answered:.1f} ms"
        )


def _spread(samples: Sequence[FanoutSample]) -> str:
    spreads = [s.spread_ms for s in samples]
    if not spreads:
        return "no samples"
    return f"{statistics.median(spreads):.1f} ms (max {max(spreads):.1f} ms)"


def startup_times(make: Callable[[], Server], runs: int) -> list[tuple[float, float]]:
    """Per run: wall seconds until the first 200, and the CPU seconds the server used by then.

    The CPU figure barely moves with other work on the machine, so it still compares two
    runs when the wall figure is inflated by a busy machine.
    """
    times = []
    for _ in range(runs):
        server = make()
        try:
            wall = server.start()
            times.append((wall, cpu_seconds(server.pid)))
        finally:
            server.cleanup()
    return times


#: The packages the start-up runs import from the working tree (the ceiling's included).
STARTUP_PACKAGES = ("mockapi", "mockapi.statemachines", "benchmarks")


def compile_tree() -> None:
    """Write the ``.pyc`` files of the tree's own packages, as installing the package would.

    The dev install is editable, so nothing compiled them at install time; with
    PYTHONDONTWRITEBYTECODE set (it is, here) a module edited since its last ``.pyc`` is
    compiled from source at every start, up to 0.1 s that no installed server pays. Site
    packages were compiled when pip installed them.
    """
    for package in STARTUP_PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)


async def bench_startup(ctx: Context) -> None:
    runs = QUICK_STARTUP_RUNS if ctx.quick else STARTUP_RUNS
    compile_tree()
    say(
        f"startup: python -m mockapi until the first 200 on /api/v2/health/ ({runs} runs "
        f"each; {', '.join(STARTUP_PACKAGES)} compiled to .pyc first, as an install does)"
    )
    ctx.report.detail(
        f"start-up: {', '.join(STARTUP_PACKAGES)} compiled to .pyc first, as an install does"
    )
    cases: list[tuple[str, Callable[[], Server], float | None]] = [
        ("default scenario", lambda: mockapi_server(name="mockapi-startup"), 0.5),
        (
            "load.toml",
            lambda: mockapi_server(scenario=LOAD_SCENARIO, name="mockapi-startup"),
            2.0,
        ),
        ("ceiling app (python -m benchmarks.ceiling)", ceiling_server, None),
    ]
    for label, make, goal in cases:
        times = startup_times(make, runs)
        median = statistics.median(wall for wall, _ in times)
        cpu = statistics.median(used for _, used in times)
        row = Row(f"start-up until first 200, {label}", f"{median:.2f} s (CPU {cpu:.2f} s)")
        if goal is not None:
            row.target, row.verdict = at_most(median, goal)
            row.target += " s"
        ctx.report.add(row)
        ctx.report.detail(
            f"start-up {label}: "
            + ", ".join(f"{wall:.2f}" for wall, _ in times)
            + " s; server CPU by then "
            + ", ".join(f"{used:.2f}" for _, used in times)
            + " s"
        )


BENCHES: dict[str, Callable[[Context], Awaitable[None]]] = {
    "http": bench_http,
    "flows": bench_flows,
    "ws": bench_ws,
    "tls": bench_tls,
    "startup": bench_startup,
}


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(ctx: Context) -> list[str]:
    limits = ", ".join(f"{who} {value}" for who, value in ctx.limits.items())
    return [
        f"{os.cpu_count()} cores (nproc), {cpu_model()}, {platform.system()} {platform.release()}",
        f"Python {platform.python_version()} ({sys.executable}), aiohttp {aiohttp.__version__}",
        f"load generator: {ctx.generator}",
        f"open-files limits (soft/hard): {limits}",
        f"1-minute load average: {ctx.load_start:.2f} at the start (near 0 on an idle machine), "
        f"{ctx.load_end:.2f} at the end (the run itself adds about 2)",
    ]


def table(rows: Sequence[Row]) -> list[str]:
    header = Row("case", "figure", "ratio", "target", "verdict")
    cols = [
        max(len(getattr(r, name)) for r in [header, *rows])
        for name in ("case", "figure", "ratio", "target", "verdict")
    ]
    out = []
    for i, row in enumerate([header, *rows]):
        cells = (row.case, row.figure, row.ratio, row.target, row.verdict)
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, cols, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in cols))
    return out


def _symbols(target: str) -> str:
    return target.replace(">=", "≥").replace("<=", "≤")


def markdown(ctx: Context, command: str, started: dt.datetime, elapsed: float) -> str:
    lines = [
        BEGIN,
        "",
        f"**Last run:** {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s, `{command}`"
        + (" (quick: 3 s per case, figures are rough)" if ctx.quick else ""),
        "",
        *[f"- {line}" for line in machine(ctx)],
        "",
        "| case | figure | ratio to ceiling | target | verdict |",
        "|---|---|---|---|---|",
        *[
            f"| {r.case} | {r.figure} | {r.ratio} | {_symbols(r.target)} | {r.verdict} |"
            for r in ctx.report.rows
        ],
        "",
        "<details><summary>Details of the run</summary>",
        "",
        "```",
        *ctx.report.details,
        *(["", "problems:", *ctx.report.problems] if ctx.report.problems else []),
        "```",
        "",
        "</details>",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    if DOC.exists():
        text = DOC.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(head + section + tail)
            return
        DOC.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
        return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("# Performance\n\n" + section + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="mockapi's benchmark suite (issue 6): loopback only, bounded in time.",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_S} s per case, not {FULL_S}")
    parser.add_argument(
        "--only", action="append", choices=CASES, metavar="NAME",
        help=f"run only this case (repeatable): {', '.join(CASES)}",
    )  # fmt: skip
    parser.add_argument(
        "--write", action="store_true", help=f"write the results into {DOC.relative_to(REPO)}"
    )
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "aiohttp"), default="auto",
        help="load generator for the http case (auto: wrk if installed, else aiohttp)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=Path, metavar="DIR",
        help="record py-spy profiles of the server during each case into DIR",
    )  # fmt: skip
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, command: str) -> int:
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and wrk_path() is not None)
    if args.generator == "wrk" and wrk_path() is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --generator auto")
    if use_wrk:
        generator = f"{await wrk_version()}, {CONNECTIONS} connections, one thread"
    else:
        why = "forced" if args.generator == "aiohttp" else "wrk not found"
        generator = (
            f"built-in aiohttp generator ({why}), {CONNECTIONS} connections in the suite's "
            "process: it saturates before the servers do, so its ratios are not the targets'"
        )
    soft, hard = raise_nofile()
    ctx = Context(
        quick=args.quick,
        duration_s=QUICK_S if args.quick else FULL_S,
        use_wrk=use_wrk,
        generator=generator,
        profiler=Profiler(args.profile),
        limits={"generator": f"{soft}/{hard}"},
    )
    started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
    say(f"load generator: {generator}")
    for name in args.only or CASES:
        try:
            await BENCHES[name](ctx)
        except Exception as exc:  # one broken case must not lose the others' figures
            first_line = (str(exc).strip().splitlines() or [repr(exc)])[0]
            say(f"  {name}: FAILED: {exc}")
            ctx.report.rows.append(Row(name, f"failed: {first_line[:120]}", verdict="ERROR"))
            ctx.report.problems.append(f"{name}: {type(exc).__name__}: {str(exc)[-2000:]}")
        finally:
            stop_all()  # a failed case may leave its server behind
    elapsed = time.perf_counter() - clock
    ctx.load_end = os.getloadavg()[0]

    print()
    print(f"mockapi benchmarks ({'quick' if ctx.quick else 'full'}), {elapsed:.0f} s")
    for line in machine(ctx):
        print(f"  {line}")
    print()
    print("\n".join(table(ctx.report.rows)))
    if ctx.report.problems:
        print("\nproblems:")
        print("\n".join(f"  {p}" for p in ctx.report.problems))
    for name, path in ctx.profiler.written.items():
        print(f"\nprofile of the server during {name} ({path}):")
        print("\n".join(f"  {line}" for line in summarise(path).lines(10)))
    for name, reason in ctx.profiler.failed.items():
        print(f"\nno profile of {name}: {reason}")
    if args.write:
        write_doc(markdown(ctx, command, started, elapsed))
        print(f"\nwritten to {DOC.relative_to(REPO)}")
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    words = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "-m", "benchmarks", *words])
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C stops the suite even when it was started in the background of a script, where
    # the shell hands it SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 1
    try:
        code = asyncio.run(run(args, command))
    except KeyboardInterrupt:
        say("interrupted: stopping the servers")
        code = 130
    finally:
        stop_all()
    raise SystemExit(code)
