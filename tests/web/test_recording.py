"""The answer tally: answers counted in bulk equal answers counted one by one, and no reader
of the metrics or the coverage ever misses one."""

from __future__ import annotations

import random
from collections import Counter as Tally

from mockapi.domain import errors
from mockapi.domain.coverage import Coverage
from mockapi.domain.scenario import default_scenario_path, load_scenario
from mockapi.domain.world import World
from mockapi.web.metrics import Metrics
from mockapi.web.recording import FLUSH_EVERY, Answer, AnswerTally, RouteFacts
from tests.web.test_metrics import make, samples

HEALTH = RouteFacts("health", "/api/v2/health/", True)
POOLS = RouteFacts("pools", "/api/v2/pools/", True)
PAGE = RouteFacts("dashboard", "/dashboard/", False)
ROUTES = [("GET", "/api/v2/health/", [200]), ("GET", "/api/v2/pools/", [200, 403])]


def sinks() -> tuple[Metrics, Coverage]:
    world = World(load_scenario(default_scenario_path()))
    coverage = Coverage()
    coverage.expect_routes(ROUTES)
    return make(world, Tally(), Tally(), [0]), coverage


def answers(count: int) -> list[Answer]:
    """A mixed run: routes, methods, statuses, dropped answers, untimed ones, error entries."""
    rng = random.Random(7)
    made: list[Answer] = []
    for _ in range(count):
        route = rng.choice([HEALTH, POOLS, PAGE])
        sent = rng.choice([200, 200, 403, None])
        error = errors.PERMISSION_DENIED if sent == 403 else None
        seconds = rng.choice([None, 0.00005, 0.0003, 0.002, 0.3])
        made.append(
            (
                route,
                rng.choice(["GET", "BREW"]),
                sent,
                seconds,
                error,
                bool(route.journaled) and sent is not None,
            )
        )
    return made


def test_answers_counted_in_bulk_equal_answers_counted_one_by_one() -> None:
    bulk_metrics, bulk_coverage = sinks()
    one_metrics, one_coverage = sinks()
    tally = AnswerTally(bulk_metrics, bulk_coverage)
    run = answers(3 * FLUSH_EVERY + 17)
    for route, method, sent, seconds, error, covered in run:
        tally.note(route, method, sent, seconds, error, covered)
        one_metrics.observe(route.name, method, sent, seconds)
        if covered and sent is not None:
            one_coverage.note_answer(method, route.template, sent, error)
    bulk, one = samples(bulk_metrics), samples(one_metrics)
    assert bulk.keys() == one.keys()
    for key, value in one.items():
        assert abs(bulk[key] - value) < 1e-9, key
    assert bulk_coverage.view() == one_coverage.view()


def test_at_most_flush_every_answers_wait() -> None:
    metrics, coverage = sinks()
    tally = AnswerTally(metrics, coverage)
    for _ in range(FLUSH_EVERY - 1):
        tally.note(HEALTH, "GET", 200, 0.001, None, True)
    assert len(tally._answers) == FLUSH_EVERY - 1
    tally.note(HEALTH, "GET", 200, 0.001, None, True)
    assert tally._answers == []
    requests = (
        "mockapi_http_requests_total",
        frozenset({("route", "health"), ("method", "GET"), ("status", "200")}),
    )
    assert samples(metrics)[requests] == FLUSH_EVERY


def test_every_reader_sees_the_answers_noted_before_it() -> None:
    metrics, coverage = sinks()
    tally = AnswerTally(metrics, coverage)
    tally.note(POOLS, "GET", 403, 0.001, errors.PERMISSION_DENIED, True)
    routes = {(r["path"], r["status"]): r["count"] for r in coverage.view()["routes"]}
    assert routes[("/api/v2/pools/", 403)] == 1
    tally.note(POOLS, "GET", 200, 0.001, None, True)
    requests = (
        "mockapi_http_requests_total",
        frozenset({("route", "pools"), ("method", "GET"), ("status", "200")}),
    )
    assert samples(metrics)[requests] == 1


def test_a_reset_counts_what_came_before_it_in_the_metrics_not_in_the_new_coverage() -> None:
    metrics, coverage = sinks()
    tally = AnswerTally(metrics, coverage)
    tally.note(HEALTH, "GET", 200, 0.001, None, True)
    coverage.clear()
    routes = {(r["path"], r["status"]): r["count"] for r in coverage.view()["routes"]}
    assert routes[("/api/v2/health/", 200)] == 0
    requests = (
        "mockapi_http_requests_total",
        frozenset({("route", "health"), ("method", "GET"), ("status", "200")}),
    )
    assert samples(metrics)[requests] == 1
