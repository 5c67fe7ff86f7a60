"""The tasks API (CONTRACT §6): one task, and whether it is done.

A task is visible to its owner and to users with the ``admin`` role; to anyone else it does
not exist (404), so task ids cannot be probed.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import UUID4, BaseModel, Field

from mockapi.domain.errors import NOT_FOUND, ApiError
from mockapi.keys import RUNTIME
from mockapi.statemachines.task import Task
from mockapi.web.auth import authenticate
from mockapi.web.bodies import TaskBody, TaskDone, TaskDoneBody, TaskOut
from mockapi.web.responses import model_response
from mockapi.web.validation import UUID4_PATTERN, parse_path


class TaskIdPath(BaseModel):
    task_id: UUID4 = Field(
        examples=["fabb9a84-ae96-4d07-b5a0-329ea70fa476"],
        json_schema_extra={"pattern": UUID4_PATTERN},
    )


async def _visible_task(request: web.Request) -> Task:
    user = authenticate(request).user
    path = await parse_path(request, TaskIdPath)
    task = request.app[RUNTIME].world.visible_task(user, path.task_id)
    if task is None:
        raise ApiError(NOT_FOUND)
    return task


async def get_task(request: web.Request) -> web.StreamResponse:
    """The task object."""
    return model_response(TaskBody(data=TaskOut.of(await _visible_task(request))))


async def is_done(request: web.Request) -> web.StreamResponse:
    """True for every terminal status (the original said false for CANCELLED forever)."""
    task = await _visible_task(request)
    return model_response(TaskDoneBody(data=TaskDone(is_done=task.is_done)))
