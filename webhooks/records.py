"""What the adapters write: orders (idempotent upserts) and the per-shop catalog."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from plugin import keys
from webhooks.order import Order

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


async def get_order(redis: aioredis.Redis, shop_id: str, order_id: str) -> Order | None:
    raw = await redis.hget(keys.orders(shop_id), order_id)
    return None if raw is None else Order.from_json(raw)


async def iter_orders(redis: aioredis.Redis, shop_id: str) -> AsyncIterator[Order]:
    async for _order_id, raw in redis.hscan_iter(keys.orders(shop_id), count=1000):
        yield Order.from_json(raw)


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


async def delete_product(redis: aioredis.Redis, shop_id: str, product_id: str) -> None:
    """A deleted product stays in the catalog, unavailable, so it is never shown again."""
    raw = await redis.hget(keys.products(shop_id), product_id)
    entry = json.loads(raw) if raw else {"product_id": product_id, "title": ""}
    entry.update(available=False, deleted=True)
    await redis.hset(keys.products(shop_id), product_id, json.dumps(entry))
