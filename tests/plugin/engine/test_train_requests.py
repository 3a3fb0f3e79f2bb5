"""Training asked of a web process and done by a worker (plugin.engine.train_requests)."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from plugin.engine.train_requests import (
    REPLY_SECONDS,
    TrainRequests,
    ask_worker,
    worker_answer,
    worker_is_alive,
)
from plugin.engine.training import NothingToTrain
from plugin.store import keys
from plugin.store.models import current_model_info
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import order_payload
from webhooks import shopify


async def fill(redis: aioredis.Redis, shop_id: str) -> None:
    for n in range(12):
        payload = order_payload(7000 + n, 300 + n % 4, [1 + n % 3, 4 + n % 2])
        await store_order(redis, shop_id, shopify.parse_order(payload))


def test_a_worker_drains_trains_and_answers_the_request(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    drained: list[str] = []

    async def drain(asked: str) -> None:
        drained.append(asked)

    async def work(redis: aioredis.Redis) -> tuple[str, str | None]:
        await fill(redis, shop_id)
        worker = TrainRequests(redis, drain, tuning_seconds=0)
        await worker.handle({"id": "r1", "shop_id": shop_id, "retune": False})
        info = await worker_answer(redis, shop_id, "r1", timeout=5)
        current = await current_model_info(redis, shop_id)
        return info.version, current.version if current else None

    version, serving = store.run(work)
    assert drained == [shop_id] and version == serving


def test_nothing_to_train_and_no_answer_reach_the_caller(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id

    async def nothing(asked: str) -> None:
        return None

    async def work(redis: aioredis.Redis) -> None:
        await TrainRequests(redis, nothing, 0).handle({"id": "r2", "shop_id": shop_id})
        with pytest.raises(NothingToTrain, match="no orders to learn from"):
            await worker_answer(redis, shop_id, "r2", timeout=5)
        with pytest.raises(TimeoutError, match="did not finish"):
            await worker_answer(redis, shop_id, "never-asked", timeout=0.3)
        assert await redis.ttl(keys.train_reply(shop_id, "r2")) == -2  # collected, gone

    store.run(work)


def test_a_running_worker_takes_requests_skips_garbage_and_signs_off(
        store: Store, shop: NewShop) -> None:
    """Whichever worker takes the request (the test session's server runs one too), the
    caller gets the model; this worker's sign of life goes when it stops."""
    shop_id = shop.shop.shop_id

    async def nothing(asked: str) -> None:
        return None

    async def work(redis: aioredis.Redis) -> tuple[str, str | None, bool]:
        await fill(redis, shop_id)
        stop = asyncio.Event()
        running = asyncio.create_task(TrainRequests(redis, nothing, 0).run(stop))
        await redis.rpush(keys.TRAIN_REQUESTS, "not json", json.dumps({"no": "shop"}))
        assert await _eventually_alive(redis)
        request_id = await ask_worker(redis, shop_id, retune=False)
        info = await worker_answer(redis, shop_id, request_id, timeout=60)
        stop.set()
        await asyncio.wait_for(running, 10)
        current = await current_model_info(redis, shop_id)
        return info.version, current.version if current else None, running.done()

    version, serving, stopped = store.run(work)
    assert version == serving and stopped


async def _eventually_alive(redis: aioredis.Redis) -> bool:
    for _ in range(50):
        if await worker_is_alive(redis):
            return True
        await asyncio.sleep(0.05)
    return False


def test_a_training_that_fails_is_answered_and_the_answer_expires_uncollected(
        store: Store, shop: NewShop, caplog: pytest.LogCaptureFixture) -> None:
    shop_id = shop.shop.shop_id

    async def broken(asked: str) -> None:
        raise RuntimeError("the drain broke")

    async def work(redis: aioredis.Redis) -> int:
        worker = TrainRequests(redis, broken, 0)
        await worker.handle({"id": "r3", "shop_id": shop_id})
        await worker.handle({"id": "r4", "shop_id": shop_id})
        ttl = await redis.ttl(keys.train_reply(shop_id, "r4"))  # nobody waits for this one
        with pytest.raises(TimeoutError, match=f"training shop '{shop_id}' failed"):
            await worker_answer(redis, shop_id, "r3", timeout=5)
        return int(ttl)

    with caplog.at_level("ERROR", logger="plugin.engine.train_requests"):
        ttl = store.run(work)
    assert REPLY_SECONDS - 60 < ttl <= REPLY_SECONDS
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 2 and str(failures[0].exc_info[1]) == "the drain broke"
