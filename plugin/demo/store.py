"""A deterministic synthetic online store (catalog + order history) to demo the recommender.

Everything here is a pure function of its arguments: no I/O, no global state, and a given
``seed`` (with an explicit ``end``) always produces exactly the same store.

The store is built to have structure a recommender can learn:

* seven categories with distinct price ranges and a long-tailed (Zipf-like) popularity;
* complement groups (dripper + filters + beans, teapot + loose tea + infuser, ...) that
  baskets are mostly drawn from;
* one pair of products (the pour-over dripper and its paper filters) that are almost always
  bought together;
* returning customers with a stable taste profile, and consumables re-bought on a cycle;
* mild seasonality (November/December peak), a weekly and a daily rhythm.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from plugin.demo.artwork import SVG_MAX_BYTES, render_product_svg, slugify
from plugin.demo.assortment import FIRST_PRODUCT_ID, Catalog, build_items, popularity
from plugin.demo.catalog import DemoProduct, catalog_size
from plugin.demo.clock import (
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    Clock,
    as_utc,
    default_end,
    months_before,
)
from plugin.demo.customers import PAIR_COMPLETION, RETURNING_SHARE
from plugin.demo.orders import (
    CANCELLED_SHARE,
    CURRENCY,
    CUSTOMER_ID_BASE,
    CUSTOMERS_PER_ORDER,
    FIRST_ORDER_NUMBER,
    GUEST_SHARE,
    LINE_ITEM_ID_BASE,
    ORDER_ID_BASE,
    generate_orders,
)

__all__ = [
    "CANCELLED_SHARE",
    "CATALOG_CREATED_AT",
    "CURRENCY",
    "CUSTOMERS_PER_ORDER",
    "CUSTOMER_ID_BASE",
    "FIRST_ORDER_NUMBER",
    "FIRST_PRODUCT_ID",
    "GUEST_SHARE",
    "LINE_ITEM_ID_BASE",
    "ORDER_ID_BASE",
    "PAIR_COMPLETION",
    "RETURNING_SHARE",
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "SHOP_DOMAIN",
    "SVG_MAX_BYTES",
    "DemoProduct",
    "DemoStore",
    "catalog_size",
    "generate_store",
    "render_product_svg",
    "shopify_product_payload",
    "slugify",
]

SHOP_DOMAIN = "demo-store.myshopify.com"
CATALOG_CREATED_AT = "2024-01-15T09:00:00+01:00"


@dataclass(frozen=True)
class DemoStore:
    shop_domain: str
    currency: str
    products: list[DemoProduct]
    orders: list[dict[str, Any]]
    always_together: tuple[str, str]


def generate_store(
    seed: int = 7,
    n_orders: int = 6000,
    months: int = 14,
    n_products: int = 120,
    end: datetime | None = None,
) -> DemoStore:
    """A synthetic store: ``n_products`` products and ``n_orders`` orders over ``months``
    months up to ``end`` (default: now, UTC, rounded down to the hour). Deterministic for a
    given ``seed`` and ``end``."""
    if not 2 <= n_products <= catalog_size():
        raise ValueError(f"n_products must be between 2 and {catalog_size()}, got {n_products}")
    if n_orders < 1 or months < 1:
        raise ValueError("n_orders and months must be positive")
    end_utc = as_utc(end) if end is not None else default_end()
    rng = np.random.default_rng(seed)
    items = build_items(rng, n_products)
    catalog = Catalog(items, popularity(rng, len(items)))
    clock = Clock(rng, months_before(end_utc, months), end_utc)
    products = [item.product for item in items]
    return DemoStore(
        shop_domain=SHOP_DOMAIN,
        currency=CURRENCY,
        products=products,
        orders=generate_orders(rng, catalog, clock, n_orders),
        always_together=(products[0].product_id, products[1].product_id),
    )


def shopify_product_payload(
    product: DemoProduct, base_url: str, created_at: str = CATALOG_CREATED_AT
) -> dict[str, Any]:
    """``product`` as the body of a Shopify ``products/create`` webhook (REST product object)."""
    product_id = int(product.product_id)
    image_src = f"{base_url.rstrip('/')}/demo/images/{product.product_id}.svg"

    def image() -> dict[str, Any]:
        return {
            "id": product_id * 10 + 2,
            "product_id": product_id,
            "position": 1,
            "src": image_src,
            "alt": product.title,
            "width": 400,
            "height": 400,
        }

    return {
        "id": product_id,
        "title": product.title,
        "handle": product.handle,
        "body_html": f"<p>{html.escape(product.title)}</p>",
        "vendor": "Demo Store",
        "product_type": product.category,
        "status": "active",
        "tags": product.category.lower(),
        "created_at": created_at,
        "updated_at": created_at,
        "published_at": created_at,
        "variants": [
            {
                "id": product_id * 10 + 1,
                "product_id": product_id,
                "title": "Default Title",
                "price": product.price,
                "sku": f"SKU-{product.product_id}",
                "position": 1,
                "inventory_quantity": 25,
                "inventory_policy": "deny",
            }
        ],
        "image": image(),
        "images": [image()],
    }
