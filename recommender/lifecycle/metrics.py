"""Lifecycle metrics over time: lifetime summary, retention over a period, what happened in a
period, monthly series and acquisition cohorts, each per currency where money is involved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recommender.lifecycle.facts import DAY, Facts, FactsLike, facts_table

DEFAULT_LOOKBACK_DAYS = 365.0


def month_index(at: np.ndarray) -> np.ndarray:
    """Calendar months (UTC) since 1970-01 of epoch seconds."""
    return np.asarray(at, dtype=np.float64).astype("datetime64[s]").astype(
        "datetime64[M]").astype(np.int64)


def month_name(index: int) -> str:
    return f"{1970 + index // 12:04d}-{index % 12 + 1:02d}"


def iso(at: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (milliseconds when there are any)."""
    if at is None:
        return None
    moment = datetime.fromtimestamp(at, UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _money(table: Facts, mask: np.ndarray, customers_of: bool = True) -> dict[str, Any]:
    """Per currency: revenue, orders, AOV and (lifetime) value per customer of the masked
    facts, each rounded to cents from its exact value."""
    result: dict[str, Any] = {}
    for code, currency in enumerate(table.currencies):
        selected = mask & (table.currency == code)
        orders = int(selected.sum())
        if not orders:
            continue
        revenue = table.units[selected].sum()
        entry: dict[str, Any] = {"revenue": table.cents(revenue), "orders": orders,
                                 "aov": table.cents(revenue, orders)}
        if customers_of:
            customers = len(np.unique(table.customer[selected]))
            entry.update(customers=customers, clv=table.cents(revenue, customers))
        result[currency or "unknown"] = entry
    return result


def summary(facts: FactsLike, as_of: float) -> dict[str, Any]:
    """Lifetime-to-date numbers: customers, orders, repeat-purchase rate (share of customers
    with 2+ orders), orders per customer, and per currency revenue, AOV (revenue / orders) and
    historic CLV (revenue / customers who paid in it). Rates are None without customers."""
    table = facts_table(facts, as_of)
    customers, orders = len(table.customer_ids), len(table.at)
    repeat = int((table.counts >= 2).sum()) if customers else 0
    return {
        "customers": customers,
        "orders": orders,
        "repeat_customers": repeat,
        "repeat_purchase_rate": repeat / customers if customers else None,
        "orders_per_customer": orders / customers if customers else None,
        "money": _money(table, np.ones(orders, dtype=bool)),
    }


@dataclass(frozen=True)
class Retention:
    """Retention over (start, end]: (customers at end - new customers) / customers at start.

    A customer "at" an instant T has an order in (T - lookback, T]: active in the lookback
    window (the standard reading: counting everyone who ever ordered would make the rate
    always 1). New customers have their first order ever in (start, end]. The lookback is at
    least the period, so every new customer is a customer at the end. `retained` is the part
    of the start's customers still active at the end; `reactivated` the customers who were
    lapsed at the start and active again at the end (the formula counts them as retained)."""

    start: float
    end: float
    lookback_days: float
    customers_at_start: int
    customers_at_end: int
    new_customers: int
    retained: int
    reactivated: int
    rate: float | None
    note: str | None


def retention(facts: FactsLike, start: float, end: float,
              lookback_days: float = DEFAULT_LOOKBACK_DAYS) -> Retention:
    if end <= start:
        raise ValueError("the period's end must be after its start")
    lookback_days = max(lookback_days, (end - start) / DAY)
    table = facts_table(facts, end)
    window = lookback_days * DAY
    at_start = _active(table, start - window, start)
    at_end = _active(table, end - window, end)
    first = table.first_at
    new = (first > start) & (first <= end)
    retained = int((at_start & at_end).sum())
    s, e, n = int(at_start.sum()), int(at_end.sum()), int(new.sum())
    note = None if s else "no customer was active at the start of the period, so there is " \
        "nobody to retain: the rate is undefined"
    return Retention(start, end, lookback_days, s, e, n, retained, e - n - retained,
                     (e - n) / s if s else None, note)


def _active(table: Facts, low: float, high: float) -> np.ndarray:
    """Per customer: an order in (low, high]."""
    inside = (table.at > low) & (table.at <= high)
    return np.bincount(table.customer[inside], minlength=len(table.customer_ids)) > 0


def period(facts: FactsLike, start: float, end: float) -> dict[str, Any]:
    """What happened in (start, end]: orders, customers ordering, new and returning ones,
    revenue and AOV per currency."""
    table = facts_table(facts, end)
    inside = table.at > start
    buyers = np.unique(table.customer[inside])
    new = int((table.first_at[buyers] > start).sum()) if len(buyers) else 0
    return {"orders": int(inside.sum()), "customers": len(buyers), "new_customers": new,
            "returning_customers": len(buyers) - new,
            "money": _money(table, inside, customers_of=False)}


MAX_MONTHS_AFTER_LAST_ORDER = 120


def _last_month(month: np.ndarray, as_of: float) -> int:
    """The month a series ends: as_of's, but at most 10 years after the last order (a far
    future as_of would only add empty months)."""
    return min(int(month_index(np.array([as_of]))[0]),
               int(month.max()) + MAX_MONTHS_AFTER_LAST_ORDER)


def monthly(facts: FactsLike, as_of: float) -> list[dict[str, Any]]:
    """Per UTC calendar month from the first order's to as_of's (at most 10 years after the
    last order): orders, customers ordering, new customers (first order that month),
    returning ones, revenue and AOV per currency (AOV None in a month without orders)."""
    table = facts_table(facts, as_of)
    if not len(table.at):
        return []
    month = month_index(table.at)
    first_month = month_index(table.first_at)[table.customer]
    currencies = table.currencies
    lo, hi = int(month.min()), _last_month(month, as_of)
    span = hi - lo + 1
    rel = month - lo
    orders = np.bincount(rel, minlength=span)
    pairs = np.unique(rel * len(table.customer_ids) + table.customer)
    buyers = np.bincount(pairs // len(table.customer_ids), minlength=span)
    new_pairs = np.unique((rel * len(table.customer_ids) + table.customer)[month == first_month])
    new = np.bincount(new_pairs // len(table.customer_ids), minlength=span)
    revenue = np.zeros((len(currencies), span), dtype=table.units.dtype)  # exact units
    count = np.zeros((len(currencies), span), dtype=np.int64)
    np.add.at(revenue, (table.currency, rel), table.units)
    np.add.at(count, (table.currency, rel), 1)
    series = []
    for i in range(span):
        series.append({
            "month": month_name(lo + i), "orders": int(orders[i]), "customers": int(buyers[i]),
            "new_customers": int(new[i]), "returning_customers": int(buyers[i] - new[i]),
            "revenue": {currencies[c] or "unknown": table.cents(revenue[c, i])
                        for c in range(len(currencies))},
            "aov": {currencies[c] or "unknown":
                    table.cents(revenue[c, i], int(count[c, i])) if count[c, i] else None
                    for c in range(len(currencies))},
        })
    return series


def cohorts(facts: FactsLike, as_of: float) -> list[dict[str, Any]]:
    """Acquisition-cohort retention: for each month in which customers placed their first
    order, its size and, for k = 0, 1, ... months since (up to as_of's month, at most 10 years
    after the last order), the share of the cohort that ordered in month cohort + k (k = 0 is
    1.0 by definition)."""
    table = facts_table(facts, as_of)
    customers = len(table.customer_ids)
    if not customers:
        return []
    month = month_index(table.at)
    last = _last_month(month, as_of)
    cohort = month_index(table.first_at)
    lo = int(cohort.min())
    width = last - lo + 1
    offset = month - cohort[table.customer]
    pairs = np.unique(table.customer * width + offset)
    who, when = pairs // width, pairs % width
    active = np.zeros((int(cohort.max()) - lo + 1, width), dtype=np.int64)
    np.add.at(active, (cohort[who] - lo, when), 1)
    size = np.bincount(cohort - lo)
    rows = []
    for c in range(len(size)):
        if not size[c]:
            continue
        ages = last - (lo + c) + 1
        rows.append({
            "cohort": month_name(lo + c), "customers": int(size[c]),
            "active": [int(v) for v in active[c, :ages]],
            "retention": [round(int(v) / int(size[c]), 4) for v in active[c, :ages]],
        })
    return rows
