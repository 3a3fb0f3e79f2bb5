"""The mixed traffic of bench/soak.py: one `Call` (request and the answer it must get) per draw,
in the proportions of `WEIGHTS`, against the trained demo shop "bench"."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from demo_shop import DemoShop  # bench/demo_shop.py (the script's folder)

from plugin.store.shops import Shop
from webhooks.signatures import hmac_sha256_base64
from widgets.placements import PLACEMENTS

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
VISITORS = 500  # distinct shopper addresses (X-Forwarded-For): the widget limit is per address
OVERSIZED_EXTRA = 1024  # bytes over the server's body limit

# Relative share of each kind of call, roughly a storefront's: widget calls (each placement
# gets WIDGET_WEIGHT) far more often than orders, so the shop grows about 2% a minute.
WEIGHTS: dict[str, float] = {
    "webhook new order": 1.5, "webhook duplicate": 0.5, "webhook cancellation": 0.3,
    "api bought_together": 5, "api similar": 5, "api customer": 5, "api cart": 5,
    "api trending": 3, "widget events": 8,
    "bad signature": 1, "bad malformed json": 1, "bad oversized body": 0.3,
    "bad unknown shop": 1,
}
WIDGET_WEIGHT = 3
PLACEMENT_NAMES = tuple(PLACEMENTS)


@dataclass(frozen=True)
class Delivery:
    """A signed webhook already answered: sent again as a duplicate, or its order cancelled."""

    webhook_id: str
    body: bytes
    order: dict[str, Any]


@dataclass(frozen=True)
class Call:
    kind: str
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    expect: int = 200
    expect_status: str | None = None  # the "status" of a webhook answer, if it is checked
    delivery: Delivery | None = None  # a new order: resent or cancelled once it is answered


class Traffic:
    """Draws calls; `answered` is told of each good answer (new orders become resendable)."""

    def __init__(self, base: str, demo: DemoShop, shop: Shop, max_body_bytes: int) -> None:
        self.base = base
        self.domain = shop.domain
        self.secret = shop.webhook_secrets[0].reveal().encode()
        self.widget_key = shop.widget_key
        self.auth = {"Authorization": f"Bearer {demo.api_key}"}
        self.products = [p.product_id for p in demo.store.products]
        self.prices = {p.product_id: p.price for p in demo.store.products}
        self.customers = demo.customers
        self.template = next(o for o in demo.store.orders if o["customer"])
        self.oversized = b"x" * (max_body_bytes + OVERSIZED_EXTRA)
        self.sent: deque[Delivery] = deque(maxlen=2000)  # bounded: the client must not grow
        self.ids = itertools.count(1)
        self.builders: dict[str, Callable[[str], Call]] = {
            "webhook new order": self.new_order, "webhook duplicate": self.duplicate,
            "webhook cancellation": self.cancellation, "api bought_together": self.api_product,
            "api similar": self.api_product, "api customer": self.api_customer,
            "api cart": self.api_cart, "api trending": self.api_trending,
            "widget events": self.widget_events, "bad signature": self.bad_signature,
            "bad malformed json": self.malformed_json, "bad oversized body": self.oversized_body,
            "bad unknown shop": self.unknown_shop,
            **{f"widget {p}": self.widget for p in PLACEMENTS},
        }
        weights = {**WEIGHTS, **{f"widget {p}": WIDGET_WEIGHT for p in PLACEMENTS}}
        self.kinds = list(weights)
        self.weights = [weights[k] for k in self.kinds]

    def draw(self) -> Call:
        kind = random.choices(self.kinds, self.weights)[0]
        return self.builders[kind](kind)

    def answered(self, call: Call) -> None:
        """The call got its expected answer."""
        if call.delivery is not None:
            self.sent.append(call.delivery)

    # --- webhooks -------------------------------------------------------------------------
    def signed(self, kind: str, topic: str, webhook_id: str, body: bytes, status: str,
               secret: bytes | None = None, domain: str | None = None, expect: int = 200
               ) -> Call:
        return Call(kind, "POST", f"{self.base}/webhooks/shopify", {
            "Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": domain or self.domain, "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret or self.secret, body),
        }, body, expect, status if expect == 200 else None)

    def order(self) -> dict[str, Any]:
        n = next(self.ids)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = [{"id": 19_000_000_000_000 + n * 10 + i, "product_id": int(p), "variant_id": None,
                  "title": f"product {p}", "quantity": random.randint(1, 3),
                  "price": self.prices[p], "sku": f"SKU-{p}"}
                 for i, p in enumerate(random.sample(self.products, random.randint(1, 4)))]
        customer = random.choice(self.customers) if random.random() < 0.9 else str(
            8_000_000_000_000 + n)
        return {**self.template, "id": 9_000_000_000_000 + n, "name": f"#S{n}",
                "order_number": 900_000 + n, "created_at": now, "updated_at": now,
                "processed_at": now, "cancelled_at": None, "line_items": lines,
                "customer": {**self.template["customer"], "id": int(customer)}}

    def new_order(self, kind: str) -> Call:
        order = self.order()
        webhook_id, body = f"soak-order-{order['id']}", json.dumps(order).encode()
        call = self.signed(kind, "orders/create", webhook_id, body, "accepted")
        return replace(call, delivery=Delivery(webhook_id, body, order))

    def duplicate(self, kind: str) -> Call:
        if not self.sent:
            return self.new_order("webhook new order")
        earlier = random.choice(self.sent)
        return self.signed(kind, "orders/create", earlier.webhook_id, earlier.body, "duplicate")

    def cancellation(self, kind: str) -> Call:
        if not self.sent:
            return self.new_order("webhook new order")
        earlier = self.sent.popleft()  # each order is cancelled once
        now = datetime.now(UTC).isoformat(timespec="seconds")
        order = {**earlier.order, "cancelled_at": now, "updated_at": now,
                 "cancel_reason": "customer"}
        return self.signed(kind, "orders/cancelled", f"soak-cancel-{order['id']}",
                           json.dumps(order).encode(), "accepted")

    def bad_signature(self, kind: str) -> Call:
        body = json.dumps(self.order()).encode()
        return self.signed(kind, "orders/create", f"soak-bad-{next(self.ids)}", body, "",
                           secret=b"not the shop's secret", expect=401)

    def malformed_json(self, kind: str) -> Call:
        body = json.dumps(self.order()).encode()[:-7]  # cut off: no longer JSON
        return self.signed(kind, "orders/create", f"soak-bad-{next(self.ids)}", body, "",
                           expect=400)

    def oversized_body(self, kind: str) -> Call:
        return self.signed(kind, "orders/create", f"soak-big-{next(self.ids)}", self.oversized,
                           "", expect=413)

    def unknown_shop(self, kind: str) -> Call:
        body = json.dumps(self.order()).encode()
        return self.signed(kind, "orders/create", f"soak-other-{next(self.ids)}", body, "",
                           domain="no-such-shop.myshopify.com", expect=404)

    # --- developer API --------------------------------------------------------------------
    @property
    def api(self) -> str:
        return f"{self.base}/api/v1/shops/bench/recommendations"

    def api_product(self, kind: str) -> Call:
        query = "?kind=similar" if kind == "api similar" else ""
        url = f"{self.api}/products/{random.choice(self.products)}{query}"
        return Call(kind, "GET", url, self.auth)

    def api_customer(self, kind: str) -> Call:
        return Call(kind, "GET", f"{self.api}/customers/{random.choice(self.customers)}",
                    self.auth)

    def api_cart(self, kind: str) -> Call:
        body = json.dumps({"product_ids": random.sample(self.products, 3)}).encode()
        return Call(kind, "POST", f"{self.api}/cart",
                    {**self.auth, "Content-Type": "application/json"}, body)

    def api_trending(self, kind: str) -> Call:
        return Call(kind, "GET", f"{self.api}/trending", self.auth)

    # --- widget -----------------------------------------------------------------------------
    def shopper(self) -> dict[str, str]:
        visitor = random.randrange(VISITORS)
        return {"User-Agent": BROWSER, "X-Forwarded-For": f"10.7.{visitor // 250}.{visitor % 250}"}

    def widget(self, kind: str) -> Call:
        placement = kind.removeprefix("widget ")
        cart = ",".join(random.sample(self.products, 2))
        url = (f"{self.base}/widgets/v1/recommendations?key={self.widget_key}"
               f"&placement={placement}&product_id={random.choice(self.products)}"
               f"&product_ids={cart}&customer_id={random.choice(self.customers)}")
        return Call(kind, "GET", url, self.shopper())

    def widget_events(self, kind: str) -> Call:
        now_ms = int(time.time() * 1000)
        events = [{"id": f"soak-{next(self.ids):010d}", "placement": random.choice(PLACEMENT_NAMES),
                   "type": random.choice(("impression", "impression", "click", "add_to_cart")),
                   "product_id": random.choice(self.products), "at": now_ms}
                  for _ in range(random.randint(1, 5))]
        body = json.dumps({"visitor_id": f"v{random.randrange(VISITORS)}",
                           "customer_id": None, "events": events}).encode()
        return Call(kind, "POST", f"{self.base}/widgets/v1/events?key={self.widget_key}",
                    {**self.shopper(), "Content-Type": "text/plain"}, body, 204)
