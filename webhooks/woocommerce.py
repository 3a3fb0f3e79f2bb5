"""WooCommerce: delivery headers and signature, REST v3 orders and products, the adapter, and
the REST API pulls that make up for deliveries WooCommerce never retries (reconciliation,
backfill)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis

from plugin.store import keys, records
from plugin.store.connection import text
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
from plugin.store.shops import Shop, list_shops
from plugin.web.body import decode_json
from webhooks.adapter import Context, Delivery, PlatformAdapter, ShopName, objects, product_lines
from webhooks.backfill import BackfillError, Page
from webhooks.http import FetchError, PlatformHttp
from webhooks.signatures import verify_base64_hmac

log = logging.getLogger(__name__)

PLATFORM = "woocommerce"
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
ORDER_RESTORED = "order.restored"
ORDER_DELETED = "order.deleted"
PRODUCT_TOPICS = frozenset({"product.created", "product.updated", "product.restored"})
PRODUCT_DELETED = "product.deleted"
# Statuses of an order that was paid and stands; every other one (pending, on-hold, failed,
# cancelled, refunded, trash, checkout-draft, ...) counts for nothing.
COUNTED_STATUSES = frozenset({"paid", "processing", "completed"})
PING_BODY = re.compile(rb"webhook_id=\d+")
PER_PAGE = 100  # the REST API's maximum
# Reconciliation asks again for this much before the newest change it saw: an order saved in
# a slow transaction can show up later with an older date_modified.
RECONCILE_OVERLAP_SECONDS = 300
# A shop's first reconciliation looks back to a day before it was registered; older history
# is `shopreco backfill`'s job.
FIRST_RECONCILE_LOOKBACK_SECONDS = 86400


def header(headers: Mapping[str, str], name: str) -> str | None:
    """`X-WC-Webhook-<name>` (Starlette headers are case-insensitive)."""
    return headers.get(f"x-wc-webhook-{name}")


def verify(shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
    """base64(HMAC-SHA256(webhook secret, raw body)) against `X-WC-Webhook-Signature`."""
    return verify_base64_hmac(shop.webhook_secrets, body, header(headers, "signature"))


def source_host(headers: Mapping[str, str]) -> str:
    """The host of `X-WC-Webhook-Source` (the shop's home URL), lower-case; "" if none."""
    return (urlsplit(header(headers, "source") or "").hostname or "").lower()


def topic_of(headers: Mapping[str, str]) -> str:
    topic = header(headers, "topic")
    if not topic:
        resource, event = header(headers, "resource"), header(headers, "event")
        if not (resource and event):
            raise PayloadError("the X-WC-Webhook-Topic header is missing")
        topic = f"{resource}.{event}"
    return topic


def delivery_id(headers: Mapping[str, str], topic: str, body: bytes, payload: Any) -> str:
    """Webhook id + resource id + date_modified (X-WC-Webhook-Delivery-ID is not unique).

    A body without date_modified (a deletion sends only the id) is told apart by the
    Delivery-ID: repeating a deletion is harmless, swallowing a second one is not.
    """
    if not isinstance(payload, dict) or payload.get("id") in (None, ""):
        return fallback_delivery_id(topic, body)
    version = payload.get("date_modified_gmt") or payload.get("date_modified")
    if not version:
        version = "delivery:" + (header(headers, "delivery-id") or uuid.uuid4().hex)
    parts = (header(headers, "id") or "", topic, str(payload["id"]), str(version))
    return "wc:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def check_payload(topic: str, payload: Any) -> None:
    """Refuse, at the door, a body the worker could never process (raises PayloadError)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    if topic in ORDER_TOPICS:
        parse_order(payload)
    elif topic in PRODUCT_TOPICS:
        parse_product(payload)
    elif topic in (ORDER_DELETED, PRODUCT_DELETED):
        id_string(payload.get("id"), "id")


def parse_order(payload: Any) -> Order:
    """A WooCommerce REST v3 order (the body of an order.* webhook) as an internal Order.

    `*_gmt` times carry no offset: they are UTC. customer_id 0 is a guest (customer None).
    """
    if not isinstance(payload, dict):
        raise PayloadError("an order must be a JSON object")
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise PayloadError(f"status must be a non-empty string, got {status!r}")
    created_raw = payload.get("date_created_gmt")
    line_items = payload.get("line_items")
    if not isinstance(line_items, list):
        raise PayloadError("line_items must be a list")
    customer_id = id_string(payload.get("customer_id"), "customer_id", False)
    return Order(
        order_id=str(id_string(payload.get("id"), "id")),
        customer_id=None if customer_id in (None, "0") else customer_id,
        created_at=timestamp(created_raw, "date_created_gmt"),
        updated_at=timestamp(payload.get("date_modified_gmt") or created_raw,
                             "date_modified_gmt"),
        cancelled=status not in COUNTED_STATUSES,
        currency=currency_code(payload.get("currency"), "currency"),
        total_price=money(payload.get("total", "0"), "total"),
        lines=tuple(_lines(line_items)),
    )


def _catalog_id(value: Any, field: str) -> str | None:
    """A product or variation id; "0" (or none) when it was deleted since the order."""
    catalog_id = id_string(value, field, False)
    return None if catalog_id == "0" else catalog_id


def _lines(line_items: list[Any]) -> list[LineItem]:
    return [
        LineItem(
            product_id=product_id,
            variant_id=_catalog_id(item.get("variation_id"), f"{field}.variation_id"),
            title=_title(item.get("name"), f"{field}.name"),
            quantity=quantity(item.get("quantity"), f"{field}.quantity"),
            price=money(item.get("price", item.get("total", "0")), f"{field}.price"),
            line_id=id_string(item.get("id"), f"{field}.id", False),
        )
        for field, item, product_id in product_lines(line_items, "line_items", "product_id",
                                                     _catalog_id)
    ]


def _title(value: Any, field: str) -> str:
    """WooCommerce sends names HTML-escaped ("Tea &amp; Cake")."""
    return display_text(html.unescape(display_text(value, field)), field)


def parse_product(payload: Any) -> dict[str, Any]:
    """Catalog fields of a WooCommerce REST product: title, url, image, price, availability."""
    if not isinstance(payload, dict):
        raise PayloadError("a product must be a JSON object")
    images = objects(payload.get("images"))
    price = payload.get("price")
    return {
        "product_id": str(id_string(payload.get("id"), "id")),
        "title": _title(payload.get("name"), "name"),
        "url": http_url(payload.get("permalink")),
        "image_url": http_url(images[0].get("src")) if images else None,
        "price": None if price in (None, "") else money(price, "price"),
        "available": payload.get("status", "publish") == "publish"
        and payload.get("stock_status", "instock") != "outofstock",
    }


async def restore_order(redis: aioredis.Redis, shop_id: str, order: Order) -> bool:
    """An order taken out of the trash counts again, even when its date_modified is not newer
    than the moment its deletion was processed (a deletion has no date of its own)."""
    stored = await records.get_order(redis, shop_id, order.order_id)
    if stored is not None and stored.cancelled and stored.updated_at >= order.updated_at:
        order = replace(order, updated_at=stored.updated_at + 0.001)
    return await records.store_order(redis, shop_id, order)


class WooCommerceAdapter(PlatformAdapter):
    """WooCommerce deliveries: shop by URL path (or the X-WC-Webhook-Source host), dedupe on
    webhook id + resource id + date_modified."""

    platform = PLATFORM

    def shop_name(self, headers: Mapping[str, str], body: bytes) -> ShopName:
        said = f"X-WC-Webhook-Source {header(headers, 'source') or ''!r}"
        return ShopName(source_host(headers) or None, said)

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        """The request WooCommerce sends when a webhook is saved: `webhook_id=N`, unsigned."""
        return not header(headers, "signature") and PING_BODY.fullmatch(body.strip()) is not None

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        return verify(shop, headers, body)

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        topic = topic_of(headers)
        return Delivery(topic=topic, delivery_id=delivery_id(headers, topic, body, payload))

    def check(self, topic: str, payload: Any) -> None:
        check_payload(topic, payload)

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        redis, shop_id = context.redis, context.shop.shop_id
        if topic == ORDER_RESTORED:
            await restore_order(redis, shop_id, parse_order(payload))
        elif topic in ORDER_TOPICS:
            await records.store_order(redis, shop_id, parse_order(payload))
        elif topic == ORDER_DELETED:
            order_id = str(id_string(payload.get("id"), "id"))
            await records.cancel_order(redis, shop_id, order_id, time.time())
        elif topic in PRODUCT_TOPICS:
            await records.store_product(redis, shop_id, parse_product(payload),
                                        context.shop.storefront_url)
        elif topic == PRODUCT_DELETED:
            await records.delete_product(redis, shop_id, str(id_string(payload.get("id"), "id")))
        # other topics (customer.*, coupon.*, action.*) stay in the event stream


ADAPTER = WooCommerceAdapter()


# ---- the REST API: reconciliation and backfill ---------------------------------------------

def has_api_access(shop: Shop) -> bool:
    access = shop.access
    return bool(access.api_base and access.api_user and access.api_token)


async def fetch_orders(
    http: PlatformHttp, shop: Shop, params: Mapping[str, str | int]
) -> tuple[list[Any], httpx.Headers]:
    """One page of `GET {api_base}/orders` (HTTP basic auth with the REST API key pair)."""
    url = f"{shop.access.api_base.rstrip('/')}/orders"
    auth = (shop.access.api_user, shop.access.api_token.reveal())
    response = await http.request(shop.shop_id, "GET", url, params=params, auth=auth)
    try:
        orders = decode_json(response.content)
    except ValueError:
        raise FetchError(f"GET {url} did not answer JSON") from None
    if not isinstance(orders, list):
        raise FetchError(f"GET {url} did not answer a JSON list of orders")
    return orders, response.headers


def total_pages(headers: httpx.Headers, count: int, page: int) -> int:
    """X-WP-TotalPages, or (without it) one more page as long as pages come back full."""
    raw = headers.get("x-wp-totalpages", "")
    if raw.isdigit():
        return int(raw)
    return page + 1 if count >= PER_PAGE else page


def parse_orders(shop: Shop, raw_orders: list[Any]) -> list[Order]:
    """The orders of a page; one malformed order is logged and skipped, not fatal."""
    orders = []
    for raw in raw_orders:
        try:
            orders.append(parse_order(raw))
        except PayloadError as error:
            order_id = raw.get("id") if isinstance(raw, dict) else None
            log.warning("woocommerce shop %s: order %r skipped: %s", shop.shop_id, order_id,
                        error)
    return orders


def iso_utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S")


async def reconcile_shop(redis: aioredis.Redis, http: PlatformHttp, shop: Shop) -> int:
    """Store every order modified since the last reconciliation; the number that changed.

    Pages through `GET /orders?modified_after=...` oldest change first and saves the newest
    date_modified seen after each page, so an interrupted run continues where it stopped.
    """
    checkpoint = keys.reconcile_cursor(shop.shop_id)
    saved = await redis.get(checkpoint)
    newest = (timestamp(text(saved), "reconcile checkpoint") if saved
              else shop.created_at - FIRST_RECONCILE_LOOKBACK_SECONDS)
    params: dict[str, str | int] = {
        "modified_after": iso_utc(newest - RECONCILE_OVERLAP_SECONDS), "dates_are_gmt": "true",
        "per_page": PER_PAGE, "orderby": "modified", "order": "asc",
    }
    changed, page = 0, 1
    while True:
        raw, headers = await fetch_orders(http, shop, {**params, "page": page})
        for order in parse_orders(shop, raw):
            changed += await records.store_order(redis, shop.shop_id, order)
            newest = max(newest, order.updated_at)
        await redis.set(checkpoint, iso_utc(newest))
        if page >= total_pages(headers, len(raw), page):
            return changed
        page += 1


class Reconciler:
    """Every `interval_seconds`, reconcile each WooCommerce shop with REST API credentials.

    A per-shop Redis lock that lives for one interval makes one process do each round, however
    many workers run; shops without credentials are skipped.
    """

    def __init__(
        self, redis: aioredis.Redis, http: PlatformHttp, interval_seconds: float
    ) -> None:
        self.redis, self.http, self.interval = redis, http, interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once(stop)
            except Exception as error:  # Redis down: try again next round
                log.warning("woocommerce reconciliation failed: %s: %s",
                            type(error).__name__, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """One round over every shop due; the number of orders that changed."""
        changed = 0
        for shop in await list_shops(self.redis):
            if stop is not None and stop.is_set():
                break
            if shop.platform == PLATFORM and has_api_access(shop) and await self._claim(shop):
                changed += await self._reconcile(shop)
        return changed

    async def _claim(self, shop: Shop) -> bool:
        lock_ms = max(1, int(self.interval * 1000))
        token = secrets.token_hex(8)
        return bool(await self.redis.set(keys.reconcile_lock(shop.shop_id), token, nx=True,
                                         px=lock_ms))

    async def _reconcile(self, shop: Shop) -> int:
        try:
            return await reconcile_shop(self.redis, self.http, shop)
        except (FetchError, PayloadError) as error:
            log.warning("woocommerce shop %s: reconciliation failed, next try in %.0f s: %s",
                        shop.shop_id, self.interval, error)
            return 0


async def backfill_pages(
    http: PlatformHttp, shop: Shop, cursor: str | None
) -> AsyncIterator[Page]:
    """The shop's whole order history, oldest order first, one REST page (100 orders) at a
    time; the cursor is the number of the next page."""
    if not has_api_access(shop):
        raise BackfillError(
            f"shop {shop.shop_id!r} has no WooCommerce REST API access: register it with "
            "--api-base https://SHOP/wp-json/wc/v3 --api-user ck_... --api-token cs_..."
        )
    if cursor is not None and not cursor.isdigit():
        raise BackfillError(f"backfill checkpoint {cursor!r} is not a page number; "
                            "run with --restart")
    page = int(cursor or 1)
    while True:
        raw, headers = await fetch_orders(
            http, shop, {"per_page": PER_PAGE, "page": page, "orderby": "id", "order": "asc"}
        )
        last = page >= total_pages(headers, len(raw), page)
        total = headers.get("x-wp-total", "")
        yield Page(orders=parse_orders(shop, raw), cursor=None if last else str(page + 1),
                   total=int(total) if total.isdigit() else None)
        if last:
            return
        page += 1
