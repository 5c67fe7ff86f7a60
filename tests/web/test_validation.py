"""Query validation: a request without a query string shares its frozen model's defaults."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import BaseModel, ConfigDict

from mockapi.web.api.pools import PoolsQuery
from mockapi.web.validation import ValidationFailed, parse_query


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)
    page: int = 1


class Mutable(BaseModel):
    page: int = 1


class FrozenRequired(BaseModel):
    model_config = ConfigDict(frozen=True)
    username: str


async def test_a_frozen_model_without_a_query_is_validated_once_and_shared() -> None:
    first = await parse_query(make_mocked_request("GET", "/x/"), Frozen)
    second = await parse_query(make_mocked_request("GET", "/x/"), Frozen)
    assert first == Frozen.model_validate({})
    assert second is first


async def test_a_query_string_is_always_validated() -> None:
    shared = await parse_query(make_mocked_request("GET", "/x/"), Frozen)
    given = await parse_query(make_mocked_request("GET", "/x/?page=3"), Frozen)
    assert (given.page, given is shared) == (3, False)


async def test_a_model_that_may_change_is_made_anew_for_every_request() -> None:
    first = await parse_query(make_mocked_request("GET", "/x/"), Mutable)
    second = await parse_query(make_mocked_request("GET", "/x/"), Mutable)
    assert first == second
    assert first is not second


async def test_a_frozen_model_with_a_required_field_still_answers_its_422() -> None:
    for _ in range(2):  # the failed defaults are not kept either
        with pytest.raises(ValidationFailed) as raised:
            await parse_query(make_mocked_request("GET", "/x/"), FrozenRequired)
        assert [item["loc"] for item in raised.value.errors] == [["query", "username"]]


def test_the_pools_query_is_frozen_so_its_defaults_are_shared() -> None:
    assert PoolsQuery.model_config.get("frozen") is True
    with pytest.raises(ValueError, match="frozen"):
        PoolsQuery().page = 2
