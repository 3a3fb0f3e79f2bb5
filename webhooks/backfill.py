"""Backfill: import a shop's order history through its platform's API, resumable.

Each platform module that can backfill exposes `backfill_pages(http, shop, cursor)`: an async
iterator of `Page`s starting after `cursor` (None: from the beginning). After a page is
stored, its `cursor` is saved in Redis, so an interrupted backfill continues where it stopped.
`import_with_progress` runs one after an install or a connect, noting its progress for the
owner's landing page and stopping when the shop is disconnected meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys, records
from plugin.store.connection import text
from plugin.store.order import Order
from plugin.store.shops import Shop, get_shop
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    orders: list[Order]
    cursor: str | None  # where the next page starts; None when this was the last one
    products: list[dict[str, Any]] = field(default_factory=list)  # catalog entries
    total: int | None = None  # orders in the whole history, when the platform says


PageSource = Callable[[PlatformHttp, Shop, str | None], AsyncIterator[Page]]


@dataclass
class BackfillResult:
    pages: int = 0
    orders_seen: int = 0
    orders_changed: int = 0
    products: int = 0
    resumed_from: str | None = None
    seconds: float = 0.0


class BackfillError(ValueError):
    """The shop cannot be backfilled as configured; the message says what is missing."""


async def run_backfill(
    redis: aioredis.Redis,
    http: PlatformHttp,
    shop: Shop,
    source: PageSource,
    restart: bool = False,
    on_page: Callable[[Page], None] | None = None,
) -> BackfillResult:
    """Store every page `source` yields, checkpointing after each one."""
    checkpoint = keys.backfill_cursor(shop.shop_id)
    if restart:
        await redis.delete(checkpoint)
    saved = await redis.get(checkpoint)
    result = BackfillResult(resumed_from=text(saved) if saved else None)
    started = time.perf_counter()
    async for page in source(http, shop, result.resumed_from):
        for order in page.orders:
            result.orders_changed += await records.store_order(redis, shop.shop_id, order)
        for product in page.products:
            await records.store_product(redis, shop.shop_id, product, shop.storefront_url)
        result.pages += 1
        result.orders_seen += len(page.orders)
        result.products += len(page.products)
        if page.cursor is None:
            await redis.delete(checkpoint)
        else:
            await redis.set(checkpoint, page.cursor)
        if on_page is not None:
            on_page(page)
    await redis.hset(keys.stats(shop.shop_id), "backfilled_at", int(time.time()))
    result.seconds = round(time.perf_counter() - started, 3)
    return result


# Notes an import's progress for the landing page: progress(redis, shop_id, **fields), the
# fields stage, orders, total and error.
Progress = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Stages:
    """The stage names an import notes: while it runs, when an error stopped it, at its end."""

    running: str
    stopped: str
    done: str = "done"


async def _connected(redis: aioredis.Redis, shop_id: str) -> Shop | None:
    shop = await get_shop(redis, shop_id)
    return None if shop is None or shop.uninstalled_at is not None else shop


async def import_with_progress(redis: aioredis.Redis, http: PlatformHttp, shop_id: str,
                               source: PageSource, progress: Progress, stages: Stages) -> None:
    """The shop's order history and catalog from `source`, each page's count noted through
    `progress`; stops at once (no more API calls, nothing more noted) when the shop is
    uninstalled or disconnected meanwhile. An API or payload error stops it with the error
    noted."""
    shop = await _connected(redis, shop_id)
    if shop is None:
        return
    seen = 0

    async def pages(http: PlatformHttp, shop: Shop, cursor: str | None) -> AsyncIterator[Page]:
        nonlocal seen
        async for page in source(http, shop, cursor):
            if await _connected(redis, shop.shop_id) is None:
                return
            seen += len(page.orders)
            await progress(redis, shop.shop_id, stage=stages.running, orders=seen,
                           total="" if page.total is None else page.total)
            yield page

    await progress(redis, shop_id, stage=stages.running, orders=0, error="")
    try:
        await run_backfill(redis, http, shop, pages)
    except (FetchError, ValueError) as error:
        log.warning("import of shop %r stopped: %s", shop_id, error)
        await progress(redis, shop_id, stage=stages.stopped, error=str(error))
        return
    if await _connected(redis, shop_id) is not None:  # else what the disconnect noted stays
        await progress(redis, shop_id, stage=stages.done, orders=seen)


def start_import(tasks: set[asyncio.Task[None]], redis: aioredis.Redis, http: PlatformHttp,
                 shop_id: str, source: PageSource, progress: Progress, stages: Stages) -> None:
    """Run `import_with_progress` after the answer, keeping a reference until it ends."""
    task = asyncio.create_task(import_with_progress(redis, http, shop_id, source, progress,
                                                    stages), name=f"import-{shop_id}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
