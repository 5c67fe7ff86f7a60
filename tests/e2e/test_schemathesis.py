"""Schemathesis against live servers: every operation, every answer documented and conforming.

Real servers (``python -m mockapi`` on 127.0.0.1, a free port, manual clock) serve
``/openapi.json``; schemathesis generates requests for **every** operation from it, in all of
its phases (the schema's examples, boundary coverage, random fuzzing), positive and negative,
with a fixed seed so CI sees the same requests every run. Each answer must pass
not_a_server_error, status_code_conformance, content_type_conformance,
response_schema_conformance and response_headers_conformance. JWT operations get a fresh
``Authorization: JWT <token>`` (a generated clock advance may expire an older token, and a
generated logout revokes the one it used). Each case starts on a manual clock and without
faults, whatever an earlier case set, so no case acts on the next one through time or an
injected failure (a generated fault lives for its own case only).

The two operations that replace the world (``Route.in_fuzz_run`` is False: reset, and PUT
scenario) run against a server of their own: a generated scenario may lack the user the main
run logs in as, and either one throws away what earlier cases built. Each of their cases
starts from the default world again.

Both servers run with world limits smaller than the defaults (:data:`LIMITS`): the fuzzer asks
for the largest worlds the schema allows (create-pools at 500 x 500, groups of billions of
users), and the limits answer those with the 422 that names the limit. Each server's resident
memory is sampled every 50 ms for the whole run and must stay under :data:`RSS_BOUND_MIB`.

positive_data_acceptance runs too: a request the schema allows must succeed, or get one of the
answers its operation marks ``x-business-rule`` in the document (a login that needs MFA, an
unknown user in a control body, remote_protocol 2 or 3, a limit of the world); the
per-operation expectations below are read from the document, not written here.

Not run: negative_data_rejection. Requests the schema forbids are accepted through pydantic's
lax mode, which CONTRACT §3 keeps on purpose (``"ldap": 0``, ``"create_machines_count":
false``, ``"advance_s": false``, a bool rule key given as ``0`` in a scenario). Stating every
coercion in the schema (an ``anyOf`` of booleans, 0/1, and a dozen strings on every flag;
floats and digit strings on every integer) would teach clients to send them; CONTRACT §3 lists
the ones a client may rely on, and tests/web/api test them one by one.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from mockapi.apidocs.openapi import build_openapi
from mockapi.domain.scenario import default_scenario_path
from mockapi.routes import ROUTES
from mockapi.web.route import Auth

#: Examples per operation and phase: ~37 operations, ~1,500 cases.
MAX_EXAMPLES = 40
SEED = 20250911
START_TIMEOUT_S = 20.0

JWT_OPERATIONS = {route.name for route in ROUTES if route.auth is Auth.JWT}
#: The operations that change what every later case meets (the world, the certificate shown):
#: run on a server of their own.
WORLD_REPLACING = [route.name for route in ROUTES if not route.in_fuzz_run]
#: A generated fault (POST /service/faults/) would answer, delay or drop every later case it
#: matches: each case starts with none.
CLEAR_FAULTS = next(r.path for r in ROUTES if r.name == "service-faults-clear")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.positive_data_acceptance,
]
#: The servers' world limits: small, so the largest worlds the schema allows are refused and
#: the memory bound below holds whatever the fuzzer asks for.
LIMITS = (
    "--max-users", "10000", "--max-pools", "2000", "--max-machines", "20000",
    "--max-assignments", "50000", "--max-tasks", "20000", "--max-faults", "100",
)  # fmt: skip
#: What either server may hold in memory at any time of the run: about 50 MiB after start,
#: plus worlds at the limits above (docs/performance.md gives each item's cost).
RSS_BOUND_MIB = 160
DEFAULT_TOML = default_scenario_path().read_text(encoding="utf-8")

#: Cases run per operation, and the statuses they got, for the summary at the end.
RUN: Counter[str] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()


@dataclass
class Server:
    """``python -m mockapi`` in a subprocess, its VmRSS sampled until it stops."""

    proc: subprocess.Popen[bytes]
    url: str
    peak_kib: int = 0
    samples: int = 0
    _done: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, folder: Path) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKAPI_")}
        with (folder / "stderr.log").open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mockapi", "--port", "0", "--clock", "manual",
                 "--log-level", "WARNING", *LIMITS],
                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=stderr,
            )  # fmt: skip
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline().decode() if ready else ""
        match = re.match(r"mockapi serving (http://127\.0\.0\.1:\d+)/api/v2/ ", line)
        if match is None:
            proc.kill()
            pytest.fail(f"no start-up line: {line!r}")
        server = cls(proc, match.group(1))
        threading.Thread(target=server._sample, daemon=True).start()
        return server

    def _sample(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while not self._done.wait(0.05):
            try:
                text = status.read_text()
            except OSError:
                return
            found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
            if found:
                self.peak_kib = max(self.peak_kib, int(found.group(1)))
                self.samples += 1

    def stop(self) -> None:
        self._done.set()
        self.proc.terminate()
        self.proc.wait(START_TIMEOUT_S)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _servers(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    server = Server.start(tmp_path_factory.mktemp(name))
    try:
        yield server
    finally:
        server.stop()
        print(
            f"\nschemathesis ({name}): {sum(RUN.values())} cases so far; server peak RSS "
            f"{server.peak_kib / 1024:.1f} MiB over {server.samples} samples"
        )
        for key, n in sorted(STATUSES.items()):
            print(key, n)
        assert server.samples > 0
        assert server.peak_kib / 1024 < RSS_BOUND_MIB, f"{name}: peak {server.peak_kib} KiB"


@pytest.fixture(scope="module")
def main_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _servers(tmp_path_factory, "main")


@pytest.fixture(scope="module")
def world_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _servers(tmp_path_factory, "world-replacing")


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


#: What positive_data_acceptance takes from any operation: schemathesis' own default (a
#: success, a redirect, an authentication or permission refusal, not found, a conflict).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]


def business_rules(document: dict[str, Any]) -> dict[str, list[str]]:
    """Per operation, the statuses the document marks ``x-business-rule``: the answers a
    request the schema allows can get (an unknown user, a login that needs MFA, a limit)."""
    rules: dict[str, list[str]] = {}
    for operations in document["paths"].values():
        for operation in operations.values():
            statuses = [
                status
                for status, response in operation.get("responses", {}).items()
                if "x-business-rule" in response
            ]
            if statuses:
                rules[operation["operationId"]] = statuses
    return rules


def _config(document: dict[str, Any]) -> SchemathesisConfig:
    # A schema-valid request must be accepted, or get one of its operation's business-rule
    # answers: the document, not this test, says which.
    operations = [
        {
            "include-operation-id": operation_id,
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + statuses}},
        }
        for operation_id, statuses in business_rules(document).items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "deterministic": True, "max-examples": MAX_EXAMPLES},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
            "operations": operations,
        }
    )


# A TOML scenario is text (the document gives it a string schema): sent as text/plain sends it.
schemathesis.serializer.alias("application/toml", "text/plain")

# Loaded at collection, from the same builder /openapi.json serves (the first test checks that
# the live document is this one): schemathesis' fixture-based loader does not run on pytest 9,
# and parametrizing at collection gives one test per operation.
DOCUMENT = build_openapi(ROUTES)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config(DOCUMENT)).exclude(
    operation_id=WORLD_REPLACING
)
world_schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config(DOCUMENT)).include(
    operation_id=WORLD_REPLACING
)


def test_every_operation_is_fuzzed() -> None:
    operations = {
        operation["operationId"]
        for path in DOCUMENT["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert operations == {route.name for route in ROUTES}
    assert set(WORLD_REPLACING) == {"service-reset", "service-scenario-put", "service-tls-set"}


def test_the_fuzzed_document_is_the_served_one(main_server: Server, http: requests.Session) -> None:
    assert http.get(f"{main_server.url}/openapi.json", timeout=10).json() == DOCUMENT


def _fresh_start(http: requests.Session, base: str) -> None:
    """Undo what an earlier case may have left that would act on this one."""
    http.delete(f"{base}{CLEAR_FAULTS}", timeout=10).raise_for_status()
    # A generated {"mode": "real", "time_scale": 10000} would let the world run on wall time,
    # and every later answer would depend on how fast the run goes.
    http.post(f"{base}/service/clock/", json={"mode": "manual"}, timeout=10).raise_for_status()


def _login(http: requests.Session, base: str) -> str:
    body: dict[str, Any] = {"username": "astravdi", "password": "Bazalt1!", "ldap": False}
    answer = http.post(f"{base}/api/v2/users/login/", json=body, timeout=10)
    answer.raise_for_status()
    token: str = answer.json()["data"]["access_token"]
    return token


def _call(case: Any, base: str, http: requests.Session, headers: dict[str, str]) -> None:
    RUN[case.operation.label] += 1
    response = case.call_and_validate(
        base_url=base,
        session=http,
        headers=headers,
        checks=CHECKS,
        # An ADFS sign-in answers 302 to a generated redirect_uri: never follow it off the host.
        allow_redirects=False,
        timeout=30,
    )
    STATUSES[(case.operation.label, response.status_code)] += 1


FUZZ_SETTINGS = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_answer_is_documented(case: Any, main_server: Server, http: requests.Session) -> None:
    _fresh_start(http, main_server.url)
    headers = {}
    if case.operation.definition.raw.get("operationId") in JWT_OPERATIONS:
        headers["Authorization"] = f"JWT {_login(http, main_server.url)}"
    _call(case, main_server.url, http, headers)


@world_schema.parametrize()
@FUZZ_SETTINGS
def test_every_world_replacing_answer_is_documented(
    case: Any, world_server: Server, http: requests.Session
) -> None:
    # Each case from the default world: what the last generated scenario made is gone.
    restored = http.put(
        f"{world_server.url}/service/scenario/",
        data=DEFAULT_TOML.encode(),
        headers={"content-type": "application/toml"},
        timeout=30,
    )
    restored.raise_for_status()
    _call(case, world_server.url, http, {})
