"""Fixtures of the end-to-end tests: a real ``mockapi proxy`` process."""

from __future__ import annotations

import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import START_TIMEOUT_S


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Any]:
    """Start ``python -m mockapi proxy --upstream URL --port 0 ...``; stopped at the end."""
    started: list[Proxy] = []

    def start(upstream: str, *argv: str) -> Proxy:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mockapi",
                "proxy",
                "--upstream",
                upstream,
                "--port",
                "0",
                *argv,
            ],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline().decode() if ready else ""
        match = re.match(r"mockapi proxy serving (http://127\.0\.0\.1:\d+)/ -> ", line)
        proxy = Proxy(proc, match.group(1) if match else "")
        started.append(proxy)
        assert match, f"no start-up line: {line!r}"
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
