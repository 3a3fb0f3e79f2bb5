"""The overview's figures: the last 30 days against the 30 before, the last 12 months, and
what each widget placement earned."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from plugin.admin.charts import bar_chart
from plugin.engine.lifecycle import load_order_facts, metrics
from recommender.lifecycle.metrics import DEFAULT_LOOKBACK_DAYS
from widgets.stats import widget_stats

DAY = 86400.0
PERIOD_DAYS = 30


def change(now: float | None, before: float | None) -> str:
    """"+12%" / "-3%" / "" against the previous period."""
    if now is None or not before:
        return ""
    return f"{(now - before) / before:+.0%}"


def _money_of(money: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The shop's main currency (most orders) and its figures."""
    if not money:
        return "", {}
    currency = max(money, key=lambda c: money[c]["orders"])
    return currency, money[currency]


async def overview(redis: aioredis.Redis, shop_id: str, attribution_days: int,
                   now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    facts = await load_order_facts(redis, shop_id)
    span = PERIOD_DAYS * DAY
    current = metrics(shop_id, facts, now, now - span, now, DEFAULT_LOOKBACK_DAYS)
    previous = metrics(shop_id, facts, now - span, now - 2 * span, now - span,
                       DEFAULT_LOOKBACK_DAYS)
    currency, money = _money_of(current["period"]["money"])
    _, money_before = _money_of(previous["period"]["money"])
    figures = []
    for label, value, before, shown in [
        ("Orders", current["period"]["orders"], previous["period"]["orders"], None),
        ("Revenue", money.get("revenue"), money_before.get("revenue"),
         f"{money.get('revenue', 0):,.2f} {currency}"),
        ("Average order value", money.get("aov"), money_before.get("aov"),
         f"{money.get('aov') or 0:,.2f} {currency}"),
        ("Repeat-purchase rate", current["repeat_purchase_rate"],
         previous["repeat_purchase_rate"], None),
        ("Retention (30 days)", current["retention"]["rate"],
         previous["retention"]["rate"], None),
    ]:
        if shown is None:
            shown = ("—" if value is None else f"{value:.1%}" if isinstance(value, float)
                     else f"{value:,}")
        figures.append({"label": label, "value": shown, "change": change(value, before)})
    months = current["monthly"][-12:]
    names = [m["month"] for m in months]
    orders = [float(m["orders"]) for m in months]
    revenue = [float(m["revenue"].get(currency, 0)) for m in months]
    stats = await widget_stats(redis, shop_id, PERIOD_DAYS, attribution_days, now)
    return {
        "currency": currency, "figures": figures, "months": months,
        "orders_chart": bar_chart("Orders per month", names, orders),
        "revenue_chart": bar_chart(f"Revenue per month ({currency or 'no orders'})", names,
                                   revenue, [f"{r:,.2f}" for r in revenue]),
        "placements": stats["placements"], "total": stats["total"], "days": PERIOD_DAYS,
    }
