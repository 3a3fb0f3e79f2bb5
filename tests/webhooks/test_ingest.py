"""The ingestion worker against the embedded Redis: events in the stream -> stored orders.

The session's live server (started by any test using `http`) runs its own Ingestor on the same
group, so stream tests assert the end state after `drain`, which waits until nothing is pending;
tests whose arrival order matters call `process_event` directly.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from plugin.engine.training import AutoTrainer, purchases_of, train_shop
from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from plugin.web.responses import json_bytes
from tests.conftest import Store
from tests.helpers import SHARED_DATA, body_of, order_payload, shopify_headers
from webhooks import shopify
from webhooks.ingest import GROUP, Ingestor, ensure_group, process_event

SHOPIFY_DATA = SHARED_DATA / "webhooks" / "shopify"


def event(payload: Any, topic: str = "orders/create", delivery: str | None = None) -> Event:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return Event(shopify.PLATFORM, topic, delivery or uuid.uuid4().hex, body)


def ingest(store: Store, shop_id: str, *events: Event) -> dict[bytes, bytes]:
    """Append the events, drain the shop's stream; the stored orders."""
    async def work(redis: Any) -> dict[bytes, bytes]:
        for item in events:
            await append(redis, shop_id, item)
        await Ingestor(redis).drain(shop_id)
        return await redis.hgetall(keys.orders(shop_id))

    return store.run(work)


def apply(store: Store, shop: NewShop, *events: Event) -> dict[bytes, bytes]:
    """Process the events in this exact order, bypassing the stream; the stored orders."""
    async def work(redis: Any) -> dict[bytes, bytes]:
        for item in events:
            await process_event(redis, shop.shop, item)
        return await redis.hgetall(keys.orders(shop.shop.shop_id))

    return store.run(work)


def pending(store: Store, shop_id: str) -> int:
    return store.run(lambda r: r.xpending(keys.events(shop_id), GROUP))["pending"]


def test_order_event_becomes_a_normalised_stored_order(store, shop) -> None:
    payload = order_payload(1001, 77, [501, 502], created_at="2025-03-01T10:00:00+01:00")
    payload["line_items"][1].update(quantity=2, price="12.50")
    payload["line_items"].append({"id": 9, "product_id": None, "title": "Tip", "quantity": 1,
                                  "price": "2.00"})
    stored = ingest(store, shop.shop.shop_id, event(payload))
    assert Order.from_json(stored[b"1001"]) == Order(
        order_id="1001", customer_id="77",
        created_at=datetime(2025, 3, 1, 9, tzinfo=UTC).timestamp(),
        updated_at=datetime(2025, 3, 1, 9, tzinfo=UTC).timestamp(),
        cancelled=False, currency="EUR", total_price="20.00",
        lines=(LineItem("501", "5011", "Product 501", 1, "10.00", line_id="100100"),
               LineItem("502", "5021", "Product 502", 2, "12.50", line_id="100101")),
    )


def test_signed_webhook_over_http_ends_stored(store, shop, http) -> None:
    body = body_of(order_payload(1002, 78, [503]))
    headers = shopify_headers(shop.shop.domain, shop.shop.webhook_secrets[0].reveal(), body)
    assert http.post("/webhooks/shopify", content=body, headers=headers).status_code == 200
    stored = ingest(store, shop.shop.shop_id)
    assert Order.from_json(stored[b"1002"]).lines[0].product_id == "503"


def test_redelivered_order_is_stored_once_and_unchanged(store, shop) -> None:
    payload = order_payload(1003, 79, [504, 505])
    stored = ingest(store, shop.shop.shop_id, event(payload, delivery="first"),
                    event(payload, delivery="retry-after-dedupe-expired"))
    assert stored == {b"1003": shopify.parse_order(payload).to_json().encode()}
    changes = store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes"))
    assert changes == b"1"


@pytest.mark.parametrize("newer_first", [True, False], ids=["newer-first", "older-first"])
def test_out_of_order_updates_converge_on_the_newest(store, shop, newer_first) -> None:
    older = order_payload(1004, 80, [506], updated_at="2025-03-01T10:00:00Z")
    newer = order_payload(1004, 80, [506, 507], updated_at="2025-03-02T10:00:00Z")
    updates = [event(newer, "orders/updated"), event(older, "orders/create")]
    stored = apply(store, shop, *(updates if newer_first else updates[::-1]))
    assert stored == {b"1004": shopify.parse_order(newer).to_json().encode()}


def test_cancelled_order_counts_for_nothing(store, shop) -> None:
    created = order_payload(1005, 81, [508])
    cancelled = order_payload(1005, 81, [508], updated_at="2025-03-02T10:00:00Z",
                              cancelled_at="2025-03-02T10:00:00Z")
    stored = apply(store, shop, event(created), event(cancelled, "orders/cancelled"))
    order = Order.from_json(stored[b"1005"])
    assert order.cancelled
    assert purchases_of(order) == []


def test_older_version_after_cancellation_does_not_revive_the_order(store, shop) -> None:
    created = order_payload(1006, 82, [509])
    cancelled = order_payload(1006, 82, [509], updated_at="2025-03-02T10:00:00Z",
                              cancelled_at="2025-03-02T10:00:00Z")
    stored = apply(store, shop, event(cancelled, "orders/cancelled"), event(created))
    assert Order.from_json(stored[b"1006"]).cancelled


def test_redelivered_cancellation_changes_nothing(store, shop) -> None:
    cancelled = order_payload(1007, 83, [510], updated_at="2025-03-02T10:00:00Z",
                              cancelled_at="2025-03-02T10:00:00Z")
    apply(store, shop, event(cancelled, "orders/cancelled"), event(cancelled, "orders/cancelled"))
    changes = store.run(lambda r: r.hget(keys.stats(shop.shop.shop_id), "order_changes"))
    assert changes == b"1"


def test_same_time_cancellation_replaces_the_placed_order(store, shop) -> None:
    placed = order_payload(1008, 84, [511], updated_at="2025-03-02T10:00:00Z")
    cancelled = {**placed, "cancelled_at": "2025-03-02T10:00:00Z"}
    stored = apply(store, shop, event(placed), event(cancelled, "orders/cancelled"))
    assert Order.from_json(stored[b"1008"]).cancelled


def test_product_event_stores_a_catalog_entry(store, make_shop) -> None:
    shop = make_shop(storefront_url="https://shop.example/")
    raw = json.loads((SHOPIFY_DATA / "rest_fixture_shopify_python_api_product.json").read_text())
    ingest(store, shop.shop.shop_id, event(raw["product"], "products/create"))
    entry = store.run(lambda r: r.hget(keys.products(shop.shop.shop_id), "632910392"))
    assert json.loads(entry) == {
        "product_id": "632910392",
        "title": "IPod Nano - 8GB",
        "url": "https://shop.example/products/ipod-nano",
        "image_url": "http://static.shopify.com/s/files/1/6909/3384/products/ipod-nano.png?0",
        "price": "199.00",
        "available": True,
        "variant_id": "808950810",
    }


def test_rest_fixture_order_parses_with_string_ids() -> None:
    raw = json.loads((SHOPIFY_DATA / "rest_fixture_shopify_python_api_order.json").read_text())
    order = shopify.parse_order(raw["order"])
    assert (order.order_id, order.customer_id) == ("450789469", "207119551")
    assert [line.product_id for line in order.lines] == ["632910392"] * 3
    assert order.created_at == datetime(2008, 1, 10, 16, tzinfo=UTC).timestamp()


def test_captured_notification_keeps_ids_beyond_2_53_exact() -> None:
    text = (SHOPIFY_DATA / "orders_test_notification_raw_2022-05.json").read_text()
    order = shopify.parse_order(json.loads(text))
    raw_order_id = re.match(r'\{"id":(\d+)', text)
    raw_customer_id = re.search(r'"customer":\{"id":(\d+)', text)
    assert raw_order_id and raw_customer_id
    assert int(raw_order_id[1]) > 2**53 and int(raw_customer_id[1]) > 2**53
    assert (order.order_id, order.customer_id) == (raw_order_id[1], raw_customer_id[1])
    assert [line.product_id for line in order.lines] == re.findall(r'"product_id":(\d+)', text)
    assert order.cancelled


def test_the_order_the_receiver_handed_over_is_stored_without_parsing_the_body(
        store, shop) -> None:
    order = shopify.parse_order(order_payload(1020, 90, [520, 521]))
    handed_over = Event(shopify.PLATFORM, "orders/create", uuid.uuid4().hex, b"never parsed",
                        order=json_bytes(order))
    stored = ingest(store, shop.shop.shop_id, handed_over)
    assert Order.from_json(stored[b"1020"]) == order
    assert pending(store, shop.shop.shop_id) == 0


def test_entry_of_a_crashed_consumer_is_reclaimed_and_acknowledged(store, shop) -> None:
    shop_id = shop.shop.shop_id
    crashed = event(order_payload(1007, 83, [510]))

    async def work(redis: Any) -> tuple[list[Any], int, bytes | None]:
        await ensure_group(redis, shop_id)
        # added and read by "crashed" in one step, so the live server's Ingestor cannot take it
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.events(shop_id), crashed.fields())
            pipe.xreadgroup(GROUP, "crashed", {keys.events(shop_id): ">"})
            _, delivered = await pipe.execute()
        claimed = await Ingestor(redis, consumer="survivor").claim_stale(shop_id, min_idle_ms=0)
        return delivered, claimed, await redis.hget(keys.orders(shop_id), "1007")

    delivered, claimed, stored = store.run(work)
    assert len(delivered[0][1]) == 1 and claimed == 1
    assert stored is not None and Order.from_json(stored).customer_id == "83"
    assert pending(store, shop_id) == 0


def test_poison_event_is_dead_lettered_and_later_events_still_processed(store, shop) -> None:
    shop_id = shop.shop.shop_id
    stored = ingest(store, shop_id, event(b"[]"), event(order_payload(1008, 84, [511])))
    dead = store.run(lambda r: r.xrange(keys.dead_letters(shop_id)))
    assert len(dead) == 1
    assert dead[0][1][b"body"] == b"[]" and dead[0][1][b"topic"] == b"orders/create"
    assert dead[0][1][b"error"].startswith(b"PayloadError")
    assert list(stored) == [b"1008"]
    assert pending(store, shop_id) == 0


def test_storing_an_order_marks_the_shop_for_retraining(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: Any) -> dict[bytes, bytes]:
        await store_order(redis, shop_id, shopify.parse_order(order_payload(1009, 85, [512])))
        return await redis.hgetall(keys.train_dirty(shop_id))

    marks = store.run(work)
    assert set(marks) == {b"first", b"last"}


def test_auto_trainer_trains_a_dirty_shop_and_clears_the_mark(store, shop) -> None:
    shop_id = shop.shop.shop_id
    orders = [order_payload(2000 + n, n % 5, [600 + n % 4, 601 + n % 4]) for n in range(12)]

    async def work(redis: Any) -> tuple[list[str], int, bytes | None]:
        for payload in orders:
            await store_order(redis, shop_id, shopify.parse_order(payload))
        trained = await AutoTrainer(redis, debounce=0, max_delay=0).train_due_shops()
        return trained, await redis.exists(keys.train_dirty(shop_id)), await redis.get(
            keys.model_current(shop_id))

    trained, dirty, current = store.run(work)
    assert shop_id in trained
    assert dirty == 0
    assert current is not None


def test_housekeeping_trims_only_processed_events_past_retention(store, shop) -> None:
    shop_id = shop.shop.shop_id

    async def work(redis: Any) -> tuple[int, int, int]:
        for n in range(3):
            await append(redis, shop_id, event(order_payload(1200 + n, 90, [600])))
        await Ingestor(redis).drain(shop_id)
        await append(redis, shop_id, event(order_payload(1299, 90, [600])))  # not read yet
        kept = await Ingestor(redis).housekeep(shop_id)
        trimmed = await Ingestor(redis, retention_seconds=0).housekeep(shop_id)
        return kept, trimmed, await redis.xlen(keys.events(shop_id))

    kept, trimmed, left = store.run(work)
    assert (kept, trimmed, left) == (0, 3, 1)


def test_orders_during_training_do_not_make_the_shop_overdue_at_once(store, shop) -> None:
    """Orders that arrive while a model trains are the only untrained ones: the shop is due
    again `max_delay` after them, not at once because an older change started the wait."""
    shop_id = shop.shop.shop_id
    orders = [order_payload(3000 + n, n % 5, [700 + n % 4, 701 + n % 4]) for n in range(12)]

    async def work(redis: Any) -> tuple[bool, float]:
        for payload in orders:
            await store_order(redis, shop_id, shopify.parse_order(payload))
        await redis.hset(keys.train_dirty(shop_id), "first", repr(time.time() - 1000))
        training = asyncio.create_task(train_shop(redis, shop_id, tuning_seconds=0))
        while not await redis.exists(keys.train_lock(shop_id)):
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # training has read the orders and its mark
        await store_order(redis, shop_id, shopify.parse_order(order_payload(3999, 1, [700])))
        await training
        trainer = AutoTrainer(redis, debounce=3600, max_delay=300)
        marks = await redis.hgetall(keys.train_dirty(shop_id))
        return await trainer.is_due(shop_id), float(marks.get(b"first", b"0"))

    due, first = store.run(work)
    assert not due
    assert first > time.time() - 60
