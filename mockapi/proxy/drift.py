"""Drift: the same read-only probes to a real dispatcher and to a mockapi, answers compared.

:data:`PROBES` is one fixed set: health and version, the login failures, the JWT and its
claims, pools and settings, the 307, 404 and 405 answers, the 422 shapes and refused
WebSocket handshakes. None of them changes state upstream: no step 1 or 2 (a connect starts
a task), no logout (it would end a real session), no accepted WebSocket; the one login that
succeeds issues a token nobody else holds.

Each pair of answers is compared on status, the headers the contract fixes, and the body:
key order, JSON types, and every value except those a probe names as free (a timestamp, a
token). A difference that CONTRACT §10 lists as mockapi's on purpose is reported apart from
real drift (:func:`expected_by_contract`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import jwt
from jwt.warnings import InsecureKeyLengthWarning

#: The original froze the health body's hostname and timestamp (CONTRACT §2, §10).
FROZEN_HOSTNAME = "2ec4a07b9dd4"
FROZEN_TIMESTAMP = 1753277200.0986974
#: The original's hard-coded JWT secret (CONTRACT §4, §10).
ORIGINAL_SECRET = "super-secret"
#: A task id and a client id no world holds.
NO_TASK = "00000000-0000-4000-8000-00000000d71f"
NOT_THE_CLIENT = "00000000-0000-4000-8000-0000000c1d00"
UNKNOWN_USER = "mockapi-drift-probe-no-such-user"
#: A probe that is not a login as the ``--as`` user.
NO_LOGIN = "\x00"
#: Headers compared on every answer that has them.
COMPARED_HEADERS = ("content-type", "www-authenticate", "allow")
#: mockapi may add these claims (CONTRACT §4).
EXTRA_CLAIMS = frozenset({"iat", "jti"})

#: The rows of CONTRACT §10 a probe can see, by key.
SECTION_10 = {
    "health": "health hostname/timestamp frozen in the original; mockapi reports real ones",
    "jwt_secret": "JWT secret hard-coded (super-secret) in the original; mockapi's is its own",
    "ws_client_id": "WS client_id unchecked in the original; mockapi requires the token's",
    "pools_order": "pools order random per process in the original; scenario order in mockapi",
    "mfa_routes": "ADFS and hardware-token next_step routes do not exist in the original (404)",
    "claims": "mockapi may add the iat and jti claims (CONTRACT §4)",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One side's answer to a probe."""

    status: int
    headers: dict[str, str]
    body: Any
    #: The body was not JSON: ``body`` is its text.
    text: bool = False


@dataclass(frozen=True, slots=True)
class Probe:
    """One request sent alike to both sides."""

    name: str
    method: str
    path: str
    #: A JSON body; ``raw`` (with ``content_type``) sends bytes as they are instead.
    json_body: Any = None
    raw: bytes | None = None
    content_type: str | None = None
    #: ``"jwt"``: ``Authorization: JWT <the side's token>``; any other string is sent as the
    #: header's value as it is; None: no Authorization.
    auth: str | None = None
    #: A login as the ``--as`` user with this password instead of ``json_body`` ("" or None).
    as_user_with: str | None = NO_LOGIN
    #: A WebSocket handshake (the Cookie credential when ``auth`` is ``"jwt"``).
    websocket: bool = False
    #: Body paths whose values may differ (``[*]`` for any list index).
    free: frozenset[str] = frozenset()

    @property
    def needs_token(self) -> bool:
        return self.auth == "jwt"


def _login(**body: Any) -> dict[str, Any]:
    return {"username": UNKNOWN_USER, "password": "x", "ldap": False, **body}


#: The fixed set; ``{client_id}`` is the logged-in user's id on each side.
PROBES: tuple[Probe, ...] = (
    Probe("health", "GET", "/api/v2/health/",
          free=frozenset({"data.response_data.hostname", "data.response_data.timestamp"})),
    Probe("version", "GET", "/api/v2/version/"),
    Probe("login-unknown-user", "POST", "/api/v2/users/login/", json_body=_login()),
    Probe("login-empty-password", "POST", "/api/v2/users/login/", as_user_with=""),
    Probe("login-null-password", "POST", "/api/v2/users/login/", as_user_with=None),
    Probe("login-no-body", "POST", "/api/v2/users/login/"),
    Probe("login-empty-object", "POST", "/api/v2/users/login/", json_body={}),
    Probe("login-invalid-json", "POST", "/api/v2/users/login/", raw=b"{",
          content_type="application/json"),
    Probe("login-not-an-object", "POST", "/api/v2/users/login/", json_body=[]),
    Probe("login-ldap-maybe", "POST", "/api/v2/users/login/", json_body=_login(ldap="maybe")),
    Probe("settings", "GET", "/api/v2/users/settings/", auth="jwt"),
    Probe("settings-anonymous", "GET", "/api/v2/users/settings/"),
    Probe("settings-bearer", "GET", "/api/v2/users/settings/", auth="Bearer x"),
    Probe("pools", "GET", "/api/v2/pools/", auth="jwt"),
    Probe("pools-favorites", "GET", "/api/v2/pools/?is_favorite=true", auth="jwt"),
    Probe("pools-page-2", "GET", "/api/v2/pools/?page=2&size=1", auth="jwt"),
    Probe("pools-bad-query", "GET", "/api/v2/pools/?is_favorite=maybe&size=101&page=0",
          auth="jwt"),
    Probe("pools-bad-token", "GET", "/api/v2/pools/", auth="JWT not-a-token"),
    Probe("task-unknown", "GET", f"/api/v2/tasks/{NO_TASK}/", auth="jwt"),
    Probe("task-done-unknown", "GET", f"/api/v2/tasks/{NO_TASK}/is-done/", auth="jwt"),
    Probe("task-bad-id", "GET", "/api/v2/tasks/not-a-uuid/", auth="jwt"),
    Probe("redirect-307", "GET", "/api/v2/health"),
    Probe("redirect-307-query", "GET", "/api/v2/pools?page=2"),
    Probe("unknown-route-404", "GET", "/api/v2/no-such-route/"),
    Probe("ws-path-plain-get-404", "GET", "/api/v2/pools/ws/{client_id}/", auth="jwt"),
    Probe("method-405", "POST", "/api/v2/health/"),
    Probe("head-405", "HEAD", "/api/v2/version/"),
    Probe("options-405", "OPTIONS", "/api/v2/pools/"),
    Probe("adfs-next-step", "GET", "/api/v2/users/adfs/"),
    Probe("ws-no-cookie", "GET", "/api/v2/pools/ws/{client_id}/", websocket=True),
    Probe("ws-no-slash", "GET", "/api/v2/pools/ws/{client_id}", websocket=True, auth="jwt"),
    Probe("ws-other-client-id", "GET", f"/api/v2/pools/ws/{NOT_THE_CLIENT}/", websocket=True,
          auth="jwt"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the two answers to a probe differ."""

    probe: str
    where: str
    kind: str
    upstream: Any
    mockapi: Any
    #: The CONTRACT §10 row that expects it, or None: real drift.
    expected: str | None = None


@dataclass
class ProbeResult:
    name: str
    method: str
    path: str
    upstream: int | None = None
    mockapi: int | None = None
    skipped: str | None = None


@dataclass
class Report:
    """What the probes found."""

    upstream: str
    mockapi: str
    probes: list[ProbeResult] = field(default_factory=list)
    drift: list[Difference] = field(default_factory=list)
    expected: list[Difference] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "mockapi": self.mockapi,
            "drift": [asdict(d) for d in self.drift],
            "expected": [asdict(d) for d in self.expected],
            "probes": [asdict(p) for p in self.probes],
        }

    def text(self) -> str:
        lines = [f"drift: upstream {self.upstream} vs mockapi {self.mockapi}"]
        skipped = [p for p in self.probes if p.skipped]
        lines.append(f"{len(self.probes)} probes, {len(skipped)} skipped")
        lines += [f"  skipped {p.name}: {p.skipped}" for p in skipped]
        lines.append(f"real drift ({len(self.drift)}):")
        lines += [f"  {_line(d)}" for d in self.drift]
        lines.append(f"expected by CONTRACT §10 ({len(self.expected)}):")
        lines += [f"  {_line(d)}  [{d.expected}]" for d in self.expected]
        lines.append("REAL DRIFT" if self.drift else "no real drift")
        return "\n".join(lines)


def _line(diff: Difference) -> str:
    where = f"{diff.where}: " if diff.where else ""
    return (
        f"{diff.probe}: {where}{diff.kind}: upstream {_show(diff.upstream)}, "
        f"mockapi {_show(diff.mockapi)}"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


# -- comparison -----------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _pattern(where: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", where)


def compare(
    upstream: Any, mockapi: Any, free: frozenset[str] = frozenset(), where: str = ""
) -> list[tuple[str, str, Any, Any]]:
    """Every difference of type, keys, key order, length and value: ``(where, kind, up, mock)``.

    A value at a ``free`` path may differ; its type may not.
    """
    up_type, mock_type = _json_type(upstream), _json_type(mockapi)
    if up_type != mock_type:
        return [(where, "type", up_type, mock_type)]
    found: list[tuple[str, str, Any, Any]] = []
    if isinstance(upstream, dict):
        missing = [k for k in upstream if k not in mockapi]
        extra = [k for k in mockapi if k not in upstream]
        if missing or extra:
            found.append((where, "keys", missing, extra))
        common_up = [k for k in upstream if k in mockapi]
        common_mock = [k for k in mockapi if k in upstream]
        if common_up != common_mock:
            found.append((where, "key order", list(upstream), list(mockapi)))
        for key in common_up:
            found += compare(upstream[key], mockapi[key], free, _join(where, key))
    elif isinstance(upstream, list):
        if len(upstream) != len(mockapi):
            found.append((where, "length", len(upstream), len(mockapi)))
        for index, (up, mock) in enumerate(zip(upstream, mockapi, strict=False)):
            found += compare(up, mock, free, _join(where, index))
    elif upstream != mockapi and _pattern(where) not in free:
        found.append((where, "value", upstream, mockapi))
    return found


def compare_answers(
    probe: Probe, up: Answer, mock: Answer, pools_reordered: bool = False
) -> list[Difference]:
    """The differences of two answers to ``probe``, §10's marked as expected.

    ``pools_reordered``: the whole pools list held the same pools in another order, so what
    a filtered page or a later page holds may differ too (§10).
    """
    raw: list[tuple[str, str, Any, Any]] = []
    if up.status != mock.status:
        raw.append(("", "status", up.status, mock.status))
    for name in COMPARED_HEADERS:
        if up.headers.get(name) != mock.headers.get(name):
            raw.append((f"header {name}", "value", up.headers.get(name), mock.headers.get(name)))
    if "location" in up.headers or "location" in mock.headers:
        up_loc, mock_loc = up.headers.get("location"), mock.headers.get("location")
        if up_loc != mock_loc:
            raw.append(("header location", "value", up_loc, mock_loc))
    if up.text != mock.text:
        raw.append(("body", "type", "text" if up.text else "JSON", "text" if mock.text else "JSON"))
    else:
        raw += compare(up.body, mock.body, probe.free)
    diffs = [Difference(probe.name, where, kind, u, m) for where, kind, u, m in raw]
    return expected_by_contract(probe, up, mock, diffs, pools_reordered)


def expected_by_contract(
    probe: Probe,
    up: Answer,
    mock: Answer,
    diffs: list[Difference],
    pools_reordered: bool = False,
) -> list[Difference]:
    """Mark the differences CONTRACT §10 expects (the rest stay real drift)."""
    why: str | None = None
    if probe.name == "ws-other-client-id" and up.status == 101 and mock.status == 403:
        why = SECTION_10["ws_client_id"]
    elif probe.name == "adfs-next-step" and up.status == 404:
        why = SECTION_10["mfa_routes"]
    elif probe.name.startswith("pools") and _same_pools_in_other_order(up.body, mock.body):
        why = SECTION_10["pools_order"]
    elif pools_reordered and probe.name.startswith("pools") and up.status == mock.status == 200:
        # Only the pools a page holds may differ; its total, page, size and pages may not.
        return [
            _expect(d, SECTION_10["pools_order"]) if d.where.startswith("data") else d
            for d in diffs
        ]
    if why is not None:
        return [_expect(d, why) for d in diffs]
    return diffs


def _expect(diff: Difference, why: str) -> Difference:
    return Difference(diff.probe, diff.where, diff.kind, diff.upstream, diff.mockapi, why)


def _same_pools_in_other_order(up: Any, mock: Any) -> bool:
    if not (isinstance(up, dict) and isinstance(mock, dict)):
        return False
    up_pools, mock_pools = up.get("data"), mock.get("data")
    if not (isinstance(up_pools, list) and isinstance(mock_pools, list)) or up_pools == mock_pools:
        return False
    key = json.dumps
    rest_up = {k: v for k, v in up.items() if k != "data"}
    rest_mock = {k: v for k, v in mock.items() if k != "data"}
    return rest_up == rest_mock and sorted(map(key, up_pools)) == sorted(map(key, mock_pools))


def health_frozen(probe: Probe, up: Answer) -> list[Difference]:
    """The original's frozen health values: no drift (the values are free), but §10 says so."""
    data = up.body.get("data") if isinstance(up.body, dict) else None
    info = data.get("response_data") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        return []
    found = []
    for key, frozen in (("hostname", FROZEN_HOSTNAME), ("timestamp", FROZEN_TIMESTAMP)):
        if info.get(key) == frozen:
            found.append(
                Difference(
                    probe.name,
                    f"data.response_data.{key}",
                    "frozen value",
                    frozen,
                    "the real one",
                    SECTION_10["health"],
                )
            )
    return found


def compare_tokens(up_token: str, mock_token: str) -> list[Difference]:
    """The two JWTs: header and claims compared like bodies (``exp`` free: it is a time)."""
    found: list[Difference] = []
    up_header, mock_header = _jwt_header(up_token), _jwt_header(mock_token)
    for where, kind, u, m in compare(up_header, mock_header):
        found.append(Difference("jwt", _join("header", where) if where else "header", kind, u, m))
    up_claims = jwt.decode(up_token, options={"verify_signature": False})
    mock_claims = jwt.decode(mock_token, options={"verify_signature": False})
    extra = {k: v for k, v in mock_claims.items() if k in EXTRA_CLAIMS and k not in up_claims}
    trimmed = {k: v for k, v in mock_claims.items() if k not in extra}
    for where, kind, u, m in compare(up_claims, trimmed, frozenset({"exp", "iat", "jti"})):
        found.append(Difference("jwt", _join("claims", where) if where else "claims", kind, u, m))
    if extra:
        found.append(
            Difference("jwt", "claims", "extra claims", None, sorted(extra), SECTION_10["claims"])
        )
    if signed_with_original_secret(up_token):
        found.append(
            Difference(
                "jwt", "signature", "secret", ORIGINAL_SECRET, "its own", SECTION_10["jwt_secret"]
            )
        )
    return found


def signed_with_original_secret(token: str) -> bool:
    """Whether ``token`` verifies with the original's hard-coded secret."""
    try:
        with warnings.catch_warnings():
            # The short key is the finding here, not a mistake of ours.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            jwt.decode(token, ORIGINAL_SECRET, algorithms=["HS256"],
                       options={"verify_exp": False})  # fmt: skip
    except jwt.PyJWTError:
        return False
    return True


def _jwt_header(token: str) -> Any:
    segment = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# -- sending ------------------------------------------------------------------------------


@dataclass
class Side:
    """One side: its base URL and what its login gave."""

    base: str
    token: str | None = None
    client_id: str | None = None
    login: Answer | None = None


class Unreachable(Exception):
    """A side that does not answer at all."""


async def _send(
    http: aiohttp.ClientSession, side: Side, probe: Probe, username: str, password: str
) -> Answer:
    path = probe.path.replace("{client_id}", side.client_id or NOT_THE_CLIENT)
    headers: dict[str, str] = {}
    if probe.auth == "jwt" and side.token:
        headers["Cookie" if probe.websocket else "Authorization"] = f"JWT {side.token}"
    elif probe.auth is not None and probe.auth != "jwt":
        headers["Authorization"] = probe.auth
    data: bytes | None = probe.raw
    body = probe.json_body
    if probe.as_user_with != NO_LOGIN:
        # Only a refused password: the user's real one is never sent by these probes.
        body = {"username": username, "password": probe.as_user_with, "ldap": False}
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    elif probe.content_type:
        headers["Content-Type"] = probe.content_type
    if probe.websocket:
        headers.update({
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(b"mockapi-drift-01").decode(),
            "Sec-WebSocket-Version": "13",
        })  # fmt: skip
    url = side.base + path
    try:
        async with http.request(
            probe.method, url, headers=headers, data=data, allow_redirects=False
        ) as resp:
            if resp.status == 101:
                # An accepted socket: nothing is read or sent on it, it is closed at once.
                resp.close()
                return Answer(101, {}, None)
            raw = await resp.read()
            answer_headers = {k.lower(): v for k, v in resp.headers.items()}
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable(f"{side.base}: {type(exc).__name__}: {exc}") from None
    if "location" in answer_headers and answer_headers["location"].startswith(side.base):
        answer_headers["location"] = answer_headers["location"][len(side.base) :]
    media = answer_headers.get("content-type", "").split(";")[0].strip()
    if not raw:
        return Answer(resp.status, answer_headers, None)
    if media == "application/json":
        try:
            return Answer(resp.status, answer_headers, json.loads(raw))
        except ValueError:
            pass
    return Answer(resp.status, answer_headers, raw.decode("utf-8", "replace"), text=True)


async def _log_in(http: aiohttp.ClientSession, side: Side, username: str, password: str) -> None:
    body = {"username": username, "password": password, "ldap": False}
    probe = Probe("login", "POST", "/api/v2/users/login/", json_body=body)
    side.login = await _send(http, side, probe, username, password)
    data = side.login.body.get("data") if isinstance(side.login.body, dict) else None
    token = data.get("access_token") if isinstance(data, dict) else None
    if side.login.status == 200 and isinstance(token, str):
        side.token = token
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return
        client_id = claims.get("client_id")
        side.client_id = client_id if isinstance(client_id, str) else None


async def run_probes(
    upstream: str,
    mockapi: str,
    username: str,
    password: str,
    *,
    tls: ssl.SSLContext | bool = True,
    timeout_s: float = 30.0,
    probes: Sequence[Probe] = PROBES,
) -> Report:
    """Send every probe to both sides and compare; raises :class:`Unreachable`."""
    report = Report(upstream, mockapi)
    up, mock = Side(upstream.rstrip("/")), Side(mockapi.rstrip("/"))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(
        timeout=timeout,
        connector=aiohttp.TCPConnector(ssl=tls),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as http:
        await asyncio.gather(_log_in(http, up, username, password),
                             _log_in(http, mock, username, password))  # fmt: skip
        login = Probe(
            "login", "POST", "/api/v2/users/login/", free=frozenset({"data.access_token"})
        )
        assert up.login is not None
        assert mock.login is not None
        result = ProbeResult("login", "POST", login.path, up.login.status, mock.login.status)
        report.probes.append(result)
        _add(report, compare_answers(login, up.login, mock.login))
        if up.token and mock.token:
            _add(report, compare_tokens(up.token, mock.token))
        pools_reordered = False
        for probe in probes:
            result = ProbeResult(probe.name, "WS" if probe.websocket else probe.method, probe.path)
            report.probes.append(result)
            if probe.needs_token and not (up.token and mock.token):
                result.skipped = f"no token: the login as {username} failed on one side"
                continue
            up_answer = await _send(http, up, probe, username, password)
            mock_answer = await _send(http, mock, probe, username, password)
            result.upstream, result.mockapi = up_answer.status, mock_answer.status
            diffs = compare_answers(probe, up_answer, mock_answer, pools_reordered)
            if probe.name == "pools":
                pools_reordered = any(d.expected == SECTION_10["pools_order"] for d in diffs)
            _add(report, diffs)
            if probe.name == "health":
                _add(report, health_frozen(probe, up_answer))
    return report


def _add(report: Report, diffs: Sequence[Difference]) -> None:
    for diff in diffs:
        (report.drift if diff.expected is None else report.expected).append(diff)
