"""Rate limit of the public widget endpoints: a fixed one-minute window per widget key and
client IP, shared by every process through Redis, without a round trip per request.

Each process counts the requests it serves and, every SYNC_SECONDS, adds its new counts to
the window's counter in Redis (INCRBY, one pipelined round trip for all clients) and reads back
the total of all processes. A request is allowed while that total plus what this process
counted since is within the limit. In one process the limit is exact; with N processes a
client can get up to N times what it sends within one SYNC_SECONDS beyond the limit, never
more, and from the next sync on it is refused everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin.store import keys

log = logging.getLogger(__name__)

SYNC_SECONDS = 0.25


@dataclass
class _Count:
    shared: int = 0  # all processes' count at the last sync
    unsynced: int = 0  # this process's requests since


class WidgetRateLimit:
    """Requests per minute per (shop, client address); see the module doc."""

    def __init__(self, redis: aioredis.Redis, per_minute: int,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        self.redis = redis
        self.per_minute = per_minute
        self.sync_seconds = sync_seconds
        self._counts: dict[tuple[str, str, int], _Count] = {}

    def retry_after(self, shop_id: str, client: str, now: float | None = None) -> int | None:
        """Count one request; None if it is allowed, else the seconds until the window ends."""
        now = time.time() if now is None else now
        window_seconds = keys.WIDGET_RATE_WINDOW_SECONDS
        window = int(now // window_seconds)
        count = self._counts.setdefault((shop_id, client, window), _Count())
        count.unsynced += 1
        if count.shared + count.unsynced <= self.per_minute:
            return None
        return max(1, int((window + 1) * window_seconds - now) + 1)

    async def sync(self, now: float | None = None) -> None:
        """Add this process's counts to Redis and read every process's totals back."""
        window = int((time.time() if now is None else now) // keys.WIDGET_RATE_WINDOW_SECONDS)
        for old in [k for k in self._counts if k[2] < window]:
            count = self._counts.pop(old)
            if count.unsynced:  # the last requests of a past window still count there
                await self.redis.incrby(keys.widget_rate(*old), count.unsynced)
        current = list(self._counts.items())
        if not current:
            return
        sent = [count.unsynced for _, count in current]
        async with self.redis.pipeline(transaction=False) as pipe:
            for (shop_id, client, at), count in current:
                key = keys.widget_rate(shop_id, client, at)
                pipe.incrby(key, count.unsynced)
                pipe.expire(key, keys.WIDGET_RATE_WINDOW_SECONDS + 1)
            replies = await pipe.execute()
        for (_, count), added, total in zip(current, sent, replies[::2], strict=True):
            count.shared = int(total)
            count.unsynced -= added  # requests counted while the pipeline ran stay

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every `sync_seconds` until `stop` is set, and once more at the end."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sync_seconds)
            try:
                await self.sync()
            except RedisError as error:  # counted again at the next sync
                log.warning("widget rate limit sync failed: %s", type(error).__name__)
