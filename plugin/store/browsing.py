"""Visitors' browsing histories: the products a visitor (a browser, known or not) viewed or
added to a cart, newest first, for the `recently_viewed` and `inspired_by_browsing` lists.

One sorted set per visitor and shop (keys.visitor_browsing): product id -> the time of the
visitor's latest event about it. It is short and expiring: the newest MAX_BROWSED products,
none older than keys.BROWSING_TTL_SECONDS, the key itself gone that long after the last event.
Events come from the developer API (POST /api/v1/shops/{shop_id}/events) and from the
storefront widget's own events endpoint, and are stored in one script call per batch.

No change note: a history is read from Redis whenever a list is asked for (one ZREVRANGEBYSCORE
of at most MAX_BROWSED members), and the answers kept in a process name the history they were
made from, so a view is served by every process at once, and page views never flood the
shop's change stream (which every process reads).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.fields import PayloadError
from plugin.store.scripts import Script

MAX_BROWSED = 50  # products kept per visitor
VIEW, ADD_TO_CART = "product_view", "add_to_cart"
KINDS = (VIEW, ADD_TO_CART)
VISITOR_ID_RULE = "1 to 128 letters, digits, '_', '.', ':' or '-'"
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")


def visitor_id(value: Any, field: str = "visitor_id") -> str:
    """A visitor id as the widget makes it (a random token kept in the browser) or a
    storefront's own session id: VISITOR_ID_RULE; PayloadError names the field."""
    if not isinstance(value, str) or not _VISITOR_ID.match(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise PayloadError(f"{field} must be {VISITOR_ID_RULE}, got {shown}")
    return value


# KEYS[1] the visitor's history. ARGV: the oldest time kept, the most products kept, the TTL,
# then (product id, time) pairs. A product's time only moves forward (a late event of an
# older view changes nothing); then the oldest beyond the bound and the stale are trimmed.
_RECORD = Script("""
for i = 4, #ARGV, 2 do
  local at = tonumber(ARGV[i + 1])
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not current or tonumber(current) < at then
    redis.call('ZADD', KEYS[1], at, ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return redis.call('ZCARD', KEYS[1])
""")


def oldest_kept(now: float) -> float:
    """Events before this time are past the history's span: neither stored nor read."""
    return now - keys.BROWSING_TTL_SECONDS


async def record_browsing(redis: aioredis.Redis, shop_id: str, visitor: str,
                          events: Sequence[tuple[str, float]], now: float | None = None
                          ) -> int:
    """Store (product id, epoch seconds) events of one visitor (times after `now` count as
    now); returns how many were recent enough to keep (the others are ignored)."""
    now = time.time() if now is None else now
    cutoff = oldest_kept(now)
    latest: dict[str, float] = {}
    for product_id, at in events:
        at = min(at, now)
        if at >= cutoff and at > latest.get(product_id, -1.0):
            latest[product_id] = at
    kept = sum(1 for _product, at in events if min(at, now) >= cutoff)
    if latest:
        args: list[str | int | float] = [repr(cutoff), MAX_BROWSED, keys.BROWSING_TTL_SECONDS]
        for product_id, at in latest.items():
            args += [product_id, repr(at)]
        await _RECORD(redis, [keys.visitor_browsing(shop_id, visitor)], args)
    return kept


async def browsed(redis: aioredis.Redis, shop_id: str, visitor: str,
                  now: float | None = None) -> tuple[str, ...]:
    """The products the visitor viewed or added to a cart, newest first (at most
    MAX_BROWSED, none past the history's span); () for a visitor never seen."""
    cutoff = oldest_kept(time.time() if now is None else now)
    found: list[Any] = await redis.zrevrangebyscore(
        keys.visitor_browsing(shop_id, visitor), "+inf", repr(cutoff), start=0, num=MAX_BROWSED)
    return tuple(text(member) for member in found)



async def browsing_history(redis: aioredis.Redis, shop_id: str,
                           visitor: str) -> list[tuple[str, float]]:
    """Everything the visitor's history holds, newest first: (product id, epoch seconds of
    their latest view of it or add to cart), for the privacy export."""
    found: list[Any] = await redis.zrevrange(keys.visitor_browsing(shop_id, visitor), 0, -1,
                                             withscores=True)
    return [(text(member), float(at)) for member, at in found]
