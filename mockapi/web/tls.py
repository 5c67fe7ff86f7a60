"""The HTTPS listener: aiohttp's TCP site with each connection upgraded by the acceptor."""

from __future__ import annotations

import asyncio

from aiohttp import web

from mockapi.tls import CertificateSwitch, TlsAcceptor


class TlsSite(web.TCPSite):
    """``TCPSite`` for ``--tls``: listens in plain TCP and hands each connection to aiohttp
    only after its TLS handshake, so a failed one reaches the journal (:mod:`mockapi.tls.accept`).

    The site still carries the served context, so its ``name`` reads ``https://``.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int | None,
        switch: CertificateSwitch,
        handshake_timeout: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=switch.context)
        self._switch = switch
        self._handshake_timeout = handshake_timeout
        self._acceptor: TlsAcceptor | None = None

    async def start(self) -> None:
        # TCPSite.start, with the acceptor between the listener and aiohttp's protocol.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._acceptor = TlsAcceptor(self._switch, server, self._handshake_timeout)
        self._server = await asyncio.get_running_loop().create_server(
            self._acceptor, self._host, self._port, backlog=self._backlog
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await super().stop()
        if self._acceptor is not None:
            await self._acceptor.close()
