"""Scenario files: the declarative world a mockapi server plays (see scenarios/README.md).

A scenario is data only. This module validates it completely, reporting every problem at
once with its path (``users[3].pools[1]: unknown pool "pool-x"``), so nothing starts on an
invalid file.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import tomllib
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mockapi.domain.certificates import VALID, CertificateName
from mockapi.domain.conformance import ConformanceSection
from mockapi.domain.faultspec import FaultSpec
from mockapi.domain.limits import LimitSettings

TaskKind = Literal["POOL_EXPAND", "GLINT_START"]
TaskStatusName = Literal["PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED"]
TerminalStatus = Literal["COMPLETED", "CANCELLED", "FAILED"]
DEFAULT_SEED = 20250911


class ScenarioError(Exception):
    """A scenario that cannot be played; ``problems`` lists every reason with its path."""

    def __init__(self, problems: Sequence[str], source: str = "scenario") -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))
        self.problems = list(problems)
        self.source = source


class _Strict(BaseModel):
    # defer_build: a section is built inside the first Scenario validated
    # (mockapi.domain.lazymodel), so the sections need no validators of their own at import.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Seconds = Annotated[float, Field(ge=0)]


class _RunSettings(_Strict):
    seed: int = DEFAULT_SEED
    check_passwords: bool = False
    token_ttl_s: Annotated[float, Field(gt=0)] = 86400.0
    start: datetime | None = None
    time_scale: Annotated[float, Field(gt=0)] = 1.0
    clock: Literal["real", "manual"] = "real"

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class SettingsSection(LimitSettings, _RunSettings):
    """``[settings]``: the seed, the clock, tokens, then the world's limits
    (:class:`~mockapi.domain.limits.LimitSettings`; in this order of bases, the limit keys come
    after the others wherever the section is listed)."""


class VersionSection(_Strict):
    version: str = "7.0.1"
    build: str = "996"
    year: str = "2025-2026"
    url: str = "https://spacevm.ru"
    copyright: str = "spacevm.ru"
    client: str = "4.0.0"
    gateway: str = "2.0.0"


class _Verbatim(_Strict):
    # The client settings are answered as written: strict types, so "30" or true for an
    # integer is refused rather than answered as something the file did not say.
    model_config = ConfigDict(strict=True)


class GeneralSettings(_Verbatim):
    """The client's general settings, as the original answers them."""

    admin_mode_enabled: bool = False
    file_logging_enabled: bool = False
    default_remote_protocol: int = 1
    last_pool_autoconnect_enabled: bool = False
    automatically_install_updates_enabled: bool = True
    documentation_url: str = "https://spacevm.ru/client-docs/latest/"


#: The security flags each user's own MFA kind sets (``otp``, ``adfs``, ``hardware_token``).
PER_USER_SECURITY = {
    "otp_enabled": "otp",
    "adfs_enabled": "adfs",
    "hardware_token_enabled": "hardware_token",
}


class ClientSecurity(_Verbatim):
    """The security settings every user shares; the MFA flags come from each user."""

    domain_username_format_enabled: bool = False
    sc_permissions: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_per_user_flags(cls, data: Any) -> Any:
        # Said plainly rather than as an unknown key: the flag exists, it is set elsewhere.
        if isinstance(data, dict):
            for key, flag in PER_USER_SECURITY.items():
                if key in data:
                    raise ValueError(
                        f"{key} is each user's own: set `{flag} = true` on the user instead"
                    )
        return data


class WsChannel(_Verbatim):
    """A WebSocket channel the client subscribes to."""

    channel: str = "api/v2/pools/ws/"
    event: str = "pool_update"


class NetSettings(_Verbatim):
    """The client's network settings."""

    network_timeout: int = 15
    ws_channels: list[WsChannel] = Field(default_factory=lambda: [WsChannel()])


class HardwareAcceleration(_Verbatim):
    """A protocol's hardware acceleration options."""

    hardware_acceleration_enabled: bool = False
    video_compression_codec: str = "AVC420"
    h264_bitrate_mbs: int = 3


class ProtocolSettings(_Verbatim):
    """One remote protocol the client may use; the defaults are the original's GLINT."""

    id: int = 1
    name: str = "GLINT"
    version: str = "1.0.0"
    image_format: str = "BGRX32"
    fps: int = 30
    keep_session_enabled: bool = False
    full_screen_enabled: bool = True
    multi_screen_enabled: bool = False
    scale_image_enabled: bool = True
    full_image_redraw_enabled: bool = False
    hardware_acceleration_options: HardwareAcceleration = Field(
        default_factory=HardwareAcceleration
    )
    audio_playback_mode: str = "CLIENT"


class ClientSettingsSection(_Verbatim):
    """``[client_settings]``: the body of ``GET /api/v2/users/settings/`` but for the three
    MFA flags, which follow each user. The defaults are the original's constant body."""

    general: GeneralSettings = Field(default_factory=GeneralSettings)
    security: ClientSecurity = Field(default_factory=ClientSecurity)
    net: NetSettings = Field(default_factory=NetSettings)
    protocols: list[ProtocolSettings] = Field(default_factory=lambda: [ProtocolSettings()])


def _weights(**weights: float) -> dict[TerminalStatus, float]:
    return {cast(TerminalStatus, name): weight for name, weight in weights.items()}


class Timing(_Strict):
    pending_s: Seconds = 3.0
    running_s: Seconds | tuple[Seconds, Seconds] = (5.0, 60.0)
    outcomes: dict[TerminalStatus, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: _weights(COMPLETED=1.0, CANCELLED=1.0)
    )

    @model_validator(mode="after")
    def _check(self) -> Timing:
        if isinstance(self.running_s, tuple) and self.running_s[0] > self.running_s[1]:
            raise ValueError("running_s: the minimum is greater than the maximum")
        if not any(weight > 0 for weight in self.outcomes.values()):
            raise ValueError("outcomes: at least one weight must be greater than 0")
        return self


def _default_timing() -> dict[TaskKind, Timing]:
    return {
        "POOL_EXPAND": Timing(outcomes={"COMPLETED": 1.0, "CANCELLED": 1.0}),
        "GLINT_START": Timing(outcomes={"COMPLETED": 1.0, "CANCELLED": 1.0, "FAILED": 1.0}),
    }


#: RFC 4226 R6: an HOTP/TOTP shared secret has at least 128 bits (26 base32 characters).
MIN_OTP_SECRET_BITS = 128


def otp_secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be a TOTP secret, or None: caught on load, never at a login."""
    if not secret or any(ch.isspace() or ch == "-" for ch in secret):
        return "must be base32 (A-Z, 2-7) without spaces or dashes"
    padded = secret + "=" * (-len(secret) % 8)
    try:
        decoded = base64.b32decode(padded, casefold=True)
    except (binascii.Error, ValueError):
        return "is not valid base32 (A-Z, 2-7, optional = padding)"
    if len(decoded) * 8 < MIN_OTP_SECRET_BITS:
        return (
            f"is {len(decoded) * 8} bits; a TOTP secret needs at least {MIN_OTP_SECRET_BITS}"
            " (26 base32 characters; pyotp.random_base32() makes 32)"
        )
    return None


class UserFields(_Strict):
    password: str = "password"
    full_name: str = ""
    email: str = ""
    roles: list[str] = Field(default_factory=lambda: ["user"])
    disabled: bool = False
    otp: bool = False
    adfs: bool = False
    hardware_token: bool = False
    #: Base32 TOTP secret: the OTP check also accepts its RFC 6238 code (needs ``otp``).
    otp_secret: str | None = None
    #: The code the hardware token shows (needs ``hardware_token``); None accepts any 6 digits.
    hardware_token_code: str | None = None
    pools: list[str] = Field(default_factory=list)

    @field_validator("otp_secret")
    @classmethod
    def _base32(cls, value: str | None) -> str | None:
        if value is not None and (problem := otp_secret_problem(value)) is not None:
            raise ValueError(f"otp_secret {problem}")
        return value

    @field_validator("hardware_token_code")
    @classmethod
    def _token_code(cls, value: str | None) -> str | None:
        # The code is compared exactly, so a stray space would make it unmatchable.
        if value is not None and (not value or any(ch.isspace() for ch in value)):
            raise ValueError("hardware_token_code must be non-empty, without spaces")
        return value

    @model_validator(mode="after")
    def _mfa_values_need_their_flag(self) -> UserFields:
        # A secret on a user whose login never asks for it is a scenario mistake, not a no-op.
        if self.otp_secret is not None and not self.otp:
            raise ValueError("otp_secret is set but otp is false: the code would never be asked")
        if self.hardware_token_code is not None and not self.hardware_token:
            raise ValueError(
                "hardware_token_code is set but hardware_token is false: it would never be asked"
            )
        return self


class UserSpec(UserFields):
    id: uuid.UUID
    username: Annotated[str, Field(min_length=1)]


class UserGroupSpec(UserFields):
    prefix: Annotated[str, Field(min_length=1)]
    #: No bound of its own: the world's ``max_users`` counts every group's users together
    #: (mockapi.domain.limits), before any is made.
    count: Annotated[int, Field(ge=1)]


class PoolSpec(_Strict):
    id: uuid.UUID
    name: Annotated[str, Field(min_length=1)]
    status: str = "ACTIVE"
    is_favorite: bool = False
    pool_type: Literal["AUTOMATED", "STATIC", "GUEST", "RDS"] = "AUTOMATED"
    os_type: str = "Windows"
    connection_types: list[str] = Field(default_factory=lambda: ["RDP", "NATIVE_RDP"])
    free_machines: Annotated[int, Field(ge=0)] = 0
    max_new_machines: Annotated[int, Field(ge=-1)] = -1


class MachineSpec(_Strict):
    id: uuid.UUID
    verbose_name: str
    pool: str
    user: str | None = None
    host: str = "10.254.150.133"
    port: Annotated[int, Field(ge=1, le=65535)] = 39897
    permissions: list[str] = Field(default_factory=lambda: ["VM_POWER_CONTROL"])
    status: str = "ACTIVE"
    protocol_id: int = 1


class TaskSpec(_Strict):
    id: uuid.UUID
    user: str
    pool: str | None = None
    kind: TaskKind = "POOL_EXPAND"
    status: TaskStatusName = "PENDING"
    created: datetime = datetime(2022, 1, 1, tzinfo=UTC)
    started: datetime | None = None
    finished: datetime | None = None


class RuleSpec(_Strict):
    user: str | None = None
    pool: str | None = None
    kind: TaskKind | None = None
    outcome: TerminalStatus | None = None
    pending_s: Seconds | None = None
    running_s: Seconds | tuple[Seconds, Seconds] | None = None
    expandable: bool | None = None


class TlsSection(_Strict):
    """What ``--tls`` serves while this scenario plays; ignored without ``--tls``."""

    certificate: CertificateName = VALID


class Scenario(_Strict):
    """A whole world: settings, the version and client settings bodies, timings, users, pools,
    machines, tasks, rules and faults."""

    settings: SettingsSection = SettingsSection()
    version: VersionSection = VersionSection()
    client_settings: ClientSettingsSection = ClientSettingsSection()
    timing: dict[TaskKind, Timing] = Field(default_factory=_default_timing)
    users: list[UserSpec] = Field(default_factory=list)
    user_groups: list[UserGroupSpec] = Field(default_factory=list)
    pools: list[PoolSpec] = Field(default_factory=list)
    machines: list[MachineSpec] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    tls: TlsSection = TlsSection()
    conformance: ConformanceSection = ConformanceSection()

    @field_validator("timing")
    @classmethod
    def _fill_timing(cls, value: dict[TaskKind, Timing]) -> dict[TaskKind, Timing]:
        return {**_default_timing(), **value}


def _path(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        msg = error["msg"]
        if error["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{_path(loc)}: {msg}")
    return problems


def _is_union_tag(part: str | int) -> bool:
    # pydantic names the union member it tried ("float", "tuple[...]"); users never wrote it.
    return isinstance(part, str) and (part in {"float", "int"} or part.startswith("tuple["))


def _section(data: Any, name: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(name) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _ref_text(value: Any) -> str | None:
    """A reference as text; other types are left to the schema check, which reports them."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return value if isinstance(value, str) else None


def _reference_problems(data: Any) -> list[str]:
    """Check every user and pool reference, and uniqueness, on the raw data.

    Working on the raw data (not the validated model) lets these problems be reported in
    the same run as schema problems: a file with an unknown key and a bad reference shows both.
    """
    problems: list[str] = []
    users, pools = _section(data, "users"), _section(data, "pools")

    def keys(items: list[tuple[int, dict[str, Any]]], name_key: str) -> set[str]:
        found = {_ref_text(item.get(name_key)) for _, item in items}
        found |= {normalise_ref(t) for _, item in items if (t := _ref_text(item.get("id")))}
        return {key for key in found if key is not None}

    user_keys, pool_keys = keys(users, "username"), keys(pools, "name")
    for section, key in (
        ("users", "username"),
        ("users", "id"),
        ("pools", "name"),
        ("pools", "id"),
        ("machines", "id"),
        ("tasks", "id"),
        ("faults", "id"),
    ):
        values = [
            (index, normalise_ref(text) if key == "id" else text)
            for index, item in _section(data, section)
            if (text := _ref_text(item.get(key))) is not None
        ]
        problems += _duplicates(section, values, key)
    problems += _generated_name_clashes(data, users)

    def check(path: str, value: Any, known: set[str], what: str) -> None:
        ref = _ref_text(value)
        if ref is not None and normalise_ref(ref) not in known:
            problems.append(f'{path}: unknown {what} "{ref}"')

    for section in ("users", "user_groups"):
        for i, item in _section(data, section):
            refs = item.get("pools")
            for j, ref in enumerate(refs if isinstance(refs, list) else []):
                check(f"{section}[{i}].pools[{j}]", ref, pool_keys, "pool")
    for i, item in _section(data, "machines"):
        check(f"machines[{i}].pool", item.get("pool"), pool_keys, "pool")
        check(f"machines[{i}].user", item.get("user"), user_keys, "user")
    for section in ("tasks", "rules"):
        for i, item in _section(data, section):
            check(f"{section}[{i}].user", item.get("user"), user_keys, "user")
            check(f"{section}[{i}].pool", item.get("pool"), pool_keys, "pool")
    for i, item in _section(data, "faults"):
        check(f"faults[{i}].user", item.get("user"), user_keys, "user")
    return problems


def _generated_name_clashes(data: Any, users: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """A ``user_groups`` name (prefix + 5 digits) that a ``[[users]]`` entry already has."""
    problems = []
    for g, group in _section(data, "user_groups"):
        prefix, count = group.get("prefix"), group.get("count")
        if not isinstance(prefix, str) or not isinstance(count, int):
            continue
        for i, user in users:
            name = _ref_text(user.get("username"))
            suffix = name[len(prefix) :] if name and name.startswith(prefix) else ""
            if len(suffix) == 5 and suffix.isdigit() and 1 <= int(suffix) <= count:
                problems.append(f'user_groups[{g}]: generates "{name}", which users[{i}] has')
    return problems


def normalise_ref(ref: str) -> str:
    """A name as written, or a UUID in its dashed lower-case form (any spelling accepted)."""
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        return ref


def _duplicates(section: str, values: list[tuple[int, str]], key: str) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, value in values:
        if value in seen:
            problems.append(
                f'{section}[{index}].{key}: duplicate "{value}" (first at {section}[{seen[value]}])'
            )
        else:
            seen[value] = index
    return problems


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """Validate decoded scenario data; raise :class:`ScenarioError` listing every problem."""
    problems: list[str] = []
    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc)
    problems += _reference_problems(data)
    if problems or scenario is None:
        raise ScenarioError(problems, source)
    return scenario


#: Why an empty text is refused: it would be a valid world of nothing. curl's
#: ``--data-binary @FILE`` sends an empty body when FILE is not there, and every login would
#: then fail with no word said.
EMPTY = (
    "(empty): the scenario is empty: it would replace the world with no users and no pools "
    "(did --data-binary @FILE or --scenario name a missing or empty file?)"
)


def parse_text(text: str, fmt: Literal["toml", "json"], source: str = "scenario") -> Scenario:
    """Parse scenario text in TOML or JSON; an empty one (blank, or comments only) is refused."""
    if not text.strip():
        raise ScenarioError([EMPTY], source)
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError([f"(syntax): {exc}"], source) from None
    if data == {}:
        raise ScenarioError([EMPTY], source)
    return parse_scenario(data, source)


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file (``.toml`` or ``.json``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"(file): cannot read: {exc}"], str(path)) from None
    fmt: Literal["toml", "json"] = "json" if path.suffix.lower() == ".json" else "toml"
    return parse_text(text, fmt, str(path))


class _ByIdentity:
    """A scenario as a cache key: the same object, not an equal one (models are unhashable)."""

    __slots__ = ("scenario",)

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def __hash__(self) -> int:
        return id(self.scenario)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByIdentity) and other.scenario is self.scenario


@functools.lru_cache(maxsize=8)
def _users_by_id(key: _ByIdentity) -> dict[uuid.UUID, UserSpec]:
    # Built once per scenario: a login asks per request, and a scenario may list many users.
    return {spec.id: spec for spec in key.scenario.users}


def user_fields(scenario: Scenario, username: str, user_id: uuid.UUID) -> UserFields | None:
    """The entry a world user was built from: its ``[[users]]`` entry or its ``[[user_groups]]``.

    Matched on id and name together, so when a generated name shadows a listed one the
    group wins, as it does in the world (groups are built after users). Generated names are
    ``prefix`` + the index as at least five digits, counted from 1.
    """
    spec = _users_by_id(_ByIdentity(scenario)).get(user_id)
    if spec is not None and spec.username == username:
        return spec
    for group in reversed(scenario.user_groups):
        digits = username[len(group.prefix) :]
        if (
            username.startswith(group.prefix)
            and digits.isascii()
            and digits.isdigit()
            and 1 <= int(digits) <= group.count
            and digits == f"{int(digits):05d}"
        ):
            return group
    return None


def default_scenario_path() -> Path:
    """The shipped ``default.toml`` (the original mock's world)."""
    return Path(str(resources.files("mockapi.scenarios").joinpath("default.toml")))


def shipped_scenarios() -> list[Path]:
    """Every scenario file shipped in the ``scenarios`` package."""
    folder = resources.files("mockapi.scenarios")
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml"))
