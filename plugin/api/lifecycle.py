"""The lifecycle API under /api/v1/shops/{shop_id}/lifecycle/: metrics, cohorts, stages and one
customer's stage (the figures come from plugin.engine.lifecycle; `shopreco lifecycle` prints
them).

An order becomes a fact (plugin.store.facts) when it is not cancelled, names a customer, and
keeps a net value above zero: sum(price * net quantity) over its lines, where the net quantity
is what was ordered minus what refunds gave back. A fully refunded (refunds-only) order is
worth 0 and is not a purchase; a partly refunded one counts with what was kept.
Times are the orders' own created_at; every answer is "as of" an instant (default: now).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.engine.lifecycle import NOT_A_PURCHASE, load_order_facts, metrics, stage_counts
from plugin.store import keys
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.params import BadRequest
from plugin.web.problems import problem
from recommender.lifecycle import (
    DAY,
    DEFAULT_LOOKBACK_DAYS,
    STAGE_RULES,
    cohorts,
    iso,
    stage_table,
)

# "+01:00" read from an unencoded URL as " 01:00"
_OFFSET_AFTER_SPACE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\S+) (\d{2}:?\d{2})\Z")


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


# ---- API ----------------------------------------------------------------------------------------

MAX_LOOKBACK_DAYS = 3650


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


@authorized
async def customer_endpoint(request: Request, shop: Shop) -> Response:
    customer_id = request.path_params["customer_id"]
    as_of = parse_as_of(request.query_params.get("as_of"))
    redis = request.app.state.redis
    facts = await load_order_facts(redis, shop.shop_id)
    stages = stage_table(facts, as_of)
    row = stages.find(customer_id)
    if row is None and not await redis.exists(keys.customer_orders(shop.shop_id, customer_id)):
        return problem(404, f"shop {shop.shop_id!r} has no orders of customer {customer_id!r}")
    answer: dict[str, Any] = {"shop_id": shop.shop_id, "customer_id": customer_id,
                              "as_of": iso(as_of)}
    if row is None:
        answer.update(stage=None, note=f"customer {customer_id!r} has no order that counts as "
                                       f"of {iso(as_of)} ({NOT_A_PURCHASE})")
        return JSONResponse(answer)
    stage = stages.row(row)
    rule = STAGE_RULES[stage.stage]
    answer.update({
        **asdict(stage), "label": rule.label, "rule": rule.rule, "action": rule.action,
        "expected_next_order": iso(stage.expected_next_order),
        "first_order": iso(float(stages.first_at[row])),
        "last_order": iso(float(stages.last_at[row])), "note": None,
    })
    return JSONResponse(answer)


routes = [
    Route(f"{PREFIX}/lifecycle/metrics", metrics_endpoint),
    Route(f"{PREFIX}/lifecycle/cohorts", cohorts_endpoint),
    Route(f"{PREFIX}/lifecycle/stages", stages_endpoint),
    Route(f"{PREFIX}/lifecycle/customers/{{customer_id}}", customer_endpoint),
]
