"""Who processes an entry: a live consumer keeps the entries of its batch claimed however long
the batch takes, so a drain waits for them instead of processing them a second time; only
the entries of a consumer that is gone are taken over.

These tests run on an embedded Redis of their own: no live server's worker reads the streams.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import EmbeddedRedis, text
from plugin.store.events import Event, append
from plugin.store.shops import Shop
from tests.conftest import Store, settings_for
from tests.helpers import body_of, order_payload
from tests.platform_server import FakePlatformApi, Reply, fast_http, register_shop
from tests.webhooks.test_bigcommerce import event as bigcommerce_event
from tests.webhooks.test_bigcommerce import serve_order
from webhooks import bigcommerce, shopify
from webhooks.ingest import GROUP, Ingestor, ensure_group

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
