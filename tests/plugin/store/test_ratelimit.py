"""Fixed-window rate limits shared through Redis (plugin/store/ratelimit.py), on the real
embedded Redis: what a request is told (allowed, remaining, the window's end), a limit that
changes between calls, two instances on one Redis as two processes (exact once both synced,
at most one sync late before), one round trip per sync, a counter without new requests only
read. The widget limit built on it: tests/widgets/test_ratelimit.py; the API keys':
tests/plugin/web/test_auth_rate_limit.py."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from plugin.store import keys
from plugin.store.ratelimit import Verdict, WindowLimit
from tests.conftest import Store

WINDOW = 60
START = 1_750_000_020.0 - 1_750_000_020.0 % WINDOW  # the start of a window


def limiter(redis: Any, **options: Any) -> WindowLimit:
    return WindowLimit(redis, keys.api_rate, WINDOW, "test", **options)


def run_with(store: Store, work: Any) -> Any:
    """`work(redis, shop_id)` on a shop id of its own."""
    shop_id = "wl-" + uuid.uuid4().hex[:12]
    return store.run(lambda redis: work(redis, shop_id))


def test_a_verdict_tells_what_is_left_and_when_the_window_ends(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[Verdict]:
        limit = limiter(redis)
        return [limit.take(shop_id, "k", 3, START + 10.5 + n) for n in range(4)]

    verdicts = run_with(store, work)
    assert [(v.allowed, v.remaining) for v in verdicts] == [
        (True, 2), (True, 1), (True, 0), (False, 0)]
    assert [v.ends_in for v in verdicts] == [49.5, 48.5, 47.5, 46.5]
    assert [v.reset for v in verdicts] == [50, 49, 48, 47]  # whole seconds, rounded up
    assert isinstance(verdicts[0], Verdict)


def test_count_says_how_many_so_far_and_when_the_window_ends(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[tuple[int, float]]:
        limit = limiter(redis)
        return [limit.count(shop_id, "k", START + 59.999), limit.count(shop_id, "k", START),
                limit.count(shop_id, "k", START + WINDOW)]

    (first, late), second, next_window = run_with(store, work)
    assert first == 1 and 0 < late < 0.01  # reset: 1 s, never 0
    assert second == (2, 60.0) and next_window == (1, 60.0)


def test_reset_is_at_least_one_second_and_at_most_the_window(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[int]:
        limit = limiter(redis)
        return [limit.take(shop_id, "k", 5, START + offset).reset
                for offset in (0, 0.5, 59.999)]

    assert run_with(store, work) == [60, 60, 1]


def test_the_next_window_starts_afresh(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[bool]:
        limit = limiter(redis)
        return [limit.take(shop_id, "k", 1, START + n).allowed for n in (0, 59.9)] + [
            limit.take(shop_id, "k", 1, START + WINDOW).allowed]

    assert run_with(store, work) == [True, False, True]


def test_the_limit_is_given_per_call_so_a_change_applies_to_the_next_one(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[tuple[bool, int]]:
        limit = limiter(redis)
        taken = [limit.take(shop_id, "k", 5, START) for _ in range(3)]
        taken += [limit.take(shop_id, "k", 2, START), limit.take(shop_id, "k", 10, START)]
        return [(v.allowed, v.remaining) for v in taken]

    # lowered to 2 after 3 calls: refused; raised to 10: allowed again, 5 counted by then
    assert run_with(store, work) == [(True, 4), (True, 3), (True, 2), (False, 0), (True, 5)]


def test_each_shop_and_caller_has_a_budget_of_its_own(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[bool]:
        limit = limiter(redis)
        return [limit.take(shop_id, "a", 1, START).allowed,
                limit.take(shop_id, "b", 1, START).allowed,
                limit.take(shop_id + "-x", "a", 1, START).allowed,
                limit.take(shop_id, "a", 1, START).allowed]

    assert run_with(store, work) == [True, True, True, False]


def test_two_processes_share_one_budget_once_both_synced(store) -> None:
    async def work(redis: Any, shop_id: str) -> dict[str, Any]:
        one, two = limiter(redis), limiter(redis)
        first = [one.take(shop_id, "k", 5, START + 1).remaining for _ in range(3)]
        await one.sync(START + 1)
        await two.sync(START + 1)  # nothing of its own yet: it learns nothing of one's
        before = two.take(shop_id, "k", 5, START + 2)  # not synced since: it sees only its own
        await two.sync(START + 2)
        after = [two.take(shop_id, "k", 5, START + 3) for _ in range(2)]
        await two.sync(START + 3)
        await one.sync(START + 3)
        late = one.take(shop_id, "k", 5, START + 4)
        stored = await redis.get(keys.api_rate(shop_id, "k", int(START // WINDOW)))
        ttl = await redis.ttl(keys.api_rate(shop_id, "k", int(START // WINDOW)))
        return {"first": first, "before": before.remaining, "after": [
            (v.allowed, v.remaining) for v in after], "late": late.allowed, "stored": stored,
            "ttl": ttl}

    seen = run_with(store, work)
    assert seen["first"] == [4, 3, 2]
    assert seen["before"] == 4  # one sync late: it did not know of one's 3 calls
    assert seen["after"] == [(True, 0), (False, 0)]  # 3 + 1 + 1 = 5 allowed, the 6th not
    assert seen["late"] is False and seen["stored"] == b"6"
    assert 0 < seen["ttl"] <= WINDOW + 1


def test_a_sync_is_one_round_trip_for_every_counter(store) -> None:
    async def work(redis: Any, shop_id: str) -> tuple[int, int]:
        limit = limiter(redis)
        for caller in ("a", "b", "c"):
            limit.take(shop_id, caller, 10, START)
        sent = []
        original = redis.pipeline

        def counted(*args: Any, **kwargs: Any) -> Any:
            sent.append(1)
            return original(*args, **kwargs)

        redis.pipeline = counted
        await limit.sync(START)
        counted_c = await redis.get(keys.api_rate(shop_id, "c", int(START // WINDOW)))
        return len(sent), int(counted_c)

    assert run_with(store, work) == (1, 1)


def test_a_counter_without_new_calls_is_only_read(store) -> None:
    """A shop erased (its keys deleted) is not brought back by a process that still counts
    for it: without new calls the counter is read, not incremented."""
    async def work(redis: Any, shop_id: str) -> tuple[int, bool, int]:
        limit = limiter(redis)
        limit.take(shop_id, "k", 10, START)
        await limit.sync(START)
        key = keys.api_rate(shop_id, "k", int(START // WINDOW))
        await redis.delete(key)
        await limit.sync(START)
        exists = await redis.exists(key)
        return exists, limit.take(shop_id, "k", 10, START).allowed, \
            limit.take(shop_id, "k", 10, START).remaining

    assert run_with(store, work) == (0, True, 8)  # the count read back is 0: a new budget


def test_with_an_owner_an_erased_shops_counter_is_not_brought_back(store) -> None:
    """A call counted just before the shop was erased, synced just after: not added."""
    async def work(redis: Any, shop_id: str) -> tuple[Any, ...]:
        limit = limiter(redis, owner=keys.shop_config)
        key = keys.api_rate(shop_id, "k", int(START // WINDOW))
        await redis.hset(keys.shop_config(shop_id), "platform", "custom")
        limit.take(shop_id, "k", 10, START)
        await limit.sync(START)
        kept = await redis.get(key)
        await redis.delete(keys.shop_config(shop_id), key)  # the shop is erased
        limit.take(shop_id, "k", 10, START)
        await limit.sync(START)
        return kept, await redis.exists(key), limit.take(shop_id, "k", 10, START).remaining

    # the count starts afresh from Redis's (none): the next call leaves 9
    assert run_with(store, work) == (b"1", 0, 9)


def test_a_past_windows_last_calls_still_count_there(store) -> None:
    async def work(redis: Any, shop_id: str) -> tuple[Any, ...]:
        limit = limiter(redis)
        limit.take(shop_id, "k", 10, START)
        limit.take(shop_id, "k", 10, START + 1)
        limit.take(shop_id, "k", 10, START + WINDOW)
        await limit.sync(START + WINDOW + 1)
        window = int(START // WINDOW)
        past = keys.api_rate(shop_id, "k", window)
        return (await redis.get(past), await redis.get(keys.api_rate(shop_id, "k", window + 1)),
                0 < await redis.ttl(past) <= WINDOW + 1)

    assert run_with(store, work) == (b"2", b"1", True)  # the past one expires too


def test_run_syncs_until_stopped_and_once_more_and_survives_a_failed_sync(
        store, caplog: pytest.LogCaptureFixture) -> None:
    async def work(redis: Any, shop_id: str) -> bytes | None:
        limit = limiter(redis, sync_seconds=0.01)
        failing = True
        original = limit.sync

        async def sync(now: float | None = None) -> None:
            nonlocal failing
            if failing:
                failing = False
                raise RedisConnectionError("gone")
            await original(now)

        limit.sync = sync  # type: ignore[method-assign]
        stop = asyncio.Event()
        running = asyncio.create_task(limit.run(stop))
        limit.take(shop_id, "k", 10)
        await asyncio.sleep(0.1)
        limit.take(shop_id, "k", 10)
        stop.set()
        await asyncio.wait_for(running, 5)
        found = [k async for k in redis.scan_iter(
            match=keys.shop_pattern(shop_id).replace(":*", ":api:rate:*"))]
        return b"+".join([await redis.get(key) for key in found])

    with caplog.at_level(logging.WARNING, logger="plugin.store.ratelimit"):
        stored = run_with(store, work)
    # both calls reached Redis, however the window fell (one counter, or one in each)
    assert stored in (b"2", b"1+1")
    assert "test rate limit sync failed: ConnectionError" in caplog.text


def test_calls_counted_while_the_last_sync_runs_reach_redis_too(store) -> None:
    async def work(redis: Any, shop_id: str) -> bytes | None:
        limit = limiter(redis, sync_seconds=0.01)
        stop = asyncio.Event()
        original = limit.sync
        syncing = asyncio.Event()

        async def sync(now: float | None = None) -> None:
            if not syncing.is_set():  # the first sync: a call and the stop arrive meanwhile
                syncing.set()
                await asyncio.sleep(0.05)
            await original(now)

        limit.sync = sync  # type: ignore[method-assign]
        running = asyncio.create_task(limit.run(stop))
        await syncing.wait()
        limit.take(shop_id, "k", 10, START)
        stop.set()
        await asyncio.wait_for(running, 5)
        return await redis.get(keys.api_rate(shop_id, "k", int(START // WINDOW)))

    assert run_with(store, work) == b"1"
