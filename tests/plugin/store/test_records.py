"""Orders and the catalog on the real embedded Redis (plugin.store.records): idempotent upserts
where the newer version wins, refunds never lost, a batch storing what one by one stores, the
indexes written with an order, and the catalog's entries within the field rules."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from plugin.store import changes, keys
from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import (
    blocked_products,
    cancel_order,
    catalog_entry,
    delete_product,
    get_order,
    iter_orders,
    mark_uninstalled,
    merge_refunds,
    store_order,
    store_orders,
    store_product,
    stored_order_pages,
    union_refunds,
)
from tests.conftest import Store

T0 = 1_740_823_200.0  # 2025-03-01 10:00 UTC


def an_order(order_id: str = "1", customer: str | None = "c1", at: float = T0,
             products: tuple[str, ...] = ("p1",), updated: float | None = None,
             cancelled: bool = False, quantity: int = 1) -> Order:
    lines = tuple(LineItem(p, None, f"Product {p}", quantity, "10.00", f"{order_id}-{n}")
                  for n, p in enumerate(products))
    return Order(order_id, customer, at, at if updated is None else updated, cancelled, "EUR",
                 f"{10 * quantity * len(products)}.00", lines)


def shop_id_of(make_shop: Any) -> str:
    return str(make_shop().shop.shop_id)


# ---- one order: the newer version wins -----------------------------------------------------------


def test_an_order_is_stored_once_and_only_a_newer_version_replaces_it(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    first = an_order(products=("p1",))
    newer = an_order(products=("p2",), updated=T0 + 60)
    older = an_order(products=("p3",), updated=T0 + 30)

    async def work(redis: Any) -> tuple[list[bool], Order | None, Any]:
        stored = [await store_order(redis, shop_id, one) for one in (first, first, newer, older)]
        return (stored, await get_order(redis, shop_id, "1"),
                await redis.hget(keys.stats(shop_id), "order_changes"))

    stored, kept, changed = store.run(work)
    assert stored == [True, False, True, False]
    assert kept == newer and changed == b"2"


def test_at_the_same_time_only_a_cancellation_changes_an_order(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    placed = an_order(updated=T0 + 10)
    cancelled = replace(placed, cancelled=True)

    async def work(redis: Any) -> tuple[list[bool], Order | None]:
        stored = [await store_order(redis, shop_id, one)
                  for one in (placed, cancelled, cancelled, placed)]
        return stored, await get_order(redis, shop_id, "1")

    stored, kept = store.run(work)
    assert stored == [True, True, False, False]  # a placed version never revives it
    assert kept is not None and kept.cancelled


def test_storing_an_order_indexes_it_marks_the_shop_and_notes_the_customer(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[Any, ...]:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "From the catalog"})
        await store_order(redis, shop_id, an_order("1", "c1", T0, ("p1", "p2")))
        await store_order(redis, shop_id, an_order("2", "c1", T0 + 5, ("p2",)))
        await store_order(redis, shop_id, an_order("3", None, T0 + 9, ("p3",)))
        return (await redis.hgetall(keys.products(shop_id)),
                await redis.zrange(keys.customer_orders(shop_id, "c1"), 0, -1, withscores=True),
                await redis.hgetall(keys.train_dirty(shop_id)),
                await redis.xrevrange(keys.changes(shop_id), count=3))

    products, indexed, dirty, notes = store.run(work)
    assert json.loads(products[b"p1"])["title"] == "From the catalog"  # never overwritten
    assert json.loads(products[b"p2"]) == {
        "product_id": "p2", "title": "Product p2", "price": "10.00", "url": None,
        "image_url": None, "available": True, "source": "order"}  # until its product webhook
    assert b"p3" in products  # a guest's order fills the catalog too
    assert indexed == [(b"1", T0), (b"2", T0 + 5)]  # a guest has no index
    assert float(dirty[b"first"]) <= float(dirty[b"last"])
    customer = changes.customer_digest("c1").encode()
    assert [(f[b"k"], f[b"i"]) for _id, f in notes] == [  # newest first; a guest: no note
        (b"customer", customer), (b"customer", customer), (b"product", b"p1")]


def test_only_an_order_that_changed_notes_its_customers(store: Store, make_shop: Any) -> None:
    """A repeat of a stored version changes no history: no note, so no process drops what
    it holds of the customer. A newer version notes its customer, and the one it had before
    when it moved; one or many at a time (store_orders) alike."""
    shop_id = shop_id_of(make_shop)
    first = an_order("1", "c1", T0, ("p1",))

    async def notes_after(redis: Any, *orders: Order) -> list[tuple[bytes, bytes]]:
        before = await redis.xlen(keys.changes(shop_id))
        if len(orders) == 1:
            await store_order(redis, shop_id, orders[0])
        else:
            await store_orders(redis, shop_id, list(orders))
        found = await redis.xrange(keys.changes(shop_id))
        return [(f[b"k"], f[b"i"]) for _id, f in found[before:]]

    async def work(redis: Any) -> list[list[tuple[bytes, bytes]]]:
        return [await notes_after(redis, first),
                await notes_after(redis, first),  # the same version again
                await notes_after(redis, first, an_order("2", "c2", T0, ("p2",))),
                await notes_after(redis, replace(first, updated_at=T0 + 1)),  # a newer one
                await notes_after(redis, replace(first, customer_id="c3", updated_at=T0 + 2)),
                await notes_after(redis, replace(first, updated_at=T0 - 5))]  # an older one

    new, again, batch, newer, moved, older = store.run(work)

    def customer(name: str) -> tuple[bytes, bytes]:
        return (b"customer", changes.customer_digest(name).encode())

    assert new == [customer("c1")]
    assert again == []
    assert batch == [customer("c2")]  # order 1 was stored as it is already
    assert newer == [customer("c1")]
    assert sorted(moved) == sorted([customer("c3"), customer("c1"), customer("c3")])
    assert older == []


# ---- refunds ----------------------------------------------------------------------------------


def test_refunds_before_their_order_wait_and_are_merged_when_it_comes(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    early = Refund("r1", "1-0", 1)

    async def work(redis: Any) -> tuple[Any, ...]:
        waited = await merge_refunds(redis, shop_id, "1", [early])
        again = await merge_refunds(redis, shop_id, "1", [early])
        pending = await redis.hget(keys.pending_refunds(shop_id), "1")
        await store_order(redis, shop_id, an_order(quantity=2))
        return (waited, again, pending, await get_order(redis, shop_id, "1"),
                await redis.hexists(keys.pending_refunds(shop_id), "1"))

    waited, again, pending, stored, still_pending = store.run(work)
    assert (waited, again) == (True, False)
    assert json.loads(pending) == [{"refund_id": "r1", "line_id": "1-0", "quantity": 1}]
    assert stored is not None and stored.refunds == (early,)
    assert stored.net_quantity(stored.lines[0]) == 1
    assert not still_pending


def test_refunds_of_a_stored_order_survive_a_newer_version_without_them(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[bool, Order | None, Any]:
        await store_order(redis, shop_id, an_order(quantity=3))
        merged = await merge_refunds(redis, shop_id, "1", [Refund("r1", "1-0", 2)])
        await store_order(redis, shop_id, an_order(quantity=3, updated=T0 + 99))
        note = await redis.xrevrange(keys.changes(shop_id), count=1)
        return merged, await get_order(redis, shop_id, "1"), note

    merged, stored, note = store.run(work)
    assert merged and stored is not None and stored.updated_at == T0 + 99
    assert stored.refunds == (Refund("r1", "1-0", 2),)
    assert note[0][1][b"k"] == b"customer"


def test_a_refund_is_kept_once_per_refund_and_line_the_first_seen_wins() -> None:
    a, b = Refund("r1", "L1", 1), Refund("r1", "L2", 1)
    assert union_refunds([a], [Refund("r1", "L1", 5), b], [a]) == (a, b)
    assert union_refunds() == ()


def test_refunds_for_a_stored_order_that_breaks_the_rules_are_refused(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    broken = json.loads(an_order().to_json())
    broken["currency"] = "euro"  # written before the field rules

    async def work(redis: Any) -> None:
        await redis.hset(keys.orders(shop_id), "1", json.dumps(broken))
        await merge_refunds(redis, shop_id, "1", [Refund("r1", "1-0", 1)])

    with pytest.raises(PayloadError, match="breaks the field rules"):
        store.run(work)


# ---- cancellation -----------------------------------------------------------------------------


def test_a_deleted_order_is_kept_cancelled_and_an_unknown_one_cannot_come_back(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[Any, ...]:
        await store_order(redis, shop_id, an_order("1", updated=T0 + 50))
        known = await cancel_order(redis, shop_id, "1", T0 + 10)  # older than the version
        unknown = await cancel_order(redis, shop_id, "2", T0 + 20)
        late = await store_order(redis, shop_id, an_order("2", updated=T0 + 5))
        return (known, unknown, late, await get_order(redis, shop_id, "1"),
                await get_order(redis, shop_id, "2"))

    known, unknown, late, first, second = store.run(work)
    assert (known, unknown, late) == (True, True, False)
    assert first is not None and first.cancelled and first.updated_at == T0 + 50
    assert first.lines == an_order("1").lines  # the stored version is kept
    assert second is not None and second.cancelled and second.lines == ()


# ---- many orders ------------------------------------------------------------------------------


def test_a_batch_stores_what_one_by_one_stores(store: Store, make_shop: Any) -> None:
    batched, alone = shop_id_of(make_shop), shop_id_of(make_shop)
    run = [an_order("1", "c1", products=("p1", "p2")),
           an_order("2", "c2", products=("p2",)),
           an_order("1", "c1", products=("p3",), updated=T0 + 9),  # the same order again
           an_order("3", None, products=("p4",)),
           an_order("2", "c2", products=("p9",), updated=T0 - 1)]  # older: loses

    async def work(redis: Any) -> tuple[list[bool], list[bool], dict[str, Any], dict[str, Any]]:
        await redis.script_flush()  # a new server: the scripts are loaded on the way
        in_batch = await store_orders(redis, batched, run)
        one_by_one = [await store_order(redis, alone, one) for one in run]
        return in_batch, one_by_one, await written(redis, batched), await written(redis, alone)

    in_batch, one_by_one, first, second = store.run(work)
    assert in_batch == one_by_one == [True, True, True, True, False]
    assert first == second
    assert [line["product_id"] for line in json.loads(first["orders"][b"1"])["lines"]] == ["p3"]
    assert store.run(lambda r: store_orders(r, batched, [])) == []


async def written(redis: Any, shop_id: str) -> dict[str, Any]:
    return {"orders": await redis.hgetall(keys.orders(shop_id)),
            "versions": await redis.hgetall(keys.order_versions(shop_id)),
            "products": await redis.hgetall(keys.products(shop_id)),
            "c1": await redis.zrange(keys.customer_orders(shop_id, "c1"), 0, -1),
            "changes": await redis.hget(keys.stats(shop_id), "order_changes")}


def test_every_stored_order_is_read_once_page_by_page(store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    orders = [an_order(str(n), f"c{n % 7}", T0 + n) for n in range(230)]

    async def work(redis: Any) -> tuple[list[int], list[Order]]:
        await store_orders(redis, shop_id, orders)
        pages = [len(page) async for page in stored_order_pages(redis, shop_id, count=50)]
        return pages, [order async for order in iter_orders(redis, shop_id)]

    pages, read = store.run(work)
    assert sum(pages) == 230 and len(pages) > 1
    assert sorted(read, key=lambda o: int(o.order_id)) == orders


# ---- the catalog ------------------------------------------------------------------------------


def test_a_catalog_entry_obeys_the_field_rules() -> None:
    entry = catalog_entry({"product_id": 42, "title": "Mug\nlarge", "url": "/products/mug",
                           "image_url": "javascript:alert(1)", "price": "12.5",
                           "variant_id": 420, "available": None, "extra": "kept"},
                          "https://shop.example/")
    assert entry == {"product_id": "42", "title": "Mug large",
                     "url": "https://shop.example/products/mug", "image_url": None,
                     "price": "12.5", "variant_id": "420", "available": True, "extra": "kept"}
    assert catalog_entry({"product_id": "1", "title": None})["price"] is None
    assert catalog_entry({"product_id": "1", "available": False})["available"] is False
    with pytest.raises(PayloadError, match="product_id"):
        catalog_entry({"title": "no id"})
    with pytest.raises(PayloadError, match="price"):
        catalog_entry({"product_id": "1", "price": "free"})


def test_an_unavailable_or_deleted_product_is_never_shown_until_it_is_back(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[Any, ...]:
        await store_product(redis, shop_id, {"product_id": "p1", "title": "A", "available": False})
        await store_product(redis, shop_id, {"product_id": "p2", "title": "B"})
        hidden = await blocked_products(redis, shop_id)
        await store_product(redis, shop_id, {"product_id": "p1", "title": "A"})
        await delete_product(redis, shop_id, "p2")
        await delete_product(redis, shop_id, "p3")  # never seen: a placeholder, hidden
        note = await redis.xrevrange(keys.changes(shop_id), count=1)
        return (hidden, await blocked_products(redis, shop_id),
                await redis.hgetall(keys.products(shop_id)), note)

    hidden, later, products, note = store.run(work)
    assert hidden == {"p1"} and later == {"p2", "p3"}
    assert json.loads(products[b"p2"])["title"] == "B"  # kept, marked
    assert json.loads(products[b"p2"])["deleted"] is True
    assert json.loads(products[b"p3"])["available"] is False
    assert (note[0][1][b"k"], note[0][1][b"i"]) == (b"product", b"p3")


def test_an_uninstalled_shop_loses_its_token_and_a_deleted_one_is_not_recreated(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> tuple[Any, ...]:
        await redis.hset(keys.shop_config(shop_id), "api_token", "sealed")
        await mark_uninstalled(redis, shop_id, T0)
        await mark_uninstalled(redis, "t-never-registered", T0)
        return (await redis.hmget(keys.shop_config(shop_id), ["uninstalled_at", "api_token"]),
                await redis.exists(keys.shop_config("t-never-registered")))

    (uninstalled_at, token), recreated = store.run(work)
    assert float(uninstalled_at) == T0 and token is None and recreated == 0
