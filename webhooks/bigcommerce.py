"""BigCommerce: Standard Webhooks deliveries naming an order or product, fetched from the API.

The body (`{scope, store_id, data{type, id}, hash, created_at, producer}`) is signed with the
app's client secret; `hash` is the same on every redelivery and is the dedupe key. Orders come
from the V2 API (order and its products), products from the V3 catalog.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote

from plugin.config import Secret
from plugin.store import records
from plugin.store.fields import (
    PayloadError,
    currency_code,
    display_text,
    http_url,
    id_string,
    money,
    quantity,
)
from plugin.store.order import LineItem, Order, Refund
from plugin.store.shops import Shop
from plugin.web.body import decode_json
from webhooks import standard_webhooks
from webhooks.adapter import (
    Context,
    Delivery,
    PlatformAdapter,
    ShopName,
    json_object,
    nonzero_id,
    objects,
    product_lines,
)
from webhooks.backfill import BackfillError, Page
from webhooks.http import PlatformHttp

PLATFORM = "bigcommerce"
DEFAULT_API_ROOT = "https://api.bigcommerce.com/stores/{store_hash}"
ORDER_SCOPES = frozenset({
    "store/order/created", "store/order/updated", "store/order/statusUpdated",
    "store/order/refund/created",
})
ORDER_ARCHIVED = "store/order/archived"
PRODUCT_SCOPES = frozenset({"store/product/created", "store/product/updated"})
PRODUCT_DELETED = "store/product/deleted"
# Shipped, Partially Shipped, Awaiting Pickup, Awaiting Shipment, Completed, Awaiting
# Fulfillment, Partially Refunded. Not: Incomplete 0, Pending 1, Refunded 4, Cancelled 5,
# Declined 6, Awaiting Payment 7, Manual Verification Required 12, Disputed 13.
COUNTING_STATUS_IDS = frozenset({2, 3, 8, 9, 10, 11, 14})
PAGE_SIZE = 250  # the most the V2 list endpoints return per request


def verify(
    secrets: tuple[Secret, ...], headers: Mapping[str, str], body: bytes,
    now: float | None = None,
) -> bool:
    """Standard Webhooks: a fresh `webhook-timestamp` and a `v1,` signature by the secret."""
    return standard_webhooks.verify(secrets, headers, body, now=now)


def store_hash_of(payload: Mapping[str, Any]) -> str | None:
    """The store hash in `producer: "stores/{store_hash}"`, if there is one."""
    producer = payload.get("producer")
    if not isinstance(producer, str) or not producer.startswith("stores/"):
        return None
    return producer[len("stores/"):] or None


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise PayloadError("data must be an object with type and id")
    return data


def entity_id(payload: Mapping[str, Any]) -> str:
    return str(id_string(_data(payload).get("id"), "data.id"))


def check_event(payload: Any) -> None:
    """Refuse, at the door, a body the worker could never process (raises PayloadError)."""
    if not isinstance(payload, dict):
        raise PayloadError("the body of a BigCommerce webhook must be a JSON object")
    scope = payload.get("scope")
    if not isinstance(scope, str) or not scope:
        raise PayloadError(f"scope must be a non-empty string, got {scope!r}")
    _data(payload)
    if scope in ORDER_SCOPES or scope in PRODUCT_SCOPES or scope in (ORDER_ARCHIVED,
                                                                     PRODUCT_DELETED):
        entity_id(payload)
    if scope == ORDER_ARCHIVED:
        _event_time(payload)  # when it was archived: the cancellation's version


def _delivery_id(headers: Mapping[str, str], payload: Mapping[str, Any]) -> str:
    value = payload.get("hash") or headers.get("webhook-id")
    if not isinstance(value, str) or not value:
        raise PayloadError("hash is missing (and there is no webhook-id header)")
    return value


def rfc2822_timestamp(value: Any, field: str) -> float:
    """Epoch seconds of a V2 date such as "Tue, 20 Nov 2012 00:00:00 +0000"."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{field} must be an RFC 2822 date, got {value!r}")
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise PayloadError(f"{field} must be an RFC 2822 date, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _status_id(raw: Mapping[str, Any]) -> int:
    value = raw.get("status_id")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"status_id must be an integer, got {value!r}")
    return value


def parse_order(raw: Any, products: list[Any], default_currency: str) -> Order:
    """A V2 order and its V2 products as an internal Order.

    An order counts only in the statuses of COUNTING_STATUS_IDS and when not archived
    (`is_deleted`); a line's `quantity_refunded` becomes a refund of that line.
    """
    if not isinstance(raw, dict):
        raise PayloadError("a BigCommerce order must be a JSON object")
    created_at = rfc2822_timestamp(raw.get("date_created"), "date_created")
    modified = raw.get("date_modified")
    lines, refunds = _lines(products)
    return Order(
        order_id=str(id_string(raw.get("id"), "id")),
        customer_id=nonzero_id(raw.get("customer_id"), "customer_id"),
        created_at=created_at,
        updated_at=rfc2822_timestamp(modified, "date_modified") if modified else created_at,
        cancelled=_status_id(raw) not in COUNTING_STATUS_IDS or raw.get("is_deleted") is True,
        currency=currency_code(raw.get("currency_code"), "currency_code", default_currency),
        total_price=money(raw.get("total_inc_tax", "0"), "total_inc_tax"),
        lines=tuple(lines),
        refunds=tuple(refunds),
    )


def _lines(products: list[Any]) -> tuple[list[LineItem], list[Refund]]:
    lines, refunds = [], []
    # a line without product_id is a custom product: nothing to recommend
    for field, item, product_id in product_lines(products, "products", "product_id",
                                                 nonzero_id):
        line_id = str(id_string(item.get("id"), f"{field}.id"))
        lines.append(LineItem(
            product_id=product_id,
            variant_id=nonzero_id(item.get("variant_id"), f"{field}.variant_id"),
            title=display_text(item.get("name"), f"{field}.name"),
            quantity=quantity(item.get("quantity"), f"{field}.quantity"),
            price=money(item.get("price_inc_tax", "0"), f"{field}.price_inc_tax"),
            line_id=line_id,
        ))
        refunded = quantity(item.get("quantity_refunded", 0), f"{field}.quantity_refunded")
        if refunded:
            refunds.append(Refund(refund_id=f"bc-{line_id}", line_id=line_id, quantity=refunded))
    return lines, refunds


def _image_url(data: Mapping[str, Any]) -> str | None:
    images = objects(data.get("images"))
    image = next((i for i in images if i.get("is_thumbnail")), images[0] if images else None)
    return http_url(image.get("url_standard") or image.get("url_zoom")) if image else None


def parse_product(raw: Any, storefront_url: str) -> dict[str, Any]:
    """Catalog fields of a V3 product (`GET /v3/catalog/products/{id}?include=images`)."""
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict):
        raise PayloadError("a V3 catalog product must be a JSON object under data")
    custom_url = data.get("custom_url")
    path = custom_url.get("url") if isinstance(custom_url, dict) else None
    tracked = data.get("inventory_tracking", "none") != "none"
    level = data.get("inventory_level")
    in_stock = not tracked or (isinstance(level, int) and level > 0)
    price = data.get("price")
    return {
        "product_id": str(id_string(data.get("id"), "data.id")),
        "title": display_text(data.get("name"), "data.name"),
        "url": http_url(f"{storefront_url}{path}") if isinstance(path, str) else None,
        "image_url": _image_url(data),
        "price": None if price is None else money(price, "data.price"),
        "available": data.get("is_visible", True) is not False
        and data.get("availability", "available") != "disabled" and in_stock,
    }


def api_root(shop: Shop) -> str:
    """The shop's API root: `--api-base`, else https://api.bigcommerce.com/stores/{hash}."""
    if shop.access.api_base:
        return shop.access.api_base.rstrip("/")
    if not shop.access.store_ref:
        raise PayloadError(f"shop {shop.shop_id!r} has no BigCommerce store hash; register "
                           "it with --store-id")
    return DEFAULT_API_ROOT.format(store_hash=quote(shop.access.store_ref, safe=""))


def api_headers(shop: Shop) -> dict[str, str]:
    token = shop.access.api_token.reveal()
    if not token:
        raise PayloadError(f"shop {shop.shop_id!r} has no BigCommerce API token to fetch "
                           "orders with; register it with --api-token")
    return {"X-Auth-Token": token, "Accept": "application/json"}


async def _get_list(
    http: PlatformHttp, shop: Shop, url: str, params: Mapping[str, Any]
) -> list[Any]:
    """A V2 collection page: HTTP 204 (or an empty body) is the empty list."""
    response = await http.request(shop.shop_id, "GET", url, params=params,
                                  headers=api_headers(shop))
    if response.status_code == 204 or not response.content.strip():
        return []
    items = decode_json(response.content)
    if not isinstance(items, list):
        raise PayloadError(f"GET {url} did not answer a JSON list")
    return items


async def fetch_order_products(http: PlatformHttp, shop: Shop, order_id: str) -> list[Any]:
    url = f"{api_root(shop)}/v2/orders/{quote(order_id, safe='')}/products"
    products: list[Any] = []
    page = 1
    while True:
        batch = await _get_list(http, shop, url, {"page": page, "limit": PAGE_SIZE})
        products += batch
        if len(batch) < PAGE_SIZE:
            return products
        page += 1


async def fetch_order(http: PlatformHttp, shop: Shop, order_id: str) -> Order:
    url = f"{api_root(shop)}/v2/orders/{quote(order_id, safe='')}"
    raw = await http.get_json(shop.shop_id, url, headers=api_headers(shop))
    return parse_order(raw, await fetch_order_products(http, shop, order_id), shop.currency)


async def fetch_product(http: PlatformHttp, shop: Shop, product_id: str) -> dict[str, Any]:
    url = f"{api_root(shop)}/v3/catalog/products/{quote(product_id, safe='')}"
    raw = await http.get_json(shop.shop_id, url, params={"include": "images"},
                              headers=api_headers(shop))
    return parse_product(raw, shop.storefront_url)


def _event_time(payload: Mapping[str, Any]) -> float:
    value = payload.get("created_at")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"created_at must be unix seconds, got {value!r}")
    return float(value)


class BigCommerceAdapter(PlatformAdapter):
    """BigCommerce deliveries: shop by URL path (or producer store hash), dedupe on `hash`."""

    platform = PLATFORM
    signature_window_seconds = standard_webhooks.TOLERANCE_SECONDS

    def shop_name(self, headers: Mapping[str, str], body: bytes) -> ShopName:
        store_hash = store_hash_of(json_object(body))
        return ShopName(store_hash, f"producer store hash {store_hash!r}")

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        return verify(shop.webhook_secrets, headers, body)

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        check_event(payload)
        created = payload.get("created_at")
        return Delivery(
            topic=payload["scope"],
            delivery_id=_delivery_id(headers, payload),
            triggered_at="" if created is None else str(created),
        )

    def check(self, topic: str, payload: Any) -> None:
        check_event(payload)

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        shop, redis = context.shop, context.redis
        if topic in ORDER_SCOPES:
            order = await fetch_order(context.http, shop, entity_id(payload))
            await records.store_order(redis, shop.shop_id, order)
        elif topic == ORDER_ARCHIVED:
            await records.cancel_order(redis, shop.shop_id, entity_id(payload),
                                       _event_time(payload))
        elif topic in PRODUCT_SCOPES:
            product = await fetch_product(context.http, shop, entity_id(payload))
            await records.store_product(redis, shop.shop_id, product, shop.storefront_url)
        elif topic == PRODUCT_DELETED:
            await records.delete_product(redis, shop.shop_id, entity_id(payload))
        # carts, customers, order messages and the rest stay in the event stream, stored


ADAPTER = BigCommerceAdapter()


def _start_page(cursor: str | None) -> int:
    if cursor is None:
        return 1
    if not cursor.isdigit() or int(cursor) < 1:
        raise BackfillError(f"a BigCommerce backfill cursor is a page number, got {cursor!r}")
    return int(cursor)


async def backfill_pages(
    http: PlatformHttp, shop: Shop, cursor: str | None
) -> AsyncIterator[Page]:
    """Every order, oldest id first, through GET /v2/orders?page&limit&sort=id:asc and each
    order's products; the cursor is the next page number. An empty page (204) ends it."""
    page = _start_page(cursor)
    url = f"{api_root(shop)}/v2/orders"
    while True:
        params = {"page": page, "limit": PAGE_SIZE, "sort": "id:asc"}
        raw_orders = await _get_list(http, shop, url, params)
        orders = [await _with_products(http, shop, raw) for raw in raw_orders]
        page += 1
        yield Page(orders, str(page) if raw_orders else None)
        if not raw_orders:
            return


async def _with_products(http: PlatformHttp, shop: Shop, raw: Any) -> Order:
    if not isinstance(raw, dict):
        raise PayloadError("GET /v2/orders answered a list item that is not an object")
    order_id = str(id_string(raw.get("id"), "id"))
    return parse_order(raw, await fetch_order_products(http, shop, order_id), shop.currency)
