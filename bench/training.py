"""Benchmark: training without the per-shop choice, as a ratio to a bare implicit fit of the
same model on the same matrix, measured side by side in one run (goal: at most 1.3).

    .venv/bin/python bench/training.py [--repeat 5] [--orders 6000] [--profile]
                                       [demo] [uci] [retail-ii]

On the demo store (`--orders` orders), UCI Online Retail (../shared/data, 2010-12 .. 2011-12)
and Online Retail II (both files, the overlap dropped), each stored as orders in an embedded
Redis (as the order store writes them), the median of `--repeat` interleaved runs of
- bare: implicit's AlternatingLeastSquares.fit with the factors, iterations, regularization,
  alpha, random state and number of threads shopreco uses, on the same confidence matrix
  (built before the clock starts);
- shopreco's fit of every part of Config() on the same matrices (ShopModel.from_interactions:
  ALS, and beside it co-purchase neighbours, trending and the decayed purchases; then each
  product's nearest by taste);
- shopreco's training from the purchase lines as Purchase objects (ShopModel.train: the
  matrices built too; what the per-shop choice trains from);
- the whole path plugin.engine.training.train_shop takes once the shop's choice of Config is
  made: the shop's training lines (plugin.store.lines, written with each order) read from
  Redis into columns (load_lines), ShopModel.train on them, then with to_bytes (the goal);
  and, for comparison, reading the same lines from the stored orders' JSON (lines_of_orders,
  what training reads while a shop's records are not complete).
Each ratio is the median of the runs' ratios to the bare fit of the same round (a machine
busy for a while slows both sides of a round).
Then the co-purchase neighbours alone, the per-row loop they replaced against the vectorised
ones (checked equal). `--profile` adds the top of a cProfile of the whole path once (by
time spent in each function itself, then by time spent in it and what it calls).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import gzip
import io
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from plugin.engine.training import lines_of_orders, load_lines
from plugin.store import keys
from plugin.store.connection import EmbeddedRedis
from plugin.store.lines import line_record
from plugin.store.order import LineItem, Order
from recommender.matrix import Interactions, Purchase, PurchaseLines, build_interactions
from recommender.models import confidence, threads_for
from recommender.neighbours import TOP_K, CoPurchase
from recommender.shop_model import Config, ShopModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UCI = DATA / "online_retail_uci_2010-12_2011-12.csv.gz"
RETAIL_II = DATA / "online_retail_ii_2009-12_2010-12.csv.gz"
OVERLAP_FROM = "2010-12-01"  # RETAIL_II's rows from here on repeat in UCI
DATASETS = ("demo", "uci", "retail-ii")


def retail_purchases(*paths: Path) -> list[Purchase]:
    """Lines of customers' invoices (C invoices, guests, quantities or prices of 0 or less
    left out)."""
    purchases = []
    for path in paths:
        with gzip.open(path, "rt", newline="") as handle:
            for row in csv.DictReader(handle):
                if (not row["customer_id"] or row["order_id"].startswith("C")
                        or float(row["quantity"]) <= 0 or float(row["unit_price"]) <= 0
                        or (path == RETAIL_II and row["ordered_at"] >= OVERLAP_FROM)):
                    continue
                purchases.append(Purchase(
                    row["order_id"], row["customer_id"].split(".")[0], row["product_id"],
                    int(float(row["quantity"])), datetime.fromisoformat(row["ordered_at"])
                    .timestamp()))
    return purchases


def demo_purchases(n_orders: int) -> list[Purchase]:
    from plugin.demo.store import generate_store
    from plugin.engine.training import purchases_of
    from webhooks.shopify import parse_order

    store = generate_store(n_orders=n_orders)
    return [p for order in store.orders for p in purchases_of(parse_order(order))]


def datasets(names: list[str], n_orders: int) -> Iterator[tuple[str, list[Purchase]]]:
    if "demo" in names:
        yield f"demo ({n_orders} orders)", demo_purchases(n_orders)
    if "uci" in names and UCI.exists():
        yield "UCI Online Retail", retail_purchases(UCI)
    if "retail-ii" in names and UCI.exists() and RETAIL_II.exists():
        yield "Online Retail II", retail_purchases(RETAIL_II, UCI)


def stored_orders(purchases: list[Purchase]) -> dict[str, Order]:
    """order id -> an order of these lines as the order store keeps it (a title and a price a
    line, as real orders carry)."""
    grouped: dict[str, list[Purchase]] = {}
    for purchase in purchases:
        grouped.setdefault(purchase.order_id, []).append(purchase)
    return {order_id: Order(
        order_id, lines[0].customer_id, lines[0].timestamp, lines[0].timestamp, False, "GBP",
        "0", tuple(LineItem(p.product_id, None, f"Product {p.product_id}", p.quantity, "2.95",
                            f"{order_id}-{n}") for n, p in enumerate(lines)))
        for order_id, lines in grouped.items()}


class StoredShop:
    """An embedded Redis in a temporary folder holding one shop's orders, their training lines
    and the mark that those are complete, as the order store writes them; `load` runs
    load_lines on it, `load_json` lines_of_orders."""

    SHOP = "bench"

    def __init__(self, orders: dict[str, Order]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="shopreco-bench-"))
        self.embedded = EmbeddedRedis(self.folder, fsync_always=False)
        # a bare loop: asyncio.Runner swaps the SIGINT handler on each run, and Python 3.11
        # formats the one it replaces, with the previous run's result (a repr of every line)
        self.loop = asyncio.new_event_loop()
        self.redis = aioredis.Redis(unix_socket_path=self.embedded.socket_path)
        self.loop.run_until_complete(self._store(orders))

    async def _store(self, orders: dict[str, Order]) -> None:
        items = list(orders.items())
        for low in range(0, len(items), 1000):
            page = items[low:low + 1000]
            await self.redis.hset(keys.orders(self.SHOP), mapping={
                order_id: order.to_json() for order_id, order in page})
            await self.redis.hset(keys.order_lines(self.SHOP), mapping={
                order_id: record for order_id, order in page if (record := line_record(order))})
        await self.redis.set(keys.order_lines_ready(self.SHOP), "1")

    def load(self) -> PurchaseLines:
        return self.loop.run_until_complete(load_lines(self.redis, self.SHOP))[0]

    def load_json(self) -> PurchaseLines:
        return self.loop.run_until_complete(lines_of_orders(self.redis, self.SHOP))[0]

    def close(self) -> None:
        self.loop.run_until_complete(self.redis.aclose())
        self.loop.close()
        self.embedded.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def bare_fit(data: Interactions, config: Config, factors: int) -> Callable[[], object]:
    """implicit's ALS as shopreco configures it, on the confidence matrix shopreco fits (built
    before the clock starts)."""
    matrix = confidence(data.user_items)
    return lambda: AlternatingLeastSquares(
        factors=factors, iterations=config.iterations, regularization=config.regularization,
        alpha=config.alpha, random_state=42, num_threads=threads_for(data.user_items),
    ).fit(matrix, show_progress=False)


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bench_training(label: str, purchases: list[Purchase], repeat: int,
                   profiled: bool = False) -> None:
    config = Config()
    data = build_interactions(purchases)
    factors = ShopModel.train(purchases, config).taste.item_factors.shape[1]
    shop = StoredShop(stored_orders(purchases))
    try:
        same = all(np.array_equal(getattr(data, name).toarray(), getattr(stored, name).toarray())
                   for stored in (build_interactions(shop.load()),
                                  build_interactions(shop.load_json()))
                   for name in ("user_items", "basket_items"))
        runs: dict[str, list[float]] = {name: [] for name in RUNS}
        for _ in range(repeat):  # interleaved: a busy moment slows every side
            runs["bare"].append(seconds(bare_fit(data, config, factors)))
            runs["fit"].append(seconds(lambda: ShopModel.from_interactions(data, config)))
            runs["purchases"].append(seconds(lambda: ShopModel.train(purchases, config)))
            started = time.perf_counter()
            model = ShopModel.train(shop.load(), config)
            runs["train"].append(time.perf_counter() - started)
            blob = model.to_bytes()
            runs["total"].append(time.perf_counter() - started)
            runs["load"].append(seconds(shop.load))
            runs["json"].append(seconds(shop.load_json))
        profiles = profile(lambda: ShopModel.train(shop.load(), config).to_bytes()) \
            if profiled else ""
    finally:
        shop.close()
    print(f"{label}: {data.n_users:,} customers, {data.n_items:,} products, "
          f"{data.user_items.nnz:,} customer-product pairs, {factors} factors, "
          f"{threads_for(data.user_items) or 'all'} thread(s); median (min) of {repeat}; "
          f"training lines and stored orders read into the same matrices: {same}; "
          f"model {len(blob):,} bytes")
    for name, what in RUNS.items():
        ratios = [run / bare for run, bare in zip(runs[name], runs["bare"], strict=True)]
        ratio = "" if name == "bare" else f"   ratio {statistics.median(ratios):.2f}x"
        print(f"  {what:<52} {statistics.median(runs[name]):7.3f} s "
              f"({min(runs[name]):.3f}){ratio}")
    bench_copurchase(data, repeat)
    print(profiles, end="")


RUNS = {
    "bare": "bare implicit ALS fit",
    "fit": "shopreco fit on the built matrices",
    "purchases": "shopreco train from Purchase objects",
    "train": "shopreco read training lines + train",
    "total": "shopreco read training lines + train + to_bytes (goal)",
    "load": "  of which: reading the training lines (load_lines)",
    "json": "reading the stored orders' JSON instead",
}


def bench_copurchase(data: Interactions, repeat: int) -> None:
    loop = statistics.median(seconds(lambda: copurchase_loop(data)) for _ in range(repeat))
    vectorised = statistics.median(seconds(lambda: CoPurchase().fit(data))
                                   for _ in range(repeat))
    before, after = copurchase_loop(data), CoPurchase().fit(data).matrix
    same = all(np.array_equal(getattr(before, part), getattr(after, part))
               for part in ("indptr", "indices", "data"))
    print(f"  co-purchase neighbours: per-row loop {loop:6.3f} s, vectorised "
          f"{vectorised:6.3f} s ({loop / vectorised:.1f}x faster, identical: {same})")


def copurchase_loop(data: Interactions) -> sp.csr_matrix:
    """The co-purchase neighbours as they were computed before: shrunk cosine, then each
    row's TOP_K best sorted in a Python loop over the products."""
    binary = data.basket_items.tocsc().astype(np.float32)
    counts = np.asarray(binary.sum(axis=0)).ravel()
    together = (binary.T @ binary).tocsr()
    together.setdiag(0)
    together.eliminate_zeros()
    together = together.tocoo()
    scores = together.data / (np.sqrt(counts[together.row] * counts[together.col])
                              + CoPurchase.SHRINK)
    matrix = sp.csr_matrix((scores.astype(np.float32), (together.row, together.col)),
                           shape=together.shape)
    indptr, indices, values = [0], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        cols, vals = matrix.indices[start:end], matrix.data[start:end]
        order = np.lexsort((cols, -vals))[:TOP_K]
        indices.append(cols[order])
        values.append(vals[order])
        indptr.append(indptr[-1] + len(order))
    return sp.csr_matrix(
        (np.concatenate(values or [np.zeros(0, np.float32)]).astype(np.float32),
         np.concatenate(indices or [np.zeros(0, np.int32)]).astype(np.int32),
         np.array(indptr, dtype=np.int64)), shape=matrix.shape)


def profile(work: Callable[[], object], top: int = 15) -> str:
    """The top of a cProfile of `work`, by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    shown = []
    for order in ("tottime", "cumtime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        shown += ["  " + line for line in out.getvalue().splitlines()
                  if line.strip() and not line.lstrip().startswith(("Ordered", "List"))]
    return "\n".join(shown) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--profile", action="store_true")
    # checked here, not with `choices`: argparse (3.11) checks an empty "*" argument against
    # `choices` as one value and refuses it; none given means all of them
    parser.add_argument("datasets", nargs="*", help=f"any of {', '.join(DATASETS)}")
    args = parser.parse_args()
    unknown = [name for name in args.datasets if name not in DATASETS]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}: choose from "
                     f"{', '.join(DATASETS)}")
    for label, purchases in datasets(args.datasets or list(DATASETS), args.orders):
        bench_training(label, purchases, args.repeat, args.profile)


if __name__ == "__main__":
    main()
