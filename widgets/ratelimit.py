"""Rate limit of the public widget endpoints: a fixed one-minute window per widget key and
client IP, counted in Redis (INCR + EXPIRE in one script, so every process shares it)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from plugin.store import keys

_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


async def retry_after(
    redis: aioredis.Redis, shop_id: str, client: str, per_minute: int, now: float | None = None
) -> int | None:
    """Count one request; None if it is allowed, else the seconds until the window ends."""
    now = time.time() if now is None else now
    window_seconds = keys.WIDGET_RATE_WINDOW_SECONDS
    window = int(now // window_seconds)
    count = await redis.eval(
        _COUNT, 1, keys.widget_rate(shop_id, client, window), window_seconds + 1
    )
    if int(count) <= per_minute:
        return None
    return max(1, int((window + 1) * window_seconds - now) + 1)
