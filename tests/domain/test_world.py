"""The world a scenario describes: stable ids, and users built from groups."""

from __future__ import annotations

import uuid

from mockapi.domain.scenario import parse_scenario
from mockapi.domain.world import Pool, World, stable_uuid4

NAMESPACE = uuid.UUID("4d6f636b-4150-4900-8000-000000000000")


def test_a_stable_id_is_uuid5_of_the_name_shaped_as_version_4() -> None:
    for name in ("user:load00001", "user:load10000", "", "user:ünïcødé"):
        expected = bytearray(uuid.uuid5(NAMESPACE, name).bytes)
        expected[6] = (expected[6] & 0x0F) | 0x40
        expected[8] = (expected[8] & 0x3F) | 0x80
        assert stable_uuid4(name) == uuid.UUID(bytes=bytes(expected))
        assert stable_uuid4(name).version == 4
        assert stable_uuid4(name).variant == uuid.RFC_4122


def test_users_of_a_group_share_its_pools_but_not_one_list() -> None:
    scenario = parse_scenario(
        {
            "pools": [
                {"id": "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01", "name": "alpha"},
                {"id": "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d02", "name": "beta"},
            ],
            "user_groups": [{"prefix": "load", "count": 3, "pools": ["beta", "alpha"]}],
        }
    )
    world = World(scenario)
    users = [world.users_by_name[f"load{index:05d}"] for index in (1, 2, 3)]
    beta, alpha = world.pools_by_name["beta"], world.pools_by_name["alpha"]
    assert [user.pool_ids for user in users] == [[beta.id, alpha.id]] * 3
    assert [user.id for user in users] == [stable_uuid4(f"user:{u.username}") for u in users]
    # create_pools extends the lists of the users it is given, and only theirs.
    world.create_pools(1, 0, users[:1])
    assert len(users[0].pool_ids) == 3
    assert len(users[1].pool_ids) == len(users[2].pool_ids) == 2


def test_a_users_pools_follow_created_and_added_pools_in_scenario_order() -> None:
    scenario = parse_scenario(
        {
            "pools": [
                {"id": "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01", "name": "alpha"},
                {"id": "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d02", "name": "beta"},
            ],
            "user_groups": [{"prefix": "load", "count": 2, "pools": ["beta", "alpha", "beta"]}],
        }
    )
    world = World(scenario)
    first, second = world.users_by_name["load00001"], world.users_by_name["load00002"]
    alpha, beta = world.pools_by_name["alpha"], world.pools_by_name["beta"]
    # Scenario order, each pool once, whatever order and repeats the user lists.
    assert world.user_pools(first) == (alpha, beta)
    assert world.user_pools(first) is world.user_pools(first)  # remembered between requests
    [created] = world.create_pools(1, 0, [first])
    assert world.user_pools(first) == (alpha, beta, created)
    assert world.user_pools(second) == (alpha, beta)
    # A pool added after a user already lists its id appears once it exists.
    late = uuid.UUID("5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d03")
    second.pool_ids.append(late)
    assert world.user_pools(second) == (alpha, beta)
    added = world.add_pool(Pool(late, "late", "ACTIVE", False, "STATIC", "Linux", ["GLINT"], 0))
    assert world.user_pools(second) == (alpha, beta, added)


def test_a_pool_as_a_dict_has_its_id_dashed_and_lower_case() -> None:
    pool_id = uuid.UUID("5D0E8C2A-7A61-4B6E-8F4C-3C9A1E2B7D01")
    pool = Pool(pool_id, "alpha", "ACTIVE", True, "AUTOMATED", "Windows", ["RDP"], -1)
    assert pool.to_dict() == {
        "id": "5d0e8c2a-7a61-4b6e-8f4c-3c9a1e2b7d01",
        "name": "alpha",
        "status": "ACTIVE",
        "is_favorite": True,
        "pool_type": "AUTOMATED",
        "os_type": "Windows",
        "connection_types": ["RDP"],
    }
    assert pool.to_dict()["connection_types"] is not pool.connection_types
