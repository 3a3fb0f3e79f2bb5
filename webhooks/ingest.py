"""The ingestion worker: reads the shops' event streams in a consumer group and stores orders.

Every event is processed, then acknowledged; a crash between the two re-delivers it (pending
entries are re-claimed), which is harmless because storing an order is idempotent: the newer
`updated_at` wins and a cancellation is final for its version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.events import Event
from plugin.store.fields import PayloadError
from plugin.store.shops import Shop, get_shop, shop_ids
from plugin.web.body import InvalidJson
from webhooks.adapter import Context, parse_json
from webhooks.http import FetchError, PlatformHttp
from webhooks.platforms import ADAPTERS

log = logging.getLogger(__name__)

GROUP = "ingest"
BATCH = 200
CLAIM_IDLE_MS = 30_000
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
    adapter = ADAPTERS.get(event.platform)
    if adapter is None:
        raise PayloadError(f"no adapter for platform {event.platform!r}")
    payload = parse_json(event.body)
    context = Context(redis=redis, shop=shop, http=http or _default_http())
    await adapter.apply(context, event.topic, payload)


_shared_http: PlatformHttp | None = None


def _default_http() -> PlatformHttp:
    global _shared_http
    if _shared_http is None:
        _shared_http = PlatformHttp()
    return _shared_http


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
                await self.read_once(shops, block_ms)
            except RedisError as error:
                log.warning("ingest: Redis unavailable (%s); retrying", type(error).__name__)
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
            response: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, streams, count=BATCH, block=block_ms
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._groups.clear()  # a shop was erased meanwhile: check the groups again
            return 0
        processed = 0
        for stream, entries in response or []:
            shop_id = _shop_of_stream(stream)
            processed += await self._process_entries(shop_id, entries)
        return processed

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
            processed += await self._process_entries(shop_id, entries)
            if cursor in (b"0-0", "0-0") or not entries:
                return processed

    async def housekeep(self, shop_id: str) -> int:
        """Trim processed events older than the retention, and forget consumers that left
        nothing pending an hour ago (each process start adds one). Returns events trimmed."""
        stream = keys.events(shop_id)
        cutoff_ms = int((time.time() - self.retention_seconds) * 1000)
        groups = await self.redis.xinfo_groups(stream)
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
        """Process every event accepted for the shop so far, including other consumers' ones
        (waiting for them while they make progress).
        A shop erased meanwhile (shop/redact) is drained once its stream is gone."""
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

    async def _process_entries(self, shop_id: str, entries: list[Any]) -> int:
        if not entries:
            return 0
        shop = await get_shop(self.redis, shop_id)
        for count, (entry_id, fields) in enumerate(entries, 1):
            done = True
            if shop is not None and fields:
                done = await self._process_one(shop, entry_id, fields)
            if done:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xack(keys.events(shop_id), GROUP, entry_id)
                    pipe.hdel(keys.event_attempts(shop_id), entry_id)
                    pipe.exists(keys.shop_config(shop_id))
                    *_, still_registered = await pipe.execute()
                if shop is not None and not still_registered:  # the event erased the shop
                    self._groups.discard(shop_id)
                    return count
        return len(entries)

    async def _process_one(self, shop: Shop, entry_id: bytes, fields: dict[bytes, bytes]) -> bool:
        """Apply one entry; False leaves it pending for a retry (a transient failure)."""
        try:
            await process_event(self.redis, shop, Event.from_fields(fields), self.http)
        except RedisError:
            raise  # not acknowledged: re-claimed once Redis is back
        except Exception as error:  # one bad event must not block the stream
            attempts = await self.redis.hincrby(keys.event_attempts(shop.shop_id), entry_id, 1)
            if not is_permanent(error) and attempts < MAX_ATTEMPTS:
                log.warning("ingest: event %s of shop %s failed (attempt %d, will retry): %s",
                            text(entry_id), shop.shop_id, attempts, error)
                return False
            await dead_letter(self.redis, shop.shop_id, entry_id, fields, error, attempts)
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
