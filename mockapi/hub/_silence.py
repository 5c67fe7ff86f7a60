"""A private reach into aiohttp's WebSocketResponse: make an open socket deaf.

A ``deaf`` fault stops a socket answering pings and sending anything, as a hung server would.
aiohttp answers pings inside ``receive`` while ``_autoping`` is set, and its heartbeat sends
pings of its own and ends the connection when their pongs stop; no public call turns either
off on an open socket. ``_cancel_heartbeat`` is what aiohttp itself calls when a socket closes,
and a ``_heartbeat`` of None stops received data from arming it again. The socket keeps
reading (its handler drops what it gets), so a client that leaves is still noticed and the
socket does not linger. ``tests/hub/test_silence.py`` holds this against the library: a
silenced socket sends no ping and answers none, where the same socket left alone does both.
"""

from __future__ import annotations

from aiohttp import web


def silence(ws: web.WebSocketResponse) -> None:
    """Stop answering pings and sending heartbeat pings; the connection stays open."""
    ws._autoping = False
    ws._heartbeat = None
    ws._cancel_heartbeat()
