"""Benchmark: memory of a served model, and of a web process over a million requests.

    .venv/bin/python bench/memory.py [--customers 100000] [--products 20000] [--requests 1000000]

1. A model of `--customers` x `--products` (synthetic orders: a few lines each from a skewed
   catalog) is trained and stored as the server stores it. A fresh process then loads it the
   way each web process does (plugin.store.cache: the npz bytes from Redis, then
   ShopModel.from_bytes) and reports what its RSS grew by against the bytes of the model's
   arrays as it holds them. Goal (issue 13): <= 1.5x.
2. `shopreco serve` on the demo store answers every recommendation call and widget placement
   for 2 s each (wrk, 32 connections: its caches warm), then `--requests` more of the same in
   turn; its RSS before and after those. Goal: growth < 5%.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from throughput import (  # bench/throughput.py (the script's folder)
    calls,
    free_port,
    prepare,
    process,
    run_wrk,
    wait_ready,
)

from recommender.matrix import Purchase
from recommender.shop_model import ShopModel

LOAD_SCRIPT = """
import gc, sys, time
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
from recommender.shop_model import ShopModel
import numpy, scipy.sparse, implicit  # what a web process has loaded before any model
gc.collect()
before = rss()
blob = Path(sys.argv[1]).read_bytes()
model = ShopModel.from_bytes(blob)
del blob
gc.collect()
print(rss() - before)
"""


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def synthetic_purchases(customers: int, products: int, seed: int = 7) -> list[Purchase]:
    """About 2.5 orders per customer of 1-4 lines each, products Zipf-distributed."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, products + 1) ** 0.8
    weights /= weights.sum()
    orders = int(customers * 2.5)
    owners = rng.integers(0, customers, orders)
    sizes = rng.integers(1, 5, orders)
    items = rng.choice(products, int(sizes.sum()), p=weights)
    stamps = 1_700_000_000.0 + rng.random(orders) * 365 * 86400
    purchases, at = [], 0
    for order, (owner, size) in enumerate(zip(owners.tolist(), sizes.tolist(), strict=True)):
        for item in items[at:at + size].tolist():
            purchases.append(Purchase(f"o{order}", f"c{owner}", f"p{item}", 1,
                                      float(stamps[order])))
        at += size
    return purchases


def held_bytes(array: np.ndarray) -> int:
    """The bytes of a stored array as the loaded model holds it: column indices stored as
    uint16 (recommender.npz) are int32 once read."""
    return array.size * 4 if array.dtype == np.uint16 else array.nbytes


def model_memory(customers: int, products: int, work: Path) -> float:
    started = time.perf_counter()
    model = ShopModel.train(synthetic_purchases(customers, products))
    blob = model.to_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as stored:  # as a process holds them:
        array_bytes = sum(held_bytes(stored[name]) for name in stored.files)
    (work / "model.npz").write_bytes(blob)
    print(f"model: {len(model.user_ids)} customers x {len(model.item_ids)} products, trained "
          f"in {time.perf_counter() - started:.0f} s; arrays {array_bytes / 2**20:.1f} MiB, "
          f"stored {len(blob) / 2**20:.1f} MiB")
    grown = int(subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(work / "model.npz")],
                               capture_output=True, text=True, check=True).stdout)
    ratio = grown / array_bytes
    print(f"a process loading it grows by {grown / 2**20:.1f} MiB: {ratio:.2f}x its arrays "
          f"(goal <= 1.5x)")
    return ratio


def serving_memory(total: int, work: Path) -> float:
    from widgets.placements import PLACEMENTS

    data_dir, api_key, widget_key, products, customers, _, _ = asyncio.run(prepare())
    try:
        todo = calls(api_key, widget_key, products, customers, sorted(PLACEMENTS))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPRECO_")}
        env.update(SHOPRECO_DATA_DIR=str(data_dir), SHOPRECO_LOG_LEVEL="WARNING",
                   SHOPRECO_WIDGET_RATE_PER_MINUTE="100000000")
        with process([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port)], env,
                     work / "serve.log") as server:
            wait_ready(f"{base}/healthz", server, work / "serve.log")
            warm = sum(run_wrk(base, call, 2, work).requests for call in todo)
            warm_rss, served, index = rss_of(server.pid), 0, 0
            while served < total:
                served += run_wrk(base, todo[index % len(todo)], 2, work).requests
                index += 1
            end_rss = rss_of(server.pid)
        growth = (end_rss - warm_rss) / warm_rss * 100
        print(f"serve: RSS {warm_rss / 2**20:.1f} MiB after {warm} requests that warm every "
              f"call's caches, {end_rss / 2**20:.1f} MiB after {served} more: {growth:+.1f}% "
              "(goal < 5%)")
        return growth
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shopreco-memory-"))
    try:
        ratio = model_memory(args.customers, args.products, work)
        growth = serving_memory(args.requests, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio <= 1.5 and growth < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
