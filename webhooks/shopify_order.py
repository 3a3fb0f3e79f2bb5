"""Shopify orders (the bare object of an orders/* webhook) as internal Orders: the field rules,
one Python call a field (`parse_order_by_rules`), and the same rules compiled (`order`):
checked in C by msgspec for the shape nearly every order has. The order check was about a
third of the web process's own CPU a webhook (bench/intake_cpu.py); compiled, it costs about
a third less (figures in the commits).

The Python rules stay the reference: `order` answers only for a payload that every one of
them accepts, with the Order they make, and None otherwise; parse_order then runs them, so a
refusal and its message are exactly theirs. What makes the decoder say "not sure" is kept
narrow and on the safe side: each type below accepts a subset of what its rule accepts (an id
is an integer of at most 18 digits or a string of 1 to 128 characters, a quantity 0 to
1,000,000, a title a string of at most 500 characters), and what a type cannot say cheaply
(printable text, plain amounts, an upper-case currency, a timestamp and its range) is
checked after it in one pass. tests/webhooks/test_shopify_order.py holds the two to each
other on real and fuzzed payloads."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from plugin.store.fields import (
    EARLIEST,
    LATEST,
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    MAX_QUANTITY,
    MAX_TEXT_CHARS,
    PayloadError,
    currency_code,
    display_text,
    id_string,
    iso_seconds,
    money,
    quantity,
    timestamp,
)
from plugin.store.order import (
    LineItem,
    Order,
    Refund,
    checked_line,
    checked_order,
    checked_refund,
    from_checked,
)

_BELOW = 10**18  # plugin.store.fields.id_string writes these integers as they are

Id = Annotated[int, msgspec.Meta(gt=-_BELOW, lt=_BELOW)] | Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
# An amount is a string here and matches plugin.store.fields' plain amount after the decoder,
# all of an order's in one regex call (a pattern in the type costs a call each, three
# quarters of the decoder's time); a currency likewise: three letters here, A-Z after.
Amount = Annotated[str, msgspec.Meta(max_length=MAX_NUMBER_CHARS)]
_AMOUNT = r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?"
_AMOUNTS = re.compile(rf"{_AMOUNT}(?:,{_AMOUNT})*\Z")  # joined by commas
Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
Title = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
Time = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NUMBER_CHARS)]
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


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
    """The Order parse_order_by_rules makes of `payload`, when the compiled rules can tell;
    None when only the Python rules can (a refusal, or a rare shape)."""
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
    amounts = [raw.total_price]  # every amount: plain, or the rules decide
    customer = raw.customer.id if raw.customer is not None else None
    lines = []
    for line in raw.line_items:
        if line.product_id is None:
            continue  # a custom line (gift card, tip): no product, not kept
        title = line.title or ""
        texts.append(title)
        amounts.append(line.price)
        lines.append(checked_line(_id(line.product_id, texts), _id(line.variant_id, texts),
                                  title, line.quantity, line.price, _id(line.id, texts)))
    refunds = []
    for refund in raw.refunds or ():
        refund_id = _id(refund.id, texts)
        for entry in refund.refund_line_items or ():
            refunds.append(checked_refund(refund_id, _id(entry.line_item_id, texts),
                                          entry.quantity))
    order_id, customer_id = _id(raw.id, texts), _id(customer, texts)
    currency = raw.currency or ""
    if currency and not (currency.isascii() and currency.isalpha() and currency.isupper()):
        return None
    if not ("".join(texts).isprintable() and _AMOUNTS.match(",".join(amounts))):
        return None
    return checked_order(order_id, customer_id, created, updated, raw.cancelled_at is not None,
                         currency, raw.total_price, tuple(lines), tuple(refunds))


def _id(value: int | str | None, texts: list[str]) -> Any:
    """An id as id_string writes it; a string one joins the texts checked at the end."""
    if type(value) is str:
        texts.append(value)
        return value
    return None if value is None else str(value)


# ---- the field rules, one Python call a field ----------------------------------------------


def parse_order(payload: dict[str, Any]) -> Order:
    """A Shopify REST order (the bare object of an orders/* webhook) as an internal Order;
    the compiled rules' (`order`) when they can tell, else the field rules'."""
    return order(payload) or parse_order_by_rules(payload)


def parse_order_by_rules(payload: dict[str, Any]) -> Order:  # the reference; words refusals
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
    return from_checked(  # every value below comes out of a field rule
        Order,
        order_id=str(id_string(payload.get("id"), "id")),
        customer_id=id_string(customer.get("id"), "customer.id", False) if customer else None,
        created_at=created_at,
        updated_at=timestamp(updated_raw, "updated_at"),
        cancelled=payload.get("cancelled_at") is not None,
        currency=currency_code(payload.get("currency"), "currency"),
        total_price=money(payload.get("total_price", "0"), "total_price"),
        lines=tuple(_lines(line_items)),
        refunds=tuple(_order_refunds(payload.get("refunds"))),
    )


def _lines(line_items: list[Any]) -> list[LineItem]:
    lines = []
    for index, item in enumerate(line_items):
        try:
            line = _line(item)
        except PayloadError as error:  # "line_items[3]" + ".price must be ...": the names
            raise PayloadError(f"line_items[{index}]{error}") from None  # made on refusal only
        if line is not None:  # None: a custom line (gift card, tip), no product
            lines.append(line)
    return lines


def _line(item: Any) -> LineItem | None:
    if not isinstance(item, dict):
        raise PayloadError(" must be an object")
    product_id = id_string(item.get("product_id"), ".product_id", False)
    return None if product_id is None else checked_line(
        product_id,  # every value out of a field rule
        id_string(item.get("variant_id"), ".variant_id", False),
        display_text(item.get("title"), ".title"), quantity(item.get("quantity"), ".quantity"),
        money(item.get("price", "0"), ".price"), id_string(item.get("id"), ".id", False))


def parse_refund(payload: dict[str, Any]) -> tuple[str, list[Refund]]:
    """A refunds/create body: the order id and the quantity given back per line."""
    if not isinstance(payload, dict):
        raise PayloadError("a refund must be a JSON object")
    order_id = str(id_string(payload.get("order_id"), "order_id"))
    return order_id, _refund_lines(payload, "refund")


def _order_refunds(refunds: Any) -> list[Refund]:
    if refunds is None:
        return []
    if not isinstance(refunds, list):
        raise PayloadError("refunds must be a list")
    return [entry for index, refund in enumerate(refunds)
            for entry in _refund_lines(refund, f"refunds[{index}]")]


def _refund_lines(refund: Any, field: str) -> list[Refund]:
    if not isinstance(refund, dict):
        raise PayloadError(f"{field} must be an object")
    refund_id = str(id_string(refund.get("id"), f"{field}.id"))
    lines = refund.get("refund_line_items") or []
    if not isinstance(lines, list):
        raise PayloadError(f"{field}.refund_line_items must be a list")
    entries = []
    for index, line in enumerate(lines):
        where = f"{field}.refund_line_items[{index}]"
        if not isinstance(line, dict):
            raise PayloadError(f"{where} must be an object")
        entries.append(from_checked(
            Refund,
            refund_id=refund_id,
            line_id=str(id_string(line.get("line_item_id"), f"{where}.line_item_id")),
            quantity=quantity(line.get("quantity"), f"{where}.quantity"),
        ))
    return entries
