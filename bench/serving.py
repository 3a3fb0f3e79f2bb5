"""Benchmark: per-request serving time of the recommendation calls, as a ratio to a bare
endpoint on the same server, measured in the same run.

    .venv/bin/python bench/serving.py [--orders 6000] [--requests 2000]

The demo store is replayed straight into Redis (no HTTP), trained, then each call is sent
`--requests` times (16 concurrent clients) next to a bare Starlette endpoint that answers a
fixed JSON body.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import httpx
from demo_shop import trained_demo_shop  # bench/demo_shop.py (the script's folder)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.server import make_server, serving

CONCURRENCY = 16
PORT = 8793


async def bare(request: Request) -> Response:
    return JSONResponse({"items": []})


async def timed(
    client: httpx.AsyncClient, make: Callable[[int], httpx.Request], n: int
) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            response = await client.send(make(i))
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def summary(label: str, latencies: list[float], baseline: list[float]) -> str:
    median = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(len(latencies) * 0.95)] * 1000
    ratio = statistics.median(latencies) / statistics.median(baseline)
    return f"{label:<28} median {median:6.2f} ms  p95 {p95:6.2f} ms  {ratio:5.2f}x bare"


async def main(n_orders: int, n_requests: int) -> None:
    async with trained_demo_shop(n_orders) as demo:
        settings, customers = demo.settings, demo.customers
        products = [p.product_id for p in demo.store.products]
        base = f"http://127.0.0.1:{PORT}"
        auth = {"Authorization": f"Bearer {demo.api_key}"}
        api = f"{base}/api/v1/shops/bench/recommendations"
        calls: dict[str, Callable[[int], httpx.Request]] = {
            "bare endpoint": lambda i: httpx.Request("GET", f"{base}/bench/bare"),
            "bought_together": lambda i: httpx.Request(
                "GET", f"{api}/products/{products[i % len(products)]}", headers=auth),
            "similar": lambda i: httpx.Request(
                "GET", f"{api}/products/{products[i % len(products)]}?kind=similar",
                headers=auth),
            "customer": lambda i: httpx.Request(
                "GET", f"{api}/customers/{customers[i % len(customers)]}", headers=auth),
            "cart (3 items)": lambda i: httpx.Request(
                "POST", f"{api}/cart", headers=auth,
                json={"product_ids": [products[(i + k) % len(products)] for k in range(3)]}),
        }
        server = make_server(settings, "127.0.0.1", PORT,
                             [Route("/bench/bare", bare)])
        async with serving(server), httpx.AsyncClient(timeout=60) as client:
            results = {label: await timed(client, make, n_requests)
                       for label, make in calls.items()}
        baseline = results["bare endpoint"]
        print(f"{n_requests} requests per call, {CONCURRENCY} concurrent, demo store "
              f"({n_orders} orders, {len(customers)} customers)")
        for label, latencies in results.items():
            print(summary(label, latencies, baseline))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.requests))
