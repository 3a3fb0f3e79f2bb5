"""Catalog batches on the real embedded Redis (plugin.store.catalog): all stored or none, the
field rules of the webhooks' entries, availability, and a change note per product that another
process's cache reads within one refresh."""

from __future__ import annotations

from typing import Any

import pytest

from plugin.store import keys
from plugin.store.cache import ShopCache
from plugin.store.catalog import store_products, stored_product
from plugin.store.fields import PayloadError
from plugin.store.records import blocked_products, store_product
from tests.conftest import Store


def test_a_batch_is_stored_whole_and_read_back(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    sent = [{"product_id": "p1", "title": "Mug", "price": "9.5", "url": "/products/mug",
             "image_url": "//cdn.example.com/m.jpg", "variant_id": 41},
            {"product_id": 2, "title": "Cup", "price": "3", "available": False}]

    async def work(redis: Any) -> tuple[list[dict[str, Any]], Any, Any, set[str]]:
        stored = await store_products(redis, shop_id, sent, "https://shop.example.com")
        return (stored, await stored_product(redis, shop_id, "p1"),
                await stored_product(redis, shop_id, "nope"),
                await blocked_products(redis, shop_id))

    stored, read, missing, blocked = store.run(work)
    assert [e["product_id"] for e in stored] == ["p1", "2"]
    assert read == stored[0] == {
        "product_id": "p1", "title": "Mug", "price": "9.5",
        "url": "https://shop.example.com/products/mug",
        "image_url": "https://cdn.example.com/m.jpg", "variant_id": "41", "available": True}
    assert missing is None
    assert blocked == {"2"}


def test_one_entry_breaking_the_field_rules_stores_nothing(store: Store,
                                                           make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[int, int]:
        notes = await redis.xlen(keys.changes(shop_id))  # the shop's registration's
        with pytest.raises(PayloadError, match="price"):
            await store_products(redis, shop_id, [{"product_id": "ok", "title": "A"},
                                                  {"product_id": "bad", "price": "free"}])
        return (await redis.hlen(keys.products(shop_id)),
                await redis.xlen(keys.changes(shop_id)) - notes)

    assert store.run(work) == (0, 0)


def test_availability_follows_the_latest_write_and_another_cache_sees_it(
        store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> list[Any]:
        elsewhere = ShopCache(redis)  # another process's cache, holding the old entries
        await store_product(redis, shop_id, {"product_id": "p1", "title": "Old"})
        seen = [(await elsewhere.products(shop_id, ["p1"]))[0]["title"],
                await elsewhere.blocked(shop_id)]
        await store_products(redis, shop_id, [{"product_id": "p1", "title": "New",
                                               "available": False}])
        seen.append((await elsewhere.products(shop_id, ["p1"]))[0]["title"])  # not yet
        await elsewhere.refresh()
        seen += [(await elsewhere.products(shop_id, ["p1"]))[0]["title"],
                 await elsewhere.blocked(shop_id)]
        await store_products(redis, shop_id, [{"product_id": "p1", "title": "Back"}])
        await elsewhere.refresh()
        seen.append(await elsewhere.blocked(shop_id))
        return seen

    assert store.run(work) == ["Old", frozenset(), "Old", "New", frozenset({"p1"}),
                               frozenset()]


def test_an_empty_batch_writes_nothing(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[list[Any], int]:
        notes = await redis.xlen(keys.changes(shop_id))
        stored = await store_products(redis, shop_id, [])
        return stored, await redis.xlen(keys.changes(shop_id)) - notes

    assert store.run(work) == ([], 0)
