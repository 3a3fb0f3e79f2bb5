"""The per-process shop cache on the real embedded Redis: what it holds serves without Redis,
and every kind of write reaches it through its change note within one refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.cache import ShopCache
from plugin.store.erasure import erase_customer, erase_shop
from plugin.store.models import publish_model
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order, store_product
from plugin.store.shops import change_origins, issue_api_key
from recommender.matrix import Purchase
from recommender.shop_model import ShopModel


def tiny_model(customers: int = 4) -> bytes:
    purchases = [Purchase(f"o{n}", f"c{n % customers}", f"p{n % 5}", 1, 1_700_000_000.0 + n)
                 for n in range(40)]
    return ShopModel.train(purchases).to_bytes()


def order(order_id: str, customer_id: str, product_id: str) -> Order:
    return Order(order_id=order_id, customer_id=customer_id, created_at=1_700_000_000.0,
                 updated_at=1_700_000_000.0, cancelled=False, currency="USD",
                 total_price="10.00",
                 lines=(LineItem(line_id="1", product_id=product_id, variant_id=None, quantity=1,
                                 price="10.00", title="A"),))


class Counting:
    """A Redis client that counts the commands sent through it (pipelines count once)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis, self.calls = redis, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.redis, name)
        if callable(attribute):
            self.calls += 1
        return attribute


def with_cache(work: Callable[[aioredis.Redis, ShopCache], Awaitable[Any]]) -> Callable[
        [aioredis.Redis], Awaitable[Any]]:
    async def run(redis: aioredis.Redis) -> Any:
        return await work(redis, ShopCache(redis))
    return run


def test_what_it_holds_is_served_without_a_round_trip(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def read_all(cache: ShopCache) -> None:
        assert (await cache.shop(shop_id)) is not None
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "One"
        assert await cache.blocked(shop_id) == frozenset()
        assert (await cache.model(shop_id)) is not None
        assert await cache.history(shop_id, "c1") == {}
        assert (await cache.shop_by_widget_key(shop.shop.widget_key)) is not None

    async def work(redis: aioredis.Redis) -> tuple[int, int]:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "One", "price": "2"})
        await publish_model(redis, shop_id, tiny_model(), {})
        counting = Counting(redis)
        cache = ShopCache(counting)  # type: ignore[arg-type]
        await read_all(cache)
        first = counting.calls
        await read_all(cache)
        return first, counting.calls - first

    first, again = store.run(work)
    assert first > 0 and again == 0


def test_each_kind_of_write_is_seen_after_one_refresh(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> None:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "Old", "price": "2"})
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "Old"
        assert await cache.history(shop_id, "c9") == {}
        assert await cache.blocked(shop_id) == frozenset()
        old_shop = await cache.shop(shop_id)

        await store_product(redis, shop_id, {"product_id": "p1", "title": "New", "price": "2",
                                             "available": False})
        await store_order(redis, shop_id, order("o1", "c9", "p2"))
        await redis.sadd(keys.excluded(shop_id), "p3")  # unannounced: a test's shortcut ...
        await changes.note(redis, shop_id, (changes.BLOCKED, ""))  # ... as the API notes it
        await change_origins(redis, shop_id, add=["https://new.example"])
        # until the notes are read, what was held is served (the documented staleness)
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "Old"
        assert await cache.history(shop_id, "c9") == {}

        await cache.refresh()
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "New"
        assert await cache.blocked(shop_id) == frozenset({"p1", "p3"})
        assert dict(await cache.history(shop_id, "c9")) == {"p2": 1}
        new_shop = await cache.shop(shop_id)
        assert old_shop is not None and new_shop is not None
        assert "https://new.example" in new_shop.origins
        assert "https://new.example" not in old_shop.origins

    store.run(with_cache(work))


def test_histories_read_what_it_lacks_in_one_round_trip_and_keep_it(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[list[Any], list[Any], int, Any]:
        for n, customer in enumerate(("c1", "c2", "c2")):
            await store_order(redis, shop_id, order(f"o{n}", customer, f"p{n}"))
        counting = Counting(redis)
        cache = ShopCache(counting)  # type: ignore[arg-type]
        assert dict(await cache.history(shop_id, "c1")) == {"p0": 1}
        before = counting.calls
        first = [dict(h) for h in await cache.histories(shop_id, ["c2", "c1", "nobody", "c2"])]
        read = counting.calls - before
        again = [dict(h) for h in await cache.histories(shop_id, ["c2", "c1", "nobody"])]
        await store_order(redis, shop_id, order("o9", "c1", "p9"))
        await cache.refresh()
        return first, again, read, dict(await cache.history(shop_id, "c1"))

    first, again, read, changed = store.run(work)
    assert first == [{"p1": 1, "p2": 1}, {"p0": 1}, {}, {"p1": 1, "p2": 1}]
    assert again == first[:3]
    assert read == 1  # one pipeline for c2 and nobody (c1 was held)
    assert changed == {"p0": 1, "p9": 1}


def test_a_new_api_key_and_a_dropped_widget_lookup(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> None:
        held = await cache.shop(shop_id)
        assert held is not None and held.accepts_api_key(shop.api_key)
        new_key = await issue_api_key(redis, shop_id)
        await cache.refresh()
        now = await cache.shop(shop_id)
        assert now is not None and now.accepts_api_key(new_key)
        assert not now.accepts_api_key(shop.api_key)
        assert await cache.shop_by_widget_key("wk_unknown") is None

    store.run(with_cache(work))


def test_a_published_model_is_loaded_in_the_background_and_swapped_in(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> list[str]:
        assert await cache.model(shop_id) is None
        await publish_model(redis, shop_id, tiny_model(), {})
        await cache.refresh()
        first = await cache.model(shop_id)
        await publish_model(redis, shop_id, tiny_model(), {})
        await cache.refresh()
        for _ in range(100):  # loaded by a background task
            newer = await cache.model(shop_id)
            if newer is not first:
                break
            await asyncio.sleep(0.01)
        assert first is not None and newer is not None
        return [first[0], newer[0]]

    assert store.run(with_cache(work)) == ["1", "2"]


def test_an_erased_customer_is_never_served_from_the_model_held_before(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> None:
        await publish_model(redis, shop_id, tiny_model(), {})
        await store_order(redis, shop_id, order("o1", "c1", "p1"))
        held = await cache.model(shop_id)
        assert held is not None and held[1].knows_customer("c1")
        assert dict(await cache.history(shop_id, "c1")) == {"p1": 1}
        await erase_customer(redis, shop_id, "c1")
        await cache.refresh()
        after = await cache.model(shop_id)  # no background swap: loaded before answering
        assert after is not None and not after[1].knows_customer("c1")
        assert await cache.history(shop_id, "c1") == {}

    store.run(with_cache(work))


def test_an_erased_shop_is_forgotten(store, make_shop) -> None:
    new = make_shop()
    shop_id = new.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> None:
        assert await cache.shop_by_widget_key(new.shop.widget_key) is not None
        assert await cache.shop_by_domain("shopify", new.shop.domain) is not None
        assert cache.held_by_domain("shopify", new.shop.domain.upper()) is not None
        await erase_shop(redis, shop_id)
        await cache.refresh()
        assert await cache.shop(shop_id) is None
        assert await cache.shop_by_widget_key(new.shop.widget_key) is None
        assert cache.held_by_domain("shopify", new.shop.domain) is None

    store.run(with_cache(work))


def test_notes_lost_to_trimming_drop_the_whole_shop(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> str:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "Old", "price": "2"})
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "Old"
        # a write whose note is gone (the stream trimmed past it): the next number is missing
        await redis.hset(keys.products(shop_id), "p1",
                         '{"product_id": "p1", "title": "Changed", "price": "2"}')
        await redis.incr(keys.changes_sequence(shop_id))
        await changes.note(redis, shop_id, (changes.BLOCKED, ""))
        await cache.refresh()
        return str((await cache.products(shop_id, ["p1"]))[0]["title"])

    assert store.run(with_cache(work)) == "Changed"


def test_a_read_begun_before_a_note_is_not_kept(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: aioredis.Redis, cache: ShopCache) -> str:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "Old", "price": "2"})
        await cache.shop(shop_id)
        original = redis.hmget

        async def slow_read(*args: Any, **kwargs: Any) -> Any:
            found = await original(*args, **kwargs)  # reads "Old" ...
            await store_product(redis, shop_id, {"product_id": "p1", "title": "New",
                                                 "price": "2"})
            await cache.refresh()  # ... and the note of "New" is read before it is kept
            return found

        redis.hmget = slow_read  # type: ignore[method-assign]
        assert (await cache.products(shop_id, ["p1"]))[0]["title"] == "Old"
        redis.hmget = original  # type: ignore[method-assign]
        return str((await cache.products(shop_id, ["p1"]))[0]["title"])

    assert store.run(with_cache(work)) == "New"


def test_a_history_read_while_its_customers_note_arrives_is_read_again(
        store, shop, monkeypatch) -> None:
    """The note of an order written while the history was on its way: the history returned
    (and the answers made from it) must include that order, not stay as before it."""
    from plugin.store import cache as cache_module

    shop_id = shop.shop.shop_id
    original = cache_module.read_histories
    reads: list[int] = []

    async def work(redis: aioredis.Redis) -> tuple[dict[str, int], dict[str, int]]:
        cache = ShopCache(redis)
        await store_order(redis, shop_id, order("o1", "c1", "p1"))

        async def racing(*args: Any) -> Any:
            found = await original(*args)  # read before the order below was written
            reads.append(len(found))
            if len(reads) == 1:
                await store_order(redis, shop_id, order("o2", "c1", "p2"))
                cache.changed(shop_id, (changes.CUSTOMER, changes.customer_digest("c1")))
            return found

        monkeypatch.setattr(cache_module, "read_histories", racing)
        first = dict(await cache.history(shop_id, "c1"))
        held = dict(await cache.history(shop_id, "c1"))  # from memory now
        return first, held

    first, held = store.run(work)
    assert first == held == {"p1": 1, "p2": 1}
    assert len(reads) == 2
