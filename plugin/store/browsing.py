"""Visitors' browsing histories: the products a visitor (a browser, known or not) viewed or
added to a cart, newest first, for the `recently_viewed` and `inspired_by_browsing` lists.

One sorted set per visitor and shop (keys.visitor_browsing): product id -> the time of the
visitor's latest event about it. It is short and expiring: the newest MAX_BROWSED products,
none older than keys.BROWSING_TTL_SECONDS, the key itself gone that long after the last event.
Events come from the developer API (POST /api/v1/shops/{shop_id}/events) and from the
storefront widget's own events endpoint, and are stored in one script call per batch.

The same script adds a numbered browsing note naming the visitor (a digest) to the shop's
browsing-notes stream (keys.browsing_notes, not the shop's change stream, which every process
reads for everything else), and answers the history as it left it with that note's position:
processes hold histories and drop those the notes name (plugin.store.visitor_cache).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.fields import PayloadError
from plugin.store.scripts import Script

MAX_BROWSED = 50  # products kept per visitor
NOTES_MAXLEN = 2000  # browsing notes kept per shop (about: trimmed with MAXLEN ~)
EVERY_VISITOR = "*"  # a browsing note naming every visitor of the shop
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


@dataclass(frozen=True)
class Snapshot:
    """A visitor's history as read or as a write left it, and the shop's last browsing note
    then (every write up to note `n` is in it): newest first, at most MAX_BROWSED."""

    note_id: bytes  # the stream position of note n (b"0-0" before the first)
    n: int
    products: tuple[str, ...]
    times: tuple[float, ...]  # epoch seconds, one per product

    @classmethod
    def parse(cls, reply: Any) -> Snapshot:
        note_id, n, found = reply
        return cls(note_id if isinstance(note_id, bytes) else str(note_id).encode(), int(n),
                   tuple(text(p) for p in found[::2]), tuple(float(t) for t in found[1::2]))


def visitor_digest(visitor: str) -> str:
    """How a browsing note names a visitor: the stream is shared state, not a place for ids."""
    return hashlib.blake2b(visitor.encode(), digest_size=12).hexdigest()


# note_browsing(stream, sequence, maxlen, visitor): one numbered note; returns {id, n}.
_NOTE_LUA = """
local function note_browsing(stream, sequence, maxlen, visitor)
  local n = redis.call('INCR', sequence)
  return {redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'n', n, 'v', visitor), n}
end
"""
# KEYS[1] the visitor's history, [2] [3] the browsing notes and their sequence. ARGV: the
# oldest time kept, the most products kept, the TTL, the notes' length, the visitor's digest,
# then (product id, time) pairs. A product's time only moves forward (a late event of an
# older view changes nothing); then the oldest beyond the bound and the stale are trimmed, a
# note added, and the history answered as a Snapshot.
_RECORD = Script(_NOTE_LUA + """
for i = 6, #ARGV, 2 do
  local at = tonumber(ARGV[i + 1])
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not current or tonumber(current) < at then
    redis.call('ZADD', KEYS[1], at, ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
local note = note_browsing(KEYS[2], KEYS[3], ARGV[4], ARGV[5])
return {note[1], note[2], redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
""")
# KEYS[1] the visitor's history, [2] [3] the browsing notes and their sequence. ARGV: the
# oldest time kept, the most products answered. The history with the last note's position.
_READ = Script("""
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local n = redis.call('GET', KEYS[3]) or 0
local found = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1], 'WITHSCORES', 'LIMIT',
                         0, ARGV[2])
return {last[1] and last[1][1] or '0-0', n, found}
""")
_NOTE_ALL = Script(_NOTE_LUA + "return note_browsing(KEYS[1], KEYS[2], ARGV[1], ARGV[2])")


def _history_keys(shop_id: str, visitor: str) -> list[str]:
    return [keys.visitor_browsing(shop_id, visitor), keys.browsing_notes(shop_id),
            keys.browsing_notes_sequence(shop_id)]


def oldest_kept(now: float) -> float:
    """Events before this time are past the history's span: neither stored nor read."""
    return now - keys.BROWSING_TTL_SECONDS


async def record_browsing(redis: aioredis.Redis, shop_id: str, visitor: str,
                          events: Sequence[tuple[str, float]], now: float | None = None
                          ) -> int:
    """Store (product id, epoch seconds) events of one visitor (times after `now` count as
    now); returns how many were recent enough to keep (the others are ignored)."""
    return (await store_browsing(redis, shop_id, visitor, events, now))[0]


async def store_browsing(redis: aioredis.Redis, shop_id: str, visitor: str,
                         events: Sequence[tuple[str, float]], now: float | None = None
                         ) -> tuple[int, Snapshot | None]:
    """`record_browsing`, and the history it left (None when nothing was recent enough)."""
    now = time.time() if now is None else now
    cutoff = oldest_kept(now)
    latest: dict[str, float] = {}
    for product_id, at in events:
        at = min(at, now)
        if at >= cutoff and at > latest.get(product_id, -1.0):
            latest[product_id] = at
    kept = sum(1 for _product, at in events if min(at, now) >= cutoff)
    if not latest:
        return kept, None
    args: list[str | int | float] = [repr(cutoff), MAX_BROWSED, keys.BROWSING_TTL_SECONDS,
                                     NOTES_MAXLEN, visitor_digest(visitor)]
    for product_id, at in latest.items():
        args += [product_id, repr(at)]
    return kept, Snapshot.parse(await _RECORD(redis, _history_keys(shop_id, visitor), args))


async def browsed(redis: aioredis.Redis, shop_id: str, visitor: str,
                  now: float | None = None) -> tuple[str, ...]:
    """The products the visitor viewed or added to a cart, newest first (at most
    MAX_BROWSED, none past the history's span); () for a visitor never seen."""
    return (await read_browsing(redis, shop_id, visitor, now)).products


async def read_browsing(redis: aioredis.Redis, shop_id: str, visitor: str,
                        now: float | None = None) -> Snapshot:
    """What `browsed` answers, with times and the position of the shop's browsing notes."""
    cutoff = oldest_kept(time.time() if now is None else now)
    return Snapshot.parse(await _READ(redis, _history_keys(shop_id, visitor),
                                      [repr(cutoff), MAX_BROWSED]))


async def note_every_visitor(redis: aioredis.Redis, shop_id: str) -> None:
    """A browsing note naming every visitor: each process drops all it holds of the shop's
    histories (after histories were deleted without a note of their own: an erasure)."""
    await _NOTE_ALL(redis, [keys.browsing_notes(shop_id), keys.browsing_notes_sequence(shop_id)],
                    [NOTES_MAXLEN, EVERY_VISITOR])


async def browsing_history(redis: aioredis.Redis, shop_id: str,
                           visitor: str) -> list[tuple[str, float]]:
    """Everything the visitor's history holds, newest first: (product id, epoch seconds of
    their latest view of it or add to cart), for the privacy export."""
    found: list[Any] = await redis.zrevrange(keys.visitor_browsing(shop_id, visitor), 0, -1,
                                             withscores=True)
    return [(text(member), float(at)) for member, at in found]
