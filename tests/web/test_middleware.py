"""The request middleware: the service-token guard (``--service-token``), the journal around it,
and what a handler raises."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from mockapi.app import create_app
from mockapi.settings import Settings
from mockapi.web.middleware import WIRING
from tests.answers import PERMISSION_DENIED, expect
from tests.conftest import SECRET
from tests.helpers import Client, auth, login

TOKEN = "s3rvice-token-for-tests"
HEADER = "X-Service-Token"
SERVICE_ROUTES = [
    ("GET", "/service/clock/"),
    ("POST", "/service/reset/"),
    ("GET", "/service/scenario/"),
    ("GET", "/service/journal/"),
    ("DELETE", "/service/journal/"),
    ("GET", "/service/all-users/"),
    ("GET", "/service/all-tasks/"),
]


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt_secret=SECRET, clock="manual", service_token=TOKEN)


@pytest.mark.parametrize(("method", "path"), SERVICE_ROUTES)
async def test_service_routes_without_the_header_are_403_999(
    client: Client, method: str, path: str
) -> None:
    await expect(await client.request(method, path), PERMISSION_DENIED)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("wrong", id="wrong"),
        pytest.param("", id="empty"),
        pytest.param(TOKEN.upper(), id="other case"),
        pytest.param(TOKEN[:-1], id="prefix"),
        pytest.param(TOKEN + "x", id="longer"),
        pytest.param(f"Bearer {TOKEN}", id="with a scheme"),
    ],
)
async def test_a_wrong_service_token_is_403_999(client: Client, given: str) -> None:
    await expect(await client.get("/service/clock/", headers={HEADER: given}), PERMISSION_DENIED)


async def test_a_service_token_that_is_not_utf8_is_403_not_a_500(client: Client) -> None:
    # aiohttp decodes such header bytes to surrogates; the guard once raised on them.
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        b"GET /service/clock/ HTTP/1.1\r\nHost: mockapi\r\nConnection: close\r\n"
        b"X-Service-Token: \xff\xfe\r\n\r\n"
    )
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert body == b'{"detail":[{"msg":"Permission denied.","err_code":999,"type":"default"}]}'


@pytest.mark.parametrize(("method", "path"), SERVICE_ROUTES)
async def test_the_right_service_token_opens_every_service_route(
    client: Client, method: str, path: str
) -> None:
    resp = await client.request(method, path, headers={HEADER: TOKEN})
    assert resp.status in (200, 204), await resp.text()


async def test_the_header_name_is_case_insensitive(client: Client) -> None:
    resp = await client.get("/service/clock/", headers={HEADER.lower(): TOKEN})
    assert resp.status == 200


async def test_an_unknown_service_path_is_guarded_too(client: Client) -> None:
    # The guard runs before routing: without the token nothing under /service/ is revealed.
    await expect(await client.get("/service/no-such-route/"), PERMISSION_DENIED)
    resp = await client.get("/service/no-such-route/", headers={HEADER: TOKEN})
    assert (resp.status, await resp.json()) == (404, {"detail": "Not Found"})


async def test_api_routes_are_unaffected(client: Client) -> None:
    assert (await client.get("/api/v2/version/")).status == 200
    token = await login(client)
    resp = await client.get("/api/v2/pools/", headers=auth(token))
    assert resp.status == 200
    # A stray or wrong service token on an API route changes nothing either.
    resp = await client.get("/api/v2/pools/", headers={**auth(token), HEADER: "wrong"})
    assert resp.status == 200


async def test_without_a_configured_token_service_routes_are_open(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(create_app(Settings(jwt_secret=SECRET, clock="manual")))
    assert (await client.get("/service/clock/")).status == 200
    assert (await client.get("/service/clock/", headers={HEADER: "anything"})).status == 200


async def test_a_refused_service_request_is_journaled_with_its_403(client: Client) -> None:
    await client.post("/service/reset/")
    resp = await client.get("/service/journal/", headers={HEADER: TOKEN})
    entries = (await resp.json())["entries"]
    assert [(e["method"], e["path"], e["status"], e["user"]) for e in entries] == [
        ("POST", "/service/reset/", 403, None)
    ]


async def journal_of(client: Client) -> list[tuple[str, str, int, str | None]]:
    resp = await client.get("/service/journal/", headers={HEADER: TOKEN})
    entries = (await resp.json())["entries"]
    return [(e["method"], e["path"], e["status"], e["user"]) for e in entries]


async def test_a_redirect_a_handler_raises_is_sent_as_is_and_journaled(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/api/v2/health/")

    app = create_app(settings)
    app.router.add_get("/moved/", moved)
    client = await aiohttp_client(app)
    resp = await client.get("/moved/", allow_redirects=False)
    assert (resp.status, resp.headers["location"]) == (302, "/api/v2/health/")
    assert await journal_of(client) == [("GET", "/moved/", 302, None)]


async def test_an_unexpected_error_is_journaled_as_the_500_it_answered(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.add_get("/broken/", broken)
    client = await aiohttp_client(app)
    assert (await client.get("/broken/")).status == 500
    assert await journal_of(client) == [("GET", "/broken/", 500, None)]


async def test_the_user_of_an_authenticated_request_is_journaled(client: Client) -> None:
    token = await login(client)
    await client.get("/api/v2/pools/", headers=auth(token))
    assert (await journal_of(client))[-1] == ("GET", "/api/v2/pools/", 200, "astravdi")


# -- what recording learns of each route --------------------------------------------------------
async def test_each_registered_route_is_learnt_once_and_unmatched_paths_never(
    client: Client,
) -> None:
    token = await login(client)
    for _ in range(3):
        await client.get("/api/v2/pools/", headers=auth(token))
    for n in range(50):  # a scanner's unknown paths: each 404's route is made for it
        assert (await client.get(f"/no/such/{n}/")).status == 404
    learnt = client.app[WIRING].routes
    assert sorted(facts.name or "" for facts in learnt.values()) == ["login", "pools"]
    assert [e[1] for e in await journal_of(client)][-3:] == [
        "/no/such/47/",
        "/no/such/48/",
        "/no/such/49/",
    ]


async def test_a_route_with_a_variable_path_is_asked_per_path_whether_it_is_journaled(
    client: Client,
) -> None:
    await client.get("/dashboard/static/dashboard.js")  # the tool's own: never journaled
    await client.get("/api/v2/tasks/7e1459c2-3e19-4c3d-98f5-8344d44ae6f4/")  # the API's
    learnt = {facts.template: facts for facts in client.app[WIRING].routes.values()}
    assert learnt["/dashboard/static/{filename}"].journaled is None
    assert learnt["/api/v2/tasks/{task_id}/"].journaled is None
    assert [e[1] for e in await journal_of(client)] == [
        "/api/v2/tasks/7e1459c2-3e19-4c3d-98f5-8344d44ae6f4/"
    ]
