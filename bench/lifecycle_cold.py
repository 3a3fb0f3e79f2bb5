"""Benchmark: lifecycle and nurture calls of a shop with 50,000 orders that count, first call in
a fresh process and later calls, through real HTTP.

    .venv/bin/python bench/lifecycle_cold.py [--data-dir DIR] [--later 10]

The shop: UCI Online Retail II (2009-12 .. 2011-12, both files, the overlap dropped: ~48,400
invoices, cancellations and guest orders included, ~37,000 that count) and a generated year
after it (2011-12-10 .. 2012-12-08): 13,031 of the last year's purchases again, 365 days later,
a quarter of them by new customers and 3 % partly refunded, so that 50,000 orders count. Every
order goes through plugin.store.records.store_order, as the adapters store them; the model is
trained with a short tuning budget. `--data-dir` keeps the built shop for the next run (a shop
built by an older version is migrated by the first server that opens it, before any timing).

Then, per endpoint, a fresh process starts the server (uvicorn, the app's lifespan, no worker)
and calls the endpoint once ("first") and `--later` more times ("later", median): seconds as a
client sees them. Targets: first <= 1 s, later <= 0.1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from lifecycle import stored_orders  # bench/lifecycle.py (the script's folder)

from plugin.config import Settings
from plugin.engine.training import train_shop
from plugin.store.connection import open_redis
from plugin.store.order import Order
from plugin.store.records import store_order
from plugin.store.shops import add_shop

SHOP = "bench"
AS_OF = "2012-12-09"
COUNTING = 50_000
SHIFT = 365 * 86400.0
ENDPOINTS = {
    "metrics": "lifecycle/metrics",
    "cohorts": "lifecycle/cohorts",
    "stages": "lifecycle/stages",
    "customer": "lifecycle/customers/{customer}",
    "feed json (100)": "lifecycle/feed?limit=100",
    "feed csv (100)": "lifecycle/feed?format=csv&limit=100",
}


def counts(order: dict[str, Any]) -> bool:
    return not order["cancelled"] and order["customer_id"] is not None


def continuation(orders: list[dict[str, Any]], wanted: int) -> list[dict[str, Any]]:
    """`wanted` purchases of the last year again, a year later (seeded): a quarter by new
    customers, 3 % with one unit of their first line refunded."""
    last = max(order["created_at"] for order in orders)
    recent = [o for o in orders if counts(o) and o["created_at"] > last - SHIFT]
    chosen = random.Random(13).sample(recent, wanted)
    made = []
    for n, order in enumerate(chosen):
        at = order["created_at"] + SHIFT
        customer = order["customer_id"] if n % 4 else f"n{order['customer_id']}"
        order_id = f"S{n}-{order['order_id']}"
        lines = [{**line, "line_id": f"{order_id}-{i}"} for i, line in enumerate(order["lines"])]
        refunds = [{"refund_id": f"r{n}", "line_id": lines[0]["line_id"], "quantity": 1}] \
            if n % 33 == 0 else []
        made.append({**order, "order_id": order_id, "customer_id": customer, "created_at": at,
                     "updated_at": at, "lines": lines, "refunds": refunds})
    return made


def shop_orders() -> list[Order]:
    uci = [json.loads(raw) for raw in stored_orders()]
    more = continuation(uci, COUNTING - sum(map(counts, uci)))
    return [Order.from_json(json.dumps(order)) for order in uci + more]


async def build(settings: Settings, info: Path) -> None:
    orders = shop_orders()
    started = time.perf_counter()
    async with open_redis(settings) as redis:
        new = await add_shop(redis, SHOP, "custom", "bench.example", "", currency="GBP")
        gate = asyncio.Semaphore(16)

        async def store(order: Order) -> None:
            async with gate:
                await store_order(redis, SHOP, order)

        await asyncio.gather(*(store(order) for order in orders))
        stored = time.perf_counter() - started
        await train_shop(redis, SHOP, tuning_seconds=5.0)
    refunded = next(o for o in orders if o.refunds)
    info.write_text(json.dumps({"api_key": new.api_key, "customer": refunded.customer_id}))
    print(f"built: {len(orders):,} stored orders in {stored:.1f} s, trained in "
          f"{time.perf_counter() - started - stored:.1f} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def child(settings: Settings, info: dict[str, str], path: str, later: int) -> None:
    """In a fresh process: serve, then time the first call and `later` more."""
    from plugin.server import make_server, serving

    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/shops/{SHOP}/" + path.format(**info)
    url += ("&" if "?" in url else "?") + f"as_of={AS_OF}"
    auth = {"Authorization": f"Bearer {info['api_key']}"}
    async with serving(make_server(settings, "127.0.0.1", port, log_level="warning")), \
            httpx.AsyncClient(timeout=600, headers=auth) as client:
        times = []
        for _ in range(1 + later):
            started = time.perf_counter()
            response = await client.get(url)
            response.raise_for_status()
            times.append(time.perf_counter() - started)
    print(json.dumps({"first": times[0], "later": statistics.median(times[1:]),
                      "bytes": len(response.content)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--later", type=int, default=10)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="shopreco-bench-"))
    settings = replace(Settings.from_env({}), data_dir=data_dir, run_worker=False,
                       fsync_always=False, log_level="WARNING")
    info_path = data_dir / "bench-shop.json"
    if args.child:
        asyncio.run(child(settings, json.loads(info_path.read_text()), args.child, args.later))
        return
    try:
        if not info_path.exists():
            asyncio.run(build(settings, info_path))
        asyncio.run(measure_all(settings, data_dir, args.later))
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


async def measure_all(settings: Settings, data_dir: Path, later: int) -> None:
    async with open_redis(settings):  # keeps the embedded Redis up between the children
        print(f"{'call':<18} {'first (s)':>10} {'later (s)':>10} {'bytes':>9}")
        for label, path in ENDPOINTS.items():
            run = await asyncio.to_thread(
                subprocess.run, [sys.executable, __file__, "--data-dir", str(data_dir),
                                 "--later", str(later), "--child", path],
                capture_output=True, text=True, check=False)
            if run.returncode:
                raise SystemExit(f"{label}: {run.stderr}")
            got = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{label:<18} {got['first']:10.3f} {got['later']:10.3f} {got['bytes']:9,}")


if __name__ == "__main__":
    main()
