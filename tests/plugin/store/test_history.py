"""plugin.store.history: a customer's history as personal recommendations read it."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.history import customer_histories, customer_history, net_quantities
from plugin.store.order import Order, Refund
from plugin.store.records import store_order
from tests.conftest import Store
from tests.plugin.store.test_records import T0, an_order, shop_id_of


def test_a_customers_history_counts_their_orders_that_still_count(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    refunded = replace(an_order("4", "c1", T0 + 3, ("p4",)), refunds=(Refund("r", "4-0", 1),))

    async def work(redis: Any) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        for one in (an_order("1", "c1", T0, ("p1", "p2")), an_order("2", "c1", T0 + 1, ("p1",)),
                    an_order("3", "c1", T0 + 2, ("p3",), cancelled=True), refunded,
                    an_order("5", "c2", T0 + 4, ("p5",))):
            await store_order(redis, shop_id, one)
        await redis.zadd(keys.customer_orders(shop_id, "c1"), {"5": T0 + 5, "gone": T0 + 6})
        return (await customer_history(redis, shop_id, "c1"),
                await customer_history(redis, shop_id, "c1", newest=5),  # skips 5 and gone
                await customer_history(redis, shop_id, "nobody"))

    everything, newest, nobody = store.run(work)
    assert everything == {"p1": 2, "p2": 1}  # not cancelled, refunded or someone else's
    assert newest == {"p1": 1}  # orders 4, 3 and 2 (and two that are not theirs)
    assert nobody == {}


def test_a_partly_refunded_line_counts_and_unicode_ids_come_back_as_stored(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    two = replace(an_order("7", "kundé-1", T0, ("tässe", "p2"), quantity=2),
                  refunds=(Refund("r1", "7-0", 1), Refund("r2", "7-1", 1), Refund("r3", "7-1", 1)))

    async def work(redis: Any) -> dict[str, int]:
        await store_order(redis, shop_id, two)
        await store_order(redis, shop_id, an_order("8", "kundé-1", T0 + 1, ("tässe",)))
        return await customer_history(redis, shop_id, "kundé-1")

    assert store.run(work) == {"tässe": 2}  # p2's two were given back


def test_stored_values_that_are_no_order_are_skipped_and_logged(
        store: Store, make_shop: Any, caplog: pytest.LogCaptureFixture) -> None:
    shop_id = shop_id_of(make_shop)

    async def work(redis: Any) -> dict[str, int]:
        await store_order(redis, shop_id, an_order("1", "c1", T0, ("p1",)))
        await redis.hset(keys.orders(shop_id), mapping={"2": b"\xff not json", "3": b"[1]"})
        await redis.zadd(keys.customer_orders(shop_id, "c1"), {"2": T0 + 1, "3": T0 + 2})
        return await customer_history(redis, shop_id, "c1")

    with caplog.at_level(logging.WARNING, logger="plugin.store.history"):
        assert store.run(work) == {"p1": 1}
    assert len(caplog.records) == 2


def test_net_quantities_are_what_the_order_model_says() -> None:
    order = replace(an_order("9", "c1", T0, ("a", "b", "c"), quantity=3),
                    refunds=(Refund("r1", "9-0", 1), Refund("r2", "9-1", 5)))
    order = replace(order, lines=(*order.lines, replace(order.lines[0], line_id=None)))
    data = Order.from_json(order.to_json())
    as_json = json.loads(order.to_json())
    assert net_quantities(as_json["lines"], as_json["refunds"]) == \
        [data.net_quantity(line) for line in data.lines] == [2, 0, 3, 3]
    assert net_quantities(as_json["lines"], []) == [3, 3, 3, 3]


def test_histories_of_a_page_equal_each_customers_also_after_a_script_flush(
        store: Store, make_shop: Any) -> None:
    shop_id = shop_id_of(make_shop)
    customers = ["c1", "c2", "nobody", "c1"]

    async def work(redis: Any) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
        for n in range(6):
            await store_order(redis, shop_id, an_order(str(n), f"c{n % 2 + 1}", T0 + n,
                                                       (f"p{n % 3}",)))
        await redis.script_flush()  # a restarted server knows no script yet
        together = await customer_histories(redis, shop_id, customers)
        assert await customer_histories(redis, shop_id, []) == []
        return together, [await customer_history(redis, shop_id, c) for c in customers]

    together, one_by_one = store.run(work)
    assert together == one_by_one
    assert together[0] == {"p0": 1, "p2": 1, "p1": 1} and together[2] == {}
