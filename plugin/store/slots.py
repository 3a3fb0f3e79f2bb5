"""Reading many shops' streams on one Redis or on a Redis Cluster.

On one Redis a single blocking XREADGROUP names every shop's stream. On a cluster one command
may name keys of one hash slot only, so the streams are grouped by slot and each group is read
without blocking, all groups in one pipeline (one round trip per node); when nothing was new
the caller waits POLL_SECONDS (at most its block time) before asking again.

A cluster client cannot tell by itself which keys an XREAD or XREADGROUP names (it would ask a
node with COMMAND GETKEYS first: one more round trip per command), so these are sent to the
node serving their slot, computed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.crc import key_slot

POLL_SECONDS = 0.1


def is_cluster(redis: aioredis.Redis) -> bool:
    """True for a client of a Redis Cluster (plugin.store.connection.open_cluster)."""
    return isinstance(redis, RedisCluster)


def by_slot(streams: Mapping[Any, Any]) -> list[dict[Any, Any]]:
    """`streams` (key -> id) split into groups whose keys share a hash slot, in key order."""
    groups: dict[int, dict[Any, Any]] = {}
    for key, position in streams.items():
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        groups.setdefault(slot, {})[key] = position
    return list(groups.values())


async def read_group(redis: aioredis.Redis, group: str, consumer: str,
                     streams: Mapping[Any, Any], count: int, block_ms: int | None) -> Any:
    """XREADGROUP over `streams`, as one command would answer: a list of (stream, entries)
    (empty, or None, when nothing was new)."""
    if not is_cluster(redis):
        return await redis.xreadgroup(group, consumer, dict(streams), count=count,
                                      block=block_ms)
    async with redis.pipeline(transaction=False) as pipe:
        for part in by_slot(streams):
            _queue_on_node(pipe, ["XREADGROUP", "GROUP", group, consumer, "COUNT", count],
                           part)
        replies = await pipe.execute()
    found = [item for reply in replies for item in reply or []]
    if not found and block_ms:
        await asyncio.sleep(min(POLL_SECONDS, block_ms / 1000))
    return found


def queue_xread(pipe: Any, streams: Mapping[Any, Any], count: int) -> None:
    """Queue XREAD of `streams` (one slot's keys) in `pipe`, a pipeline of either client."""
    if isinstance(pipe, ClusterPipeline):
        _queue_on_node(pipe, ["XREAD", "COUNT", count], streams)
    else:
        pipe.xread(dict(streams), count=count)


def _queue_on_node(pipe: Any, command: list[Any], streams: Mapping[Any, Any]
                   ) -> None:
    first = next(iter(streams))
    slot = key_slot(first.encode() if isinstance(first, str) else first)
    node = pipe.cluster_client.nodes_manager.get_node_from_slot(slot)
    pipe.execute_command(*command, "STREAMS", *streams.keys(), *streams.values(),
                         target_nodes=node)
