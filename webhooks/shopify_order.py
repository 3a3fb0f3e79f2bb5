"""Shopify orders through a compiled decoder: the field rules of webhooks.shopify.parse_order
for the shape nearly every order has, checked in C by msgspec instead of one Python call per
field (about a third of the web process's CPU a webhook, bench/intake_cpu.py).

The Python rules stay the reference: `order` answers only for a payload that every one of
them accepts, with the Order they make, and None otherwise; parse_order then runs them, so a
refusal and its message are exactly theirs. What makes the decoder say "not sure" is kept
narrow and on the safe side: each type below accepts a subset of what its rule accepts (an id
is an integer of at most 18 digits or a string of 1 to 128 characters, an amount a plain
decimal string, a quantity 0 to 1,000,000, a title a string of at most 500 characters, a
currency three upper-case letters), and what a type cannot say (printable text, a timestamp
and its range) is checked after it in one pass. tests/webhooks/test_shopify_order.py holds
the two to each other on real and fuzzed payloads."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from plugin.store.fields import (
    EARLIEST,
    LATEST,
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    MAX_QUANTITY,
    MAX_TEXT_CHARS,
    iso_seconds,
)
from plugin.store.order import LineItem, Order, Refund, from_checked_fields

_BELOW = 10**18  # plugin.store.fields.id_string writes these integers as they are

Id = Annotated[int, msgspec.Meta(gt=-_BELOW, lt=_BELOW)] | Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
Amount = Annotated[str, msgspec.Meta(pattern=r"^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?\Z")]
Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
Title = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
Time = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NUMBER_CHARS)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z")]


class _Line(msgspec.Struct):
    quantity: Quantity  # a line with no product (a tip) and no quantity: the rules decide
    product_id: Id | None = None
    variant_id: Id | None = None
    title: Title | None = None
    price: Amount = "0"
    id: Id | None = None


class _RefundLine(msgspec.Struct):
    line_item_id: Id
    quantity: Quantity


class _Refund(msgspec.Struct):
    id: Id
    refund_line_items: list[_RefundLine] | None = None


class _Customer(msgspec.Struct):
    id: Id | None = None


class _Order(msgspec.Struct):
    id: Id
    created_at: Time
    line_items: list[_Line]
    updated_at: Time | None = None
    customer: _Customer | None = None
    cancelled_at: Any = None
    currency: Currency | None = None
    total_price: Amount = "0"
    refunds: list[_Refund] | None = None


def order(payload: Any) -> Order | None:
    """The Order webhooks.shopify.parse_order makes of `payload`, when the compiled rules can
    tell; None when only the Python rules can (a refusal, or a rare shape)."""
    try:
        raw = msgspec.convert(payload, _Order)
    except msgspec.ValidationError:
        return None
    created = iso_seconds(raw.created_at)
    updated = iso_seconds(raw.updated_at or raw.created_at)
    if created is None or updated is None or not (EARLIEST <= created <= LATEST
                                                  and EARLIEST <= updated <= LATEST):
        return None
    texts: list[str] = []  # every string kept: printable, or the rules decide
    customer = raw.customer.id if raw.customer is not None else None
    lines = []
    for line in raw.line_items:
        if line.product_id is None:
            continue  # a custom line (gift card, tip): no product, not kept
        title = line.title or ""
        texts.append(title)
        lines.append(from_checked_fields(
            LineItem, _id(line.product_id, texts), _id(line.variant_id, texts), title,
            line.quantity, line.price, _id(line.id, texts)))
    refunds = []
    for refund in raw.refunds or ():
        refund_id = _id(refund.id, texts)
        for entry in refund.refund_line_items or ():
            refunds.append(from_checked_fields(Refund, refund_id,
                                               _id(entry.line_item_id, texts), entry.quantity))
    order_id, customer_id = _id(raw.id, texts), _id(customer, texts)
    if not "".join(texts).isprintable():
        return None
    return from_checked_fields(  # Order's fields in their order
        Order, order_id, customer_id, created, updated,
        raw.cancelled_at is not None, raw.currency or "", raw.total_price, tuple(lines),
        tuple(refunds))

def _id(value: int | str | None, texts: list[str]) -> Any:
    """An id as id_string writes it; a string one joins the texts checked at the end."""
    if type(value) is str:
        texts.append(value)
        return value
    return None if value is None else str(value)
