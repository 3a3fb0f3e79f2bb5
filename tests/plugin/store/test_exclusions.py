"""The owner's exclusions on the real embedded Redis (plugin.store.exclusions): the list replaced
whole, with a change note in the same transaction, and read back sorted."""

from __future__ import annotations

from typing import Any

from plugin.store import keys
from plugin.store.exclusions import excluded, replace_excluded
from plugin.store.records import blocked_products
from tests.conftest import Store


def test_the_list_is_replaced_whole_and_read_back_sorted(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[list[str], list[str], list[str]]:
        await replace_excluded(redis, shop_id, ["p3", "p1", "p2"])
        first = await excluded(redis, shop_id)
        await replace_excluded(redis, shop_id, ["p2", "p9"])
        second = await excluded(redis, shop_id)
        await replace_excluded(redis, shop_id, [])
        return first, second, await excluded(redis, shop_id)

    assert store.run(work) == (["p1", "p2", "p3"], ["p2", "p9"], [])


def test_every_replacement_notes_the_change(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> list[bytes]:
        await replace_excluded(redis, shop_id, ["p1"])
        await replace_excluded(redis, shop_id, [])
        notes = await redis.xrevrange(keys.changes(shop_id), count=2)
        return [fields[b"k"] for _id, fields in notes]

    assert store.run(work) == [b"blocked", b"blocked"]


def test_excluded_products_are_among_the_never_shown(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> set[str]:
        await replace_excluded(redis, shop_id, ["p1", "p2"])
        await redis.sadd(keys.unavailable(shop_id), "p2", "p3")
        return await blocked_products(redis, shop_id)

    assert store.run(work) == {"p1", "p2", "p3"}
