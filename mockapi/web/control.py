"""The control API under /service/: what a test uses to steer and inspect the world.

Time: a test (or a person) reads the clock, switches it between real and manual time, changes
its speed, or jumps it ahead. An advance answers only after the frames of every transition it
fired were handed to the open sockets, so a client that gets the answer can read its frames at
once. The world: reset, replace the scenario, force a task's transition, mint a token, read
the journal.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from mockapi.domain import conformance
from mockapi.domain.certificates import CertificateName
from mockapi.domain.clock import Clock, iso_z
from mockapi.domain.errors import NOT_FOUND, ApiError, Conflict, ValidationFailed
from mockapi.domain.faults import DuplicateFault, UnknownUser
from mockapi.domain.faultspec import FaultBody, FaultList, FaultSpec
from mockapi.domain.lazymodel import DeferredModel
from mockapi.domain.limits import LimitExceeded, WorldCounts, check_growth
from mockapi.domain.runtime import Runtime, TransitionRefused, UnknownTask
from mockapi.domain.scenario import Scenario, ScenarioError, parse_text
from mockapi.domain.verify import Verification, verify
from mockapi.domain.world import task_to_dict
from mockapi.keys import CLOCK, COVERAGE, FAULTS, HUB, JOURNAL, RUNTIME, TLS, TOKENS
from mockapi.statemachines.task import TaskStatus
from mockapi.web.bodies import TlsView
from mockapi.web.responses import json_response, model_response
from mockapi.web.validation import (
    parse_body,
    parse_path,
    parse_path_body,
    parse_query,
    validation_item,
)

#: One advance may cover at most a century: scenario time must stay inside what a datetime can
#: hold (year 9999), or every timestamp after it would fail.
MAX_ADVANCE_S = 3_155_760_000  # 100 years of 365.25 days
#: Faster than this, real-mode time would pass year 9999 within weeks of wall time.
MAX_TIME_SCALE = 10_000


class ClockUpdate(DeferredModel):
    """Any of the three changes; only the keys present are applied (see ``model_fields_set``).

    The defaults are never applied; they exist so each field keeps its plain type, and an
    explicit ``null`` is refused like any other bad value.
    """

    model_config = ConfigDict(extra="forbid")

    advance_s: Annotated[float, Field(ge=0, le=MAX_ADVANCE_S, allow_inf_nan=False)] = 0.0
    time_scale: Annotated[float, Field(gt=0, le=MAX_TIME_SCALE, allow_inf_nan=False)] = 1.0
    mode: Literal["manual", "real"] = "manual"


def clock_view(clock: Clock) -> dict[str, object]:
    """The clock as the control API shows it."""
    return {"now": iso_z(clock.now()), "mode": clock.mode, "time_scale": float(clock.time_scale)}


async def get_clock(request: web.Request) -> web.StreamResponse:
    """``GET /service/clock/``: ``{"now","mode","time_scale"}``."""
    return json_response(clock_view(request.app[CLOCK]))


async def set_clock(request: web.Request) -> web.StreamResponse:
    """``POST /service/clock/``: switch mode, then scale, then advance; answer the new view.

    Mode and scale come first so ``{"mode": "manual", "advance_s": 10}`` moves exactly ten
    seconds. An advance works in real mode too (time jumps ahead).
    """
    update = await parse_body(request, ClockUpdate)
    clock = request.app[CLOCK]
    given = update.model_fields_set
    if "mode" in given:
        clock.set_mode(update.mode)
    if "time_scale" in given:
        clock.set_time_scale(update.time_scale)
    if "advance_s" in given:
        clock.advance(update.advance_s)
        await request.app[HUB].flush()
    return json_response(clock_view(clock))


# -- the world: reset, scenario, forced transitions, tokens, journal -------------


def _world_summary(runtime: Runtime) -> dict[str, object]:
    world = runtime.world
    return {
        "users": len(world.users),
        "pools": len(world.pools),
        "machines": len(world.machines),
        "tasks": len(world.tasks),
        "seed": world.seed,
    }


async def _restart(app: web.Application, scenario: Scenario | None = None) -> dict[str, object]:
    """Back to the initial state of ``scenario`` (the active one when None); sockets stay.

    The new world is built while other requests are answered, and swapped in at once; a
    scenario over a limit of the world is a 422 naming it, and nothing changes.
    """
    runtime = app[RUNTIME]
    try:
        await runtime.replace(scenario)  # what a reset restores: mockapi.app's restore()
    except LimitExceeded as exc:
        raise ValidationFailed(exc.detail()) from None
    return {"world": _world_summary(runtime), "clock": clock_view(app[CLOCK])}


async def reset(request: web.Request) -> web.StreamResponse:
    """``POST /service/reset/``: tasks, machines, revoked tokens, journal, clock start over."""
    return json_response({"data": await _restart(request.app)})


async def get_scenario(request: web.Request) -> web.StreamResponse:
    """``GET /service/scenario/``: the active scenario as JSON (every default filled in)."""
    return json_response(request.app[RUNTIME].scenario.model_dump(mode="json"))


SCENARIO_TYPES = {"application/toml": "toml", "application/json": "json"}


async def put_scenario(request: web.Request) -> web.StreamResponse:
    """``PUT /service/scenario/``: validate, replace and reset; on any problem, nothing changes."""
    media = request.content_type.lower()
    fmt = SCENARIO_TYPES.get(media)
    if fmt is None:
        raise ValidationFailed(
            [
                validation_item(
                    "content_type",
                    ["header", "content-type"],
                    "Content type must be application/toml or application/json",
                    media or None,
                )
            ]
        )
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
        scenario = parse_text(text, "toml" if fmt == "toml" else "json", "request body")
    except UnicodeDecodeError:
        raise ValidationFailed(
            [validation_item("scenario", ["body"], "(file): the body is not UTF-8", None)]
        ) from None
    except ScenarioError as exc:
        raise ValidationFailed(
            [validation_item("scenario", ["body"], problem, None) for problem in exc.problems]
        ) from None
    return json_response({"data": await _restart(request.app, scenario)})


class ForcedTaskPath(DeferredModel):
    id: uuid.UUID


class TaskForce(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    status: TaskStatus


async def force_task(request: web.Request) -> web.StreamResponse:
    """``POST /service/tasks/{id}/``: force a task machine transition, pushed like any other.

    Only the machine's own transitions are allowed (PENDING→RUNNING|CANCELLED,
    RUNNING→COMPLETED|FAILED|CANCELLED); anything else is 409 and changes nothing.
    """
    path, body = await parse_path_body(request, ForcedTaskPath, TaskForce)
    runtime = request.app[RUNTIME]
    try:
        task = runtime.force(path.id, body.status)
    except UnknownTask:
        raise ApiError(NOT_FOUND) from None
    except TransitionRefused as exc:
        raise Conflict(str(exc)) from None
    await request.app[HUB].flush()
    return json_response({"data": task_to_dict(task)})


class TokenRequest(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    ttl_s: Annotated[float, Field(gt=0, le=MAX_ADVANCE_S, allow_inf_nan=False)] | None = None


async def issue_token(request: web.Request) -> web.StreamResponse:
    """``POST /service/tokens/``: a token for any scenario user, skipping the login checks."""
    body = await parse_body(request, TokenRequest)
    user = request.app[RUNTIME].world.users_by_name.get(body.username)
    if user is None:
        raise ValidationFailed(
            [
                validation_item(
                    "value_error",
                    ["body", "username"],
                    f"Value error, unknown user {body.username!r}",
                    body.username,
                    {"error": {}},
                )
            ]
        )
    token = request.app[TOKENS].issue(user.id, user.username, user.roles, body.ttl_s)
    return json_response({"access_token": token})


class JournalQuery(DeferredModel):
    since: Annotated[int, Field(ge=0)] = 0


async def get_journal(request: web.Request) -> web.StreamResponse:
    """``GET /service/journal/?since=SEQ``: entries after SEQ, oldest first, and how many of
    those the bound already dropped."""
    query = await parse_query(request, JournalQuery)
    entries, dropped = request.app[JOURNAL].since(query.since)
    return json_response({"entries": entries, "dropped": dropped})


async def verify_requests(request: web.Request) -> web.StreamResponse:
    """``POST /service/verify/``: 200 ``{"matches"}`` when the journal meets the expectation,
    else 409 with the matches, the near misses (what differed) and a message."""
    check = await parse_body(request, Verification)
    journal = request.app[JOURNAL]
    outcome = verify(check, journal.entries(), request.app[CLOCK].time(), journal.format_time)
    matches = [journal.formatted(entry) for entry in outcome.matches]
    if outcome.ok:
        return json_response({"matches": matches})
    near_misses = [
        {"entry": journal.formatted(entry), "differences": [d.view() for d in found]}
        for entry, found in outcome.near_misses
    ]
    return json_response(
        {"message": outcome.message, "matches": matches, "near_misses": near_misses}, status=409
    )


async def get_coverage(request: web.Request) -> web.StreamResponse:
    """``GET /service/coverage/``: what the suite reached since the last reset."""
    return json_response(request.app[COVERAGE].view())


async def get_conformance(request: web.Request) -> web.StreamResponse:
    """``GET /service/conformance/``: each client rule the scenario keeps on, ``pass``,
    ``fail`` or ``not_exercised``, with the journal entries that show it."""
    app = request.app
    results = conformance.check(
        app[JOURNAL].entries(),
        app[RUNTIME].scenario.conformance,
        app[CLOCK].time(),
        app[TOKENS].expiries(),
    )
    return json_response({"rules": [result.view() for result in results]})


async def clear_journal(request: web.Request) -> web.StreamResponse:
    """``DELETE /service/journal/``: forget every entry (sequence numbers keep growing)."""
    request.app[JOURNAL].clear()
    return web.Response(status=204)


# -- faults ----------------------------------------------------------------------


async def list_faults(request: web.Request) -> web.StreamResponse:
    """``GET /service/faults/``: every fault in matching order, with its remaining count
    (null: no count) and hits; spent faults stay listed with ``remaining: 0``."""
    faults = request.app[FAULTS].faults
    return model_response(FaultList(data=[fault.view() for fault in faults]))


async def add_fault(request: web.Request) -> web.StreamResponse:
    """``POST /service/faults/``: add a fault after the others (the scenario's ``[[faults]]``
    keys); 201 with it, its id generated when none is given. A reset removes it."""
    spec = await parse_body(request, FaultSpec)
    engine = request.app[FAULTS]
    try:
        check_growth(
            request.app[RUNTIME].limits,
            WorldCounts(faults=len(engine.faults)),
            WorldCounts(faults=1),
            {"faults": ("body",)},
        )
    except LimitExceeded as exc:
        raise ValidationFailed(exc.detail()) from None
    try:
        fault = engine.add(spec)
    except UnknownUser:
        raise ValidationFailed(
            [
                validation_item(
                    "value_error",
                    ["body", "user"],
                    f"Value error, unknown user {spec.user!r}",
                    spec.user,
                    {"error": {}},
                )
            ]
        ) from None
    except DuplicateFault:
        raise Conflict(f"A fault with id {spec.id!r} exists already.") from None
    return model_response(FaultBody(data=fault.view()), status=201)


class FaultPath(DeferredModel):
    id: str


async def delete_fault(request: web.Request) -> web.StreamResponse:
    """``DELETE /service/faults/{id}/``: remove one fault (a frame-loss burst it started
    stops; frames it holds still arrive when due); 404 if there is no such fault."""
    path = await parse_path(request, FaultPath)
    if not request.app[FAULTS].remove(path.id):
        raise ApiError(NOT_FOUND)
    return web.Response(status=204)


async def clear_faults(request: web.Request) -> web.StreamResponse:
    """``DELETE /service/faults/``: remove every fault, the scenario's included (until a
    reset restores them)."""
    request.app[FAULTS].clear()
    return web.Response(status=204)


# -- TLS: the certificate shown to new connections ----------------------------------------

TLS_OFF = "TLS is off: start mockapi with --tls to choose a certificate."


class TlsChoice(DeferredModel):
    """The certificate to show new connections from now on."""

    model_config = ConfigDict(extra="forbid")

    certificate: CertificateName


def _tls_view(app: web.Application) -> TlsView:
    tls = app.get(TLS)
    if tls is None:
        return TlsView(
            enabled=False, certificate=None, ca_file=None, client_ca=None, user_cert=None
        )
    return TlsView.model_validate(tls.view())


async def get_tls(request: web.Request) -> web.StreamResponse:
    """``GET /service/tls/``: the certificate new connections get, and the CA file."""
    return model_response(_tls_view(request.app))


async def set_tls(request: web.Request) -> web.StreamResponse:
    """``POST /service/tls/``: show ``certificate`` to new connections (journal: a change).

    Open connections keep the certificate they were shown; a reset brings back the
    scenario's ``[tls] certificate``.
    """
    choice = await parse_body(request, TlsChoice)
    tls = request.app.get(TLS)
    if tls is None:
        raise Conflict(TLS_OFF)
    tls.select(choice.certificate, "control")
    return model_response(_tls_view(request.app))
