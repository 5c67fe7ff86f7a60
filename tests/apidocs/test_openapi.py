"""``/openapi.json``: valid OpenAPI 3.1, one with the router, and the real error bodies."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from mockapi.apidocs.openapi import build_openapi
from mockapi.domain import errors
from mockapi.domain.errors import ErrorSpec
from mockapi.domain.scenario import default_scenario_path, load_scenario
from mockapi.domain.world import World, task_to_dict
from mockapi.jsonfmt import dumps
from mockapi.routes import ROUTES
from mockapi.statemachines.task import Task, TaskKind, TaskStatus
from mockapi.web.api import websocket as ws
from mockapi.web.bodies import MachineOut, PoolOut, TaskOut
from mockapi.web.route import Auth, Route
from tests.helpers import Client, auth, login

DOC = build_openapi(ROUTES)
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
#: CONTRACT §2: the routes marked JWT, and no other.
CONTRACT_JWT_ROUTES = {
    ("POST", "/api/v2/users/logout/"),
    ("GET", "/api/v2/users/settings/"),
    ("GET", "/api/v2/pools/"),
    ("GET", "/api/v2/pools/{id}/connect/"),
    ("POST", "/api/v2/pools/{id}/connect/"),
    ("GET", "/api/v2/tasks/{task_id}/"),
    ("GET", "/api/v2/tasks/{task_id}/is-done/"),
}
#: The catalogue, and the WebSocket's own answer to a broken handshake.
CATALOGUE = [
    value
    for module in (errors, ws)
    for value in vars(module).values()
    if isinstance(value, ErrorSpec)
]


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def validator(schema: dict[str, Any]) -> Any:
    """An OAS 3.1 validator for ``schema`` whose ``#/components/...`` refs resolve in DOC."""
    return OAS31Validator({**schema, "components": DOC["components"]})


def schema_of(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    validate(DOC)  # raises on any violation


async def test_openapi_json_serves_the_generated_document_as_compact_json(client: Client) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert await resp.read() == dumps(DOC)  # compact, like every answer


def test_every_registered_route_is_documented_and_every_documented_one_registered(
    app: web.Application,
) -> None:
    registered = {
        (route.method, resource.canonical)
        for resource in app.router.resources()
        for route in resource
    }
    assert registered == set(operations(DOC))


def test_get_routes_do_not_register_head() -> None:
    # HEAD on a GET route is 405, as the original answers (CONTRACT §1).
    assert all(route.method != "HEAD" for route in ROUTES)


def test_every_tag_is_described() -> None:
    assert {route.tag for route in ROUTES} <= {tag["name"] for tag in DOC["tags"]}


def test_route_names_are_unique_and_are_the_operation_ids() -> None:
    names = [route.name for route in ROUTES]
    assert len(names) == len(set(names))
    assert sorted(op["operationId"] for op in operations(DOC).values()) == sorted(names)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_path_parameters_are_the_path_placeholders(route: Route) -> None:
    placeholders = re.findall(r"{(\w+)}", route.path)
    documented = [
        p["name"] for p in operations(DOC)[(route.method, route.path)].get("parameters", [])
        if p["in"] == "path"
    ]  # fmt: skip
    assert documented == placeholders


def test_security_is_on_exactly_the_jwt_routes() -> None:
    secured = {key for key, op in operations(DOC).items() if {"JWT": []} in op.get("security", [])}
    assert secured == CONTRACT_JWT_ROUTES
    assert secured == {(r.method, r.path) for r in ROUTES if r.auth is Auth.JWT}
    scheme = DOC["components"]["securitySchemes"]["JWT"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "JWT <token>" in scheme["description"]


def test_service_routes_are_open_unless_the_server_has_a_service_token() -> None:
    for (_, path), op in operations(DOC).items():
        if path.startswith("/service/"):
            assert op["security"] == [{}, {"ServiceToken": []}]
            assert "403" in op["responses"]


@pytest.mark.parametrize("key", sorted(CONTRACT_JWT_ROUTES), ids=" ".join)
def test_jwt_routes_document_the_authentication_403(key: tuple[str, str]) -> None:
    answer = operations(DOC)[key]["responses"]["403"]
    media = answer["content"]["application/json"]
    assert media["examples"]["err_code_999"]["value"] == errors.PERMISSION_DENIED.body()
    assert answer["headers"]["www-authenticate"]["required"] is True


def test_the_422_schema_has_err_code_last_and_no_url() -> None:
    item = DOC["components"]["schemas"]["ValidationErrorItem"]
    assert list(item["properties"]) == ["type", "loc", "msg", "input", "ctx", "err_code"]
    assert "url" not in item["properties"]
    assert item["additionalProperties"] is False
    assert item["properties"]["err_code"]["const"] == 999
    assert item["required"] == ["type", "loc", "msg", "input", "err_code"]
    assert "default" not in item["properties"]["ctx"]  # absent, never null


def test_every_route_that_validates_documents_its_422() -> None:
    for route in ROUTES:
        responses = operations(DOC)[(route.method, route.path)]["responses"]
        validates = route.validated and (route.path_params or route.query or route.body)
        assert ("422" in responses) == bool(validates), route.name
        if validates:
            assert responses["422"]["content"]["application/json"]["schema"] == schema_of(
                "ValidationError"
            )


async def test_a_real_422_matches_the_documented_schema(client: Client) -> None:
    token = await login(client)
    sent = await client.get("/api/v2/pools/?page=0&size=abc&is_favorite=maybe", headers=auth(token))
    assert sent.status == 422
    validator(schema_of("ValidationError")).validate(await sent.json())
    missing = await client.post("/api/v2/users/login/", data=b"[1,")
    validator(schema_of("ValidationError")).validate(await missing.json())


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: f"{spec.status}-{spec.err_code}")
def test_every_catalogue_error_matches_its_documented_schema(spec: ErrorSpec) -> None:
    name = "MfaError" if spec.next_step is not None else "AppError"
    validator(schema_of(name)).validate(spec.body())


def test_documented_error_examples_are_the_catalogue_bodies() -> None:
    bodies = [spec.body() for spec in CATALOGUE]
    found = 0
    for op in operations(DOC).values():
        for answer in op["responses"].values():
            media = answer.get("content", {}).get("application/json", {})
            for example in media.get("examples", {}).values():
                assert example["value"] in bodies
                validator(media["schema"]).validate(example["value"])
                found += 1
    assert found > 0


def test_the_login_documents_every_mfa_next_step() -> None:
    media = operations(DOC)[("POST", "/api/v2/users/login/")]["responses"]["428"]["content"]
    values = [e["value"] for e in media["application/json"]["examples"].values()]
    assert [v["detail"][0]["next_step"] for v in values] == [
        "/api/v2/users/login/",
        "/api/v2/users/adfs/",
        "/api/v2/users/hardware_token/",
    ]
    assert media["application/json"]["schema"] == schema_of("MfaError")


def test_not_found_and_method_not_allowed_are_described_with_string_details() -> None:
    assert DOC["components"]["schemas"]["HttpDetail"]["properties"]["detail"]["type"] == "string"
    description = DOC["info"]["description"]
    assert '{"detail":"Not Found"}' in description
    assert '{"detail":"Method Not Allowed"}' in description
    assert "307" in description


def test_logout_documents_205_without_a_body() -> None:
    answer = operations(DOC)[("POST", "/api/v2/users/logout/")]["responses"]["205"]
    assert "content" not in answer


def _task(status: TaskStatus, micro: int) -> Task:
    moment = datetime(2026, 11, 25, 7, 45, 16, micro, tzinfo=UTC)
    return Task(
        id=uuid.uuid4(),
        kind=TaskKind.GLINT_START,
        user_id=uuid.uuid4(),
        pool_id=None,
        created=moment,
        started=moment if status is not TaskStatus.PENDING else None,
        finished=moment if status in (TaskStatus.COMPLETED, TaskStatus.FAILED) else None,
        state=status.value,
    )


@pytest.mark.parametrize("status", list(TaskStatus))
@pytest.mark.parametrize("micro", [0, 710622])
def test_the_task_model_prints_what_the_dict_form_prints(status: TaskStatus, micro: int) -> None:
    # Control and service answers still print tasks, pools and machines from the world's dict
    # forms (a 10,000-user list is twice as fast that way); both must stay the same bytes.
    task = _task(status, micro)
    assert TaskOut.of(task).model_dump(mode="json") == task_to_dict(task)


def test_the_pool_and_machine_models_print_what_the_dict_forms_print() -> None:
    world = World(load_scenario(default_scenario_path()))
    world.create_pools(3, 2, [])
    for pool in world.pools.values():
        assert PoolOut.of(pool).model_dump(mode="json") == pool.to_dict()
    assert world.machines
    for machine in world.machines.values():
        assert MachineOut.of(machine).model_dump(mode="json") == machine.to_dict()
