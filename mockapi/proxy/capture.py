"""A scenario from what the proxy saw: the journal of a session with a real dispatcher.

:func:`capture` reads the entries ``GET /service/journal/`` serves (:mod:`mockapi.proxy.app`)
and builds scenario data that ``scenario check`` accepts:

- ``[version]`` from the version body;
- ``[client_settings]`` from the first settings body (its MFA flags are each user's);
- ``[[users]]``: everyone who tried to log in and exists upstream, with their MFA kind read
  from the 428 answers (100 OTP, 101 ADFS, 102 hardware token) and the settings bodies, id and
  roles from the claims of the token the upstream issued;
- ``[[pools]]`` from the pools pages, each assigned to the users whose pages listed it;
- ``[[machines]]`` from step 2's answers: assigned up front when step 1 answered 200 at once,
  otherwise a free machine of the pool, which the observed POOL_EXPAND then hands out;
- ``[[rules]]``: per (user, pool, kind) the outcome, PENDING and RUNNING seconds observed (from
  the tasks' ``created``/``started``/``finished``), and ``expandable = false`` where step 1
  answered 403/800;
- ``[[tasks]]``: tasks read through the tasks API that no request in the journal created
  (the upstream's own, seeded ones).

What the journal cannot tell is chosen so that serving the scenario answers the same
requests the same way: passwords are redacted, so ``check_passwords`` stays false (any
non-empty password logs in, as on the original); a user who never got a token gets an id made
from the name. Each such choice is listed in :attr:`Capture.notes`, written at the top of the
TOML file.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tomli_w

from mockapi.domain.scenario import (
    PER_USER_SECURITY,
    ClientSettingsSection,
    Scenario,
    ScenarioError,
    VersionSection,
    parse_scenario,
)
from mockapi.web.bodies import SettingsBody

#: Where the ids of users who never got a token are made from (stable across runs).
CAPTURE_NAMESPACE = uuid.UUID("5a1e4c3e-93a4-4c3b-9b8e-6d1f0c2a7e15")
LOGIN = "/api/v2/users/login/"
POOLS = "/api/v2/pools/"
SETTINGS = "/api/v2/users/settings/"
VERSION = "/api/v2/version/"
CONNECT = re.compile(r"^/api/v2/pools/(?P<pool>[^/]+)/connect/$")
TASK = re.compile(r"^/api/v2/tasks/(?P<task>[^/]+)/(?:is-done/)?$")
MFA_FLAGS = {100: "otp", 101: "adfs", 102: "hardware_token"}
POOL_KEYS = ("name", "status", "is_favorite", "pool_type", "os_type", "connection_types")
POOL_TYPES = ("AUTOMATED", "STATIC", "GUEST", "RDS")
MACHINE_KEYS = ("verbose_name", "host", "port", "permissions", "status", "protocol_id")
TERMINAL = ("COMPLETED", "CANCELLED", "FAILED")


class CaptureError(Exception):
    """A journal that is not one: the message says what is wrong with it."""


@dataclass
class _User:
    name: str
    id: str | None = None
    roles: list[str] | None = None
    flags: set[str] = field(default_factory=set)
    pools: list[str] = field(default_factory=list)


@dataclass
class _Task:
    id: str
    kind: str | None = None
    user: str | None = None
    pool: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    statuses: list[str] = field(default_factory=list)
    #: Made by a step 1 or 2 in the journal (else the upstream had it before).
    requested: bool = False
    #: When the proxy saw the task answered and each status pushed (its own clock): the
    #: timings when the tasks API never showed ``started`` and ``finished``.
    seen_at: dict[str, datetime] = field(default_factory=dict)


@dataclass
class Capture:
    """The scenario data captured from a journal, and what had to be chosen for it."""

    data: dict[str, Any]
    notes: list[str]

    def toml(self, source: str = "the journal") -> str:
        """The scenario as TOML, headed by where it came from and the choices made."""
        lines = [f"# Captured by `mockapi capture` from {source}."]
        lines += [f"# - {note}" for note in self.notes]
        return "\n".join(lines) + "\n\n" + tomli_w.dumps(self.data)


def _data(entry: dict[str, Any], part: str) -> Any:
    """The ``data`` of a journaled request or answer body, or None."""
    body = (entry.get(part) or {}).get("body")
    return body.get("data") if isinstance(body, dict) else None


def _detail_code(entry: dict[str, Any]) -> int | None:
    body = (entry.get("response") or {}).get("body")
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        code = detail[0].get("err_code")
        return code if isinstance(code, int) else None
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def entries_of(journal: Any) -> list[dict[str, Any]]:
    """The entries of a journal as ``GET /service/journal/`` serves it, oldest first."""
    if not isinstance(journal, dict) or not isinstance(journal.get("entries"), list):
        raise CaptureError('not a journal: expected {"entries": [...], "dropped": N}')
    entries = [entry for entry in journal["entries"] if isinstance(entry, dict)]
    return sorted(entries, key=lambda entry: entry.get("seq", 0))


class _Reader:
    """Walks the journal once, keeping what each kind of answer says."""

    def __init__(self) -> None:
        self.version: dict[str, str] | None = None
        self.users: dict[str, _User] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.machines: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, _Task] = {}
        #: (user, pool id) -> the status of the first step 1 answer seen.
        self.first_step1: dict[tuple[str, str], int] = {}
        self.unexpandable: list[tuple[str, str]] = []
        #: The first settings ``data`` seen (its security flags are per user).
        self.settings_body: dict[str, Any] | None = None
        #: Users whose settings differ from the first beyond the MFA flags.
        self.settings_differ: list[str] = []

    def user(self, name: str) -> _User:
        if name not in self.users:
            self.users[name] = _User(name)
        return self.users[name]

    def read(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            if entry.get("kind") == "http" and isinstance(entry.get("status"), int):
                self.http(entry)
            elif entry.get("kind") == "ws" and entry.get("direction", "down") == "down":
                self.frame(entry.get("frame"), _time(entry.get("time")))

    def http(self, entry: dict[str, Any]) -> None:
        path, status, method = entry.get("path", ""), entry["status"], entry.get("method")
        user = entry.get("user") if isinstance(entry.get("user"), str) else None
        if method == "GET" and path == VERSION and status == 200:
            data = _data(entry, "response")
            if isinstance(data, dict):
                known = VersionSection.model_fields
                self.version = {k: str(v) for k, v in data.items() if k in known}
        elif method == "POST" and path == LOGIN:
            self.login(entry, status)
        elif method == "GET" and path == SETTINGS and status == 200 and user:
            self.settings(user, _data(entry, "response"))
        elif method == "GET" and path == POOLS and status == 200 and user:
            self.pools_page(user, _data(entry, "response"))
        elif (match := CONNECT.match(path)) and user:
            self.connect(entry, method, status, user, match.group("pool"))
        elif method == "GET" and TASK.match(path) and status == 200:
            # Whoever read it; an admin reading someone else's task is not told apart.
            self.task(_data(entry, "response"), user, None, requested=False)

    def login(self, entry: dict[str, Any], status: int) -> None:
        name = entry.get("user")
        body = (entry.get("request") or {}).get("body")
        if isinstance(body, dict) and isinstance(body.get("username"), str):
            name = body["username"]
        if not isinstance(name, str) or not name:
            return
        code = _detail_code(entry)
        if status == 200:
            user = self.user(name)
            claims = entry.get("claims") or {}
            if isinstance(claims.get("sub"), str) and _uuid(claims["sub"]):
                user.id = _uuid(claims["sub"])
            if isinstance(claims.get("roles"), list):
                user.roles = [str(role) for role in claims["roles"]]
            if isinstance(body, dict) and body.get("otp_code"):
                user.flags.add("otp")  # a code was needed (it was sent after a 428/100)
        elif status == 428 and code in MFA_FLAGS:
            self.user(name).flags.add(MFA_FLAGS[code])
        elif status == 401 and code == 103:
            self.user(name).flags.add("otp")

    def settings(self, name: str, data: Any) -> None:
        security = data.get("security") if isinstance(data, dict) else None
        if self.settings_body is None and isinstance(data, dict):
            self.settings_body = data
        elif (
            isinstance(data, dict)
            and self.settings_body is not None
            and _shared(data) != _shared(self.settings_body)
            and name not in self.settings_differ
        ):
            self.settings_differ.append(name)
        if isinstance(security, dict):
            user = self.user(name)
            user.flags |= {flag for key, flag in PER_USER_SECURITY.items() if security.get(key)}

    def pools_page(self, name: str, data: Any) -> None:
        user = self.user(name)
        for item in data if isinstance(data, list) else []:
            pool_id = _uuid(str(item.get("id", ""))) if isinstance(item, dict) else None
            if pool_id is None:
                continue
            self.pools[pool_id] = {key: item[key] for key in POOL_KEYS if key in item}
            if pool_id not in user.pools:
                user.pools.append(pool_id)

    def connect(
        self, entry: dict[str, Any], method: Any, status: int, user: str, pool_text: str
    ) -> None:
        pool = _uuid(pool_text)
        if pool is None:
            return
        data = _data(entry, "response")
        at = _time(entry.get("time"))
        if method == "GET":
            self.first_step1.setdefault((user, pool), status)
            if status == 403 and _detail_code(entry) == 800:
                if (user, pool) not in self.unexpandable:
                    self.unexpandable.append((user, pool))
            elif status in (200, 202):
                self.task(data, user, pool, requested=status == 202, at=at)
        elif method == "POST":
            if status == 202:
                self.task(data, user, pool, requested=True, at=at)
            elif status == 200 and isinstance(data, dict) and _uuid(str(data.get("id", ""))):
                machine_id = _uuid(str(data["id"]))
                assert machine_id is not None
                machine = {key: data[key] for key in MACHINE_KEYS if key in data}
                machine.update(pool=pool, user=user)
                self.machines[machine_id] = machine

    def task(
        self,
        data: Any,
        user: str | None,
        pool: str | None,
        *,
        requested: bool,
        at: datetime | None = None,
    ) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return
        task_id = _uuid(data["id"])
        if task_id is None:
            return
        task = self.tasks.setdefault(task_id, _Task(task_id))
        if at is not None and isinstance(data.get("status"), str):
            task.seen_at.setdefault(data["status"], at)
        task.kind = data.get("kind", task.kind)
        task.user = task.user or user
        task.pool = task.pool or pool
        task.requested = task.requested or requested
        for key in ("created", "started", "finished"):
            value = _time(data.get(key))
            if value is not None:
                setattr(task, key, value)
        if isinstance(data.get("status"), str):
            task.statuses.append(data["status"])

    def frame(self, frame: Any, at: datetime | None) -> None:
        if isinstance(frame, dict) and isinstance(frame.get("id"), str):
            task_id = _uuid(frame["id"])
            if task_id is not None and isinstance(frame.get("status"), str):
                task = self.tasks.setdefault(task_id, _Task(task_id))
                task.kind = frame.get("kind", task.kind)
                task.statuses.append(frame["status"])
                if at is not None:
                    task.seen_at.setdefault(frame["status"], at)


def _rules(reader: _Reader, pool_names: dict[str, str]) -> list[dict[str, Any]]:
    """One rule per (user, pool, kind): what the last task observed for it did."""
    rules: dict[tuple[str, str, str], dict[str, Any]] = {}
    for user, pool in reader.unexpandable:
        if pool in pool_names:
            rules[(user, pool, "POOL_EXPAND")] = {
                "user": user, "pool": pool_names[pool], "kind": "POOL_EXPAND",
                "expandable": False,
            }  # fmt: skip
    for task in reader.tasks.values():
        if not (task.requested and task.user and task.pool in pool_names and task.kind):
            continue
        assert task.pool is not None
        rule: dict[str, Any] = {"user": task.user, "pool": pool_names[task.pool], "kind": task.kind}
        outcome = next((s for s in reversed(task.statuses) if s in TERMINAL), None)
        if outcome is not None:
            rule["outcome"] = outcome
        seen = task.seen_at
        pending = _seconds(task.created, task.started)
        if pending is None:
            pending = _seconds(seen.get("PENDING"), seen.get("RUNNING"))
        running = _seconds(task.started, task.finished)
        if running is None:
            running = _seconds(seen.get("RUNNING"), seen.get(outcome or ""))
        if pending is not None:
            rule["pending_s"] = pending
        if running is not None:
            rule["running_s"] = running
        rules[(task.user, task.pool, task.kind)] = rule
    return list(rules.values())


def _shared(data: dict[str, Any]) -> dict[str, Any]:
    """A settings ``data`` without its per-user MFA flags: what every user shares."""
    shared = dict(data)
    if isinstance(shared.get("security"), dict):
        security = shared["security"]
        shared["security"] = {k: v for k, v in security.items() if k not in PER_USER_SECURITY}
    return shared


def client_settings_of(seen: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``[client_settings]`` from a settings ``data`` the upstream answered, and notes.

    Each part (general, security, net, protocols) the scenario cannot hold as it is (an
    unknown key, another type) keeps mockapi's default, said in a note; so does whatever the
    served body would still show differently, compared as drift compares answers.
    """
    from mockapi.proxy.drift import compare

    shared = _shared(seen)
    section: dict[str, Any] = {}
    notes: list[str] = []
    for part, value in shared.items():
        if part not in ClientSettingsSection.model_fields:
            continue  # the comparison below names it
        try:
            parse_scenario({"client_settings": {part: value}})
        except ScenarioError as exc:
            notes.append(
                f"the settings body's {part} cannot be a scenario's ({'; '.join(exc.problems)}):"
                f" [client_settings] keeps mockapi's {part}"
            )
            continue
        section[part] = value
    security = seen.get("security")
    flags = {
        key: isinstance(security, dict) and security.get(key) is True for key in PER_USER_SECURITY
    }
    served = SettingsBody.of(ClientSettingsSection.model_validate(section), **flags)
    ours = served.model_dump(mode="json")["data"]
    notes += [
        f"the settings body differs from what the scenario answers at {where or 'the top'}: "
        f"{kind}: upstream {json.dumps(up)}, mockapi {json.dumps(mock)}"
        for where, kind, up, mock in compare(seen, ours)
    ]
    return section, notes


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` (never negative), None when either is unknown."""
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 6)


def capture(journal: Any) -> Capture:
    """The scenario data a journal shows (raises :class:`CaptureError` for a non-journal)."""
    entries = entries_of(journal)
    reader = _Reader()
    reader.read(entries)
    notes = [
        f"{len(entries)} journal entries read"
        + (f"; {journal['dropped']} older ones were dropped" if journal.get("dropped") else ""),
        "passwords are redacted in the journal: check_passwords is false, so any non-empty "
        "password logs in (as on the original)",
    ]
    data: dict[str, Any] = {"settings": {"check_passwords": False}}
    if reader.version:
        data["version"] = reader.version
    else:
        notes.append("no version body seen: [version] keeps mockapi's defaults")

    if reader.settings_body is not None:
        client_settings, settings_notes = client_settings_of(reader.settings_body)
        if client_settings:
            data["client_settings"] = client_settings
        notes += settings_notes
    else:
        notes.append("no settings body seen: [client_settings] keeps mockapi's defaults")
    if reader.settings_differ:
        notes.append(
            "the settings of " + ", ".join(reader.settings_differ) + " differ from the first "
            "user's beyond the MFA flags; mockapi answers every user the first user's"
        )

    pool_names: dict[str, str] = {}
    pools = []
    for pool_id, seen in reader.pools.items():
        name = str(seen.get("name") or f"pool-{pool_id[:8]}")
        if name in pool_names.values():
            name = f"{name}-{pool_id[:8]}"
            notes.append(f"pool {pool_id}: its name is not unique; named {name!r} here")
        pool_names[pool_id] = name
        pool: dict[str, Any] = {"id": pool_id, "name": name}
        pool.update({k: v for k, v in seen.items() if k != "name" and v is not None})
        if pool.get("pool_type") not in POOL_TYPES:
            notes.append(f"pool {name}: pool_type {pool.get('pool_type')!r} unknown to mockapi")
            pool["pool_type"] = "AUTOMATED"
        pools.append(pool)

    users = []
    for user in reader.users.values():
        if user.id is None and not user.flags:
            continue  # never got past the login: unknown or disabled, nothing to build
        spec: dict[str, Any] = {"id": user.id, "username": user.name}
        if user.id is None:
            spec["id"] = str(uuid.uuid5(CAPTURE_NAMESPACE, user.name))
            notes.append(f"user {user.name}: never got a token; id made from the name")
        if user.roles is not None:
            spec["roles"] = user.roles
        for flag in ("otp", "adfs", "hardware_token"):
            if flag in user.flags:
                spec[flag] = True
        spec["pools"] = [pool_names[p] for p in user.pools if p in pool_names]
        users.append(spec)
    known_users = {spec["username"] for spec in users}

    machines = []
    for machine_id, seen in reader.machines.items():
        if seen["pool"] not in pool_names or seen["user"] not in known_users:
            continue
        machine = {"id": machine_id, **{k: v for k, v in seen.items() if k not in ("pool", "user")}}
        machine["pool"] = pool_names[seen["pool"]]
        # Step 1 answered 200 at once: the upstream had given the machine before the journal
        # began. Otherwise the observed POOL_EXPAND hands this free machine out.
        if reader.first_step1.get((seen["user"], seen["pool"]), 200) == 200:
            machine["user"] = seen["user"]
        machines.append(machine)

    tasks = []
    for task in reader.tasks.values():
        if task.requested or task.user not in known_users:
            continue
        if task.kind is None or not task.statuses or not task.created:
            continue
        spec = {"id": task.id, "user": task.user, "kind": task.kind, "status": task.statuses[-1]}
        if task.pool in pool_names:
            assert task.pool is not None
            spec["pool"] = pool_names[task.pool]
        for key in ("created", "started", "finished"):
            if getattr(task, key) is not None:
                spec[key] = getattr(task, key)
        tasks.append(spec)

    for key, items in (
        ("users", users),
        ("pools", pools),
        ("machines", machines),
        ("tasks", tasks),
        ("rules", [r for r in _rules(reader, pool_names) if r["user"] in known_users]),
    ):
        if items:
            data[key] = items
    return Capture(data, notes)


def scenario_of(result: Capture) -> Scenario:
    """The captured data as a validated scenario (raises ScenarioError on a problem)."""
    return parse_scenario(result.data, "captured scenario")
