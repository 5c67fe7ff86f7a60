"""Change listeners (mockapi.domain.listeners) and the change points that call them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mockapi.domain.clock import Clock
from mockapi.domain.listeners import Listeners
from mockapi.keys import CLOCK, HUB, RUNTIME
from tests.helpers import ASTRAVDI_ID, POOL_WIN_1, Client, auth, login


class Tally:
    """A listener that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_every_listener_is_called_in_order() -> None:
    listeners = Listeners()
    order: list[str] = []
    listeners.add(lambda: order.append("a"))
    listeners.add(lambda: order.append("b"))
    listeners()
    assert order == ["a", "b"]
    assert len(listeners) == 2


def test_a_removed_listener_is_not_called() -> None:
    listeners = Listeners()
    tally = Tally()
    listeners.add(tally)
    listeners.remove(tally)
    listeners.remove(tally)  # unknown: ignored
    listeners()
    assert tally.calls == 0


def test_a_failing_listener_is_logged_and_the_rest_still_called(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listeners = Listeners()
    tally = Tally()

    def broken() -> None:
        raise RuntimeError("listener bug")

    listeners.add(broken)
    listeners.add(tally)
    with caplog.at_level(logging.ERROR, logger="mockapi.domain.listeners"):
        listeners()
    assert tally.calls == 1
    assert "listener bug" in caplog.text


def test_the_clock_tells_its_listeners_of_each_change() -> None:
    clock = Clock(start=0, mode="manual")
    tally = Tally()
    clock.listeners.add(tally)
    clock.advance(1)
    clock.set_time_scale(2)
    clock.set_mode("manual")
    clock.reset(start=0, mode="manual", time_scale=1)
    assert tally.calls == 4
    clock.time()
    clock.now()
    assert tally.calls == 4  # reading is no change


async def test_task_connection_and_login_changes_tell_the_runtime_listeners(
    client: Client,
) -> None:
    tally = Tally()
    client.app[RUNTIME].listeners.add(tally)
    token = await login(client)
    after_login = tally.calls
    assert after_login >= 1
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202
    after_request = tally.calls
    assert after_request > after_login
    client.app[CLOCK].advance(3)
    assert tally.calls > after_request


async def test_a_failing_listener_never_breaks_a_task(client: Client) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    client.app[RUNTIME].listeners.add(broken)
    client.app[CLOCK].listeners.add(broken)
    token = await login(client)
    resp = await client.get(f"/api/v2/pools/{POOL_WIN_1}/connect/", headers=auth(token))
    assert resp.status == 202
    task_id = (await resp.json())["data"]["id"]
    assert (await client.post("/service/clock/", json={"advance_s": 3})).status == 200
    resp = await client.get(f"/api/v2/tasks/{task_id}/", headers=auth(token))
    assert (await resp.json())["data"]["status"] == "RUNNING"


async def test_sockets_opening_and_closing_tell_the_hub_listeners(client: Client) -> None:
    tally = Tally()
    client.app[HUB].listeners.add(tally)
    token = await login(client)
    ws = await client.ws_connect(
        f"/api/v2/pools/ws/{ASTRAVDI_ID}/", headers={"Cookie": f"JWT {token}"}
    )
    assert tally.calls == 1
    await ws.close()
    await client.app[HUB].flush()
    for _ in range(50):  # the server forgets the socket once its handler has ended
        if tally.calls == 2:
            break
        await asyncio.sleep(0.01)
    assert tally.calls == 2
