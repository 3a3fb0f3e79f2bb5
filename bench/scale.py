"""Benchmark: how shopreco scales with web processes, and its memory with the shops it serves.

    .venv/bin/python bench/scale.py [--workers 1,2,4] [--seconds 5] [--rounds 2]
                                    [--shops 1,10,50,100,150] [--cluster]

1. Throughput against processes. `shopreco serve --workers N` (N web processes on one port,
   ingestion and training in a process of their own) on the demo store of bench/throughput.py
   (145 products, 4,000 orders, trained) in a temporary embedded Redis, for each N of
   `--workers`; with `--cluster` again on a 3-master, 3-replica Redis Cluster on loopback
   (tests/cluster.py). Two loads, each `wrk -t1 -c32` (bench/throughput.py's runner): one
   recommendation call (API bought_together, cycling over 100 products) and webhook intake
   (`POST /webhooks/shopify`, signed orders/create, every delivery new). Rounds interleave the
   loads; each figure is the median over rounds, printed with its ratio to the 1-process
   figure of the same store, the p99, the server's CPU per request (its processes and its
   Redis, as bench/throughput.py counts it), the server's share of all cores and how busy the
   whole machine was meanwhile (wrk and any other work included). The method, not the
   absolute figures, is the point: on a 2-core machine wrk itself takes a good part of one
   core, so more web processes than free cores only add switching; CPU per request tells what
   a machine with more cores would give (docs/deploy.md, "Scaling with processes").
2. Memory against shops served. `--shops` small shops in a fresh embedded Redis, each with a
   model of its own (synthetic purchases of 2,000 customers x 300 products, trained with
   ShopModel.train and published as training publishes: ~0.6 MiB stored; no orders stored,
   which serving does not read), served by `shopreco serve --workers 1`; each shop is asked
   one bought_together call in turn (so its model is loaded) and the web process's RSS is
   printed after each step of `--shops`. Each web process keeps at most
   plugin.store.cache.MAX_MODELS (64) models, least recently used dropped, so past 64 shops
   its RSS stops growing with the models.

About 4 minutes on a 2-core machine; `--cluster` adds about 3.
Figures are noisy on a shared machine: read the ratios, run it twice before trusting one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from demo_shop import trained_demo_shop  # bench/ (the script's folder)
from memory import rss_of, synthetic_purchases
from throughput import (
    Call,
    calls,
    ensure_wrk,
    free_port,
    prepare,
    process,
    redis_servers,
    run_wrk,
    shopify_webhooks,
    tree_cpu_by_process,
    wait_ready,
)

from plugin.config import Secret, Settings
from plugin.engine.training import train_shop
from plugin.store import records
from plugin.store.cache import MAX_MODELS
from plugin.store.connection import open_redis
from plugin.store.models import publish_model
from plugin.store.shops import MAX_API_RATE_PER_MINUTE, add_shop, get_shop, set_api_rate
from recommender.shop_model import ShopModel
from webhooks.shopify import parse_order

ROOT = Path(__file__).resolve().parents[1]
SMALL_CUSTOMERS, SMALL_PRODUCTS = 2000, 300


@dataclass
class Figures:
    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # the server's CPU per request
    ours: list[float] = field(default_factory=list)  # the server's share of all cores
    busy: list[float] = field(default_factory=list)  # the machine's busy share of all cores


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


@dataclass(frozen=True)
class Demo:
    """The trained demo store in some Redis, and what the loads need of it."""

    env: dict[str, str]  # SHOPRECO_DATA_DIR or REDIS_URL
    call: Call
    secret: str
    orders: list[dict[str, object]]
    redis_pids: tuple[int, ...]  # counted with the server's CPU


def server_env(store: dict[str, str], base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHOPRECO_") and k != "REDIS_URL"}
    env.update(store, SHOPRECO_PUBLIC_URL=base, SHOPRECO_LOG_LEVEL="WARNING",
               SHOPRECO_WIDGET_RATE_PER_MINUTE="100000000",
               SHOPRECO_RETRAIN_DEBOUNCE_SECONDS="3600",
               SHOPRECO_RETRAIN_MAX_DELAY_SECONDS="36000", SHOPRECO_FSYNC_ALWAYS="false")
    return env


def throughput(demo: Demo, workers: list[int], seconds: int, rounds: int, work: Path,
               label: str) -> None:
    results: dict[tuple[int, str], Figures] = {}
    for n in workers:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        running = redis_servers()
        with process([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port),
                      "--workers", str(n)], server_env(demo.env, base),
                     work / f"serve-{n}.log") as server:
            wait_ready(f"{base}/healthz", server, work / f"serve-{n}.log")
            # the embedded Redis is a daemon, not below the server: found as the new one
            redis_pids = demo.redis_pids or tuple(redis_servers() - running)
            run_wrk(base, demo.call, 1, work)  # each process's caches warm
            for round_ in range(rounds):
                bodies, headers = shopify_webhooks(demo.secret, demo.orders,
                                                   f"{label}-{n}-{round_}-{time.time()}")
                intake = Call("intake", "POST", ["/webhooks/shopify"], headers, bodies)
                for call in (demo.call, intake):
                    before = tree_cpu_by_process(server.pid, redis_pids)
                    busy_before, total_before = machine_ticks()
                    run = run_wrk(base, call, seconds, work)
                    busy_after, total_after = machine_ticks()
                    after = tree_cpu_by_process(server.pid, redis_pids)
                    cpu = sum(after[k] - before.get(k, 0.0) for k in after)
                    ticks = max(1, total_after - total_before)
                    figures = results.setdefault((n, call.name), Figures())
                    figures.rps.append(run.rps)
                    figures.p99_ms.append(run.p99_ms)
                    figures.cpu_us.append(cpu / max(1, run.requests) * 1e6)
                    figures.ours.append(cpu * os.sysconf("SC_CLK_TCK") / ticks)
                    figures.busy.append((busy_after - busy_before) / ticks)
                    print(f"  {label} workers={n} round {round_ + 1} {call.name:<20} "
                          f"{run.rps:>8.0f} req/s  p99 {run.p99_ms:6.1f} ms"
                          + (f"  {run.failures} failed" if run.failures else ""), flush=True)
    print(f"\n{label}: `serve --workers N`, wrk -t1 -c32, {rounds} rounds of {seconds} s, "
          f"medians; ratios to N=1; {os.cpu_count()} cores, load average now "
          f"{os.getloadavg()[0]:.1f}")
    print("  CPU us/req: the server's processes and its Redis; per core: 1e6 / that, what one "
          "core given to the server would answer\n  server CPU: their share of all cores; "
          "machine busy: every process (wrk and other work on the machine included)")
    print(f"{'call':<22}{'N':>3}{'req/s':>9}{'ratio':>7}{'p99 ms':>9}{'p99 ratio':>10}"
          f"{'CPU us/req':>12}{'per core':>10}{'server CPU':>12}{'machine busy':>14}")
    for name in (demo.call.name, "intake"):
        one = results[(workers[0], name)]
        for n in workers:
            figures = results[(n, name)]
            rps, p99 = statistics.median(figures.rps), statistics.median(figures.p99_ms)
            print(f"{name:<22}{n:>3}{rps:>9.0f}{rps / statistics.median(one.rps):>7.2f}"
                  f"{p99:>9.1f}{p99 / statistics.median(one.p99_ms):>10.2f}"
                  f"{statistics.median(figures.cpu_us):>12.0f}"
                  f"{1e6 / statistics.median(figures.cpu_us):>10.0f}"
                  f"{statistics.median(figures.ours):>12.0%}"
                  f"{statistics.median(figures.busy):>14.0%}")
    print(flush=True)


def bought_together(api_key: str, products: list[str], customers: list[str]) -> Call:
    return next(c for c in calls(api_key, "", products, customers, [])
                if c.name == "api bought_together")


def embedded_demo() -> tuple[Demo, Path]:
    data_dir, api_key, _, products, customers, orders, secret = asyncio.run(prepare())
    return Demo({"SHOPRECO_DATA_DIR": str(data_dir)},
                bought_together(api_key, products, customers), secret, orders, ()), data_dir


@contextmanager
def cluster_demo() -> Iterator[Demo]:
    """The same demo store on a test cluster of its own (tests/cluster.py)."""
    sys.path.insert(0, str(ROOT))
    from tests.cluster import running_cluster

    with running_cluster() as cluster:
        settings = replace(Settings.from_env({}), redis_url=Secret(cluster.url))
        made = asyncio.run(copy_demo(settings))
        yield Demo({"REDIS_URL": cluster.url}, *made,
                   tuple(p.pid for p in cluster.processes))


async def copy_demo(settings: Settings) -> tuple[Call, str, list[dict[str, object]]]:
    """bench/demo_shop.py's store and model, stored again into `settings`' Redis."""
    async with trained_demo_shop(4000, 145) as demo:
        async with open_redis(settings) as redis:
            new = await add_shop(redis, "bench", "shopify", "bench.myshopify.com", "")
            await set_api_rate(redis, "bench", MAX_API_RATE_PER_MINUTE)
            for order in demo.store.orders:
                await records.store_order(redis, "bench", parse_order(order))
            await train_shop(redis, "bench")
            shop = await get_shop(redis, "bench")
        assert shop is not None
        products = sorted({str(line["product_id"]) for o in demo.store.orders
                           for line in o["line_items"]})  # type: ignore[attr-defined]
        return (bought_together(new.api_key, products, demo.customers),
                shop.webhook_secrets[0].reveal(), list(demo.store.orders[:2000]))


async def small_shops(settings: Settings, count: int) -> list[tuple[str, str, str]]:
    """`count` shops, each with a model of its own: (shop id, API key, a product)."""
    made = []
    async with open_redis(settings) as redis:
        for n in range(count):
            shop_id = f"small-{n:03d}"
            new = await add_shop(redis, shop_id, "shopify", f"{shop_id}.myshopify.com", "")
            model = ShopModel.train(synthetic_purchases(SMALL_CUSTOMERS, SMALL_PRODUCTS, n))
            blob = model.to_bytes()
            await publish_model(redis, shop_id, blob, {"model_bytes": len(blob)})
            made.append((shop_id, new.api_key, str(model.item_ids[0])))
    return made


def memory(steps: list[int], work: Path) -> None:
    data_dir = work / "shops"
    settings = replace(Settings.from_env({}), data_dir=data_dir, run_worker=False,
                       fsync_always=False)
    started = time.perf_counter()
    shops = asyncio.run(small_shops(settings, max(steps)))
    print(f"memory: {len(shops)} shops trained and stored in "
          f"{time.perf_counter() - started:.0f} s ({SMALL_CUSTOMERS} customers x "
          f"{SMALL_PRODUCTS} products each)", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port),
                  "--workers", "1"], server_env({"SHOPRECO_DATA_DIR": str(data_dir)}, base),
                 work / "serve-memory.log") as server, httpx.Client(base_url=base,
                                                                     timeout=60) as client:
        wait_ready(f"{base}/healthz", server, work / "serve-memory.log")
        web = int(client.get("/healthz").json()["process"])
        rows = [(0, rss_of(web))]
        asked = 0
        for step in steps:
            for shop_id, api_key, product in shops[asked:step]:
                answer = client.get(
                    f"/api/v1/shops/{shop_id}/recommendations/products/{product}"
                    "?kind=bought_together&limit=10",
                    headers={"Authorization": f"Bearer {api_key}"})
                assert answer.status_code == 200, answer.text
            asked = step
            time.sleep(1.0)  # the models' loads and the cache's refresh settle
            rows.append((step, rss_of(web)))
    print(f"\nmemory: RSS of the one web process of `serve --workers 1` after asking each of "
          f"N shops once; it keeps at most {MAX_MODELS} models (plugin.store.cache.MAX_MODELS)")
    print("  models kept: min(N, MAX_MODELS); MiB per model kept: RSS growth / models kept")
    print(f"{'shops':>6}{'models kept':>13}{'RSS MiB':>10}{'vs 0 shops':>12}"
          f"{'MiB per model kept':>20}")
    for shops_asked, rss in rows:
        grown = (rss - rows[0][1]) / 2**20
        kept = min(shops_asked, MAX_MODELS)
        per = f"{grown / kept:.2f}" if kept else ""
        print(f"{shops_asked:>6}{kept:>13}{rss / 2**20:>10.1f}{grown:>+12.1f}{per:>20}")


def numbers(raw: str) -> list[int]:
    return sorted({int(part) for part in raw.split(",") if part.strip()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shops", default="1,10,50,100,150")
    parser.add_argument("--cluster", action="store_true",
                        help="also measure throughput on a Redis Cluster on loopback")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="shopreco-scale-"))
    started = time.perf_counter()
    try:
        demo, data_dir = embedded_demo()
        try:
            throughput(demo, numbers(args.workers), args.seconds, args.rounds, work,
                       "embedded Redis")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        if args.cluster:
            with cluster_demo() as on_cluster:
                throughput(on_cluster, numbers(args.workers), args.seconds, args.rounds, work,
                           "Redis Cluster (3+3 on loopback)")
        if not args.skip_memory:
            memory(numbers(args.shops), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
