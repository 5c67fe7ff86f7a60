"""World limits: counted from what a scenario states, refused with the §3 422 item."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from mockapi.domain.limits import (
    LIMITS,
    MACHINES,
    POOLS,
    SCENARIO_LOCS,
    USERS,
    Excess,
    LimitExceeded,
    Limits,
    LimitSettings,
    WorldCounts,
    check_growth,
    count_scenario,
    excesses,
    resolve,
)
from mockapi.domain.scenario import Scenario, UserGroupSpec, parse_scenario, shipped_scenarios

POOL = {"id": "00000000-0000-4000-8000-000000000001", "name": "p1", "free_machines": 7}


def scenario(**sections: Any) -> Any:
    return parse_scenario({"pools": [POOL], **sections})


def test_a_group_counts_as_the_users_it_would_make_and_nothing_is_generated() -> None:
    # Two billion users are counted from the two entries that ask for them, in no time.
    big = UserGroupSpec.model_construct(prefix="u", count=1_000_000_000, pools=["p1"])
    counted = count_scenario(Scenario.model_construct(user_groups=[big, big], pools=[]))
    assert counted.users == 2_000_000_000
    assert counted.assignments == 2_000_000_000


def test_counts_every_kind_of_thing_a_scenario_builds() -> None:
    counted = count_scenario(
        scenario(
            users=[
                {"id": "00000000-0000-4000-8000-0000000000a1", "username": "a", "pools": ["p1"]}
            ],
            user_groups=[{"prefix": "g", "count": 3, "pools": ["p1"]}],
            machines=[
                {"id": "00000000-0000-4000-8000-0000000000b1", "verbose_name": "m", "pool": "p1"}
            ],
            tasks=[{"id": "00000000-0000-4000-8000-0000000000c1", "user": "a"}],
            rules=[{"user": "a", "outcome": "FAILED"}, {"pool": "p1", "expandable": False}],
            faults=[{"path": "/api/v2/health/", "status": 503}],
        )
    )
    assert counted == WorldCounts(
        users=4, pools=1, machines=8, assignments=4, tasks=1, rules=2, faults=1
    )


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda path: path.name)
def test_every_shipped_scenario_fits_the_default_limits(path: Any) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert excesses(Limits(), count_scenario(parse_scenario(data)), SCENARIO_LOCS) == []


def test_the_defaults_hold_a_100000_user_load_test_and_a_full_create_pools() -> None:
    load_test = WorldCounts(users=100_000, pools=4, assignments=400_000, machines=200_000)
    assert excesses(Limits(), load_test, SCENARIO_LOCS) == []
    full_call = WorldCounts(pools=500, machines=500 * 500)
    assert excesses(Limits(), full_call, SCENARIO_LOCS) == []


def test_an_excess_is_a_422_item_naming_limit_number_and_setting() -> None:
    [excess] = excesses(Limits(max_users=10), WorldCounts(users=11), SCENARIO_LOCS)
    assert excess.item() == {
        "type": "limit_exceeded",
        "loc": ["body", "user_groups"],
        "msg": "Too many users: 11 asked for, the limit (max_users) is 10. Raise it with "
        "--max-users (or MOCKAPI_MAX_USERS) at start-up, or max_users in the [settings] of "
        "the scenario the server starts with.",
        "input": 11,
        "ctx": {"limit": "max_users", "allowed": 10, "flag": "--max-users",
                "env": "MOCKAPI_MAX_USERS"},
        "err_code": 999,
    }  # fmt: skip
    # The keys in CONTRACT §3's order: type, loc, msg, input, ctx, err_code.
    assert list(excess.item()) == ["type", "loc", "msg", "input", "ctx", "err_code"]
    assert excess.problem.startswith("user_groups: Too many users: 11 asked for")


def test_exactly_at_the_limit_is_allowed() -> None:
    assert excesses(Limits(max_pools=5), WorldCounts(pools=5), SCENARIO_LOCS) == []


def test_every_limit_gone_over_is_named_at_once() -> None:
    found = excesses(
        Limits(max_users=1, max_pools=1, max_machines=1),
        WorldCounts(users=2, pools=2, machines=2),
        SCENARIO_LOCS,
    )
    assert [excess.limit for excess in found] == [USERS, POOLS, MACHINES]


def test_growth_counts_what_the_world_holds_already() -> None:
    locs = {"pools": ("body", "count"), "machines": ("body", "create_machines_count")}
    current = WorldCounts(users=6, pools=4, machines=11)
    check_growth(Limits(max_pools=5), current, WorldCounts(pools=1), locs)
    with pytest.raises(LimitExceeded) as caught:
        check_growth(
            Limits(max_pools=5, max_machines=20), current, WorldCounts(pools=2, machines=10), locs
        )
    assert caught.value.excesses == [
        Excess(POOLS, 5, 6, ("body", "count")),
        Excess(MACHINES, 20, 21, ("body", "create_machines_count")),
    ]
    assert [item["loc"] for item in caught.value.detail()] == [
        ["body", "count"],
        ["body", "create_machines_count"],
    ]


def test_a_world_already_over_a_lowered_limit_may_still_shrink_or_stay() -> None:
    # Only what a change adds is refused: adding no pools never fails on pools.
    check_growth(Limits(max_pools=1), WorldCounts(pools=4), WorldCounts(users=1), {})


def test_a_flag_wins_over_the_scenario_which_wins_over_the_default() -> None:
    limits = resolve({"max_users": 5, "max_pools": None}, {"max_users": 7, "max_pools": 9})
    assert (limits.max_users, limits.max_pools, limits.max_tasks) == (5, 9, Limits().max_tasks)


def test_a_later_scenario_may_lower_a_limit_but_never_raise_it() -> None:
    ceiling = Limits(max_users=100)
    assert ceiling.lowered({"max_users": 10}).max_users == 10
    assert ceiling.lowered({"max_users": 1_000}).max_users == 100
    assert ceiling.lowered({"max_users": None}).max_users == 100


def test_settings_know_every_limit_and_refuse_nonsense() -> None:
    assert set(LimitSettings.model_fields) == {limit.key for limit in LIMITS}
    assert LimitSettings(max_users=3).limit_values()["max_users"] == 3
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        LimitSettings(max_users=0)


def test_each_limit_has_a_flag_and_an_env_variable() -> None:
    assert [(limit.flag, limit.env) for limit in LIMITS][:2] == [
        ("--max-users", "MOCKAPI_MAX_USERS"),
        ("--max-pools", "MOCKAPI_MAX_POOLS"),
    ]
    assert all(Limits()[limit] == limit.default for limit in LIMITS)
