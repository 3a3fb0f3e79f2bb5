"""The back-fill of records derived from stored orders (plugin.store.derived) on the real embedded
Redis, with a kind of record of its own (an order's customer id): every stored order's record
written, page after page, none for an order that breaks the field rules, and an order changed
or erased since it was read left to the write that changed it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plugin.store import keys
from plugin.store.derived import PAGE, Derived, backfill, write_records_of
from plugin.store.erasure import erase_customer
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store

WRITE_CUSTOMER_LUA = """
local function write_customer(customers, order_id, record, suffix)
  if record == '' then
    redis.call('HDEL', customers, order_id)
  else
    redis.call('HSET', customers, order_id, record .. suffix)
  end
end
"""


def customers_key(shop_id: str) -> str:
    return f"{keys.PREFIX}:{{{shop_id}}}:test-customers"


CUSTOMERS = Derived(WRITE_CUSTOMER_LUA, "write_customer(KEYS[2], ARGV[1], ARGV[3], ARGV[4])",
                    lambda shop_id: (customers_key(shop_id),),
                    lambda order: (order.customer_id or "").encode(), lambda: ("!",))


def order(order_id: str, customer: str | None) -> Order:
    return Order(order_id, customer, 1.7e9, 1.7e9, False, "EUR", "5.00",
                 (LineItem("p1", None, "P", 1, "5.00", "l1"),))


def written(store: Store, shop_id: str) -> dict[str, bytes]:
    raw: Any = store.run(lambda r: r.hgetall(customers_key(shop_id)))
    return {k.decode(): v for k, v in raw.items()}


def test_every_stored_order_gets_its_record_page_after_page(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    orders = [order(str(n), f"c{n % 7}" if n % 3 else None) for n in range(2 * PAGE + 17)]

    async def as_the_old_code_stored(redis: Any) -> None:
        await redis.hset(keys.orders(shop_id), mapping={o.order_id: o.to_json() for o in orders})
        await redis.hset(keys.orders(shop_id), "bad", '{"order_id": "bad"}')  # breaks the rules
        await redis.hset(customers_key(shop_id), "bad", "stale")

    store.run(as_the_old_code_stored)
    expected = {o.order_id: f"{o.customer_id}!".encode() for o in orders if o.customer_id}
    assert store.run(lambda r: backfill(r, shop_id, CUSTOMERS)) == len(expected) == 678
    assert written(store, shop_id) == expected


def test_an_order_changed_or_erased_since_it_was_read_is_left_alone(store: Store,
                                                                    shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    old, gone = order("1", "ann"), order("2", "bob")

    async def work(redis: Any) -> int:
        for stored in (old, gone):
            await store_order(redis, shop_id, stored)
        read = [(b"1", old.to_json().encode()), (b"2", gone.to_json().encode())]
        await store_order(redis, shop_id, replace(old, customer_id="cy",
                                                  updated_at=old.updated_at + 1))
        await erase_customer(redis, shop_id, "bob")
        return await write_records_of(redis, shop_id, CUSTOMERS, read)

    assert store.run(work) == 0
    assert written(store, shop_id) == {}
