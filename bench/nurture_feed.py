"""Benchmark: the whole nurture feed (JSON pages of 500, and the streamed CSV) against one
personal recommendation call per customer, on the same server in the same run.

    .venv/bin/python bench/nurture_feed.py [--orders 12000] [--products 4]

The demo store is replayed straight into Redis (no HTTP) and trained; 12,000 orders give about
5,000 customers. The feed's cost per customer is mostly the personal call's own (the
customer's factors recomputed from their history), so the ratio should stay near or below 1.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from demo_shop import trained_demo_shop  # bench/demo_shop.py (the script's folder)

from plugin.server import make_server, serving

PORT = 8794


async def walk_json(client: httpx.AsyncClient, url: str, products: int) -> int:
    params: dict[str, str | int] = {"limit": 500, "products": products}
    count = 0
    while True:
        response = await client.get(url, params=params)
        response.raise_for_status()
        body = response.json()
        count += len(body["items"])
        if body["next_cursor"] is None:
            return count
        params = {"limit": 500, "products": products, "cursor": body["next_cursor"]}


async def main(n_orders: int, products: int) -> None:
    async with trained_demo_shop(n_orders) as demo:
        settings, customers = demo.settings, demo.customers
        base = f"http://127.0.0.1:{PORT}/api/v1/shops/bench"
        auth = {"Authorization": f"Bearer {demo.api_key}"}
        server = make_server(settings, "127.0.0.1", PORT)
        async with serving(server), httpx.AsyncClient(timeout=600, headers=auth) as client:
            started = time.perf_counter()
            listed = await walk_json(client, f"{base}/lifecycle/feed", products)
            json_seconds = time.perf_counter() - started
            started = time.perf_counter()
            response = await client.get(f"{base}/lifecycle/feed",
                                        params={"format": "csv", "products": products})
            response.raise_for_status()
            csv_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for customer_id in customers:
                answer = await client.get(f"{base}/recommendations/customers/{customer_id}",
                                          params={"limit": products})
                answer.raise_for_status()
            api_seconds = time.perf_counter() - started
        print(f"demo store: {n_orders} orders, {len(customers)} customers, {listed} in the feed,"
              f" {products} products each")
        for label, seconds in (("feed, JSON pages of 500", json_seconds),
                               ("feed, one streamed CSV", csv_seconds),
                               ("one personal API call each", api_seconds)):
            print(f"{label:<28} {seconds:7.2f} s  {seconds / listed * 1000:6.2f} ms/customer"
                  f"  {seconds / api_seconds:5.2f}x the API calls")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=12000)
    parser.add_argument("--products", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.products))
