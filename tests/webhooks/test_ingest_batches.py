"""The worker stores a run of order events in a few round trips (records.store_orders): what it
stores must be what processing the same events one by one stores.

One list of Shopify events (new orders, newer and older versions of one order in the same
run, a same-time cancellation, refunds before and after their order, a product update and a
poison event between runs, a guest order, an order attributed to a widget click) goes to two
shops: the first's stream is processed in one batch by the Ingestor, the second's events are
applied one by one with process_event. Every record the worker writes must then be equal.
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.store import keys, records
from plugin.store.events import Event
from plugin.store.fields import PayloadError
from plugin.store.shops import NewShop
from plugin.store.tracking import record_click
from tests.conftest import Store
from tests.helpers import SHARED_DATA, body_of, order_payload
from tests.webhooks.test_ingest_claims import add_read_by
from webhooks import shopify
from webhooks.ingest import GROUP, Ingestor, process_event

PRODUCT = json.loads((SHARED_DATA / "webhooks" / "shopify" /
                      "rest_fixture_shopify_python_api_product.json").read_text())["product"]
DAY1, DAY2, DAY3 = "2025-03-01T10:00:00Z", "2025-03-02T10:00:00Z", "2025-03-03T10:00:00Z"


def refund(order_id: int, refund_id: int, line: int, quantity: int = 1) -> dict[str, Any]:
    return {"id": refund_id, "order_id": order_id, "created_at": DAY2,
            "refund_line_items": [{"line_item_id": order_id * 100 + line,
                                   "quantity": quantity}]}


def product(product_id: int, title: str) -> dict[str, Any]:
    return {**copy.deepcopy(PRODUCT), "id": product_id, "title": title}


def events() -> list[Event]:
    """The deliveries, in stream order."""
    bad = order_payload(8, 1, [1])
    bad["line_items"] = "not a list"
    deliveries = [
        ("orders/create", order_payload(1, 11, [101, 102], created_at=DAY1)),
        ("orders/create", order_payload(2, 12, [102, 103], created_at=DAY1)),
        ("orders/updated", order_payload(1, 11, [101, 102, 104], created_at=DAY1,
                                         updated_at=DAY2)),
        ("orders/create", order_payload(1, 11, [101], created_at=DAY1)),  # older: loses
        ("orders/create", order_payload(3, None, [105, 101], created_at=DAY1)),  # a guest
        ("refunds/create", refund(2, 900, 0)),  # splits the run
        ("orders/create", order_payload(4, 13, [106], created_at=DAY2)),
        ("orders/cancelled", order_payload(4, 13, [106], created_at=DAY2,
                                           cancelled_at=DAY2)),  # same time: cancels
        ("refunds/create", refund(5, 901, 1)),  # before its order: kept pending
        ("products/update", product(106, "Renamed 106")),
        ("orders/create", order_payload(5, 14, [107, 108], created_at=DAY3)),
        ("orders/create", bad),  # dead-lettered
        ("orders/create", order_payload(6, 11, [101, 109], created_at=DAY3)),
        ("orders/cancelled", order_payload(2, 12, [102, 103], created_at=DAY1,
                                           updated_at=DAY3, cancelled_at=DAY3)),
        ("orders/updated", order_payload(6, 11, [101, 109], created_at=DAY3, quantity=3,
                                         updated_at=DAY3)),  # same time, not cancelled: loses
    ]
    return [Event(shopify.PLATFORM, topic, uuid.uuid4().hex, body_of(payload))
            for topic, payload in deliveries]


async def click(redis: aioredis.Redis, shop_id: str) -> None:
    """Customer 11 clicked product 101 a day before ordering it."""
    at = datetime(2025, 2, 28, tzinfo=UTC).timestamp()
    await record_click(redis, shop_id, placement="bundle", product_id="101", customer_id="11",
                       visitor_id=None, at=at)


async def written(redis: aioredis.Redis, shop_id: str) -> dict[str, Any]:
    """What the worker writes for the shop (change notes, counters of deliveries and times of
    writing aside)."""
    result: dict[str, Any] = {}
    for name, key in [("orders", keys.orders), ("versions", keys.order_versions),
                      ("facts", keys.order_facts), ("pending refunds", keys.pending_refunds),
                      ("products", keys.products), ("attribution", keys.widget_attribution)]:
        result[name] = await redis.hgetall(key(shop_id))
    result["attributed"] = await redis.zrange(keys.widget_attributed_orders(shop_id), 0, -1,
                                              withscores=True)
    result["unavailable"] = await redis.smembers(keys.unavailable(shop_id))
    for customer in ("11", "12", "13", "14"):
        result[f"orders of {customer}"] = await redis.zrange(
            keys.customer_orders(shop_id, customer), 0, -1, withscores=True)
    result["order changes"] = await redis.hget(keys.stats(shop_id), "order_changes")
    result["fact changes"] = await redis.hget(keys.order_facts_version(shop_id), "n")
    result["marked for training"] = await redis.exists(keys.train_dirty(shop_id))
    return result


def test_a_batch_stores_what_one_by_one_stores(store: Store, make_shop: Any) -> None:
    batched, one_by_one = (make_shop(storefront_url="https://shop.example/").shop
                           for _ in range(2))
    deliveries = events()

    async def work(redis: aioredis.Redis) -> tuple[dict[str, Any], dict[str, Any], int, int]:
        for shop in (batched, one_by_one):
            await click(redis, shop.shop_id)
        await add_read_by(redis, batched.shop_id, "reader", deliveries)
        processed = await Ingestor(redis, consumer="batch").claim_stale(batched.shop_id, 0)
        for delivery in deliveries:
            with contextlib.suppress(PayloadError):  # the poison event, dead-lettered there
                await process_event(redis, one_by_one, delivery)
        pending = (await redis.xpending(keys.events(batched.shop_id), GROUP))["pending"]
        return (await written(redis, batched.shop_id), await written(redis, one_by_one.shop_id),
                processed, pending)

    in_batch, alone, processed, pending = store.run(work)
    assert (processed, pending) == (len(deliveries), 0)
    for name in in_batch:
        assert in_batch[name] == alone[name], name
    assert in_batch["attribution"]  # the cases happened: a click attributed, a refund that
    assert json.loads(in_batch["orders"][b"5"])["refunds"]  # came first merged in
    assert len(in_batch["orders"]) == 6


def test_a_run_with_one_order_many_times_keeps_the_newest(store: Store, make_shop: Any) -> None:
    """Versions of one order in one run conflict with what the run read: each is stored again
    on its own, in turn."""
    shop: NewShop = make_shop()
    stamps = [f"2025-03-0{day}T10:00:00Z" for day in (2, 4, 1, 3)]
    deliveries = [Event(shopify.PLATFORM, "orders/updated", uuid.uuid4().hex,
                        body_of(order_payload(7, 15, [110 + n], created_at=DAY1,
                                              updated_at=stamp)))
                  for n, stamp in enumerate(stamps)]

    async def work(redis: aioredis.Redis) -> tuple[bytes, bytes]:
        await add_read_by(redis, shop.shop.shop_id, "reader", deliveries)
        await Ingestor(redis, consumer="batch").claim_stale(shop.shop.shop_id, 0)
        return (await redis.hget(keys.orders(shop.shop.shop_id), "7"),
                await redis.hget(keys.stats(shop.shop.shop_id), "order_changes"))

    stored, changes = store.run(work)
    assert [line["product_id"] for line in json.loads(stored)["lines"]] == ["111"]
    assert changes == b"2"  # the 2nd and 4th of March versions: the others were older


def test_a_run_that_cannot_be_stored_at_once_is_stored_one_by_one(
    store: Store, make_shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = make_shop().shop
    deliveries = [Event(shopify.PLATFORM, "orders/create", uuid.uuid4().hex,
                        body_of(order_payload(20 + n, 16, [120 + n], created_at=DAY1)))
                  for n in range(3)]

    async def refuse(*args: Any) -> None:
        raise records.ConcurrentUpdate("an order kept changing")

    monkeypatch.setattr(records, "store_orders", refuse)

    async def work(redis: aioredis.Redis) -> tuple[list[bytes], int]:
        await add_read_by(redis, shop.shop_id, "reader", deliveries)
        await Ingestor(redis, consumer="batch").claim_stale(shop.shop_id, 0)
        return (sorted(await redis.hkeys(keys.orders(shop.shop_id))),
                (await redis.xpending(keys.events(shop.shop_id), GROUP))["pending"])

    assert store.run(work) == ([b"20", b"21", b"22"], 0)
