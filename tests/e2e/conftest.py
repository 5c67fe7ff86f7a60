"""Fixtures of the end-to-end tests: a real ``mockapi proxy`` process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Process

#: The proxy's start line; its group is the port.
PROXY_LINE = r"mockapi proxy serving http://127\.0\.0\.1:(\d+)/ -> "


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``python -m mockapi proxy --upstream URL --port 0 ...``; stopped at the end."""
    started: list[Process] = []

    def start(upstream: str, *argv: str) -> Process:
        proxy = Process.start(
            tmp_path, "--upstream", upstream, *argv, command=("proxy",), start_line=PROXY_LINE
        )
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
