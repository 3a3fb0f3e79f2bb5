"""The issue-4 check through the public API: orders in as signed webhooks, answers out of the
three core calls, scored on the same tasks as `shopreco evaluate`, beside the in-process model
and the best baselines, all measured in the same run.

    .venv/bin/python bench/evaluate_via_api.py \\
        --orders ../shared/data/online_retail_ii_2009-12_2010-12.csv.gz \\
        --orders ../shared/data/online_retail_uci_2010-12_2011-12.csv.gz \\
        --product-pattern '^\\d{5}[A-Za-z]*$'

The training orders go to a `custom` shop as Standard Webhooks deliveries over HTTP (embedded
Redis in a temp folder), `POST .../model/train?wait=true` trains, and every case is asked of
`GET .../recommendations/customers/{id}` and `POST .../recommendations/cart`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from plugin.config import Settings
from plugin.server import make_server, serving
from plugin.store.connection import open_redis
from plugin.store.shops import add_shop
from recommender.baselines import BM25ItemKNN, ImplicitALS, OwnHistory, ShopReco
from recommender.evaluation import evaluate, format_table, load_orders, ratio_to_best, split
from recommender.matrix import Purchase
from webhooks.standard_webhooks import sign

PORT = 8794
CONCURRENCY = 16


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def envelopes(train: Sequence[Purchase]) -> list[bytes]:
    """One custom-platform order.created body per training order."""
    orders: dict[str, list[Purchase]] = defaultdict(list)
    for purchase in train:
        orders[purchase.order_id].append(purchase)
    bodies = []
    for order_id, lines in orders.items():
        first = lines[0]
        data = {
            "id": order_id, "customer_id": first.customer_id, "created_at": iso(first.timestamp),
            "updated_at": iso(first.timestamp), "status": "paid", "currency": "GBP",
            "total_price": "0.00",
            "line_items": [{"id": str(n), "product_id": p.product_id, "title": p.product_id,
                            "quantity": max(1, p.quantity), "price": "1.00"}
                           for n, p in enumerate(lines)],
        }
        bodies.append(json.dumps({"type": "order.created", "timestamp": iso(first.timestamp),
                                  "data": data}).encode())
    return bodies


class ThroughTheApi:
    """A recommender under test whose fit sends the orders as webhooks and trains through
    the API, and whose answers come from the three core calls."""

    name = "shopreco via public API"

    def __init__(self, base: str, shop_id: str, api_key: str, secret: str) -> None:
        self.base, self.shop_id, self.secret = base, shop_id, secret
        self.client = httpx.Client(base_url=base, timeout=120,
                                   headers={"Authorization": f"Bearer {api_key}"})

    def fit(self, train: Sequence[Purchase]) -> None:
        asyncio.run(self._send(envelopes(train)))
        response = self.client.post(f"/api/v1/shops/{self.shop_id}/model/train",
                                    params={"wait": "true"}, timeout=1800)  # drain+choose+fit
        response.raise_for_status()

    async def _send(self, bodies: list[bytes]) -> None:
        queue = list(reversed(bodies))
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:

            async def sender() -> None:
                while queue:
                    body = queue.pop()
                    msg_id = f"msg-{len(queue)}"
                    for attempt in range(5):  # a platform retries: same id, deduplicated
                        stamp = int(time.time())
                        try:
                            response = await client.post(
                                f"/webhooks/custom/{self.shop_id}", content=body, headers={
                                    "webhook-id": msg_id, "webhook-timestamp": str(stamp),
                                    "webhook-signature": sign(self.secret, msg_id, stamp, body),
                                    "content-type": "application/json"})
                        except httpx.TransportError:
                            await asyncio.sleep(0.2 * (attempt + 1))
                            continue
                        response.raise_for_status()
                        break
                    else:
                        raise RuntimeError(f"webhook {msg_id} failed 5 times")

            await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        response = self.client.get(
            f"/api/v1/shops/{self.shop_id}/recommendations/customers/{customer_id}",
            params={"limit": k, "exclude_purchased": str(exclude_purchased).lower()})
        response.raise_for_status()
        return [item["product_id"] for item in response.json()["items"]]

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]:
        response = self.client.post(f"/api/v1/shops/{self.shop_id}/recommendations/cart",
                                    json={"product_ids": list(product_ids), "limit": k})
        response.raise_for_status()
        return [item["product_id"] for item in response.json()["items"]]


async def run(args: argparse.Namespace) -> None:
    purchases = load_orders([Path(p) for p in args.orders], args.product_pattern,
                            args.overlap_from if len(args.orders) > 1 else None)
    train, test = split(purchases, args.cutoff, args.end)
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-eval-api-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir, fsync_always=False,
                           retrain_debounce_seconds=3600, retrain_max_delay_seconds=3600,
                           api_rate_per_minute=10**9)  # a call per test customer, at once
        async with open_redis(settings) as redis:
            new = await add_shop(redis, "evaluation", "custom", "evaluation.example", "")
        server = make_server(settings, "127.0.0.1", PORT)
        async with serving(server):
            api = ThroughTheApi(f"http://127.0.0.1:{PORT}", "evaluation", new.api_key,
                                new.shop.webhook_secrets[0].reveal())
            models = [api, ShopReco(), OwnHistory(), ImplicitALS(), BM25ItemKNN()]
            results = await asyncio.to_thread(evaluate, models, train, test, args.k)
        print(format_table(results, args.k))
        print(ratio_to_best(results[0], results[2:]))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", action="append", required=True)
    parser.add_argument("--product-pattern")
    parser.add_argument("--overlap-from", default="2010-12-01")
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--end", default="2011-12-09")
    parser.add_argument("--k", type=int, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
