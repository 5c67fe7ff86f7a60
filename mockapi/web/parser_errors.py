"""Requests aiohttp's parser refuses, logged as one WARNING line each.

A NUL byte in a header, a request line too long, a method that is not a token: aiohttp answers
400 (text/plain, the connection closed) before any of our code sees the request, then logs
``Error handling request from <address>`` as an ERROR with a full traceback. That is the
client's mistake, not the server's: a fuzzer or a port scanner would fill the log with
tracebacks and hide real errors. This filter turns each such record into one WARNING line with
the client's address and the parser's reason; an error that is not a parser refusal (a real
bug) keeps its level and traceback.

The answer itself stays aiohttp's: it is made inside aiohttp's protocol handler, which offers
no public hook to shape it (the app's middleware never runs for a request that did not parse).
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

#: The logger aiohttp's protocol handler writes these records to.
SERVER_LOGGER = "aiohttp.server"


class QuietParserErrors(logging.Filter):
    """Rewrites a parser refusal's record: WARNING, one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        reason = _printable(str(exc.message)) or type(exc).__name__
        record.msg = "refused a request from %s that HTTP cannot parse (%s %s): %s"
        record.args = (remote, exc.code, type(exc).__name__, reason)
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        return True


#: A reason longer than this is cut: the parser may quote a whole over-long request line.
MAX_REASON = 200


def _printable(text: str) -> str:
    """``text`` on one line, control characters escaped, cut to :data:`MAX_REASON`."""
    text = " ".join(text.split())  # the parser's multi-line pointer (``^``) on one line
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return shown if len(shown) <= MAX_REASON else shown[: MAX_REASON - 3] + "..."


def install() -> None:
    """Put the filter on aiohttp's server logger, once however many apps are made."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, QuietParserErrors) for f in logger.filters):
        logger.addFilter(QuietParserErrors())
