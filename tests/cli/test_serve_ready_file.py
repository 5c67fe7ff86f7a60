"""``--ready-file``: the URL appears whole once the server listens, and goes when it stops.

The server is the real ``mockapi`` script in a process of its own, as a CI harness starts it.
Waiting for the file is what a harness does; the loops are bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mockapi.cli.serve import remove_ready_file, write_ready_file

SCRIPT = Path(sys.executable).with_name("mockapi")
START_S = 30.0


def wait_for(path: Path, proc: subprocess.Popen[str]) -> str:
    """The ready file's text once it exists (the server's start), or fail saying why."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text(encoding="ascii")
        if proc.poll() is not None:
            raise AssertionError(f"the server ended ({proc.returncode}) without the file")
        time.sleep(0.01)
    raise AssertionError(f"no ready file after {START_S} s")


def env_without_mockapi(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
    return env | extra


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), "--port", "0", "--clock", "manual", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or env_without_mockapi(),
    )


@pytest.fixture
def ready(tmp_path: Path) -> Path:
    return tmp_path / "mockapi.url"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_url_is_written_once_listening_and_removed_on_exit(
    ready: Path, sig: signal.Signals
) -> None:
    with serve("--ready-file", str(ready)) as proc:
        text = wait_for(ready, proc)
        assert proc.stdout is not None
        started = proc.stdout.readline()
        url = text.strip()
        assert text == url + "\n"  # one line
        assert url.startswith("http://127.0.0.1:")
        assert int(url.rsplit(":", 1)[1]) > 0  # the port --port 0 bound, not 0
        assert f"serving {url}/api/v2/" in started
        ctl = subprocess.run(
            [str(SCRIPT), "ctl", "--url", url, "clock"], capture_output=True, text=True, timeout=60
        )
        assert (ctl.returncode, ctl.stdout.split()[1]) == (0, "manual")
        assert [p.name for p in ready.parent.iterdir()] == [ready.name]  # no temporary left
        proc.send_signal(sig)
        assert proc.wait(START_S) == 0
    assert not ready.exists()


def test_a_reader_never_sees_part_of_the_url(ready: Path) -> None:
    reads: set[str] = set()  # every distinct text read (a set: the loop reads often)
    stop = threading.Event()
    seen = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                reads.add(ready.read_text(encoding="ascii"))
            except FileNotFoundError:
                continue
            seen.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with serve("--ready-file", str(ready)) as proc:
            final = wait_for(ready, proc)
            assert seen.wait(START_S), "the reader saw no file"
            proc.terminate()
            assert proc.wait(START_S) == 0
    finally:
        stop.set()
        reader.join()
    assert reads == {final}


def test_the_environment_names_the_ready_file_too(ready: Path) -> None:
    with serve(env=env_without_mockapi(MOCKAPI_READY_FILE=str(ready))) as proc:
        assert wait_for(ready, proc).startswith("http://127.0.0.1:")
        proc.terminate()
        assert proc.wait(START_S) == 0
    assert not ready.exists()


def test_a_ready_file_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SCRIPT), "--port", "0", "--ready-file", str(tmp_path / "no" / "url")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_mockapi(),
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"mockapi: error: --ready-file: no such folder: {tmp_path / 'no'} (see --help)"
    )
    assert done.stdout == ""  # it never listened


def test_writing_replaces_an_old_file_whole(ready: Path) -> None:
    ready.write_text("http://127.0.0.1:1\n")
    before = ready.stat().st_ino
    write_ready_file(ready, "http://127.0.0.1:2")
    assert ready.read_text() == "http://127.0.0.1:2\n"
    assert ready.stat().st_ino != before  # a new file renamed over the old, not rewritten


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a folder: the rename over it fails
    with pytest.raises(IsADirectoryError):
        write_ready_file(target, "http://127.0.0.1:2")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_a_ready_file_another_server_wrote_since_is_left_alone(ready: Path) -> None:
    ready.write_text("http://127.0.0.1:3\n")
    remove_ready_file(ready, "http://127.0.0.1:2")
    assert ready.read_text() == "http://127.0.0.1:3\n"
    remove_ready_file(ready, "http://127.0.0.1:3")
    assert not ready.exists()
