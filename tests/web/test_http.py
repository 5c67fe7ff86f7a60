"""General HTTP behaviour (CONTRACT §1): slashes, 404/405, HEAD and OPTIONS, compact JSON."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient
from yarl import URL

from mockapi.app import create_app
from mockapi.settings import Settings
from tests.answers import LOGIN, LOGOUT, SETTINGS, Answer, app_error, expect, login_body
from tests.helpers import Client, auth, login

NOT_FOUND = Answer(404, {"detail": "Not Found"})
METHOD_NOT_ALLOWED = Answer(405, {"detail": "Method Not Allowed"})

GET_ROUTES = ["/api/v2/health/", "/api/v2/version/", SETTINGS]
POST_ROUTES = [LOGIN, LOGOUT]


# -- the trailing slash ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/health"),
        ("GET", "/api/v2/version"),
        ("GET", "/api/v2/users/settings"),
        ("POST", "/api/v2/users/login"),
        ("POST", "/api/v2/users/logout"),
        ("GET", "/api/v2/tasks/fabb9a84-ae96-4d07-b5a0-329ea70fa476/is-done"),
    ],
)
async def test_a_missing_slash_is_a_307_to_the_absolute_slash_url(
    client: Client, method: str, path: str
) -> None:
    resp = await client.request(method, path, allow_redirects=False)
    assert resp.status == 307
    assert await resp.read() == b""
    assert resp.headers["location"] == str(client.make_url(path + "/"))
    assert resp.headers["location"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "query",
    ["a=1", "a=1&b=two%20words&a=3", "q=a%2Bb", "q=a%26b%3Dc", "q=a+b", "q=%E2%82%AC", "flag"],
)
async def test_the_redirect_keeps_the_query_string_as_sent(client: Client, query: str) -> None:
    url = URL(f"/api/v2/health?{query}", encoded=True)
    resp = await client.get(url, allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["location"] == f"{client.make_url('/api/v2/health/')}?{query}"


async def test_the_redirect_comes_before_authentication_and_validation(client: Client) -> None:
    # The 307 happens at routing: no token and no body are needed to get it.
    resp = await client.post("/api/v2/users/logout", data=b"{bad", allow_redirects=False)
    assert resp.status == 307


async def test_following_the_redirect_reaches_the_route(client: Client) -> None:
    resp = await client.post("/api/v2/users/login", json=login_body("astravdi"))
    assert resp.status == 200  # 307 keeps the method and the body
    assert resp.history[0].status == 307


async def test_an_unknown_path_without_a_slash_is_404_not_307(client: Client) -> None:
    resp = await client.get("/api/v2/nothing", allow_redirects=False)
    await expect(resp, NOT_FOUND)


@pytest.mark.parametrize("slash", ["/", ""], ids=["with the slash", "without the slash"])
async def test_a_plain_request_to_the_websocket_path_is_404_never_307(
    client: Client, slash: str
) -> None:
    # CONTRACT §1: the original's router never redirects to its WebSocket route.
    path = "/api/v2/pools/ws/7e1459c2-3e19-4c3d-98f5-8344d44ae6f4" + slash
    await expect(await client.get(path, allow_redirects=False), NOT_FOUND)


# -- 404 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",  # GET / is the live dashboard (issue 5); its neighbours stay unknown
        "/api/v2/",
        "/api/v2/nothing/",
        "/api/v3/health/",
        "/API/V2/HEALTH/",
        "/api/v2/users/",
        "/api/v2/users/login/extra/",
        "/api/v2/%ff/",
        "/api/v2/health//",
    ],
)
async def test_an_unknown_path_is_404_with_a_string_detail(client: Client, path: str) -> None:
    await expect(await client.get(path, allow_redirects=False), NOT_FOUND)


# -- 405 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", LOGIN, "POST"),
        ("PUT", LOGIN, "POST"),
        ("GET", LOGOUT, "POST"),
        ("DELETE", LOGOUT, "POST"),
        ("POST", "/api/v2/health/", "GET"),
        ("POST", "/api/v2/version/", "GET"),
        ("POST", SETTINGS, "GET"),
        ("PATCH", SETTINGS, "GET"),
    ],
)
async def test_a_wrong_method_is_405_with_allow(
    client: Client, method: str, path: str, allow: str
) -> None:
    resp = await client.request(method, path)
    await expect(resp, METHOD_NOT_ALLOWED)
    assert resp.headers["allow"] == allow


async def test_a_wrong_method_is_405_even_with_a_token(client: Client) -> None:
    token = await login(client)
    resp = await client.post(SETTINGS, headers=auth(token))
    await expect(resp, METHOD_NOT_ALLOWED)


@pytest.mark.parametrize("path", GET_ROUTES)
async def test_head_on_a_get_route_is_405(client: Client, path: str) -> None:
    resp = await client.head(path)
    assert resp.status == 405
    assert resp.headers["allow"] == "GET"
    assert resp.headers["content-type"] == "application/json"
    assert await resp.read() == b""  # HEAD answers carry no body


@pytest.mark.parametrize("path", GET_ROUTES + POST_ROUTES)
async def test_options_is_405_there_is_no_cors(client: Client, path: str) -> None:
    resp = await client.options(
        path,
        headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST"},
    )
    await expect(resp, METHOD_NOT_ALLOWED)
    assert resp.headers["allow"] == ("POST" if path in POST_ROUTES else "GET")
    assert "access-control-allow-origin" not in resp.headers


# -- the JSON form ---------------------------------------------------------------------------
async def test_json_is_compact_with_no_charset(client: Client) -> None:
    resp = await client.get("/api/v2/version/")
    assert resp.headers["content-type"] == "application/json"
    text = await resp.text()
    assert text.startswith('{"data":{"version":"7.0.1","build":"996",')
    assert ": " not in text
    assert ", " not in text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v2/health/", 200),
        ("GET", "/api/v2/nothing/", 404),
        ("GET", LOGIN, 405),
        ("GET", SETTINGS, 403),
        ("POST", LOGIN, 422),
    ],
)
async def test_every_json_answer_has_the_bare_content_type(
    client: Client, method: str, path: str, status: int
) -> None:
    resp = await client.request(method, path)
    assert resp.status == status
    assert resp.headers["content-type"] == "application/json"
    assert "charset" not in resp.headers["content-type"]


async def test_an_internal_error_is_a_json_500_in_the_error_shape(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.add_get("/broken/", broken)
    client = await aiohttp_client(app)
    await expect(await client.get("/broken/"), app_error(500, "Internal server error.", 999))
