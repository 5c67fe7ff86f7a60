"""The pools API (CONTRACT §5, §7): the user's pools and the two-step connect.

Handlers only translate: authenticate, validate, find the assigned pool, then ask the runtime,
whose connection machine decides the answer. The order of the checks is the contract's:
authentication, validation, assignment, then the flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum
from typing import Annotated, Any

from aiohttp import web
from pydantic import UUID4, BaseModel, ConfigDict, Field, field_validator

from mockapi.domain.errors import (
    INSUFFICIENT_PERMISSIONS,
    NO_ELIGIBLE_MACHINE,
    POOL_CANNOT_EXPAND,
    ApiError,
    ErrorCode,
    ErrorSpec,
)
from mockapi.domain.runtime import Runtime, TaskLimitReached
from mockapi.domain.world import Desktop, Pool, User, task_to_dict
from mockapi.keys import RUNTIME
from mockapi.statemachines.connection import Step1, Step2
from mockapi.statemachines.task import Task
from mockapi.web.auth import authenticate
from mockapi.web.responses import fast_json_response
from mockapi.web.validation import UUID4_PATTERN, parse_path, parse_path_body, parse_query


class PoolsQuery(BaseModel):
    """``GET /pools/`` parameters; ``is_favorite=false`` means no filter, not "not favourite".

    Declared in the original's order: the 422 items come page, size, is_favorite, whatever
    the order of the query string (CONTRACT §5).
    """

    #: Frozen: a request without parameters shares one validated instance (parse_query).
    model_config = ConfigDict(frozen=True)

    page: Annotated[int, Field(ge=1)] = 1
    size: Annotated[int, Field(ge=1, le=100)] = 50
    is_favorite: bool = False


class PoolPath(BaseModel):
    id: UUID4 = Field(
        examples=["bc4f9e45-6b5a-41e6-bb85-ae91f4b8c413"],
        json_schema_extra={"pattern": UUID4_PATTERN},
    )


class ConnectionTypesMap(IntEnum):
    """The original's protocol enum; only GLINTV1 can be started (the names are its own)."""

    GLINTV1 = 1
    GLINTV2 = 2
    RDP = 3


class ConnectBody(BaseModel):
    """Step 2 body: every key required, ``password`` may be null."""

    remote_protocol: ConnectionTypesMap
    width: Annotated[int, Field(ge=2)]
    height: Annotated[int, Field(ge=2)]
    password: str | None

    @field_validator("remote_protocol")
    @classmethod
    def _only_glint_v1(cls, value: ConnectionTypesMap) -> ConnectionTypesMap:
        # A known protocol the mock cannot start is a value_error, an unknown one an enum error.
        if value is not ConnectionTypesMap.GLINTV1:
            raise ValueError("remote_protocol must be ConnectionTypesMap.GLINTV1")
        return value


async def list_pools(request: web.Request) -> web.StreamResponse:
    """The caller's pools, one page, in scenario order."""
    user = authenticate(request).user
    query = await parse_query(request, PoolsQuery)
    pools: Sequence[Pool] = request.app[RUNTIME].world.user_pools(user)
    if query.is_favorite:
        pools = [pool for pool in pools if pool.is_favorite]
    return fast_json_response(pools_page(pools, query.page, query.size))


# The answers of the two hottest routes are built as dicts, in the models' key order: building
# the response models (PoolsPage, TaskBody, MachineBody) and dumping them cost more than the
# rest of the handler. The models stay the documented schema, and tests hold every dict equal
# to its model's dump. The bodies hold no float, so fast_dumps writes them.
def pools_page(pools: Sequence[Pool], page: int, size: int) -> dict[str, Any]:
    """Page ``page`` of ``pools`` as :class:`~mockapi.web.bodies.PoolsPage` dumps it."""
    start = (page - 1) * size
    return {
        "data": [pool.to_dict() for pool in pools[start : start + size]],
        "total": len(pools),
        "page": page,
        "size": size,
        "pages": math.ceil(len(pools) / size),
    }


def task_body(task: Task) -> dict[str, Any]:
    """``task`` as :class:`~mockapi.web.bodies.TaskBody` dumps it."""
    return {"data": task_to_dict(task)}


def machine_body(machine: Desktop) -> dict[str, Any]:
    """The connection data of ``machine`` as :class:`~mockapi.web.bodies.MachineBody` dumps it."""
    return {"data": machine.to_dict()}


def _assigned_pool(runtime: Runtime, user: User, path: PoolPath) -> Pool:
    # A nonexistent pool answers like someone else's, so ids cannot be probed.
    pool = runtime.world.assigned_pool(user, path.id)
    if pool is None:
        raise ApiError(INSUFFICIENT_PERMISSIONS)
    return pool


async def get_machine(request: web.Request) -> web.StreamResponse:
    """Step 1: reserve a machine with a POOL_EXPAND task (get_machine_step_1.png)."""
    user = authenticate(request).user
    path = await parse_path(request, PoolPath)
    runtime = request.app[RUNTIME]
    pool = _assigned_pool(runtime, user, path)
    # No await from here on: check and creation are one step, so concurrent requests share a task.
    answer, task = runtime.request_machine(user, pool)
    if answer is Step1.CANNOT_EXPAND or task is None:
        raise ApiError(POOL_CANNOT_EXPAND)
    status = 200 if answer is Step1.COMPLETED_TASK else 202
    return fast_json_response(task_body(task), status=status)


async def connect_machine(request: web.Request) -> web.StreamResponse:
    """Step 2: start the remote-access server, then answer its address (get_machine_step_2.png)."""
    user = authenticate(request).user
    path, _body = await parse_path_body(request, PoolPath, ConnectBody)
    runtime = request.app[RUNTIME]
    pool = _assigned_pool(runtime, user, path)
    try:
        answer, result = runtime.request_connection(user, pool)
    except TaskLimitReached as exc:
        raise ApiError(ErrorSpec(503, str(exc), ErrorCode.DEFAULT)) from None
    if answer is Step2.CONNECTION_DATA and isinstance(result, Desktop):
        return fast_json_response(machine_body(result))
    if isinstance(result, Task):
        return fast_json_response(task_body(result), status=202)
    raise ApiError(NO_ELIGIBLE_MACHINE)
