"""The bodies mockapi answers, as pydantic models: one source for the handlers and the docs.

``/openapi.json`` and ``/asyncapi.json`` are generated from these models, so a document can
only say what a model says. Handlers that answer a success body build it through its model
and :func:`mockapi.web.responses.model_response`, so the document and the bytes on the wire come
from the same place. Field order is the contract's key order (CONTRACT §2-§9): pydantic
serialises fields in declaration order.

Error bodies are built by :mod:`mockapi.domain.errors` and :mod:`mockapi.web.validation` (they must
echo any input, lone surrogates included); their models here describe them, and the tests
check every catalogue entry against them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from mockapi.domain.certificates import CertificateName
from mockapi.domain.clock import iso_z
from mockapi.domain.errors import ErrorCode
from mockapi.domain.lazymodel import DeferredModel, DeferredRootModel
from mockapi.domain.scenario import (
    ClientSettingsSection,
    GeneralSettings,
    NetSettings,
    ProtocolSettings,
    VersionSection,
)
from mockapi.domain.world import Desktop, Pool
from mockapi.statemachines.task import Task, TaskKind, TaskStatus

#: A UTC time as the API prints it (CONTRACT §6): ISO 8601, microseconds unless zero, ``Z``.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-25T07:45:16.710622Z"]}
    ),
]


def _no_default(schema: dict[str, Any]) -> None:
    # A key that is absent rather than null: its schema must not advertise a null default.
    schema.pop("default", None)


# -- errors (CONTRACT §1, §3) ------------------------------------------------------------------
class ErrorItem(DeferredModel):
    """One application error: the catalogue's message and code."""

    msg: str = Field(examples=["Permission denied."])
    err_code: ErrorCode = Field(description="The ErrorCodes enum: 999, 100-103, 800, 801, 900.")
    type: Literal["default"]


class AppError(DeferredModel):
    """An application error (CONTRACT §3); always sent with ``www-authenticate: JWT``."""

    detail: Annotated[list[ErrorItem], Field(min_length=1, max_length=1)]


class MfaErrorItem(DeferredModel):
    """The MFA variant: ``type`` is ``auth`` and ``next_step`` names the route to go on with."""

    msg: Literal["MFA required."]
    err_code: ErrorCode
    type: Literal["auth"]
    next_step: str = Field(examples=["/api/v2/users/login/"])


class MfaError(DeferredModel):
    """A 428: the login needs another factor, at ``next_step``."""

    detail: Annotated[list[MfaErrorItem], Field(min_length=1, max_length=1)]


class ValidationErrorItem(DeferredModel):
    """One pydantic error with ``err_code: 999`` appended last, and no ``url`` key."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(examples=["missing"])
    loc: list[str | int] = Field(examples=[["body", "username"]])
    msg: str = Field(examples=["Field required"])
    input: Any = Field(description="The offending input as sent (null for a missing body).")
    ctx: Annotated[
        dict[str, Any] | SkipJsonSchema[None],
        Field(
            default=None,
            description='Present only when pydantic sets it, e.g. {"ge": 2}.',
            json_schema_extra=_no_default,
        ),
    ]
    err_code: Literal[999]


class ValidationError(DeferredModel):
    """A 422: every error of the request, path errors first, then query, then body."""

    detail: Annotated[list[ValidationErrorItem], Field(min_length=1)]


class HttpDetail(DeferredModel):
    """The framework's own answers (unknown path 404, wrong method 405): ``detail`` is a string."""

    detail: str = Field(examples=["Not Found"])


# -- meta --------------------------------------------------------------------------------------
class HealthResponseData(DeferredModel):
    ok: bool
    hostname: str
    timestamp: float = Field(description="The scenario clock's Unix time.")
    detail: str


class HealthData(DeferredModel):
    code: int
    response_data: HealthResponseData


class HealthBody(DeferredModel):
    """``GET /health/``: the real hostname and the scenario clock's time."""

    data: HealthData


class VersionBody(DeferredModel):
    """``GET /version/``: the scenario's version settings."""

    data: VersionSection


# -- users -------------------------------------------------------------------------------------
class TokenData(DeferredModel):
    access_token: str = Field(description="A JWT; send it as `Authorization: JWT <token>`.")
    refresh_token: Literal[""]
    token_type: Literal["JWT"]


class TokenBody(DeferredModel):
    """A successful login, whichever step finished it."""

    data: TokenData


class SecuritySettings(DeferredModel):
    """The user's three MFA flags, then the scenario's shared security settings."""

    otp_enabled: bool
    adfs_enabled: bool
    hardware_token_enabled: bool
    domain_username_format_enabled: bool = False
    sc_permissions: list[str] = Field(default_factory=list)


class UserSettings(DeferredModel):
    """The scenario's ``[client_settings]``; only ``security``'s MFA flags come from the user."""

    # general, net and protocols are the scenario's own models (as VersionBody's data is
    # [version]'s), so what a scenario may write and what the answer sends are one definition.

    general: GeneralSettings = Field(default_factory=GeneralSettings)
    security: SecuritySettings
    net: NetSettings = Field(default_factory=NetSettings)
    protocols: list[ProtocolSettings] = Field(default_factory=lambda: [ProtocolSettings()])


class SettingsBody(DeferredModel):
    """``GET /users/settings/``."""

    data: UserSettings

    @classmethod
    def of(
        cls,
        client: ClientSettingsSection,
        *,
        otp_enabled: bool,
        adfs_enabled: bool,
        hardware_token_enabled: bool,
    ) -> SettingsBody:
        """The settings a user with these MFA flags gets in a world with ``client``."""
        security = SecuritySettings(
            otp_enabled=otp_enabled,
            adfs_enabled=adfs_enabled,
            hardware_token_enabled=hardware_token_enabled,
            domain_username_format_enabled=client.security.domain_username_format_enabled,
            sc_permissions=list(client.security.sc_permissions),
        )
        return cls(
            data=UserSettings(
                general=client.general,
                security=security,
                net=client.net,
                protocols=list(client.protocols),
            )
        )


# -- pools, machines, tasks --------------------------------------------------------------------
class PoolOut(DeferredModel):
    """A pool as every list shows it (CONTRACT §4)."""

    id: uuid.UUID
    name: str
    status: str = Field(examples=["ACTIVE"])
    is_favorite: bool
    pool_type: str = Field(examples=["AUTOMATED", "STATIC"])
    os_type: str = Field(examples=["Windows", "Linux"])
    connection_types: list[str] = Field(examples=[["RDP", "NATIVE_RDP"], ["GLINT"]])

    @classmethod
    def of(cls, pool: Pool) -> PoolOut:
        """The answer for ``pool`` (built without validation: the world is already valid)."""
        return cls.model_construct(
            id=pool.id,
            name=pool.name,
            status=pool.status,
            is_favorite=pool.is_favorite,
            pool_type=pool.pool_type,
            os_type=pool.os_type,
            connection_types=list(pool.connection_types),
        )


class PoolsPage(DeferredModel):
    """One page of the caller's pools; ``pages`` is 0 when there are none."""

    data: list[PoolOut]
    total: Annotated[int, Field(ge=0)]
    page: Annotated[int, Field(ge=1)]
    size: Annotated[int, Field(ge=1, le=100)]
    pages: Annotated[int, Field(ge=0)]


class PoolList(DeferredRootModel[list[PoolOut]]):
    """Pools, in scenario order."""


class MachineOut(DeferredModel):
    """A machine's connection data (step 2's answer, and the machines of all-users)."""

    id: uuid.UUID
    verbose_name: str
    permissions: list[str] = Field(examples=[["VM_POWER_CONTROL"]])
    host: str = Field(examples=["10.254.150.133"])
    port: int = Field(examples=[39897])
    status: str = Field(examples=["ACTIVE"])
    protocol_id: int = Field(examples=[1])

    @classmethod
    def of(cls, machine: Desktop) -> MachineOut:
        """The connection data of ``machine``."""
        return cls.model_construct(
            id=machine.id,
            verbose_name=machine.verbose_name,
            permissions=list(machine.permissions),
            host=machine.host,
            port=machine.port,
            status=machine.status,
            protocol_id=machine.protocol_id,
        )


class MachineBody(DeferredModel):
    data: MachineOut


class TaskOut(DeferredModel):
    """A task (CONTRACT §6); the times are UTC and end in ``Z``."""

    id: uuid.UUID
    status: TaskStatus
    kind: TaskKind
    created: Timestamp
    started: Timestamp | None
    finished: Timestamp | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        """The answer for ``task``; built without validation, the task is already valid."""
        return cls.model_construct(
            id=task.id,
            status=task.status,
            kind=task.kind,
            created=task.created,
            started=task.started,
            finished=task.finished,
        )


class TaskBody(DeferredModel):
    data: TaskOut


class TaskDone(DeferredModel):
    is_done: bool = Field(description="True for every terminal status.")


class TaskDoneBody(DeferredModel):
    data: TaskDone


# -- /service/ ---------------------------------------------------------------------------------
class ServiceUser(DeferredModel):
    """A user with their pools and machines; never the password."""

    id: uuid.UUID
    username: str
    disabled: bool
    roles: list[str]
    email: str
    full_name: str
    otp_enabled: bool
    adfs_enabled: bool
    hardware_token_enabled: bool
    assigned_pools: list[PoolOut]
    assigned_machines: list[MachineOut]


class ServiceUserList(DeferredRootModel[list[ServiceUser]]):
    """Every user, in scenario order."""


class ServiceTask(TaskOut):
    """A task with its owner's id added last."""

    user_id: uuid.UUID


class ServiceTaskList(DeferredRootModel[list[ServiceTask]]):
    """Every task, flat."""


class ClockView(DeferredModel):
    """The scenario clock."""

    now: str = Field(
        json_schema_extra={"format": "date-time", "examples": ["2026-11-25T07:45:16.710622Z"]}
    )
    mode: Literal["manual", "real"]
    time_scale: float


class TlsView(DeferredModel):
    """What ``--tls`` serves now (``enabled: false`` and nulls without ``--tls``)."""

    enabled: bool
    certificate: CertificateName | None = Field(
        description="The certificate new connections get; open connections keep theirs."
    )
    ca_file: str | None = Field(description="The CA file clients trust (ca.pem).")
    client_ca: str | None = Field(description="Mutual TLS: the CA client certificates need.")
    user_cert: str | None = Field(description="--tls-cert, served as `valid`.")


# -- WebSocket ---------------------------------------------------------------------------------
class TaskFrame(DeferredModel):
    """A server → client frame: status, id, kind and nothing else (CONTRACT §8)."""

    model_config = ConfigDict(extra="forbid")

    status: TaskStatus
    id: uuid.UUID
    kind: TaskKind


# -- control (/service/) --------------------------------------------------------------------
class WorldSummary(DeferredModel):
    users: int
    pools: int
    machines: int
    tasks: int
    seed: int


class ResetData(DeferredModel):
    world: WorldSummary
    clock: ClockView


class ResetBody(DeferredModel):
    """The world after a reset (or a new scenario): its size and the clock."""

    data: ResetData


class IssuedToken(DeferredModel):
    """A token minted for a test, skipping the login checks."""

    access_token: str


class JournalEntry(DeferredModel):
    """One journal entry: a request and its answer (``kind: http``, with the request's
    ``query``, ``headers`` and ``body``), a frame sent (``ws``), a socket opened or closed
    (``ws_open``; ``ws_close`` with ``code`` and ``by``: ``server`` or ``client``), a message
    a client sent (``ws_message``), or a fault. Passwords, OTP and hardware-token codes read
    ``[redacted]``; a JWT reads ``jwt:`` and 12 hex digits of its SHA-256."""

    model_config = ConfigDict(extra="allow")

    seq: Annotated[int, Field(ge=1)]
    time: str = Field(json_schema_extra={"format": "date-time"})
    kind: str = Field(examples=["http", "ws", "ws_open", "ws_message", "ws_close", "fault"])


class JournalPage(DeferredModel):
    """Entries after ``since``, oldest first; ``dropped`` counts those the bound let go."""

    entries: list[JournalEntry]
    dropped: Annotated[int, Field(ge=0)]


class Verified(DeferredModel):
    """The expectation holds: the journal entries that matched, oldest first."""

    matches: list[JournalEntry]


class Difference(DeferredModel):
    """A field the matcher wanted otherwise (``body.x`` for a key in the body, ``order``
    for an entry before ``after``'s, ``time`` for one before the window)."""

    field: str = Field(examples=["method", "path", "body.username", "headers.authorization"])
    expected: Any
    actual: Any


class NearMiss(DeferredModel):
    """An entry that did not count, and why."""

    entry: JournalEntry
    differences: list[Difference]


class NotVerified(DeferredModel):
    """The expectation fails: what was expected and found, the matches, and up to five near
    misses, closest first (listed when too few requests matched)."""

    message: str = Field(examples=["expected exactly 1 matching request, found 0"])
    matches: list[JournalEntry]
    near_misses: list[NearMiss]


class CoveredTransition(DeferredModel):
    """A transition of a machine's table; ``guard`` names the check that chooses it (a
    login's outcome), null when it has none."""

    trigger: str = Field(examples=["checked"])
    source: str = Field(examples=["logging_in"])
    dest: str = Field(examples=["otp_required"])
    guard: str | None = Field(examples=["otp_missing"])
    count: Annotated[int, Field(ge=0)]


class MachineCoverageView(DeferredModel):
    """One machine: every transition with how often it was taken, and how many were."""

    transitions: list[CoveredTransition]
    covered: Annotated[int, Field(ge=0)]
    total: Annotated[int, Field(ge=0)]


class CoveredError(DeferredModel):
    """An entry of the error catalogue (CONTRACT §3) and how often it was answered."""

    name: str = Field(examples=["otp_required"])
    status: int
    err_code: int
    count: Annotated[int, Field(ge=0)]


class CoveredRoute(DeferredModel):
    """A route of the contract with one status; ``documented``: the route table lists it."""

    method: str
    path: str
    status: int
    documented: bool
    count: Annotated[int, Field(ge=0)]


class CoveredFault(DeferredModel):
    """A fault action and how often it acted."""

    action: str = Field(examples=["status", "lose_frames"])
    count: Annotated[int, Field(ge=0)]


class CoverageBody(DeferredModel):
    """What the suite reached since the last reset; everything that could happen is listed,
    with a count of 0 for what did not."""

    machines: dict[Literal["login", "connection", "task"], MachineCoverageView]
    errors: list[CoveredError]
    routes: list[CoveredRoute]
    faults: list[CoveredFault]


class RuleVerdict(DeferredModel):
    """One client rule: its verdict, the journal entries (``seq``) that show it, and why."""

    id: str = Field(examples=["token_after_logout", "auth_header"])
    status: Literal["pass", "fail", "not_exercised"]
    evidence: list[int]
    detail: str


class ConformanceBody(DeferredModel):
    """Every client rule the scenario keeps on (``[conformance]``), in a fixed order."""

    rules: list[RuleVerdict]


# -- request models of routes that read their input themselves ---------------------------------
class ClientIdPath(DeferredModel):
    """The WebSocket's path: it must equal the token's ``client_id`` (the dashed user id)."""

    client_id: str = Field(examples=["7e1459c2-3e19-4c3d-98f5-8344d44ae6f4"])
