"""``python -m mockapi``: the command line (:mod:`mockapi.cli`), cyclic GC off while it starts.

Starting imports aiohttp, pydantic and the package and builds the world: hundreds of
thousands of objects that all live as long as the process. The collector would walk them
again and again while they are made (tens of milliseconds of a start, issue 6) and free
nothing. :func:`mockapi.cli.main` freezes them and turns it back on once the app is built.
"""

import gc

gc.disable()

from mockapi.cli import main  # noqa: E402  (after gc.disable: the import is most of the start)

main()
