"""Helpers that drive multi-step flows in tests (log in, OTP, ...) and real server processes."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mockapi.keys import CLOCK

Client = TestClient[web.Request, web.Application]

ASTRAVDI_ID = "7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"
POOL_WIN_1 = "bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"
POOL_WIN_2 = "22aaa425-6387-4767-9611-3c26ad1a6161"
POOL_ASTRA_1 = "35f4392a-2cc6-4f9b-aea5-dce568493175"
POOL_ASTRA_2 = "2378c527-64eb-48cf-817a-645b645dba54"


def today_otp(client: Client) -> str:
    """The OTP the server accepts now: the scenario clock's date as %y%m%d."""
    return client.app[CLOCK].now().strftime("%y%m%d")


async def login(client: Client, username: str = "astravdi", otp: str | None = None) -> str:
    """Log in and return the access token; fails the test on anything but 200."""
    body: dict[str, Any] = {"username": username, "password": "Bazalt1!", "ldap": False}
    if otp is not None:
        body["otp_code"] = otp
    resp = await client.post("/api/v2/users/login/", json=body)
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["data"]["access_token"]
    return token


def auth(token: str) -> dict[str, str]:
    """The Authorization header of a JWT route."""
    return {"Authorization": f"JWT {token}"}


def fresh_python(script: str) -> str:
    """What ``script`` prints when run by this interpreter in a new process (clean imports)."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


#: Wall seconds a server process may take to print its start-up line.
START_TIMEOUT_S = 20.0
#: The server's start line; its group is the port.
SERVER_LINE = r"mockapi serving http://127\.0\.0\.1:(\d+)/api/v2/ "


@dataclass
class Process:
    """``python -m mockapi --port 0 ...``; its stderr goes to a file, read after the fact."""

    proc: subprocess.Popen[bytes]
    port: int
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        folder: Path,
        *argv: str,
        command: tuple[str, ...] = (),
        start_line: str = SERVER_LINE,
    ) -> Process:
        """``python -m mockapi [COMMAND] --port 0 ARGV``, once its start line (whose group is the
        port) is printed; ``command`` and ``start_line`` name another command (``proxy``)."""
        # From a folder of its own, without MOCKAPI_* variables: the installed package runs.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
        # A file of its own: a test may run a server and a proxy from one folder.
        fd, name = tempfile.mkstemp(prefix="stderr-", suffix=".log", dir=folder)
        os.close(fd)
        stderr = Path(name)
        with stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mockapi", *command, "--port", "0", *argv],
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert proc.stdout is not None
        # The start-up line says that the server is ready, and on which port.
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline().decode() if ready else ""
        match = re.match(start_line, line)
        if match is None:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            pytest.fail(f"no start-up line within {START_TIMEOUT_S} s ({line!r}):\n"
                        f"{stderr.read_text()}")  # fmt: skip
        return cls(proc, int(match.group(1)), stderr)

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def running(folder: Path, *argv: str) -> Iterator[Process]:
    server = Process.start(folder, *argv)
    try:
        yield server
    finally:
        server.stop()
