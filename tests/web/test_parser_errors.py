"""A request HTTP cannot parse is one WARNING line with the client's address, no traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mockapi.web.parser_errors import SERVER_LOGGER, install
from tests.helpers import Client

BAD_REQUESTS = {
    "NUL in a header": b"GET /api/v2/health/ HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bad method": b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without a colon": b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    # Just over aiohttp's 8190-byte line limit: the server reads the whole request before it
    # refuses it. With bytes left unread, its close would be a reset, which can discard the
    # 400 before the client reads it.
    "over-long request line": b"GET /" + b"a" * 9_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # A good request first, answered before the bad one is sent: aiohttp logs garbage at
        # the very start of a connection (a port scan, TLS to a plain port) at DEBUG only.
        writer.write(b"GET /api/v2/health/ HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"}}"), 10)
        writer.write(data)
        await writer.drain()
        return first + await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("raw", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
async def test_a_parser_refusal_is_one_warning_line(
    client: Client, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    install()
    caplog.set_level(logging.DEBUG, logger=SERVER_LOGGER)
    assert client.port is not None
    answer = await send_raw(client.port, raw)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"}}HTTP/1.1 400 " in answer or b"}}HTTP/1.0 400 " in answer
    [record] = [r for r in caplog.records if r.name == SERVER_LOGGER]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    line = record.getMessage()
    assert line.startswith("refused a request from 127.0.0.1 that HTTP cannot parse (400 ")
    assert "\n" not in line
    assert len(line) < 400
    assert "Traceback" not in caplog.text


def test_installing_twice_adds_one_filter() -> None:
    install()
    install()
    assert len(logging.getLogger(SERVER_LOGGER).filters) == 1
