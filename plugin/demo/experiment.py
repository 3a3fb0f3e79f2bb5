"""The demo's experiment: the bundle widget against no widget on product pages, run by a few
thousand simulated shoppers through the real endpoints (the widget's answer, its events,
signed order webhooks) in the demo's first minute or two, then stopped, so the dashboard's
Experiments page shows one running, then its results.

Each shopper opens a product page: the widget answers with its arm; shown products send
their impressions, a shopper clicks the first with CLICK_CHANCE, and orders with
CLICKED_CONVERSION after a click, BASE_CONVERSION otherwise (in the no-widget arm too). So
the widget lifts conversion by about 60% here: a made-up shop, not a promise. A shopper who
orders signs in first (the events name their customer id), so the order counts for their arm.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

PLACEMENT = "bundle"
NAME = "Bundle widget against none (simulated shoppers)"
ARMS = [{"name": "no widget", "strategy": "holdout", "share": 50},
        {"name": "widget", "strategy": "chosen", "share": 50}]
SHOPPERS = 3000
CLICK_CHANCE = 0.15
BASE_CONVERSION = 0.05
CLICKED_CONVERSION = 0.25
CONCURRENCY = 16
CUSTOMER_ID_BASE = 9_100_000_000  # simulated customers' ids: apart from the demo store's
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")  # the events of bots are not counted
WIDGET_RATE_PER_MINUTE = 1_000_000  # the shoppers all come from this machine's address

PlaceOrder = Callable[[str, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Shopper:
    """One simulated visit, its chances drawn beforehand (the same for a seed)."""

    visitor_id: str
    customer_id: str
    page: str  # the product page's product
    click_roll: float
    order_roll: float


@dataclass
class Truth:
    """What the shoppers really did, per arm: visitors, impressions, clicks, orders."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    orders: list[tuple[str, list[str]]] = field(default_factory=list)  # (customer, products)

    def add(self, arm: str, **counted: int) -> None:
        self.counts.setdefault(arm, Counter()).update(counted)


def conversion(clicked: bool) -> float:
    return CLICKED_CONVERSION if clicked else BASE_CONVERSION


def shoppers(pages: Sequence[str], n: int, seed: int) -> list[Shopper]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    first = CUSTOMER_ID_BASE + 10_000 * rng.randrange(10_000)  # up to 10,000 shoppers a run
    return [Shopper(f"sim-{run}-{k}", str(first + k), rng.choice(pages), rng.random(),
                    rng.random()) for k in range(n)]


def event(kind: str, product_id: str, tags: dict[str, str], placement: str | None
          ) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "type": kind, "placement": placement,
            "product_id": product_id, "at": int(time.time() * 1000), **tags}


async def visit(client: httpx.AsyncClient, widget_key: str, placement: str, shopper: Shopper,
                truth: Truth, chance: Callable[[bool], float] = conversion) -> None:
    """One shopper: the widget's answer, the events the page sends, an order to place."""
    headers = {"User-Agent": BROWSER}
    answer = await client.get("/widgets/v1/recommendations", headers=headers, params={
        "key": widget_key, "placement": placement, "product_id": shopper.page, "limit": "4",
        "visitor_id": shopper.visitor_id})
    answer.raise_for_status()
    body = answer.json()
    arm = body.get("arm", "")
    tags = {"experiment": body["experiment"], "arm": arm} if arm else {}
    items = [item["product_id"] for item in body["items"]]
    events = [event("impression", item, tags, placement) for item in items]
    clicked = bool(items) and shopper.click_roll < CLICK_CHANCE
    if clicked:
        events.append(event("click", items[0], tags, placement))
    ordered = shopper.order_roll < chance(clicked)
    if ordered:  # signed in to check out: the page's view names the customer
        events.append(event("product_view", shopper.page, {}, None))
    if events:
        sent = await client.post("/widgets/v1/events", params={"key": widget_key}, headers={
            **headers, "Content-Type": "text/plain"}, json={
            "visitor_id": shopper.visitor_id, "events": events,
            "customer_id": shopper.customer_id if ordered else None})
        sent.raise_for_status()
    truth.add(arm, visitors=1, impressions=len(items), clicks=int(clicked), orders=int(ordered))
    if ordered:
        truth.orders.append((shopper.customer_id,
                             [shopper.page, *([items[0]] if clicked else [])]))


async def simulate(client: httpx.AsyncClient, widget_key: str, placement: str,
                   visitors: Sequence[Shopper], place_order: PlaceOrder,
                   chance: Callable[[bool], float] = conversion) -> Truth:
    """Every shopper's visit (CONCURRENCY at a time), then their orders one by one (a
    storefront's checkout: each a signed order webhook)."""
    truth = Truth()
    waiting: asyncio.Queue[Shopper] = asyncio.Queue()
    for shopper in visitors:
        waiting.put_nowait(shopper)

    async def worker() -> None:
        while not waiting.empty():
            await visit(client, widget_key, placement, waiting.get_nowait(), truth, chance)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    for customer_id, products in truth.orders:
        await place_order(customer_id, products)
    return truth


async def wait_for_orders(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                          orders: int, timeout: float = 120.0) -> dict[str, Any]:
    """The experiment once its results count `orders` orders (webhooks are stored by a
    worker moments after they are answered)."""
    deadline = time.monotonic() + timeout
    while True:
        found = (await client.get(path, headers=headers)).json()
        counted = sum(arm["orders"] for arm in found["results"]["arms"])
        if counted >= orders or time.monotonic() > deadline:
            return dict(found)
        await asyncio.sleep(0.2)


async def demo_experiment(client: httpx.AsyncClient, api_key: str, widget_key: str,
                          pages: Sequence[str], place_order: PlaceOrder, seed: int = 7,
                          n: int = SHOPPERS, shop_id: str = "demo"
                          ) -> asyncio.Task[dict[str, Any]] | None:
    """The demo shop's experiment, the first time: made and started through the API, then
    run by `n` shoppers and stopped in the background (a minute or so: the dashboard shows
    it running, then its results); the task that does it. Later runs keep the one made (one
    an earlier demo left running is stopped) and return None."""
    headers = {"Authorization": f"Bearer {api_key}"}
    base = f"/api/v1/shops/{shop_id}/experiments"
    listed = (await client.get(base, headers=headers)).json()["experiments"]
    made = next((e for e in listed if e["name"] == NAME), None)
    if made is not None:
        if made["status"] == "running":
            await client.post(f"{base}/{made['id']}/stop", headers=headers)
        return None
    answer = await client.post(base, headers=headers, json={
        "name": NAME, "placement": PLACEMENT, "arms": ARMS})
    answer.raise_for_status()
    path = f"{base}/{answer.json()['id']}"
    (await client.post(f"{path}/start", headers=headers)).raise_for_status()
    task = asyncio.ensure_future(run_experiment(
        str(client.base_url), headers, path, widget_key, shoppers(pages, n, seed), place_order))
    _RUNS.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(_finished)
    return task


_RUNS: set[asyncio.Task[dict[str, Any]]] = set()


def _finished(task: asyncio.Task[dict[str, Any]]) -> None:
    _RUNS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        sys.stderr.write(f"  the demo's experiment stopped short: {task.exception()!r}\n")


async def run_experiment(base_url: str, headers: dict[str, str], path: str, widget_key: str,
                         visitors: Sequence[Shopper], place_order: PlaceOrder
                         ) -> dict[str, Any]:
    """Run a started experiment with `visitors`, wait for their orders to count, stop it;
    the stopped experiment (its verdicts also on standard error)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        truth = await simulate(client, widget_key, PLACEMENT, visitors, place_order)
        await wait_for_orders(client, path, headers, len(truth.orders))
        stopped = await client.post(f"{path}/stop", headers=headers)
        stopped.raise_for_status()
    found = dict(stopped.json())
    sys.stderr.write(f"  experiment done: {len(visitors)} simulated shoppers, the bundle "
                     f"widget against none: {' '.join(found['results']['verdicts'])}\n")
    return found
