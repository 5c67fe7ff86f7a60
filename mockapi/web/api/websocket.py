"""``WS /api/v2/pools/ws/{client_id}/`` (CONTRACT §8): the handshake, the echo, and the hub.

The handler authenticates the handshake (the raw ``Cookie`` value is the credential), then
hands the socket to the hub (:mod:`mockapi.hub.hub`), which sends it the user's task frames.
"""

from __future__ import annotations

from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from mockapi.domain.errors import PERMISSION_DENIED, ErrorCode, ErrorSpec
from mockapi.domain.journal import Journal
from mockapi.domain.world import User
from mockapi.hub.hub import HEARTBEAT_S, MAX_MESSAGE_BYTES, Hub, Peer
from mockapi.keys import HUB, JOURNAL
from mockapi.web.auth import USER_KEY, identify
from mockapi.web.errors import answer
from mockapi.web.rules import is_websocket_upgrade

#: What a request that cannot become a WebSocket is answered (Starlette's own refusal).
BAD_HANDSHAKE = ErrorSpec(400, "Bad Request", ErrorCode.DEFAULT)


def refuse(spec: ErrorSpec) -> web.Response:
    """Refuse a handshake with ``spec``'s body and end the connection."""
    # Starlette refuses a handshake with this body and ends the connection.
    response = answer(spec)
    response.headers[hdrs.CONNECTION] = "close"
    response.force_close()
    return response


async def websocket(request: web.Request) -> web.StreamResponse:
    """``WS /api/v2/pools/ws/{client_id}/``: the user's task frames, and the echo."""
    if not is_websocket_upgrade(request):
        raise web.HTTPNotFound()  # a plain GET does not match a WebSocket route
    ws = web.WebSocketResponse(
        protocols=(),
        compress=False,  # frames are ~80 bytes; deflate would only cost memory per socket
        heartbeat=HEARTBEAT_S,
        max_msg_size=MAX_MESSAGE_BYTES,
    )
    if not ws.can_prepare(request).ok:
        return refuse(BAD_HANDSHAKE)
    # The raw header value is the credential (``JWT <token>``); Authorization is ignored.
    identity = identify(request.app, request.headers.get(hdrs.COOKIE))
    if identity is None or request.match_info["client_id"] != identity.claims.client_id:
        return refuse(PERMISSION_DENIED)

    hub = request.app[HUB]
    user = identity.user
    # The socket may stay open for hours: keep the user, not the token and its claims.
    del identity
    too_many = hub.refusal(user.id)
    if too_many is not None:
        # Memory is bounded by the world's socket limits; the client hears why, and may retry.
        response = refuse(ErrorSpec(503, too_many, ErrorCode.DEFAULT))
        response.headers[hdrs.RETRY_AFTER] = "1"
        return response
    request[USER_KEY] = user.username
    journal = request.app[JOURNAL]
    peer = hub.connect(user.id, user.username, ws, request.transport)
    socket: int | None = None
    ended: WSMsgType | None = None
    try:
        await ws.prepare(request)
        socket = journal.record_ws_open(user.username, request.match_info["client_id"])
        hub.ready(peer)
        if hub.closing:
            await hub.close_socket(peer, WSCloseCode.GOING_AWAY, b"server shutdown")
            return ws
        ended = await _serve(journal, hub, user, socket, peer)
    finally:
        await hub.disconnect(peer)
        if socket is not None:
            journal.record_ws_close(user.username, socket, *_how_closed(peer, ws, ended))
    return ws


async def _serve(journal: Journal, hub: Hub, user: User, socket: int, peer: Peer) -> WSMsgType:
    """Journal and echo what the client sends until the socket ends; how it ended."""
    ws = peer.ws
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            journal.record_ws_message(user.username, socket, msg.data)
            # A deaf socket reads on (to see its client leave) but answers nothing.
            if not peer.deaf:
                hub.send_text(user.id, f"User {user.username} sent: {msg.data}")
        elif msg.type is WSMsgType.BINARY:
            # No meaning here (the original could only read text), but it was sent.
            journal.record_ws_message(user.username, socket, msg.data)
        elif msg.type in _ENDS:
            return msg.type


#: What ``receive`` answers when the socket is over: the client's close frame, a close made
#: here (from another task), or an error aiohttp closed it for (a message too large, a
#: protocol error, no pong in time).
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


def _how_closed(
    peer: Peer, ws: web.WebSocketResponse, ended: WSMsgType | None
) -> tuple[int | None, str]:
    """The close code and who closed: ``server`` or ``client``.

    The hub notes the code it closed with (aiohttp reports 1000 for a close made from
    another task); aiohttp itself closes on an error; otherwise the client sent its close
    frame or went away.
    """
    if peer.closed_with is not None:
        return peer.closed_with, "server"
    if ended is WSMsgType.ERROR:
        return ws.close_code, "server"
    return ws.close_code, "client"
