"""Visitors' browsing histories on the real embedded Redis (plugin.store.browsing): newest
first, each product once at its latest time, bounded, expiring, per shop and visitor."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.store import keys
from plugin.store.browsing import (
    MAX_BROWSED,
    browsed,
    browsing_history,
    record_browsing,
    visitor_id,
)
from plugin.store.fields import PayloadError
from tests.conftest import Store

NOW = 1_800_000_000.0
DAY = 86_400.0


def test_products_come_newest_first_each_once_at_its_latest_view(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        kept = await record_browsing(redis, shop_id, "v1", [
            ("p1", NOW - 50), ("p2", NOW - 40), ("p3", NOW - 30), ("p1", NOW - 20)], NOW)
        first = await browsed(redis, shop_id, "v1", NOW)
        await record_browsing(redis, shop_id, "v1", [("p3", NOW - 99)], NOW)  # a late beacon
        return kept, first, await browsed(redis, shop_id, "v1", NOW)

    kept, first, after_late = store.run(work)
    assert kept == 4
    assert first == ("p1", "p3", "p2")
    assert after_late == first  # an older event moves nothing back


def test_the_whole_history_is_read_with_its_times_for_an_export(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        await record_browsing(redis, shop_id, "v1", [("p1", NOW - 50), ("p2", NOW - 40.5),
                                                     ("p1", NOW - 20)], NOW)
        return (await browsing_history(redis, shop_id, "v1"),
                await browsing_history(redis, shop_id, "v-unknown"))

    assert store.run(work) == ([("p1", NOW - 20), ("p2", NOW - 40.5)], [])


def test_the_history_is_bounded_and_expires(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    events = [(f"p{n}", NOW - 1000 + n) for n in range(MAX_BROWSED + 20)]

    async def work(redis: Any) -> tuple[tuple[str, ...], int, int]:
        await record_browsing(redis, shop_id, "v1", events, NOW)
        key = keys.visitor_browsing(shop_id, "v1")
        return await browsed(redis, shop_id, "v1", NOW), await redis.zcard(key), \
            await redis.ttl(key)

    found, stored, ttl = store.run(work)
    assert found == tuple(f"p{n}" for n in reversed(range(20, MAX_BROWSED + 20)))
    assert stored == MAX_BROWSED
    assert keys.BROWSING_TTL_SECONDS - 60 < ttl <= keys.BROWSING_TTL_SECONDS


def test_events_past_the_span_are_ignored_and_stale_views_not_read(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    span = keys.BROWSING_TTL_SECONDS

    async def work(redis: Any) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        kept = await record_browsing(redis, shop_id, "v1", [
            ("old", NOW - span - 1), ("new", NOW - 5), ("future", NOW + DAY)], NOW)
        # read a day later than it was written: "new" is 1 day old, still there
        return kept, await browsed(redis, shop_id, "v1", NOW + DAY), \
            await browsed(redis, shop_id, "v1", NOW + span)

    kept, later, past = store.run(work)
    assert kept == 2  # "future" counts as now
    assert later == ("future", "new")
    assert past == ("future",)  # "new" is past the span by then (read, not yet trimmed)


def test_histories_are_per_visitor_and_per_shop(store: Store, make_shop: Any) -> None:
    one, other = make_shop().shop.shop_id, make_shop().shop.shop_id

    async def work(redis: Any) -> list[tuple[str, ...]]:
        await record_browsing(redis, one, "v1", [("a", NOW)], NOW)
        await record_browsing(redis, one, "v2", [("b", NOW)], NOW)
        return [await browsed(redis, one, "v1", NOW), await browsed(redis, one, "v2", NOW),
                await browsed(redis, other, "v1", NOW), await browsed(redis, one, "v3", NOW)]

    assert store.run(work) == [("a",), ("b",), (), ()]


@pytest.mark.parametrize("good", ["9f3c2a71d04b4e59a8e3c1b2f6d7e8a0", "s:1.2_x-Y", "v" * 128])
def test_visitor_ids_follow_the_widgets_rule(good: str) -> None:
    assert visitor_id(good) == good


@pytest.mark.parametrize("bad", ["", "v" * 129, "has space", "é", "a/b", None, 7, "x\n"])
def test_other_visitor_ids_are_refused_naming_the_field(bad: Any) -> None:
    with pytest.raises(PayloadError, match=r"^visitor_id must be 1 to 128 letters"):
        visitor_id(bad)
