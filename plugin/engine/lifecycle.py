"""Lifecycle figures of a shop from its stored orders: order facts (cached per process),
metrics, stage counts and every customer's stage.

An order becomes a fact (recommender.lifecycle.OrderFact) when it is not cancelled, names a
customer, and keeps a net value above zero: sum(price * net quantity) over its lines, where the
net quantity is what was ordered minus what refunds gave back. A fully refunded (refunds-only)
order is worth 0 and is not a purchase; a partly refunded one counts with what was kept.
Times are the orders' own created_at; every answer is "as of" an instant (default: now).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.fields import PayloadError, currency_code, id_string
from recommender.lifecycle import (
    STAGE_RULES,
    STAGES,
    CustomerStage,
    OrderFact,
    customer_stages,
    iso,
    monthly,
    period,
    repurchase_cycle_days,
    retention,
    summary,
)


async def load_order_facts(redis: aioredis.Redis, shop_id: str) -> list[OrderFact]:
    """Every order of the shop that counts, as facts (see the module docstring).

    Parsing a big shop's whole history takes seconds, so each process keeps the facts: while
    the shop's orders are unchanged (same number of stored orders, order-change counter and
    time of the last untrained change: a store bumps the counter and the time, an erasure
    changes the count and the time) they are reused as they are; after a change the stored
    orders are read again but only those whose JSON changed are parsed again."""
    signature = await _orders_signature(redis, shop_id)
    known = _KNOWN.pop(shop_id, None) or _Known((), {}, [])
    _KNOWN[shop_id] = known  # most recently used last
    while len(_KNOWN) > _SHOPS_KEPT:
        _KNOWN.pop(next(iter(_KNOWN)))
    if known.signature == signature:
        return list(known.facts)
    by_order: dict[str, tuple[int, OrderFact | None]] = {}
    changed: list[tuple[str, int, bytes]] = []
    async for raw_id, raw in redis.hscan_iter(keys.orders(shop_id), count=1000):
        order_id, digest = text(raw_id), hash(raw)
        seen = known.by_order.get(order_id)
        if seen is not None and seen[0] == digest:
            by_order[order_id] = seen
        else:
            changed.append((order_id, digest, raw))
    parsed = await asyncio.to_thread(_parse, changed)
    by_order.update(parsed)
    facts = [fact for _digest, fact in by_order.values() if fact is not None]
    _KNOWN[shop_id] = _Known(signature, by_order, facts)
    return list(facts)


@dataclass(frozen=True)
class _Known:
    """What this process last read of a shop: order id -> (hash of its JSON, fact or None)."""

    signature: tuple[Any, ...]
    by_order: dict[str, tuple[int, OrderFact | None]]
    facts: list[OrderFact]


_KNOWN: dict[str, _Known] = {}


_SHOPS_KEPT = 8


def forget_facts() -> None:
    """Drop every shop's cached facts (the next read parses the stored orders again)."""
    _KNOWN.clear()


async def _orders_signature(redis: aioredis.Redis, shop_id: str) -> tuple[Any, ...]:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hlen(keys.orders(shop_id))
        pipe.hget(keys.stats(shop_id), "order_changes")
        pipe.hget(keys.train_dirty(shop_id), "last")
        return tuple(await pipe.execute())


def _parse(changed: list[tuple[str, int, bytes]]) -> dict[str, tuple[int, OrderFact | None]]:
    return {order_id: (digest, order_fact(json.loads(raw))) for order_id, digest, raw in changed}


def order_fact(order: dict[str, Any]) -> OrderFact | None:
    """The fact of one stored order (plugin.store.order.Order as JSON), None if it does not count
    (or, written before the field rules, breaks them: see plugin.store.migrations).

    Reads the JSON directly rather than through Order.from_json: the same net quantities
    (Order.net_quantity), several times faster on a shop's whole history."""
    customer_id = order.get("customer_id")
    if order.get("cancelled") or customer_id is None or not _keeps_the_rules(order):
        return None
    given_back: dict[str, int] = {}
    for refund in order.get("refunds") or ():
        given_back[refund["line_id"]] = given_back.get(refund["line_id"], 0) + refund["quantity"]
    value = 0.0
    for line in order.get("lines") or ():
        quantity = line["quantity"]
        if line.get("line_id"):
            quantity = max(0, quantity - given_back.get(line["line_id"], 0))
        value += float(line["price"]) * quantity
    if not 0 < value < math.inf:  # nothing, or a value no rule lets in today
        return None
    return OrderFact(order_id=str(order["order_id"]), customer_id=str(customer_id),
                     at=float(order["created_at"]), value=value,
                     currency=str(order.get("currency") or ""))


def _keeps_the_rules(order: dict[str, Any]) -> bool:
    """The fields a fact takes: ids and currency as the field rules allow them."""
    try:
        return id_string(order["order_id"], "order_id") is not None \
            and id_string(order["customer_id"], "customer_id") is not None \
            and currency_code(order.get("currency"), "currency") == (order.get("currency") or "")
    except (PayloadError, KeyError):
        return False


async def shop_stages(
    redis: aioredis.Redis, shop_id: str, as_of: float | None = None
) -> dict[str, CustomerStage]:
    """Every customer's stage as of `as_of` (None = now); customers without a fact are absent."""
    facts = await load_order_facts(redis, shop_id)
    return customer_stages(facts, time.time() if as_of is None else as_of)


def by_stage(stages: Iterable[CustomerStage]) -> dict[str, list[CustomerStage]]:
    """Customers grouped by stage, every stage present (maybe empty)."""
    grouped: dict[str, list[CustomerStage]] = {stage: [] for stage in STAGES}
    for stage in stages:
        grouped[stage.stage].append(stage)
    return grouped


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


def metrics(shop_id: str, facts: list[OrderFact], as_of: float, start: float, end: float,
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


def stage_counts(shop_id: str, facts: list[OrderFact], as_of: float) -> dict[str, Any]:
    """Customers per stage with the stage's rule and action (also what the CLI prints)."""
    grouped = by_stage(customer_stages(facts, as_of).values())
    total = sum(len(members) for members in grouped.values())
    cycle = repurchase_cycle_days(facts, as_of)
    return {
        "shop_id": shop_id, "as_of": iso(as_of), "customers": total,
        "repurchase_cycle_days": None if cycle is None else round(cycle, 2),
        "stages": [
            {"stage": stage, "label": STAGE_RULES[stage].label, "customers": len(members),
             "share": round(len(members) / total, 4) if total else None,
             "mean_churn_risk": round(sum(m.churn_risk for m in members) / len(members), 4)
             if members else None,
             "rule": STAGE_RULES[stage].rule, "action": STAGE_RULES[stage].action}
            for stage, members in grouped.items()
        ],
        "scoring": "R, F, M are 1..5 by average-rank quintile among the shop's customers "
                   "(recency: latest order = 5); FM = ceil((F + M) / 2); see docs/lifecycle.md",
        "churn_risk": "1 - P(alive) of a customer ordering every `gap` days on average (their "
                      "own median gap shrunk towards the shop's repurchase cycle) who is still "
                      "a buyer after n orders with p = n / (n + 1); 0..1",
        "note": None if total else f"shop {shop_id!r} has no order that counts as of "
                                   f"{iso(as_of)} ({NOT_A_PURCHASE})",
    }
