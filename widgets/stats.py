"""Widget stats per placement: impressions, clicks, add-to-carts, CTR and attributed orders
and revenue over the last N days, for the API and the CLI.

An order is attributed to the placement of the latest click (within the attribution window)
on one of its products: it counts once, with its whole net value (`attributed_revenue`). The
value of the clicked products' own lines goes to the placement each was clicked in
(`clicked_revenue`). Money is per currency, as decimal strings.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.attribution import DAY, attributions_since
from plugin.store.connection import text
from plugin.store.tracking import KINDS, day_of
from plugin.web.params import BadRequest

MAX_DAYS = 400  # the daily counters expire after keys.WIDGET_COUNTS_TTL_SECONDS


@dataclass
class PlacementStats:
    impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    attributed_orders: int = 0
    attributed_revenue: defaultdict[str, Decimal] = field(
        default_factory=lambda: defaultdict(Decimal))
    clicked_revenue: defaultdict[str, Decimal] = field(
        default_factory=lambda: defaultdict(Decimal))

    def add(self, other: PlacementStats) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.add_to_carts += other.add_to_carts
        self.attributed_orders += other.attributed_orders
        for currency, value in other.attributed_revenue.items():
            self.attributed_revenue[currency] += value
        for currency, value in other.clicked_revenue.items():
            self.clicked_revenue[currency] += value

    def as_json(self) -> dict[str, Any]:
        return {
            "impressions": self.impressions,
            "clicks": self.clicks,
            "add_to_carts": self.add_to_carts,
            "ctr": round(self.clicks / self.impressions, 4) if self.impressions else None,
            "attributed_orders": self.attributed_orders,
            "attributed_revenue": _money(self.attributed_revenue),
            "clicked_revenue": _money(self.clicked_revenue),
        }


def _money(values: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(value) for currency, value in sorted(values.items())}


def parse_days(raw: str | None) -> int:
    if raw is None:
        return 30
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise BadRequest(f"days must be an integer from 1 to {MAX_DAYS}, got {raw!r}")
    return int(raw)


async def _count_events(
    redis: aioredis.Redis, shop_id: str, days: int, now: float
) -> dict[str, PlacementStats]:
    today = datetime.fromtimestamp(now, UTC).date()
    dates = [(today - timedelta(days=n)).isoformat() for n in range(days)]
    async with redis.pipeline(transaction=False) as pipe:
        for date in dates:
            pipe.hgetall(keys.widget_counts(shop_id, date))
        per_day = await pipe.execute()
    rows: dict[str, PlacementStats] = defaultdict(PlacementStats)
    attribute = dict(zip(KINDS, ("impressions", "clicks", "add_to_carts"), strict=True))
    for counters in per_day:
        for raw_field, raw_count in counters.items():
            placement, _, kind = text(raw_field).rpartition(":")
            if kind in attribute:
                row = rows[placement]
                setattr(row, attribute[kind], getattr(row, attribute[kind]) + int(raw_count))
    return rows


async def widget_stats(
    redis: aioredis.Redis, shop_id: str, days: int, attribution_days: int,
    now: float | None = None,
) -> dict[str, Any]:
    """Per placement stats of the last `days` UTC days (today included)."""
    now = time.time() if now is None else now
    rows = await _count_events(redis, shop_id, days, now)
    first_day = datetime.fromisoformat(day_of(now - (days - 1) * DAY)).replace(tzinfo=UTC)
    for order in await attributions_since(redis, shop_id, first_day.timestamp()):
        touches = order.within(attribution_days)
        if not touches:
            continue
        last = max(touches.values(), key=lambda t: t.clicked_at)
        rows[last.placement].attributed_orders += 1
        rows[last.placement].attributed_revenue[order.currency] += order.value
        for touch in touches.values():
            rows[touch.placement].clicked_revenue[order.currency] += touch.revenue
    total = PlacementStats()
    for row in rows.values():
        total.add(row)
    return {
        "shop_id": shop_id,
        "days": days,
        "since": first_day.date().isoformat(),
        "attribution_days": attribution_days,
        "placements": {name: rows[name].as_json() for name in sorted(rows)},
        "total": total.as_json(),
    }


