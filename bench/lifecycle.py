"""Benchmark: lifecycle stages and metrics of a whole shop, on UCI Online Retail II (2009-12 ..
2011-12, both files, the overlap dropped: ~5,900 customers, ~37,000 orders that count).

    .venv/bin/python bench/lifecycle.py [--repeat 5]

Times: packing every order's fact (plugin.store.facts.fact_record, done by the order store as
it stores each order), reading the packed records into facts (parse_records), the stages of
every customer, and the metrics (totals, retention, monthly series, cohort matrix), as the API
computes them. Then, with the orders in an embedded Redis as an older release stored them: the
migration that writes their facts, and plugin.engine.lifecycle.load_order_facts: the first read
of a process, a read with nothing changed, and a read after one order changed.
bench/lifecycle_cold.py times the endpoints themselves on a shop of 50,000 orders.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plugin.api.lifecycle import parse_as_of
from plugin.engine.lifecycle import forget_facts, load_order_facts
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.facts import backfill_facts, fact_record, parse_records
from plugin.store.order import Order, Refund
from plugin.store.records import merge_refunds
from recommender.lifecycle import DAY, cohorts, monthly, retention, stage_table, summary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = (DATA / "online_retail_ii_2009-12_2010-12.csv.gz",
         DATA / "online_retail_uci_2010-12_2011-12.csv.gz")
OVERLAP_FROM = "2010-12-01"  # the first file's rows from here on repeat in the second


def stored_orders() -> Iterator[bytes]:
    """Invoices as the JSON plugin.store.records stores: C invoices cancelled, guests without a
    customer, lines with a quantity or price of 0 or less left out."""
    orders: dict[str, dict[str, Any]] = {}
    for index, path in enumerate(FILES):
        with gzip.open(path, "rt", newline="") as handle:
            for row in csv.DictReader(handle):
                if index == 0 and row["ordered_at"] >= OVERLAP_FROM:
                    continue
                order_id, quantity, price = row["order_id"], int(row["quantity"]), row["unit_price"]
                cancelled = order_id.startswith("C")
                if not cancelled and (quantity <= 0 or float(price) <= 0):
                    continue
                at = datetime.fromisoformat(row["ordered_at"]).replace(tzinfo=UTC).timestamp()
                order = orders.setdefault(order_id, {
                    "order_id": order_id, "customer_id": row["customer_id"].removesuffix(".0")
                    or None, "created_at": at, "updated_at": at, "cancelled": cancelled,
                    "currency": "GBP", "total_price": "0", "lines": [], "refunds": []})
                order["lines"].append({
                    "product_id": row["product_id"], "variant_id": None,
                    "title": row["product_name"], "quantity": abs(quantity), "price": price,
                    "line_id": f"{order_id}-{len(order['lines'])}"})
    return (json.dumps(order).encode() for order in orders.values())


def timed(label: str, repeat: int, work: Callable[[], object]) -> None:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    print(f"{label:<44} median {statistics.median(times) * 1000:8.1f} ms  "
          f"(min {min(times) * 1000:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raws = list(stored_orders())
    orders = [Order.from_json(raw) for raw in raws]
    records = [record for record in map(fact_record, orders) if record]
    facts = parse_records(records)
    as_of = parse_as_of("2011-12-09")
    print(f"{len(raws):,} stored orders, {len(facts):,} facts, "
          f"{len(facts.customer_ids):,} customers")
    timed("fact records of every order (as stored)", args.repeat,
          lambda: [fact_record(order) for order in orders])
    timed("packed records -> facts", args.repeat, lambda: parse_records(records))
    timed("stages of every customer", args.repeat, lambda: stage_table(facts, as_of))
    timed("totals + retention + monthly + cohorts", args.repeat, lambda: (
        summary(facts, as_of), retention(facts, as_of - 365 * DAY, as_of),
        monthly(facts, as_of), cohorts(facts, as_of)))
    folder = Path(tempfile.mkdtemp(prefix="shopreco-bench-"))
    embedded = EmbeddedRedis(folder, fsync_always=False)
    try:
        asyncio.run(through_redis(embedded.socket_path, raws))
    finally:
        embedded.close()
        shutil.rmtree(folder, ignore_errors=True)


async def through_redis(socket_path: str, raws: list[bytes]) -> None:
    import redis.asyncio as aioredis

    redis = aioredis.Redis(unix_socket_path=socket_path)
    try:
        shop_id = "bench"
        for low in range(0, len(raws), 1000):
            async with redis.pipeline(transaction=False) as pipe:
                for raw in raws[low:low + 1000]:
                    pipe.hset(keys.orders(shop_id), json.loads(raw)["order_id"], raw)
                await pipe.execute()
        started = time.perf_counter()
        written = await backfill_facts(redis, shop_id)
        print(f"{'migration: facts of orders stored before':<44} "
              f"{(time.perf_counter() - started) * 1000:8.1f} ms ({written:,} facts)")
        for label in ("load_order_facts, first read", "load_order_facts, nothing changed"):
            started = time.perf_counter()
            facts = await load_order_facts(redis, shop_id)
            print(f"{label:<44} {(time.perf_counter() - started) * 1000:8.1f} ms "
                  f"({len(facts):,} facts)")
        changed = next(order for order in map(Order.from_json, raws) if fact_record(order))
        line = changed.lines[0]
        await merge_refunds(redis, shop_id, changed.order_id,
                            [Refund("bench", line.line_id or "", line.quantity)])
        started = time.perf_counter()
        await load_order_facts(redis, shop_id)
        print(f"{'load_order_facts, after one order changed':<44} "
              f"{(time.perf_counter() - started) * 1000:8.1f} ms")
    finally:
        await redis.aclose()
        forget_facts()


if __name__ == "__main__":
    main()
