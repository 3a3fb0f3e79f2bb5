"""A process's background work (plugin/worker.py): for the block of `running_workers`, the
shops' events are ingested, a changed shop is retrained, a web process's training request is
answered and the worker's sign of life kept; a loop that ends before the block does is
logged at once; at its end everything stops.

On a store of their own: no other worker takes the events."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin.config import Settings
from plugin.engine.train_requests import ask_worker, worker_answer, worker_is_alive
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.events import Event, append
from plugin.store.shops import add_shop
from plugin.worker import running_workers
from tests.conftest import Store
from tests.helpers import body_of, order_payload
from webhooks.http import PlatformHttp
from webhooks.woocommerce import Reconciler


@pytest.fixture(scope="module")
def fresh() -> Iterator[Store]:
    path = Path(tempfile.mkdtemp(prefix="shopreco-worker-"))
    embedded = EmbeddedRedis(path, fsync_always=False)
    try:
        yield Store(embedded, Settings(
            data_dir=path, fsync_always=False, tuning_seconds=0,
            retrain_debounce_seconds=0, retrain_max_delay_seconds=0))
    finally:
        embedded.close()
        shutil.rmtree(path, ignore_errors=True)


def accepted_orders(store: Store, count: int) -> str:
    """A new shop with `count` orders accepted by the receiver, not processed yet."""
    shop_id = "wk-" + uuid.uuid4().hex[:12]

    async def work(redis: Any) -> None:
        await add_shop(redis, shop_id, "shopify", f"{shop_id}.myshopify.com", "http://x")
        for n in range(count):
            body = body_of(order_payload(n + 1, 100 + n % 4, [1 + n % 3, 4]))
            await append(redis, shop_id, Event("shopify", "orders/create", f"d-{n}", body))

    store.run(work)
    return shop_id


async def until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


def test_events_are_ingested_and_the_shop_retrained_for_the_block(fresh: Store) -> None:
    shop_id = accepted_orders(fresh, 8)

    async def work(redis: Any) -> tuple[bool, bool, str | None]:
        async with running_workers(redis, fresh.settings):
            await until(lambda: _stored(redis, shop_id, 8))  # the ingest loop
            await until(lambda: redis.exists(keys.model_current(shop_id)))  # the auto-trainer
            alive = await worker_is_alive(redis)
            request = await ask_worker(redis, shop_id, retune=True)  # as a web process asks
            answered = await worker_answer(redis, shop_id, request, timeout=30)
        return alive, await worker_is_alive(redis), answered.version

    alive_within, alive_after, version = fresh.run(work)
    assert alive_within and not alive_after  # its sign of life removed as it stops
    serving = fresh.run(lambda r: r.get(keys.model_current(shop_id)))
    assert serving is not None and serving.decode() == version  # the request's training serves
    pending = fresh.run(lambda r: r.xpending(keys.events(shop_id), "ingest"))["pending"]
    assert pending == 0


def test_no_loop_outlives_the_block_and_the_callers_client_stays_open(fresh: Store) -> None:
    async def work(redis: Any) -> tuple[list[str], bool]:
        http = PlatformHttp()
        try:
            async with running_workers(redis, fresh.settings, http):
                names = sorted(t.get_name() for t in asyncio.all_tasks())
                assert [n for n in names if n.startswith("shopreco-")] == [
                    "shopreco-autotrain", "shopreco-ingest", "shopreco-train-requests",
                    "shopreco-woocommerce-reconcile"]
            left = [t.get_name() for t in asyncio.all_tasks()
                    if t.get_name().startswith("shopreco-")]
            return left, http.client.is_closed
        finally:
            await http.aclose()

    left, closed = fresh.run(work)
    assert left == [] and closed is False  # the caller closes its own client


class Escaped(BaseException):
    """Not an Exception: no loop's `except Exception` holds it, so the loop meeting it ends."""


def test_a_loop_that_ends_early_is_logged_at_once_and_only_once(
        fresh: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def escape(self: Reconciler, stop: asyncio.Event | None = None) -> int:
        raise Escaped("a round")

    monkeypatch.setattr(Reconciler, "run_once", escape)
    early = "worker shopreco-woocommerce-reconcile ended before it was told to stop"

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "plugin.worker"]

    async def reported() -> bool:
        return any(message.startswith(early) for message in logged())

    async def work(redis: Any) -> None:
        async with running_workers(redis, fresh.settings):
            await until(reported, timeout=10)  # while the other loops still run

    with caplog.at_level(logging.ERROR, logger="plugin.worker"):
        fresh.run(work)
    assert logged() == [f"{early}: Escaped('a round')"]  # not again as the block ends


async def _stored(redis: Any, shop_id: str, count: int) -> bool:
    return int(await redis.hlen(keys.orders(shop_id))) == count
