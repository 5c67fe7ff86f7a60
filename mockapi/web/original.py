"""The original's /service/ endpoints (CONTRACT §9): the whole world, and new pools.

Open by default (the server binds 127.0.0.1); a later issue adds an optional service token.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field

from mockapi.domain.errors import ValidationFailed
from mockapi.domain.limits import LimitExceeded
from mockapi.domain.world import User, task_to_dict
from mockapi.keys import RUNTIME
from mockapi.web.responses import json_response
from mockapi.web.validation import parse_body, read_json, validation_item


class CreatePoolsBody(BaseModel):
    """``create_machines_count`` is per pool; user ids in any UUID spelling."""

    count: Annotated[int, Field(ge=1, le=500)] = 1
    create_machines_count: Annotated[int, Field(ge=0, le=500)] = 0
    assigned_users: list[uuid.UUID] = Field(default_factory=list)


def _user_dict(user: User, pools: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "disabled": user.disabled,
        "roles": list(user.roles),
        "email": user.email,
        "full_name": user.full_name,
        "otp_enabled": user.otp,
        "adfs_enabled": user.adfs,
        "hardware_token_enabled": user.hardware_token,
        "assigned_pools": pools,
        "assigned_machines": [machine.to_dict() for machine in user.machines],
    }


async def all_pools(request: web.Request) -> web.StreamResponse:
    """Every pool, assigned or not, in scenario order."""
    world = request.app[RUNTIME].world
    return json_response([pool.to_dict() for pool in world.pools.values()])


async def all_users(request: web.Request) -> web.StreamResponse:
    """Every user with their pools and machines; never the password."""
    world = request.app[RUNTIME].world
    pools = {pool.id: pool.to_dict() for pool in world.pools.values()}
    return json_response(
        [
            _user_dict(user, [pools[pool.id] for pool in world.user_pools(user)])
            for user in world.users.values()
        ]
    )


async def all_tasks(request: web.Request) -> web.StreamResponse:
    """Every task, flat, each with its owner's id."""
    world = request.app[RUNTIME].world
    return json_response(
        [task_to_dict(task) | {"user_id": str(task.user_id)} for task in world.tasks.values()]
    )


async def create_pools(request: web.Request) -> web.StreamResponse:
    """New pools (201); an unknown user id, or a world that would go over its pools, machines
    or assignments limit, is a 422 naming it, and nothing is created."""
    body = await parse_body(request, CreatePoolsBody)
    runtime = request.app[RUNTIME]
    users: list[User] = []
    unknown: list[int] = []
    for index, user_id in enumerate(body.assigned_users):
        user = runtime.world.users.get(user_id)
        if user is None:
            unknown.append(index)
        else:
            users.append(user)
    if unknown:
        # Echo each id as the client spelled it; the body was read and cached by parse_body.
        sent = (await read_json(request))["assigned_users"]
        raise ValidationFailed(
            [
                validation_item(
                    "value_error",
                    ["body", "assigned_users", index],
                    f"Value error, unknown user {body.assigned_users[index]}",
                    sent[index],
                    {"error": {}},
                )
                for index in unknown
            ]
        )
    try:
        pools = runtime.create_pools(body.count, body.create_machines_count, users)
    except LimitExceeded as exc:
        raise ValidationFailed(exc.detail()) from None
    return json_response([pool.to_dict() for pool in pools], status=201)
