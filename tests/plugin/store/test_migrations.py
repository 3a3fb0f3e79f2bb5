"""The input-boundary migration on the real embedded Redis: orders and catalog entries written
before the field rules (as the old code stored them) are repaired or moved aside by itself,
once, and the shop's every read answers 2xx afterwards."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from plugin.store import keys
from plugin.store.migrations import INPUT_BOUNDARY, Outcome, migrate, migrate_shop
from plugin.store.order import Order
from plugin.store.records import get_order
from plugin.store.shops import get_shop
from tests.conftest import Store
from tests.platform_server import register_shop
from tests.webhooks.test_boundary import assert_every_read_answers, good_history


def old_order(order_id: str, **changes: Any) -> str:
    """An order as the code before the field rules stored it, with `changes` applied to it
    (line fields prefixed `line_`)."""
    line = {"product_id": "101", "variant_id": None, "title": "Mug", "quantity": 1,
            "price": "10.00", "line_id": f"{order_id}-1"}
    order = {"order_id": order_id, "customer_id": "11", "created_at": 1_740_000_000.0,
             "updated_at": 1_740_000_000.0, "cancelled": False, "currency": "EUR",
             "total_price": "10.00", "lines": [line], "refunds": []}
    for name, value in changes.items():
        if name.startswith("line_"):
            line[name[5:]] = value
        else:
            order[name] = value
    return json.dumps(order)


POISONED = {
    "p-title": old_order("p-title", line_title="\ud800"),
    "p-product": old_order("p-product", line_product_id="\ud800"),
    "p-currency": old_order("p-currency", currency="\ud800"),
    "p-price": old_order("p-price", line_price="1e400"),
    "p-negative": old_order("p-negative", line_price="-5.00"),
}
REPAIRABLE = {
    "r-currency": old_order("r-currency", currency="eur"),
    "r-title": old_order("r-title", line_title="T" * 2000),
    "r-id": old_order("r-id", customer_id=11),
}
BAD_PRODUCTS = {
    "201": {"product_id": "201", "title": "Fine", "url": "javascript:alert(1)",
            "image_url": "//evil.example/i.jpg", "price": "5.00", "available": True},
    "202": {"product_id": "202", "title": "x\ud800", "url": None, "image_url": None,
            "price": "1e400", "available": True},
}


@pytest.fixture
def old_shop(store: Store, http: httpx.Client) -> str:
    shop = register_shop(store, "shopify", "", "http://127.0.0.1:9")
    good_history(store, shop.shop_id)

    async def write_old_data(redis: Any) -> None:
        for order_id, raw in {**POISONED, **REPAIRABLE}.items():
            await redis.hset(keys.orders(shop.shop_id), order_id, raw.encode("utf-8",
                                                                          "surrogatepass"))
            await redis.hset(keys.order_versions(shop.shop_id), order_id, "1740000000.0 0")
        for product_id, entry in BAD_PRODUCTS.items():
            await redis.hset(keys.products(shop.shop_id), product_id, json.dumps(entry))

    store.run(write_old_data)
    return shop.shop_id


def test_migration_repairs_what_it_can_and_quarantines_the_rest(store, old_shop) -> None:
    outcome = store.run(lambda redis: migrate_shop(redis, old_shop))
    assert outcome == Outcome(repaired=3, quarantined=5, products_fixed=1, products_removed=1)
    quarantine = store.run(lambda redis: redis.hgetall(keys.orders_quarantine(old_shop)))
    assert {k.decode() for k in quarantine} == set(POISONED)
    for order_id in POISONED:
        assert store.run(lambda redis, o=order_id: get_order(redis, old_shop, o)) is None
    currency = store.run(lambda redis: get_order(redis, old_shop, "r-currency"))
    assert isinstance(currency, Order) and currency.currency == "EUR"
    title = store.run(lambda redis: get_order(redis, old_shop, "r-title"))
    assert title is not None and len(title.lines[0].title) == 500
    product = json.loads(store.run(lambda redis: redis.hget(keys.products(old_shop), "201")))
    assert product["url"] is None and product["title"] == "Fine"
    assert product["image_url"] == "https://evil.example/i.jpg"  # protocol-relative: https
    assert store.run(lambda redis: redis.hexists(keys.products(old_shop), "202")) == 0
    assert store.run(lambda redis: redis.sismember(keys.unavailable(old_shop), "202")) == 1


def test_old_poison_is_skipped_on_read_before_the_migration(http, store, old_shop) -> None:
    found = store.run(lambda redis: get_shop(redis, old_shop))
    assert found is not None
    assert_every_read_answers(http, store, found)


def test_migration_runs_once_by_itself(store, old_shop) -> None:
    store.run(lambda redis: redis.srem(keys.MIGRATIONS, INPUT_BOUNDARY))
    changed = store.run(migrate)
    assert changed[old_shop].quarantined == 5
    assert store.run(lambda redis: redis.sismember(keys.MIGRATIONS, INPUT_BOUNDARY)) == 1
    assert store.run(migrate) == {}  # done: a later start does nothing


def test_after_the_migration_every_read_answers(http, store, old_shop) -> None:
    store.run(lambda redis: migrate_shop(redis, old_shop))
    found = store.run(lambda redis: get_shop(redis, old_shop))
    assert found is not None
    assert_every_read_answers(http, store, found)
