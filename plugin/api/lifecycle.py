"""Lifecycle metrics and stages of a shop: order facts from Redis, the API handlers under
/api/v1/shops/{shop_id}/lifecycle/ and the `shopreco lifecycle` command.

An order becomes a fact (recommender.lifecycle.OrderFact) when it is not cancelled, names a
customer, and keeps a net value above zero: sum(price * net quantity) over its lines, where the
net quantity is what was ordered minus what refunds gave back. A fully refunded (refunds-only)
order is worth 0 and is not a purchase; a partly refunded one counts with what was kept.
Times are the orders' own created_at; every answer is "as of" an instant (default: now).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.config import Settings
from plugin.store import keys
from plugin.store.connection import open_redis, text
from plugin.store.shops import Shop, ShopError, get_shop
from plugin.web.auth import authorized
from plugin.web.params import BadRequest
from plugin.web.problems import problem
from recommender.lifecycle import (
    DAY,
    DEFAULT_LOOKBACK_DAYS,
    STAGE_RULES,
    STAGES,
    CustomerStage,
    OrderFact,
    cohorts,
    customer_stages,
    iso,
    monthly,
    period,
    repurchase_cycle_days,
    retention,
    summary,
)

# "+01:00" read from an unencoded URL as " 01:00"
_OFFSET_AFTER_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\S+) (\d{2}:?\d{2})$")


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


async def _orders_signature(redis: aioredis.Redis, shop_id: str) -> tuple[Any, ...]:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hlen(keys.orders(shop_id))
        pipe.hget(keys.stats(shop_id), "order_changes")
        pipe.hget(keys.train_dirty(shop_id), "last")
        return tuple(await pipe.execute())


def _parse(changed: list[tuple[str, int, bytes]]) -> dict[str, tuple[int, OrderFact | None]]:
    return {order_id: (digest, order_fact(json.loads(raw))) for order_id, digest, raw in changed}


def order_fact(order: dict[str, Any]) -> OrderFact | None:
    """The fact of one stored order (webhooks.order.Order as JSON), None if it does not count.

    Reads the JSON directly rather than through Order.from_json: the same net quantities
    (Order.net_quantity), several times faster on a shop's whole history."""
    customer_id = order.get("customer_id")
    if order.get("cancelled") or customer_id is None:
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
    if value <= 0:
        return None
    return OrderFact(order_id=str(order["order_id"]), customer_id=str(customer_id),
                     at=float(order["created_at"]), value=value,
                     currency=str(order.get("currency") or ""))


async def shop_stages(
    redis: aioredis.Redis, shop_id: str, as_of: float | None = None
) -> dict[str, CustomerStage]:
    """Every customer's stage as of `as_of` (None = now); customers without a fact are absent."""
    facts = await load_order_facts(redis, shop_id)
    return customer_stages(facts, time.time() if as_of is None else as_of)


def parse_as_of(raw: str | None) -> float:
    """`as_of` as epoch seconds: None = now; a date YYYY-MM-DD = the end of that day (UTC, so
    its orders count); an ISO 8601 time with an offset (naive = UTC). BadRequest otherwise."""
    if raw is None:
        return time.time()
    return parse_instant("as_of", raw, end_of_day=True)


def parse_instant(name: str, raw: str, end_of_day: bool) -> float:
    """A date (its end, or the end of the day before it: where the day starts) or a time."""
    value = raw.strip()
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
        if day is not None:
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            return midnight + (DAY if end_of_day else 0.0) - 0.001
        value = _OFFSET_AFTER_SPACE.sub(r"\1+\2", value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time such as "
                         f"2024-05-01T12:00:00Z, got {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def by_stage(stages: Iterable[CustomerStage]) -> dict[str, list[CustomerStage]]:
    """Customers grouped by stage, every stage present (maybe empty)."""
    grouped: dict[str, list[CustomerStage]] = {stage: [] for stage in STAGES}
    for stage in stages:
        grouped[stage.stage].append(stage)
    return grouped


# ---- API ----------------------------------------------------------------------------------------

MAX_LOOKBACK_DAYS = 3650
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


@authorized
async def metrics_endpoint(request: Request, shop: Shop) -> Response:
    params = request.query_params
    as_of = parse_as_of(params.get("as_of"))
    end = as_of if params.get("end") is None else parse_instant("end", params["end"], True)
    start = (end - 365 * DAY if params.get("start") is None
             else parse_instant("start", params["start"], False))
    if end > as_of:
        raise BadRequest(f"end ({iso(end)}) must not be after as_of ({iso(as_of)})")
    if start >= end:
        raise BadRequest(f"start ({iso(start)}) must be before end ({iso(end)})")
    lookback = parse_lookback(params.get("lookback_days"))
    facts = await load_order_facts(request.app.state.redis, shop.shop_id)
    return JSONResponse(metrics(shop.shop_id, facts, as_of, start, end, lookback))


def parse_lookback(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_LOOKBACK_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOOKBACK_DAYS:
        raise BadRequest(f"lookback_days must be a whole number of days from 1 to "
                         f"{MAX_LOOKBACK_DAYS}, got {raw!r}")
    return float(raw)


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


@authorized
async def cohorts_endpoint(request: Request, shop: Shop) -> Response:
    as_of = parse_as_of(request.query_params.get("as_of"))
    facts = await load_order_facts(request.app.state.redis, shop.shop_id)
    rows = cohorts(facts, as_of)
    return JSONResponse({
        "shop_id": shop.shop_id, "as_of": iso(as_of), "cohorts": rows,
        "definition": "customers by the month (UTC) of their first order; retention[k] is the "
                      "share of them ordering in the k-th month after it (k = 0: 1.0)",
        "note": None if rows else f"shop {shop.shop_id!r} has no order that counts as of "
                                  f"{iso(as_of)} ({NOT_A_PURCHASE})",
    })


@authorized
async def stages_endpoint(request: Request, shop: Shop) -> Response:
    as_of = parse_as_of(request.query_params.get("as_of"))
    facts = await load_order_facts(request.app.state.redis, shop.shop_id)
    return JSONResponse(stage_counts(shop.shop_id, facts, as_of))


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


@authorized
async def customer_endpoint(request: Request, shop: Shop) -> Response:
    customer_id = request.path_params["customer_id"]
    as_of = parse_as_of(request.query_params.get("as_of"))
    redis = request.app.state.redis
    facts = await load_order_facts(redis, shop.shop_id)
    stage = customer_stages(facts, as_of).get(customer_id)
    if stage is None and not await redis.exists(keys.customer_orders(shop.shop_id, customer_id)):
        return problem(404, f"shop {shop.shop_id!r} has no orders of customer {customer_id!r}")
    answer: dict[str, Any] = {"shop_id": shop.shop_id, "customer_id": customer_id,
                              "as_of": iso(as_of)}
    if stage is None:
        answer.update(stage=None, note=f"customer {customer_id!r} has no order that counts as "
                                       f"of {iso(as_of)} ({NOT_A_PURCHASE})")
        return JSONResponse(answer)
    own = sorted(fact.at for fact in facts if fact.customer_id == customer_id and fact.at <= as_of)
    rule = STAGE_RULES[stage.stage]
    answer.update({
        **asdict(stage), "label": rule.label, "rule": rule.rule, "action": rule.action,
        "expected_next_order": iso(stage.expected_next_order),
        "first_order": iso(own[0]), "last_order": iso(own[-1]), "note": None,
    })
    return JSONResponse(answer)


routes = [
    Route(f"{PREFIX}/lifecycle/metrics", metrics_endpoint),
    Route(f"{PREFIX}/lifecycle/cohorts", cohorts_endpoint),
    Route(f"{PREFIX}/lifecycle/stages", stages_endpoint),
    Route(f"{PREFIX}/lifecycle/customers/{{customer_id}}", customer_endpoint),
]


# ---- command line ------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `shopreco lifecycle SHOP_ID [--as-of DATE]` to the CLI."""
    command = sub.add_parser("lifecycle", help="a shop's lifecycle summary: retention, repeat "
                                               "rate, AOV, CLV and customers per stage")
    command.add_argument("shop_id")
    command.add_argument("--as-of", help="a date (YYYY-MM-DD, through its end) or ISO time; "
                                         "default now")
    command.add_argument("--months", type=int, default=6, help="recent months shown (default 6)")
    command.set_defaults(command=cmd_lifecycle)


async def cmd_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    as_of = parse_as_of(args.as_of)
    async with open_redis(settings) as redis:
        if await get_shop(redis, args.shop_id) is None:
            raise ShopError(f"no shop {args.shop_id!r}; see `shopreco shops list`")
        facts = await load_order_facts(redis, args.shop_id)
    numbers = metrics(args.shop_id, facts, as_of, as_of - 365 * DAY, as_of,
                      DEFAULT_LOOKBACK_DAYS)
    print(render_summary(numbers, stage_counts(args.shop_id, facts, as_of), args.months))
    return 0


def render_summary(numbers: dict[str, Any], stages: dict[str, Any], months: int = 6) -> str:
    """The metrics and stage answers as a text a store owner reads in a terminal."""
    lines = [f"Lifecycle of shop {numbers['shop_id']} as of {_when(numbers['as_of'])}", ""]
    lines += _headline(numbers, stages)
    lines += ["", *_stage_table(stages)]
    if numbers["monthly"] and months > 0:
        lines += ["", *_month_table(numbers["monthly"][-months:])]
    lines += [f"Note: {note}" for note in numbers["notes"]]
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ") + " UTC"


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f} %"


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _headline(numbers: dict[str, Any], stages: dict[str, Any]) -> list[str]:
    kept = numbers["retention"]
    rows = [
        ("Customers", f"{numbers['customers']:,}"),
        ("Orders", f"{numbers['orders']:,}"),
        ("Repeat-purchase rate", _percent(numbers["repeat_purchase_rate"])),
        ("Orders per customer", _number(numbers["orders_per_customer"])),
    ]
    for currency, money in sorted(numbers["money"].items()):
        rows += [(f"Revenue ({currency})", _number(money["revenue"])),
                 (f"AOV ({currency})", _number(money["aov"])),
                 (f"CLV ({currency}, historic)", _number(money["clv"]))]
    first_day = datetime.fromisoformat(kept["start"]) + timedelta(milliseconds=1)
    rows.append((f"Retention {first_day:%Y-%m-%d} .. {kept['end'][:10]}",
                 _percent(kept["rate"])))
    rows.append(("", f"customers at start {kept['customers_at_start']:,}, at end "
                     f"{kept['customers_at_end']:,}, new {kept['new_customers']:,} (a customer"
                     f" = ordered in the {kept['lookback_days']:g} days before)"))
    cycle = stages["repurchase_cycle_days"]
    rows.append(("Repurchase cycle", "n/a (no repeat customers)" if cycle is None
                 else f"{cycle:g} days (median gap between orders of repeat customers)"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _stage_table(stages: dict[str, Any]) -> list[str]:
    lines = [f"{'Stage':<16} {'Customers':>9} {'Share':>8} {'Churn risk':>10}  What to do"]
    for row in stages["stages"]:
        risk = "" if row["mean_churn_risk"] is None else f"{row['mean_churn_risk']:.2f}"
        lines.append(f"{row['label']:<16} {row['customers']:>9,} {_percent(row['share']):>8} "
                     f"{risk:>10}  {row['action']}")
    total = stages["customers"]
    lines.append(f"{'Total':<16} {total:>9,} {_percent(1.0 if total else None):>8}")
    return lines


def _month_table(months: list[dict[str, Any]]) -> list[str]:
    currencies = sorted({c for m in months for c in m["revenue"]})
    header = f"{'Month':<8} {'Orders':>7} {'Customers':>9} {'New':>6} {'Returning':>9}"
    header += "".join(f" {'Revenue ' + c:>14} {'AOV ' + c:>10}" for c in currencies)
    lines = [header]
    for m in months:
        line = (f"{m['month']:<8} {m['orders']:>7,} {m['customers']:>9,} "
                f"{m['new_customers']:>6,} {m['returning_customers']:>9,}")
        line += "".join(f" {_number(m['revenue'][c]):>14} {_number(m['aov'][c]):>10}"
                        for c in currencies)
        lines.append(line)
    return lines
