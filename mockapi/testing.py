"""The pytest plugin: a ``mockapi`` fixture for any test suite, after ``pip install mockapi``.

The server runs in a thread of its own on a free loopback port with a manual clock, so it
works whatever event loop (or none) the user's tests run on: the handle talks to it over
real HTTP and WebSockets, exactly as the client under test would.

The handle has two faces with the same methods, built on the control client
(:mod:`mockapi.client`): an ``async def`` test gets :class:`MockApi` (``await`` each call),
a plain ``def`` test gets :class:`SyncMockApi`.

    @pytest.mark.mockapi(scenario="happy-path", seed=7)
    async def test_connect(mockapi):
        token = await mockapi.login("alice")
        ...

    def test_connect_sync(mockapi):
        token = mockapi.login("alice")
        ...

With ``tls=True`` the server speaks HTTPS and WSS: ``mockapi.url`` is ``https://``,
``mockapi.ca_file`` the CA to trust and ``mockapi.ssl_context`` a client context trusting it.
The handle's own calls and sockets do not verify the server: they must get through while a
fault certificate (expired, wrong host, ...) is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import queue
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from mockapi.app import create_app
from mockapi.client import AsyncClient, Client, ControlError, NotVerified, Refused
from mockapi.client.core import nonconformance
from mockapi.domain.certificates import CertificateName
from mockapi.domain.scenario import Scenario, default_scenario_path, load_scenario
from mockapi.keys import TLS
from mockapi.settings import Settings
from mockapi.tls import client_context
from mockapi.web.tls import TlsSite

START_TIMEOUT_S = 10.0
RECEIVE_TIMEOUT_S = 5.0


def resolve_scenario(ref: str | Path | Scenario | None) -> Scenario:
    """A scenario from a path, a shipped name (``"happy-path"``) or a Scenario object."""
    if isinstance(ref, Scenario):
        return ref
    if ref is None:
        return load_scenario(default_scenario_path())
    path = Path(ref)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        path = default_scenario_path().with_name(f"{ref}.toml")
    return load_scenario(path)


class ServerThread(threading.Thread):
    """mockapi on 127.0.0.1:<free port>, in a thread with its own event loop."""

    def __init__(self, settings: Settings, scenario: Scenario) -> None:
        super().__init__(name="mockapi-server", daemon=True)
        self._settings = settings
        self._scenario = scenario
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0
        self.ca_file: Path | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = create_app(self._settings, self._scenario)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        tls = app.get(TLS)
        site: web.TCPSite
        if tls is not None:
            site = TlsSite(runner, "127.0.0.1", 0, tls.switch, self._settings.idle_timeout)
            self.ca_file = tls.ca_file
        else:
            site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    def start_and_wait(self) -> None:
        self.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("mockapi did not start in time")
        if self._error is not None:
            raise RuntimeError(f"mockapi failed to start: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(START_TIMEOUT_S)


def _decode(message: aiohttp.WSMessage) -> dict[str, Any]:
    """A text frame as a dict: its JSON object, or ``{"text"}``/``{"value"}`` otherwise."""
    if message.type is not aiohttp.WSMsgType.TEXT:
        raise AssertionError(f"expected a text frame, got {message.type.name}")
    try:
        data = json.loads(message.data)
    except json.JSONDecodeError:
        return {"text": message.data}
    if not isinstance(data, dict):
        return {"value": data}
    return data


class Socket:
    """An open WebSocket of one user; ``await receive()`` returns the next frame as a dict."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.raw = ws

    async def receive(self, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next text frame decoded from JSON; TimeoutError when none arrives in time."""
        return _decode(await self.raw.receive(timeout=timeout))

    async def send(self, text: str) -> None:
        await self.raw.send_str(text)


class SyncSocket:
    """A user's WebSocket for a ``def`` test: aiohttp in a thread of its own, frames queued.

    The standard library has no WebSocket client; the thread keeps the plugin's dependencies
    as they are and lets ``receive`` block like any sync call.
    """

    def __init__(self, url: str, cookie: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self._url = url
        self._cookie = cookie
        self._ssl_context = ssl_context
        self._frames: queue.Queue[aiohttp.WSMessage | BaseException] = queue.Queue()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mockapi-socket", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test's thread
            self._frames.put(exc)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        async with (
            aiohttp.ClientSession(connector=_connector(self._ssl_context)) as session,
            session.ws_connect(self._url, headers={"Cookie": self._cookie}) as ws,
        ):
            self._ws = ws
            raw = ws.get_extra_info("socket")
            self._ready.set()
            reader = asyncio.ensure_future(self._read(ws))
            await self._closing.wait()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        # This loop ends with the socket: let a TLS connection finish closing first.
        await _closed(raw)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            self._frames.put(message)

    def open(self) -> SyncSocket:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the WebSocket did not open in time")
        if self._ws is None:
            failure = self._frames.get_nowait()
            raise AssertionError(f"the WebSocket did not open: {failure}")
        return self

    def receive(self, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next text frame decoded from JSON; TimeoutError when none arrives in time."""
        try:
            message = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no frame within {timeout} s") from None
        if isinstance(message, BaseException):
            raise AssertionError(f"the WebSocket failed: {message}") from message
        return _decode(message)

    def send(self, text: str) -> None:
        if self._loop is None or self._ws is None:
            raise AssertionError("the WebSocket is not open")
        asyncio.run_coroutine_threadsafe(self._ws.send_str(text), self._loop).result(
            START_TIMEOUT_S
        )

    def close(self) -> None:
        if self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        self._thread.join(START_TIMEOUT_S)


def _connector(context: ssl.SSLContext | None) -> aiohttp.TCPConnector | None:
    return aiohttp.TCPConnector(ssl=context) if context is not None else None


#: How long a closed TLS socket may take to finish its close_notify exchange (loopback: a few
#: loop turns); bounded, so a peer that never answers costs at most this.
TLS_CLOSE_S = 1.0


async def _closed(raw: Any) -> None:
    """Until ``raw`` (a transport's socket) is closed, ``TLS_CLOSE_S`` at most.

    A plain connection is closed at once. A TLS one first exchanges close_notify with the
    server, a few event-loop turns later: a loop that ended before that would leave the
    socket open, and Python warns (``ResourceWarning``) when it is collected.
    """
    if raw is None:
        return
    for _ in range(int(TLS_CLOSE_S / 0.01)):
        if raw.fileno() == -1:
            return
        await asyncio.sleep(0.01)


def _unverified() -> ssl.SSLContext:
    """The handle's own TLS: it reaches the server whatever certificate it is told to show."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@contextlib.contextmanager
def _as_assertion() -> Iterator[None]:
    """A refused request fails the test with its status and the whole answer."""
    try:
        yield
    except Refused as exc:
        raise AssertionError(f"{exc.method} {exc.path} → {exc.status}: {exc.body}") from None


@contextlib.contextmanager
def _verification() -> Iterator[None]:
    """A failed verification fails the test with the server's explanation."""
    try:
        yield
    except NotVerified as exc:
        raise AssertionError(str(exc)) from None


def _assert_conformant(rules: list[dict[str, Any]]) -> None:
    problem = nonconformance(rules)
    if problem is not None:
        raise AssertionError(problem)


@dataclass
class _Handle:
    """What both faces share: where the server is and the world it plays."""

    url: str
    scenario: Scenario
    service_token: str | None = None
    #: With ``tls=True``: the CA file to trust, and a client context that trusts it.
    ca_file: Path | None = None
    ssl_context: ssl.SSLContext | None = None

    @property
    def _own_tls(self) -> ssl.SSLContext | None:
        """What the handle's own calls connect with (``None`` over plain HTTP)."""
        return _unverified() if self.ssl_context is not None else None

    def _user(self, username: str) -> dict[str, Any]:
        for user in self.scenario.users:
            if user.username == username:
                return user.model_dump()
        for group in self.scenario.user_groups:
            if username.startswith(group.prefix):
                return group.model_dump()
        raise KeyError(f"no user {username!r} in the scenario")

    def _credentials(self, username: str, password: str | None) -> tuple[str | None, bool]:
        """The password to send (the scenario's unless given) and whether an OTP is due."""
        user = self._user(username)
        sent = password if password is not None else user.get("password")
        return sent, bool(user.get("otp"))

    def _ws_url(self, token: str) -> str:
        # The handle is a client: it reads its own token, it does not verify it.
        client_id = jwt.decode(token, options={"verify_signature": False})["client_id"]
        return f"{self.url}/api/v2/pools/ws/{client_id}/"


def _otp_of(now: str) -> str:
    """The OTP the mock accepts at scenario time ``now``: its date as ``%y%m%d``."""
    return now[2:10].replace("-", "")


class MockApi(_Handle):
    """The handle of an ``async def`` test: every call is awaited.

    ``control`` gives every control route (:class:`mockapi.client.AsyncClient`); the handle's
    own methods are the common ones.
    """

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[AsyncClient]:
        # A session per call: the test's event loop may differ from test to test.
        async with AsyncClient(self.url, self.service_token, ssl_context=self._own_tls) as client:
            with _as_assertion():
                yield client

    @property
    def control(self) -> AsyncClient:
        """A control client of its own (close it, or use ``async with``)."""
        return AsyncClient(self.url, self.service_token, ssl_context=self._own_tls)

    async def now(self) -> str:
        async with self._client() as ctl:
            return str((await ctl.clock())["now"])

    async def login(
        self, username: str, password: str | None = None, otp: str | None = None
    ) -> str:
        """Log in through the real route; the password defaults to the scenario's, and the
        OTP of an OTP user to the code valid on the scenario clock now."""
        password, wants_otp = self._credentials(username, password)
        async with self._client() as ctl:
            if otp is None and wants_otp:
                otp = _otp_of(str((await ctl.clock())["now"]))
            return await ctl.login(username, password, otp)

    async def advance(self, seconds: float) -> dict[str, Any]:
        """Advance the manual clock; returns after the frames it caused reached the sockets."""
        async with self._client() as ctl:
            return await ctl.advance(seconds)

    async def force(self, task_id: str | uuid.UUID, status: str) -> dict[str, Any]:
        """Force a task's status (pushed to the owner's sockets like any change)."""
        async with self._client() as ctl:
            return await ctl.force(task_id, status)

    async def journal(self, since: int = 0) -> list[dict[str, Any]]:
        """Journal entries after ``since``, oldest first."""
        async with self._client() as ctl:
            return list((await ctl.journal(since))["entries"])

    async def verify(self, request: Mapping[str, Any], **expect: Any) -> list[dict[str, Any]]:
        """The journal entries ``request`` matches when the expectation (``exactly``,
        ``at_least``, ``at_most``, ``within_s``, ``after``) holds; else the test fails with
        the server's explanation: the closest requests and what differed."""
        async with self._client() as ctl:
            with _verification():
                return await ctl.verify(request, **expect)

    async def coverage(self) -> dict[str, Any]:
        """What this test reached so far: ``GET /service/coverage/``."""
        async with self._client() as ctl:
            return await ctl.coverage()

    async def conformance(self) -> list[dict[str, Any]]:
        """Each client rule with its status, evidence and detail."""
        async with self._client() as ctl:
            return await ctl.conformance()

    async def assert_conformant(self) -> None:
        """Fail the test when the client broke a rule, naming each with its evidence."""
        _assert_conformant(await self.conformance())

    async def reset(self) -> None:
        """Back to the scenario's initial state."""
        async with self._client() as ctl:
            await ctl.reset()

    async def token(self, username: str, ttl_s: float | None = None) -> str:
        """A token for any scenario user, MFA skipped."""
        async with self._client() as ctl:
            return await ctl.token(username, ttl_s)

    async def wait_task(
        self, task_id: str | uuid.UUID, status: str, **options: Any
    ) -> dict[str, Any]:
        """Until the task has ``status``, on the scenario clock (``timeout``, ``advance``,
        ``step``, ``since``: see :mod:`mockapi.client.core`)."""
        async with self._client() as ctl:
            return await ctl.wait_task(task_id, status, **options)

    async def wait_frame(self, user: str, **options: Any) -> dict[str, Any]:
        """Until a task frame has gone to ``user``; its journal entry."""
        async with self._client() as ctl:
            return await ctl.wait_frame(user, **options)

    async def wait_journal(
        self, match: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool], **options: Any
    ) -> dict[str, Any]:
        """Until a journal entry matches; the entry."""
        async with self._client() as ctl:
            return await ctl.wait_journal(match, **options)

    async def certificate(self, name: CertificateName) -> None:
        """Show certificate ``name`` to new connections (``tls=True`` only)."""
        async with self._client() as ctl:
            await ctl.certificate(name)

    @contextlib.asynccontextmanager
    async def ws(self, username: str) -> AsyncIterator[Socket]:
        """An open WebSocket of ``username``, with a token from ``POST /service/tokens/``."""
        # Not login(): it cannot finish for an ADFS or hardware-token user (428), and a test
        # watching such a user's tasks needs their socket all the same.
        token = await self.token(username)
        async with (
            aiohttp.ClientSession(connector=_connector(self._own_tls)) as session,
            session.ws_connect(self._ws_url(token), headers={"Cookie": f"JWT {token}"}) as ws,
        ):
            raw = ws.get_extra_info("socket")
            yield Socket(ws)
        # The test's loop may end right after the test: let a TLS connection finish closing.
        await _closed(raw)


class SyncMockApi(_Handle):
    """The handle of a plain ``def`` test: the same methods as :class:`MockApi`, blocking."""

    @contextlib.contextmanager
    def _client(self) -> Iterator[Client]:
        with (
            Client(self.url, self.service_token, ssl_context=self._own_tls) as client,
            _as_assertion(),
        ):
            yield client

    @property
    def control(self) -> Client:
        """A control client of its own (``with`` closes it)."""
        return Client(self.url, self.service_token, ssl_context=self._own_tls)

    def now(self) -> str:
        with self._client() as ctl:
            return str(ctl.clock()["now"])

    def login(self, username: str, password: str | None = None, otp: str | None = None) -> str:
        """As :meth:`MockApi.login`."""
        password, wants_otp = self._credentials(username, password)
        with self._client() as ctl:
            if otp is None and wants_otp:
                otp = _otp_of(str(ctl.clock()["now"]))
            return ctl.login(username, password, otp)

    def advance(self, seconds: float) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.advance(seconds)

    def force(self, task_id: str | uuid.UUID, status: str) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.force(task_id, status)

    def journal(self, since: int = 0) -> list[dict[str, Any]]:
        with self._client() as ctl:
            return list(ctl.journal(since)["entries"])

    def verify(self, request: Mapping[str, Any], **expect: Any) -> list[dict[str, Any]]:
        """As :meth:`MockApi.verify`."""
        with self._client() as ctl, _verification():
            return ctl.verify(request, **expect)

    def coverage(self) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.coverage()

    def conformance(self) -> list[dict[str, Any]]:
        with self._client() as ctl:
            return ctl.conformance()

    def assert_conformant(self) -> None:
        """As :meth:`MockApi.assert_conformant`."""
        _assert_conformant(self.conformance())

    def reset(self) -> None:
        with self._client() as ctl:
            ctl.reset()

    def token(self, username: str, ttl_s: float | None = None) -> str:
        with self._client() as ctl:
            return ctl.token(username, ttl_s)

    def wait_task(self, task_id: str | uuid.UUID, status: str, **options: Any) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.wait_task(task_id, status, **options)

    def wait_frame(self, user: str, **options: Any) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.wait_frame(user, **options)

    def wait_journal(
        self, match: Mapping[str, Any] | Callable[[Mapping[str, Any]], bool], **options: Any
    ) -> dict[str, Any]:
        with self._client() as ctl:
            return ctl.wait_journal(match, **options)

    def certificate(self, name: CertificateName) -> None:
        """As :meth:`MockApi.certificate`."""
        with self._client() as ctl:
            ctl.certificate(name)

    @contextlib.contextmanager
    def ws(self, username: str) -> Iterator[SyncSocket]:
        """An open WebSocket of ``username``; ``socket.receive(timeout=5.0)`` blocks."""
        token = self.token(username)
        socket = SyncSocket(self._ws_url(token), f"JWT {token}", self._own_tls).open()
        try:
            yield socket
        finally:
            socket.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockapi")
    group.addoption(
        "--mockapi-cov-fail-under",
        type=float,
        default=None,
        metavar="PERCENT",
        help="fail the session when the state-machine transitions its tests reached (summed "
        "over the tests that used the mockapi fixture) are below PERCENT of all",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SESSION_COVERAGE] = SessionCoverage()
    config.addinivalue_line(
        "markers",
        "mockapi(scenario=None, seed=None, tls=False): the scenario (path, shipped name or "
        "Scenario) and seed of the mockapi fixture's server; tls=True serves HTTPS and WSS",
    )


@pytest.fixture
def mockapi(request: pytest.FixtureRequest) -> Iterator[MockApi | SyncMockApi]:
    """A mockapi server for this test: manual clock, default scenario unless marked; the
    async handle for an ``async def`` test, the sync one for a ``def`` test."""
    marker = request.node.get_closest_marker("mockapi")
    options = dict(marker.kwargs) if marker else {}
    scenario = resolve_scenario(options.get("scenario"))
    tls = bool(options.get("tls", False))
    # One CA for the whole session, in pytest's own temporary folder (never the user's).
    tls_dir = request.getfixturevalue("tmp_path_factory").getbasetemp() / "mockapi-tls"
    settings = Settings(
        port=0, clock="manual", seed=options.get("seed"), tls=tls, tls_dir=tls_dir if tls else None
    )
    server = ServerThread(settings, scenario)
    server.start_and_wait()
    face = MockApi if inspect.iscoroutinefunction(request.function) else SyncMockApi
    try:
        handle: MockApi | SyncMockApi
        if server.ca_file is None:
            handle = face(url=f"http://127.0.0.1:{server.port}", scenario=scenario)
        else:
            handle = face(
                url=f"https://127.0.0.1:{server.port}",
                scenario=scenario,
                ca_file=server.ca_file,
                ssl_context=client_context(server.ca_file),
            )
        yield handle
        session = request.config.stash[SESSION_COVERAGE]
        try:
            with Client(handle.url, ssl_context=handle._own_tls) as ctl:
                session.add(ctl.coverage())
        except ControlError as exc:  # the summary says how many tests it could not read
            session.unread.append(f"{request.node.nodeid}: {exc}")
    finally:
        server.stop()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """The session's coverage of the state machines, as pytest-cov prints its own."""
    coverage = config.stash[SESSION_COVERAGE]
    if not coverage.tests and not coverage.unread:
        return
    terminalreporter.write_sep("-", "mockapi coverage: state-machine transitions")
    for line in coverage.report():
        terminalreporter.write_line(line)
    threshold = config.getoption("--mockapi-cov-fail-under")
    if threshold is not None:
        percent = coverage.percent()
        if percent < threshold:
            terminalreporter.write_line(
                f"FAIL Required mockapi coverage of {threshold:g}% not reached. "
                f"Total coverage: {percent:.2f}%",
                red=True,
            )
        else:
            terminalreporter.write_line(
                f"Required mockapi coverage of {threshold:g}% reached. "
                f"Total coverage: {percent:.2f}%",
                green=True,
            )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Below ``--mockapi-cov-fail-under``, a session that passed fails (as pytest-cov does)."""
    config = session.config
    threshold = config.getoption("--mockapi-cov-fail-under")
    coverage = config.stash[SESSION_COVERAGE]
    if threshold is None or not coverage.tests or session.exitstatus != pytest.ExitCode.OK:
        return
    if coverage.percent() < threshold:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class SessionCoverage:
    """The transitions each test reached, summed over a session (each test has a server of
    its own, so each starts from nothing)."""

    def __init__(self) -> None:
        self.tests = 0
        #: The tests whose coverage could not be read, with why (their server was gone).
        self.unread: list[str] = []
        #: machine -> (trigger, source, dest, guard) -> times taken, in the tables' order.
        self.machines: dict[str, dict[tuple[str, str, str, str | None], int]] = {}

    def add(self, answer: Mapping[str, Any]) -> None:
        """Add one test's ``GET /service/coverage/`` answer."""
        self.tests += 1
        for name, machine in answer["machines"].items():
            rows = self.machines.setdefault(name, {})
            for row in machine["transitions"]:
                key = (row["trigger"], row["source"], row["dest"], row.get("guard"))
                rows[key] = rows.get(key, 0) + int(row["count"])

    def percent(self) -> float:
        """Covered transitions of all three machines, in percent of all of them."""
        total = sum(len(rows) for rows in self.machines.values())
        covered = sum(1 for rows in self.machines.values() for n in rows.values() if n)
        return 100.0 * covered / total if total else 100.0

    def report(self) -> list[str]:
        """Per machine covered/total and percent, then the transitions never taken."""
        lines = [f"{'machine':<12}{'covered':>8}{'total':>7}{'cover':>8}"]
        for name, rows in self.machines.items():
            covered = sum(1 for n in rows.values() if n)
            percent = 100.0 * covered / len(rows) if rows else 100.0
            lines.append(f"{name:<12}{covered:>8}{len(rows):>7}{percent:>7.0f}%")
        total = sum(len(rows) for rows in self.machines.values())
        covered = sum(1 for rows in self.machines.values() for n in rows.values() if n)
        lines.append(f"{'TOTAL':<12}{covered:>8}{total:>7}{self.percent():>7.0f}%")
        missed = [
            (name, key) for name, rows in self.machines.items() for key, n in rows.items() if not n
        ]
        if missed:
            lines.append("never taken:")
        for name, (trigger, source, dest, guard) in missed:
            when = f" [{guard}]" if guard else ""
            lines.append(f"  {name}: {source} --{trigger}{when}--> {dest}")
        if self.unread:
            lines.append(f"not counted ({len(self.unread)} test(s) whose coverage was unreadable):")
            lines.extend(f"  {line}" for line in self.unread)
        return lines


#: The session's coverage, kept on the config between the fixture and the summary.
SESSION_COVERAGE = pytest.StashKey[SessionCoverage]()
