"""Fixed-window rate limits shared by every process through Redis, without a round trip per
request: the widget endpoints' (per widget key and client address, widgets.ratelimit) and the
developer API's (per API key, plugin.web.auth).

Each process counts the requests it serves and, every SYNC_SECONDS, adds its new counts to
the window's counter in Redis (INCRBY, one pipelined round trip for all counters; a counter
without new requests is only read) and reads back the total of all processes. A request is
allowed while that total plus what this process counted since is within the limit. In one
process the limit is exact. With N processes a client can get beyond the limit at most what
the other N - 1 processes serve it within one SYNC_SECONDS (since their last sync, or since
their first request of the client in the window, when they have not read its count yet), and
from their next sync on it is refused everywhere. Refused requests count too (a client that
keeps hammering stays refused until the window ends). With an `owner` (the shop's config
key), counts are added only while it exists: a sync after the shop was erased (a call counted
just before) brings none of its counters back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from math import ceil as _ceil
from time import time as _time
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from plugin.store.connection import UNAVAILABLE

log = logging.getLogger(__name__)

SYNC_SECONDS = 0.25

# counter(shop_id, who, window) -> the Redis key of that window's count (plugin.store.keys)
Counter = Callable[[str, str, int], str]

# Adds ARGV[1] to the counter KEYS[1], which expires ARGV[2] s later; its total. _IF_OWNED:
# only if KEYS[2] (the shop's config) exists, else the total as it is (nil: none).
_ADD = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return total
"""
_ADD_IF_OWNED = """
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('GET', KEYS[1]) end
""" + _ADD


class Verdict(NamedTuple):
    """One request's answer: allowed or not, what is left of the window's limit as this
    process knows it, and when the window ends."""

    allowed: bool
    remaining: int
    reset: int  # whole seconds until the window ends, rounded up (1 to the window's length)
    ends_in: float  # the same, exactly


class _Count:
    __slots__ = ("shared", "unsynced")

    def __init__(self) -> None:
        self.shared = 0  # all processes' count at the last sync
        self.unsynced = 0  # this process's requests since


class WindowLimit:
    """Requests per fixed window per (shop, who); the limit is given with each request, so
    it may differ per shop and change at any time. See the module doc."""

    def __init__(self, redis: aioredis.Redis, counter: Counter, window_seconds: int,
                 name: str, sync_seconds: float = SYNC_SECONDS,
                 owner: Callable[[str], str] | None = None) -> None:
        self.redis = redis
        self.counter = counter
        self.owner = owner  # owner(shop_id): the key that must exist for counts to be added
        self.window_seconds = window_seconds
        self.name = name
        self.sync_seconds = sync_seconds
        self._counts: dict[tuple[str, str, int], _Count] = {}
        self._window, self._start, self._end = 0, 0.0, 0.0  # the last request's window

    def take(self, shop_id: str, who: str, limit: int, now: float | None = None) -> Verdict:
        """Count one request of `who` and say whether it is within `limit`."""
        used, ends_in = self.count(shop_id, who, now)
        return Verdict(used <= limit, max(0, limit - used), _ceil(ends_in), ends_in)

    def count(self, shop_id: str, who: str, now: float | None = None) -> tuple[int, float]:
        """Count one request of `who`: the window's requests so far as this process knows
        them (this one included) and the seconds until it ends (more than 0). On every API
        call and widget request: kept lean."""
        if now is None:
            now = _time()
        if not self._start <= now < self._end:
            window = int(now // self.window_seconds)
            self._window, self._start, self._end = (
                window, window * self.window_seconds, (window + 1) * self.window_seconds)
        key = (shop_id, who, self._window)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = _Count()
        count.unsynced += 1
        return count.shared + count.unsynced, self._end - now

    async def sync(self, now: float | None = None) -> None:
        """Add this process's counts to Redis and read every process's totals back."""
        window = int((time.time() if now is None else now) // self.window_seconds)
        ended = [k for k in self._counts if k[2] < window]  # forgotten here from now on
        past = [(old, added) for old in ended if (added := self._counts.pop(old).unsynced)]
        current = list(self._counts.items())
        if not past and not current:
            return
        sent = [count.unsynced for _, count in current]
        async with self.redis.pipeline(transaction=False) as pipe:
            for old, added in past:  # the last requests of a past window still count there
                self._add(pipe, old, added)
            for (counted, _), added in zip(current, sent, strict=True):
                if added:
                    self._add(pipe, counted, added)
                else:  # only read: a counter deleted meanwhile (a shop erased) stays so
                    pipe.get(self.counter(*counted))
            replies = await pipe.execute()
        for (_, count), added, total in zip(current, sent, replies[len(past):], strict=True):
            count.shared = int(total or 0)
            count.unsynced -= added  # requests counted while the pipeline ran stay

    def _add(self, pipe: Any, counted: tuple[str, str, int], added: int) -> None:
        """Queue adding `added` to a counter; its total is the one reply."""
        key, ttl = self.counter(*counted), self.window_seconds + 1
        if self.owner is None:
            pipe.eval(_ADD, 1, key, added, ttl)
        else:
            pipe.eval(_ADD_IF_OWNED, 2, key, self.owner(counted[0]), added, ttl)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every `sync_seconds` until `stop` is set, and once more after it was set
        (what was counted while a sync ran reaches Redis too)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.sync_seconds)
            stopping = stop.is_set()
            try:
                await self.sync()
            except UNAVAILABLE as error:  # the current window's are sent at the next sync
                log.warning("%s rate limit sync failed: %s", self.name, type(error).__name__)
            except Exception:  # the loop outlives anything (see webhooks.ingest.Ingestor.run)
                log.exception("%s rate limit sync failed", self.name)
            if stopping:
                return
