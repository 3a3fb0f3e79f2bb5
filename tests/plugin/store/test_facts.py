"""Order facts on the real embedded Redis: the record of each kind of order read back exactly,
written in the order store's own script (store, cancel, refunds), removed by erasure, and
written for orders stored before facts existed by the migration."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from typing import Any

from plugin.store import keys
from plugin.store.erasure import erase_customer
from plugin.store.facts import (
    backfill_facts,
    fact_record,
    facts_version,
    net_value,
    parse_records,
    write_facts_of,
)
from plugin.store.migrations import ORDER_FACTS, migrate
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import cancel_order, merge_refunds, store_order, store_orders
from plugin.store.shops import NewShop
from recommender.lifecycle import DAY
from tests.conftest import Store
from tests.plugin.engine.test_lifecycle import T0, order

ODD_CUSTOMER = "Zoë O'Brien #7 | x"  # printable: spaces and punctuation are allowed in ids


def rows(records: list[bytes]) -> list[tuple[str, float, Decimal, str]]:
    return parse_records(records).rows()


def stored_facts(store: Store, shop_id: str) -> dict[str, bytes]:
    raw: Any = store.run(lambda r: r.hgetall(keys.order_facts(shop_id)))
    return {k.decode(): v for k, v in raw.items()}


def store_all(store: Store, shop_id: str, orders: list[Order]) -> None:
    async def work(redis: Any) -> None:
        for one in orders:
            await store_order(redis, shop_id, one)

    store.run(work)


# ---- the record ---------------------------------------------------------------------------------


def test_every_kind_of_value_reads_back_exactly() -> None:
    orders = [
        order("1", "ann", 0, prices=("10.00", "5.50"), quantity=2),
        order("2", ODD_CUSTOMER, 1, prices=("0.001",), quantity=3, currency="GBP"),
        order("3", "big", 2, prices=("999999999999.99",), quantity=1_000_000),  # > int64
        order("4", "ann", 3, prices=("1E+3",)),
        replace(order("5", "cy", 4), currency=""),
    ]
    assert rows([fact_record(o) for o in orders]) == [  # by customer id (as str) and time
        (ODD_CUSTOMER, T0 + DAY, Decimal("0.003"), "GBP"),
        ("ann", T0, Decimal("31.00"), "EUR"),
        ("ann", T0 + 3 * DAY, Decimal("1000"), "EUR"),
        ("big", T0 + 2 * DAY, Decimal("999999999999990000.00"), "EUR"),
        ("cy", T0 + 4 * DAY, Decimal("10.00"), ""),
    ]


def test_orders_that_do_not_count_have_no_record() -> None:
    assert fact_record(order("c", "ann", 0, cancelled=True)) == b""
    assert fact_record(order("g", None, 0)) == b""
    assert fact_record(order("f", "ann", 0, prices=("0.00",))) == b""
    assert fact_record(order("r", "ann", 0, refunds=(Refund("x", "r-0", 1),))) == b""


def test_a_value_finer_than_the_scale_is_rounded_half_to_even() -> None:
    line = LineItem("p", None, "P", 1, "2.5E-18", "l1")
    fine = Order("o", "ann", T0, T0, False, "EUR", "0", (line,))
    assert net_value(fine) == (2, -18)
    assert rows([fact_record(fine)])[0][2] == Decimal("2E-18")


def test_no_records_are_no_facts() -> None:
    assert len(parse_records([])) == 0 and rows([]) == []


# ---- written with the order ----------------------------------------------------------------


def test_the_store_writes_the_fact_of_the_version_it_keeps(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    first = order("1", "ann", 0, prices=("4.00", "6.00"))
    store_all(store, shop_id, [first, order("g", None, 0), order("c", "bob", 0, cancelled=True)])
    assert stored_facts(store, shop_id) == {"1": fact_record(first)}
    older = replace(first, updated_at=first.updated_at - 1, lines=first.lines[:1])
    store_all(store, shop_id, [older])  # an older version changes nothing
    assert stored_facts(store, shop_id) == {"1": fact_record(first)}


def test_a_batch_of_orders_writes_the_facts_one_by_one_would(store: Store, make_shop) -> None:
    orders = [order("1", "ann", 0, prices=("4.00", "6.00")), order("2", "bob", 1),
              order("3", "ann", 2, cancelled=True), order("4", None, 3)]
    one, batch = make_shop().shop.shop_id, make_shop().shop.shop_id
    store_all(store, one, orders)
    store.run(lambda r: store_orders(r, batch, orders))
    assert stored_facts(store, batch) == stored_facts(store, one) and len(
        stored_facts(store, one)) == 2


def test_refunds_and_cancellation_change_the_fact(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store.run(lambda r: merge_refunds(r, shop_id, "1", [Refund("early", "1-0", 1)]))
    store_all(store, shop_id, [order("1", "ann", 0, prices=("4.00", "6.00"))])
    assert rows(list(stored_facts(store, shop_id).values()))[0][2] == Decimal("6.00")
    store.run(lambda r: merge_refunds(r, shop_id, "1", [Refund("late", "1-1", 1)]))
    assert stored_facts(store, shop_id) == {}  # nothing kept: not a purchase
    store_all(store, shop_id, [order("2", "bob", 0)])
    store.run(lambda r: cancel_order(r, shop_id, "2", T0 + DAY))
    assert stored_facts(store, shop_id) == {}


def test_the_version_changes_with_the_facts_only(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id

    def version() -> tuple[Any, ...]:
        return store.run(lambda r: facts_version(r, shop_id))

    assert version() == (None, None)
    store_all(store, shop_id, [order("1", "ann", 0)])
    first = version()
    store_all(store, shop_id, [order("1", "ann", 0), order("g", None, 1)])  # no fact changed
    assert version() == first
    store_all(store, shop_id, [order("2", "ann", 1)])
    assert version()[0] == first[0] and int(version()[1]) == int(first[1]) + 1


def test_erasure_removes_the_customers_facts(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, [order("1", "ann", 0), order("2", "ann", 3), order("3", "bob", 1)])
    before = store.run(lambda r: facts_version(r, shop_id))
    erased = store.run(lambda r: erase_customer(r, shop_id, "ann"))
    assert erased.orders == 2
    left = stored_facts(store, shop_id)
    assert set(left) == {"3"} and not any(b"ann" in record for record in left.values())
    assert store.run(lambda r: facts_version(r, shop_id)) != before


# ---- the migration ----------------------------------------------------------------------------


def test_the_migration_writes_the_facts_of_orders_stored_before(store: Store,
                                                                shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    orders = [order("1", "ann", 0, prices=("2.50",), quantity=2), order("2", None, 1),
              order("3", "bob", 2, refunds=(Refund("x", "3-0", 1),)), order("4", "cy", 3)]

    async def as_the_old_code_stored(redis: Any) -> None:
        await redis.hset(keys.orders(shop_id), mapping={o.order_id: o.to_json() for o in orders})
        await redis.hset(keys.orders(shop_id), "bad", '{"order_id": "bad"}')  # no fact
        await redis.srem(keys.MIGRATIONS, ORDER_FACTS)

    store.run(as_the_old_code_stored)
    assert store.run(migrate)[shop_id].facts == 2
    assert stored_facts(store, shop_id) == {"1": fact_record(orders[0]),
                                            "4": fact_record(orders[3])}
    assert store.run(lambda r: backfill_facts(r, shop_id)) == 2  # again: the same facts


def test_the_migration_leaves_an_order_changed_since_it_read_it(store: Store,
                                                                shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    old = order("1", "ann", 0)
    store.run(lambda r: r.hset(keys.orders(shop_id), "1", old.to_json()))
    new = replace(old, updated_at=old.updated_at + 1, lines=old.lines * 2)
    store_all(store, shop_id, [new])
    stale = [(b"1", old.to_json().encode())]
    assert store.run(lambda r: write_facts_of(r, shop_id, stale)) == 0
    assert stored_facts(store, shop_id) == {"1": fact_record(new)}


def test_net_values_equal_decimal_arithmetic_on_random_orders() -> None:
    rng = random.Random(7)
    prices = ["0", "0.5", "19.99", "0.001", "1E+3", "2.5E-7", "999999999999.99", "12"]
    for n in range(300):
        lines = tuple(LineItem(f"p{i}", None, "P", rng.randint(0, 5), rng.choice(prices),
                               rng.choice([f"l{i}", None])) for i in range(rng.randint(0, 4)))
        refunds = tuple(Refund(f"r{j}", f"l{rng.randint(0, 3)}", rng.randint(0, 3))
                        for j in range(rng.randint(0, 3)))
        one = Order(str(n), "ann", T0, T0, False, "EUR", "0", lines, refunds)
        expected = sum((Decimal(line.price) * one.net_quantity(line) for line in lines),
                       Decimal(0))
        mantissa, exponent = net_value(one)
        assert Decimal(mantissa).scaleb(exponent) == expected
