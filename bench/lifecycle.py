"""Benchmark: lifecycle stages and metrics of a whole shop, on UCI Online Retail II (2009-12 ..
2011-12, both files, the overlap dropped: ~5,900 customers, ~37,000 orders that count).

    .venv/bin/python bench/lifecycle.py [--repeat 5]

Times, as the API does them: turning stored order JSON into facts (plugin.lifecycle.order_fact,
done once per change of the shop's orders, then cached), the stages of every customer, and
the metrics (totals, retention, monthly series, cohort matrix). Reading the hash from Redis
comes on top of the first step.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plugin.lifecycle import order_fact, parse_as_of
from recommender.lifecycle import DAY, cohorts, customer_stages, monthly, retention, summary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = (DATA / "online_retail_ii_2009-12_2010-12.csv.gz",
         DATA / "online_retail_uci_2010-12_2011-12.csv.gz")
OVERLAP_FROM = "2010-12-01"  # the first file's rows from here on repeat in the second


def stored_orders() -> Iterator[bytes]:
    """Invoices as the JSON webhooks.records stores: C invoices cancelled, guests without a
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
    facts = [f for f in (order_fact(json.loads(raw)) for raw in raws) if f is not None]
    as_of = parse_as_of("2011-12-09")
    print(f"{len(raws):,} stored orders, {len(facts):,} facts, "
          f"{len({f.customer_id for f in facts}):,} customers")
    timed("order JSON -> facts (once per change)", args.repeat,
          lambda: [order_fact(json.loads(raw)) for raw in raws])
    timed("stages of every customer", args.repeat, lambda: customer_stages(facts, as_of))
    timed("totals + retention + monthly + cohorts", args.repeat, lambda: (
        summary(facts, as_of), retention(facts, as_of - 365 * DAY, as_of),
        monthly(facts, as_of), cohorts(facts, as_of)))


if __name__ == "__main__":
    main()
