"""The one internal order model every platform adapter produces."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


class PayloadError(ValueError):
    """A webhook body does not have the shape its topic promises; the message names the field."""


@dataclass(frozen=True)
class LineItem:
    product_id: str
    variant_id: str | None
    title: str
    quantity: int  # as ordered
    price: str  # decimal string in the order's currency
    line_id: str | None = None  # the platform's line item id (refunds name lines by it)


@dataclass(frozen=True)
class Refund:
    """Quantity of one line given back by one refund (a refund may cover several lines)."""

    refund_id: str
    line_id: str
    quantity: int


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

    def net_quantity(self, line: LineItem) -> int:
        """What the customer kept of a line: ordered minus refunded, never below zero."""
        given_back = sum(r.quantity for r in self.refunds if r.line_id == line.line_id)
        return max(0, line.quantity - given_back) if line.line_id else line.quantity

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Order:
        data = json.loads(raw)
        lines = tuple(LineItem(**line) for line in data.pop("lines"))
        refunds = tuple(Refund(**refund) for refund in data.pop("refunds", ()))
        return cls(lines=lines, refunds=refunds, **data)


def email_customer_id(email: str | None) -> str | None:
    """The customer id given to orders known only by an e-mail address (Shopify's CSV export):
    "email:" + the first 24 hex digits of sha256(lower-cased address); None without one.
    A redaction that names the address finds these orders through the same function."""
    address = (email or "").strip().lower()
    return f"email:{hashlib.sha256(address.encode()).hexdigest()[:24]}" if address else None


def id_string(value: Any, field: str, required: bool = True) -> str | None:
    """Platform ids (possibly > 2^53) as strings; None/empty allowed only when not required."""
    if value is None or value == "":
        if required:
            raise PayloadError(f"{field} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"{field} must be an integer or string id, got {type(value).__name__}")
    return str(value)


def timestamp(value: Any, field: str) -> float:
    """Epoch seconds from an ISO 8601 string with an offset (naive times are read as UTC)."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{field} must be an ISO 8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"{field} must be an ISO 8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def money(value: Any, field: str) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"{field} must be a decimal amount, got {value!r}") from None
    if not amount.is_finite():
        raise PayloadError(f"{field} must be a finite amount, got {value!r}")
    return str(amount)


def quantity(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"{field} must be a non-negative integer, got {value!r}")
    return value
