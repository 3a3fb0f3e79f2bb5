"""The ingestion worker: reads the shops' event streams in a consumer group and stores orders.

Every event is processed, then acknowledged; a crash between the two re-delivers it (pending
entries are re-claimed), which is harmless because storing an order is idempotent: the newer
`updated_at` wins and a cancellation is final for its version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from plugin import keys
from plugin.shops import Shop, get_shop, shop_ids
from plugin.storage import text
from webhooks import shopify
from webhooks.intake import Event
from webhooks.order import Order, PayloadError

log = logging.getLogger(__name__)

GROUP = "ingest"
BATCH = 200
CLAIM_IDLE_MS = 30_000
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600

# The version kept per order is "<updated_at> <cancelled 0|1>". A newer updated_at wins; at the
# same updated_at only a cancellation of a not yet cancelled order changes anything.
_UPSERT_ORDER = """
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  local stamp, stored_cancelled = string.match(current, '^(%S+) ?(%d?)$')
  local stored = tonumber(stamp)
  local incoming = tonumber(ARGV[3])
  if incoming < stored then return 0 end
  if incoming == stored and (ARGV[4] == '0' or stored_cancelled == '1') then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. ' ' .. ARGV[4])
redis.call('HSETNX', KEYS[3], 'first', ARGV[5])
redis.call('HSET', KEYS[3], 'last', ARGV[5])
redis.call('HINCRBY', KEYS[4], 'order_changes', 1)
return 1
"""


def consumer_name() -> str:
    """Unique per Ingestor: host, process and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def ensure_group(redis: aioredis.Redis, shop_id: str) -> None:
    try:
        await redis.xgroup_create(keys.events(shop_id), GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


async def store_order(redis: aioredis.Redis, shop_id: str, order: Order) -> bool:
    """Upsert idempotently; True if this version replaced the stored one (or was new)."""
    stored = await redis.eval(
        _UPSERT_ORDER,
        4,
        keys.orders(shop_id),
        keys.order_versions(shop_id),
        keys.train_dirty(shop_id),
        keys.stats(shop_id),
        order.order_id,
        order.to_json(),
        repr(order.updated_at),
        "1" if order.cancelled else "0",
        repr(time.time()),
    )
    if stored:
        await _remember_line_products(redis, shop_id, order)
    return bool(stored)


async def _remember_line_products(redis: aioredis.Redis, shop_id: str, order: Order) -> None:
    """Products first seen in an order get a catalog entry until the product webhook comes."""
    async with redis.pipeline(transaction=False) as pipe:
        for line in order.lines:
            entry = {"product_id": line.product_id, "title": line.title, "price": line.price,
                     "url": None, "image_url": None, "available": True, "source": "order"}
            pipe.hsetnx(keys.products(shop_id), line.product_id, json.dumps(entry))
        await pipe.execute()


async def store_product(redis: aioredis.Redis, shop_id: str, product: dict[str, Any]) -> None:
    await redis.hset(keys.products(shop_id), product["product_id"], json.dumps(product))


async def process_event(redis: aioredis.Redis, shop: Shop, event: Event) -> None:
    """Apply one event to the shop's stored data (raises PayloadError for a bad body)."""
    if event.platform != shopify.PLATFORM:
        raise PayloadError(f"no adapter for platform {event.platform!r}")
    if event.topic in shopify.ORDER_TOPICS:
        payload = json.loads(event.body)
        await store_order(redis, shop.shop_id, shopify.parse_order(payload))
    elif event.topic in shopify.PRODUCT_TOPICS:
        payload = json.loads(event.body)
        product = shopify.parse_product(payload, shop.storefront_url)
        await store_product(redis, shop.shop_id, product)
    # any other topic stays in the event stream, stored for the features that will use it


class Ingestor:
    """Reads events of every shop (or one) in the `ingest` consumer group."""

    def __init__(
        self,
        redis: aioredis.Redis,
        consumer: str | None = None,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.redis = redis
        self.consumer = consumer or consumer_name()
        self.retention_seconds = retention_seconds
        self._groups: set[str] = set()

    async def run(self, stop: asyncio.Event, block_ms: int = 1000) -> None:
        last_claim = 0.0
        while not stop.is_set():
            try:
                shops = await shop_ids(self.redis)
                if time.monotonic() - last_claim > CLAIM_IDLE_MS / 1000:
                    for shop_id in shops:
                        await self.claim_stale(shop_id, CLAIM_IDLE_MS)
                        await self.housekeep(shop_id)
                    last_claim = time.monotonic()
                if not shops:
                    await asyncio.sleep(block_ms / 1000)
                    continue
                await self.read_once(shops, block_ms)
            except RedisError as error:
                log.warning("ingest: Redis unavailable (%s); retrying", type(error).__name__)
                await asyncio.sleep(1.0)

    async def read_once(self, shop_ids: Sequence[str], block_ms: int | None = None) -> int:
        """Read and process one batch of new events; the number processed."""
        for shop_id in shop_ids:
            if shop_id not in self._groups:
                await ensure_group(self.redis, shop_id)
                self._groups.add(shop_id)
        streams: dict[Any, Any] = {keys.events(shop_id): ">" for shop_id in shop_ids}
        response: Any = await self.redis.xreadgroup(
            GROUP, self.consumer, streams, count=BATCH, block=block_ms
        )
        processed = 0
        for stream, entries in response or []:
            shop_id = _shop_of_stream(stream)
            processed += await self._process_entries(shop_id, entries)
        return processed

    async def claim_stale(self, shop_id: str, min_idle_ms: int) -> int:
        """Take over entries another consumer read but never acknowledged (it crashed)."""
        await ensure_group(self.redis, shop_id)
        processed, cursor = 0, "0-0"
        while True:
            result = await self.redis.xautoclaim(
                keys.events(shop_id), GROUP, self.consumer, min_idle_ms, cursor, count=BATCH
            )
            cursor, entries = result[0], result[1]
            processed += await self._process_entries(shop_id, entries)
            if cursor in (b"0-0", "0-0") or not entries:
                return processed

    async def housekeep(self, shop_id: str) -> int:
        """Trim processed events older than the retention, and forget consumers that left
        nothing pending an hour ago (each process start adds one). Returns events trimmed."""
        stream = keys.events(shop_id)
        cutoff_ms = int((time.time() - self.retention_seconds) * 1000)
        groups = await self.redis.xinfo_groups(stream)
        group = next((g for g in groups if text(g["name"]) == GROUP), None)
        if group is None:
            return 0
        delivered_ms, delivered_seq = _stream_id(group["last-delivered-id"])
        bound = min((cutoff_ms, 0), (delivered_ms, delivered_seq + 1))  # never undelivered
        summary = await self.redis.xpending(stream, GROUP)
        if summary["pending"]:
            bound = min(bound, _stream_id(summary["min"]))
        minid = f"{bound[0]}-{bound[1]}"
        trimmed = int(await self.redis.xtrim(stream, minid=minid, approximate=False))
        for consumer in await self.redis.xinfo_consumers(stream, GROUP):
            name = text(consumer["name"])
            if name != self.consumer and not consumer["pending"] and consumer["idle"] > 3600_000:
                await self.redis.xgroup_delconsumer(stream, GROUP, name)
        return trimmed

    async def drain(self, shop_id: str, timeout: float = 60.0) -> None:
        """Process every event accepted for the shop so far, including other consumers' ones."""
        await ensure_group(self.redis, shop_id)
        deadline = time.monotonic() + timeout
        while await self.read_once([shop_id]):
            pass
        while time.monotonic() < deadline:
            pending = await self.redis.xpending(keys.events(shop_id), GROUP)
            if not pending["pending"]:
                return
            await asyncio.sleep(0.05)
            await self.claim_stale(shop_id, CLAIM_IDLE_MS)
        raise TimeoutError(f"events of shop {shop_id!r} still pending after {timeout:.0f} s")

    async def _process_entries(self, shop_id: str, entries: list[Any]) -> int:
        if not entries:
            return 0
        shop = await get_shop(self.redis, shop_id)
        for entry_id, fields in entries:
            if shop is not None and fields:
                await self._process_one(shop, entry_id, fields)
            await self.redis.xack(keys.events(shop_id), GROUP, entry_id)
        return len(entries)

    async def _process_one(self, shop: Shop, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            event = Event.from_fields(fields)
            await process_event(self.redis, shop, event)
        except RedisError:
            raise  # not acknowledged: re-claimed once Redis is back
        except Exception as error:  # a poison event must not block the stream
            log.error("ingest: event %s of shop %s failed: %s", entry_id.decode(), shop.shop_id,
                      error)
            await self.redis.xadd(
                keys.dead_letters(shop.shop_id),
                {"event_id": entry_id, "error": f"{type(error).__name__}: {error}",
                 **{text(k): v for k, v in fields.items()}},
            )
            await self.redis.hincrby(keys.stats(shop.shop_id), "failed", 1)


def _stream_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id as (milliseconds, sequence), ordered as Redis orders them."""
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def _shop_of_stream(stream: bytes | str) -> str:
    name = stream.decode() if isinstance(stream, bytes) else stream
    return name.split("{", 1)[1].split("}", 1)[0]
