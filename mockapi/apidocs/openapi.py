"""``/openapi.json``: the OpenAPI 3.1 document, generated from the route table.

Nothing here is a hand-kept copy of the API: paths, methods, names and auth come from
:data:`mockapi.routes.ROUTES`; parameters and request bodies from the pydantic models the
handlers validate with; response bodies from :mod:`mockapi.web.bodies`; error examples from the
catalogue (:mod:`mockapi.domain.errors`). One ``models_json_schema`` call turns every model into
``components.schemas``, request models in validation mode and answers in serialization mode.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from mockapi import __version__
from mockapi.domain.errors import ErrorSpec
from mockapi.domain.urls import is_service_path
from mockapi.web.bodies import AppError, MfaError
from mockapi.web.route import Answer, Auth, Route, documented_answers

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
#: Request body media types that carry the body model's fields (others are plain text).
MODEL_MEDIA = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
FORM_MEDIA = MODEL_MEDIA[1:]

JWT_SCHEME = "JWT"
SERVICE_TOKEN_SCHEME = "ServiceToken"
SECURITY_SCHEMES: dict[str, Any] = {
    JWT_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "The header value is `JWT <token>`: the word JWT, one space, the access_token of"
            " a login. In Authorize, paste the whole value, `JWT eyJhbGciOi...`. Bearer, a"
            " lower-case prefix, two spaces or a missing prefix are refused with 403/999."
        ),
    },
    SERVICE_TOKEN_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Service-Token",
        "description": (
            "Needed on /service/ only when the server runs with --service-token (by default"
            " /service/ is open and the server listens on 127.0.0.1 only)."
        ),
    },
}

TAGS: list[dict[str, str]] = [
    {"name": "meta", "description": "Open informational routes."},
    {"name": "users", "description": "Login, logout, client settings (CONTRACT §4)."},
    {"name": "mfa", "description": "The next_step targets of the MFA answers (428)."},
    {"name": "pools", "description": "Pools, the two-step connect and the WebSocket (§5, §7)."},
    {"name": "tasks", "description": "Task state (§6)."},
    {"name": "service", "description": "The original's admin endpoints (§9)."},
    {"name": "control", "description": "Steer and inspect the mock from a test."},
    {"name": "docs", "description": "This document, the AsyncAPI one and Swagger UI."},
    {"name": "dashboard", "description": "The live dashboard page and its feed."},
]

DESCRIPTION = """\
A stateful mock of the Space dispatcher API v2, generated from the server's own route table.

**Paths.** Every API route ends in `/`. A request without it is answered **307** with an
empty body and an absolute `location` to the slash form. An unknown path is **404**
`{"detail":"Not Found"}`; a method a path does not serve, including HEAD and OPTIONS, is
**405** `{"detail":"Method Not Allowed"}` with an `allow` header. Here `detail` is a string.

**Authentication.** Routes marked with the JWT lock take `Authorization: JWT <token>`: log in
at `POST /api/v2/users/login/`, then give Authorize the value `JWT <access_token>`. Every
authentication failure is 403 with err_code 999, checked before validation.

**Errors.** Application errors are `{"detail":[{"msg","err_code","type":"default"}]}` with the
header `www-authenticate: JWT`; the MFA answers (428) have `"type":"auth"` and `next_step`.
A 422 lists every error as pydantic reports it, plus `"err_code":999` last, without `url`.
Bodies are compact JSON, `content-type: application/json`, no charset.

**WebSocket.** `/api/v2/pools/ws/{client_id}/` is described by the AsyncAPI document at
[/asyncapi.json](/asyncapi.json).
"""


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    answers = {route.name: documented_answers(route) for route in routes}
    requested: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for route in routes:
        requested += [(model, "validation") for model in _request_models(route)]
        for answer in answers[route.name].values():
            requested += [(model, "serialization") for model in _answer_models(answer)]
    refs, top = models_json_schema(list(dict.fromkeys(requested)), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = top.get("$defs", {})
    builder = _Builder(refs, schemas)

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = builder.operation(route, answers[route.name])
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "mockapi: Space dispatcher API v2",
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _request_models(route: Route) -> Iterable[type[BaseModel]]:
    return [m for m in (route.path_params, route.query, route.body) if m is not None]


def _error_model(spec: ErrorSpec) -> type[BaseModel]:
    return MfaError if spec.next_step is not None else AppError


def _answer_models(answer: Answer) -> list[type[BaseModel]]:
    models = [*answer.models, *(_error_model(spec) for spec in answer.errors)]
    return list(dict.fromkeys(models))


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's or form field's schema: these are strings or absent, never null."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [option for option in options if option != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    if rest.get("default", ...) is None:
        del rest["default"]
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


class _Builder:
    """Turns table entries into operations, with the shared components."""

    def __init__(
        self,
        refs: Mapping[Any, dict[str, Any]],
        schemas: dict[str, Any],
    ) -> None:
        self.refs = refs
        self.schemas = schemas

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def model_schema(self, model: type[BaseModel]) -> dict[str, Any]:
        """The component schema of a request model (its properties, required, ...)."""
        name = self.ref(model, "validation")["$ref"].rsplit("/", 1)[-1]
        schema: dict[str, Any] = self.schemas[name]
        return schema

    def operation(self, route: Route, answers: dict[int, Answer]) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "tags": [route.tag],
            "summary": route.summary,
            "description": route.doc,
            "operationId": route.name,
        }
        parameters = [
            *self.parameters(route.path_params, "path"),
            *self.parameters(route.query, "query"),
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = self.request_body(route.body, route.body_media)
        operation["responses"] = {
            str(status): self.response(answer) for status, answer in answers.items()
        }
        if route.auth is Auth.JWT:
            operation["security"] = [{JWT_SCHEME: []}]
        elif is_service_path(route.path):
            # Open by default; with --service-token, the header is needed.
            operation["security"] = [{}, {SERVICE_TOKEN_SCHEME: []}]
        return operation

    def parameters(self, model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
        if model is None:
            return []
        schema = self.model_schema(model)
        required = set(schema.get("required", ()))
        parameters = []
        for name, prop in schema.get("properties", {}).items():
            prop = _without_null({k: v for k, v in prop.items() if k != "title"})
            parameter: dict[str, Any] = {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
            }
            if "description" in prop:
                parameter["description"] = prop.pop("description")
            parameter["schema"] = prop
            parameters.append(parameter)
        return parameters

    def request_body(self, model: type[BaseModel], media_types: Sequence[str]) -> dict[str, Any]:
        content: dict[str, Any] = {}
        for media in media_types:
            if media in FORM_MEDIA:
                content[media] = {"schema": self.form_schema(model)}
            elif media in MODEL_MEDIA:
                content[media] = {"schema": self.ref(model, "validation")}
            else:
                content[media] = {"schema": {"type": "string", "description": f"Text in {media}."}}
        return {"required": True, "content": content}

    def form_schema(self, model: type[BaseModel]) -> dict[str, Any]:
        """A form's fields: strings, no nulls (a form has no null, only absent fields)."""
        schema = copy.deepcopy(self.model_schema(model))
        schema["properties"] = {
            name: _without_null(prop) for name, prop in schema.get("properties", {}).items()
        }
        return schema

    def response(self, answer: Answer) -> dict[str, Any]:
        response: dict[str, Any] = {"description": answer.description}
        headers = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
        if answer.errors:
            headers.setdefault(
                "www-authenticate",
                {
                    "description": "Always `JWT` on an application error.",
                    # Required when every body of this status is an application error.
                    "required": not answer.models,
                    "schema": {"type": "string", "const": "JWT"},
                },
            )
        if headers:
            response["headers"] = headers
        if answer.rule:
            response["x-business-rule"] = answer.rule
        content: dict[str, Any] = {}
        alternatives = [self.ref(model, "serialization") for model in _answer_models(answer)]
        if alternatives:
            media: dict[str, Any] = {
                "schema": alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
            }
            examples = {
                f"err_code_{int(spec.err_code)}": {"summary": spec.msg, "value": spec.body()}
                for spec in answer.errors
            }
            examples.update({name: {"value": value} for name, value in answer.examples.items()})
            if examples:
                media["examples"] = examples
            content["application/json"] = media
        for media_type, schema in answer.media.items():
            content[media_type] = {"schema": dict(schema)} if schema else {}
        if content:
            response["content"] = content
        return response
