"""What every request reads of a shop, kept in this process and refreshed from change notes.

A recommendation or widget call needs the shop (its keys, currency, origins), the serving
model, the never-shown products, the owner's pins, the catalog's display fields of a few
products and perhaps one customer's history. Read from Redis each time, that was six round
trips per call; here they are read once per process and then served from memory.

Staleness: every REFRESH_SECONDS the process reads the change notes (plugin.store.changes) of
the shops it holds, in one pipelined round trip, and drops what they name; a new model version
is loaded in the background and swapped in when ready (the previous one serves meanwhile),
except after a customer's erasure, when the model is dropped at once and the next answer waits
for the cleaned version. So a change made by any process is served everywhere within
REFRESH_SECONDS plus one round trip (plus the model's load time for a new version). A value
read from Redis while a note about it is on its way is not kept (`HeldShop.epoch`, from one
counter of the process, so an entry dropped and read again never repeats an epoch). The end
of a held pin needs no note: from that instant the pin is left out and kept answers dropped.
The answers a customer's note drops go to `on_dropped` (the engine makes them again ahead).
Visitors' browsing histories: `visitors` (plugin.store.visitor_cache), refreshed alongside.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin.store import changes, keys, slots
from plugin.store.connection import json_object, text
from plugin.store.held_shop import HeldShop
from plugin.store.history import read_histories
from plugin.store.pins import Pin, hold, pins
from plugin.store.records import blocked_products
from plugin.store.shops import Shop, parse_shop
from plugin.store.visitor_cache import VisitorCache
from recommender.shop_model import ShopModel

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.25
MAX_SHOPS = 1024
MAX_MODELS = 64
MAX_HISTORIES = 20_000  # customers per shop
MAX_ANSWERS = 20_000  # rendered answers per shop
NOTES_PER_READ = 1000
_EPOCHS = itertools.count(1)


class ShopCache:
    """Per-process cache of shops and what serving reads of them (see the module doc)."""

    def __init__(self, redis: aioredis.Redis, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.redis = redis
        self.refresh_seconds = refresh_seconds
        self._entries: OrderedDict[str, HeldShop] = OrderedDict()
        self._lookups: dict[tuple[str, str], str] = {}  # ("widget", key) -> shop id, ...
        self._loading: dict[str, asyncio.Task[HeldShop | None]] = {}
        self._background: set[asyncio.Task[Any]] = set()  # ended with `run` (`spawn`)
        self.on_dropped: Callable[[str, list[Any]], None] | None = None
        self.visitors = VisitorCache(redis)  # their notes are read in the same round trip

    # -- shops -----------------------------------------------------------------------------

    async def shop(self, shop_id: str) -> Shop | None:
        entry = await self._entry(shop_id)
        return None if entry is None else entry.shop

    async def reread(self, shop_id: str) -> Shop | None:
        """The shop record read again now (a change another process made moments ago, such
        as a new API key, before its note arrives)."""
        if self._entries.get(shop_id) is not None:
            await self._reread_shops([shop_id])
        return await self.shop(shop_id)

    async def shop_by_widget_key(self, widget_key: str) -> Shop | None:
        return await self._by_index("widget", widget_key, keys.widget_key_index(widget_key),
                                    lambda shop: shop.widget_key == widget_key)

    async def shop_by_domain(self, platform: str, domain: str) -> Shop | None:
        wanted = domain.lower()
        return await self._by_index(f"domain:{platform}", wanted, keys.domain_index(
            platform, domain), lambda shop: _has_domain(shop, platform, wanted))

    def held_by_domain(self, platform: str, domain: str) -> Shop | None:
        """shop_by_domain's answer without a coroutine (the receiver asks for every webhook)
        when this process holds the shop; None: ask shop_by_domain."""
        wanted = domain.lower()
        entry = self._entries.get(self._lookups.get((f"domain:{platform}", wanted), ""))
        if entry is None or not _has_domain(entry.shop, platform, wanted):
            return None
        self._entries.move_to_end(entry.shop.shop_id)
        return entry.shop

    async def _by_index(self, kind: str, value: str, index_key: str, fits: Any) -> Shop | None:
        if not value:
            return None
        shop_id = self._lookups.get((kind, value))
        if shop_id is not None:
            entry = await self._entry(shop_id)
            if entry is not None and fits(entry.shop):
                return entry.shop
            self._lookups.pop((kind, value), None)
        raw = await self.redis.get(index_key)  # unknown keys are not remembered
        if raw is None:
            return None
        entry = await self._entry(text(raw))
        if entry is None or not fits(entry.shop):
            return None
        self._lookups[(kind, value)] = entry.shop.shop_id
        return entry.shop

    async def _entry(self, shop_id: str) -> HeldShop | None:
        entry = self._entries.get(shop_id)
        if entry is not None:
            self._entries.move_to_end(shop_id)
            return entry
        if not keys.SHOP_ID_PATTERN.match(shop_id):
            return None
        loading = self._loading.get(shop_id)
        if loading is None:  # one read per shop however many requests wait for it
            loading = asyncio.ensure_future(self._load_entry(shop_id))
            self._loading[shop_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(shop_id, None))
        return await asyncio.shield(loading)

    async def _load_entry(self, shop_id: str) -> HeldShop | None:
        # The position in the change stream and the config in one transaction: every change
        # after this read has a note after `last_id`.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrevrange(keys.changes(shop_id), count=1)
            pipe.hgetall(keys.shop_config(shop_id))
            last, raw = await pipe.execute()
        shop = parse_shop(shop_id, raw)
        if shop is None:
            return None
        last_id, fields = last[0] if last else (b"0-0", {b"n": b"0"})
        entry = HeldShop(shop, last_id, int(fields.get(b"n", 0)), next(_EPOCHS))
        self._entries[shop_id] = entry
        while len(self._entries) > MAX_SHOPS:
            self._entries.popitem(last=False)
        return entry

    # -- what serving reads ----------------------------------------------------------------

    async def products(self, shop_id: str, product_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Catalog entries of `product_ids` in order ({} for one not in the catalog)."""
        entry = await self._entry(shop_id)
        if entry is None:
            return [{} for _ in product_ids]
        missing = [p for p in dict.fromkeys(product_ids) if p not in entry.catalog]
        if missing:
            epoch = entry.epoch
            found = await self.redis.hmget(keys.products(shop_id), missing)
            parsed = {p: json_object(raw) for p, raw in zip(missing, found, strict=True) if raw}
            if self._current(shop_id, entry, epoch):
                entry.catalog.update(parsed)  # absent products are read again next time
            return [entry.catalog.get(p) or parsed.get(p) or {} for p in product_ids]
        return [entry.catalog[p] for p in product_ids]

    async def blocked(self, shop_id: str) -> frozenset[str]:
        """Products never shown: unavailable or excluded by the owner."""
        entry = await self._entry(shop_id)
        if entry is None:
            return frozenset()
        if entry.blocked is None:
            epoch = entry.epoch
            blocked = frozenset(await blocked_products(self.redis, shop_id))
            if not self._current(shop_id, entry, epoch):
                return blocked
            entry.blocked = blocked
        return entry.blocked

    async def pins(self, shop_id: str) -> tuple[Pin, ...]:
        """The owner's pins in force now, in the owner's order (plugin.store.pins)."""
        entry = await self._entry(shop_id)
        if entry is None:
            return ()
        self._end_pins(entry)
        if entry.pins is None:
            epoch = entry.epoch
            held = hold(await pins(self.redis, shop_id))
            if not self._current(shop_id, entry, epoch):
                return held.active
            entry.pins = held
        return entry.pins.active

    def _end_pins(self, entry: HeldShop) -> None:
        """Past the end of a pin in force: it is left out and every kept answer dropped (an
        end comes with no note)."""
        if entry.pins is not None and entry.pins.ended(time.time()):
            entry.pins = hold(entry.pins.stored)
            self._clear_answers(entry)

    async def history(self, shop_id: str, customer_id: str) -> Mapping[str, int]:
        """Product id -> the customer's orders that still count holding it (read-only)."""
        return (await self.histories(shop_id, [customer_id]))[0]

    async def histories(self, shop_id: str, customer_ids: Sequence[str]
                        ) -> list[Mapping[str, int]]:
        """`history` of each customer; those this process does not hold are read together."""
        entry = await self._entry(shop_id)
        if entry is None:
            return [{} for _ in customer_ids]
        digests = [changes.customer_digest(customer_id) for customer_id in customer_ids]
        found: list[Mapping[str, int] | None] = [entry.histories.get(d) for d in digests]
        for digest, history in zip(digests, found, strict=True):
            if history is not None:
                entry.histories.move_to_end(digest)
        wanted = [n for n, history in enumerate(found) if history is None]
        if wanted:
            for _ in range(3):  # a note arrived during the read: read again, as of that note
                epoch = entry.epoch
                read = await read_histories(self.redis, shop_id,
                                            [customer_ids[n] for n in wanted])
                current = self._current(shop_id, entry, epoch)
                if current or self._entries.get(shop_id) is not entry:
                    break
            for n, history in zip(wanted, read, strict=True):
                found[n] = history
                if current:
                    entry.histories[digests[n]] = history
            while len(entry.histories) > MAX_HISTORIES:
                entry.histories.popitem(last=False)
        return [history or {} for history in found]

    def epoch(self, shop_id: str) -> int:
        """Pass to `keep_answer`: an answer computed meanwhile with older data is not kept."""
        entry = self._entries.get(shop_id)
        return -1 if entry is None else entry.epoch

    def answer(self, shop_id: str, key: Hashable) -> Any:
        """A rendered answer kept by `keep_answer`, or None."""
        entry = self._entries.get(shop_id)
        if entry is None:
            return None
        self._end_pins(entry)
        found = entry.answers.get(key)
        if found is not None:
            entry.answers.move_to_end(key)
        return found

    def keep_answer(
        self, shop_id: str, key: Hashable, customer_id: str | None, value: Any, epoch: int
    ) -> None:
        """Keep a rendered answer until the model, catalog, never-shown products or (with
        `customer_id`) that customer's history changes; not if any changed since `epoch`."""
        entry = self._entries.get(shop_id)
        if entry is not None:
            self._end_pins(entry)  # an answer made with a pin that ended meanwhile: not kept
        if entry is None or entry.epoch != epoch:
            return
        entry.answers[key] = value
        if customer_id is not None:
            entry.customer_answers.setdefault(changes.customer_digest(customer_id),
                                              set()).add(key)
        while len(entry.answers) > MAX_ANSWERS:
            entry.answers.popitem(last=False)

    async def model(self, shop_id: str) -> tuple[str, ShopModel] | None:
        """The serving model's version and the model; None before the shop's first one."""
        entry = await self._entry(shop_id)
        if entry is None:
            return None
        return entry.model or await self._load_model(shop_id, entry)

    async def reload_model(self, shop_id: str) -> tuple[str, ShopModel] | None:
        """Load the published version now (after training or erasure in this process)."""
        entry = await self._entry(shop_id)
        return None if entry is None else await self._load_model(shop_id, entry)

    async def _load_model(self, shop_id: str, entry: HeldShop) -> tuple[str, ShopModel] | None:
        async with entry.model_lock:
            while True:
                epoch = entry.model_epoch
                raw_version = await self.redis.get(keys.model_current(shop_id))
                if raw_version is None:
                    entry.model = None
                    return None
                version = text(raw_version)
                if entry.model is not None and entry.model[0] == version:
                    return entry.model
                blob: Any = await self.redis.hget(keys.model(shop_id, version), "arrays")
                if blob is None:  # deleted between GET and HGET: a newer one is published
                    continue
                model = await asyncio.to_thread(ShopModel.from_bytes, blob)
                if entry.model_epoch == epoch:  # else erased meanwhile: read it again
                    entry.model = (version, model)
                    self._clear_answers(entry)
                    self._evict_models()
                    return entry.model

    def _evict_models(self) -> None:
        holding = [e for e in self._entries.values() if e.model is not None]
        for entry in holding[:max(0, len(holding) - MAX_MODELS)]:  # least recently used first
            entry.model = None

    def _current(self, shop_id: str, entry: HeldShop, epoch: int) -> bool:
        return self._entries.get(shop_id) is entry and entry.epoch == epoch

    # -- refreshing ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Read change notes every `refresh_seconds` until `stop` is set."""
        while not stop.is_set():
            try:
                await self.refresh()
            except RedisError as error:  # Redis away: keep serving what is held
                log.warning("cache refresh failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_seconds)
        for task in list(self._background):
            task.cancel()

    async def refresh(self) -> None:
        """One round: read the notes of every shop held and drop what they name."""
        shop_ids = list(self._entries)
        async with self.redis.pipeline(transaction=False) as pipe:
            watched = self.visitors.queue_notes(pipe, self._entries)
            for shop_id in shop_ids:
                slots.queue_xread(pipe, {keys.changes(shop_id): self._entries[shop_id].last_id},
                                  NOTES_PER_READ)  # on a cluster, sent straight to its node
                pipe.exists(keys.shop_config(shop_id))
            replies = self.visitors.apply_notes(watched, await pipe.execute())
        stale_shops: set[str] = set()
        for shop_id, notes, exists in zip(shop_ids, replies[::2], replies[1::2], strict=True):
            entry = self._entries.get(shop_id)
            if entry is None:
                continue
            if not exists:
                self._drop(shop_id)
                continue
            for _stream, entries in notes or ():
                self._apply(shop_id, entry, entries, stale_shops)
        if stale_shops:
            await self._reread_shops(sorted(stale_shops))

    async def _reread_shops(self, shop_ids: list[str]) -> None:
        """The shop record again (its keys, secrets, origins changed); the rest stays."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shop_id in shop_ids:
                pipe.hgetall(keys.shop_config(shop_id))
            replies = await pipe.execute()
        for shop_id, raw in zip(shop_ids, replies, strict=True):
            entry, shop = self._entries.get(shop_id), parse_shop(shop_id, raw)
            if entry is None:
                continue
            if shop is None:
                self._drop(shop_id)
                continue
            entry.shop = shop
            # an answer made while this read was on its way used the old record: not kept
            entry.epoch = next(_EPOCHS)
            self._clear_answers(entry)
            self._lookups = {k: v for k, v in self._lookups.items() if v != shop_id}

    def _apply(
        self, shop_id: str, entry: HeldShop, notes: list[Any], stale_shops: set[str]
    ) -> None:
        in_sequence = changes.unbroken(notes, entry.last_n)
        for note_id, fields in in_sequence:
            entry.last_id, entry.last_n = note_id, entry.last_n + 1
            kind, ident = text(fields.get(b"k", b"")), text(fields.get(b"i", b""))
            if not self._forget(shop_id, entry, kind, ident, stale_shops):
                return
        if len(in_sequence) < len(notes):  # a number is missing: drop everything
            self._drop(shop_id)

    def changed(self, shop_id: str, *notes: tuple[str, str]) -> None:
        """Apply notes of a write this process made at once (its next answer reads the write);
        every process, this one included, reads them again from the stream."""
        entry = self._entries.get(shop_id)
        for kind, ident in notes:
            if entry is None or not self._forget(shop_id, entry, kind, ident, set()):
                return

    def _forget(
        self, shop_id: str, entry: HeldShop, kind: str, ident: str, stale_shops: set[str]
    ) -> bool:
        """Drop what one note names; False once the whole entry is gone."""
        entry.epoch = next(_EPOCHS)
        if kind == changes.ALL:
            self._drop(shop_id)
            return False
        if kind == changes.SHOP:
            stale_shops.add(shop_id)
            self._clear_answers(entry)
        elif kind == changes.PRODUCT:
            entry.catalog.pop(ident, None)
            entry.blocked = None
            self._clear_answers(entry)
        elif kind == changes.BLOCKED:
            entry.blocked = None
            self._clear_answers(entry)
        elif kind == changes.PINS:
            entry.pins = None
            self._clear_answers(entry)
        elif kind == changes.CUSTOMER:
            entry.histories.pop(ident, None)
            held = entry.customer_answers.pop(ident, ())
            dropped = [v for v in (entry.answers.pop(k, None) for k in held) if v is not None]
            if dropped and self.on_dropped is not None:
                self.on_dropped(shop_id, dropped)
        elif kind == changes.ERASED:
            entry.histories.pop(ident, None)
            entry.model_epoch += 1
            entry.model = None  # the next answer waits for the cleaned version
            self._clear_answers(entry)
        elif kind == changes.MODEL and (entry.model is None or entry.model[0] != ident):
            self.spawn(self._load_model(shop_id, entry))
        return True

    @staticmethod
    def _clear_answers(entry: HeldShop) -> None:
        entry.epoch = next(_EPOCHS)
        entry.answers.clear()
        entry.customer_answers.clear()

    def _drop(self, shop_id: str) -> None:
        self._entries.pop(shop_id, None)
        self.visitors.forget(shop_id)
        self._lookups = {k: v for k, v in self._lookups.items() if v != shop_id}

    def spawn(self, work: Any) -> None:
        """Run `work` in the background until it ends or `run` stops; a failure is logged."""
        task = asyncio.ensure_future(work)
        self._background.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._background.discard(done)
            if not done.cancelled() and done.exception() is not None:
                log.warning("background work failed: %r", done.exception())

        task.add_done_callback(finished)


def _has_domain(shop: Shop, platform: str, domain: str) -> bool:  # domain: lower-case
    return shop.platform == platform and domain in {shop.domain.lower(),
                                                    shop.access.store_ref.lower()}
