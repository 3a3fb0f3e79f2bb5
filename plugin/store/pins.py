"""The products an owner pins: shown first, before the model's answer, for one product (its
page, or a cart or order holding it) or everywhere, until an optional end.

The list is one JSON value in the owner's order (keys.pins, no pickle), replaced whole in one
transaction with its change note (kind `pins`). Every process holds it (plugin.store.cache,
`Held`) and, at the end of a pin, leaves it out and drops its kept answers by itself: an end
needs no note. Which pins a query shows, and where, is plugin.engine.serving's.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.fields import PayloadError, id_string

MAX_PINS = 100
LAST_YEAR = 2099
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


@dataclass(frozen=True)
class Pin:
    product_id: str
    for_product_id: str | None  # None: everywhere
    until: float | None  # Unix seconds at which it ends; None: no end
    created_at: float

    @property
    def place(self) -> tuple[str, str | None]:
        """What makes a pin one of its own: the product and where it shows."""
        return self.product_id, self.for_product_id

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


async def pins(redis: aioredis.Redis, shop_id: str) -> list[Pin]:
    """Every stored pin, ended ones too, in the owner's order."""
    raw = await redis.get(keys.pins(shop_id))
    return parse_stored(raw) if raw else []


async def replace_pins(redis: aioredis.Redis, shop_id: str, new: Sequence[Pin]) -> None:
    """The owner's list, replaced in one transaction with its change note; ValueError (nothing
    stored) if it breaks a rule of `check_pins`."""
    value = json.dumps([pin_fields(pin) for pin in check_pins(new)], separators=(",", ":"))
    key = keys.pins(shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        if new:
            pipe.set(key, value)
        else:
            pipe.delete(key)
        changes.note(pipe, shop_id, (changes.PINS, ""))
        await pipe.execute()


def check_pins(new: Sequence[Pin]) -> Sequence[Pin]:
    """`new` if it keeps the rules (at most MAX_PINS, ids as the field rules keep them, no
    product pinned to itself or twice in one place, finite times), else ValueError saying why."""
    if len(new) > MAX_PINS:
        raise ValueError(f"at most {MAX_PINS} pinned products, got {len(new)}")
    seen: set[tuple[str, str | None]] = set()
    for pin in new:
        id_string(pin.product_id, "product_id")
        id_string(pin.for_product_id, "for_product_id", required=False)
        if pin.product_id == pin.for_product_id:
            raise ValueError(f"product {pin.product_id!r} cannot be pinned to itself: it is never "
                             "shown where it is the product asked about")
        if pin.place in seen:
            where = "everywhere" if pin.for_product_id is None else \
                f"for product {pin.for_product_id!r}"
            raise ValueError(f"product {pin.product_id!r} is pinned {where} twice")
        seen.add(pin.place)
        if not math.isfinite(pin.created_at) or (
                pin.until is not None and not math.isfinite(pin.until)):
            raise ValueError("a pin's times must be finite numbers")
    return new


def new_pin(product_id: Any, for_product_id: Any, until: Any, now: float,
            stored: Sequence[Pin] = ()) -> Pin:
    """A pin from what an owner sent (ids; `until` as `parse_until` reads it), keeping the
    creation time of the stored pin of the same product and place; ValueError saying why not."""
    product = id_string(product_id, "product_id")
    assert product is not None  # required
    where = id_string(for_product_id, "for_product_id", required=False)
    created = next((p.created_at for p in stored if p.place == (product, where)), now)
    return Pin(product, where, parse_until(until, now), created)


def parse_until(raw: Any, now: float) -> float | None:
    """None (no end), an ISO 8601 time with a time zone, or a date YYYY-MM-DD meaning the end
    of that day UTC; in the future. ValueError saying what to send otherwise."""
    if raw is None or raw == "":
        return None
    shape = ('until must be an ISO 8601 time with a time zone ("2026-12-24T00:00:00Z") or a '
             f'date YYYY-MM-DD (the end of that day, UTC), got {str(raw)[:40]!r}')
    if not isinstance(raw, str) or len(raw) > 40:
        raise PayloadError(shape)
    try:
        if _DATE.match(raw):
            day = date.fromisoformat(raw)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        else:
            at = datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadError(shape) from None
    if at.tzinfo is None:
        raise PayloadError(shape)
    if at.year > LAST_YEAR:
        raise PayloadError(f"until must be before {LAST_YEAR + 1}, got {raw!r}")
    until = at.timestamp()
    if until <= now:
        raise PayloadError(f"until must be in the future, got {raw!r}")
    return until


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def pin_fields(pin: Pin) -> dict[str, Any]:
    return {"product_id": pin.product_id, "for_product_id": pin.for_product_id,
            "until": pin.until, "created_at": pin.created_at}


def parse_stored(raw: bytes | str) -> list[Pin]:
    """The stored list; an entry that is not a pin (written by hand) is left out."""
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [pin for item in (value if isinstance(value, list) else [])
            if (pin := _stored_pin(item)) is not None]


def _stored_pin(item: Any) -> Pin | None:
    if not isinstance(item, Mapping):
        return None
    product, where = item.get("product_id"), item.get("for_product_id")
    until, created = item.get("until"), item.get("created_at", 0.0)
    if not isinstance(product, str) or not (where is None or isinstance(where, str)):
        return None
    if not (until is None or _number(until)) or not _number(created):
        return None
    return Pin(product, where, None if until is None else float(until), float(created))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


@dataclass(frozen=True)
class Held:
    """What a process holds of a shop's pins: every stored one, those in force when it was
    made, and the instant the first of those ends (inf: none ends)."""

    stored: tuple[Pin, ...]
    active: tuple[Pin, ...]
    ends_at: float

    def ended(self, now: float) -> bool:
        return now >= self.ends_at


def hold(stored: Sequence[Pin], now: float | None = None) -> Held:
    now = time.time() if now is None else now
    active = tuple(pin for pin in stored if pin.active(now))
    ends_at = min((pin.until for pin in active if pin.until is not None), default=math.inf)
    return Held(tuple(stored), active, ends_at)


def shown_for(active: Sequence[Pin], anchors: Sequence[str]) -> list[Pin]:
    """The pins an answer about `anchors` starts with: those for each anchor (in the anchors'
    order, then the owner's), then those for everywhere."""
    chosen = [pin for anchor in dict.fromkeys(anchors) for pin in active
              if pin.for_product_id == anchor]
    return chosen + [pin for pin in active if pin.for_product_id is None]
