"""Refresh-ahead (plugin.engine.refresh_ahead): the answers a customer's change drops are made
again in the background once the customer is quiet, as they would be made now."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from plugin.engine import queries, refresh_ahead
from plugin.engine.refresh_ahead import RefreshAhead
from plugin.engine.serving import Served, serve_query
from plugin.store import changes
from plugin.store.cache import ShopCache
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store


async def new_order(redis: Any, cache: ShopCache, shop_id: str, customer: str, n: int) -> None:
    """Customer `customer` buys 107 twice more (order `n`); this process hears of it at once."""
    at = time.time()
    lines = (LineItem("107", None, "Product 107", 2, "20.00", f"r{n}-1"),)
    await store_order(redis, shop_id, Order(f"r{n}", customer, at, at, False, "EUR", "40.00",
                                            lines))
    cache.changed(shop_id, (changes.CUSTOMER, changes.customer_digest(customer)))


async def settled(refresher: RefreshAhead, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while refresher._pending or refresher._running:
        assert time.monotonic() < deadline, "refresh-ahead never settled"
        await asyncio.sleep(0.01)


def test_a_customers_dropped_answers_are_made_again_as_they_would_be_now(
        store: Store, paired_shop: NewShop) -> None:
    """Made in the shop's currency, as every call serves it."""
    shop_id, currency = paired_shop.shop.shop_id, paired_shop.shop.currency

    async def work(redis: Any) -> tuple[Any, ...]:
        cache = ShopCache(redis)
        refresher = RefreshAhead(cache, quiet_seconds=0.05).attach()
        await cache.model(shop_id)  # loading a model drops what was kept: load it first
        asked = [await queries.personal(cache, shop_id, "3", 6),
                 await queries.buy_again(cache, shop_id, "3", 6),
                 await queries.personal(cache, shop_id, "4", 6)]
        before = [await serve_query(cache, shop_id, currency, q) for q in asked]
        await new_order(redis, cache, shop_id, "3", 1)
        gone = [cache.answer(shop_id, q.key) is None for q in asked]
        await settled(refresher)
        made = [cache.answer(shop_id, q.key) for q in asked]
        fresh = ShopCache(redis)  # what a process with nothing kept answers now
        await fresh.model(shop_id)
        now = [await serve_query(fresh, shop_id, currency, await queries.personal(
                   fresh, shop_id, "3", 6)),
               await serve_query(fresh, shop_id, currency, await queries.buy_again(
                   fresh, shop_id, "3", 6))]
        return before, gone, made, now, refresher.made

    before, gone, made, now, count = store.run(work)
    assert gone == [True, True, False]  # customer 4's answer stays as it was
    assert count == 2  # customer 3's two answers, made again once each
    assert all(isinstance(m, Served) for m in made)
    assert [m.items for m in made[:2]] == [n.items for n in now]  # the history as of now
    assert made[1].items != before[1].items  # 107 bought twice more: first on the shelf
    assert made[1].items[0]["product_id"] == "107"
    assert made[2] is before[2]


def test_changes_in_quick_succession_make_the_answers_again_once(
        store: Store, paired_shop: NewShop) -> None:
    shop_id = paired_shop.shop.shop_id

    async def work(redis: Any) -> tuple[int, int, bool]:
        cache = ShopCache(redis)
        refresher = RefreshAhead(cache, quiet_seconds=1.0).attach()  # ample on a busy machine
        await cache.model(shop_id)
        query = await queries.personal(cache, shop_id, "5", 6)
        await serve_query(cache, shop_id, "EUR", query)
        for n in range(3):  # each change within the quiet spell of the one before
            await new_order(redis, cache, shop_id, "5", 10 + n)
            await asyncio.sleep(0.05)
            await serve_query(cache, shop_id, "EUR", await queries.personal(
                cache, shop_id, "5", 6))  # asked meanwhile: computed, kept, dropped again
        during = refresher.made
        await settled(refresher)
        return during, refresher.made, cache.answer(shop_id, query.key) is not None

    during, after, kept = store.run(work)
    assert (during, after, kept) == (0, 1, True)


def test_only_kept_answers_are_made_again_and_the_oldest_give_way(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refresh_ahead, "MAX_PENDING", 2)

    async def work(redis: Any) -> list[Any]:
        refresher = RefreshAhead(ShopCache(redis), quiet_seconds=60)
        served = [Served("v", "als", [], queries.Personal(str(n), 4)) for n in range(3)]
        refresher.dropped("shop", [*served, Served("v", "als", []), "not an answer"])
        pending = [query.customer for _, query in refresher._pending.values()]
        refresher._pending.clear()  # nothing to make: the background run ends
        await settled(refresher)
        return pending

    assert store.run(work) == ["1", "2"]


def test_many_customers_are_made_again_a_batch_at_a_time(
        store: Store, paired_shop: NewShop, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCH queries a run of serve_many at most, so the requests arriving meanwhile are not
    held up behind all of them."""
    monkeypatch.setattr(refresh_ahead, "BATCH", 2)
    sizes: list[int] = []
    original = refresh_ahead.serve_many

    async def counted(cache: ShopCache, shop_id: str, currency: str, asked: Any) -> Any:
        sizes.append(len(asked))
        return await original(cache, shop_id, currency, asked)

    monkeypatch.setattr(refresh_ahead, "serve_many", counted)
    shop_id, currency = paired_shop.shop.shop_id, paired_shop.shop.currency

    async def work(redis: Any) -> list[bool]:
        cache = ShopCache(redis)
        refresher = RefreshAhead(cache, quiet_seconds=0.05).attach()
        await cache.model(shop_id)
        asked = [await queries.personal(cache, shop_id, str(n), 4) for n in range(5)]
        for query in asked:
            await serve_query(cache, shop_id, currency, query)
        for n in range(5):  # stored, then heard of at once (one refresh round's notes)
            await new_order(redis, ShopCache(redis), shop_id, str(n), 20 + n)
        cache.changed(shop_id, *[(changes.CUSTOMER, changes.customer_digest(str(n)))
                                 for n in range(5)])
        await settled(refresher)
        return [cache.answer(shop_id, q.key) is not None for q in asked]

    assert store.run(work) == [True] * 5
    assert sizes == [2, 2, 1]
