"""Durable, deduplicated append of an accepted webhook to the shop's event stream."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import weakref
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.exceptions import ClusterError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

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


# Event.fields' names and their lengths as packed_fields packs them, with room for each
# value's length and bytes (body last but its bytes: they are not copied into the head).
_PACKED_HEAD = (b"8:platform%d:%b5:topic%d:%b11:delivery_id%d:%b11:received_at%d:%b"
                b"12:triggered_at%d:%b11:api_version%d:%b4:body%d:")


class Event(NamedTuple):
    """One webhook delivery as stored (a named tuple: the receiver makes one a webhook)."""

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

    def packed(self) -> bytes:
        """packed_fields(self.fields()), made in one formatting step (once per webhook)."""
        platform, topic = self.platform.encode(), self.topic.encode()
        delivery, received = self.delivery_id.encode(), repr(time.time()).encode()
        triggered, version = self.triggered_at.encode(), self.api_version.encode()
        head = _PACKED_HEAD % (len(platform), platform, len(topic), topic, len(delivery),
                               delivery, len(received), received, len(triggered), triggered,
                               len(version), version, len(self.body))
        order = self.order.encode() if isinstance(self.order, str) else self.order
        if not order:
            return head + self.body
        return b"".join((head, self.body, b"5:order%d:" % len(order), order))

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


@dataclass(frozen=True)
class Replication:
    """How many replicas must acknowledge an append before it is answered (Redis WAIT), and
    how long to wait for them (milliseconds); settings redis_wait_replicas, redis_wait_ms."""

    replicas: int
    timeout_ms: int = 1000


class NotReplicated(RedisError):
    """Fewer replicas than asked acknowledged the append in time. The event is stored on the
    master (and counts as accepted there); answer 503: the platform's retry is then either
    told "duplicate" once a replica has it too, or, if a failover lost it, stored again."""

    def __init__(self, acknowledged: int, wanted: Replication) -> None:
        super().__init__(f"{acknowledged} of {wanted.replicas} replica(s) acknowledged the "
                         f"append within {wanted.timeout_ms} ms")
        self.acknowledged = acknowledged


async def append(redis: aioredis.Redis, shop_id: str, event: Event,
                 replication: Replication | None = None) -> str | None:
    """Store the event durably; its stream id, or None if this delivery was already accepted.

    Appends made at the same time share one round trip (see GroupCommit); a RedisError
    reaches every caller whose append was in the failed round trip. With `replication`, the
    append returns only once that many replicas acknowledged it (else NotReplicated)."""
    wanted = replication if replication is not None and replication.replicas > 0 else None
    stream_id = await _group_commit(redis).submit(shop_id, event, wanted)
    return text(stream_id) if stream_id else None


class _Waiting:
    """One append in a group commit's queue (a plain class: made once per webhook)."""

    __slots__ = ("event", "future", "replication", "shop_id")

    def __init__(self, shop_id: str, event: Event, future: asyncio.Future[Any],
                 replication: Replication | None = None) -> None:
        self.shop_id, self.event, self.future = shop_id, event, future
        self.replication = replication


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

    When a delivery asks for replicas (Replication: SHOPRECO_REDIS_WAIT_REPLICAS), its batch is
    followed by one Redis WAIT per node, on the connection its appends went over, and a
    delivery whose node's replicas did not acknowledge in time gets NotReplicated.
    """

    MAX_IN_FLIGHT = 4

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._queue: list[_Waiting] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()

    def submit(self, shop_id: str, event: Event, replication: Replication | None = None
               ) -> asyncio.Future[Any]:
        """Queue the append; the future of its reply (awaited by the caller: one coroutine
        less between a request and its wake-up, which every webhook pays twice)."""
        waiting = _Waiting(shop_id, event, asyncio.get_running_loop().create_future(),
                           replication)
        self._queue.append(waiting)
        self._schedule()
        return waiting.future

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
        wanted = _strongest(batch)
        acks: list[int] = []
        try:
            if wanted is None:
                replies = await self._send(groups)
            else:
                replies, acks = await _send_replicated(self.redis, groups, wanted)
        except Exception as error:  # RedisError: the round trip failed, for all of them
            replies = [error] * len(groups)
        except BaseException:  # cancelled: the loop is closing
            for waiting in batch:
                waiting.future.cancel()
            raise
        for number, (group, reply) in enumerate(zip(groups, replies, strict=True)):
            for n, waiting in enumerate(group):
                if waiting.future.done():  # its request was cancelled
                    continue
                if isinstance(reply, Exception):
                    waiting.future.set_exception(reply)
                elif waiting.replication and acks[number] < waiting.replication.replicas:
                    waiting.future.set_exception(NotReplicated(acks[number],
                                                               waiting.replication))
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


Call = tuple[list[str], list[Arg]]  # the append script's keys and arguments


def _append_call(group: list[_Waiting]) -> Call:
    """Keys and arguments of the append script for one shop's waiting deliveries."""
    shop_id = group[0].shop_id
    script_keys = [keys.events(shop_id), keys.stats(shop_id)]
    script_keys += [keys.seen_delivery(shop_id, waiting.event.delivery_id) for waiting in group]
    argv: list[Arg] = [keys.DEDUPE_TTL_SECONDS]
    argv += [waiting.event.packed() for waiting in group]
    return script_keys, argv


def _strongest(batch: list[_Waiting]) -> Replication | None:
    """The WAIT that satisfies every delivery of the batch (None: none asked for one)."""
    asked = [waiting.replication for waiting in batch if waiting.replication is not None]
    if not asked:
        return None
    return Replication(max(r.replicas for r in asked), max(r.timeout_ms for r in asked))


async def _send_replicated(redis: aioredis.Redis, groups: list[list[_Waiting]],
                           wanted: Replication) -> tuple[list[Any], list[int]]:
    """The batch's append calls, then WAIT on the same connection: per shop its reply and how
    many replicas acknowledged it.

    WAIT counts the replicas that have every write of *its own connection* so far, so each
    node's calls and their WAIT go over one connection: a plain pipeline on a single Redis;
    on a cluster, one pipeline per node straight to that node (the node that holds each
    shop's slot in the client's map), so one WAIT per node serves the whole batch. A call the
    node refuses (MOVED after a failover, a broken connection) fails its shop's deliveries
    (503, the platform retries) and lets the client learn the new map. A node that did not
    know the script gets it and runs those calls (with their WAIT) once more."""
    calls = [_append_call(group) for group in groups]
    replies: list[Any] = [None] * len(calls)
    acks = [0] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        if isinstance(redis, RedisCluster):
            done = await _cluster_round(redis, [calls[n] for n in todo], wanted)
        else:
            done = await _single_round(redis, [calls[n] for n in todo], wanted)
        for n, (reply, acked) in zip(todo, done, strict=True):
            replies[n], acks[n] = reply, acked
        todo = [n for n in todo if missing(replies[n])]
        if not todo or attempt == 1:
            break
        await _APPEND.load(redis)
    return replies, acks


def _evalsha(call: Call) -> tuple[Any, ...]:
    script_keys, argv = call
    return ("EVALSHA", _APPEND.sha, len(script_keys), *script_keys, *argv)


async def _single_round(redis: aioredis.Redis, calls: list[Call], wanted: Replication
                        ) -> list[tuple[Any, int]]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            pipe.execute_command(*_evalsha(call))
        pipe.execute_command("WAIT", wanted.replicas, wanted.timeout_ms)
        *replies, acked = await pipe.execute(raise_on_error=False)
    count = acked if isinstance(acked, int) else 0
    return [(reply, count) for reply in replies]


async def _cluster_round(redis: RedisCluster, calls: list[Call], wanted: Replication
                         ) -> list[tuple[Any, int]]:
    by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
    try:
        await redis.initialize()  # at once unless a failure made the client forget the map
        for n, (script_keys, _argv) in enumerate(calls):
            node = redis.get_node_from_key(script_keys[0])
            if node is None:
                raise ClusterError(f"no Redis node holds {script_keys[0]!r}")
            by_node.setdefault(node.name, (node, []))[1].append(n)
    except RedisClusterException as error:  # no node holds a slot (mid-failover): 503
        raise ClusterError(f"the Redis Cluster's map is not known: {error}") from error
    done: list[tuple[Any, int]] = [(None, 0)] * len(calls)
    rounds = [_node_round(node, [calls[n] for n in numbers], wanted)
              for node, numbers in by_node.values()]
    for (_node, numbers), result in zip(by_node.values(), await asyncio.gather(*rounds),
                                        strict=True):
        for n, answer in zip(numbers, result, strict=True):
            done[n] = answer
    refused = [calls[n][0][0] for n, (reply, _acked) in enumerate(done)
               if isinstance(reply, RedisError) and not missing(reply)]
    if refused and not _relearning:
        task = asyncio.create_task(_relearn(redis, refused[0]))
        _relearning.add(task)
        task.add_done_callback(_relearning.discard)
    return done


_relearning: set[asyncio.Task[None]] = set()


async def _relearn(redis: RedisCluster, key: str) -> None:
    """After a node refused a call (MOVED, a broken connection): one keyed command through the
    client, which follows MOVED or learns the cluster's map anew (in the background: the
    refused deliveries are answered 503 meanwhile, and their retries find the new master)."""
    with contextlib.suppress(RedisError, RedisClusterException):
        await redis.exists(key)


async def _node_round(node: ClusterNode, calls: list[Call], wanted: Replication
                      ) -> list[tuple[Any, int]]:
    commands = [PipelineCommand(n, *_evalsha(call)) for n, call in enumerate(calls)]
    commands.append(PipelineCommand(len(calls), "WAIT", wanted.replicas, wanted.timeout_ms))
    try:
        await node.execute_pipeline(commands)
    except RedisError as error:  # the connection could not be made or written to
        return [(error, 0)] * len(calls)
    except Exception as error:  # redis-py closed the connection under the call
        # (its cluster client closes every connection, those in use too, when a failover makes
        # it learn the map anew): the appends may or may not have run, like a broken connection
        failed = RedisConnectionError(f"the connection was closed during the call: {error!r}")
        return [(failed, 0)] * len(calls)
    acked = commands[-1].result
    count = acked if isinstance(acked, int) else 0
    return [(command.result, count) for command in commands[:-1]]


_group_commits: weakref.WeakKeyDictionary[aioredis.Redis, GroupCommit] = \
    weakref.WeakKeyDictionary()


def _group_commit(redis: aioredis.Redis) -> GroupCommit:
    """The group commit of this client (a client lives in one event loop)."""
    group = _group_commits.get(redis)
    if group is None:
        group = _group_commits[redis] = GroupCommit(redis)
    return group
