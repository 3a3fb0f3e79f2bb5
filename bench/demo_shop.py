"""Shared by the benchmarks: the demo store stored straight into a fresh embedded Redis (no
HTTP) as shop "bench", trained, and removed again afterwards."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from plugin.config import Settings
from plugin.demo.store import DemoStore, generate_store
from plugin.engine.training import train_shop
from plugin.store import records
from plugin.store.connection import open_redis
from plugin.store.shops import MAX_API_RATE_PER_MINUTE, add_shop, set_api_rate
from webhooks.shopify import parse_order


@dataclass(frozen=True)
class DemoShop:
    settings: Settings  # points at the temporary embedded Redis
    api_key: str
    store: DemoStore
    customers: list[str]  # ids of the customers with orders, sorted


@contextlib.asynccontextmanager
async def trained_demo_shop(
    n_orders: int, n_products: int = 120, keep: bool = False
) -> AsyncIterator[DemoShop]:
    """`keep`: leave the data folder for the caller to remove (a server runs on it next)."""
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir, run_worker=False,
                           fsync_always=False)
        store = generate_store(n_orders=n_orders, n_products=n_products)
        async with open_redis(settings) as redis:
            new = await add_shop(redis, "bench", "shopify", "bench.myshopify.com", "")
            # load far past a shop's API rate limit: every call served (and still counted)
            await set_api_rate(redis, "bench", MAX_API_RATE_PER_MINUTE)
            for order in store.orders:
                await records.store_order(redis, "bench", parse_order(order))
            await train_shop(redis, "bench")
        customers = sorted({str(o["customer"]["id"]) for o in store.orders if o["customer"]})
        yield DemoShop(settings, new.api_key, store, customers)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
