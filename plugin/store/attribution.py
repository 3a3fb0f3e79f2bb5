"""Attribution: orders that contain products their customer clicked in a widget before.

Every time an order is stored, its entry is recomputed from the stored version (idempotent:
redeliveries and updates overwrite it, a cancelled or fully refunded order loses it). The entry
keeps, per clicked product of the order, the placement and time of the customer's latest click
on it before the order within ATTRIBUTION_LOOKBACK_DAYS; the reporting window
(SHOPRECO_ATTRIBUTION_DAYS, at most the lookback) is applied when the stats are read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.experiment_data import count_orders
from plugin.store.order import Order, stored_order
from plugin.store.tracking import Click, clicks_of_customers

ATTRIBUTION_LOOKBACK_DAYS = 90  # = how long clicks are kept (keys.WIDGET_CLICKS_TTL_SECONDS)
DAY = 24 * 3600


@dataclass(frozen=True)
class Touch:
    """The latest click on one product of the order before it was placed."""

    placement: str
    clicked_at: float
    revenue: Decimal  # what the order's lines of this product are worth (net of refunds)


@dataclass(frozen=True)
class Attribution:
    order_id: str
    currency: str
    value: Decimal  # the order's net value
    created_at: float
    touches: dict[str, Touch]  # product id -> latest click

    def within(self, days: int) -> dict[str, Touch]:
        """The touches at most `days` days before the order."""
        return {p: t for p, t in self.touches.items()
                if self.created_at - t.clicked_at <= days * DAY}

    def to_json(self) -> str:
        return json.dumps({
            "currency": self.currency, "value": str(self.value), "created_at": self.created_at,
            "touches": {p: [t.placement, t.clicked_at, str(t.revenue)]
                        for p, t in self.touches.items()},
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, order_id: str, raw: str | bytes) -> Attribution:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            order_id=order_id, currency=data["currency"], value=Decimal(data["value"]),
            created_at=float(data["created_at"]),
            touches={p: Touch(t[0], float(t[1]), Decimal(t[2]))
                     for p, t in data["touches"].items()},
        )


def line_values(order: Order) -> dict[str, Decimal]:
    """Product id -> net value of the order's lines of it (kept quantity times unit price)."""
    values: dict[str, Decimal] = {}
    for line in order.lines:
        kept = order.net_quantity(line)
        if kept > 0:
            values[line.product_id] = values.get(line.product_id, Decimal(0)) + \
                Decimal(line.price) * kept
    return values


async def attribution_of(redis: aioredis.Redis, shop_id: str, order: Order) -> Attribution | None:
    """The order's attribution from its customer's clicks, None if nothing attributes it."""
    if not _may_be_attributed(order):
        return None
    clicks = await clicks_of_customers(redis, shop_id, [_click_window(order)])
    return attribution_from(order, clicks[0])


def _may_be_attributed(order: Order) -> bool:
    return not order.cancelled and order.customer_id is not None and bool(line_values(order))


def _click_window(order: Order) -> tuple[str, float, float]:
    """(customer, since, until): the clicks that may attribute the order. Platforms give an
    order's time in whole seconds, so a click in the order's own second (a quick checkout)
    may have come before it: the window ends a second later."""
    return (str(order.customer_id), order.created_at - ATTRIBUTION_LOOKBACK_DAYS * DAY,
            order.created_at + ORDER_TIME_RESOLUTION)


ORDER_TIME_RESOLUTION = 1.0  # seconds


def attribution_from(order: Order, clicks: Iterable[Click]) -> Attribution | None:
    """The order's attribution from the clicks of its window, None if none attributes it."""
    values = line_values(order)
    touches: dict[str, Touch] = {}
    for click in sorted(clicks, key=lambda c: c.at):
        if click.product_id in values:
            touches[click.product_id] = Touch(click.placement, click.at,
                                              values[click.product_id])
    if not touches:
        return None
    return Attribution(order.order_id, order.currency, sum(values.values(), Decimal(0)),
                       order.created_at, touches)


async def attribute_order(redis: aioredis.Redis, shop_id: str, order_id: str) -> None:
    """Recompute the attribution of the stored version of an order (call after storing it)."""
    await attribute_orders(redis, shop_id, [order_id])


async def attribute_orders(
    redis: aioredis.Redis, shop_id: str, order_ids: Sequence[str],
    stored: Mapping[str, Order] | None = None,
) -> None:
    """attribute_order of each order, in three round trips for all (four when some stored
    version must be read: those not in `stored`, the versions the caller just stored), and
    one more for the running experiments (plugin.store.experiment_data.count_orders)."""
    order_ids = list(dict.fromkeys(order_ids))
    if not order_ids:
        return
    known = dict(stored or {})
    unknown = [order_id for order_id in order_ids if order_id not in known]
    if unknown:
        for order_id, raw in zip(unknown, await redis.hmget(keys.orders(shop_id), unknown),
                                 strict=True):
            order = None if raw is None else stored_order(raw)
            if order is not None:
                known[order_id] = order
    wanted = [known[i] for i in order_ids if i in known and _may_be_attributed(known[i])]
    clicks = await clicks_of_customers(redis, shop_id, [_click_window(o) for o in wanted])
    found = {}
    for order, order_clicks in zip(wanted, clicks, strict=True):
        attribution = attribution_from(order, order_clicks)
        if attribution is not None:
            found[order.order_id] = attribution
    gone = [order_id for order_id in order_ids if order_id not in found]
    async with redis.pipeline(transaction=True) as pipe:
        if gone:
            pipe.hdel(keys.widget_attribution(shop_id), *gone)
            pipe.zrem(keys.widget_attributed_orders(shop_id), *gone)
        if found:
            pipe.hset(keys.widget_attribution(shop_id),
                      mapping={i: a.to_json() for i, a in found.items()})
            pipe.zadd(keys.widget_attributed_orders(shop_id),
                      {i: a.created_at for i, a in found.items()})
        await pipe.execute()
    # the running experiments' orders (one HGET when none runs)
    await count_orders(redis, shop_id, [known[i] for i in order_ids if i in known])


async def attributions_since(
    redis: aioredis.Redis, shop_id: str, since: float
) -> list[Attribution]:
    """Attributed orders placed at `since` or later."""
    members: list[Any] = await redis.zrangebyscore(
        keys.widget_attributed_orders(shop_id), since, "+inf")
    order_ids = [text(member) for member in members]
    if not order_ids:
        return []
    raw = await redis.hmget(keys.widget_attribution(shop_id), order_ids)
    return [Attribution.from_json(order_id, entry)
            for order_id, entry in zip(order_ids, raw, strict=True) if entry is not None]
