"""The ingestion worker (webhooks/ingest.py) against the embedded Redis: events in the stream ->
stored orders; who processes an entry while batches run long; a run of order events stored in a
few round trips exactly as one by one.

The session's live server (started by any test using `http`) runs its own Ingestor on the same
group, so stream tests assert the end state after `drain`, which waits until nothing is pending;
tests whose arrival order matters call `process_event` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from plugin.engine.training import AutoTrainer, purchases_of, train_shop
from plugin.store import keys, records
from plugin.store.connection import EmbeddedRedis, text
from plugin.store.events import Event, append
from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop, Shop
from plugin.store.slots import read_group
from plugin.store.tracking import record_click
from plugin.web.responses import json_bytes
from tests.conftest import Store, settings_for
from tests.helpers import SHARED_DATA, body_of, order_payload, shopify_headers
from tests.platform_server import FakePlatformApi, Reply, fast_http, register_shop
from tests.webhooks.test_bigcommerce import event as bigcommerce_event
from tests.webhooks.test_bigcommerce import serve_order
from webhooks import bigcommerce, shopify
from webhooks import ingest as ingest_module
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


# --- events in the stream -> stored orders ---------------------------------------------


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


# --- who processes an entry -------------------------------------------------------------
# A live consumer keeps the entries of its batch claimed however long the batch takes, so a
# drain waits for them instead of processing them a second time; only the entries of a
# consumer that is gone are taken over. The long batches run on an embedded Redis of their
# own (`private`): no live server's worker reads its streams.


CLAIM_IDLE_MS = 1000  # a test's live batch lasts longer than this
ORDERS = 8
DELAY = 0.1  # seconds per platform API answer: each order is two GETs


class SlowPlatformApi(FakePlatformApi):
    """The fake platform API, answering every request after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def _answer(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        time.sleep(self.delay)
        return super()._answer(method, target, headers)


@pytest.fixture
def slow_api() -> Iterator[SlowPlatformApi]:
    fake = SlowPlatformApi(DELAY)
    with fake:
        yield fake


@pytest.fixture(scope="module")
def private(store: Store) -> Iterator[Store]:
    """An embedded Redis of these tests' own (no worker reads it)."""
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-claims-"))
    embedded = EmbeddedRedis(data_dir, fsync_always=False)
    yield Store(embedded, settings_for(store, data_dir=data_dir))
    embedded.close()
    shutil.rmtree(data_dir, ignore_errors=True)


async def add_read_by(redis: aioredis.Redis, shop_id: str, consumer: str,
                      events: list[Event]) -> None:
    """Append the events and read them as `consumer`, in one step (on the session's Redis,
    whose live server cannot take them then)."""
    await ensure_group(redis, shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        for item in events:
            fields: dict[Any, Any] = item.fields()
            pipe.xadd(keys.events(shop_id), fields)
        pipe.xreadgroup(GROUP, consumer, {keys.events(shop_id): ">"}, count=len(events))
        await pipe.execute()


async def pending_of(redis: aioredis.Redis, shop_id: str, consumer: str) -> int:
    for entry in await redis.xinfo_consumers(keys.events(shop_id), GROUP):
        if text(entry["name"]) == consumer:
            return int(entry["pending"])
    return 0


def order_created(shop: Shop, order_id: int) -> Event:
    body = json.dumps(bigcommerce_event(shop, "store/order/created", order_id)).encode()
    return Event(bigcommerce.PLATFORM, "store/order/created", uuid.uuid4().hex, body)


def bigcommerce_shop(store: Store, api: FakePlatformApi, order_ids: list[int]) -> Shop:
    shop = register_shop(store, "bigcommerce", "h" + uuid.uuid4().hex[:9], api.url)
    for order_id in order_ids:
        serve_order(api, order_id)
    return shop


async def live_batch_and_drain(
    redis: aioredis.Redis, shops: list[Shop], order_ids: list[int]
) -> float:
    """A live consumer reads the orders of every shop in one batch and works through it
    while a drain of the last shop runs; the seconds the drain took."""
    for shop in shops:
        await ensure_group(redis, shop.shop_id)
        for order_id in order_ids:
            await append(redis, shop.shop_id, order_created(shop, order_id))
    live_http, drain_http = fast_http(), fast_http()
    live = Ingestor(redis, consumer="live", http=live_http, claim_idle_ms=CLAIM_IDLE_MS)
    drainer = Ingestor(redis, consumer="drain", http=drain_http, claim_idle_ms=CLAIM_IDLE_MS)
    try:
        batch = asyncio.create_task(live.read_once([shop.shop_id for shop in shops]))
        while await pending_of(redis, shops[-1].shop_id, "live") < len(order_ids):
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await drainer.drain(shops[-1].shop_id)
        drained_after = time.monotonic() - started
        await batch
    finally:
        await live_http.aclose()
        await drain_http.aclose()
    return drained_after


def test_drain_during_a_long_batch_fetches_each_event_once(
    private: Store, slow_api: SlowPlatformApi
) -> None:
    order_ids = [9100 + n for n in range(ORDERS)]
    shop = bigcommerce_shop(private, slow_api, order_ids)
    drained_after = private.run(lambda redis: live_batch_and_drain(redis, [shop], order_ids))
    assert drained_after > CLAIM_IDLE_MS / 1000  # the batch outlasted the claim-idle time
    assert [len(slow_api.requests_to(f"/v2/orders/{o}")) for o in order_ids] == [1] * ORDERS
    assert private.run(lambda r: r.hlen(keys.orders(shop.shop_id))) == ORDERS


def test_entries_of_a_shop_read_with_another_stay_claimed_while_it_waits(
    private: Store, slow_api: SlowPlatformApi
) -> None:
    """One read brings the entries of two shops; the second's wait while the first's batch
    takes longer than the claim-idle time, and a drain of the second takes none of them."""
    order_ids = [9300 + n for n in range(ORDERS)]
    first = bigcommerce_shop(private, slow_api, order_ids)
    second = bigcommerce_shop(private, slow_api, order_ids)
    private.run(lambda redis: live_batch_and_drain(redis, [first, second], order_ids))
    assert [len(slow_api.requests_to(f"/v2/orders/{o}")) for o in order_ids] == \
        [2] * len(order_ids)  # once per shop


def test_drain_takes_over_what_a_gone_consumer_left(store: Store, make_shop: Any) -> None:
    shop = make_shop().shop
    events = [Event(shopify.PLATFORM, "orders/create", uuid.uuid4().hex,
                    body_of(order_payload(9200 + n, 7, [1, 2]))) for n in range(3)]

    async def work(redis: aioredis.Redis) -> tuple[int, int, int]:
        await add_read_by(redis, shop.shop_id, "gone", events)  # and never heard of again
        await Ingestor(redis, consumer="drain", claim_idle_ms=200).drain(shop.shop_id)
        return await redis.hlen(keys.orders(shop.shop_id)), \
            (await redis.xpending(keys.events(shop.shop_id), GROUP))["pending"], \
            await pending_of(redis, shop.shop_id, "gone")

    assert store.run(work) == (3, 0, 0)


# --- a run of order events stored in a few round trips ---------------------------------
# The worker stores a run of order events with records.store_orders: what it stores must be
# what processing the same events one by one stores. One list of Shopify events (new orders,
# newer and older versions of one order in the same run, a same-time cancellation, refunds
# before and after their order, a product update and a poison event between runs, a guest
# order, an order attributed to a widget click) goes to two shops: the first's stream is
# processed in one batch by the Ingestor, the second's events are applied one by one with
# process_event. Every record the worker writes must then be equal.


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


def test_a_listed_shop_without_a_stream_is_skipped_by_the_housekeeping(store: Store) -> None:
    # a registration that died between listing the id and storing the config
    # (plugin.store.registration) leaves an id with no config and no stream
    dead = "dead-" + uuid.uuid4().hex[:8]

    async def work(redis: Any) -> tuple[int, int]:
        ingestor = Ingestor(redis)
        return await ingestor.claim_stale(dead, 0), await ingestor.housekeep(dead)

    assert store.run(work) == (0, 0)


def test_the_ingest_loop_outlives_an_unexpected_error_in_a_round(
    private: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round that fails with an error that is not Redis's (redis-py's cluster client closes
    every connection, those in use too, when a failover makes it learn the map anew; a call
    caught that way fails with AttributeError) is logged and the loop goes on: the events
    appended after it are still stored."""
    shop = register_shop(private, "shopify", "loop-" + uuid.uuid4().hex[:8], "http://127.0.0.1:9")
    reads = {"failed": 0}

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if not reads["failed"]:
            reads["failed"] += 1
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
        return await read_group(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "read_group", failing_once)

    async def work(redis: aioredis.Redis) -> bytes | None:
        stop = asyncio.Event()
        loop = asyncio.create_task(Ingestor(redis).run(stop, block_ms=50))
        try:
            while not reads["failed"]:
                await asyncio.sleep(0.01)
            await append(redis, shop.shop_id, event(order_payload(31, 7, [301])))
            for _ in range(300):  # the loop waits 1 s after a failed round
                if found := await redis.hget(keys.orders(shop.shop_id), "31"):
                    return found
                await asyncio.sleep(0.01)
            return None
        finally:
            stop.set()
            await loop

    assert private.run(work) is not None


def test_a_given_up_batch_is_left_to_be_re_claimed_even_if_its_keeper_missed_the_cancel(
    private: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that fails part way (Redis went away) stops refreshing its entries' claims, so
    they go idle and are re-claimed, even when the cancel of its keeper was lost: Python
    3.11's asyncio.wait_for (redis-py sends every command through it) drops a cancel that
    arrives as the call completes. Here the keeper's refresh swallows the cancel that way."""
    shop_id = register_shop(private, "shopify", "kept-" + uuid.uuid4().hex[:8],
                            "http://127.0.0.1:9").shop_id
    deliveries = [event(order_payload(40 + n, 9, [400 + n])) for n in range(3)]
    refreshing = asyncio.Event()

    async def fail_once_a_refresh_runs(*args: Any) -> None:
        await refreshing.wait()
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(records, "store_orders", fail_once_a_refresh_runs)

    async def work(redis: aioredis.Redis) -> int:
        evalsha = redis.evalsha

        async def refresh_missing_a_cancel(*args: Any) -> Any:
            if not refreshing.is_set():  # the first refresh loses the cancel
                refreshing.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.05)
            return await evalsha(*args)

        await add_read_by(redis, shop_id, "reader", deliveries)
        redis.evalsha = refresh_missing_a_cancel  # type: ignore[method-assign]
        batch = Ingestor(redis, consumer="batch", claim_idle_ms=300)
        with pytest.raises(RedisConnectionError):
            await batch.claim_stale(shop_id, 0)
        idle = []
        for _ in range(2):  # a keeper still running refreshes them every 0.1 s
            await asyncio.sleep(0.5)  # (the one that lost its cancel may once more, at first)
            pending = await redis.xpending_range(keys.events(shop_id), GROUP, "-", "+", 10)
            idle.append(min(int(entry["time_since_delivered"]) for entry in pending))
        return idle[1] - idle[0]

    assert private.run(work) >= 300  # nothing refreshed them between the two looks
