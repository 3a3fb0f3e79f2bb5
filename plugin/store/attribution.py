"""Attribution: orders that contain products their customer clicked in a widget before.

Every time an order is stored, its entry is recomputed from the stored version (idempotent:
redeliveries and updates overwrite it, a cancelled or fully refunded order loses it). The entry
keeps, per clicked product of the order, the placement and time of the customer's latest click
on it before the order within ATTRIBUTION_LOOKBACK_DAYS; the reporting window
(SHOPRECO_ATTRIBUTION_DAYS, at most the lookback) is applied when the stats are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.order import Order, stored_order
from plugin.store.tracking import clicks_of_customer

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
    if order.cancelled or order.customer_id is None:
        return None
    values = line_values(order)
    if not values:
        return None
    since = order.created_at - ATTRIBUTION_LOOKBACK_DAYS * DAY
    clicks = await clicks_of_customer(redis, shop_id, order.customer_id, since, order.created_at)
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
    raw = await redis.hget(keys.orders(shop_id), order_id)
    order = None if raw is None else stored_order(raw)
    found = None if order is None else await attribution_of(redis, shop_id, order)
    async with redis.pipeline(transaction=True) as pipe:
        if found is None:
            pipe.hdel(keys.widget_attribution(shop_id), order_id)
            pipe.zrem(keys.widget_attributed_orders(shop_id), order_id)
        else:
            pipe.hset(keys.widget_attribution(shop_id), order_id, found.to_json())
            pipe.zadd(keys.widget_attributed_orders(shop_id), {order_id: found.created_at})
        await pipe.execute()


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
