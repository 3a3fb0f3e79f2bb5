"""Benchmark: webhook intake and training, each as a ratio to a baseline from the same run.

    .venv/bin/python bench/intake_and_training.py [--orders 6000]

- intake: signed Shopify orders/create POSTs per second through /webhooks/shopify (verify,
  dedupe, durable append to the embedded Redis) against a bare Starlette endpoint on the same
  server that only reads the body and answers 200.
- training: shopreco's full training (matrices, ALS, co-purchase neighbours, trending,
  serialisation) against a bare implicit ALS fit on the same customer x product matrix, on the
  demo store and on UCI Online Retail (../shared/data) when present.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.config import Settings
from plugin.demo.runner import deliveries
from plugin.demo.store import generate_store
from plugin.engine.training import purchases_of
from plugin.server import make_server, serving
from plugin.store.connection import open_redis
from plugin.store.shops import add_shop
from recommender.matrix import Purchase, build_interactions
from recommender.models import fit_als
from recommender.shop_model import ShopModel
from webhooks.shopify import parse_order
from webhooks.signatures import hmac_sha256_base64

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CONCURRENCY = 16


async def bare(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"accepted"}', media_type="application/json")


async def post_all(
    client: httpx.AsyncClient, path: str, requests: list[tuple[bytes, dict[str, str]]]
) -> float:
    queue = list(reversed(requests))
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            body, headers = queue.pop()
            response = await client.post(path, content=body, headers=headers)
            response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(requests) / (time.perf_counter() - started)


async def bench_intake(n_orders: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir, run_worker=False)
        server = make_server(settings, "127.0.0.1", 8791, [Route("/bench/bare", bare,
                                                                  methods=["POST"])])
        store = generate_store(n_orders=n_orders)
        async with serving(server), open_redis(settings) as redis:
            new = await add_shop(redis, "bench", "shopify", "bench.myshopify.com", "")
            secret = new.shop.webhook_secrets[0].reveal().encode()
            signed = []
            for topic, webhook_id, payload in deliveries(store, "http://x"):
                body = json.dumps(payload).encode()
                signed.append((body, {
                    "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": "bench.myshopify.com",
                    "X-Shopify-Webhook-Id": webhook_id,
                    "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret, body)}))
            async with httpx.AsyncClient(base_url="http://127.0.0.1:8791", timeout=60) as client:
                baseline = await post_all(client, "/bench/bare", signed)
                intake = await post_all(client, "/webhooks/shopify", signed)
        print(f"intake   bare endpoint {baseline:8.0f} req/s   /webhooks/shopify {intake:8.0f} "
              f"req/s   ratio {intake / baseline:.2f}x of bare  ({len(signed)} requests, "
              f"fsync always)")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_training(label: str, purchases: list[Purchase]) -> None:
    data = build_interactions(purchases)
    started = time.perf_counter()
    fit_als(data.user_items)
    bare_fit = time.perf_counter() - started
    started = time.perf_counter()
    ShopModel.train(purchases).to_bytes()
    full = time.perf_counter() - started
    print(f"training {label:<22} implicit ALS fit {bare_fit:6.2f} s   shopreco train {full:6.2f} s"
          f"   ratio {full / bare_fit:.2f}x  ({data.n_users} customers, {data.n_items} products)")


def demo_purchases(n_orders: int) -> list[Purchase]:
    store = generate_store(n_orders=n_orders)
    return [p for order in store.orders for p in purchases_of(parse_order(order))]


def online_retail_purchases() -> list[Purchase] | None:
    path = SHARED / "online_retail_uci_2010-12_2011-12.csv.gz"
    if not path.exists():
        return None
    import csv
    import gzip
    from datetime import datetime

    purchases = []
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if (not row["customer_id"] or row["order_id"].startswith("C")
                    or float(row["quantity"]) <= 0 or float(row["unit_price"]) <= 0):
                continue
            ts = datetime.fromisoformat(row["ordered_at"]).timestamp()
            purchases.append(Purchase(row["order_id"], row["customer_id"].split(".")[0],
                                      row["product_id"], int(float(row["quantity"])), ts))
    return purchases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=6000)
    args = parser.parse_args()
    asyncio.run(bench_intake(args.orders))
    bench_training(f"demo ({args.orders} orders)", demo_purchases(args.orders))
    retail = online_retail_purchases()
    if retail is not None:
        bench_training("UCI Online Retail", retail)


if __name__ == "__main__":
    main()
