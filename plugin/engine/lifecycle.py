"""Lifecycle figures of a shop from its stored orders: order facts (kept per process),
metrics, stage counts and every customer's stage.

An order becomes a fact when it is not cancelled, names a customer, and keeps a net value above
zero: sum(price * net quantity) over its lines, where the net quantity is what was ordered minus
what refunds gave back. A fully refunded (refunds-only) order is worth 0 and is not a purchase;
a partly refunded one counts with what was kept. The order store writes each order's fact with
the order (plugin.store.facts). Times are the orders' own created_at; every answer is "as of"
an instant (default: now).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

import redis.asyncio as aioredis

from plugin.store.facts import Version, facts_version, parse_records, read_records
from recommender.lifecycle import (
    STAGE_RULES,
    STAGES,
    CustomerStage,
    Facts,
    StageTable,
    customer_stages,
    iso,
    monthly,
    period,
    retention,
    stage_table,
    summary,
)


async def load_order_facts(redis: aioredis.Redis, shop_id: str) -> Facts:
    """Every order of the shop that counts, as facts (see the module docstring).

    Each process keeps the facts of the last few shops it read: while their version in Redis
    is unchanged (one HMGET per call) they are reused; after a change by any process they are
    read again, records and version in one transaction (one HVALS of packed records)."""
    return (await _versioned_facts(redis, shop_id))[1]


async def _versioned_facts(redis: aioredis.Redis, shop_id: str) -> tuple[Version, Facts]:
    version = await facts_version(redis, shop_id)
    known = _KNOWN.pop(shop_id, None)
    if known is None or known[0] != version:
        version, records = await read_records(redis, shop_id)
        known = (version, await asyncio.to_thread(parse_records, records))
    _KNOWN[shop_id] = known  # most recently used last
    while len(_KNOWN) > _SHOPS_KEPT:
        _KNOWN.pop(next(iter(_KNOWN)))
    return known


_KNOWN: dict[str, tuple[Version, Facts]] = {}
# Stage tables asked for at a given instant (a feed's later pages: the cursor carries the first
# page's as_of), by shop, facts version and instant; "now" is never kept.
_TABLES: dict[tuple[str, Version, float], StageTable] = {}
_TABLES_KEPT = 16
_SHOPS_KEPT = 8


def forget_facts() -> None:
    """Drop every shop's cached facts (the next call reads them again)."""
    _KNOWN.clear()
    _TABLES.clear()


async def shop_stage_table(redis: aioredis.Redis, shop_id: str,
                           as_of: float | None = None) -> StageTable:
    """Every customer's stage as of `as_of` (None = now), as arrays. A table for a given
    instant is kept while the shop's facts do not change (a feed's pages share one)."""
    version, facts = await _versioned_facts(redis, shop_id)
    if as_of is None:
        return stage_table(facts, time.time())
    key = (shop_id, version, as_of)
    table = _TABLES.pop(key, None) or stage_table(facts, as_of)
    _TABLES[key] = table  # most recently used last
    while len(_TABLES) > _TABLES_KEPT:
        _TABLES.pop(next(iter(_TABLES)))
    return table


async def shop_stages(
    redis: aioredis.Redis, shop_id: str, as_of: float | None = None
) -> dict[str, CustomerStage]:
    """Every customer's stage as of `as_of` (None = now); customers without a fact are absent."""
    facts = await load_order_facts(redis, shop_id)
    return customer_stages(facts, time.time() if as_of is None else as_of)


NOT_A_PURCHASE = ("cancelled orders, guest orders and orders whose net value is 0 (fully "
                  "refunded or free) are not purchases")


DEFINITIONS = {
    "customer": "someone with at least one order that counts: " + NOT_A_PURCHASE,
    "customer_at": "a customer at an instant T has an order in (T - lookback_days, T]",
    "retention_rate": "(customers at end - new customers acquired in the period) / customers "
                      "at start; null without customers at start",
    "repeat_purchase_rate": "share of customers with 2 or more orders up to as_of",
    "aov": "revenue / orders, per currency",
    "orders_per_customer": "orders / customers up to as_of",
    "clv": "historic customer lifetime value: revenue / customers who paid in that currency",
    "revenue": "sum of price * net quantity (ordered minus refunded) of the orders' lines",
}


def metrics(shop_id: str, facts: Facts, as_of: float, start: float, end: float,
            lookback_days: float) -> dict[str, Any]:
    """The metrics answer (also what the CLI prints)."""
    totals = summary(facts, as_of)
    kept = retention(facts, start, end, lookback_days)
    return {
        "shop_id": shop_id, "as_of": iso(as_of), **totals,
        "retention": {**asdict(kept), "start": iso(kept.start), "end": iso(kept.end)},
        "period": {"start": iso(start), "end": iso(end), **period(facts, start, end)},
        "monthly": monthly(facts, as_of),
        "notes": notes(shop_id, totals, as_of),
        "definitions": DEFINITIONS,
    }


def notes(shop_id: str, totals: dict[str, Any], as_of: float) -> list[str]:
    said = []
    if not totals["customers"]:
        said.append(f"shop {shop_id!r} has no order that counts as of {iso(as_of)} "
                    f"({NOT_A_PURCHASE}): counts are 0 and rates null")
    if len(totals["money"]) > 1:
        said.append(f"orders are in several currencies ({', '.join(sorted(totals['money']))}): "
                    "money is reported per currency, never converted or added up")
    return said


def stage_counts(shop_id: str, facts: Facts, as_of: float) -> dict[str, Any]:
    """Customers per stage with the stage's rule and action (also what the CLI prints)."""
    stages = stage_table(facts, as_of)
    total, cycle = len(stages), stages.cycle_days
    churn = {stage: stages.churn_risk[stages.of_stage(stage)].tolist() for stage in STAGES}
    return {
        "shop_id": shop_id, "as_of": iso(as_of), "customers": total,
        "repurchase_cycle_days": None if cycle is None else round(cycle, 2),
        "stages": [
            {"stage": stage, "label": STAGE_RULES[stage].label, "customers": len(members),
             "share": round(len(members) / total, 4) if total else None,
             "mean_churn_risk": round(sum(members) / len(members), 4) if members else None,
             "rule": STAGE_RULES[stage].rule, "action": STAGE_RULES[stage].action}
            for stage, members in churn.items()
        ],
        "scoring": "R, F, M are 1..5 by average-rank quintile among the shop's customers "
                   "(recency: latest order = 5); FM = ceil((F + M) / 2); see docs/lifecycle.md",
        "churn_risk": "1 - P(alive) of a customer ordering every `gap` days on average (their "
                      "own median gap shrunk towards the shop's repurchase cycle) who is still "
                      "a buyer after n orders with p = n / (n + 1); 0..1",
        "note": None if total else f"shop {shop_id!r} has no order that counts as of "
                                   f"{iso(as_of)} ({NOT_A_PURCHASE})",
    }
