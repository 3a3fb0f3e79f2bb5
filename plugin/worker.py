"""Background work of a process: ingestion and debounced retraining, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis

from plugin.config import Settings
from plugin.engine.train_requests import TrainRequests
from plugin.engine.training import AutoTrainer
from webhooks.http import PlatformHttp
from webhooks.ingest import Ingestor
from webhooks.woocommerce import Reconciler

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running_workers(
    redis: aioredis.Redis, settings: Settings, http: PlatformHttp | None = None
) -> AsyncIterator[None]:
    """Run the ingest loop, the auto-trainer and the training requests of web processes
    (plugin.engine.train_requests) for the duration of the block."""
    stop = asyncio.Event()
    own_http = http is None
    http = http or PlatformHttp()
    ingestor = Ingestor(redis, retention_seconds=settings.event_retention_days * 86400, http=http,
                        claim_idle_ms=settings.claim_idle_seconds * 1000)
    tasks = [
        asyncio.create_task(ingestor.run(stop), name="shopreco-ingest"),
        asyncio.create_task(
            AutoTrainer(
                redis, settings.retrain_debounce_seconds, settings.retrain_max_delay_seconds,
                settings.tuning_seconds,
            ).run(stop),
            name="shopreco-autotrain",
        ),
        asyncio.create_task(
            TrainRequests(redis, ingestor.drain, settings.tuning_seconds).run(stop),
            name="shopreco-train-requests"),
        asyncio.create_task(Reconciler(redis, http, settings.reconcile_minutes * 60).run(stop),
                            name="shopreco-woocommerce-reconcile"),
    ]
    reported: set[str] = set()
    for task in tasks:  # a loop that ends early says so at once, not only at shutdown
        task.add_done_callback(_report_early_end(stop, reported))
    try:
        yield
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None \
                    and task.get_name() not in reported:
                log.error("worker %s failed: %r", task.get_name(), task.exception())
        if own_http:
            await http.aclose()


def _report_early_end(stop: asyncio.Event, reported: set[str]
                      ) -> Callable[[asyncio.Task[None]], None]:
    def report(task: asyncio.Task[None]) -> None:
        if stop.is_set() or task.cancelled():
            return
        reported.add(task.get_name())
        log.error("worker %s ended before it was told to stop: %r", task.get_name(),
                  task.exception())
    return report
