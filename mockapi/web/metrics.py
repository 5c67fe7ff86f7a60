"""``GET /metrics``: what the server did and holds, in the Prometheus text format.

The figures come in two kinds, each built the cheapest way for it:

- **per request** (requests by route, method and status; the latency histogram): plain
  counts in dicts, handed in by the middleware in bulk (:mod:`mockapi.web.recording`) and
  turned into ``prometheus_client`` families at scrape time. The library's own Counter and
  Histogram take a lock and walk the buckets on every request, a visible share of a health
  answer; the exposition, the format and the parser stay the library's;
- **what the server holds** (open sockets, tasks by kind and status, the world's size, frames
  sent, lost and delayed, faults fired by action): a collector reads them from the live objects
  at scrape time, so they cost nothing between scrapes and can never drift from the truth.

Every :class:`Metrics` has a registry of its own: tests build many apps in one process, and the
library's global registry refuses a second ``mockapi_http_requests_total``. Label values are
bounded (route names, a fixed list of methods, three-digit statuses): a fuzzer sending random
paths and methods cannot grow the series without end.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from mockapi.keys import FAULTS, HUB, RUNTIME
from mockapi.statemachines.task import TaskKind, TaskStatus

#: The text format every Prometheus server reads (version 0.0.4), which is what
#: :func:`generate_latest` writes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: Upper bounds of the latency buckets, in seconds. A mockapi answer takes well under a
#: millisecond, so the library's default first bucket (5 ms) would hold nearly every request;
#: the long tail is for answers a delay fault or a slow client held back.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: Methods that keep their own label value; any other is counted as ``other``.
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: The route label of a request that matched no route (a 404, a 405 of an unknown path).
UNMATCHED = "unmatched"


def _nothing() -> None:
    """Nothing is held elsewhere (the default :attr:`Metrics.flush_pending`)."""


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the scrape-time figures come from: each is asked once per scrape.

    The web layer builds one from the app's hub, runtime and fault engine; it holds callables
    rather than the objects so a reset, which builds a new world, is always seen.
    """

    #: Open WebSockets of the API (the dashboard's feeds are not counted).
    sockets: Callable[[], int]
    #: (kind, status) of every task in the world.
    tasks: Callable[[], Iterable[tuple[str, str]]]
    #: Every task kind and status, so a series at zero is reported rather than missing.
    task_kinds: tuple[str, ...]
    task_statuses: tuple[str, ...]
    #: What the world holds: ``{"users": n, "pools": n, "machines": n, "tasks": n}``.
    world: Callable[[], Mapping[str, int]]
    #: Task frames by fate since start: ``sent``, ``lost``, ``delayed``.
    frames: Callable[[], Mapping[str, int]]
    #: Faults fired since start, by action (``status``, ``reset``, ``lose_frames``...).
    faults: Callable[[], Mapping[str, int]]


class StateCollector(Collector):
    """The figures of what the server holds, read from :class:`Sources` at every scrape."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        sources = self.sources
        sockets = GaugeMetricFamily("mockapi_websockets_open", "Open API WebSockets.")
        sockets.add_metric([], sources.sockets())
        yield sockets

        counts = {
            (kind, status): 0 for kind in sources.task_kinds for status in sources.task_statuses
        }
        for key in sources.tasks():
            counts[key] = counts.get(key, 0) + 1
        tasks = GaugeMetricFamily(
            "mockapi_tasks", "Tasks in the world, by kind and status.", labels=["kind", "status"]
        )
        for (kind, status), count in counts.items():
            tasks.add_metric([kind, status], count)
        yield tasks

        world = GaugeMetricFamily(
            "mockapi_world_size", "What the world holds, by object.", labels=["object"]
        )
        for name, count in sources.world().items():
            world.add_metric([name], count)
        yield world

        frames = CounterMetricFamily(
            "mockapi_ws_frames",
            "Task frames by fate since start: sent to the user's sockets, lost by a fault, "
            "or delayed by one (a delayed frame is counted as sent too, when it goes).",
            labels=["outcome"],
        )
        for outcome, count in sources.frames().items():
            frames.add_metric([outcome], count)
        yield frames

        faults = CounterMetricFamily(
            "mockapi_faults_fired", "Faults that acted since start, by action.", labels=["action"]
        )
        for action, count in sorted(sources.faults().items()):
            faults.add_metric([action], count)
        yield faults


class RequestCollector(Collector):
    """The per-request counts, as Prometheus families when scraped."""

    def __init__(self) -> None:
        #: (route, method, status) -> answers; the status is made a label when scraped (None:
        #: nothing was sent), not on every request.
        self.counts: dict[tuple[str, str, int | None], int] = {}
        #: route -> answers per latency bucket (the last is past every bound: +Inf).
        self.buckets: dict[str, list[int]] = {}
        #: route -> the sum of the latencies.
        self.sums: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "mockapi_http_requests",
            "HTTP requests answered, by route name, method and status.",
            labels=["route", "method", "status"],
        )
        labelled = (
            ((route, method, "none" if status is None else str(status)), count)
            for (route, method, status), count in self.counts.items()
        )
        for labels, count in sorted(labelled):
            requests.add_metric(list(labels), count)
        yield requests
        latency = HistogramMetricFamily(
            "mockapi_http_request_duration_seconds",
            "Wall time from the request's arrival at the middleware to its answer, by route "
            "name (WebSocket sessions are not included).",
            labels=["route"],
        )
        bounds = [floatToGoString(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
        for route, counts in sorted(self.buckets.items()):
            cumulative = list(itertools.accumulate(counts))
            latency.add_metric(
                [route], list(zip(bounds, cumulative, strict=True)), sum_value=self.sums[route]
            )
        yield latency


class Metrics:
    """The registry of one app: the per-request figures and the scrape-time collector."""

    def __init__(self, sources: Sources) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = RequestCollector()
        self.registry.register(self._requests)
        self.registry.register(StateCollector(sources))
        #: Called before the figures are read: answers counted elsewhere and not yet handed
        #: in (the middleware's tally, :mod:`mockapi.web.recording`) come in first.
        self.flush_pending: Callable[[], None] = _nothing
        # Bound once: counting runs for every request.
        self._counts = self._requests.counts
        self._buckets = self._requests.buckets
        self._sums = self._requests.sums

    def observe(
        self, route: str | None, method: str, status: int | None, seconds: float | None
    ) -> None:
        """Count one answer, and time it unless ``seconds`` is None (a WebSocket session).

        ``status`` None: nothing was sent (a fault dropped, reset or hung the connection).
        """
        self.count(route, method, status, 1)
        if seconds is not None:
            self.time(route, [seconds])

    def count(self, route: str | None, method: str, status: int | None, answers: int) -> None:
        """Count ``answers`` answers of one route, method and status."""
        route = route or UNMATCHED
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        counts = self._counts
        counts[key] = counts.get(key, 0) + answers

    def time(self, route: str | None, seconds: Iterable[float]) -> None:
        """Put the latencies of answers of one route in its histogram."""
        route = route or UNMATCHED
        buckets = self._buckets.get(route)
        if buckets is None:
            buckets = self._buckets[route] = [0] * (len(LATENCY_BUCKETS) + 1)
            self._sums[route] = 0.0
        total = self._sums[route]
        for value in seconds:
            # bisect_left: a latency equal to a bound counts in that bound's bucket (le).
            buckets[bisect_left(LATENCY_BUCKETS, value)] += 1
            total += value
        self._sums[route] = total

    def render(self) -> bytes:
        """The text exposition of every figure (what ``GET /metrics`` answers), after the
        answers still held elsewhere (:attr:`flush_pending`) came in."""
        self.flush_pending()
        return generate_latest(self.registry)


#: The app's metrics: the middleware counts every answer into it.
METRICS = web.AppKey("metrics", Metrics)


def setup_metrics(app: web.Application) -> Metrics:
    """Give ``app`` its registry, reading the hub, the runtime and the fault engine."""
    hub, runtime, faults = app[HUB], app[RUNTIME], app[FAULTS]
    metrics = Metrics(
        Sources(
            sockets=lambda: len(hub.peers()),
            tasks=lambda: [(task.kind.value, task.state) for task in runtime.world.tasks.values()],
            task_kinds=tuple(kind.value for kind in TaskKind),
            task_statuses=tuple(status.value for status in TaskStatus),
            world=lambda: {
                "users": len(runtime.world.users),
                "pools": len(runtime.world.pools),
                "machines": len(runtime.world.machines),
                "tasks": len(runtime.world.tasks),
            },
            frames=lambda: faults.frames,
            faults=lambda: faults.fired,
        )
    )
    app[METRICS] = metrics
    return metrics


async def metrics_page(request: web.Request) -> web.StreamResponse:
    """``GET /metrics``: every figure in the Prometheus text format (version 0.0.4)."""
    return web.Response(
        body=request.app[METRICS].render(), headers={hdrs.CONTENT_TYPE: CONTENT_TYPE}
    )
