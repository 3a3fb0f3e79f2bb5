"""Training lines (plugin.store.lines) on the real embedded Redis: each kind of order's record read
back as the lines purchases_of counts, written in the order store's own scripts (store, batch,
refunds, cancel), removed by erasure and quarantine, written for orders stored before records
existed by the migration, and the shop's lines read from the records equal to those read from
the orders on the demo store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from plugin.demo.store import generate_store
from plugin.engine import training
from plugin.engine.training import lines_of_orders, load_lines, purchases_of
from plugin.store import keys
from plugin.store.derived import write_records_of
from plugin.store.erasure import erase_customer, erase_shop
from plugin.store.fields import MAX_ID_CHARS
from plugin.store.lines import LINES, backfill_lines, line_record, parse_lines, read_records
from plugin.store.migrations import ORDER_LINES, migrate, migrate_shop
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import cancel_order, merge_refunds, store_order, store_orders
from plugin.store.shops import NewShop
from recommender.matrix import Purchase, PurchaseLines, build_interactions
from tests.conftest import Store
from tests.plugin.store.test_migrations import old_order
from webhooks.shopify import parse_order

T0 = 1_750_000_000.0
LONG_ID = "ü" * MAX_ID_CHARS  # the longest id, two UTF-8 bytes a character


def order(order_id: str, customer: str | None, lines: list[tuple[str, int, str | None]],
          refunds: tuple[Refund, ...] = (), cancelled: bool = False, at: float = T0) -> Order:
    return Order(order_id, customer, at, at, cancelled, "EUR", "10.00",
                 tuple(LineItem(product, None, "A mug", quantity, "5.00", line_id)
                       for product, quantity, line_id in lines), refunds)


EVERY_KIND = [
    order("1", "c1", [("p1", 2, "l1"), ("p2", 1, "l2")], at=T0 + 0.125),
    order("2", "c1", [("p1", 1, "l1")], cancelled=True),
    order("3", None, [("p2", 1, None), ("p3", 4, None)]),  # a guest basket
    order("4", "c2", [("p1", 3, "l1"), ("p2", 1, "l2"), ("p3", 2, None)],  # refunded in part
          (Refund("r1", "l1", 1), Refund("r2", "l1", 1), Refund("r3", "l2", 5),
           Refund("r4", "gone", 1))),
    order("5", "c2", [("p4", 2, "l1")], (Refund("r1", "l1", 2),)),  # all given back
    order("6", "c3", [("p4", 0, "l1"), ("p5", 1000000, "l2")]),
    order("7", "c3", []),
    order("ç-ü 客 #8", "Zoë O'Brien | x", [("é-1 ✓", 1, "l1"), ("😀", 3, "l2")]),
    order(LONG_ID, LONG_ID, [(LONG_ID, 1, "l1"), ("p" * MAX_ID_CHARS, 2, "l2")]),
]


def canonical(lines: PurchaseLines) -> list[Purchase]:
    """The lines as Purchase objects by order id (an order's lines in their order)."""
    return sorted(lines.purchases(), key=lambda purchase: purchase.order_id)


def counted(orders: list[Order]) -> tuple[list[Purchase], int]:
    """What purchases_of counts of the orders, as canonical reads it, and how many count."""
    purchases = [purchase for one in orders for purchase in purchases_of(one)]
    kept = sum(bool(purchases_of(one)) for one in orders)
    return sorted(purchases, key=lambda purchase: purchase.order_id), kept


def records(store: Store, shop_id: str) -> dict[str, bytes]:
    raw: Any = store.run(lambda r: r.hgetall(keys.order_lines(shop_id)))
    return {k.decode(): v for k, v in raw.items()}


def ready(store: Store, shop_id: str) -> bool:
    return bool(store.run(lambda r: r.exists(keys.order_lines_ready(shop_id))))


def store_all(store: Store, shop_id: str, orders: list[Order]) -> None:
    async def work(redis: Any) -> None:
        for one in orders:
            await store_order(redis, shop_id, one)

    store.run(work)


def as_the_old_code_stored(store: Store, shop_id: str, orders: list[Order]) -> None:
    """The orders written as the code before records stored them: no record, no marker."""
    store.run(lambda r: r.hset(keys.orders(shop_id),
                               mapping={one.order_id: one.to_json() for one in orders}))


# ---- the record ---------------------------------------------------------------------------------


def test_every_kind_of_order_reads_back_as_the_lines_it_keeps() -> None:
    lines, orders = parse_lines([record for one in EVERY_KIND if (record := line_record(one))])
    assert (canonical(lines), orders) == counted(EVERY_KIND)
    assert orders == 6 and len(lines) == 11
    assert lines.quantities.dtype == np.int64 and lines.times.dtype == np.float64
    assert {p.customer_id for p in lines.purchases() if p.order_id == "3"} == {None}
    assert T0 + 0.125 in lines.times.tolist()  # created_at exactly


def test_orders_that_keep_nothing_have_no_record() -> None:
    assert [one.order_id for one in EVERY_KIND if not line_record(one)] == ["2", "5", "7"]


def test_no_records_are_no_lines() -> None:
    lines, orders = parse_lines([])
    assert len(lines) == 0 and orders == 0 and lines.purchases() == []


# ---- written with the order ---------------------------------------------------------------------


def test_the_store_writes_the_record_of_the_version_it_keeps(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, EVERY_KIND)
    assert records(store, shop_id) == {one.order_id: line_record(one) for one in EVERY_KIND
                                       if line_record(one)}
    first = EVERY_KIND[0]
    older = replace(first, updated_at=first.updated_at - 1, lines=first.lines[:1])
    store_all(store, shop_id, [older])  # an older version changes nothing
    assert records(store, shop_id)["1"] == line_record(first)
    newer = replace(first, updated_at=first.updated_at + 1, lines=first.lines[:1])
    store_all(store, shop_id, [newer])
    assert records(store, shop_id)["1"] == line_record(newer) != line_record(first)


def test_a_batch_of_orders_writes_the_records_one_by_one_would(store: Store, make_shop) -> None:
    one, batch = make_shop().shop.shop_id, make_shop().shop.shop_id
    store_all(store, one, EVERY_KIND)
    store.run(lambda r: store_orders(r, batch, EVERY_KIND))
    assert records(store, batch) == records(store, one) and len(records(store, one)) == 6
    assert ready(store, batch) and ready(store, one)


def test_refunds_and_cancellation_change_the_record(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    two_lines = order("1", "ann", [("p1", 1, "l1"), ("p2", 2, "l2")])
    store.run(lambda r: merge_refunds(r, shop_id, "1", [Refund("early", "l1", 1)]))
    assert records(store, shop_id) == {}  # pending: no order yet
    store_all(store, shop_id, [two_lines])
    kept = replace(two_lines, refunds=(Refund("early", "l1", 1),))
    assert records(store, shop_id) == {"1": line_record(kept)}
    assert parse_lines(list(records(store, shop_id).values()))[0].purchases() == [
        Purchase("1", "ann", "p2", 2, T0)]
    store.run(lambda r: merge_refunds(r, shop_id, "1", [Refund("late", "l2", 1)]))
    assert parse_lines(list(records(store, shop_id).values()))[0].quantities.tolist() == [1]
    store.run(lambda r: merge_refunds(r, shop_id, "1", [Refund("last", "l2", 1)]))
    assert records(store, shop_id) == {}  # nothing kept
    store_all(store, shop_id, [order("2", "bob", [("p1", 1, "l1")])])
    store.run(lambda r: cancel_order(r, shop_id, "2", T0 + 1))
    assert records(store, shop_id) == {}


# ---- complete or not: which read training takes -------------------------------------------------


def test_the_first_order_of_a_new_shop_makes_its_records_complete(store: Store,
                                                                   shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store.run(lambda r: r.hset(keys.order_lines(shop_id), "gone", b"stale"))
    assert not ready(store, shop_id)
    store_all(store, shop_id, [order("1", "ann", [("p1", 1, "l1")])])
    assert ready(store, shop_id) and set(records(store, shop_id)) == {"1"}


def test_a_shop_with_orders_stored_before_records_trains_from_the_orders(
        store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    as_the_old_code_stored(store, shop_id, EVERY_KIND[:4])
    store_all(store, shop_id, EVERY_KIND[4:])  # with records, but not every order has one
    assert not ready(store, shop_id) and store.run(lambda r: read_records(r, shop_id)) is None
    lines, orders = store.run(lambda r: load_lines(r, shop_id))
    assert (canonical(lines), orders) == counted(EVERY_KIND)


def test_complete_records_are_read_instead_of_the_orders(store: Store, shop: NewShop,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, EVERY_KIND)

    async def not_the_orders(*args: Any) -> Any:
        raise AssertionError("read the orders")

    monkeypatch.setattr(training, "lines_of_orders", not_the_orders)
    lines, orders = store.run(lambda r: load_lines(r, shop_id))
    assert (canonical(lines), orders) == counted(EVERY_KIND)


# ---- erasure and moves --------------------------------------------------------------------------


def test_erasure_removes_the_customers_records(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, [order("1", "ann", [("p1", 1, "l1")]),
                               order("2", "ann", [("p2", 1, "l1")]),
                               order("3", "bob", [("p1", 1, "l1")])])
    erased = store.run(lambda r: erase_customer(r, shop_id, "ann"))
    assert erased.orders == 2
    left = records(store, shop_id)
    assert set(left) == {"3"} and not any(b"ann" in record for record in left.values())
    lines, orders = store.run(lambda r: load_lines(r, shop_id))
    assert orders == 1 and {p.customer_id for p in lines.purchases()} == {"bob"}


def test_erasing_the_shop_leaves_no_record_nor_marker(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, EVERY_KIND)
    assert records(store, shop_id) and ready(store, shop_id)
    store.run(lambda r: erase_shop(r, shop_id))
    assert records(store, shop_id) == {} and not ready(store, shop_id)
    assert store.run(lambda r: backfill_lines(r, shop_id)) == 0  # the migration comes late:
    assert not ready(store, shop_id)  # a deleted shop is not marked


def test_the_input_migration_moves_records_with_their_orders(store: Store,
                                                             shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_all(store, shop_id, [order("good", "11", [("101", 1, "good-1")]),
                               order("r-currency", "11", [("101", 1, "r-currency-1")]),
                               order("p-price", "11", [("101", 1, "p-price-1")])])
    store.run(lambda r: r.hset(keys.orders(shop_id), mapping={  # as the old code stored them
        "r-currency": old_order("r-currency", currency="eur", customer_id=12),
        "p-price": old_order("p-price", line_price="1e400")}))
    outcome = store.run(lambda r: migrate_shop(r, shop_id))
    assert (outcome.repaired, outcome.quarantined) == (1, 1)
    assert set(records(store, shop_id)) == {"good", "r-currency"}
    repaired = parse_lines([records(store, shop_id)["r-currency"]])[0].purchases()
    assert [p.customer_id for p in repaired] == ["12"]  # the repaired order's record
    lines, orders = store.run(lambda r: load_lines(r, shop_id))
    from_orders, counted_orders = store.run(lambda r: lines_of_orders(r, shop_id))
    assert (canonical(lines), orders) == (canonical(from_orders), counted_orders)
    assert orders == 2


# ---- the migration ------------------------------------------------------------------------------


def test_the_migration_writes_the_records_of_orders_stored_before(store: Store,
                                                                  shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    as_the_old_code_stored(store, shop_id, EVERY_KIND)
    store.run(lambda r: r.hset(keys.orders(shop_id), "bad", '{"order_id": "bad"}'))  # none
    store.run(lambda r: r.srem(keys.MIGRATIONS, ORDER_LINES))
    assert not ready(store, shop_id)
    assert store.run(migrate)[shop_id].lines == 6
    assert records(store, shop_id) == {one.order_id: line_record(one) for one in EVERY_KIND
                                       if line_record(one)}
    assert ready(store, shop_id)
    assert store.run(lambda r: backfill_lines(r, shop_id)) == 6  # again: the same records
    assert store.run(lambda r: r.sismember(keys.MIGRATIONS, ORDER_LINES)) == 1


def test_the_migration_leaves_an_order_changed_since_it_read_it(store: Store,
                                                                shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    old = order("1", "ann", [("p1", 1, "l1")])
    as_the_old_code_stored(store, shop_id, [old, order("2", "bob", [("p2", 1, "l1")])])
    new = replace(old, updated_at=old.updated_at + 1, lines=(*old.lines, *EVERY_KIND[0].lines))
    store_all(store, shop_id, [new])
    stale = [(b"1", old.to_json().encode())]
    assert store.run(lambda r: write_records_of(r, shop_id, LINES, stale)) == 0
    assert records(store, shop_id) == {"1": line_record(new)}
    erased = [(b"2", order("2", "bob", [("p2", 1, "l1")]).to_json().encode())]
    store.run(lambda r: erase_customer(r, shop_id, "bob"))
    assert store.run(lambda r: write_records_of(r, shop_id, LINES, erased)) == 0
    assert set(records(store, shop_id)) == {"1"}


# ---- a realistic shop ---------------------------------------------------------------------------


def test_the_demo_store_reads_the_same_lines_from_records_as_from_orders(
        store: Store, make_shop) -> None:
    orders = [parse_order(payload) for payload in generate_store(n_orders=1500).orders]
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> None:
        await store_orders(redis, shop_id, orders)
        for one in orders[::7]:  # refunds for some: a line whole, the next one in part
            given_back = [one.lines[0].quantity, 1] if one.lines else []
            await merge_refunds(redis, shop_id, one.order_id, [
                Refund(uuid.uuid4().hex, line.line_id or "", quantity)
                for line, quantity in zip(one.lines, given_back, strict=False)])

    store.run(work)
    from_records, counted_records = store.run(lambda r: load_lines(r, shop_id))
    from_orders, counted_orders = store.run(lambda r: lines_of_orders(r, shop_id))
    assert store.run(lambda r: read_records(r, shop_id)) is not None
    assert canonical(from_records) == canonical(from_orders)
    assert counted_records == counted_orders > 1000 and len(from_records) > 2000
    a, b = build_interactions(from_records), build_interactions(from_orders)
    assert a.user_ids.tolist() == b.user_ids.tolist() and a.item_ids.tolist() == b.item_ids.tolist()
    for name in ("user_items", "basket_items"):
        assert (getattr(a, name) != getattr(b, name)).nnz == 0, name
