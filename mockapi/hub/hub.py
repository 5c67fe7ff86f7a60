"""The WebSocket hub: every open socket of every user, and the frames on their way to them.

A task change is published from inside a state-machine callback, so :meth:`Hub.publish` must
never wait and never fail. It encodes the frame once; a socket with nothing waiting and a
transport that took everything so far gets it written at once (what ``send_str`` would write,
without a task). Any other socket gets it appended to a bounded queue, which one writer task
per socket drains with ``send_str`` and its flow control. Either way frames reach every socket
in the order they were published, and a socket that is slow, stalled or gone holds up nobody
but itself. A socket that falls too far behind is closed with 1011 rather than allowed to grow
memory.

Queues and writers exist only while frames wait: 10,000 idle sockets cost no tasks and no
queues at all.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import WSCloseCode, web

from mockapi.domain.limits import SOCKETS, SOCKETS_PER_USER
from mockapi.domain.listeners import Listeners
from mockapi.hub._frames import text_frame
from mockapi.hub._silence import silence
from mockapi.jsonfmt import dumps

log = logging.getLogger(__name__)

#: Frames a socket may have waiting before it counts as fallen behind and is closed (1011).
MAX_QUEUED_FRAMES = 256
#: Characters (about bytes) a socket may have waiting, as echoes can be large; one frame always
#: fits an empty queue.
MAX_QUEUED_BYTES = 4 * 1024 * 1024
#: Incoming messages larger than this close the socket (1009); the HTTP body limit, for symmetry.
MAX_MESSAGE_BYTES = 1024 * 1024
#: Wall seconds a close may take before the connection is aborted (a client that stopped reading
#: never takes the close frame; shutdown must not wait for it).
CLOSE_TIMEOUT_S = 0.5
#: uvicorn's default ping interval, which the original ran with: dead peers leave the hub.
HEARTBEAT_S = 20.0

#: Called once a socket has handed over the frames someone waits for.
Waiter = Callable[[], None]


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(eq=False, slots=True)
class Peer:
    """One open socket: its queue, its writer, and the counters :meth:`Hub.flush` waits on."""

    user_id: uuid.UUID
    username: str
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    #: Frames waiting for the writer; None while none wait, which is nearly always (an empty
    #: deque costs 0.6 KiB a socket).
    queue: deque[str] | None = None
    queued_bytes: int = 0
    #: Frames accepted into the queue so far, and frames written to the socket (or dropped).
    accepted: int = 0
    handled: int = 0
    #: True while the writer is inside ``send_str``; seen from another task, that means the
    #: writer is parked in flow control (the send itself never suspends otherwise).
    sending: bool = False
    #: False until the 101 went out: frames published during the handshake wait in the queue.
    ready: bool = False
    gone: bool = False
    #: Made deaf by a fault: nothing is sent to it nor read from it until it is aborted.
    deaf: bool = False
    #: The code the hub closed this socket with (aiohttp reports 1000 for any close it
    #: initiated from another task, so the log keeps the real one).
    closed_with: int | None = None
    writer: asyncio.Task[None] | None = None
    #: Who waits until ``handled`` reaches a target (flushes, closes after the last frame).
    waiters: list[tuple[int, Waiter]] | None = None

    def wait_for(self, target: int, waiter: Waiter) -> None:
        """Call ``waiter`` once ``target`` frames were handed over, or the socket dropped."""
        if self.waiters is None:
            self.waiters = []
        self.waiters.append((target, waiter))

    def wake(self, *, everyone: bool = False) -> None:
        """Call the waiters whose frames were handed over (all of them if asked)."""
        if not self.waiters:
            return
        keep: list[tuple[int, Waiter]] = []
        for target, waiter in self.waiters:
            if everyone or self.handled >= target:
                waiter()
            else:
                keep.append((target, waiter))
        self.waiters = keep or None

    def release_if_stalled(self, handled: int) -> None:
        """Stop flushes from waiting on a socket still stuck on the same frame a turn later."""
        if self.sending and self.handled == handled:
            self.wake(everyone=True)


class Hub:
    """Open sockets by user id; publishes task frames to all of a user's sockets."""

    def __init__(
        self,
        max_frames: int = MAX_QUEUED_FRAMES,
        max_bytes: int = MAX_QUEUED_BYTES,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
        *,
        max_sockets: int = SOCKETS.default,
        max_sockets_per_user: int = SOCKETS_PER_USER.default,
    ) -> None:
        #: The world's socket limits (mockapi.domain.limits): a handshake past one is refused.
        self.max_sockets = max_sockets
        self.max_sockets_per_user = max_sockets_per_user
        #: Sockets registered now, everyone's.
        self.total = 0
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.close_timeout_s = close_timeout_s
        #: Sockets closed because they fell behind, since start (reported in the log).
        self.overflows = 0
        #: Set by :meth:`close_all`; a handshake that completes afterwards is closed at once.
        self.closing = False
        self._peers: dict[uuid.UUID, list[Peer]] = {}
        #: Sockets with frames in their queue or a writer running: all :meth:`flush` looks at.
        self._backlog: set[Peer] = set()
        self._closers: set[asyncio.Task[None]] = set()
        #: Told after a socket is registered or forgotten (the dashboard's socket counts).
        self.listeners = Listeners()

    # -- sockets ---------------------------------------------------------------------------
    def connect(
        self,
        user_id: uuid.UUID,
        username: str,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None = None,
    ) -> Peer:
        """Register a socket of ``user_id`` before its handshake answer goes out.

        Registering first means a client that got its 101 misses no change made after it;
        :meth:`ready` starts the sending once the socket can take frames.
        """
        peer = Peer(user_id=user_id, username=username, ws=ws, transport=transport)
        self._peers.setdefault(user_id, []).append(peer)
        self.total += 1
        log.info("socket opened: user=%s sockets=%d", username, self.count(user_id))
        self.listeners()
        return peer

    def ready(self, peer: Peer) -> None:
        """The handshake of ``peer`` completed: start sending what was queued meanwhile."""
        peer.ready = True
        self._start_writer(peer)

    async def disconnect(self, peer: Peer) -> None:
        """Forget ``peer`` and stop its writer; frames still queued for it are dropped."""
        peers = self._peers.get(peer.user_id, [])
        if peer in peers:
            peers.remove(peer)
            self.total -= 1
            if not peers:
                del self._peers[peer.user_id]
            log.info(
                "socket closed: user=%s sockets=%d code=%s",
                peer.username, self.count(peer.user_id), peer.closed_with or peer.ws.close_code,
            )  # fmt: skip
            self.listeners()
        self._drop(peer)
        await _stop(peer.writer)

    def refusal(self, user_id: uuid.UUID) -> str | None:
        """Why one more socket of ``user_id`` would go over a socket limit, or None."""
        for limit, held, allowed in (
            (SOCKETS_PER_USER, self.count(user_id), self.max_sockets_per_user),
            (SOCKETS, self.total, self.max_sockets),
        ):
            if held >= allowed:
                return (
                    f"Too many {limit.noun}: {allowed:,} open, the limit ({limit.key}). Close one,"
                    f" or raise it with {limit.flag} (or {limit.env}) at start-up."
                )
        return None

    def count(self, user_id: uuid.UUID) -> int:
        """How many sockets ``user_id`` holds."""
        return len(self._peers.get(user_id, ()))

    def has_open(self, user_id: uuid.UUID) -> bool:
        """Whether the user has a socket that frames can still reach."""
        return any(not peer.gone for peer in self._peers.get(user_id, ()))

    def peers(self, user_id: uuid.UUID | None = None) -> list[Peer]:
        """The open sockets of ``user_id`` (of everyone when None), oldest first."""
        if user_id is not None:
            return list(self._peers.get(user_id, ()))
        return list(self._all())

    def _all(self) -> Iterator[Peer]:
        for peers in self._peers.values():
            yield from peers

    # -- sending ---------------------------------------------------------------------------
    def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every socket of ``user_id``; never blocks, never raises."""
        if user_id not in self._peers:
            return  # no socket: nothing to encode (most task changes of a load test)
        try:
            self._send(user_id, dumps(frame), None)
        except Exception:
            # Called from inside a task transition: losing a frame beats breaking the task.
            log.exception("could not publish %r to user %s", frame, user_id)

    def send_text(self, user_id: uuid.UUID, text: str) -> None:
        """Send a text frame to every socket of ``user_id``, in order, without waiting."""
        try:
            payload: bytes | None = text.encode()
        except UnicodeEncodeError:
            payload = None  # queued: send_str refuses it, and the socket is closed, as ever
        self._send(user_id, payload, text)

    def _send(self, user_id: uuid.UUID, payload: bytes | None, text: str | None) -> None:
        """Write the frame to every idle socket of ``user_id`` now; queue it for the others.

        ``payload`` is the frame's UTF-8 (None: queue it everywhere), ``text`` the same as a
        str, made from ``payload`` when a socket needs it queued.
        """
        peers = self._peers.get(user_id)
        if not peers:
            return
        frame: bytes | None = None
        for peer in peers:
            if peer.gone:
                continue
            transport = peer.transport
            if (
                payload is not None
                and peer.queue is None
                and peer.writer is None
                and peer.ready
                and isinstance(transport, asyncio.WriteTransport)
                # Nothing left unsent: a client that stops reading backs its transport up and
                # gets the queue, its bound and send_str's flow control from then on.
                and not transport.get_write_buffer_size()
                and not transport.is_closing()
                and not peer.ws.closed
            ):
                if frame is None:
                    frame = text_frame(payload)
                peer.accepted += 1
                try:
                    transport.write(frame)
                except Exception as exc:
                    self._send_failed(peer, exc)
                    continue
                peer.handled += 1
                continue
            if text is None:
                assert payload is not None  # one of the two is always given
                text = payload.decode()
            self._enqueue(peer, text)

    def _enqueue(self, peer: Peer, text: str) -> None:
        queue = peer.queue
        if queue and (
            len(queue) >= self.max_frames or peer.queued_bytes + len(text) > self.max_bytes
        ):
            self._overflow(peer)
            return
        if queue is None:
            queue = peer.queue = deque()
        queue.append(text)
        peer.queued_bytes += len(text)
        peer.accepted += 1
        self._backlog.add(peer)
        self._start_writer(peer)

    def _send_failed(self, peer: Peer, exc: Exception) -> None:
        log.info("socket of %s failed to send (%r): closing it", peer.username, exc)
        self._drop(peer)
        # Whatever broke, a socket that silently misses frames must not stay open.
        self._spawn_close(peer, WSCloseCode.INTERNAL_ERROR, b"send failed")

    def _start_writer(self, peer: Peer) -> None:
        if peer.ready and peer.writer is None and peer.queue and not peer.gone:
            peer.writer = asyncio.get_running_loop().create_task(self._write(peer))

    async def _write(self, peer: Peer) -> None:
        """Drain ``peer``'s queue in order, then end (the next frame starts a new writer)."""
        loop = asyncio.get_running_loop()
        try:
            while not peer.gone:
                queue = peer.queue
                if not queue:
                    break
                text = queue.popleft()
                peer.queued_bytes -= len(text)
                if peer.waiters:
                    # send_str writes before it can suspend, and it suspends only on flow
                    # control; if it is still busy a loop turn later, the client is not reading
                    # and a flush must not wait for it (a slow socket delays nobody).
                    loop.call_soon(peer.release_if_stalled, peer.handled)
                peer.sending = True
                try:
                    await peer.ws.send_str(text)
                except Exception as exc:  # usually the connection went away under us
                    self._send_failed(peer, exc)
                    return
                finally:
                    peer.sending = False
                peer.handled += 1
                peer.wake()
        finally:
            peer.writer = None
            if not peer.queue:
                # Drained (or dropped): the next frame may go straight to the socket again.
                peer.queue = None
                self._backlog.discard(peer)

    def _drop(self, peer: Peer) -> None:
        """Accept nothing more for ``peer``; anyone flushing stops waiting for it."""
        peer.gone = True
        peer.queue = None
        peer.queued_bytes = 0
        self._backlog.discard(peer)
        peer.wake(everyone=True)

    def _overflow(self, peer: Peer) -> None:
        self.overflows += 1
        log.warning(
            "socket of %s fell behind (%d frames, %d bytes queued): closing it with 1011 "
            "(%d overflow(s) so far)",
            peer.username, len(peer.queue or ()), peer.queued_bytes, self.overflows,
        )  # fmt: skip
        self._drop(peer)
        self._spawn_close(peer, WSCloseCode.INTERNAL_ERROR, b"too slow")

    def _spawn_close(self, peer: Peer, code: WSCloseCode, message: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self.close_socket(peer, code, message))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def close_after_sent(self, user_id: uuid.UUID, code: int, message: bytes = b"") -> int:
        """Close every open socket of ``user_id`` once the frames queued for it went out.

        Never waits (a fault closes sockets from inside a task transition); returns how many
        sockets will close.
        """
        peers = [peer for peer in self._peers.get(user_id, ()) if not peer.gone]
        for peer in peers:
            task = asyncio.get_running_loop().create_task(
                self._close_when_sent(peer, code, message)
            )
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)
        return len(peers)

    def abort_after_sent(self, user_id: uuid.UUID) -> int:
        """End every open connection of ``user_id`` without a close frame, once the frames
        queued for it went out: the client sees the TCP connection close (1006).

        Never waits; returns how many sockets will be aborted.
        """
        peers = [peer for peer in self._peers.get(user_id, ()) if not peer.gone]
        for peer in peers:
            task = asyncio.get_running_loop().create_task(self._abort_when_sent(peer))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)
        return len(peers)

    async def _abort_when_sent(self, peer: Peer) -> None:
        await self._sent(peer)
        self._drop(peer)
        peer.closed_with = peer.closed_with or int(WSCloseCode.ABNORMAL_CLOSURE)
        await _stop(peer.writer)
        if peer.transport is not None:
            # close, not abort: what was written still goes out, then a FIN and no close frame.
            peer.transport.close()

    def deafen(self, user_id: uuid.UUID) -> tuple[int, Callable[[], int]]:
        """Make every open socket of ``user_id`` deaf: no frame sent, no ping answered.

        Returns how many went deaf and what aborts them later (it says how many were still
        open). Frames already queued for them are dropped.
        """
        peers = [peer for peer in self._peers.get(user_id, ()) if not peer.gone]
        for peer in peers:
            self._drop(peer)
            peer.deaf = True
            peer.closed_with = int(WSCloseCode.ABNORMAL_CLOSURE)
            silence(peer.ws)
            log.info("socket of %s is deaf", peer.username)

        def abort() -> int:
            return sum(self._abort(peer) for peer in peers)

        return len(peers), abort

    def abort_deaf(self) -> int:
        """Abort every deaf socket now; how many."""
        return sum(self._abort(peer) for peer in list(self._all()) if peer.deaf)

    def _abort(self, peer: Peer) -> bool:
        """End ``peer``'s connection at once; False if it had ended already."""
        transport = peer.transport
        if transport is None or transport.is_closing():
            return False
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()
        return True

    async def _sent(self, peer: Peer) -> None:
        """Wait until the frames queued for ``peer`` were handed over (or it dropped)."""
        if not peer.gone and peer.handled < peer.accepted:
            # The flush waiters: resolved once the writer handed these frames over, or when
            # the socket drops or stalls (a client that does not read gets its close anyway).
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            peer.wait_for(peer.accepted, partial(_resolve, waiter))
            await waiter

    async def _close_when_sent(self, peer: Peer, code: int, message: bytes) -> None:
        await self._sent(peer)
        await self.close_socket(peer, code, message)

    async def close_socket(self, peer: Peer, code: int, message: bytes = b"") -> None:
        """Close ``peer`` with ``code``; give up and abort after ``close_timeout_s``."""
        self._drop(peer)
        peer.closed_with = peer.closed_with or int(code)
        await _stop(peer.writer)
        try:
            async with asyncio.timeout(self.close_timeout_s):
                await peer.ws.close(code=code, message=message, drain=False)
        except TimeoutError:
            log.debug("socket of %s did not take its close frame", peer.username)
        except Exception as exc:
            log.debug("closing the socket of %s failed: %r", peer.username, exc)
        transport = peer.transport
        if isinstance(transport, asyncio.WriteTransport) and transport.get_write_buffer_size():
            # The close frame is still waiting behind data the client never read; a closed
            # transport waits for its buffer forever, so end the connection outright.
            transport.abort()

    # -- waiting ---------------------------------------------------------------------------
    async def flush(self) -> None:
        """Wait until every queued frame was handed to its socket (or the socket dropped).

        A socket parked in flow control (its client does not read) is not waited for: its
        frames stay queued in order, and it is closed if it falls further behind. Frames
        written straight to their sockets need no wait: only the backlog is looked at, and
        one future covers it.
        """
        pending = [
            peer
            for peer in self._backlog
            if not (peer.gone or peer.sending or peer.handled >= peer.accepted)
        ]
        if not pending:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        remaining = len(pending)

        def one_done() -> None:
            nonlocal remaining
            remaining -= 1
            if not remaining:
                _resolve(done)

        for peer in pending:
            peer.wait_for(peer.accepted, one_done)
        await done

    async def close_all(self) -> None:
        """Close every socket with 1001 (server shutdown)."""
        self.closing = True
        for peer in list(self._all()):
            if peer.deaf:
                self._abort(peer)  # deaf to the end: no close frame
                continue
            self._spawn_close(peer, WSCloseCode.GOING_AWAY, b"server shutdown")
        while self._closers:  # a close can fail a writer, which spawns one more close
            await asyncio.wait(list(self._closers))


async def _stop(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended, without taking on its cancellation."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])
