"""The receiver's durable append (plugin.store.events.append) under concurrency: appends made at
the same time share one round trip to Redis (a group commit), and each keeps the meaning it
has alone: dedupe, the shop's counters, None for a duplicate, a RedisError for its caller."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from plugin.store import events, keys
from plugin.store.connection import text
from plugin.store.events import (
    Event,
    NotReplicated,
    Replication,
    append,
    fallback_delivery_id,
    packed_fields,
)
from tests.conftest import Store
from tests.helpers import body_of, order_payload
from webhooks import shopify
from webhooks.ingest import GROUP, Ingestor, ensure_group

CONCURRENT = 40


async def add_read_by(redis: aioredis.Redis, shop_id: str, consumer: str,
                      events: list[Event]) -> None:
    """Append the events and read them as `consumer`, in one step (as
    tests/webhooks/test_ingest_claims.py does)."""
    await ensure_group(redis, shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        for item in events:
            fields: dict[Any, Any] = item.fields()
            pipe.xadd(keys.events(shop_id), fields)
        pipe.xreadgroup(GROUP, consumer, {keys.events(shop_id): ">"}, count=len(events))
        await pipe.execute()


def delivery(n: int, delivery_id: str | None = None) -> Event:
    return Event(shopify.PLATFORM, "orders/create", delivery_id or uuid.uuid4().hex,
                 body_of(order_payload(3000 + n, 5, [1, 2])))


def counting_round_trips(redis: aioredis.Redis) -> list[int]:
    """Count the round trips the client makes from now on: pipelines it opens and commands
    sent on their own (the group commit sends one per batch: a pipeline when several shops
    wait, else one EVALSHA)."""
    sent: list[int] = []
    pipeline, execute_command = redis.pipeline, redis.execute_command

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        sent.append(1)
        return pipeline(*args, **kwargs)

    async def counted_command(*args: Any, **kwargs: Any) -> Any:
        sent.append(1)
        return await execute_command(*args, **kwargs)

    redis.pipeline = counted_pipeline  # type: ignore[method-assign]
    redis.execute_command = counted_command  # type: ignore[method-assign]
    return sent


def test_concurrent_appends_share_one_round_trip(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[list[str | None], int, int]:
        await append(redis, shop_id, delivery(-1))  # the script is loaded
        sent = counting_round_trips(redis)
        ids = await asyncio.gather(*(append(redis, shop_id, delivery(n))
                                     for n in range(CONCURRENT)))
        return ids, len(sent), await redis.xlen(keys.events(shop_id))

    ids, round_trips, length = store.run(work)
    assert round_trips == 1
    assert len(set(ids)) == CONCURRENT and None not in ids
    assert length == CONCURRENT + 1


def test_a_batch_of_events_with_and_without_an_order_keeps_each_ones_fields(
    store: Store, make_shop: Any
) -> None:
    shop_id = make_shop().shop.shop_id
    product = Event(shopify.PLATFORM, "products/update", "p-1", b'{"id": 1}')
    ordered = Event(shopify.PLATFORM, "orders/create", "o-1", b"{}", order=b'{"order_id":"9"}')
    sent = [product, ordered, product._replace(delivery_id="p-2")]

    async def work(redis: aioredis.Redis) -> list[Any]:
        await asyncio.gather(*(append(redis, shop_id, event) for event in sent))
        return list(await redis.xrange(keys.events(shop_id)))

    stored = [Event.from_fields(fields) for _id, fields in store.run(work)]
    assert [(e.delivery_id, e.topic, e.body, e.order) for e in stored] == [
        ("p-1", "products/update", b'{"id": 1}', b""),
        ("o-1", "orders/create", b"{}", b'{"order_id":"9"}'),
        ("p-2", "products/update", b'{"id": 1}', b"")]


def test_any_bytes_of_any_field_come_back_exactly(store: Store, make_shop: Any) -> None:
    """The fields travel packed into one argument ("<length>:<bytes>" each): colons, digits,
    NULs, bytes that are not UTF-8, empty and long values and non-ASCII text all survive."""
    shop_id = make_shop().shop.shop_id
    odd = Event(shopify.PLATFORM, "orders/create", "dé:1", b"12:34:\x00\xff\xfe:" * 5000,
                triggered_at="", api_version="2025-01 ü", order=b"7:")
    plain = Event(shopify.PLATFORM, "orders/create", "2:", b"")

    async def work(redis: aioredis.Redis) -> list[Any]:
        await asyncio.gather(*(append(redis, shop_id, event) for event in (odd, plain)))
        return list(await redis.xrange(keys.events(shop_id)))

    stored = [Event.from_fields(fields) for _id, fields in store.run(work)]
    assert stored == [odd, plain]


def test_a_duplicate_in_the_same_batch_is_answered_none_and_counted(
    store: Store, make_shop: Any
) -> None:
    shop_id = make_shop().shop.shop_id
    same = delivery(1, "the-same-webhook-id")

    async def work(redis: aioredis.Redis) -> tuple[list[str | None], dict[bytes, bytes], int]:
        ids = await asyncio.gather(*(append(redis, shop_id, same) for _ in range(5)),
                                   append(redis, shop_id, delivery(2)))
        return ids, await redis.hgetall(keys.stats(shop_id)), await redis.xlen(
            keys.events(shop_id))

    ids, stats, length = store.run(work)
    assert ids[0] is not None and ids[1:5] == [None] * 4 and ids[5] is not None
    assert (stats[b"accepted"], stats[b"duplicates"], length) == (b"2", b"4", 2)


def test_every_waiting_append_gets_the_redis_error(store: Store) -> None:
    async def work() -> list[BaseException | str | None]:
        gone = aioredis.Redis(unix_socket_path=str(store.settings.data_dir / "no-such.sock"))
        try:
            return await asyncio.gather(*(append(gone, "down", delivery(n)) for n in range(5)),
                                        return_exceptions=True)
        finally:
            await gone.aclose()

    outcomes = asyncio.run(work())
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes


def test_appends_and_a_batch_of_orders_survive_a_script_flush(
    store: Store, make_shop: Any
) -> None:
    """A restarted Redis knows no scripts: they are loaded again, and nothing runs twice.
    (The reader takes the first three entries, the appended ones, and they are claimed; the
    session's live server may ingest the three after them meanwhile: each stored order
    counts once either way.)"""
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[bool, set[str], bytes | None]:
        await redis.script_flush()
        ids = await asyncio.gather(*(append(redis, shop_id, delivery(n)) for n in range(3)))
        await add_read_by(redis, shop_id, "reader", [delivery(10 + n) for n in range(3)])
        await redis.script_flush()
        await Ingestor(redis, consumer="after-flush").claim_stale(shop_id, 0)
        return (None not in ids, {text(k) for k in await redis.hkeys(keys.orders(shop_id))},
                await redis.hget(keys.stats(shop_id), "order_changes"))

    appended, stored, changes = store.run(work)
    assert appended and {"3000", "3001", "3002"} <= stored
    assert stored <= {"3000", "3001", "3002", "3010", "3011", "3012"}
    assert changes == str(len(stored)).encode()  # no order stored twice


def test_a_failed_round_trip_leaves_the_next_one_working(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[list[Any], str | None]:
        execute_command = redis.execute_command  # one shop's batch: one EVALSHA

        async def broken_once(*args: Any, **kwargs: Any) -> Any:
            redis.execute_command = execute_command  # type: ignore[method-assign]
            raise RedisConnectionError("the connection dropped")

        redis.execute_command = broken_once  # type: ignore[method-assign]
        failed = await asyncio.gather(*(append(redis, shop_id, delivery(n)) for n in range(3)),
                                      return_exceptions=True)
        return failed, await append(redis, shop_id, delivery(9))

    failed, then = store.run(work)
    assert all(isinstance(outcome, RedisConnectionError) for outcome in failed), failed
    assert then is not None


# ---- one delivery: its fields, its id, its marker ----------------------------------------------


def test_an_event_read_back_from_its_stream_fields_is_the_event() -> None:
    with_order = Event(shopify.PLATFORM, "orders/create", "d-1", b'{"id": 1}',
                       triggered_at="2025-03-01T10:00:00Z", api_version="2025-01",
                       order=b'{"order_id":"1"}')
    without = Event(shopify.PLATFORM, "products/update", "d-2", b"\xff not utf-8")
    for event in (with_order, without):
        fields = {name.encode(): value if isinstance(value, bytes) else value.encode()
                  for name, value in event.fields().items()}
        assert Event.from_fields(fields) == event
    assert "order" not in without.fields()
    assert float(without.fields()["received_at"]) > 1.7e9


def test_a_delivery_without_an_id_is_named_by_its_topic_and_body() -> None:
    first = fallback_delivery_id("orders/create", b'{"id": 1}')
    assert first == fallback_delivery_id("orders/create", b'{"id": 1}')
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert first != fallback_delivery_id("orders/updated", b'{"id": 1}')
    assert first != fallback_delivery_id("orders/create", b'{"id": 2}')


def test_a_delivery_is_accepted_once_and_its_marker_lasts_the_dedupe_window(
    store: Store, make_shop: Any
) -> None:
    shop_id = make_shop().shop.shop_id
    event = delivery(1, "once-only")

    async def work(redis: aioredis.Redis) -> tuple[Any, ...]:
        first = await append(redis, shop_id, event)
        again = await append(redis, shop_id, event)
        marker = keys.seen_delivery(shop_id, "once-only")
        return (first, again, await redis.get(marker), await redis.ttl(marker),
                await redis.xlen(keys.events(shop_id)))

    first, again, marker, ttl, length = store.run(work)
    assert first is not None and again is None
    assert marker.decode() == first  # the marker names the stream entry it let in
    assert keys.DEDUPE_TTL_SECONDS - 60 < ttl <= keys.DEDUPE_TTL_SECONDS
    assert length == 1


def test_appends_of_several_shops_at_once_reach_each_shops_own_stream(
    store: Store, make_shop: Any
) -> None:
    """Several shops in one batch: one pipeline, one script call per shop, also after a script
    flush (the calls the server did not know are sent again, once)."""
    shops = [make_shop().shop.shop_id for _ in range(3)]

    async def work(redis: aioredis.Redis) -> tuple[list[Any], list[int], list[int]]:
        await redis.script_flush()
        ids = await asyncio.gather(*(append(redis, shop_id, delivery(n))
                                     for n in range(4) for shop_id in shops))
        lengths = [await redis.xlen(keys.events(shop_id)) for shop_id in shops]
        accepted = [int(await redis.hget(keys.stats(shop_id), "accepted") or 0)
                    for shop_id in shops]
        return ids, lengths, accepted

    ids, lengths, accepted = store.run(work)
    assert None not in ids
    assert all(len(set(ids[n::3])) == 4 for n in range(3))  # each shop's entries distinct
    assert lengths == [4, 4, 4] and accepted == [4, 4, 4]


# ---- waiting for replicas (Redis WAIT, settings redis_wait_replicas / redis_wait_ms) ---------


def test_without_the_replicas_asked_for_the_append_is_not_replicated_yet_stored_once(
    store: Store, make_shop: Any
) -> None:
    """The embedded Redis has no replica: WAIT 1 answers 0, so every append of the batch is
    refused with NotReplicated (the receiver's 503), yet stored once; the platform's retry is
    then a duplicate, refused the same way until a replica has it, and never counted twice."""
    shop_id = make_shop().shop.shop_id
    wanted = Replication(1, 50)

    async def work(redis: aioredis.Redis) -> tuple[list[Any], Any, dict[bytes, bytes], int]:
        first = await asyncio.gather(*(append(redis, shop_id, delivery(n, f"d-{n}"), wanted)
                                       for n in range(5)), return_exceptions=True)
        retried = await asyncio.gather(append(redis, shop_id, delivery(0, "d-0"), wanted),
                                       return_exceptions=True)
        return (first, retried[0], await redis.hgetall(keys.stats(shop_id)),
                await redis.xlen(keys.events(shop_id)))

    first, retried, stats, length = store.run(work)
    assert all(isinstance(outcome, NotReplicated) and outcome.acknowledged == 0
               for outcome in first), first
    assert "0 of 1 replica(s) acknowledged the append within 50 ms" in str(first[0])
    assert isinstance(retried, NotReplicated)
    assert length == 5 and (stats[b"accepted"], stats[b"duplicates"]) == (b"5", b"1")


def test_zero_replicas_asked_for_is_the_plain_append(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[int, list[str | None]]:
        sent = counting_round_trips(redis)
        ids = [await append(redis, shop_id, delivery(1), Replication(0, 50)),
               await append(redis, shop_id, delivery(2), None)]
        return len(sent), ids

    round_trips, ids = store.run(work)
    assert None not in ids and round_trips == 2  # one EVALSHA each, no pipeline, no WAIT


def test_one_wait_serves_a_batch_of_several_shops_in_one_round_trip(
    store: Store, make_shop: Any
) -> None:
    """The batch's appends and one WAIT on one connection: one pipeline. Only the delivery that
    asked for a replica is refused; the others in the batch are answered with their ids."""
    shops = [make_shop().shop.shop_id for _ in range(3)]

    async def work(redis: aioredis.Redis) -> tuple[int, list[Any]]:
        await append(redis, shops[0], delivery(-1))  # the script is loaded
        sent = counting_round_trips(redis)
        outcomes = await asyncio.gather(*(append(redis, shops[n % 3], delivery(n),
                                                 Replication(1, 20) if n == 0 else None)
                                          for n in range(8)), return_exceptions=True)
        return len(sent), outcomes

    round_trips, outcomes = store.run(work)
    assert round_trips == 1
    assert isinstance(outcomes[0], NotReplicated)
    assert all(isinstance(stream_id, str) for stream_id in outcomes[1:]), outcomes


def test_a_node_without_the_script_gets_it_and_the_batch_still_waits(
    store: Store, make_shop: Any
) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> tuple[Any, int]:
        await redis.script_flush()
        outcome = await asyncio.gather(append(redis, shop_id, delivery(1), Replication(1, 20)),
                                       return_exceptions=True)
        return outcome[0], await redis.xlen(keys.events(shop_id))

    outcome, length = store.run(work)
    assert isinstance(outcome, NotReplicated) and length == 1


def test_an_event_packs_as_packed_fields_packs_its_fields(monkeypatch) -> None:
    monkeypatch.setattr(events.time, "time", lambda: 1700000000.25)
    for event in (Event("shopify", "orders/create", "d-1", b"\x00{}\xff", "t", "2025-01"),
                  Event("custom", "order.created", "d-2", b"{}", order=b'{"order_id":"1"}'),
                  Event("custom", "order.created", "d-3", b"{}", order='{"title":"caf\u00e9"}')):
        assert event.packed() == packed_fields(event.fields())
