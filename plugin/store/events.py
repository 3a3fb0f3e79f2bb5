"""Durable, deduplicated append of an accepted webhook to the shop's event stream."""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.scripts import Arg, Script, missing

# The appends of one shop's waiting deliveries, in order. Each is checked, appended and marked in
# one atomic step: a delivery is either in the stream and marked seen, or neither (the
# platform's retry then gets a second chance). KEYS: the stream, the stats, then each
# delivery's seen marker. ARGV: the marker's expiry, then per delivery its stream fields
# packed into one argument (`packed_fields`: name and value each as "<bytes>:<bytes>"; one
# argument instead of sixteen makes the call several times cheaper to encode). Returns per
# delivery its stream id, or false for a delivery already accepted.
_APPEND = Script("""
local function fields_of(packed)
  local fields, at = {}, 1
  while at <= #packed do
    local colon = string.find(packed, ':', at, true)
    local size = tonumber(string.sub(packed, at, colon - 1))
    fields[#fields + 1] = string.sub(packed, colon + 1, colon + size)
    at = colon + size + 1
  end
  return fields
end
local ttl = ARGV[1]
local ids = {}
for n = 3, #KEYS do
  if redis.call('EXISTS', KEYS[n]) == 1 then
    redis.call('HINCRBY', KEYS[2], 'duplicates', 1)
    ids[n - 2] = false
  else
    local id = redis.call('XADD', KEYS[1], '*', unpack(fields_of(ARGV[n - 1])))
    redis.call('SET', KEYS[n], id, 'EX', ttl)
    redis.call('HINCRBY', KEYS[2], 'accepted', 1)
    ids[n - 2] = id
  end
end
return ids
""")


def packed_fields(fields: dict[str, bytes | str]) -> bytes:
    """Stream fields as the append script reads them: each name and value as its length in
    bytes, a colon, then the bytes (binary-safe: a raw body may hold anything)."""
    parts: list[bytes] = []
    for name, value in fields.items():
        raw = value.encode() if isinstance(value, str) else value
        key = name.encode()
        parts += (b"%d:" % len(key), key, b"%d:" % len(raw), raw)  # no copy of the body
    return b"".join(parts)


@dataclass(frozen=True)
class Event:
    platform: str
    topic: str
    delivery_id: str
    body: bytes
    triggered_at: str = ""
    api_version: str = ""
    # The order the body stands for, as JSON that Order.from_json reads, when the receiver made
    # it while checking the body: the worker then stores it without parsing the body again.
    # b"" for none.
    order: bytes | str = b""

    def fields(self) -> dict[str, bytes | str]:
        fields: dict[str, bytes | str] = {
            "platform": self.platform,
            "topic": self.topic,
            "delivery_id": self.delivery_id,
            "received_at": repr(time.time()),
            "triggered_at": self.triggered_at,
            "api_version": self.api_version,
            "body": self.body,
        }
        if self.order:
            fields["order"] = self.order
        return fields

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Event:
        named = {text(k): v for k, v in fields.items()}
        return cls(
            platform=text(named["platform"]),
            topic=text(named["topic"]),
            delivery_id=text(named["delivery_id"]),
            body=named["body"],
            triggered_at=text(named.get("triggered_at", b"")),
            api_version=text(named.get("api_version", b"")),
            order=named.get("order", b""),
        )


def fallback_delivery_id(topic: str, body: bytes) -> str:
    """For a delivery without an id header: the same topic and body is the same delivery."""
    return "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()


async def append(redis: aioredis.Redis, shop_id: str, event: Event) -> str | None:
    """Store the event durably; its stream id, or None if this delivery was already accepted.

    Appends made at the same time share one round trip (see GroupCommit); a RedisError
    reaches every caller whose append was in the failed round trip."""
    stream_id = await _group_commit(redis).append(shop_id, event)
    return text(stream_id) if stream_id else None


@dataclass(frozen=True)
class _Waiting:
    shop_id: str
    event: Event
    future: asyncio.Future[Any]


class GroupCommit:
    """Appends of concurrent requests sent to Redis together: a group commit.

    Each append joins the queue of its client and waits for its own reply. The first append
    queued schedules a flush for the next turn of the event loop, so every request that
    reaches its append in the same turn joins it; the flush sends the whole queue in one round
    trip: one call of the append script per shop (EVALSHA; all of a shop's keys share its
    hash tag), appending that shop's deliveries in queue order. Flushes do not wait for each
    other (up to MAX_IN_FLIGHT at once, then the queue waits for one to end): Redis reads
    what arrived while it was busy in one go, and with `appendfsync always` it writes and
    fsyncs the AOF once for all of it before it answers. Every request is still answered only
    once its event is on disk, and under load one fsync serves many requests.

    Each delivery keeps the meaning it has alone: dedupe (a repeat later in the same batch is a
    duplicate), the shop's counters, None for a duplicate. A failed round trip (RedisError)
    reaches every caller of its batch; an error reply of a shop's call (its script failed
    midway: the deliveries before the failure are stored) reaches that shop's callers, whose
    platforms then retry and are told "duplicate" for what was stored.
    """

    MAX_IN_FLIGHT = 4

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._queue: list[_Waiting] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()

    async def append(self, shop_id: str, event: Event) -> Any:
        waiting = _Waiting(shop_id, event, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self._schedule()
        return await waiting.future

    def _schedule(self) -> None:
        if self._queue and not self._scheduled and len(self._flushes) < self.MAX_IN_FLIGHT:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._scheduled = False
        batch, self._queue = self._queue, []
        flush = asyncio.create_task(self._flush(batch))
        self._flushes.add(flush)
        flush.add_done_callback(self._flushed)

    def _flushed(self, flush: asyncio.Task[None]) -> None:
        self._flushes.discard(flush)
        self._schedule()  # what queued up while MAX_IN_FLIGHT were under way

    async def _flush(self, batch: list[_Waiting]) -> None:
        by_shop: dict[str, list[_Waiting]] = {}
        for waiting in batch:
            by_shop.setdefault(waiting.shop_id, []).append(waiting)
        groups = list(by_shop.values())
        try:
            replies = await self._send(groups)
        except Exception as error:  # RedisError: the round trip failed, for all of them
            replies = [error] * len(groups)
        except BaseException:  # cancelled: the loop is closing
            for waiting in batch:
                waiting.future.cancel()
            raise
        for group, reply in zip(groups, replies, strict=True):
            for n, waiting in enumerate(group):
                if waiting.future.done():  # its request was cancelled
                    continue
                if isinstance(reply, Exception):
                    waiting.future.set_exception(reply)
                else:
                    waiting.future.set_result(reply[n])

    async def _send(self, groups: list[list[_Waiting]]) -> list[Any]:
        calls = [_append_call(group) for group in groups]
        if len(calls) == 1:  # one shop's deliveries (the usual case): no pipeline needed
            return [await _APPEND(self.redis, *calls[0])]
        replies = await self._pipeline(calls)
        unknown = [n for n, reply in enumerate(replies) if missing(reply)]
        if unknown:  # a new or restarted server: load the script, send those again
            await _APPEND.load(self.redis)
            for n, reply in zip(unknown, await self._pipeline([calls[n] for n in unknown]),
                                strict=True):
                replies[n] = reply
        return replies

    async def _pipeline(self, calls: list[tuple[list[str], list[Arg]]]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for script_keys, argv in calls:
                _APPEND.queue(pipe, script_keys, argv)
            return list(await pipe.execute(raise_on_error=False))


def _append_call(group: list[_Waiting]) -> tuple[list[str], list[Arg]]:
    """Keys and arguments of the append script for one shop's waiting deliveries."""
    shop_id = group[0].shop_id
    script_keys = [keys.events(shop_id), keys.stats(shop_id)]
    argv: list[Arg] = [keys.DEDUPE_TTL_SECONDS]
    for waiting in group:
        script_keys.append(keys.seen_delivery(shop_id, waiting.event.delivery_id))
        argv.append(packed_fields(waiting.event.fields()))
    return script_keys, argv


_group_commits: weakref.WeakKeyDictionary[aioredis.Redis, GroupCommit] = \
    weakref.WeakKeyDictionary()


def _group_commit(redis: aioredis.Redis) -> GroupCommit:
    """The group commit of this client (a client lives in one event loop)."""
    group = _group_commits.get(redis)
    if group is None:
        group = _group_commits[redis] = GroupCommit(redis)
    return group
