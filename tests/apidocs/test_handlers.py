"""``/docs`` (Swagger UI from the package, offline) and ``/asyncapi.json`` (CONTRACT §8)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from mockapi.apidocs.handlers import ASSETS
from mockapi.domain.errors import PERMISSION_DENIED
from tests.helpers import Client

URL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""", re.IGNORECASE)
ATTRIBUTES = re.compile(r"""\b(?:src|href)="([^"]+)\"""")


async def test_docs_is_an_html_page(client: Client) -> None:
    resp = await client.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert 'id="swagger-ui"' in page
    assert 'data-openapi-url="/openapi.json"' in page


async def test_the_page_names_no_other_host(client: Client) -> None:
    # Client teams work on closed networks: no CDN, no absolute URL, no protocol-relative one.
    page = await (await client.get("/docs")).text()
    assert URL.findall(page) == []
    for link in ATTRIBUTES.findall(page):
        assert link.startswith("/"), link
        assert not link.startswith("//"), link


async def test_the_page_holds_itself_to_its_own_origin(client: Client) -> None:
    policy = (await client.get("/docs")).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


async def test_every_file_the_page_loads_is_served(client: Client) -> None:
    page = await (await client.get("/docs")).text()
    links = ATTRIBUTES.findall(page)
    assert any(link.endswith("swagger-ui-bundle.js") for link in links)
    assert any(link.endswith("swagger-ui.css") for link in links)
    for link in links:
        resp = await client.get(link)
        assert resp.status == 200, link
        assert len(await resp.read()) > 0


@pytest.mark.parametrize("name", list(ASSETS))
async def test_static_files_come_with_their_media_type(client: Client, name: str) -> None:
    resp = await client.get(f"/docs/static/{name}")
    assert resp.status == 200
    assert resp.content_type == ASSETS[name][1]
    assert await resp.read() == ASSETS[name][0].read_bytes()


async def test_the_bundled_swagger_ui_reads_openapi_3_1(client: Client) -> None:
    # Swagger UI 4 refuses 3.1 documents ("does not specify a valid version field").
    bundle = await (await client.get("/docs/static/swagger-ui-bundle.js")).text()
    assert "isOAS31" in bundle


async def test_the_page_starts_swagger_ui_offline_with_persistent_authorization(
    client: Client,
) -> None:
    script = await (await client.get("/docs/static/docs.js")).text()
    assert "validatorUrl: null" in script
    assert "persistAuthorization: true" in script
    assert URL.findall(script) == []


@pytest.mark.parametrize(
    "path", ["/docs/static/nope.js", "/docs/static/..%2Fdocs.py", "/docs/static/index.html"]
)
async def test_only_the_listed_files_are_served(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert await resp.text() == '{"detail":"Not Found"}'


@pytest.mark.parametrize("path", ["/docs", "/docs/static/docs.js", "/openapi.json"])
async def test_head_is_405_like_every_get_route(client: Client, path: str) -> None:
    resp = await client.head(path)
    assert resp.status == 405
    assert resp.headers["allow"] == "GET"


# -- AsyncAPI ----------------------------------------------------------------------------------
async def asyncapi(client: Client) -> dict[str, Any]:
    resp = await client.get("/asyncapi.json")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    doc: dict[str, Any] = await resp.json()
    return doc


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


async def test_asyncapi_is_version_3_0(client: Client) -> None:
    doc = await asyncapi(client)
    assert re.fullmatch(r"3\.0\.\d+", doc["asyncapi"])
    assert {"title", "version"} <= set(doc["info"])
    assert doc["servers"]["mockapi"]["protocol"] == "ws"
    assert doc["servers"]["mockapi"]["host"] == f"{client.host}:{client.port}"


async def test_asyncapi_describes_the_pools_socket_and_its_handshake(client: Client) -> None:
    doc = await asyncapi(client)
    (channel,) = doc["channels"].values()
    assert channel["address"] == "/api/v2/pools/ws/{client_id}/"
    assert set(channel["parameters"]) == {"client_id"}
    assert "`Cookie` header value `JWT <token>`" in channel["description"]
    assert str(PERMISSION_DENIED.body()) in channel["description"]
    assert "403" in channel["description"]
    headers = resolve(doc, channel["bindings"]["ws"]["headers"]["$ref"])
    assert headers["required"] == ["Cookie"]
    assert re.fullmatch(headers["properties"]["Cookie"]["pattern"], "JWT abc.def.ghi")


async def test_every_reference_in_asyncapi_resolves(client: Client) -> None:
    doc = await asyncapi(client)
    refs = re.findall(r"'\$ref': '([^']+)'", str(doc))
    assert refs
    for ref in refs:
        resolve(doc, ref)


async def test_asyncapi_messages_are_the_frame_and_the_echo(client: Client) -> None:
    doc = await asyncapi(client)
    messages = doc["components"]["messages"]
    frame = resolve(doc, messages["taskUpdate"]["payload"]["$ref"])
    assert list(frame["properties"]) == ["status", "id", "kind"]
    assert frame["additionalProperties"] is False
    validate = OAS31Validator({**frame, "components": doc["components"]}).validate
    example = messages["taskUpdate"]["examples"][0]["payload"]
    validate(example)
    status_enum = resolve(doc, frame["properties"]["status"]["$ref"])["enum"]
    assert status_enum == ["PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED"]
    assert resolve(doc, frame["properties"]["kind"]["$ref"])["enum"] == [
        "POOL_EXPAND",
        "GLINT_START",
    ]
    echo = messages["echo"]["payload"]
    assert re.match(echo["pattern"], "User astravdi sent: hello\nagain")
    assert not re.match(echo["pattern"], '{"status":"RUNNING"}')
    assert messages["clientText"]["payload"] == {"type": "string"}


async def test_asyncapi_operations_say_who_sends_what(client: Client) -> None:
    doc = await asyncapi(client)
    actions = {
        resolve(doc, op["messages"][0]["$ref"])["$ref"].rsplit("/", 1)[-1]: op["action"]
        for op in doc["operations"].values()
    }
    assert actions == {"taskUpdate": "send", "clientText": "receive", "echo": "send"}
