"""Backfill: import a shop's order history through its platform's API, resumable.

Each platform module that can backfill exposes `backfill_pages(http, shop, cursor)`: an async
iterator of `Page`s starting after `cursor` (None: from the beginning). After a page is
stored, its `cursor` is saved in Redis, so an interrupted backfill continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys, records
from plugin.store.connection import text
from plugin.store.order import Order
from plugin.store.shops import Shop
from webhooks.http import PlatformHttp


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
