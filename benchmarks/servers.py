"""The subprocesses the suite measures: mockapi and the ceiling app, on free loopback ports.

Every server runs in a session of its own (a Ctrl-C in the terminal reaches the suite, which
stops them in order) with its open-files limit raised to the hard limit, and dies with the
suite even if the suite is killed (``PR_SET_PDEATHSIG``). :func:`stop_all` ends whatever is
still running; the suite calls it on every way out.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only load target allowed here: loopback
LOAD_SCENARIO = REPO / "scenarios" / "load.toml"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 3.0
POLL_INTERVAL_S = 0.002

_PR_SET_PDEATHSIG = 1
_running: list[Server] = []


def free_port() -> int:
    """A port nobody listens on right now (the OS's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_nofile() -> tuple[int, int]:
    """Raise this process's open-files soft limit to its hard limit; the limits after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _child_setup() -> None:
    """Runs in the child before exec: more file descriptors, die with the parent."""
    raise_nofile()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def read_status_kib(pid: int, key: str = "VmRSS") -> int:
    """A ``/proc/<pid>/status`` figure in KiB (VmRSS by default)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def nofile_limit(pid: int) -> str:
    """The process's 'Max open files' soft/hard limits, as ``soft/hard``."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            parts = line.split()
            return f"{parts[3]}/{parts[4]}"
    return "?"


def _unverified() -> ssl.SSLContext:
    # The readiness probe only asks "does it answer 200?"; the load generators do not verify
    # either (wrk never does).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def http_status(port: int, path: str, timeout: float = 1.0, tls: bool = False) -> int:
    """The status of one blocking GET (raises OSError while nothing listens)."""
    conn = (
        http.client.HTTPSConnection(HOST, port, timeout=timeout, context=_unverified())
        if tls
        else http.client.HTTPConnection(HOST, port, timeout=timeout)
    )
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass
class Server:
    """One server subprocess; ``start`` returns the seconds until its first 200."""

    name: str
    argv: list[str]
    port: int
    ready_path: str
    #: Serves HTTPS (the ``tls`` case): the URL and the readiness probe use it.
    tls: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def start(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Start the process and poll ``ready_path`` until it answers 200."""
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"bench-{self.name}-", suffix=".log", delete=False
        )
        self._log, self.log_path = log, Path(log.name)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup,  # no threads run in the suite when it starts one
            start_new_session=True,
        )
        _running.append(self)
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_status(self.port, self.ready_path, tls=self.tls) == 200:
                    return time.perf_counter() - started
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer 200 within {timeout:g} s")
            time.sleep(POLL_INTERVAL_S)

    def log(self) -> str:
        """What the server printed so far (its start-up line, warnings, errors)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def problems(self) -> list[str]:
        """Log lines at WARNING or above, and tracebacks."""
        return [
            line
            for line in self.log().splitlines()
            if " WARNING " in line or " ERROR " in line or line.startswith("Traceback")
        ]

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; the exit code."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(STOP_TIMEOUT_S)
        if self in _running:
            _running.remove(self)
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if proc is None else proc.returncode

    def cleanup(self) -> None:
        """Stop, and delete the log file."""
        self.stop()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


#: A certificate chain and its key (PEM files), served by both servers of the ``tls`` case.
Chain = tuple[Path, Path]


def mockapi_server(
    *,
    scenario: Path | None = None,
    manual_clock: bool = False,
    name: str = "mockapi",
    tls: tuple[Chain, Path] | None = None,
) -> Server:
    """``python -m mockapi`` at log level WARNING on a free port (not started yet).

    ``tls``: the chain to serve (``--tls-cert``, ``--tls-key``) and the ``--tls-dir``.
    """
    port = free_port()
    argv = [sys.executable, "-m", "mockapi", "--port", str(port), "--log-level", "WARNING"]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    if manual_clock:
        argv += ["--clock", "manual"]
    if tls is not None:
        (cert, key), tls_dir = tls
        argv += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-dir", str(tls_dir)]
    return Server(
        name=name, argv=argv, port=port, ready_path="/api/v2/health/", tls=tls is not None
    )


def ceiling_server(tls: Chain | None = None) -> Server:
    """The minimal aiohttp app of :mod:`benchmarks.ceiling` on a free port (not started yet);
    with ``tls``, over HTTPS with that chain."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.ceiling", "--port", str(port)]
    if tls is not None:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    return Server(name="ceiling", argv=argv, port=port, ready_path="/", tls=tls is not None)


def stop_all() -> None:
    """Stop every server still running (the suite's exit path, Ctrl-C included)."""
    for server in list(_running):
        server.cleanup()
