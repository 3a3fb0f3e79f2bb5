"""The one internal order model every platform adapter produces."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from plugin.store.fields import (
    MAX_TEXT_CHARS,
    PayloadError,
    currency_code,
    epoch,
    id_string,
    is_text,
    money,
    quantity,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class LineItem:
    product_id: str
    variant_id: str | None
    title: str
    quantity: int  # as ordered
    price: str  # decimal string in the order's currency
    line_id: str | None = None  # the platform's line item id (refunds name lines by it)

    def __post_init__(self) -> None:
        _id(self.product_id, "product_id")
        _id(self.variant_id, "variant_id", required=False)
        _id(self.line_id, "line_id", required=False)
        if not isinstance(self.title, str) or len(self.title) > MAX_TEXT_CHARS \
                or not is_text(self.title):
            raise PayloadError(f"a line's title must be text of at most {MAX_TEXT_CHARS} "
                               "characters")
        quantity(self.quantity, "quantity")
        _amount(self.price, "price")


@dataclass(frozen=True)
class Refund:
    """Quantity of one line given back by one refund (a refund may cover several lines)."""

    refund_id: str
    line_id: str
    quantity: int

    def __post_init__(self) -> None:
        _id(self.refund_id, "refund_id")
        _id(self.line_id, "refund line_id")
        quantity(self.quantity, "refunded quantity")


@dataclass(frozen=True)
class Order:
    """A normalised order. Ids are strings; times are epoch seconds from the order itself."""

    order_id: str
    customer_id: str | None  # None for guest checkouts (kept: they say what goes together)
    created_at: float
    updated_at: float
    cancelled: bool  # True: counts for nothing (cancelled, fully refunded, never paid)
    currency: str
    total_price: str
    lines: tuple[LineItem, ...]
    refunds: tuple[Refund, ...] = ()

    def __post_init__(self) -> None:
        """Nothing half-valid exists: every field obeys plugin.store.fields' rules (an adapter
        has checked them under the platform's field names already; this is the last line)."""
        _id(self.order_id, "order_id")
        _id(self.customer_id, "customer_id", required=False)
        epoch(self.created_at, "created_at")
        epoch(self.updated_at, "updated_at")
        if currency_code(self.currency, "currency") != self.currency:
            raise PayloadError(f"currency must be an upper-case ISO 4217 code, got "
                               f"{self.currency!r}")
        _amount(self.total_price, "total_price")
        if not all(isinstance(line, LineItem) for line in self.lines) \
                or not all(isinstance(refund, Refund) for refund in self.refunds):
            raise PayloadError("an order's lines and refunds must be LineItem and Refund")

    def net_quantity(self, line: LineItem) -> int:
        """What the customer kept of a line: ordered minus refunded, never below zero."""
        given_back = sum(r.quantity for r in self.refunds if r.line_id == line.line_id)
        return max(0, line.quantity - given_back) if line.line_id else line.quantity

    def to_json(self) -> str:
        # what json.dumps(asdict(self)) writes, without asdict's deep copy (3x faster): the
        # instances hold their fields only, of types json writes as they are
        data = dict(vars(self))
        data["lines"] = [vars(line) for line in self.lines]
        data["refunds"] = [vars(refund) for refund in self.refunds]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes, trusted: bool = False) -> Order:
        """The order `to_json` wrote. `trusted`: written by the order store, which checked the
        field rules then; the checks are skipped (bulk reads such as training's, where they
        would cost about 4 us a line)."""
        data = json.loads(raw)
        build = _unchecked if trusted else _checked
        lines = tuple(build(LineItem, line) for line in data.pop("lines"))
        refunds = tuple(build(Refund, refund) for refund in data.pop("refunds", ()))
        return build(cls, {**data, "lines": lines, "refunds": refunds})


def from_checked(kind: type[T], **values: Any) -> T:
    """`kind` (Order, LineItem, Refund) of values that each came out of plugin.store.fields'
    rules (an adapter's parse, whose refusals name the platform's fields): __post_init__ is
    not run, it would check them again (about a third of parsing an order)."""
    return _unchecked(kind, values)


def checked_line(product_id: str, variant_id: str | None, title: str, quantity: int,
                 price: str, line_id: str | None) -> LineItem:
    """from_checked(LineItem, ...) with every field given: one C call fills the instance (an
    adapter makes one a line of every webhook: 0.51 us, where zipping the field names took
    1.28)."""
    made = _new(LineItem)
    made.__dict__.update(product_id=product_id, variant_id=variant_id, title=title,
                         quantity=quantity, price=price, line_id=line_id)
    return made


def checked_refund(refund_id: str, line_id: str, quantity: int) -> Refund:
    """from_checked(Refund, ...) with every field given, as checked_line."""
    made = _new(Refund)
    made.__dict__.update(refund_id=refund_id, line_id=line_id, quantity=quantity)
    return made


def checked_order(order_id: str, customer_id: str | None, created_at: float, updated_at: float,
                  cancelled: bool, currency: str, total_price: str, lines: tuple[LineItem, ...],
                  refunds: tuple[Refund, ...]) -> Order:
    """from_checked(Order, ...) with every field given, as checked_line."""
    made = _new(Order)
    made.__dict__.update(order_id=order_id, customer_id=customer_id, created_at=created_at,
                         updated_at=updated_at, cancelled=cancelled, currency=currency,
                         total_price=total_price, lines=lines, refunds=refunds)
    return made


_new = object.__new__


def _checked(kind: type[T], values: dict[str, Any]) -> T:
    return kind(**values)


def _unchecked(kind: type[T], values: dict[str, Any]) -> T:
    """`kind` with `values` (defaults for the fields they lack), __post_init__ not run."""
    made = object.__new__(kind)
    known = _FIELDS.get(kind)
    if known is None:  # looked up once: dataclasses.fields costs more than the instance
        known = _FIELDS[kind] = tuple((f.name, f.default)
                                      for f in fields(kind))  # type: ignore[arg-type]
    # the fields in declaration order, as __init__ would set them (to_json writes vars()),
    # into the instance's own dict (replacing it with a new one costs twice as much)
    made.__dict__.update([
        (name, values[name] if name in values or default is MISSING else default)
        for name, default in known])
    return made


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}  # (name, default or MISSING) per field


def stored_order(raw: str | bytes) -> Order | None:
    """A stored order, or None (logged) if it breaks today's field rules: data written before
    them is skipped on read until the migration (plugin.store.migrations) has moved it aside."""
    try:
        return Order.from_json(raw)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        log.warning("skipped a stored order that breaks the field rules: %s", error)
        return None


def email_customer_id(email: str | None) -> str | None:
    """The customer id given to orders known only by an e-mail address (Shopify's CSV export):
    "email:" + the first 24 hex digits of sha256(lower-cased address); None without one.
    A redaction that names the address finds these orders through the same function."""
    address = (email or "").strip().lower()
    return f"email:{hashlib.sha256(address.encode()).hexdigest()[:24]}" if address else None


def _id(value: object, field: str, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or id_string(value, field, required) != value:
        raise PayloadError(f"{field} must be a string id, got {value!r}")


def _amount(value: object, field: str) -> None:
    if not isinstance(value, str) or money(value, field) != value:
        raise PayloadError(f"{field} must be a decimal string, got {value!r}")
