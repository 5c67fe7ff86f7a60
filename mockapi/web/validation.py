"""Request parsing with pydantic, answering the original's exact 422 body (CONTRACT §3).

Every error of a request is listed at once: path errors first, then query, then body.
Each item keeps pydantic's keys (type, loc, msg, input, ctx) without ``url`` and gains
``err_code: 999`` as its last key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from mockapi.domain.errors import ErrorCode, ValidationFailed

Location = Literal["path", "query", "body"]
#: A version-4 UUID (RFC 4122 variant) as a path parameter is written, dashed or as 32 hex
#: digits, any case: the document's ``pattern`` for it. The ``uuid4`` format is no JSON Schema
#: format, so without it a client (or a fuzzer) would take any string for a valid id.
UUID4_PATTERN = (
    "^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-4[0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}"
    "|[0-9A-Fa-f]{12}4[0-9A-Fa-f]{3}[89ABab][0-9A-Fa-f]{15})$"
)

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)


def _jsonable_ctx(ctx: Mapping[str, Any]) -> dict[str, Any]:
    # FastAPI's encoder turns an exception into {}; clients have seen {"error":{}} ever since.
    return {key: {} if isinstance(value, Exception) else value for key, value in ctx.items()}


def format_errors(
    errors: Sequence[Mapping[str, Any]], prefix: Sequence[str | int]
) -> list[dict[str, Any]]:
    """Turn pydantic errors into 422 items under ``prefix`` (``["body"]``, ``["query"]``...)."""
    items: list[dict[str, Any]] = []
    for error in errors:
        item: dict[str, Any] = {
            "type": error["type"],
            "loc": [*prefix, *error["loc"]],
            "msg": error["msg"],
            "input": error.get("input"),
        }
        if "ctx" in error:
            item["ctx"] = _jsonable_ctx(error["ctx"])
        item["err_code"] = int(ErrorCode.DEFAULT)
        items.append(item)
    return items


def validation_item(
    type_: str, loc: Sequence[str | int], msg: str, input_: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One hand-made 422 item in the same key order as pydantic's."""
    return format_errors(
        [
            {"type": type_, "loc": tuple(loc), "msg": msg, "input": input_}
            | ({"ctx": ctx} if ctx is not None else {})
        ],
        [],
    )[0]


def _validate(model: type[M], data: Any, where: Location, errors: list[dict[str, Any]]) -> M | None:
    try:
        return model.model_validate(data, from_attributes=True)
    except ValidationError as exc:
        errors.extend(format_errors(exc.errors(include_url=False), [where]))
        return None


class _Missing:
    pass


MISSING = _Missing()


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, ``MISSING`` when there is none.

    Raises :class:`ValidationFailed` with the ``json_invalid`` item for a body that does not
    parse, mirroring FastAPI: the body is parsed as JSON when the content type says JSON or
    is absent; any other content type yields the raw text, which then fails model validation.
    """
    raw = await request.read()
    if not raw:
        return MISSING
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media and not (media == "application/json" or media.endswith("+json")):
        return raw.decode("utf-8", errors="replace")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        msg, pos = stable_decode_error(exc)
        raise ValidationFailed(
            [
                validation_item(
                    "json_invalid", ["body", pos], "JSON decode error", {}, {"error": msg}
                )
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            [
                validation_item(
                    "json_invalid",
                    ["body", exc.start],
                    "JSON decode error",
                    {},
                    {"error": "Invalid UTF-8 byte"},
                )
            ]
        ) from None


_TRAILING_COMMA = {
    # Python 3.13 reports a trailing comma itself; earlier versions, like the original's
    # server, report what they expected after it. Clients see the same answer on every Python.
    "Illegal trailing comma before end of object": (
        "Expecting property name enclosed in double quotes"
    ),
    "Illegal trailing comma before end of array": "Expecting value",
}
_JSON_WHITESPACE = " \t\n\r"


def stable_decode_error(exc: json.JSONDecodeError) -> tuple[str, int]:
    """The decode error's message and offset as Python 3.11 and 3.12 word them."""
    msg = _TRAILING_COMMA.get(exc.msg)
    if msg is None:
        return exc.msg, exc.pos
    pos = exc.pos + 1
    while pos < len(exc.doc) and exc.doc[pos] in _JSON_WHITESPACE:
        pos += 1
    return msg, pos


def _query_dict(request: web.Request) -> dict[str, str]:
    # Starlette answers the last value of a repeated parameter.
    return {key: request.query.getall(key)[-1] for key in request.query}


async def parse(
    request: web.Request,
    *,
    path: type[P] | None = None,
    query: type[Q] | None = None,
    body: type[B] | None = None,
) -> tuple[P | None, Q | None, B | None]:
    """Validate path, query and body together; raise one 422 listing every error."""
    errors: list[dict[str, Any]] = []
    parsed_path = (
        _validate(path, dict(request.match_info), "path", errors) if path is not None else None
    )
    parsed_query = (
        _validate(query, _query_dict(request), "query", errors) if query is not None else None
    )
    parsed_body: B | None = None
    if body is not None:
        try:
            data = await read_json(request)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        else:
            # FastAPI treats a JSON ``null`` body as no body at all.
            if data is MISSING or data is None:
                errors.append(validation_item("missing", ["body"], "Field required", None))
            else:
                parsed_body = _validate(body, data, "body", errors)
    if errors:
        raise ValidationFailed(errors)
    return parsed_path, parsed_query, parsed_body


async def parse_path(request: web.Request, path: type[P]) -> P:
    """Validated path parameters."""
    parsed, _, _ = await parse(request, path=path)
    assert parsed is not None  # parse raises on every error
    return parsed


async def parse_query(request: web.Request, query: type[Q]) -> Q:
    """Validated query parameters.

    A request without a query string (nearly every poll of ``GET /pools/``) gets the model's
    defaults validated once per model, not once per request, when the model is frozen (so no
    handler can change what the next request gets) and has a default for every field.
    """
    if not request.query_string and query.model_config.get("frozen"):
        defaults = _DEFAULTS.get(query)
        if defaults is None:
            errors: list[dict[str, Any]] = []
            defaults = _validate(query, {}, "query", errors)
            if defaults is not None:
                _DEFAULTS[query] = defaults
        if defaults is not None:
            return cast(Q, defaults)
    _, parsed, _ = await parse(request, query=query)
    assert parsed is not None
    return parsed


#: Each frozen query model validated from no parameters (see :func:`parse_query`).
_DEFAULTS: dict[type[BaseModel], BaseModel] = {}


async def parse_body(request: web.Request, body: type[B]) -> B:
    """Validated JSON body."""
    _, _, parsed = await parse(request, body=body)
    assert parsed is not None
    return parsed


async def parse_path_body(request: web.Request, path: type[P], body: type[B]) -> tuple[P, B]:
    """Validated path parameters and JSON body, errors of both in one 422."""
    parsed_path, _, parsed_body = await parse(request, path=path, body=body)
    assert parsed_path is not None
    assert parsed_body is not None
    return parsed_path, parsed_body
