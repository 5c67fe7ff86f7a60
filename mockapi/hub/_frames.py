"""A private copy of aiohttp's WebSocket frame writer, for frames written straight to a transport.

:meth:`mockapi.hub.hub.Hub.publish` encodes a task frame once and, for an idle socket whose
transport took everything so far, writes these bytes itself instead of starting a writer
task per socket for ``send_str``. The bytes must be exactly what aiohttp would write;
``tests/hub/test_frames.py`` holds them against aiohttp's own writer. If the fan-out benchmark
stops showing a gain, delete this module and let every frame go through ``send_str``.
"""

from __future__ import annotations


def text_frame(payload: bytes) -> bytes:
    """The server's text frame for ``payload``: final, unmasked, uncompressed (RFC 6455 §5.2).

    Byte for byte what aiohttp's ``send_str`` writes on these sockets (``compress=False``).
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload
