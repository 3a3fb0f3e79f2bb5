"""Rate limit of the public widget endpoints: a fixed one-minute window per widget key and
client IP, shared by every process through Redis without a round trip per request
(plugin.store.ratelimit: counted here, synced every SYNC_SECONDS; in one process the limit is
exact, with N processes a client can get what the others serve it within one SYNC_SECONDS
beyond it, and from the next sync on it is refused everywhere).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.ratelimit import SYNC_SECONDS, WindowLimit


class WidgetRateLimit(WindowLimit):
    """Requests per minute per (shop, client address); see the module doc."""

    def __init__(self, redis: aioredis.Redis, per_minute: int,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        super().__init__(redis, keys.widget_rate, keys.WIDGET_RATE_WINDOW_SECONDS, "widget",
                         sync_seconds)
        self.per_minute = per_minute

    def retry_after(self, shop_id: str, client: str, now: float | None = None) -> int | None:
        """Count one request; None if it is allowed, else the seconds until the window ends
        (and one more, so a retry lands in the next window whichever way it is rounded)."""
        used, ends_in = self.count(shop_id, client, now)
        return None if used <= self.per_minute else max(1, int(ends_in) + 1)
