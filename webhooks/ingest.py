"""The ingestion worker: reads the shops' event streams in a consumer group and stores orders.

Every event is processed, then acknowledged; a crash between the two re-delivers it (pending
entries are re-claimed), which is harmless because storing an order is idempotent: the newer
`updated_at` wins and a cancellation is final for its version.

Entries are read in batches (BATCH per stream) and processed in stream order. A run of
consecutive events that only store an order (PlatformAdapter.order_to_store) is stored with
records.store_orders in a few round trips for the whole run; any other event is applied on its
own. Acknowledgements go in one round trip per run, and after every other event (which may
have erased the shop: then the rest of the batch is left to the erasure).

Who holds an entry: the consumer that read or claimed it, for as long as it keeps it fresh.
While a consumer works through a batch, it resets the idle time of the entries it has not
acknowledged yet every third of the claim-idle time (XCLAIM to itself, JUSTID, in a script that
skips entries another consumer took meanwhile; those are then left to it). Only entries idle
for the whole claim-idle time are taken over (XAUTOCLAIM), so a drain or a second worker waits
for a live consumer's entries, however long one batch of fetching events takes, and takes over
only those of a consumer that is gone (killed) or stuck (its event loop blocked for that long).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from plugin.store import keys, records
from plugin.store.connection import UNAVAILABLE, text
from plugin.store.events import Event
from plugin.store.fields import PayloadError
from plugin.store.order import Order
from plugin.store.scripts import Script
from plugin.store.shops import Shop, get_shop, shop_ids
from plugin.store.slots import read_group
from plugin.web.body import InvalidJson
from webhooks.adapter import Context, PlatformAdapter, parse_json
from webhooks.http import FetchError, PlatformHttp, shared_http
from webhooks.platforms import ADAPTERS

log = logging.getLogger(__name__)

GROUP = "ingest"
BATCH = 200
CLAIM_IDLE_MS = 30_000  # an entry nobody refreshed for this long is taken over
YIELD_EVERY = 16  # entries parsed between two turns of the event loop (the web side's)
# After a batch that was not full, wait this long before reading again: a burst is stored and
# acknowledged in batches of many (each write round trip costs an fsync with `appendfsync always`)
GATHER_SECONDS = 0.1
MAX_ATTEMPTS = 5  # a transiently failing event is retried this often, then dead-lettered
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600

def consumer_name() -> str:
    """Unique per Ingestor: host, process and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# The group (and the stream) is created only for a registered shop: an erased shop's stream
# is never brought back.
_ENSURE_GROUP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local created = redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[1], '0', 'MKSTREAM')
if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
  return redis.error_reply(created.err)
end
return 1
"""


async def ensure_group(redis: aioredis.Redis, shop_id: str) -> bool:
    """Create the ingest group of a registered shop's stream; False if the shop is gone."""
    created = await redis.eval(
        _ENSURE_GROUP, 2, keys.shop_config(shop_id), keys.events(shop_id), GROUP
    )
    return bool(created)


async def process_event(
    redis: aioredis.Redis, shop: Shop, event: Event, http: PlatformHttp | None = None
) -> None:
    """Apply one event to the shop's stored data through its platform's adapter.

    Raises PayloadError for a body that can never be processed, FetchError when the platform
    API (for adapters that fetch) could not be reached.
    """
    adapter = _adapter(event)
    context = Context(redis=redis, shop=shop, http=http or shared_http())
    await adapter.apply(context, event.topic, parse_json(event.body))


def _adapter(event: Event) -> PlatformAdapter:
    adapter = ADAPTERS.get(event.platform)
    if adapter is None:
        raise PayloadError(f"no adapter for platform {event.platform!r}")
    return adapter


@dataclass
class _Entry:
    """A stream entry, parsed once: its event and JSON body, the order if the event does
    nothing but store it, or the error that stops it from being processed."""

    entry_id: bytes
    fields: dict[bytes, bytes]
    event: Event | None = None
    adapter: PlatformAdapter | None = None
    payload: Any = None
    order: Order | None = None
    error: Exception | None = None

    @classmethod
    def parse(cls, entry_id: bytes, fields: dict[bytes, bytes]) -> _Entry:
        entry = cls(entry_id, fields)
        try:
            entry.event = Event.from_fields(fields)
            entry.adapter = _adapter(entry.event)
            if entry.event.order:  # made by the receiver from this body, by the field rules
                entry.order = Order.from_json(entry.event.order, trusted=True)
                return entry
            entry.payload = parse_json(entry.event.body)
            entry.order = entry.adapter.order_to_store(entry.event.topic, entry.payload)
        except Exception as error:  # reported when the entry is processed
            entry.error, entry.order = error, None
        if entry.order is not None:  # a batch keeps its orders, not their bodies' objects
            entry.payload = None  # (a run stored one by one after all parses them again)
        return entry


# Resets the idle time of the entries that ARGV[2] still holds in group ARGV[1] (XCLAIM to
# itself, JUSTID: the delivery count stays); returns the ids it no longer holds (another
# consumer took them over, or they were acknowledged).
_REFRESH_CLAIMS = Script("""
local held, lost = {}, {}
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #entry == 1 then held[#held + 1] = ARGV[i] else lost[#lost + 1] = ARGV[i] end
end
if #held > 0 then
  held[#held + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(held))
end
return lost
""")


class _Held:
    """The entries read of one shop that a consumer holds from `position` on (those before are
    acknowledged, or left pending for a retry), and those it found taken over (`lost`)."""

    def __init__(self, shop_id: str, entries: list[Any]) -> None:
        self.stream = keys.events(shop_id)
        self.entry_ids: list[bytes] = [entry_id for entry_id, _fields in entries]
        self.position = 0
        self.lost: set[bytes] = set()
        self.over = False  # the batch ended (done, or given up: what is left is re-claimed)

    async def keep_fresh(self, redis: aioredis.Redis, consumer: str, claim_idle_ms: int) -> None:
        """Until the batch is over, every third of the claim-idle time: refresh what is held.
        `over` ends it for sure: a cancel can be lost (3.11's asyncio.wait_for in redis-py),
        and a given-up batch's entries kept fresh for ever would never be re-claimed."""
        while not self.over:
            await asyncio.sleep(claim_idle_ms / 3000)
            held = self.entry_ids[self.position:]
            if not held or self.over:
                return
            try:
                lost = await _REFRESH_CLAIMS(redis, [self.stream], [GROUP, consumer, *held])
            except Exception as error:  # the next turn tries again (see Ingestor.run)
                log.warning("ingest: could not refresh the claims on %s (%s)", self.stream,
                            type(error).__name__)
                continue
            self.lost.update(lost)


def is_permanent(error: Exception) -> bool:
    """Errors no retry can fix: a bad body or fetched resource (it breaks the field rules or
    the JSON limits), or the platform refusing (4xx other than 429)."""
    if isinstance(error, PayloadError | InvalidJson):
        return True
    return isinstance(error, FetchError) and error.status is not None \
        and 400 <= error.status < 500 and error.status != 429


class Ingestor:
    """Reads events of every shop (or one) in the `ingest` consumer group."""

    def __init__(
        self,
        redis: aioredis.Redis,
        consumer: str | None = None,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        http: PlatformHttp | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self.redis = redis
        self.consumer = consumer or consumer_name()
        self.retention_seconds = retention_seconds
        self.http = http
        self.claim_idle_ms = claim_idle_ms  # entries idle this long were left by a crash
        self._groups: set[str] = set()

    async def run(self, stop: asyncio.Event, block_ms: int = 1000) -> None:
        last_claim = 0.0
        while not stop.is_set():
            try:
                shops = await shop_ids(self.redis)
                if time.monotonic() - last_claim > self.claim_idle_ms / 1000:
                    for shop_id in shops:
                        await self.claim_stale(shop_id, self.claim_idle_ms)
                        await self.housekeep(shop_id)
                    last_claim = time.monotonic()
                if not shops:
                    await asyncio.sleep(block_ms / 1000)
                    continue
                if 0 < await self.read_once(shops, block_ms) < BATCH:
                    with contextlib.suppress(TimeoutError):  # let the next ones gather
                        await asyncio.wait_for(stop.wait(), GATHER_SECONDS)
            except UNAVAILABLE as error:
                log.warning("ingest: Redis unavailable (%s); retrying", type(error).__name__)
                await asyncio.sleep(1.0)
            except Exception:  # outlive anything (docs/deploy.md, Failover): it is re-claimed
                log.exception("ingest: a round failed; retrying")
                await asyncio.sleep(1.0)

    async def read_once(self, shop_ids: Sequence[str], block_ms: int | None = None) -> int:
        """Read and process one batch of new events; the number processed."""
        for shop_id in shop_ids:
            if shop_id not in self._groups and await ensure_group(self.redis, shop_id):
                self._groups.add(shop_id)
        streams: dict[Any, Any] = {keys.events(s): ">" for s in shop_ids if s in self._groups}
        if not streams:  # every shop asked for is gone
            await asyncio.sleep((block_ms or 0) / 1000)
            return 0
        try:
            response: Any = await read_group(  # per slot on a cluster (plugin.store.slots)
                self.redis, GROUP, self.consumer, streams, BATCH, block_ms)
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._groups.clear()  # a shop was erased meanwhile: check the groups again
            return 0
        return await self._process([(_shop_of_stream(stream), entries)
                                    for stream, entries in response or []])

    async def claim_stale(self, shop_id: str, min_idle_ms: int) -> int:
        """Take over entries another consumer read but never acknowledged (it crashed)."""
        if not await ensure_group(self.redis, shop_id):
            return 0
        processed, cursor = 0, "0-0"
        while True:
            result = await self.redis.xautoclaim(
                keys.events(shop_id), GROUP, self.consumer, min_idle_ms, cursor, count=BATCH
            )
            cursor, entries = result[0], result[1]
            processed += await self._process([(shop_id, entries)])
            if cursor in (b"0-0", "0-0") or not entries:
                return processed

    async def housekeep(self, shop_id: str) -> int:
        """Trim processed events older than the retention, and forget consumers that left
        nothing pending an hour ago (each process start adds one). Returns events trimmed."""
        stream = keys.events(shop_id)
        cutoff_ms = int((time.time() - self.retention_seconds) * 1000)
        groups = await self.redis.xinfo_groups(stream) if await self.redis.exists(stream) else []
        group = next((g for g in groups if text(g["name"]) == GROUP), None)
        if group is None:
            return 0
        delivered_ms, delivered_seq = _stream_id(group["last-delivered-id"])
        bound = min((cutoff_ms, 0), (delivered_ms, delivered_seq + 1))  # never undelivered
        summary = await self.redis.xpending(stream, GROUP)
        if summary["pending"]:
            bound = min(bound, _stream_id(summary["min"]))
        minid = f"{bound[0]}-{bound[1]}"
        trimmed = int(await self.redis.xtrim(stream, minid=minid, approximate=False))
        for consumer in await self.redis.xinfo_consumers(stream, GROUP):
            name = text(consumer["name"])
            if name != self.consumer and not consumer["pending"] and consumer["idle"] > 3600_000:
                await self.redis.xgroup_delconsumer(stream, GROUP, name)
        return trimmed

    async def drain(self, shop_id: str, timeout: float = 60.0) -> None:
        """Process every event accepted for the shop so far. Entries another consumer holds
        are left to it and waited for while it makes progress (a live consumer keeps them
        claimed, see the module docstring); only entries idle for the claim-idle time, whose
        consumer is gone or stuck, are taken over. A shop erased meanwhile (shop/redact) is
        drained once its stream is gone."""
        if await ensure_group(self.redis, shop_id):
            while await self.read_once([shop_id]):
                pass
        # other consumers may still hold a large batch: wait while it shrinks, give up only
        # after `timeout` seconds without progress
        deadline, least = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            pending = await self._pending(shop_id)
            if not pending:
                return
            if least is None or pending < least:
                deadline, least = time.monotonic() + timeout, pending
            await asyncio.sleep(0.05)
            await self.claim_stale(shop_id, self.claim_idle_ms)
        raise TimeoutError(f"events of shop {shop_id!r} still pending: no progress for "
                           f"{timeout:.0f} s")

    async def _pending(self, shop_id: str) -> int:
        try:
            return int((await self.redis.xpending(keys.events(shop_id), GROUP))["pending"])
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            return 0  # no stream any more: the shop was erased

    async def _process(self, batches: list[tuple[str, list[Any]]]) -> int:
        """Process the entries read of each shop in stream order, keeping all of them claimed
        until they are done; the number handled (fewer when an event erased its shop)."""
        batches = [(shop_id, entries) for shop_id, entries in batches if entries]
        held = [_Held(shop_id, entries) for shop_id, entries in batches]
        keepers = [asyncio.create_task(h.keep_fresh(self.redis, self.consumer,
                                                    self.claim_idle_ms)) for h in held]
        try:
            processed = 0
            for (shop_id, entries), entries_held in zip(batches, held, strict=True):
                processed += await self._work_through(shop_id, entries, entries_held)
            return processed
        finally:
            for entries_held, keeper in zip(held, keepers, strict=True):
                entries_held.over = True
                keeper.cancel()

    async def _work_through(self, shop_id: str, entries: list[Any], held: _Held) -> int:
        shop = await get_shop(self.redis, shop_id)
        run: list[_Entry] = []  # consecutive events that only store an order, not yet stored
        done: list[bytes] = []  # processed, not yet acknowledged
        for count, (entry_id, fields) in enumerate(entries, 1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # parsing is CPU work: let requests in between
            if entry_id in held.lost:
                continue
            if shop is None or not fields:  # the shop or the entry is gone: nothing to do
                done.append(entry_id)
                continue
            entry = _Entry.parse(entry_id, fields)
            if entry.order is not None:
                run.append(entry)
                continue
            done += await self._store_run(shop, run, held)
            run = []
            if await self._process_one(shop, entry):
                done.append(entry_id)
                if not await self._acknowledge(shop_id, done):  # the event erased the shop
                    self._groups.discard(shop_id)
                    return count
                done = []
            held.position = count
        done += await self._store_run(shop, run, held) if shop is not None else []
        await self._acknowledge(shop_id, done)
        return len(entries)

    async def _store_run(self, shop: Shop, run: list[_Entry], held: _Held) -> list[bytes]:
        """Store the orders of a run in one go; the ids of the entries processed."""
        run = [entry for entry in run if entry.entry_id not in held.lost]
        if not run:
            return []
        try:
            await records.store_orders(self.redis, shop.shop_id,
                                       [entry.order for entry in run if entry.order])
        except UNAVAILABLE:
            raise  # not acknowledged: re-claimed once Redis is back
        except Exception as error:  # e.g. ConcurrentUpdate: each event on its own, as usual
            log.info("ingest: storing %d orders of shop %s at once failed (%s); one by one",
                     len(run), shop.shop_id, error)
            return [entry.entry_id for entry in run if await self._process_one(shop, entry)]
        return [entry.entry_id for entry in run]

    async def _acknowledge(self, shop_id: str, entry_ids: list[bytes]) -> bool:
        """Acknowledge the entries; whether the shop is still registered."""
        if not entry_ids:
            return True
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(keys.events(shop_id), GROUP, *entry_ids)
            pipe.hdel(keys.event_attempts(shop_id), *entry_ids)
            pipe.exists(keys.shop_config(shop_id))
            *_, still_registered = await pipe.execute()
        return bool(still_registered)

    async def _process_one(self, shop: Shop, entry: _Entry) -> bool:
        """Apply one entry; False leaves it pending for a retry (a transient failure)."""
        try:
            if entry.error is not None:
                raise entry.error
            assert entry.event is not None and entry.adapter is not None
            context = Context(redis=self.redis, shop=shop, http=self.http or shared_http())
            payload = entry.payload if entry.order is None else parse_json(entry.event.body)
            await entry.adapter.apply(context, entry.event.topic, payload)
        except UNAVAILABLE:
            raise  # not acknowledged: re-claimed once Redis is back
        except Exception as error:  # one bad event must not block the stream
            attempts = await self.redis.hincrby(keys.event_attempts(shop.shop_id),
                                                entry.entry_id, 1)
            if not is_permanent(error) and attempts < MAX_ATTEMPTS:
                log.warning("ingest: event %s of shop %s failed (attempt %d, will retry): %s",
                            text(entry.entry_id), shop.shop_id, attempts, error)
                return False
            await dead_letter(self.redis, shop.shop_id, entry.entry_id, entry.fields, error,
                              attempts)
        return True


async def dead_letter(
    redis: aioredis.Redis, shop_id: str, entry_id: bytes, fields: dict[bytes, bytes],
    error: Exception, attempts: int,
) -> None:
    """Move the event to the dead-letter stream and acknowledge it, in one transaction (a
    crash cannot leave it both dead and pending)."""
    log.error("ingest: event %s of shop %s dead-lettered after %d attempt(s): %s",
              text(entry_id), shop_id, attempts, error)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(
            keys.dead_letters(shop_id),
            {"event_id": entry_id, "error": f"{type(error).__name__}: {error}",
             "attempts": attempts, **{text(k): v for k, v in fields.items()}},
        )
        pipe.hincrby(keys.stats(shop_id), "failed", 1)
        pipe.xack(keys.events(shop_id), GROUP, entry_id)
        pipe.hdel(keys.event_attempts(shop_id), entry_id)
        await pipe.execute()


def _stream_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id as (milliseconds, sequence), ordered as Redis orders them."""
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def _shop_of_stream(stream: bytes | str) -> str:
    name = text(stream)
    return name.split("{", 1)[1].split("}", 1)[0]
