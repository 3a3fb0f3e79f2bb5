"""The products an owner excluded: never shown by any recommendation (plugin.store.records'
blocked_products adds the unavailable ones)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.connection import text


async def excluded(redis: aioredis.Redis, shop_id: str) -> list[str]:
    return sorted(text(member) for member in await redis.smembers(keys.excluded(shop_id)))


async def replace_excluded(redis: aioredis.Redis, shop_id: str, ids: Sequence[str]) -> None:
    """The owner's list, replaced in one transaction with its change note (every process
    drops what it showed within the cache's bound)."""
    key = keys.excluded(shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if ids:
            pipe.sadd(key, *ids)
        changes.note(pipe, shop_id, (changes.BLOCKED, ""))
        await pipe.execute()
