"""Reading many shops' streams (plugin.store.slots): one XREADGROUP on one Redis, one per hash
slot on a Redis Cluster, with the same answer."""

from __future__ import annotations

import uuid
from typing import Any

from redis.crc import key_slot

from plugin.store import keys
from plugin.store.slots import by_slot, is_cluster, queue_xread, read_group
from tests.conftest import ClusterStore, Store


def test_streams_are_grouped_by_their_hash_slot() -> None:
    streams = {keys.events("a"): ">", keys.events("b"): ">", keys.dead_letters("a"): "0"}
    groups = by_slot(streams)
    assert sorted(len(g) for g in groups) == [1, 2]
    for group in groups:
        assert len({key_slot(k.encode()) for k in group}) == 1


def read_all(store: Store, count: int) -> tuple[bool, dict[str, int]]:
    shop_ids = ["s-" + uuid.uuid4().hex[:10] for _ in range(count)]

    async def work(r: Any) -> tuple[bool, dict[str, int]]:
        for n, shop_id in enumerate(shop_ids):
            await r.xgroup_create(keys.events(shop_id), "g", id="0", mkstream=True)
            for _ in range(n + 1):
                await r.xadd(keys.events(shop_id), {"x": "1"})
        streams = {keys.events(s): ">" for s in shop_ids}
        reply = await read_group(r, "g", "c", streams, 100, 50)
        again = await read_group(r, "g", "c", streams, 100, 50)  # nothing new: waits, empty
        assert not again
        for shop_id in shop_ids:
            await r.delete(keys.events(shop_id))
        return is_cluster(r), {stream.decode(): len(entries) for stream, entries in reply}

    return store.run(work)


def test_one_redis_reads_every_shops_stream_in_one_command(store: Store) -> None:
    clustered, read = read_all(store, 4)
    assert not clustered and sorted(read.values()) == [1, 2, 3, 4]


def test_a_cluster_reads_every_shops_stream_wherever_its_slot_lives(
        cluster_store: ClusterStore) -> None:
    clustered, read = read_all(cluster_store, 6)
    assert clustered and sorted(read.values()) == [1, 2, 3, 4, 5, 6]


def test_change_notes_are_read_alike_from_one_redis_and_a_cluster(
        store: Store, cluster_store: ClusterStore) -> None:
    shop_id = "s-" + uuid.uuid4().hex[:10]

    async def work(r: Any) -> list[Any]:
        await r.xadd(keys.changes(shop_id), {"kind": "order", "id": "1"})
        async with r.pipeline(transaction=False) as pipe:
            queue_xread(pipe, {keys.changes(shop_id): "0-0"}, 10)
            pipe.exists(keys.changes(shop_id))
            notes, exists = await pipe.execute()
        await r.delete(keys.changes(shop_id))
        assert exists == 1
        return [(stream, [fields for _id, fields in entries]) for stream, entries in notes]

    expected = [(keys.changes(shop_id).encode(), [{b"kind": b"order", b"id": b"1"}])]
    assert store.run(work) == expected and cluster_store.run(work) == expected
