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
from plugin.api.schemas import (
    CURRENCY,
    CUSTOMER_ID,
    SHOP_ID,
    amount,
    amount_schema,
    customer_id,
)
from plugin.engine.lifecycle import (
    DEFINITIONS,
    NOT_A_PURCHASE,
    load_order_facts,
    metrics,
    stage_counts,
)
from plugin.store import keys
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    Schema,
    array,
    documented,
    integer,
    mapping,
    nullable,
    number,
    obj,
    string,
)
from plugin.web.params import BadRequest, parse_id
from plugin.web.problems import problem
from recommender.lifecycle import (
    DAY,
    DEFAULT_LOOKBACK_DAYS,
    STAGE_RULES,
    STAGES,
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
            instant = midnight + (DAY if end_of_day else 0.0) - 0.001
        else:
            value = _OFFSET_AFTER_SPACE.sub(r"\1+\2", value)
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            instant = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time such as "
                         f"2024-05-01T12:00:00Z, got {raw!r}") from None
    return _bounded(name, raw, instant)


# Instants the figures can be "as of" start in 1970 (no order is older): a year's window
# before an earlier one would leave datetime's range (year 0).
EARLIEST = -DAY


def _bounded(name: str, raw: str, instant: float) -> float:
    if instant < EARLIEST:
        raise BadRequest(f"{name} must be 1970-01-01 or later, got {raw!r}")
    return instant


MAX_LOOKBACK_DAYS = 3650

# ---- the reference ------------------------------------------------------------------------------

TAG = "Lifecycle"
SCOPE = "lifecycle:read"
AS_OF = Param("as_of", string(
    "The instant the answer is for (default: now): a date YYYY-MM-DD (the end of that day, "
    "UTC, so its orders count) or an ISO 8601 time (UTC without an offset). Orders after it "
    "do not exist for the answer.", "2025-06-30"))
START = Param("start", string(
    "The period's start (its orders are those after it): a date YYYY-MM-DD (where that day "
    "starts, UTC) or an ISO 8601 time; default 365 days before `end`. Before `end`.",
    "2025-01-01"))
END = Param("end", string(
    "The period's end (included): a date YYYY-MM-DD (the end of that day, UTC) or an ISO 8601 "
    "time; default `as_of`, and never after it.", "2025-06-30"))
LOOKBACK = Param("lookback_days", integer(
    f"Days a customer stays active after an order, for retention (default "
    f"{DEFAULT_LOOKBACK_DAYS:.0f}; the period's length when that is longer).", 90, minimum=1,
    maximum=MAX_LOOKBACK_DAYS))
AS_OF_ANSWER = string("The instant the answer is for: `as_of` in UTC, ISO 8601.",
                      "2025-06-30T23:59:59.999Z", format="date-time")
MONTH = string("A calendar month (UTC), YYYY-MM.", "2025-03", pattern=r"^\d{4}-\d{2}$")
CURRENCIES = (r"^([A-Z]{3}|unknown)$", "Keys: ISO 4217 codes (`unknown` for orders without "
              "one); amounts in that currency, rounded to cents, never converted.")
NOTE = nullable(string("Why the figures are empty, when they are; null otherwise.",
                       "shop 'my-shop' has no order that counts as of 2025-06-30T23:59:59.999Z "
                       f"({NOT_A_PURCHASE})"))
STAGE = string("The lifecycle stage (docs/lifecycle.md: what each means and what to do).",
               "loyal", enum=list(STAGES))


def count(description: str, example: int) -> Schema:
    return integer(description, example, minimum=0)


def share(description: str, example: float) -> Schema:
    return number(description, example, minimum=0, maximum=1)


def by_currency(values: Schema, description: str, example: dict[str, Any]) -> Schema:
    pattern, keys = CURRENCIES
    return {**mapping(values, f"{description} {keys}", example),
            "propertyNames": {"pattern": pattern}}


def customer_scores() -> dict[str, Schema]:
    """A customer's stage fields (also in every item of the nurture feed)."""
    score = "1..5 against the shop's own customers (average-rank quintile)"
    return {
        "stage": STAGE,
        "recency_days": number("Days from the last order that counts to as_of.", 12.4,
                               minimum=0),
        "frequency": integer("Orders that count.", 3, minimum=1),
        "monetary": amount_schema("Their orders' net value (in the shop's currency, "
                                  "`currency`, when it sells in one).", "184.50"),
        "currency": CURRENCY,
        "r": integer(f"Recency score, {score}: latest order = 5.", 4, minimum=1, maximum=5),
        "f": integer(f"Frequency score, {score}.", 3, minimum=1, maximum=5),
        "m": integer(f"Monetary score, {score}.", 4, minimum=1, maximum=5),
        "expected_next_order": nullable(string(
            "When their next order is due: the last order plus their expected gap (their "
            "median gap shrunk towards the shop's repurchase cycle); null when the shop has no "
            "repeat customer yet.", "2025-07-14T10:00:00Z", format="date-time")),
        "churn_risk": share("1 - P(alive): how likely they stopped buying, 0..1.", 0.3127),
    }


MONEY = obj("Sales in one currency up to as_of.", {
    "revenue": amount_schema("The orders' net value: price * net quantity of their lines.",
                             "2480.50"),
    "orders": count("Orders in this currency.", 96),
    "aov": amount_schema("Average order value: revenue / orders.", "25.84"),
    "customers": count("Customers who paid in this currency.", 41),
    "clv": amount_schema("Historic customer lifetime value: revenue / customers.", "60.50"),
})
PERIOD_MONEY = obj("Sales in one currency in the period.", {
    "revenue": MONEY["properties"]["revenue"], "orders": MONEY["properties"]["orders"],
    "aov": MONEY["properties"]["aov"]})
RETENTION = obj(
    "Retention over the period (start, end]: (customers active at end - new customers) / "
    "customers active at start; a customer is active at T with an order in (T - lookback, T].",
    {
        "start": string("The period's start (UTC).", "2024-06-30T23:59:59.999Z",
                        format="date-time"),
        "end": string("The period's end (UTC).", "2025-06-30T23:59:59.999Z", format="date-time"),
        "lookback_days": number("The lookback used: lookback_days, or the period's length when "
                                "that is longer.", 365.0, minimum=1),
        "customers_at_start": count("Customers active at the start.", 35),
        "customers_at_end": count("Customers active at the end.", 38),
        "new_customers": count("Customers whose first order is in the period.", 12),
        "retained": count("Customers active at the start and still at the end.", 22),
        "reactivated": count("Customers lapsed at the start and active again at the end "
                             "(counted as retained by the rate).", 4),
        "rate": nullable(number("The retention rate; null without customers at the start.",
                                0.7429, minimum=0)),
        "note": nullable(string("Why the rate is null, when it is.", "no customer was active "
                                "at the start of the period, so there is nobody to retain: "
                                "the rate is undefined")),
    })
PERIOD = obj("What happened in the period (start, end].", {
    "start": RETENTION["properties"]["start"], "end": RETENTION["properties"]["end"],
    "orders": count("Orders in the period.", 58),
    "customers": count("Customers ordering in the period.", 33),
    "new_customers": count("Of them, customers with their first order in the period.", 12),
    "returning_customers": count("Of them, customers who had ordered before.", 21),
    "money": by_currency(PERIOD_MONEY, "Revenue and AOV in the period, per currency.",
                         {"EUR": {"revenue": "1502.00", "orders": 58, "aov": "25.90"}}),
})
MONTH_ROW = obj("One calendar month (UTC).", {
    "month": MONTH,
    "orders": count("Orders in the month.", 9),
    "customers": count("Customers ordering in the month.", 8),
    "new_customers": count("Of them, customers with their first order that month.", 3),
    "returning_customers": count("Of them, customers who had ordered before.", 5),
    "revenue": by_currency(amount_schema("Revenue in the month.", "231.00"),
                           "Revenue per currency of the shop's orders (0 in a month without "
                           "one in it).", {"EUR": "231.00"}),
    "aov": by_currency(nullable(amount_schema("Average order value in the month; null without "
                                              "an order in that currency.", "25.67")),
                       "AOV per currency.", {"EUR": "25.67"}),
})
METRICS = obj("Lifetime-to-date numbers, retention and sales over a period, a monthly series.", {
    "shop_id": SHOP_ID,
    "as_of": AS_OF_ANSWER,
    "customers": count("Customers: people with an order that counts up to as_of.", 41),
    "orders": count("Orders that count up to as_of.", 96),
    "repeat_customers": count("Customers with 2 or more orders.", 19),
    "repeat_purchase_rate": nullable(share("repeat_customers / customers; null without "
                                           "customers.", 0.4634)),
    "orders_per_customer": nullable(number("orders / customers; null without customers.",
                                           2.3415, minimum=1)),
    "money": by_currency(MONEY, "Lifetime sales per currency.",
                         {"EUR": {"revenue": "2480.50", "orders": 96, "aov": "25.84",
                                  "customers": 41, "clv": "60.50"}}),
    "retention": RETENTION,
    "period": PERIOD,
    "monthly": array(MONTH_ROW, "Every month from the first order's to as_of's (at most 10 "
                     "years after the last order); empty without orders."),
    "notes": array(string("A caveat about the figures.", "orders are in several currencies "
                          "(EUR, USD): money is reported per currency, never converted or "
                          "added up"), "Caveats: no orders that count, several currencies."),
    "definitions": obj("How each figure is defined.", {
        name: string(f"The definition of {name}.", text) for name, text in DEFINITIONS.items()}),
})
COHORTS = obj("Acquisition cohorts and their retention by month.", {
    "shop_id": SHOP_ID,
    "as_of": AS_OF_ANSWER,
    "cohorts": array(obj("The customers whose first order was in one month.", {
        "cohort": MONTH,
        "customers": integer("Customers in the cohort.", 14, minimum=1),
        "active": array(count("Customers of the cohort ordering in that month.", 5),
                        "Per month k since the cohort's (k = 0 first, up to as_of's month): "
                        "how many of its customers ordered.", examples=[[14, 5, 3]]),
        "retention": array(share("active[k] / customers, rounded to 4 places.", 0.3571),
                           "Per month k since the cohort's: the share ordering (k = 0: 1.0).",
                           examples=[[1.0, 0.3571, 0.2143]]),
    }), "One row per month with new customers, oldest first; empty without orders."),
    "definition": string("What the cohorts and retention are.", "customers by the month (UTC) "
                         "of their first order; retention[k] is the share of them ordering in "
                         "the k-th month after it (k = 0: 1.0)"),
    "note": NOTE,
})
STAGE_COUNTS = obj("Customers per lifecycle stage.", {
    "shop_id": SHOP_ID,
    "as_of": AS_OF_ANSWER,
    "customers": count("Customers with an order that counts up to as_of.", 41),
    "repurchase_cycle_days": nullable(number(
        "The shop's repurchase cycle: the median over repeat customers of their median gap "
        "between orders (days); null without repeat customers.", 38.5, minimum=0)),
    "stages": array(obj("One stage.", {
        "stage": STAGE,
        "label": string("The stage's name for people.", "Loyal"),
        "customers": count("Customers in the stage.", 6),
        "share": nullable(share("customers / all customers; null without customers.",
                                0.1463)),
        "mean_churn_risk": nullable(share("The stage's customers' mean churn risk; null "
                                          "without customers in it.", 0.2518)),
        "rule": string("Which R and FM scores make the stage.", STAGE_RULES["loyal"].rule),
        "action": string("What to do with its customers.", STAGE_RULES["loyal"].action),
    }), "Every stage, in a fixed order (empty ones too).", minItems=len(STAGES),
        maxItems=len(STAGES)),
    "scoring": string("How R, F and M are scored.", "R, F, M are 1..5 by average-rank quintile "
                      "among the shop's customers (recency: latest order = 5); FM = ceil((F + "
                      "M) / 2); see docs/lifecycle.md"),
    "churn_risk": string("How the churn risk is computed.", "1 - P(alive) of a customer "
                         "ordering every `gap` days on average (their own median gap shrunk "
                         "towards the shop's repurchase cycle) who is still a buyer after n "
                         "orders with p = n / (n + 1); 0..1"),
    "note": NOTE,
})
_CUSTOMER = {"shop_id": SHOP_ID, "customer_id": customer_id(), "as_of": AS_OF_ANSWER}
CUSTOMER = {"description": "One customer's stage, or why they have none.", "oneOf": [
    obj("A customer with an order that counts up to as_of: stage, scores and dates.", {
        **_CUSTOMER, **customer_scores(),
        "label": string("The stage's name for people.", "Loyal"),
        "rule": string("Which R and FM scores make the stage.", STAGE_RULES["loyal"].rule),
        "action": string("What to do with the customer.", STAGE_RULES["loyal"].action),
        "first_order": string("Their first order that counts (UTC).", "2024-11-02T09:15:00Z",
                              format="date-time"),
        "last_order": string("Their last order that counts up to as_of (UTC).",
                             "2025-06-18T10:00:00Z", format="date-time"),
        "note": {"type": "null", "description": "Always null here.", "examples": [None]},
    }),
    obj("A customer with orders, none of which counts up to as_of: no stage.", {
        **_CUSTOMER,
        "stage": {"type": "null", "description": "No stage.", "examples": [None]},
        "note": string("Why they have no stage.", "customer '207119551' has no order that "
                       f"counts as of 2025-06-30T23:59:59.999Z ({NOT_A_PURCHASE})"),
    }),
]}

# ---- API ----------------------------------------------------------------------------------------


@documented(Operation(
    "GET", "lifecycleMetrics", "Customers, repeat purchases, retention, sales by month", TAG,
    {200: Answer("The shop's lifecycle metrics.", METRICS)}, SCOPE,
    description="Lifetime-to-date customers, orders and money per currency as of `as_of`; "
                "retention and sales over the period (`start`, `end`]; a monthly series. "
                f"Only orders that count: {NOT_A_PURCHASE}.",
    params=(AS_OF, START, END, LOOKBACK),
))
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
    return JSONResponse(money_as_text(metrics(shop.shop_id, facts, as_of, start, end, lookback)))


def money_as_text(answer: dict[str, Any]) -> dict[str, Any]:
    """The metrics' sums of money as the API answers money: decimal strings (amount)."""
    for rows in (answer["money"], answer["period"]["money"]):
        for currency, row in rows.items():
            for name in ("revenue", "aov", "clv"):
                if name in row:
                    row[name] = amount(row[name], currency)
    for month in answer["monthly"]:
        for name in ("revenue", "aov"):
            month[name] = {c: amount(v, c) for c, v in month[name].items()}
    return answer


def parse_lookback(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_LOOKBACK_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOOKBACK_DAYS:
        raise BadRequest(f"lookback_days must be a whole number of days from 1 to "
                         f"{MAX_LOOKBACK_DAYS}, got {raw!r}")
    return float(raw)


@documented(Operation(
    "GET", "lifecycleCohorts", "Acquisition cohorts and their monthly retention", TAG,
    {200: Answer("The cohorts.", COHORTS)}, SCOPE, params=(AS_OF,),
))
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


@documented(Operation(
    "GET", "lifecycleStages", "Customers per lifecycle stage (RFM)", TAG,
    {200: Answer("Every stage with its customers, rule and action.", STAGE_COUNTS)}, SCOPE,
    params=(AS_OF,),
))
@authorized
async def stages_endpoint(request: Request, shop: Shop) -> Response:
    as_of = parse_as_of(request.query_params.get("as_of"))
    facts = await load_order_facts(request.app.state.redis, shop.shop_id)
    return JSONResponse(stage_counts(shop.shop_id, facts, as_of))


@documented(Operation(
    "GET", "lifecycleCustomer", "One customer's stage, scores and churn risk", TAG,
    {200: Answer("The customer's stage (stage null, with a note, when none of their orders "
                 "counts up to as_of).", CUSTOMER)}, SCOPE,
    description="404 when the shop has no order of the customer at all.",
    params=(CUSTOMER_ID, AS_OF),
))
@authorized
async def customer_endpoint(request: Request, shop: Shop) -> Response:
    customer_id = parse_id("customer_id", request.path_params["customer_id"])
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
        **asdict(stage), "monetary": amount(stage.monetary, shop.currency),
        "currency": shop.currency, "label": rule.label, "rule": rule.rule, "action": rule.action,
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
