"""Helpers shared by the tests: signing webhooks like Shopify does, building orders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

from plugin.store.experiments import Experiment, arm_index
from plugin.store.shops import NewShop

T = TypeVar("T")

# ../shared/data beside the project checkout (the data is never copied into the project)
SHARED_DATA = Path(
    os.environ.get("SHOPRECO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_headers(
    domain: str, secret: str, body: bytes, topic: str = "orders/create",
    webhook_id: str | None = None, prefix: str = "X-Shopify-",
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        f"{prefix}Topic": topic,
        f"{prefix}Shop-Domain": domain,
        f"{prefix}Hmac-Sha256": shopify_signature(secret, body),
        f"{prefix}Webhook-Id": webhook_id or str(uuid.uuid4()),
        f"{prefix}API-Version": "2025-01",
    }


def order_payload(
    order_id: int, customer_id: int | None, product_ids: list[int],
    created_at: str = "2025-03-01T10:00:00+01:00", updated_at: str | None = None,
    cancelled_at: str | None = None, quantity: int = 1,
) -> dict[str, Any]:
    lines = [
        {"id": order_id * 100 + i, "product_id": pid, "variant_id": pid * 10 + 1,
         "title": f"Product {pid}", "quantity": quantity, "price": "10.00", "sku": f"SKU-{pid}"}
        for i, pid in enumerate(product_ids)
    ]
    return {
        "id": order_id,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
        "cancelled_at": cancelled_at,
        "financial_status": "voided" if cancelled_at else "paid",
        "currency": "EUR",
        "total_price": f"{10 * quantity * len(product_ids):.2f}",
        "customer": None if customer_id is None else {"id": customer_id},
        "line_items": lines,
    }


def bundle_orders(customers: int = 120, seed: int = 3) -> list[dict[str, Any]]:
    """Customers each buying from one of 5 bundles of products (101-103, 104-106, ...), 3
    orders each over 90 days of 2025: history enough for the per-shop choice to validate."""
    rng = np.random.default_rng(seed)
    orders = []
    for c in range(customers):
        bundle = 101 + 3 * int(rng.integers(0, 5))
        for n in range(3):
            day = int(rng.integers(0, 90))
            stamp = f"2025-{1 + day // 30:02d}-{1 + day % 28:02d}T10:00:00Z"
            orders.append(order_payload(10_000 + 10 * c + n, c + 1,
                                        [bundle, bundle + 1 + n % 2], created_at=stamp))
    return orders


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


# ---- the JSON API as a test client calls it --------------------------------------------------


def auth(shop: NewShop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.api_key}"}


def send_orders(http: httpx.Client, shop: NewShop, orders: list[dict]) -> None:
    secret = shop.shop.webhook_secrets[0].reveal()
    for order in orders:
        body = body_of(order)
        response = http.post("/webhooks/shopify", content=body,
                             headers=shopify_headers(shop.shop.domain, secret, body))
        assert response.status_code == 200, response.text


def train(http: httpx.Client, shop: NewShop) -> httpx.Response:
    return http.post(f"/api/v1/shops/{shop.shop.shop_id}/model/train", params={"wait": "true"},
                     headers=auth(shop))


def eventually(check: Callable[[], T], timeout: float = 15.0) -> T:
    """`check()`'s value once it stops failing an assertion: a change reaches a server's
    cache within plugin.store.cache.REFRESH_SECONDS, later on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def visitor_in(experiment: Experiment, arm: int, prefix: str = "visitor-", start: int = 0) -> str:
    """The first visitor id `prefix` + a number (from `start`) whose unit falls in arm `arm`
    (arms follow a hash of the experiment's random id: a fixed set of visitors can miss one)."""
    return next(f"{prefix}{n}" for n in range(start, 10_000)
                if arm_index(experiment, f"v:{prefix}{n}") == arm)
