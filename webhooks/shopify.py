"""Shopify: delivery headers, HMAC check, order and product payloads, and the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from plugin.config import Secret
from plugin.shops import Shop, shop_by_domain
from webhooks import records
from webhooks.adapter import Context, Delivery
from webhooks.intake import fallback_delivery_id
from webhooks.order import (
    LineItem,
    Order,
    PayloadError,
    id_string,
    money,
    quantity,
    timestamp,
)
from webhooks.signatures import verify_base64_hmac

PLATFORM = "shopify"
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
PRODUCT_TOPICS = frozenset({"products/create", "products/update"})
PRODUCT_DELETE = "products/delete"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify header in either spelling: `X-Shopify-<name>` or the newer `shopify-<name>`."""
    return headers.get(f"x-shopify-{name}") or headers.get(f"shopify-{name}")


def verify(secrets: tuple[Secret, ...], body: bytes, headers: Mapping[str, str]) -> bool:
    """base64(HMAC-SHA256(app secret, raw body)) against `X-Shopify-Hmac-Sha256`."""
    return verify_base64_hmac(secrets, body, header(headers, "hmac-sha256"))


def check_payload(topic: str, payload: Any) -> None:
    """Refuse, at the door, a body the worker could never process (raises PayloadError)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    if topic in ORDER_TOPICS:
        parse_order(payload)
    elif topic in PRODUCT_TOPICS or topic == PRODUCT_DELETE:
        id_string(payload.get("id"), "id")


def parse_order(payload: dict[str, Any]) -> Order:
    """A Shopify REST order (the bare object of an orders/* webhook) as an internal Order."""
    if not isinstance(payload, dict):
        raise PayloadError("an order must be a JSON object")
    created_at = timestamp(payload.get("created_at"), "created_at")
    updated_raw = payload.get("updated_at") or payload.get("created_at")
    customer = payload.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise PayloadError("customer must be an object or null")
    line_items = payload.get("line_items")
    if not isinstance(line_items, list):
        raise PayloadError("line_items must be a list")
    return Order(
        order_id=str(id_string(payload.get("id"), "id")),
        customer_id=id_string(customer.get("id"), "customer.id", False) if customer else None,
        created_at=created_at,
        updated_at=timestamp(updated_raw, "updated_at"),
        cancelled=payload.get("cancelled_at") is not None,
        currency=str(payload.get("currency") or ""),
        total_price=money(payload.get("total_price", "0"), "total_price"),
        lines=tuple(_lines(line_items)),
    )


def _lines(line_items: list[Any]) -> list[LineItem]:
    lines = []
    for index, item in enumerate(line_items):
        field = f"line_items[{index}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{field} must be an object")
        product_id = id_string(item.get("product_id"), f"{field}.product_id", False)
        if product_id is None:  # a custom line (gift card, tip): nothing to recommend
            continue
        lines.append(
            LineItem(
                product_id=product_id,
                variant_id=id_string(item.get("variant_id"), f"{field}.variant_id", False),
                title=str(item.get("title") or ""),
                quantity=quantity(item.get("quantity"), f"{field}.quantity"),
                price=money(item.get("price", "0"), f"{field}.price"),
                line_id=id_string(item.get("id"), f"{field}.id", False),
            )
        )
    return lines


def parse_product(payload: dict[str, Any], storefront_url: str) -> dict[str, Any]:
    """Catalog fields of a Shopify REST product: title, url, image, price, availability."""
    if not isinstance(payload, dict):
        raise PayloadError("a product must be a JSON object")
    variants = [v for v in payload.get("variants") or [] if isinstance(v, dict)]
    images = [i for i in payload.get("images") or [] if isinstance(i, dict)]
    # `image` is the featured one; payloads without it (older API versions) list `images`
    image = payload.get("image") if isinstance(payload.get("image"), dict) else None
    image = image or (images[0] if images else None)
    handle = payload.get("handle")
    in_stock = any(
        v.get("inventory_quantity") is None or v.get("inventory_quantity", 0) > 0
        or v.get("inventory_policy") == "continue"
        for v in variants
    )
    return {
        "product_id": str(id_string(payload.get("id"), "id")),
        "title": str(payload.get("title") or ""),
        "url": f"{storefront_url}/products/{handle}" if handle else None,
        "image_url": image.get("src") if image else None,
        "price": money(variants[0].get("price", "0"), "variants[0].price") if variants else None,
        "available": payload.get("status", "active") == "active" and (in_stock or not variants),
    }


class ShopifyAdapter:
    """Shopify deliveries: shop by `X-Shopify-Shop-Domain`, dedupe on `X-Shopify-Webhook-Id`."""

    platform = PLATFORM

    async def find_shop(
        self, redis: aioredis.Redis, path_shop_id: str | None, headers: Mapping[str, str],
        body: bytes,
    ) -> Shop | None:
        return await shop_by_domain(redis, PLATFORM, header(headers, "shop-domain") or "")

    def shop_hint(
        self, path_shop_id: str | None, headers: Mapping[str, str], body: bytes
    ) -> str:
        return f"X-Shopify-Shop-Domain {header(headers, 'shop-domain') or ''!r}"

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        return False

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        return verify(shop.webhook_secrets, body, headers)

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        topic = header(headers, "topic")
        if not topic:
            raise PayloadError("the X-Shopify-Topic header is missing")
        return Delivery(
            topic=topic,
            delivery_id=header(headers, "webhook-id") or fallback_delivery_id(topic, body),
            triggered_at=header(headers, "triggered-at") or "",
            api_version=header(headers, "api-version") or "",
        )

    def check(self, topic: str, payload: Any) -> None:
        check_payload(topic, payload)

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        shop_id = context.shop.shop_id
        if topic in ORDER_TOPICS:
            await records.store_order(context.redis, shop_id, parse_order(payload))
        elif topic in PRODUCT_TOPICS:
            product = parse_product(payload, context.shop.storefront_url)
            await records.store_product(context.redis, shop_id, product)
        elif topic == PRODUCT_DELETE:
            await records.delete_product(context.redis, shop_id, str(payload["id"]))
        # other topics stay in the event stream, stored for the features that will use them


ADAPTER = ShopifyAdapter()
