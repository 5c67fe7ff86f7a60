"""``mockapi proxy``'s options: what it refuses, in one line and exit code 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_serve_ready_file import wait_for


def proxy(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockapi", "proxy", *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--upstream", "ftp://x"], "--upstream: not an http(s) URL"),
        (["--upstream", "http://x/?a=1"], "takes no query or fragment"),
        (["--upstream", "http://x", "--upstream-ca", "/no/such.pem"], "--upstream-ca: no such"),
        (["--upstream", "http://x", "--port", "70000"], "port out of range"),
        (["--upstream", "http://x", "--timeout", "0"], "must be greater than 0"),
        ([], "--upstream"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv: list[str], says: str) -> None:
    done = proxy(*argv)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert says in done.stderr


def test_a_ca_file_that_is_no_certificate_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n", encoding="ascii")
    done = proxy("--upstream", "https://127.0.0.1:1", "--upstream-ca", str(bad), "--port", "0")
    assert done.returncode == 2
    assert f"--upstream-ca {bad}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_ready_file_holds_the_url_while_the_proxy_listens(tmp_path: Path) -> None:
    ready = tmp_path / "proxy.url"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockapi", "proxy", "--upstream", "http://127.0.0.1:9",
         "--port", "0", "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = wait_for(ready, proc).strip()
        assert url.startswith("http://127.0.0.1:")
        # The page answers at that URL: the proxy listens there.
        with urllib.request.urlopen(f"{url}/", timeout=10) as page:
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == 0
    assert not ready.exists()
