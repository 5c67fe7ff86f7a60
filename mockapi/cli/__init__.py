"""The ``mockapi`` command (also ``python -m mockapi``): serve, or run one of the tools.

``mockapi [options]`` serves (:mod:`mockapi.cli.serve`); ``mockapi scenario ...``,
``mockapi diagrams ...`` and ``mockapi coverage ...`` are tools, and ``mockapi ctl ...``
steers a running server (:mod:`mockapi.cli.ctl`). Each sub-command's module is imported
only when it is asked for, so a tool does not pay for the server's imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

#: Sub-command name -> the module whose ``main(argv) -> int`` runs it.
TOOLS = {
    "scenario": "mockapi.cli.scenario",
    "diagrams": "mockapi.cli.diagrams",
    "ctl": "mockapi.cli.ctl",
    "proxy": "mockapi.cli.proxy",
    "capture": "mockapi.cli.capture",
    "drift": "mockapi.cli.drift",
    "coverage": "mockapi.cli.coverage",
}


def _entry(module: str) -> Callable[[Sequence[str]], int]:
    main: Callable[[Sequence[str]], int] = importlib.import_module(module).main
    return main


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m mockapi`` and the ``mockapi`` script; exits with the code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        raise SystemExit(_entry(TOOLS[args[0]])(args[1:]))
    from mockapi.cli._startup import collector_paused

    # The server's imports and the world it builds live as long as the process: the cyclic
    # collector is paused while they are made (see mockapi.cli._startup).
    with collector_paused():
        from mockapi.cli import serve
    raise SystemExit(serve.main(args))
