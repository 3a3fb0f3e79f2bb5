"""The widget rate limit (widgets/ratelimit.py): exact within one process, shared with every
other process through Redis at each sync, per shop and client in fixed one-minute windows; then
over real HTTP against a server of its own with a limit of 3 a minute."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugin.store import keys
from tests.conftest import LiveServer, Store, settings_for
from tests.widgets.conftest import PATH
from widgets.ratelimit import WidgetRateLimit

WINDOW = keys.WIDGET_RATE_WINDOW_SECONDS
START = 1_750_000_020.0 - 1_750_000_020.0 % WINDOW  # the start of a window


def run_with(store: Store, work: Any) -> Any:
    """`work(redis, shop_id)` on a shop id of its own."""
    shop_id = "rl-" + uuid.uuid4().hex[:12]
    return store.run(lambda redis: work(redis, shop_id))


def test_one_process_allows_exactly_the_limit_per_window(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[int | None]:
        limit = WidgetRateLimit(redis, per_minute=3)
        return [limit.retry_after(shop_id, "1.2.3.4", START + 10 + n) for n in range(5)] + [
            limit.retry_after(shop_id, "1.2.3.4", START + WINDOW)]

    # refused until the window ends (50 s after the 4th, 49 after the 5th, one more to be
    # safe); the next window starts afresh
    assert run_with(store, work) == [None, None, None, 48, 47, None]


def test_each_shop_and_client_has_a_limit_of_its_own(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[int | None]:
        limit = WidgetRateLimit(redis, per_minute=1)
        return [limit.retry_after(shop_id, "a", START), limit.retry_after(shop_id, "b", START),
                limit.retry_after(shop_id + "-other", "a", START),
                limit.retry_after(shop_id, "a", START) is not None]

    assert run_with(store, work) == [None, None, None, True]


def test_a_sync_shares_every_processes_count(store) -> None:
    async def work(redis: Any, shop_id: str) -> tuple[list[bool], list[bool], bytes, int]:
        one, two = (WidgetRateLimit(redis, per_minute=3) for _ in range(2))
        first = [one.retry_after(shop_id, "c", START) is None for _ in range(2)]
        await one.sync(START)
        # two has not synced: it sees only its own count, then the total of both
        second = [two.retry_after(shop_id, "c", START) is None for _ in range(2)]
        await two.sync(START)
        await one.sync(START)
        stored = await redis.get(keys.widget_rate(shop_id, "c", int(START // WINDOW)))
        ttl = await redis.ttl(keys.widget_rate(shop_id, "c", int(START // WINDOW)))
        return first + second, [two.retry_after(shop_id, "c", START) is None,
                                one.retry_after(shop_id, "c", START) is None], stored, ttl

    allowed, after_sync, stored, ttl = run_with(store, work)
    assert allowed == [True, True, True, True]  # 4 of 3: at most one sync late, per process
    assert after_sync == [False, False] and stored == b"4"
    assert 0 < ttl <= WINDOW + 1


def test_a_past_windows_last_requests_still_count_there(store) -> None:
    async def work(redis: Any, shop_id: str) -> tuple[bytes | None, bytes | None]:
        limit = WidgetRateLimit(redis, per_minute=10)
        limit.retry_after(shop_id, "c", START)
        limit.retry_after(shop_id, "c", START + 1)
        limit.retry_after(shop_id, "c", START + WINDOW)
        await limit.sync(START + WINDOW + 1)  # the first window is over by then
        window = int(START // WINDOW)
        return (await redis.get(keys.widget_rate(shop_id, "c", window)),
                await redis.get(keys.widget_rate(shop_id, "c", window + 1)))

    assert run_with(store, work) == (b"2", b"1")


def test_run_syncs_once_more_when_stopped(store) -> None:
    async def work(redis: Any, shop_id: str) -> list[bytes]:
        limit = WidgetRateLimit(redis, per_minute=10, sync_seconds=60)
        stop = asyncio.Event()
        running = asyncio.create_task(limit.run(stop))
        await asyncio.sleep(0)  # waiting for its first sync, a minute away
        limit.retry_after(shop_id, "c")
        stop.set()
        await asyncio.wait_for(running, 5)
        pattern = keys.shop_pattern(shop_id).replace(":*", ":widget:rate:*")
        found = [k async for k in redis.scan_iter(match=pattern)]
        return [await redis.get(key) for key in found]

    assert run_with(store, work) == [b"1"]


# ---- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
def strict_server(store) -> Iterator[str]:
    with LiveServer(settings_for(store, widget_rate_per_minute=3, run_worker=False)) as url:
        yield url


def test_requests_over_the_limit_get_429_with_retry_after(strict_server, shop) -> None:
    params = {"key": shop.shop.widget_key, "placement": "trending"}
    with httpx.Client(base_url=strict_server, timeout=30) as client:
        # 7 requests over 3 per window: even across a minute boundary one window gets 4
        answers = [client.get(PATH, params=params) for _ in range(7)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = next(a for a in answers if a.status_code != 200)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 61


def test_rate_limit_is_per_widget_key(strict_server, make_shop) -> None:
    busy, quiet = make_shop(), make_shop()
    with httpx.Client(base_url=strict_server, timeout=30) as client:
        for _ in range(7):
            client.get(PATH, params={"key": busy.shop.widget_key, "placement": "trending"})
        other = client.get(PATH, params={"key": quiet.shop.widget_key, "placement": "trending"})
    assert other.status_code == 200


def test_a_refused_request_may_still_be_read_by_the_shops_pages(strict_server, shop) -> None:
    origin = f"https://{shop.shop.domain}"
    with httpx.Client(base_url=strict_server, timeout=30) as client:
        answers = [client.get(PATH, headers={"Origin": origin}, params={
            "key": shop.shop.widget_key, "placement": "trending"}) for _ in range(7)]
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["access-control-allow-origin"] == origin
    assert limited.headers["vary"] == "Origin"
