"""The metrics registry on its own: per-request figures, scrape-time figures from live objects,
read back with prometheus_client's own parser."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client.parser import text_string_to_metric_families

from mockapi.domain.scenario import default_scenario_path, load_scenario
from mockapi.domain.world import World
from mockapi.statemachines.task import TaskKind, TaskStatus
from mockapi.web.metrics import LATENCY_BUCKETS, Metrics, Sources


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition by (name, labels), as a scraper reads them."""
    text = metrics.render().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def make(world: World, frames: Tally[str], fired: Tally[str], sockets: list[int]) -> Metrics:
    return Metrics(
        Sources(
            sockets=lambda: sockets[0],
            tasks=lambda: [(t.kind.value, t.status.value) for t in world.tasks.values()],
            task_kinds=tuple(kind.value for kind in TaskKind),
            task_statuses=tuple(status.value for status in TaskStatus),
            world=lambda: {
                "users": len(world.users),
                "pools": len(world.pools),
                "machines": len(world.machines),
                "tasks": len(world.tasks),
            },
            frames=lambda: frames,
            faults=lambda: fired,
        )
    )


def label(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_requests_are_counted_by_route_method_and_status_and_timed() -> None:
    world = World(load_scenario(default_scenario_path()))
    metrics = make(world, Tally(), Tally(), [0])
    metrics.observe("health", "GET", 200, 0.0002)
    metrics.observe("health", "GET", 200, 0.0003)
    metrics.observe("login", "POST", 401, 0.002)
    metrics.observe(None, "BREW", 404, 0.0001)
    metrics.observe("pools-ws", "GET", 101, None)
    got = samples(metrics)
    requests = "mockapi_http_requests_total"
    assert got[(requests, label(route="health", method="GET", status="200"))] == 2
    assert got[(requests, label(route="login", method="POST", status="401"))] == 1
    # An unknown path and a made-up method fall into bounded label values.
    assert got[(requests, label(route="unmatched", method="other", status="404"))] == 1
    assert got[(requests, label(route="pools-ws", method="GET", status="101"))] == 1
    latency = "mockapi_http_request_duration_seconds"
    assert got[(f"{latency}_count", label(route="health"))] == 2
    assert abs(got[(f"{latency}_sum", label(route="health"))] - 0.0005) < 1e-12
    assert got[(f"{latency}_bucket", label(route="health", le="0.00025"))] == 1
    assert got[(f"{latency}_bucket", label(route="health", le="0.0005"))] == 2
    assert got[(f"{latency}_bucket", label(route="login", le="0.001"))] == 0
    assert got[(f"{latency}_bucket", label(route="login", le="+Inf"))] == 1
    # A WebSocket session is counted but not timed.
    assert (f"{latency}_count", label(route="pools-ws")) not in got
    assert len(LATENCY_BUCKETS) == len(set(LATENCY_BUCKETS))


def test_state_is_read_at_scrape_time_from_the_live_objects() -> None:
    world = World(load_scenario(default_scenario_path()))
    frames: Tally[str] = Tally(sent=3, lost=1, delayed=2)
    fired: Tally[str] = Tally(status=4, reset=1)
    sockets = [2]
    metrics = make(world, frames, fired, sockets)
    got = samples(metrics)
    assert got[("mockapi_websockets_open", label())] == 2
    assert got[("mockapi_world_size", label(object="users"))] == len(world.users) > 0
    assert got[("mockapi_world_size", label(object="pools"))] == len(world.pools) > 0
    assert got[("mockapi_ws_frames_total", label(outcome="lost"))] == 1
    assert got[("mockapi_faults_fired_total", label(action="status"))] == 4
    # Every kind and status is reported, at zero when no task has it.
    for kind in TaskKind:
        for status in TaskStatus:
            expected = sum(1 for t in world.tasks.values() if t.kind is kind and t.status is status)
            assert got[("mockapi_tasks", label(kind=kind.value, status=status.value))] == expected
    # Changes show on the next scrape, with nothing told.
    sockets[0] = 0
    fired["reset"] += 1
    world.users.clear()
    got = samples(metrics)
    assert got[("mockapi_websockets_open", label())] == 0
    assert got[("mockapi_faults_fired_total", label(action="reset"))] == 2
    assert got[("mockapi_world_size", label(object="users"))] == 0


def test_each_app_has_a_registry_of_its_own() -> None:
    world = World(load_scenario(default_scenario_path()))
    first = make(world, Tally(), Tally(), [0])
    second = make(world, Tally(), Tally(), [0])
    first.observe("health", "GET", 200, 0.001)
    key = ("mockapi_http_requests_total", label(route="health", method="GET", status="200"))
    assert samples(first)[key] == 1
    assert key not in samples(second)


def test_an_answer_never_sent_is_counted_with_the_status_none() -> None:
    world = World(load_scenario(default_scenario_path()))
    metrics = make(world, Tally(), Tally(), [0])
    metrics.observe("pools", "GET", None, 0.001)  # a fault dropped, reset or hung it
    metrics.observe("pools", "GET", 200, 0.001)
    got = samples(metrics)
    requests = "mockapi_http_requests_total"
    assert got[(requests, label(route="pools", method="GET", status="none"))] == 1
    assert got[(requests, label(route="pools", method="GET", status="200"))] == 1
