"""Ecwid by Lightspeed: signed event ids in; orders and products fetched from the REST API.

An Ecwid webhook carries ids only and its body is not signed (the signature covers
`{eventCreated}.{eventId}`), so nothing in it is trusted beyond those ids: orders and products
are fetched, and a deletion is believed only once the API answers 404 for the entity.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
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
    timestamp,
)
from plugin.store.order import LineItem, Order
from plugin.store.shops import Shop
from webhooks.adapter import (
    Context,
    Delivery,
    PlatformAdapter,
    ShopInPath,
    ShopName,
    json_object,
    nonzero_id,
    product_lines,
)
from webhooks.backfill import BackfillError, Page
from webhooks.http import FetchError, PlatformHttp
from webhooks.signatures import verify_base64_hmac

PLATFORM = "ecwid"
DEFAULT_API_BASE = "https://app.ecwid.com/api/v3"
SIGNATURE_HEADER = "x-ecwid-webhook-signature"
ORDER_EVENTS = frozenset({"order.created", "order.updated"})
ORDER_DELETED = "order.deleted"
PRODUCT_EVENTS = frozenset({"product.created", "product.updated"})
PRODUCT_DELETED = "product.deleted"
APP_UNINSTALLED = "application.uninstalled"  # the owner removed the app: its token is revoked
COUNTING_PAYMENT_STATUSES = frozenset({"PAID", "PARTIALLY_REFUNDED"})
PAGE_SIZE = 100  # the most GET /orders returns per request


def signed_message(payload: Mapping[str, Any]) -> bytes | None:
    """What Ecwid signs, `{eventCreated}.{eventId}`; None if the body lacks either."""
    created, event_id = payload.get("eventCreated"), payload.get("eventId")
    if isinstance(created, bool) or not isinstance(created, int | str) or not created:
        return None
    if not isinstance(event_id, str) or not event_id:
        return None
    return f"{created}.{event_id}".encode()


def verify(secrets: tuple[Secret, ...], headers: Mapping[str, str], body: bytes) -> bool:
    """base64(HMAC-SHA256(client secret, "{eventCreated}.{eventId}")) against the header."""
    message = signed_message(json_object(body))
    return message is not None and verify_base64_hmac(
        secrets, message, headers.get(SIGNATURE_HEADER)
    )


def _text(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{field} must be a non-empty string, got {value!r}")
    return value


def _epoch(value: Any, field: str) -> float:
    if isinstance(value, str) and value.isdigit():
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{field} must be unix seconds, got {value!r}")
    return float(value)


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PayloadError("data must be an object")
    return data


def order_ref(payload: Mapping[str, Any]) -> str:
    """The order an order.* event names: `data.orderId`, else `entityId`."""
    value = _data(payload).get("orderId") or payload.get("entityId")
    return str(id_string(value, "data.orderId (or entityId)"))


def product_ref(payload: Mapping[str, Any]) -> str:
    """The product a product.* event names: `data.productId`, else `entityId`."""
    value = _data(payload).get("productId") or payload.get("entityId")
    return str(id_string(value, "data.productId (or entityId)"))


def check_event(payload: Any) -> None:
    """Refuse, at the door, an event the worker could never process (raises PayloadError)."""
    if not isinstance(payload, dict):
        raise PayloadError("the body of an Ecwid webhook must be a JSON object")
    _text(payload, "eventId")
    event_type = _text(payload, "eventType")
    _epoch(payload.get("eventCreated"), "eventCreated")
    id_string(payload.get("storeId"), "storeId")
    _data(payload)
    if event_type in ORDER_EVENTS or event_type == ORDER_DELETED:
        order_ref(payload)
    elif event_type in PRODUCT_EVENTS or event_type == PRODUCT_DELETED:
        product_ref(payload)


def _order_time(raw: Mapping[str, Any], date_field: str, stamp_field: str) -> float | None:
    if raw.get(date_field):
        return timestamp(raw[date_field], date_field)
    if raw.get(stamp_field) is not None:
        return _epoch(raw[stamp_field], stamp_field)
    return None


def parse_order(raw: Any, default_currency: str) -> Order:
    """An order as GET /{storeId}/orders/{orderId} returns it, as an internal Order.

    Only PAID and PARTIALLY_REFUNDED orders count; any other payment status (awaiting
    payment, cancelled, refunded, incomplete) makes the order count for nothing.
    """
    if not isinstance(raw, dict):
        raise PayloadError("an Ecwid order must be a JSON object")
    order_id = id_string(raw.get("id") or raw.get("orderNumber"), "id (or orderNumber)")
    created_at = _order_time(raw, "createDate", "createTimestamp")
    if created_at is None:
        raise PayloadError("createDate (or createTimestamp) is missing")
    items = raw.get("items", [])
    if not isinstance(items, list):
        raise PayloadError("items must be a list")
    return Order(
        order_id=str(order_id),
        customer_id=nonzero_id(raw.get("customerId"), "customerId"),  # none: a guest
        created_at=created_at,
        updated_at=_order_time(raw, "updateDate", "updateTimestamp") or created_at,
        cancelled=raw.get("paymentStatus") not in COUNTING_PAYMENT_STATUSES,
        currency=currency_code(raw.get("currency"), "currency", default_currency),
        total_price=money(raw.get("total", 0), "total"),
        lines=tuple(_lines(items)),
    )


def _lines(items: list[Any]) -> list[LineItem]:
    # a line without productId is not a catalog product: nothing to recommend
    return [
        LineItem(
            product_id=product_id,
            variant_id=id_string(item.get("combinationId"), f"{field}.combinationId", False),
            title=display_text(item.get("name"), f"{field}.name"),
            quantity=quantity(item.get("quantity"), f"{field}.quantity"),
            price=money(item.get("price", 0), f"{field}.price"),
            line_id=id_string(item.get("id"), f"{field}.id", False),
        )
        for field, item, product_id in product_lines(items, "items", "productId", nonzero_id)
    ]


def _in_stock(raw: Mapping[str, Any]) -> bool:
    if isinstance(raw.get("inStock"), bool):
        return bool(raw["inStock"])
    if raw.get("unlimited") is True or raw.get("quantity") is None:
        return True
    return isinstance(raw["quantity"], int) and raw["quantity"] > 0


def parse_product(raw: Any) -> dict[str, Any]:
    """Catalog fields of a product as GET /{storeId}/products/{productId} returns it."""
    if not isinstance(raw, dict):
        raise PayloadError("an Ecwid product must be a JSON object")
    price = raw.get("price")
    return {
        "product_id": str(id_string(raw.get("id"), "id")),
        "title": display_text(raw.get("name"), "name"),
        "url": http_url(raw.get("url")),
        "image_url": http_url(raw.get("imageUrl") or raw.get("hdThumbnailUrl")),
        "price": None if price is None else money(price, "price"),
        "available": raw.get("enabled", True) is not False and _in_stock(raw),
    }


def api_root(shop: Shop, store_id: str = "") -> str:
    """`{api_base}/{storeId}`: where this shop's REST resources live."""
    store = shop.access.store_ref or store_id
    if not store:
        raise PayloadError(f"shop {shop.shop_id!r} has no Ecwid store id; register it with "
                           "--store-id")
    base = (shop.access.api_base or DEFAULT_API_BASE).rstrip("/")
    return f"{base}/{quote(store, safe='')}"


def api_headers(shop: Shop) -> dict[str, str]:
    token = shop.access.api_token.reveal()
    if not token:
        raise PayloadError(f"shop {shop.shop_id!r} has no Ecwid API token to fetch orders "
                           "with; register it with --api-token")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def _get(http: PlatformHttp, shop: Shop, root: str, path: str) -> Any:
    return await http.get_json(shop.shop_id, f"{root}/{path}", headers=api_headers(shop))


async def _fetch_or_none(http: PlatformHttp, shop: Shop, root: str, path: str) -> Any:
    """The resource, or None when the API answers 404 (it no longer exists)."""
    try:
        return await _get(http, shop, root, path)
    except FetchError as error:
        if error.status == 404:
            return None
        raise


async def _apply_order(context: Context, payload: Mapping[str, Any], deleted: bool) -> None:
    shop, order_id = context.shop, order_ref(payload)
    root = api_root(shop, str(payload["storeId"]))
    path = f"orders/{quote(order_id, safe='')}"
    if not deleted:
        raw = await _get(context.http, shop, root, path)
    elif (raw := await _fetch_or_none(context.http, shop, root, path)) is None:
        at = _epoch(payload.get("eventCreated"), "eventCreated")
        await records.cancel_order(context.redis, shop.shop_id, order_id, at)
        return
    await records.store_order(context.redis, shop.shop_id, parse_order(raw, shop.currency))


async def _apply_product(context: Context, payload: Mapping[str, Any], deleted: bool) -> None:
    shop, product_id = context.shop, product_ref(payload)
    root = api_root(shop, str(payload["storeId"]))
    path = f"products/{quote(product_id, safe='')}"
    if not deleted:
        raw = await _get(context.http, shop, root, path)
    elif (raw := await _fetch_or_none(context.http, shop, root, path)) is None:
        await records.delete_product(context.redis, shop.shop_id, product_id)
        return
    await records.store_product(context.redis, shop.shop_id, parse_product(raw),
                                shop.storefront_url)


def _store_id_of(body: bytes) -> str | None:
    value = json_object(body).get("storeId")
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


class EcwidAdapter(PlatformAdapter):
    """Ecwid deliveries: one shared URL, shop by `storeId`, dedupe on `eventId`."""

    platform = PLATFORM
    shop_in_path = ShopInPath.CHECKED

    def shop_name(self, headers: Mapping[str, str], body: bytes) -> ShopName:
        store_id = _store_id_of(body)
        return ShopName(store_id, "no storeId in the body" if store_id is None
                        else f"storeId {store_id!r}")

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        return verify(shop.webhook_secrets, headers, body)

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        check_event(payload)
        return Delivery(
            topic=payload["eventType"],
            delivery_id=payload["eventId"],
            triggered_at=str(payload["eventCreated"]),
        )

    def check(self, topic: str, payload: Any) -> None:
        check_event(payload)

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        if topic in ORDER_EVENTS or topic == ORDER_DELETED:
            await _apply_order(context, payload, deleted=topic == ORDER_DELETED)
        elif topic in PRODUCT_EVENTS or topic == PRODUCT_DELETED:
            await _apply_product(context, payload, deleted=topic == PRODUCT_DELETED)
        elif topic == APP_UNINSTALLED:
            await records.mark_uninstalled(context.redis, context.shop.shop_id, time.time())
        # unfinished_order.*, the other application.* and the rest stay in the event stream


ADAPTER = EcwidAdapter()


def _start_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise BackfillError(f"an Ecwid backfill cursor is an order offset, got {cursor!r}")
    return int(cursor)


async def backfill_pages(
    http: PlatformHttp, shop: Shop, cursor: str | None
) -> AsyncIterator[Page]:
    """Every order through GET /{storeId}/orders?offset&limit; the cursor is the next offset."""
    offset = _start_offset(cursor)
    url = f"{api_root(shop)}/orders"
    while True:
        params = {"offset": offset, "limit": PAGE_SIZE}
        raw = await http.get_json(shop.shop_id, url, params=params, headers=api_headers(shop))
        if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
            raise PayloadError(f"GET {url} (offset {offset}) did not answer {{total, items}}")
        items, total = raw["items"], raw.get("total")
        offset += len(items)
        done = not items or (isinstance(total, int) and offset >= total)
        orders = [parse_order(item, shop.currency) for item in items]
        yield Page(orders, None if done else str(offset),
                   total=total if isinstance(total, int) else None)
        if done:
            return
