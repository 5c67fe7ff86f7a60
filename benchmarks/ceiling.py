"""The ceiling: the least an aiohttp server can do per request on this machine.

``python -m benchmarks.ceiling --port N`` answers a fixed JSON body on ``GET /`` and, after
reading the body, on ``POST /``: the same server stack as mockapi (aiohttp, no access log)
with no middleware, routing, validation or state. mockapi's requests/s are reported as a
ratio to these figures, measured in the same run.

For the WebSocket figures it also holds sockets on ``GET /ws/{group}/`` (no auth, no
heartbeat), and ``POST /fanout/{group}/?mode=send_str|raw`` sends one task-sized frame to every
socket of the group before it answers: ``send_str`` awaits aiohttp's ``send_str`` socket after
socket, ``raw`` writes one pre-built frame to each transport (the floor: one ``send()`` per
socket).

With ``--tls-cert FILE --tls-key FILE`` it serves HTTPS through aiohttp's own
``ssl_context``: the reference for mockapi's ``--tls`` figures, with the same certificate and
the same TLS settings (:func:`tls_context`).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

from aiohttp import WSMsgType, web

BODY = b'{"data":{"code":200,"response_data":{"ok":true,"detail":""}}}'
FRAME = '{"status":"RUNNING","id":"821b7a78-1b6e-4a88-9488-07eeba0099cf","kind":"POOL_EXPAND"}'
Group = dict[web.WebSocketResponse, asyncio.Transport]
SOCKETS = web.AppKey("sockets", dict[str, Group])


async def answer(request: web.Request) -> web.Response:
    if request.body_exists:
        await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def websocket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    transport = request.transport
    assert isinstance(transport, asyncio.Transport)
    group = request.app[SOCKETS].setdefault(request.match_info["group"], {})
    group[ws] = transport
    try:
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        group.pop(ws, None)
    return ws


async def fanout(request: web.Request) -> web.Response:
    sockets = list(request.app[SOCKETS].get(request.match_info["group"], {}).items())
    if request.query.get("mode") == "raw":
        payload = FRAME.encode()
        frame = bytes([0x81, len(payload)]) + payload  # FIN + text, unmasked, < 126 bytes
        for _, transport in sockets:
            transport.write(frame)
    else:
        for ws, _ in sockets:
            await ws.send_str(FRAME)
    return web.json_response({"sent": len(sockets)})


def create_app() -> web.Application:
    app = web.Application()
    app[SOCKETS] = {}
    app.router.add_get("/", answer, allow_head=False)
    app.router.add_post("/", answer)
    app.router.add_get("/ws/{group}/", websocket)
    app.router.add_post("/fanout/{group}/", fanout)
    return app


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context as mockapi's: TLS 1.2 and up, no session resumption (every new
    connection is a full handshake), HTTP/1.1 by ALPN."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_TICKET
    context.num_tickets = 0
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    context = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        ssl_context=context,
    )


if __name__ == "__main__":
    main()
