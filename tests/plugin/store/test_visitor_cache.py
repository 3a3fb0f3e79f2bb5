"""Visitors' browsing histories held per process (plugin.store.visitor_cache), on the real
embedded Redis and on the test Redis Cluster: two ShopCaches on one Redis stand for two
processes, each with its own refresh; a view is served at once where it was recorded and by
the other after its next refresh, not before."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.store import keys, visitor_cache
from plugin.store.browsing import visitor_digest
from plugin.store.cache import ShopCache
from plugin.store.erasure import erase_customer
from plugin.store.shops import add_shop
from plugin.store.tracking import link_visitor
from tests.conftest import Store
from tests.plugin.store.test_cache import Counting

NOW = time.time()


@pytest.fixture(params=["redis", "cluster"])
def where(request: pytest.FixtureRequest) -> Store:
    """The embedded Redis, then the test cluster: the same test on both."""
    chosen: Store = request.getfixturevalue("store" if request.param == "redis"
                                            else "cluster_store")
    return chosen


def new_shop(where: Store) -> str:
    shop_id = "t-" + uuid.uuid4().hex[:12]
    where.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                 "http://testserver"))
    return shop_id


async def process(where: Store, shop_id: str) -> ShopCache:
    """A ShopCache on a client of its own holding the shop: one process."""
    client = where.client()
    await where.ready(client)
    cache = ShopCache(client)
    assert await cache.shop(shop_id) is not None
    return cache


def test_a_view_recorded_in_one_process_reaches_another_at_its_next_refresh(
        where: Store) -> None:
    shop_id = new_shop(where)

    async def work(redis: aioredis.Redis) -> list[tuple[str, ...]]:
        a, b = await process(where, shop_id), await process(where, shop_id)
        try:
            await a.visitors.record(shop_id, "v1", [("p1", NOW - 10)], NOW)
            seen = [await b.visitors.browsed(shop_id, "v1", NOW)]  # read, then held
            await a.visitors.record(shop_id, "v1", [("p2", NOW - 5)], NOW)
            seen.append(await a.visitors.browsed(shop_id, "v1", NOW))  # at once where recorded
            seen.append(await b.visitors.browsed(shop_id, "v1", NOW))  # held: before the note
            await b.refresh()
            seen.append(await b.visitors.browsed(shop_id, "v1", NOW))
            return seen
        finally:
            await a.redis.aclose()
            await b.redis.aclose()

    assert where.run(work) == [("p1",), ("p2", "p1"), ("p1",), ("p2", "p1")]


def test_running_processes_serve_a_view_within_the_refresh_bound(where: Store) -> None:
    shop_id = new_shop(where)

    async def work(redis: aioredis.Redis) -> tuple[tuple[str, ...], float]:
        a, b = await process(where, shop_id), await process(where, shop_id)
        stop = asyncio.Event()
        loops = [asyncio.ensure_future(c.run(stop)) for c in (a, b)]
        try:
            assert await b.visitors.browsed(shop_id, "v1") == ()
            await a.visitors.record(shop_id, "v1", [("p1", time.time())])
            recorded = time.monotonic()
            while (found := await b.visitors.browsed(shop_id, "v1")) == () \
                    and time.monotonic() < recorded + 5:
                await asyncio.sleep(0.005)
            return found, time.monotonic() - recorded
        finally:
            stop.set()
            await asyncio.gather(*loops)
            await a.redis.aclose()
            await b.redis.aclose()

    found, waited = where.run(work)
    assert found == ("p1",)
    # REFRESH_SECONDS plus a round trip; the margin is for a loaded shared machine
    assert waited < 0.25 + 1.0


def test_the_recording_process_holds_the_new_history_without_a_read(store: Store,
                                                                       shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[tuple[str, ...], tuple[str, ...], int]:
        counting = Counting(redis)
        cache = ShopCache(counting)  # type: ignore[arg-type]
        await cache.visitors.record(shop_id, "v1", [("p1", NOW - 3)], NOW)
        before = counting.calls
        first = await cache.visitors.browsed(shop_id, "v1", NOW)
        await cache.visitors.record(shop_id, "v1", [("p2", NOW - 2)], NOW)
        after = counting.calls
        second = await cache.visitors.browsed(shop_id, "v1", NOW)
        return first, second, (after - before - 1) + (counting.calls - after)

    first, second, reads = store.run(work)
    assert (first, second, reads) == (("p1",), ("p2", "p1"), 0)


def test_a_visitor_never_seen_is_held_too_and_served_without_a_read(store: Store,
                                                                     shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[int, int]:
        counting = Counting(redis)
        cache = ShopCache(counting)  # type: ignore[arg-type]
        assert await cache.visitors.browsed(shop_id, "nobody") == ()
        first = counting.calls
        assert await cache.visitors.browsed(shop_id, "nobody") == ()
        return first, counting.calls - first

    first, again = store.run(work)
    assert first >= 1 and again == 0  # (a first EVALSHA may need SCRIPT LOAD)


def test_a_held_history_still_leaves_out_what_is_past_its_span(store: Store,
                                                                 shop: Any) -> None:
    shop_id = shop.shop.shop_id
    span = keys.BROWSING_TTL_SECONDS

    async def work(redis: aioredis.Redis) -> list[tuple[str, ...]]:
        cache = ShopCache(redis)
        await cache.visitors.record(shop_id, "v1", [("old", NOW - 100), ("new", NOW - 10)],
                                    NOW)
        await redis.delete(keys.visitor_browsing(shop_id, "v1"))  # served from memory only
        return [await cache.visitors.browsed(shop_id, "v1", NOW),
                await cache.visitors.browsed(shop_id, "v1", NOW + span - 50),
                await cache.visitors.browsed(shop_id, "v1", NOW + span)]

    assert store.run(work) == [("new", "old"), ("new",), ()]


def test_a_gap_in_the_notes_drops_every_history_of_the_shop(store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[int, int, tuple[str, ...]]:
        a, b = ShopCache(redis), ShopCache(redis)
        await b.shop(shop_id)
        await a.visitors.record(shop_id, "v1", [("p1", NOW - 9)], NOW)
        await b.visitors.browsed(shop_id, "v1", NOW)
        await b.visitors.browsed(shop_id, "v2", NOW)
        held = b.visitors.held(shop_id)
        # a write whose note is gone (the stream trimmed past it): the next number is missing
        await redis.zadd(keys.visitor_browsing(shop_id, "v1"), {"p9": NOW - 1})
        await redis.incr(keys.browsing_notes_sequence(shop_id))
        await a.visitors.record(shop_id, "v3", [("p3", NOW - 1)], NOW)
        await b.refresh()
        return held, b.visitors.held(shop_id), await b.visitors.browsed(shop_id, "v1", NOW)

    held, after, v1 = store.run(work)
    assert (held, after, v1) == (2, 0, ("p9", "p1"))


def test_a_note_drops_only_the_visitor_it_names(store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[int, tuple[str, ...]]:
        a, b = ShopCache(redis), ShopCache(redis)
        await b.shop(shop_id)
        for visitor in ("v1", "v2"):
            await a.visitors.record(shop_id, visitor, [("p1", NOW - 9)], NOW)
            await b.visitors.browsed(shop_id, visitor, NOW)
        await a.visitors.record(shop_id, "v2", [("p2", NOW - 1)], NOW)
        await redis.delete(keys.visitor_browsing(shop_id, "v1"))  # v1 must come from memory
        await b.refresh()
        return b.visitors.held(shop_id), await b.visitors.browsed(shop_id, "v1", NOW)

    assert store.run(work) == (1, ("p1",))


def test_a_read_begun_before_a_note_is_not_held(store: Store, shop: Any, monkeypatch) -> None:
    shop_id = shop.shop.shop_id
    original = visitor_cache.read_browsing

    async def work(redis: aioredis.Redis) -> list[tuple[str, ...]]:
        a, b = ShopCache(redis), ShopCache(redis)
        await b.shop(shop_id)
        await a.visitors.record(shop_id, "v1", [("p1", NOW - 9)], NOW)
        await b.visitors.browsed(shop_id, "v0", NOW)  # b reads the shop's notes from here on

        async def racing(*args: Any) -> Any:
            found = await original(*args)  # reads p1 only ...
            await a.visitors.record(shop_id, "v1", [("p2", NOW - 1)], NOW)
            await b.refresh()  # ... and the note of p2 is applied before it is held
            return found

        monkeypatch.setattr(visitor_cache, "read_browsing", racing)
        first = await b.visitors.browsed(shop_id, "v1", NOW)
        monkeypatch.setattr(visitor_cache, "read_browsing", original)
        return [first, await b.visitors.browsed(shop_id, "v1", NOW)]

    assert store.run(work) == [("p1",), ("p2", "p1")]


def test_an_erasure_drops_the_visitors_histories_in_every_process(where: Store) -> None:
    shop_id = new_shop(where)

    async def work(redis: aioredis.Redis) -> list[Any]:
        a, b = await process(where, shop_id), await process(where, shop_id)
        try:
            await link_visitor(redis, shop_id, "v-ann", "c-ann")
            await a.visitors.record(shop_id, "v-ann", [("p1", NOW - 9)], NOW)
            await a.visitors.record(shop_id, "v-bob", [("p2", NOW - 9)], NOW)
            held = [await c.visitors.browsed(shop_id, v, NOW) for c in (a, b)
                    for v in ("v-ann", "v-bob")]
            await erase_customer(redis, shop_id, "c-ann")
            for cache in (a, b):
                await cache.refresh()
            return [held, [c.visitors.held(shop_id) for c in (a, b)],
                    [await c.visitors.browsed(shop_id, v, NOW) for c in (a, b)
                     for v in ("v-ann", "v-bob")]]
        finally:
            await a.redis.aclose()
            await b.redis.aclose()

    held, counts, after = where.run(work)
    assert held == [("p1",), ("p2",), ("p1",), ("p2",)]
    assert counts == [0, 0]
    assert after == [(), ("p2",), (), ("p2",)]


def test_an_erased_shop_is_forgotten_with_its_visitors(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[int, int]:
        cache = ShopCache(redis)
        await cache.shop(shop_id)
        await cache.visitors.record(shop_id, "v1", [("p1", NOW - 9)], NOW)
        held = cache.visitors.held(shop_id)
        await redis.delete(keys.shop_config(shop_id))
        await cache.refresh()
        return held, cache.visitors.held(shop_id)

    assert store.run(work) == (1, 0)


def test_histories_are_bounded_per_shop_and_in_all(store: Store, make_shop: Any,
                                                   monkeypatch) -> None:
    monkeypatch.setattr(visitor_cache, "MAX_PER_SHOP", 3)
    monkeypatch.setattr(visitor_cache, "MAX_VISITORS", 5)
    one, two = make_shop().shop.shop_id, make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> list[Any]:
        cache = ShopCache(redis)
        for n in range(4):
            await cache.visitors.browsed(one, f"v{n}", NOW)
        per_shop = cache.visitors.held(one)
        await cache.visitors.browsed(one, "v1", NOW)  # used again: now the newest of `one`
        for n in range(3):
            await cache.visitors.browsed(two, f"w{n}", NOW)
        counting = Counting(redis)
        cache.visitors.redis = counting  # type: ignore[assignment]
        await cache.visitors.browsed(one, "v1", NOW)
        kept = counting.calls
        await cache.visitors.browsed(one, "v2", NOW)  # the least recently used: dropped
        return [per_shop, cache.visitors.held(one) + cache.visitors.held(two), kept,
                counting.calls - kept]

    per_shop, total, kept_reads, dropped_reads = store.run(work)
    assert per_shop == 3
    assert total == 5
    assert (kept_reads, dropped_reads) == (0, 1)


def test_notes_name_visitors_by_digest_only(store: Store, shop: Any) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> list[Any]:
        await ShopCache(redis).visitors.record(shop_id, "v-secret", [("p1", NOW)], NOW)
        return await redis.xrange(keys.browsing_notes(shop_id))

    notes = store.run(work)
    assert [fields[b"v"] for _id, fields in notes] == [visitor_digest("v-secret").encode()]
    assert all(b"v-secret" not in value for _id, fields in notes for value in fields.values())
