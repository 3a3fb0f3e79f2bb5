"""Training (plugin.engine.training): the purchases an order counts for, the bulk read of stored
orders into columns (load_lines of a shop whose orders have no training lines yet) against
purchases_of of each order read as Order objects (the same lines in the same order, the same
count of orders), the same model trained from a shop's training lines, train_shop publishing a
model and reusing a recent choice of strategy, and the auto-trainer's timing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from plugin.engine.training import (
    RETUNE_AFTER_SECONDS,
    AutoTrainer,
    NothingToTrain,
    lines_of_orders,
    load_lines,
    load_purchases,
    purchases_of,
    train_shop,
)
from plugin.store import keys
from plugin.store.models import current_model_info, model_lock, publish_model
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import iter_orders, store_order, store_orders
from plugin.store.shops import add_shop
from recommender.matrix import Purchase, PurchaseLines, build_interactions
from recommender.shop_model import Config, ShopModel
from tests.conftest import Store, run_async

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
    assert_same_arrays(ShopModel.train(lines), ShopModel.train(purchases))


def assert_same_arrays(a: ShopModel, b: ShopModel) -> None:
    """The two models hold equal matrices, item factors and trending scores."""
    for name in ("user_items", "user_recent", "user_latest", "similar_items"):
        x, y = getattr(a, name), getattr(b, name)
        assert all(np.array_equal(getattr(x, part), getattr(y, part))
                   for part in ("indptr", "indices", "data")), name
    np.testing.assert_array_equal(a.taste.item_factors, b.taste.item_factors)
    np.testing.assert_array_equal(a.trending_scores, b.trending_scores)


def test_training_lines_train_the_model_the_orders_train(store: Store, make_shop: Any) -> None:
    rng = np.random.default_rng(11)
    orders = [order(f"o{n}", f"c{rng.integers(200)}" if n % 7 else None,
                    [(f"p{p}", int(rng.integers(1, 4)), f"l{p}")
                     for p in rng.choice(40, size=int(rng.integers(1, 5)), replace=False)],
                    (Refund("r", "l3", 1),) if n % 5 == 0 else ())
              for n in range(1500)]
    shop_id = make_shop().shop.shop_id
    store.run(lambda redis: store_orders(redis, shop_id, orders))
    from_records, counted = store.run(lambda redis: load_lines(redis, shop_id))
    from_orders, expected = store.run(lambda redis: lines_of_orders(redis, shop_id))
    assert from_records.purchases() != from_orders.purchases()  # read in another order
    assert counted == expected > 1400
    a, b = ShopModel.train(from_records), ShopModel.train(from_orders)
    assert a.user_ids.tolist() == b.user_ids.tolist() and a.item_ids.tolist() == b.item_ids.tolist()
    assert_same_arrays(a, b)
    assert a.to_bytes() == b.to_bytes()


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


# ---- what an order counts for ---------------------------------------------------------------


def test_an_order_counts_for_what_its_customer_kept() -> None:
    kept = order("k", "c1", [("p1", 3, "l1"), ("p2", 1, "l2"), ("p3", 0, "l3"), ("p4", 2, None)],
                 (Refund("r1", "l1", 1), Refund("r2", "l2", 1), Refund("r3", "l9", 1)))
    assert [(p.product_id, p.quantity) for p in purchases_of(kept)] == [("p1", 2), ("p4", 2)]
    assert purchases_of(order("c", "c1", [("p1", 1, "l1")], cancelled=True)) == []
    plain = order("g", None, [("p1", 2, "l1"), ("p2", 0, "l2")])
    assert purchases_of(plain) == [Purchase("g", None, "p1", 2, plain.created_at)]


# ---- train_shop ------------------------------------------------------------------------------


def basket_orders(count: int, start: int = 0) -> list[Order]:
    return [order(f"{start + n}", f"c{n % 6}", [(f"p{n % 4}", 1, "l1"), (f"p{n % 4 + 1}", 1, "l2")])
            for n in range(count)]


def shop_with(store: Store, make_shop: Any, orders: list[Order]) -> str:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> None:
        for one in orders:
            await store_order(redis, shop_id, one)

    store.run(work)
    return str(shop_id)


def test_a_shop_without_orders_has_nothing_to_train_and_loses_its_mark(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_with(store, make_shop, [order("1", "c1", [("p1", 1, "l1")], cancelled=True)])
    assert store.run(lambda r: r.exists(keys.train_dirty(shop_id))) == 1
    with pytest.raises(NothingToTrain, match=shop_id):
        store.run(lambda r: train_shop(r, shop_id, tuning_seconds=0))
    assert store.run(lambda r: r.exists(keys.train_dirty(shop_id))) == 0
    assert store.run(lambda r: current_model_info(r, shop_id)) is None


def test_training_publishes_a_model_of_every_order_and_clears_the_mark(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_with(store, make_shop, basket_orders(12))
    info = store.run(lambda r: train_shop(r, shop_id, tuning_seconds=0))
    assert store.run(lambda r: current_model_info(r, shop_id)) == info
    meta = info.meta
    assert (meta["orders"], meta["customers"], meta["products"]) == (12, 6, 5)
    assert meta["choice"]["chosen_by"] == "defaults"  # no time to choose
    assert meta["strategy"] == Config().strategy and meta["config"] == asdict(Config())
    assert meta["model_bytes"] == len(store.run(lambda r: r.hget(
        keys.model(shop_id, info.version), "arrays")))
    assert store.run(lambda r: r.exists(keys.train_dirty(shop_id))) == 0


def validated_choice(orders: int, age: float = 0.0) -> dict[str, Any]:
    return {"chosen_by": "time-split validation", "strategy": "bpr+bm25",
            "chosen_at": time.time() - age, "orders": orders}


def serve_choice(store: Store, shop_id: str, config: Config, report: dict[str, Any]) -> None:
    """Publish a model whose metadata says `config` was chosen by validation (as a training
    with a time budget would have)."""
    blob = ShopModel.train(basket_orders_purchases(), config).to_bytes()
    store.run(lambda r: publish_model(r, shop_id, blob, {"config": asdict(config),
                                                        "choice": report}))


def basket_orders_purchases() -> list[Purchase]:
    return [p for one in basket_orders(12) for p in purchases_of(one)]


CHOSEN = Config(cf="bpr", factors=3, iterations=3, neighbours="bm25")


@pytest.mark.parametrize(("age", "orders_then", "retune", "reused"), [
    (0.0, 12, False, True),
    (0.0, 12, True, False),  # asked to choose again
    (RETUNE_AFTER_SECONDS + 60, 12, False, False),  # too old
    (0.0, 9, False, False),  # the shop has grown past RETUNE_GROWTH times the orders
    (0.0, 10, False, True),  # 12 orders: not yet 1.25 times 10
])
def test_a_recent_validated_choice_is_reused_until_it_is_old_or_outgrown(
        store: Store, make_shop: Any, age: float, orders_then: int, retune: bool,
        reused: bool) -> None:
    shop_id = shop_with(store, make_shop, basket_orders(12))
    report = validated_choice(orders_then, age)
    serve_choice(store, shop_id, CHOSEN, report)
    info = store.run(lambda r: train_shop(r, shop_id, tuning_seconds=0, retune=retune))
    if reused:
        assert info.meta["choice"] == report and info.meta["config"] == asdict(CHOSEN)
        assert info.meta["strategy"] == "bpr+bm25"
    else:
        assert info.meta["choice"]["chosen_by"] == "defaults"
        assert info.meta["config"] == asdict(Config())


def test_a_choice_made_by_defaults_is_never_reused(store: Store, make_shop: Any) -> None:
    shop_id = shop_with(store, make_shop, basket_orders(12))
    serve_choice(store, shop_id, CHOSEN, {"chosen_by": "defaults", "chosen_at": time.time(),
                                          "orders": 12})
    info = store.run(lambda r: train_shop(r, shop_id, tuning_seconds=0))
    assert info.meta["config"] == asdict(Config())


def test_a_shop_that_is_training_is_not_trained_twice_at_once(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_with(store, make_shop, basket_orders(12))

    async def work(redis: aioredis.Redis) -> None:
        async with model_lock(redis, shop_id, 0):
            await train_shop(redis, shop_id, lock_wait=0, tuning_seconds=0)

    with pytest.raises(TimeoutError, match="already training"):
        store.run(work)


def test_a_trainer_that_found_a_shop_due_skips_it_once_another_trained_it(
        store: Store, make_shop: Any) -> None:
    """Two trainers saw the shop due; the second takes the lock after the first trained it:
    the mark is gone, so it does not train the shop a second time."""
    shop_id = shop_with(store, make_shop, basket_orders(12))
    store.run(lambda r: r.hset(keys.train_dirty(shop_id), mapping={"first": "1", "last": "1"}))
    store.run(lambda r: train_shop(r, shop_id, lock_wait=0, tuning_seconds=0, if_marked=True))
    with pytest.raises(NothingToTrain, match="trained meanwhile"):
        store.run(lambda r: train_shop(r, shop_id, lock_wait=0, tuning_seconds=0,
                                       if_marked=True))
    assert store.run(lambda r: r.get(keys.model_sequence(shop_id))) == b"1"
    store.run(lambda r: train_shop(r, shop_id, lock_wait=0, tuning_seconds=0))  # asked: trains
    assert store.run(lambda r: r.get(keys.model_sequence(shop_id))) == b"2"


# ---- the auto-trainer ------------------------------------------------------------------------
# On a database of its own (SELECT 1 of the session's Redis): the test server's auto-trainer
# works on database 0, and an auto-trainer looks at every registered shop.

Private = Callable[[Callable[[aioredis.Redis], Awaitable[Any]]], Any]


@pytest.fixture
def private(store: Store) -> Iterator[Private]:
    def run(work: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        async def call() -> Any:
            client = aioredis.Redis(unix_socket_path=store.embedded.socket_path, db=1)
            try:
                return await work(client)
            finally:
                await client.aclose()

        return run_async(call)

    run(lambda r: r.flushdb())
    yield run
    run(lambda r: r.flushdb())


def private_shop(private: Private, orders: list[Order]) -> str:
    shop_id = f"auto-{uuid.uuid4().hex[:8]}"

    async def work(redis: aioredis.Redis) -> None:
        await add_shop(redis, shop_id, "shopify", f"{shop_id}.myshopify.com", "http://x")
        for one in orders:
            await store_order(redis, shop_id, one)

    private(work)
    return shop_id


def mark(private: Private, shop_id: str, first: float, last: float) -> None:
    private(lambda r: r.hset(keys.train_dirty(shop_id),
                             mapping={"first": repr(first), "last": repr(last)}))


def test_a_shop_is_due_after_a_quiet_spell_or_a_longest_wait(private: Private) -> None:
    shop_id = private_shop(private, [])
    now = time.time()

    def due(first: float, last: float) -> bool:
        mark(private, shop_id, first, last)
        return bool(private(lambda r: AutoTrainer(r, debounce=60, max_delay=600)
                            .is_due(shop_id)))

    assert private(lambda r: AutoTrainer(r, 60, 600).is_due(shop_id)) is False  # no mark
    assert not due(now - 30, now - 30)  # changed half a minute ago: wait for quiet
    assert due(now - 90, now - 90)  # quiet for a minute and a half
    assert not due(now - 500, now - 1)  # busy, but not yet waiting ten minutes
    assert due(now - 700, now - 1)  # busy for longer than the longest wait


def test_the_auto_trainer_trains_only_due_shops_and_skips_one_with_nothing_to_train(
        private: Private) -> None:
    due = private_shop(private, basket_orders(12))
    empty = private_shop(private, [])  # due, but nothing to train
    recent = private_shop(private, basket_orders(12, start=100))
    now = time.time()
    for shop_id in (due, empty):
        mark(private, shop_id, now - 700, now - 700)
    mark(private, recent, now - 5, now - 5)

    async def work(redis: aioredis.Redis) -> tuple[Any, ...]:
        trained = await AutoTrainer(redis, debounce=60, max_delay=600,
                                    tuning_seconds=0).train_due_shops()
        return (trained, [await redis.exists(keys.train_dirty(s)) for s in (due, empty, recent)],
                [await current_model_info(redis, s) is not None for s in (due, empty, recent)])

    trained, dirty, models = private(work)
    assert trained == [due]
    assert dirty == [0, 0, 1] and models == [True, False, False]


def test_the_auto_trainer_runs_until_it_is_stopped(private: Private) -> None:
    shop_id = private_shop(private, basket_orders(12))
    mark(private, shop_id, 1.0, 1.0)

    async def work(redis: aioredis.Redis) -> bool:
        stop = asyncio.Event()
        running = asyncio.create_task(AutoTrainer(redis, 60, 600, tuning_seconds=0)
                                      .run(stop, poll=0.01))
        while await current_model_info(redis, shop_id) is None:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(running, timeout=5)
        return running.done()

    assert private(work)
