"""Catalog writes of many products at once (the developer API's catalog calls): every entry
within the field rules (records.catalog_entry), stored in one transaction with its change
notes, as the platforms' product webhooks store one (records.store_product)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.connection import json_object
from plugin.store.records import catalog_entry


async def store_products(
    redis: aioredis.Redis, shop_id: str, products: Sequence[Mapping[str, Any]],
    storefront_url: str | None = None,
) -> list[dict[str, Any]]:
    """Store catalog entries all together or, when one breaks the field rules (PayloadError
    names it), none; one that is not `available` joins the never-shown set, one that is
    leaves it. Every process's cache drops them (a `product` note each, in the same
    transaction). Returns the entries as stored."""
    entries = [catalog_entry(product, storefront_url) for product in products]
    if not entries:
        return []
    available = [e["product_id"] for e in entries if e["available"]]
    unavailable = [e["product_id"] for e in entries if not e["available"]]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.products(shop_id),
                  mapping={e["product_id"]: json.dumps(e) for e in entries})
        if available:
            pipe.srem(keys.unavailable(shop_id), *available)
        if unavailable:
            pipe.sadd(keys.unavailable(shop_id), *unavailable)
        changes.note(pipe, shop_id, *((changes.PRODUCT, e["product_id"]) for e in entries))
        await pipe.execute()
    return entries


async def stored_product(redis: aioredis.Redis, shop_id: str, product_id: str
                         ) -> dict[str, Any] | None:
    """The catalog entry of a product as stored (webhooks, orders, the API), or None."""
    raw = await redis.hget(keys.products(shop_id), product_id)
    return None if raw is None else json_object(raw)
