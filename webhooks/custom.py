"""The custom platform: any shop or ETL job sends orders and products as JSON events (see
schemas/custom_order.schema.json and docs/custom-platform.md), signed with Standard Webhooks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from plugin.store import records
from plugin.store.fields import (
    PayloadError,
    currency_code,
    display_text,
    http_url,
    money,
    timestamp,
)
from plugin.store.order import LineItem, Order, Refund
from plugin.store.shops import Shop
from webhooks import standard_webhooks
from webhooks.adapter import Context, Delivery, PlatformAdapter, product_lines

PLATFORM = "custom"
ORDER_TYPES = frozenset({"order.created", "order.updated", "order.cancelled"})
PRODUCT_UPSERTED = "product.upserted"
PRODUCT_DELETED = "product.deleted"
SCHEMA_FILE = "custom_order.schema.json"
VOID_STATUSES = frozenset({"cancelled", "refunded"})  # the order counts for nothing


def schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of a custom event."""
    text = resources.files("webhooks").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def validate(payload: Any) -> None:
    """Raise PayloadError naming the first field (as a JSON path) that breaks the schema."""
    error = best_match(_validator().iter_errors(payload))
    if error is not None:
        raise PayloadError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    where = error.json_path.removeprefix("$").removeprefix(".") or "the body"
    message = error.message
    if error.validator == "pattern" and isinstance(error.schema, dict):  # say it in words
        wanted = error.schema.get("description") or f"matching {error.schema['pattern']}"
        message = f"{error.instance!r} is not in the expected form: {wanted}"
    return f"{where}: {message if len(message) <= 300 else message[:300] + '...'}"


def parse_event(payload: Any) -> tuple[str, dict[str, Any]]:
    """The event's type and data, after checking them against the schema."""
    validate(payload)
    kind, data = payload["type"], payload["data"]
    timestamp(payload["timestamp"], "timestamp")  # a real date, not only its shape
    if kind in ORDER_TYPES:
        parse_order(data, kind)  # the checks a schema cannot express (refunded <= ordered, dates)
    return kind, data


def parse_order(data: dict[str, Any], kind: str = "order.updated") -> Order:
    """A schema-valid order as an internal Order; refunded quantities become Refunds. An
    order.cancelled event, or the status cancelled or refunded, makes it count for nothing."""
    order_id = str(data["id"])
    lines = [_line(item, field, product_id) for field, item, product_id
             in product_lines(data["line_items"], "data.line_items", "product_id", _schema_id)]
    return Order(
        order_id=order_id,
        customer_id=None if data["customer_id"] is None else str(data["customer_id"]),
        created_at=timestamp(data["created_at"], "data.created_at"),
        updated_at=timestamp(data["updated_at"], "data.updated_at"),
        cancelled=data["status"] in VOID_STATUSES or kind == "order.cancelled",
        currency=currency_code(data["currency"], "data.currency"),
        total_price=money(data["total_price"], "data.total_price"),
        lines=tuple(line for line, _ in lines),
        refunds=tuple(refund for _, refund in lines if refund is not None),
    )


def _schema_id(value: Any, field: str) -> str:
    """An id the schema checked: an integer or a non-empty string, kept as its text."""
    return str(value)


def _line(item: dict[str, Any], field: str, product_id: str) -> tuple[LineItem, Refund | None]:
    line_id = str(item["id"])
    refunded = item.get("refunded_quantity")
    if refunded is not None and refunded > item["quantity"]:
        raise PayloadError(f"{field}.refunded_quantity: {refunded} is more than the "
                           f"quantity {item['quantity']}")
    variant = item.get("variant_id")
    line = LineItem(
        product_id=product_id,
        variant_id=None if variant is None else str(variant),
        title=display_text(item["title"], f"{field}.title"),
        quantity=item["quantity"],
        price=money(item["price"], f"{field}.price"),
        line_id=line_id,
    )
    # one refund per line, carrying the running total: a newer order version replaces it
    refund = None if refunded is None else Refund(f"line:{line_id}", line_id, refunded)
    return line, refund


def parse_product(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid product as a catalog entry."""
    price = data.get("price")
    entry = {
        "product_id": str(data["id"]),
        "title": display_text(data["title"], "data.title"),
        "url": http_url(data.get("url")),
        "image_url": http_url(data.get("image_url")),
        "price": None if price is None else money(price, "data.price"),
        "available": data.get("available", True),
    }
    return {**entry, "sku": data["sku"]} if data.get("sku") else entry


class CustomAdapter(PlatformAdapter):
    """Custom deliveries: shop by URL path, Standard Webhooks signature, dedupe on webhook-id."""

    platform = PLATFORM
    signature_window_seconds = standard_webhooks.TOLERANCE_SECONDS

    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        return standard_webhooks.verify(shop.webhook_secrets, headers, body)

    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        kind = payload.get("type") if isinstance(payload, dict) else None
        return Delivery(
            topic=kind if isinstance(kind, str) else "",
            delivery_id=headers.get("webhook-id", ""),  # present: verify() requires it
            triggered_at=headers.get("webhook-timestamp", ""),
        )

    def check(self, topic: str, payload: Any) -> None:
        parse_event(payload)

    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        kind, data = parse_event(payload)
        shop_id = context.shop.shop_id
        if kind in ORDER_TYPES:
            await records.store_order(context.redis, shop_id, parse_order(data, kind))
        elif kind == PRODUCT_UPSERTED:
            await records.store_product(context.redis, shop_id, parse_product(data),
                                        context.shop.storefront_url)
        elif kind == PRODUCT_DELETED:
            await records.delete_product(context.redis, shop_id, str(data["id"]))


ADAPTER = CustomAdapter()
