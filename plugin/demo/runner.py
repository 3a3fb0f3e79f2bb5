"""`shopreco demo`: the plugin on the embedded Redis with a synthetic shop, replayed as
signed Shopify webhooks through the real HTTP endpoint, trained, and a storefront to look at."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
import uuid
from dataclasses import replace
from typing import Any

import httpx
import redis.asyncio as aioredis

from plugin.admin.sessions import login_link
from plugin.config import Settings
from plugin.demo.connect_demo import PAGE as CONNECT_PAGE
from plugin.demo.connect_demo import demo_connect_routes, with_fake_platforms
from plugin.demo.experiment import WIDGET_RATE_PER_MINUTE, demo_experiment
from plugin.demo.shopify_install import (
    ADMIN_PAGE,
    INSTALL_PAGE,
    demo_shopify_routes,
    with_fake_shopify,
)
from plugin.demo.store import DemoStore, generate_store, shopify_product_payload
from plugin.demo.storefront import storefront_routes
from plugin.progress import Progress
from plugin.server import make_server, serving
from plugin.store.connection import open_redis
from plugin.store.shops import Shop, add_shop, get_shop, issue_api_key, set_storefront_url
from webhooks.signatures import hmac_sha256_base64

DEMO_SHOP = "demo"
CONCURRENCY = 16


async def ensure_demo_shop(
    redis: aioredis.Redis, store: DemoStore, public_url: str
) -> tuple[Shop, str]:
    """The demo shop (created on first run) with a fresh API key and today's storefront URL."""
    shop = await get_shop(redis, DEMO_SHOP)
    if shop is None:
        new = await add_shop(redis, DEMO_SHOP, "shopify", store.shop_domain, public_url,
                             storefront_url=f"{public_url}/demo", currency=store.currency)
        return new.shop, new.api_key
    await set_storefront_url(redis, DEMO_SHOP, f"{public_url}/demo")
    shop = await get_shop(redis, DEMO_SHOP)
    assert shop is not None
    return shop, await issue_api_key(redis, DEMO_SHOP)


def checkout_order(store: DemoStore, customer_id: str, product_ids: list[str],
                   now: float | None = None) -> dict[str, Any]:
    """The order the storefront's "Place order" sends: one of each product in the cart, paid,
    in the shop's currency, as Shopify's orders/create body."""
    at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
    order_id = int((time.time() if now is None else now) * 1000)
    by_id = {p.product_id: p for p in store.products}
    lines = [{"id": order_id * 100 + n, "product_id": int(pid), "variant_id": int(pid) * 10 + 1,
              "quantity": 1, "price": by_id[pid].price, "title": by_id[pid].title,
              "sku": None} for n, pid in enumerate(product_ids) if pid in by_id]
    total = sum(float(by_id[pid].price) for pid in product_ids if pid in by_id)
    return {"id": order_id, "created_at": at, "updated_at": at, "cancelled_at": None,
            "financial_status": "paid", "currency": store.currency,
            "total_price": f"{total:.2f}", "customer": {"id": int(customer_id)}
            if customer_id.isdigit() else {"id": customer_id}, "line_items": lines,
            "refunds": []}


def deliveries(store: DemoStore, public_url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(topic, webhook id, body) in the order a live shop would have sent them."""
    site = hashlib.sha256(public_url.encode()).hexdigest()[:8]
    out = [("products/create", f"demo-product-{p.product_id}-{site}",
            shopify_product_payload(p, public_url)) for p in store.products]
    for order in store.orders:
        if order["cancelled_at"] is None:
            out.append(("orders/create", f"demo-order-{order['id']}", order))
            continue
        placed = {**order, "cancelled_at": None, "financial_status": "paid",
                  "updated_at": order["created_at"]}
        out.append(("orders/create", f"demo-order-{order['id']}", placed))
        out.append(("orders/cancelled", f"demo-cancel-{order['id']}", order))
    return out


async def replay(
    client: httpx.AsyncClient, shop: Shop, items: list[tuple[str, str, dict[str, Any]]],
    quiet: bool = False,
) -> dict[str, int]:
    """POST every delivery, signed like Shopify signs it; count the answers."""
    secret = shop.webhook_secrets[0].reveal().encode()
    progress = Progress("replaying webhooks", len(items), quiet=quiet)
    counts: dict[str, int] = {}
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def sender() -> None:
        while not queue.empty():
            topic, webhook_id, payload = queue.get_nowait()
            body = json.dumps(payload).encode()
            response = await client.post("/webhooks/shopify", content=body, headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": shop.domain,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret, body),
            })
            status = response.json().get("status", str(response.status_code))
            counts[status] = counts.get(status, 0) + 1
            progress.step()

    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    counts["seconds"] = round(progress.finish(), 2)  # type: ignore[assignment]
    return counts


async def train(client: httpx.AsyncClient, api_key: str) -> dict[str, Any]:
    sys.stderr.write("  training the model (ALS + co-purchase) ...\n")
    response = await client.post(
        f"/api/v1/shops/{DEMO_SHOP}/model/train", params={"wait": "true"},
        headers={"Authorization": f"Bearer {api_key}"}, timeout=600,
    )
    response.raise_for_status()
    return dict(response.json())


async def check(client: httpx.AsyncClient, api_key: str, store: DemoStore) -> dict[str, Any]:
    first, second = store.always_together
    response = await client.get(
        f"/api/v1/shops/{DEMO_SHOP}/recommendations/products/{first}",
        params={"kind": "bought_together", "limit": 3},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    response.raise_for_status()
    body = dict(response.json())
    top = body["items"][0]["product_id"] if body["items"] else None
    body["pair_found"] = top == second
    return body


def banner(public_url: str, api_key: str, store: DemoStore, trained: dict[str, Any],
           shopify_install: bool = False, admin_link: str = "") -> str:
    first = store.always_together[0]
    install = (f"""
  Install on Shopify (a local stand-in for Shopify: its consent page, then the install,
    the import's progress and the new shop's API key):  {public_url}{INSTALL_PAGE}
  Then open it from the Shopify admin (signs in to that shop's dashboard with Shopify's
    session token, no link needed):  {public_url}{ADMIN_PAGE}
""" if shopify_install else "")
    meta = trained["model"]
    return f"""
  shopreco demo is running.

  Storefront (product and cart pages with the widget):  {public_url}/demo/
  The shop owner's dashboard (a one-time sign-in link, valid for a day):
    {admin_link}
    (Experiments: simulated shoppers test the bundle widget against none, done in a minute)
  A product page:  {public_url}/demo/products/{store.products[0].handle}
  Model {trained['model_version']} ({meta['strategy']}): learned from {meta['orders']} orders
    (of the {len(store.orders)} generated: cancelled and fully refunded orders do not count),
    {meta['customers']} customers, {meta['products']} products; trained in
    {meta['train_seconds']} s

  Try the API:
    curl -H 'Authorization: Bearer {api_key}' \\
      '{public_url}/api/v1/shops/{DEMO_SHOP}/recommendations/products/{first}?kind=bought_together&limit=4'
  The API's reference (every call; Authorize with the key above to try them):
    {public_url}/api/docs   (API keys with scopes: the dashboard's API keys page)

{install}
  Connect a WooCommerce, BigCommerce or Ecwid shop in one click (local stand-ins for the
    three platforms, each with a demo store):  {public_url}{CONNECT_PAGE}

  Ctrl-C stops it. The data stays in the data folder; run the demo again to reuse it.
"""


async def run_demo(
    settings: Settings, host: str, port: int, n_orders: int, seed: int, exit_after_setup: bool
) -> int:
    public_url = f"http://{host}:{port}"
    settings = with_fake_shopify(replace(settings, public_url=public_url), public_url)
    settings = with_fake_platforms(settings, public_url)
    settings = replace(settings, widget_rate_per_minute=WIDGET_RATE_PER_MINUTE)  # shoppers
    sys.stderr.write(f"  generating the demo store ({n_orders} orders) ...\n")
    store = generate_store(seed=seed, n_orders=n_orders)
    async with open_redis(settings) as redis:
        shop, api_key = await ensure_demo_shop(redis, store, public_url)
        admin_link = await login_link(redis, public_url, DEMO_SHOP, minutes=24 * 60)
    async def place_order(customer_id: str, product_ids: list[str]) -> None:
        async with httpx.AsyncClient(base_url=public_url, timeout=30) as client:
            await replay(client, shop, [("orders/create", f"demo-checkout-{uuid.uuid4()}",
                                         checkout_order(store, customer_id, product_ids))],
                         quiet=True)

    routes = [*storefront_routes(store, shop.widget_key, public_url, place_order),
              *demo_shopify_routes(settings, store, public_url),
              *demo_connect_routes(settings, public_url)]
    server = make_server(settings, host, port, routes)
    async with serving(server), httpx.AsyncClient(base_url=public_url, timeout=60) as client:
        counts = await replay(client, shop, deliveries(store, public_url))
        sys.stderr.write(f"  webhooks answered: {counts}\n")
        trained = await train(client, api_key)
        result = await check(client, api_key, store)
        verdict = "first" if result["pair_found"] else "NOT first"
        sys.stderr.write(f"  check: the always-bought-together product comes back {verdict}\n")
        if not exit_after_setup:  # simulated shoppers run an experiment meanwhile
            await demo_experiment(client, api_key, shop.widget_key,
                                  [p.product_id for p in store.products], place_order)
        print(banner(public_url, api_key, store, trained, any(
            getattr(r, "path", "") == INSTALL_PAGE for r in routes), admin_link), flush=True)
        if exit_after_setup:
            return 0 if result["pair_found"] else 1
        while not server.should_exit:
            await asyncio.sleep(0.5)
    return 0
