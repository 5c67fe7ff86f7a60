"""The sync face's own transport: one kept-alive connection, renewed when the server closed it."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest

from mockapi.client import Client
from tests.client.conftest import Server, spawn_server


@pytest.fixture
def ctl(server: Server) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


def test_one_connection_carries_every_request(ctl: Client) -> None:
    ctl.clock()
    first = ctl._conn
    assert first is not None
    ctl.advance(1)
    ctl.journal()
    assert ctl._conn is first


def test_a_connection_the_server_closed_while_idle_is_renewed() -> None:
    with spawn_server("--idle-timeout", "0.2") as url, Client(url) as ctl:
        ctl.clock()
        first = ctl._conn
        assert first is not None
        assert first.sock is not None
        # Until the server's idle timeout closes its end (readable: the EOF), not a sleep.
        readable, _, _ = select.select([first.sock], [], [], 10)
        assert readable, "the server kept the idle connection"
        assert ctl.advance(1)["mode"] == "manual"
        assert ctl._conn is not first
        entries = ctl.journal()["entries"]
        # The advance was sent once: the closed connection had not carried it.
        assert [e["path"] for e in entries].count("/service/clock/") == 2
