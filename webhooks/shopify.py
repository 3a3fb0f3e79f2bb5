"""Shopify: delivery headers, HMAC check, order and product payloads, and the adapter."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx

from plugin.config import Secret
from plugin.store import records
from plugin.store.events import fallback_delivery_id
from plugin.store.fields import (
    PayloadError,
    currency_code,
    display_text,
    http_url,
    id_string,
    money,
    quantity,
    timestamp,
)
from plugin.store.order import LineItem, Order
from plugin.store.shops import Shop
from plugin.web.body import decode_json
from webhooks import shopify_privacy
from webhooks.adapter import (
    Context,
    Delivery,
    PlatformAdapter,
    ShopInPath,
    ShopName,
    objects,
)
from webhooks.backfill import BackfillError, Page
from webhooks.http import FetchError, PlatformHttp
from webhooks.shopify_order import parse_order, parse_refund
from webhooks.signatures import verify_base64_hmac

PLATFORM = "shopify"
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
PRODUCT_TOPICS = frozenset({"products/create", "products/update"})
PRODUCT_DELETE = "products/delete"
REFUND_CREATE = "refunds/create"
APP_UNINSTALLED = "app/uninstalled"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify header in either spelling: `X-Shopify-<name>` or the newer `shopify-<name>`."""
    return headers.get(f"x-shopify-{name}") or headers.get(f"shopify-{name}")


def verify(secrets: tuple[Secret, ...], body: bytes, headers: Mapping[str, str]) -> bool:
    """base64(HMAC-SHA256(app secret, raw body)) against `X-Shopify-Hmac-Sha256`."""
    return verify_base64_hmac(secrets, body, header(headers, "hmac-sha256"))


def check_payload(topic: str, payload: Any) -> Order | None:
    """Refuse, at the door, a body the worker could never process (raises PayloadError); the
    order of an orders/* body."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    if topic in ORDER_TOPICS:
        return parse_order(payload)
    if topic in PRODUCT_TOPICS or topic == PRODUCT_DELETE:
        id_string(payload.get("id"), "id")
    elif topic == REFUND_CREATE:
        parse_refund(payload)
    elif topic in shopify_privacy.SHOPIFY_TOPICS:
        shopify_privacy.check_shopify(topic, payload)
    return None


def parse_product(payload: dict[str, Any], storefront_url: str) -> dict[str, Any]:
    """Catalog fields of a Shopify REST product: title, url, image, price, availability."""
    if not isinstance(payload, dict):
        raise PayloadError("a product must be a JSON object")
    variants = objects(payload.get("variants"))
    images = objects(payload.get("images"))
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
        "title": display_text(payload.get("title"), "title"),
        "url": http_url(f"{storefront_url}/products/{handle}")
        if isinstance(handle, str) and handle else None,
        "image_url": http_url(image.get("src")) if image else None,
        "price": money(variants[0].get("price", "0"), "variants[0].price") if variants else None,
        "available": payload.get("status", "active") == "active" and (in_stock or not variants),
        # what /cart/add.js takes: the first variant (the widget adds it to the cart)
        "variant_id": id_string(variants[0].get("id"), "variants[0].id", False)
        if variants else None,
    }


class ShopifyAdapter(PlatformAdapter):
    """Shopify deliveries: shop by `X-Shopify-Shop-Domain`, dedupe on `X-Shopify-Webhook-Id`."""

    platform = PLATFORM
    shop_in_path = ShopInPath.IGNORED

    def shop_name(self, headers: Mapping[str, str], body: bytes) -> ShopName:
        domain = header(headers, "shop-domain") or ""
        return ShopName(domain, f"X-Shopify-Shop-Domain {domain!r}")

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

    def check(self, topic: str, payload: Any) -> Order | None:
        return check_payload(topic, payload)

    def order_to_store(self, topic: str, payload: Any) -> Order | None:
        return parse_order(payload) if topic in ORDER_TOPICS else None

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        shop_id = context.shop.shop_id
        if topic in ORDER_TOPICS:
            await records.store_order(context.redis, shop_id, parse_order(payload))
        elif topic in PRODUCT_TOPICS:
            product = parse_product(payload, context.shop.storefront_url)
            await records.store_product(context.redis, shop_id, product,
                                        context.shop.storefront_url)
        elif topic == PRODUCT_DELETE:
            await records.delete_product(context.redis, shop_id, str(payload["id"]))
        elif topic == REFUND_CREATE:
            order_id, refunds = parse_refund(payload)
            await records.merge_refunds(context.redis, shop_id, order_id, refunds)
        elif topic == APP_UNINSTALLED:
            await records.mark_uninstalled(context.redis, shop_id, time.time())
        elif topic in shopify_privacy.SHOPIFY_TOPICS:
            await shopify_privacy.apply_shopify(context.redis, context.shop, topic, payload)
        # other topics stay in the event stream, stored for the features that will use them


ADAPTER = ShopifyAdapter()


# Backfill through the Admin REST API ------------------------------------------------------

API_VERSION = "2025-01"
PAGE_LIMIT = 250
log = logging.getLogger(__name__)


def admin_base(shop: Shop) -> str:
    """The Admin REST API root: the shop's `api_base`, else its myshopify domain's."""
    return shop.access.api_base.rstrip("/") or f"https://{shop.domain}/admin/api/{API_VERSION}"


async def backfill_pages(
    http: PlatformHttp, shop: Shop, cursor: str | None
) -> AsyncIterator[Page]:
    """Every order (any status), then every product, PAGE_LIMIT a page, following Shopify's
    `Link: <...page_info=...>; rel="next"` header.

    Cursors are "orders:<page_info>" and "products:<page_info>" ("products:" starts the
    products). Without the read_all_orders scope Shopify lists only the last 60 days.
    """
    token = shop.access.api_token.reveal()
    if not token:
        raise BackfillError(f"shop {shop.shop_id!r} has no Admin API access token; register "
                            "it with --api-token (scopes read_orders, read_products)")
    resource, _, page_info = (cursor or "orders:").partition(":")
    if resource not in ("orders", "products"):
        raise BackfillError(f"unknown backfill checkpoint {cursor!r}; run with --restart")
    admin = _Admin(http, shop, token)
    try:
        total = await admin.order_count()
        if resource == "orders":
            async for raw_orders, after in admin.pages("orders", page_info):
                yield Page(orders=_orders(raw_orders), total=total,
                           cursor=f"orders:{after}" if after else "products:")
            page_info = ""
        async for raw_products, after in admin.pages("products", page_info):
            products = _products(raw_products, shop.storefront_url)
            yield Page(orders=[], products=products, total=total,
                       cursor=f"products:{after}" if after else None)
    except FetchError as error:
        raise BackfillError(f"shopify backfill of shop {shop.shop_id!r} stopped: {error}; "
                            "run it again to continue after the last stored page") from None


class _Admin:
    def __init__(self, http: PlatformHttp, shop: Shop, token: str) -> None:
        self.http, self.shop_id, self.base = http, shop.shop_id, admin_base(shop)
        self.headers = {"X-Shopify-Access-Token": token, "Accept": "application/json"}

    async def order_count(self) -> int | None:
        response = await self._get("orders/count.json", {"status": "any"})
        count = decode_json(response.content).get("count")
        return count if isinstance(count, int) else None

    async def pages(
        self, resource: str, page_info: str
    ) -> AsyncIterator[tuple[list[Any], str | None]]:
        """(items, next page_info) per page; page_info "" starts at the first page."""
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT}
            if page_info:  # Shopify refuses filters beside page_info: they are in the cursor
                params["page_info"] = page_info
            elif resource == "orders":
                params["status"] = "any"
            response = await self._get(f"{resource}.json", params)
            items = decode_json(response.content).get(resource)
            if not isinstance(items, list):
                raise FetchError(f"GET {self.base}/{resource}.json answered without {resource!r}")
            after = _next_page_info(response)
            yield items, after
            if after is None:
                return
            page_info = after

    async def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        return await self.http.request(self.shop_id, "GET", f"{self.base}/{path}",
                                       params=params, headers=self.headers)


def _next_page_info(response: httpx.Response) -> str | None:
    url = response.links.get("next", {}).get("url")
    return httpx.URL(url).params.get("page_info") if url else None


def _orders(raw_orders: list[Any]) -> list[Order]:
    orders = []
    for raw in raw_orders:
        try:
            orders.append(parse_order(raw))
        except PayloadError as error:  # one odd order must not stop the history
            log.warning("shopify backfill: skipped order %r: %s",
                        raw.get("id") if isinstance(raw, dict) else None, error)
    return orders


def _products(raw_products: list[Any], storefront_url: str) -> list[dict[str, Any]]:
    products = []
    for raw in raw_products:
        try:
            products.append(parse_product(raw, storefront_url))
        except PayloadError as error:
            log.warning("shopify backfill: skipped product: %s", error)
    return products


# Bulk operations (GraphQL) ------------------------------------------------------------------

# The query whose JSONL result parse_bulk_jsonl reads. Refunds are not part of it: an order
# whose financial status is REFUNDED or VOIDED, or that was cancelled, counts for nothing.
BULK_ORDERS_QUERY = """
{
  orders {
    edges { node {
      id createdAt updatedAt cancelledAt displayFinancialStatus currencyCode
      totalPriceSet { shopMoney { amount } }
      customer { id }
      lineItems { edges { node {
        id title quantity
        product { id }
        variant { id }
        originalUnitPriceSet { shopMoney { amount } }
      } } }
    } }
  }
}
"""
_VOID_STATUSES = frozenset({"REFUNDED", "VOIDED"})


def parse_bulk_jsonl(lines: Iterable[str | bytes]) -> list[Order]:
    """Orders of a bulk-operation result of BULK_ORDERS_QUERY: one JSON object a line; a line
    item is a line of its own that names its order by `__parentId`."""
    orders: dict[str, dict[str, Any]] = {}
    children: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            node = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PayloadError(f"line {number} is not JSON ({error})") from None
        if not isinstance(node, dict):
            raise PayloadError(f"line {number} must be a JSON object")
        if "__parentId" in node:
            children.append((number, node))
        else:
            orders[str(node.get("id"))] = {**node, "lineItems": []}
    for number, child in children:
        parent = orders.get(str(child["__parentId"]))
        if parent is None:
            raise PayloadError(f"line {number}: __parentId {child['__parentId']!r} names no "
                               "order of the file")
        parent["lineItems"].append(child)
    return [_bulk_order(node) for node in orders.values()]


def _bulk_order(node: dict[str, Any]) -> Order:
    order_id = gid_number(node.get("id"), "id")
    field = f"order {order_id}"
    customer = node.get("customer")
    status = node.get("displayFinancialStatus")
    return Order(
        order_id=order_id,
        customer_id=gid_number(customer.get("id"), f"{field}.customer.id")
        if isinstance(customer, dict) else None,
        created_at=timestamp(node.get("createdAt"), f"{field}.createdAt"),
        updated_at=timestamp(node.get("updatedAt") or node.get("createdAt"),
                             f"{field}.updatedAt"),
        cancelled=node.get("cancelledAt") is not None or status in _VOID_STATUSES,
        currency=currency_code(node.get("currencyCode"), f"{field}.currencyCode"),
        total_price=money(_shop_money(node.get("totalPriceSet")), f"{field}.totalPriceSet"),
        lines=tuple(line for index, item in enumerate(node["lineItems"])
                    if (line := _bulk_line(item, f"{field}.lineItems[{index}]")) is not None),
    )


def _bulk_line(node: dict[str, Any], field: str) -> LineItem | None:
    product, variant = node.get("product"), node.get("variant")
    if not isinstance(product, dict):  # custom line or a deleted product
        return None
    return LineItem(
        product_id=gid_number(product.get("id"), f"{field}.product.id"),
        variant_id=gid_number(variant.get("id"), f"{field}.variant.id")
        if isinstance(variant, dict) else None,
        title=display_text(node.get("title"), f"{field}.title"),
        quantity=quantity(node.get("quantity"), f"{field}.quantity"),
        price=money(_shop_money(node.get("originalUnitPriceSet")),
                    f"{field}.originalUnitPriceSet"),
        line_id=gid_number(node.get("id"), f"{field}.id"),
    )


def gid_number(value: Any, field: str) -> str:
    """The id of a GraphQL global id: "gid://shopify/Order/450789469" -> "450789469"."""
    if not isinstance(value, str) or not value.startswith("gid://shopify/"):
        raise PayloadError(f"{field} must be a gid://shopify/... id, got {value!r}")
    return value.rsplit("/", 1)[1].split("?", 1)[0]


def _shop_money(money_set: Any) -> Any:
    if isinstance(money_set, dict) and isinstance(money_set.get("shopMoney"), dict):
        return money_set["shopMoney"].get("amount", "0")
    return "0"
