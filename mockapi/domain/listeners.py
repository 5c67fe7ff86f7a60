"""Change listeners: how an observer (the dashboard feed) hears that something changed.

The clock, the runtime and the socket hub each keep one :class:`Listeners`, called after every
change they make. A listener is called synchronously from inside the change (a task
transition, a socket registration), so it must only note the change and return: the dashboard
sets a flag and wakes its writer. A listener that raises is logged and skipped; it can never
undo, stop or delay the change itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[[], None]


class Listeners:
    """Callbacks run, in order, after each change of their owner."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: list[Listener] = []

    def add(self, callback: Listener) -> None:
        """Call ``callback`` after every change from now on."""
        self._callbacks.append(callback)

    def remove(self, callback: Listener) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __len__(self) -> int:
        return len(self._callbacks)

    def __call__(self) -> None:
        """Tell every listener; none may raise into the caller."""
        for callback in tuple(self._callbacks):
            try:
                callback()
            except Exception:
                log.exception("change listener %r failed", callback)
