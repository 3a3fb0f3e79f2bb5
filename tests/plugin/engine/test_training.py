"""Training's bulk read of stored orders into columns (load_lines) against purchases_of of each
order read as Order objects: the same lines in the same order, the same count of orders."""

from __future__ import annotations

import json
import uuid

import numpy as np
import redis.asyncio as aioredis

from plugin.engine.training import load_lines, load_purchases, purchases_of
from plugin.store import keys
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import iter_orders
from recommender.matrix import Purchase, PurchaseLines, build_interactions
from recommender.shop_model import ShopModel
from tests.conftest import Store

NOW = 1_750_000_000.0


def order(order_id: str, customer: str | None, lines: list[tuple[str, int, str | None]],
          refunds: tuple[Refund, ...] = (), cancelled: bool = False) -> Order:
    return Order(order_id, customer, NOW - len(order_id), NOW, cancelled, "EUR", "10.00",
                 tuple(LineItem(product, None, "A mug", quantity, "5.00", line_id)
                       for product, quantity, line_id in lines), refunds)


AWKWARD = [
    order("1", "c1", [("p1", 2, "l1"), ("p2", 1, "l2")]),
    order("2", "c1", [("p1", 1, "l1")], cancelled=True),
    order("3", None, [("p2", 1, None), ("p3", 4, None)]),  # a guest basket
    order("4", "c2", [("p1", 3, "l1"), ("p2", 1, "l2"), ("p3", 2, None)],  # refunded in part
          (Refund("r1", "l1", 1), Refund("r2", "l1", 1), Refund("r3", "l2", 5),
           Refund("r4", "gone", 1))),
    order("5", "c2", [("p4", 2, "l1")], (Refund("r1", "l1", 2),)),  # all given back
    order("6", "c3", [("p4", 0, "l1"), ("p5", 1, "l2")]),
    order("7", "c3", []),
    order("8", "ç-ü 客", [("é-1", 1, "l1")]),
]


def stored(store: Store, raws: dict[str, str]) -> str:
    """A new shop's id, its orders stored as given (order id -> JSON)."""
    shop_id = f"lines-{uuid.uuid4().hex[:8]}"

    async def write(redis: aioredis.Redis) -> None:
        await redis.hset(keys.orders(shop_id), mapping=raws)  # type: ignore[arg-type]

    store.run(write)
    return shop_id


def as_orders_read(store: Store, shop_id: str) -> tuple[list[Purchase], int]:
    """purchases_of each stored order read as an Order, in the order read."""
    async def read(redis: aioredis.Redis) -> list[Order]:
        return [stored_order async for stored_order in iter_orders(redis, shop_id)]

    orders = store.run(read)
    return [p for o in orders for p in purchases_of(o)], sum(bool(purchases_of(o)) for o in orders)


def test_lines_read_are_the_purchases_of_each_order(store: Store) -> None:
    shop_id = stored(store, {o.order_id: o.to_json() for o in AWKWARD})
    lines, counted = store.run(lambda redis: load_lines(redis, shop_id))
    assert (lines.purchases(), counted) == as_orders_read(store, shop_id)
    assert sorted((p.order_id, p.product_id, p.quantity) for p in lines.purchases()) == [
        ("1", "p1", 2), ("1", "p2", 1), ("3", "p2", 1), ("3", "p3", 4), ("4", "p1", 1),
        ("4", "p3", 2), ("6", "p5", 1), ("8", "é-1", 1)]
    assert counted == 5


def test_many_pages_of_orders_read_as_orders_train_the_same_model(store: Store) -> None:
    rng = np.random.default_rng(5)
    orders = [order(f"o{n}", f"c{rng.integers(300)}" if n % 9 else None,
                    [(f"p{p}", int(rng.integers(1, 4)), f"l{p}")
                     for p in rng.choice(60, size=int(rng.integers(1, 6)), replace=False)])
              for n in range(2500)]
    shop_id = stored(store, {o.order_id: o.to_json() for o in orders})
    lines, counted = store.run(lambda redis: load_lines(redis, shop_id))
    purchases, expected = as_orders_read(store, shop_id)
    assert (lines.purchases(), counted) == (purchases, expected) and counted == 2500
    assert store.run(lambda redis: load_purchases(redis, shop_id)) == (purchases, expected)
    from_lines, from_purchases = ShopModel.train(lines), ShopModel.train(purchases)
    for name in ("user_items", "user_recent", "user_latest", "similar_items"):
        a, b = getattr(from_lines, name), getattr(from_purchases, name)
        assert all(np.array_equal(getattr(a, part), getattr(b, part))
                   for part in ("indptr", "indices", "data")), name
    np.testing.assert_array_equal(from_lines.taste.item_factors, from_purchases.taste.item_factors)
    np.testing.assert_array_equal(from_lines.trending_scores, from_purchases.trending_scores)


def test_an_order_orjson_refuses_is_read_by_the_json_module(store: Store) -> None:
    raw = json.loads(AWKWARD[0].to_json())
    raw["lines"][0]["title"] = "\ud800 half a pair"  # a lone surrogate, written as \ud800
    raws = {"1": json.dumps(raw), "8": AWKWARD[-1].to_json()}
    shop_id = stored(store, raws)
    lines, counted = store.run(lambda redis: load_lines(redis, shop_id))
    assert (lines.purchases(), counted) == as_orders_read(store, shop_id)
    assert counted == 2


def test_lines_of_purchases_give_them_back_and_build_their_interactions() -> None:
    purchases = [p for o in AWKWARD for p in purchases_of(o)] + [
        Purchase("9", "c9", "p9", 0, NOW), Purchase("9", "c9", "p1", -1, NOW)]  # not counted
    lines = PurchaseLines.of(purchases)
    assert lines.purchases() == purchases
    data = build_interactions(lines)
    assert data.item_ids.tolist() == ["p1", "p2", "p3", "p5", "é-1"]  # not p4, p9: none kept
    assert data.user_ids.tolist() == ["c1", "c2", "c3", "ç-ü 客"]
    assert data.basket_items.shape == (5, 5) and len(data.line_items) == 8
