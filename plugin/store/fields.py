"""The field rules every value obeys before shopreco keeps it: the one validating layer between
what platforms, files and callers send and the internal types (the Order model, catalog
entries). Adapters call them with the platform's own field names, so a refusal names the field
as the sender wrote it; the Order model checks its finished fields with the same rules.

Stdlib only, on purpose: the rules are few, they must name platform field paths exactly
(`line_items[3].price`), and they run on every order of the intake path. A PayloadError is a
400 at the door, or a dead letter with its reason for a resource fetched later.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from plugin.store.urls import safe_http_url

MAX_ID_CHARS = 128
_BIG_ID = 10**18  # integers below it in size are ids of at most 19 characters
MAX_TEXT_CHARS = 500
MAX_NUMBER_CHARS = 40
MAX_AMOUNT = Decimal("1e12")  # no price, total or line of a shop comes near a trillion
MAX_QUANTITY = 1_000_000
# Order and event times: from the Unix epoch to the end of 2099.
EARLIEST, LATEST = 0.0, 4_102_444_800.0
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# An amount Decimal writes back unchanged and within MAX_AMOUNT: no sign, no leading zero, at
# most 12 digits before the point and 6 after it (Decimal writes 7 or more as an exponent).
_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?\Z")


class PayloadError(ValueError):
    """A value does not have the shape its field promises; the message names the field."""


def _shown(value: Any) -> str:
    """A refused value as a message quotes it: repr, at most 60 characters."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def is_text(value: str) -> bool:
    """Valid Unicode that UTF-8 can hold (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def id_string(value: Any, field: str, required: bool = True) -> str | None:
    """A platform id (possibly > 2^53) as a string of 1 to MAX_ID_CHARS printable characters;
    None/empty allowed only when not required."""
    kind = type(value)
    if kind is int and -_BIG_ID < value < _BIG_ID:  # the usual ids: what the checks give
        return str(value)
    if kind is str and 0 < len(value) <= MAX_ID_CHARS and value.isprintable():
        return str(value)  # the same object
    if value is None or value == "":
        if required:
            raise PayloadError(f"{field} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"{field} must be an integer or string id, got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 4 * MAX_ID_CHARS:
        raise PayloadError(f"{field} must be an id of at most {MAX_ID_CHARS} characters")
    text = str(value)
    if len(text) > MAX_ID_CHARS or not text.isprintable():
        raise PayloadError(f"{field} must be an id of 1 to {MAX_ID_CHARS} printable characters,"
                           f" got {_shown(value)}")
    return text


def timestamp(value: Any, field: str) -> float:
    """Epoch seconds from an ISO 8601 string with an offset (naive times are read as UTC),
    between 1970 and 2099."""
    if not isinstance(value, str) or not value or len(value) > MAX_NUMBER_CHARS:
        raise PayloadError(f"{field} must be an ISO 8601 timestamp, got {_shown(value)}")
    seconds = iso_seconds(value)
    if seconds is None:
        raise PayloadError(f"{field} must be an ISO 8601 timestamp, got {_shown(value)}")
    return epoch(seconds, field)


@lru_cache(maxsize=1024)
def iso_seconds(value: str) -> float | None:
    """An ISO 8601 string's epoch seconds, None if it is not one. Kept for the last strings
    read: an order names the same instant several times (created, updated, processed), and
    the offset arithmetic is most of a timestamp's cost."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        return None


def epoch(value: Any, field: str) -> float:
    """Epoch seconds, finite, from 1970 to 2099."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not EARLIEST <= value <= LATEST:
        raise PayloadError(f"{field} must be a time between 1970 and 2099, got {_shown(value)}")
    return float(value)


def money(value: Any, field: str, negative: bool = False) -> str:
    """A finite decimal amount as a string, at most MAX_AMOUNT; never negative unless the
    field allows it (`negative`: refunds, adjustments)."""
    if type(value) is str and _PLAIN_AMOUNT.match(value):
        return value  # what the checks below return for it, in a tenth of the time
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PayloadError(f"{field} must be a decimal amount, got {_shown(value)}")
    raw = value.strip() if isinstance(value, str) else str(value)
    if len(raw) > MAX_NUMBER_CHARS:
        raise PayloadError(f"{field} must be a decimal amount, got {_shown(value)}")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise PayloadError(f"{field} must be a decimal amount, got {_shown(value)}") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise PayloadError(f"{field} must be a finite amount of at most {MAX_AMOUNT:,.0f}, "
                           f"got {_shown(value)}")
    if amount < 0 and not negative:
        raise PayloadError(f"{field} must not be negative, got {_shown(value)}")
    return str(amount)


def quantity(value: Any, field: str) -> int:
    """A whole number of units from 0 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise PayloadError(f"{field} must be a whole number from 0 to {MAX_QUANTITY:,}, "
                           f"got {_shown(value)}")
    return value


def display_text(value: Any, field: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Display text (a title, a name): None is "", numbers are written out, control
    characters become spaces, at most `max_chars` characters kept. Not valid Unicode (a lone
    surrogate) or another type is refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"{field} must be text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(f"{field} must be text, got {_shown(value)}")
    written = value if isinstance(value, str) else str(value)
    if written.isprintable():  # no control character, no lone surrogate: kept as it is
        return written[:max_chars]
    if not is_text(written):
        raise PayloadError(f"{field} must be valid Unicode text (it holds a lone surrogate)")
    return _CONTROL.sub(" ", written)[:max_chars]


def currency_code(value: Any, field: str, default: str = "") -> str:
    """An ISO 4217 code (upper-cased); `default` when none is given."""
    if value is None or value == "":
        return default
    code = value.strip().upper() if isinstance(value, str) else None
    if code is None or not _CURRENCY.match(code):
        raise PayloadError(f"{field} must be an ISO 4217 currency code such as EUR, "
                           f"got {_shown(value)}")
    return code


def http_url(value: Any, base: str | None = None) -> str | None:
    """A URL safe to keep and to hand out (plugin.store.urls.safe_http_url: absolute http(s)
    with a host, well formed), or None. A protocol-relative URL (`//cdn.example/i.jpg`) is
    made https; a path (`/products/mug`) is joined to `base`, the shop's storefront URL, and
    dropped without one. javascript:, data: and the like are dropped."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("//"):
        value = "https:" + value
    elif value.startswith("/"):
        if not base:
            return None
        value = base.rstrip("/") + value
    return safe_http_url(value)
