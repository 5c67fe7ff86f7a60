"""The benchmark suite of mockapi (issue 6): ``python -m benchmarks [--quick] [--write]``.

Not part of the test suite. It starts mockapi and a minimal aiohttp app (the ceiling for this
machine) as subprocesses on free loopback ports, loads them with wrk (or a built-in aiohttp
generator when wrk is missing) and prints the figures next to the targets of issue 6.
"""
