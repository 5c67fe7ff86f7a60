"""``--profile DIR``: py-spy samples the server during each timed case.

py-spy (``pip install py-spy``) attaches to the server's pid for the timed part of a case and
writes collapsed stacks (``DIR/<case-slug>.txt``, one ``frame;frame;... count`` line per stack,
loadable in speedscope or flamegraph.pl). :func:`summarise` turns one into the functions that
hold the most samples, by own time and by time including callees.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 200
#: Frames every stack goes through (event loop, entry points): left out of "including callees".
PLUMBING = (
    "asyncio/", "<frozen runpy>", "selectors.py", "mockapi/__main__.py", "mockapi/cli.py",
    "aiohttp/web.py", "aiohttp/web_protocol.py", "benchmarks/ceiling.py",
)  # fmt: skip
STOP_TIMEOUT_S = 20.0


def py_spy_path() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Hotspots:
    samples: int
    own: list[tuple[str, int]]
    total: list[tuple[str, int]]

    def lines(self, top: int = 12) -> list[str]:
        if not self.samples:
            return ["(no samples)"]
        out = [f"{self.samples} samples; own time:"]
        out += [f"  {100 * n / self.samples:5.1f}%  {name}" for name, n in self.own[:top]]
        out.append("including callees (event loop and entry points left out):")
        out += [f"  {100 * n / self.samples:5.1f}%  {name}" for name, n in self.total[:top]]
        return out


def summarise(path: Path) -> Hotspots:
    """The functions with the most samples in a py-spy raw file."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            if not any(part in frame for part in PLUMBING):
                total[frame] += count
    return Hotspots(samples, own.most_common(), total.most_common())


class Profiler:
    """Records one py-spy file per case into ``directory`` (does nothing when None)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.exe = py_spy_path() if directory is not None else None
        if directory is not None and self.exe is None:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.written: dict[str, Path] = {}
        self.failed: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def record(self, name: str, pid: int) -> AsyncIterator[None]:
        if self.directory is None or self.exe is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        output = self.directory / f"{slug}.txt"
        log = self.directory / f"{slug}.log"
        with log.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                self.exe, "record", "--pid", str(pid), "--format", "raw",
                "--output", str(output), "--rate", str(SAMPLE_RATE), "--function",
                "--nonblocking", stdout=log_file, stderr=log_file,
            )  # fmt: skip
        await asyncio.sleep(0.3)  # attached before the load starts
        try:
            yield
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            if output.exists():
                self.written[name] = output
            else:
                self.failed[name] = log.read_text(errors="replace").strip()
