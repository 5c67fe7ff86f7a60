"""The cyclic garbage collector during the server's start: paused, then frozen.

Starting imports aiohttp, pydantic and the package and builds the world: hundreds of
thousands of objects that all live as long as the process. The collector would walk them
again and again while they are made, and free nothing. It is paused for the imports
(:func:`collector_paused`), stays off while the app and its world are built, and
:func:`resume_collector` freezes what start-up made and turns it back on. The figures are in
docs/performance.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Switch the collector off for the block; :func:`resume_collector` turns it back on.

    Leaving the block does not re-enable it: the world is built after the imports, and the
    server calls :func:`resume_collector` once it is. An exception re-enables it at once.
    """
    gc.disable()
    try:
        yield
    except BaseException:
        gc.enable()
        raise


def resume_collector() -> None:
    """Start-up is over: freeze what it made and let the cyclic collector run again.

    Frozen objects are never walked by later collections. The price: the few cycles start-up
    leaves as garbage stay; a full collection now to free them would cost more of the start
    than they are worth.
    """
    gc.freeze()
    gc.enable()
