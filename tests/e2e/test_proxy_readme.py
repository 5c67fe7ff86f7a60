"""The README's proxy, capture and drift script, run as written against a mockapi standing in
for the dispatcher and a real proxy in front of it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.test_readme_examples import BIN, named_blocks, needs, section
from tests.helpers import running


def test_the_readme_script_captures_and_finds_no_drift(tmp_path: Path, start_proxy: Any) -> None:
    needs("curl")
    script = named_blocks(section("## Keeping the mock honest: proxy, capture, drift"))[
        "proxy-capture-drift.sh"
    ]
    folder = tmp_path / "upstream"
    folder.mkdir()
    with running(folder, "--scenario", "happy-path") as upstream:
        proxy = start_proxy(upstream.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
        env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
        env |= {"UPSTREAM": upstream.url, "PROXY": proxy.url}
        done = subprocess.run(
            ["sh", "-c", script], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "world.toml: ok (1 user, 3 pools, " in done.stdout
    assert done.stdout.rstrip().endswith("no real drift")
    assert "jwt:" in (tmp_path / "journal.json").read_text()
