"""Visitors' browsing histories held in this process, refreshed from browsing notes.

The `recently_viewed` and `inspired_by_browsing` lists need one visitor's history
(plugin.store.browsing). Read from Redis for each request, that was a round trip per call
and the slowest placement; here a history read once is served from memory, like everything
else a call reads (plugin.store.cache).

Staleness: the script that records a visitor's events adds a numbered note naming them (a
digest) to the shop's browsing-notes stream, in the same step as the write. That stream is
not the shop's change stream, so page views do not flood what every process reads for
everything else; only processes holding histories of the shop read it. Every
REFRESH_SECONDS (in the same pipelined round trip as the change notes: ShopCache.refresh)
a process reads the browsing notes of the shops whose histories it holds and drops the
visitors they name. So a view recorded by any process is served everywhere within
REFRESH_SECONDS plus one round trip, and at once by the process that recorded it (the script
answers the history as it left it, held in place of the old one). A read answers the history
with the number of the shop's last note (one script, nothing between them): it is held only
if this process applied no later note (which might name the visitor), and a note drops only
histories read before it. A gap in the numbers (notes trimmed, the stream begun again), or
NOTES_PER_READ new notes in one round, drops every history of the shop; so does a note for
every visitor (an erasure deleted histories: plugin.store.erasure) and the shop cache dropping
the shop (gone, its change notes lost, or no longer held). The history's span still applies:
products past `oldest_kept(now)` are left out when served, as when read from Redis.

Bounds: MAX_PER_SHOP visitors per shop and MAX_VISITORS in all, least recently used first
(past the total, the least recently used shop gives up its least recently used visitor).
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys, slots
from plugin.store.browsing import (
    EVERY_VISITOR,
    Snapshot,
    oldest_kept,
    read_browsing,
    store_browsing,
    visitor_digest,
)
from plugin.store.connection import text

MAX_PER_SHOP = 10_000  # visitors' histories held per shop
MAX_VISITORS = 20_000  # in all: a few MB at a few products each, < 100 MB at MAX_BROWSED
NOTES_PER_READ = 1000


@dataclass(frozen=True)
class _Held:
    n: int  # the shop's last browsing note when it was read: later notes naming them drop it
    products: tuple[str, ...]  # newest first
    times: tuple[float, ...]


@dataclass
class _Shop:
    last_id: bytes  # the last browsing note read
    last_n: int
    visitors: OrderedDict[str, _Held] = field(default_factory=OrderedDict)  # by digest


class VisitorCache:
    """Per-process cache of visitors' browsing histories (see the module doc)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._shops: OrderedDict[str, _Shop] = OrderedDict()
        self._held = 0

    async def browsed(self, shop_id: str, visitor: str, now: float | None = None
                      ) -> tuple[str, ...]:
        """The products the visitor viewed or added to a cart, newest first (at most
        MAX_BROWSED, none past the history's span); () for a visitor never seen."""
        now = time.time() if now is None else now
        digest = visitor_digest(visitor)
        shop = self._shops.get(shop_id)
        held = None if shop is None else shop.visitors.get(digest)
        if shop is None or held is None:
            held = self._hold(shop_id, digest, await read_browsing(self.redis, shop_id,
                                                                   visitor, now))
        else:
            shop.visitors.move_to_end(digest)
            self._shops.move_to_end(shop_id)
        cutoff = oldest_kept(now)
        if not held.times or held.times[-1] >= cutoff:
            return held.products
        return tuple(p for p, at in zip(held.products, held.times, strict=True) if at >= cutoff)

    async def record(self, shop_id: str, visitor: str, events: Sequence[tuple[str, float]],
                     now: float | None = None) -> int:
        """browsing.record_browsing, and the history it left held at once (this process
        serves it on the next call; the others after their next refresh)."""
        kept, snapshot = await store_browsing(self.redis, shop_id, visitor, events, now)
        if snapshot is not None:
            self._hold(shop_id, visitor_digest(visitor), snapshot)
        return kept

    def held(self, shop_id: str) -> int:
        """How many visitors' histories of the shop this process holds."""
        shop = self._shops.get(shop_id)
        return 0 if shop is None else len(shop.visitors)

    def _hold(self, shop_id: str, digest: str, snapshot: Snapshot) -> _Held:
        held = _Held(snapshot.n, tuple(map(sys.intern, snapshot.products)), snapshot.times)
        shop = self._shops.get(shop_id)
        if shop is None:  # every write after the snapshot has a note after its position
            shop = self._shops[shop_id] = _Shop(snapshot.note_id, snapshot.n)
        elif snapshot.n < shop.last_n:  # a note applied since may name them: not held
            return held
        before = shop.visitors.get(digest)
        if before is not None and before.n > snapshot.n:  # a newer one came back first
            return before
        self._held += before is None
        shop.visitors[digest] = held
        shop.visitors.move_to_end(digest)
        self._shops.move_to_end(shop_id)
        self._bound(shop)
        return held

    def _bound(self, shop: _Shop) -> None:
        while len(shop.visitors) > MAX_PER_SHOP:
            shop.visitors.popitem(last=False)
            self._held -= 1
        while self._held > MAX_VISITORS:
            oldest = next(iter(self._shops.values()))
            if oldest.visitors:
                oldest.visitors.popitem(last=False)
                self._held -= 1
            if not oldest.visitors:
                self._shops.popitem(last=False)

    # -- refreshing ------------------------------------------------------------------------

    def queue_notes(self, pipe: Any, held_shops: Container[str]) -> list[str]:
        """Queue the read of the browsing notes of every shop whose histories this process
        holds, in `pipe` (a pipeline of either client); shops not among `held_shops` (the shop
        cache's) or without a history held are forgotten. Pass the list to `apply_notes`."""
        for shop_id in [s for s, shop in self._shops.items()
                        if s not in held_shops or not shop.visitors]:
            self.forget(shop_id)
        for shop_id, shop in self._shops.items():
            slots.queue_xread(pipe, {keys.browsing_notes(shop_id): shop.last_id},
                              NOTES_PER_READ)  # on a cluster, sent straight to its node
        return list(self._shops)

    def apply_notes(self, shop_ids: list[str], replies: list[Any]) -> list[Any]:
        """Drop what the notes read (the first replies, one per shop) name; the other replies
        of the pipeline are returned."""
        for shop_id, notes in zip(shop_ids, replies, strict=False):
            for _stream, entries in notes or ():
                self._apply(shop_id, entries)
        return replies[len(shop_ids):]

    def _apply(self, shop_id: str, entries: list[Any]) -> None:
        shop = self._shops.get(shop_id)
        if shop is None:
            return
        if len(entries) >= NOTES_PER_READ:  # more are waiting: begin again from the newest
            self.forget(shop_id)
            return
        in_sequence = changes.unbroken(entries, shop.last_n)
        for note_id, fields in in_sequence:
            shop.last_id, shop.last_n = note_id, shop.last_n + 1
            named = text(fields.get(b"v", b""))
            if named == EVERY_VISITOR:
                self._held -= len(shop.visitors)
                shop.visitors.clear()
            elif (held := shop.visitors.get(named)) is not None and held.n < shop.last_n:
                del shop.visitors[named]
                self._held -= 1
        if len(in_sequence) < len(entries):  # a number is missing: drop every history
            self.forget(shop_id)

    def forget(self, shop_id: str) -> None:
        """Drop every history held of the shop (and stop reading its notes)."""
        shop = self._shops.pop(shop_id, None)
        if shop is not None:
            self._held -= len(shop.visitors)
