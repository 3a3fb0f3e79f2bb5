"""The customer lifecycle from order facts: RFM stages, churn risk, retention, cohorts.

Pure: order facts (plain dataclasses) in, numbers out; numpy does the per-customer work in
O(orders log orders), no Redis, no HTTP. Every function takes the instant it answers for
(`as_of`, or a period's end): only orders at or before it exist.

What counts (see plugin/lifecycle.py for how orders become facts): an order that is not
cancelled, has a customer (guests are not facts) and keeps a net value above zero after its
refunds. A fully refunded or refunds-only order, or a free one, is therefore not a purchase.

Stages (docs/lifecycle.md has the table and what to do with each): recency, frequency and
monetary value are scored 1..5 against the shop's own customers, by average-rank quintile:
``score = ceil(5 * rank / n)`` with tied values sharing their average rank (all one-order
customers get the same F score). Recency ranks the last order time (latest = 5); monetary is
rounded to cents before ranking. R and FM = ceil((F + M) / 2) pick a cell of a 5x5 grid in the
spirit of Shopify's RFM groups; one-order customers are placed by R alone (new, promising,
needs_attention, hibernating, lost), since they cannot be loyal yet.

Expected next order and churn risk: the shop's repurchase cycle is the median, over repeat
customers, of each one's median gap between orders. A customer's expected gap shrinks their own
median gap towards that cycle, weighted by how many gaps they have: (k * own + cycle) / (k + 1),
at least one day; one-order customers get the shop's cycle. The churn risk is 1 - P(alive) of a
buyer who orders as a Poisson process with that mean gap and who, after n orders, is still a
buyer with the rule-of-succession probability p = n / (n + 1):
``P(alive) = p * exp(-t / gap) / (p * exp(-t / gap) + 1 - p)``, t the days since the last order.
Without any repeat customer there is no cycle: expected_next_order is None, churn risk 1 - p.

Why no library: BG/NBD / Pareto-NBD give P(alive) too, but `lifetimes` is archived (last
release 2020, its authors moved to pymc-marketing), `btyd` is a beta without a release since
2022, and `pymc-marketing` brings PyMC/PyTensor (a compiler and hundreds of MB) and a model fit
that takes seconds per shop. BG/NBD also holds every one-order customer alive with P = 1, and
those are most of a shop's customers. The closed form above keeps the same idea (a buyer who
stops ordering becomes ever less likely to be alive), is explained in one sentence, and scores
thousands of customers in milliseconds.

Money: values are in each order's own currency. Revenue, AOV and CLV are reported per currency;
the M score adds a customer's values as they are (no conversion), which is right for the
one-currency shops this serves and only approximate for a shop selling in several.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.stats import rankdata

DAY = 86400.0
DEFAULT_LOOKBACK_DAYS = 365.0


@dataclass(frozen=True)
class OrderFact:
    """One order that counts (cancelled orders are not facts)."""

    order_id: str
    customer_id: str  # guests are not facts
    at: float  # epoch seconds, the order's own created_at
    value: float  # net revenue: sum(price * net quantity) of its lines
    currency: str


@dataclass(frozen=True)
class CustomerStage:
    customer_id: str
    stage: str  # one of STAGES
    recency_days: float
    frequency: int  # orders
    monetary: float  # total net value
    r: int  # 1..5 scores against the shop's own distribution
    f: int
    m: int
    expected_next_order: float | None  # epoch seconds; None when the shop has no cycle
    churn_risk: float  # 0..1


STAGES: tuple[str, ...] = ("new", "promising", "active", "loyal", "champions",
                           "needs_attention", "at_risk", "cant_lose", "hibernating", "lost")


@dataclass(frozen=True)
class StageRule:
    stage: str
    label: str
    rule: str
    action: str


STAGE_RULES: dict[str, StageRule] = {rule.stage: rule for rule in (
    StageRule("new", "New", "one order, R 5",
              "welcome them; suggest what goes with their first order to earn a second"),
    StageRule("promising", "Promising", "R 4-5 and FM 1-2 (one order: R 4)",
              "nudge towards the next order with personal picks"),
    StageRule("active", "Active", "R 4-5, FM 3",
              "keep them engaged: new arrivals, complementary products"),
    StageRule("loyal", "Loyal", "R 4-5 and FM 4, or R 3-4 and FM 5",
              "reward: loyalty perks, buy-it-again reminders, ask for reviews"),
    StageRule("champions", "Champions", "R 5, FM 5",
              "treat as VIPs: early access, no discounts needed, referrals"),
    StageRule("needs_attention", "Needs attention", "R 3, FM 1-4 (one order: R 3)",
              "a timely, personal reminder before they drift away"),
    StageRule("at_risk", "At risk", "R 2 and FM 3-4, or R 1 and FM 4",
              "win back: personal picks from their history, a limited offer"),
    StageRule("cant_lose", "Can't lose", "R 1-2, FM 5",
              "your best past customers gone quiet: strongest win-back, personal contact"),
    StageRule("hibernating", "Hibernating", "R 2 and FM 1-2, or R 1 and FM 3 (one order: R 2)",
              "occasional reactivation with bestsellers; keep the spend low"),
    StageRule("lost", "Lost", "R 1 and FM 1-2 (one order: R 1)",
              "a last win-back, then stop mailing (protects deliverability)"),
)}

# Stage of a repeat customer by R (rows, 1..5) and FM = ceil((F + M) / 2) (columns, 1..5).
_GRID = (
    ("lost", "lost", "hibernating", "at_risk", "cant_lose"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    ("needs_attention", "needs_attention", "needs_attention", "needs_attention", "loyal"),
    ("promising", "promising", "active", "loyal", "loyal"),
    ("promising", "promising", "active", "loyal", "champions"),
)
# One-order customers by R alone.
_ONE_ORDER = ("lost", "hibernating", "needs_attention", "promising", "new")
_STAGE_INDEX = {stage: index for index, stage in enumerate(STAGES)}
_GRID_CODES = np.array([[_STAGE_INDEX[s] for s in row] for row in _GRID])
_ONE_ORDER_CODES = np.array([_STAGE_INDEX[s] for s in _ONE_ORDER])


def stage_of(r: int, f: int, m: int, frequency: int) -> str:
    """The stage of one customer's scores (the same table customer_stages uses)."""
    if frequency <= 1:
        return _ONE_ORDER[r - 1]
    return _GRID[r - 1][(f + m + 1) // 2 - 1]


# ---- the per-customer table ------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """Facts at or before as_of, sorted by (customer, time); arrays of shape (orders,)."""

    customer_ids: np.ndarray  # (customers,) object, sorted
    customer: np.ndarray  # int64 index into customer_ids
    at: np.ndarray  # float64
    value: np.ndarray  # float64
    currency: np.ndarray  # int64 index into currencies
    currencies: tuple[str, ...]

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.customer, minlength=len(self.customer_ids))

    @property
    def starts(self) -> np.ndarray:
        counts = self.counts
        return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)

    @property
    def first_at(self) -> np.ndarray:
        return self.at[self.starts] if len(self.customer_ids) else np.zeros(0)

    @property
    def last_at(self) -> np.ndarray:
        return self.at[self.starts + self.counts - 1] if len(self.customer_ids) else np.zeros(0)


def _table(facts: Sequence[OrderFact], until: float) -> _Table:
    kept = [fact for fact in facts if fact.at <= until]
    at = np.fromiter((fact.at for fact in kept), dtype=np.float64, count=len(kept))
    value = np.fromiter((fact.value for fact in kept), dtype=np.float64, count=len(kept))
    customer_ids, customer = _encode([fact.customer_id for fact in kept])
    currencies, currency = _encode([fact.currency for fact in kept])
    order = np.lexsort((at, customer))
    return _Table(customer_ids, customer[order], at[order], value[order], currency[order],
                  tuple(str(c) for c in currencies))


def _encode(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values (object array) and each value's index into them; a dict does
    what np.unique would, without sorting every string."""
    first_seen: dict[str, int] = {}
    codes = np.fromiter((first_seen.setdefault(v, len(first_seen)) for v in values),
                        dtype=np.int64, count=len(values))
    distinct = list(first_seen)
    order = sorted(range(len(distinct)), key=distinct.__getitem__)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    return np.array([distinct[i] for i in order], dtype=object), rank[codes]


def _scores(values: np.ndarray) -> np.ndarray:
    """1..5 by average-rank quintile: ceil(5 * rank / n), exact in integers."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    twice_rank = np.rint(rankdata(values, method="average") * 2).astype(np.int64)
    return np.clip(-(-(5 * twice_rank) // (2 * n)), 1, 5)


def _median_gaps(table: _Table) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: the number of gaps between consecutive orders and their median (days)."""
    customers = len(table.customer_ids)
    same = table.customer[1:] == table.customer[:-1]
    gaps = np.diff(table.at)[same] / DAY
    owner = table.customer[1:][same]
    order = np.lexsort((gaps, owner))
    gaps, owner = gaps[order], owner[order]
    count = np.bincount(owner, minlength=customers)
    median = np.full(customers, np.nan)
    has = count > 0
    if has.any():
        starts = np.concatenate(([0], np.cumsum(count)[:-1]))
        low = starts[has] + (count[has] - 1) // 2
        high = starts[has] + count[has] // 2
        median[has] = (gaps[low] + gaps[high]) / 2
    return count, median


def repurchase_cycle_days(facts: Sequence[OrderFact], as_of: float) -> float | None:
    """The shop's repurchase cycle: median over repeat customers of their median gap (days)."""
    _count, median = _median_gaps(_table(facts, as_of))
    known = median[~np.isnan(median)]
    return float(np.median(known)) if len(known) else None


def customer_stages(facts: Sequence[OrderFact], as_of: float) -> dict[str, CustomerStage]:
    """Stage, scores, expected next order and churn risk of every customer with an order at
    or before as_of (the others are absent)."""
    table = _table(facts, as_of)
    if not len(table.customer_ids):
        return {}
    counts, last_at = table.counts, table.last_at
    monetary = np.bincount(table.customer, weights=table.value, minlength=len(counts))
    r, f, m = _scores(last_at), _scores(counts), _scores(np.round(monetary, 2))
    grid = _GRID_CODES[r - 1, (f + m + 1) // 2 - 1]
    stage = np.where(counts <= 1, _ONE_ORDER_CODES[r - 1], grid)
    recency = (as_of - last_at) / DAY
    expected, churn = _churn(table, counts, recency)
    next_order = last_at + expected * DAY
    return {
        str(customer_id): CustomerStage(
            customer_id=str(customer_id), stage=STAGES[int(stage[i])],
            recency_days=float(recency[i]), frequency=int(counts[i]),
            monetary=float(monetary[i]), r=int(r[i]), f=int(f[i]), m=int(m[i]),
            expected_next_order=None if np.isnan(next_order[i]) else float(next_order[i]),
            churn_risk=float(churn[i]),
        )
        for i, customer_id in enumerate(table.customer_ids)
    }


def _churn(table: _Table, counts: np.ndarray, recency: np.ndarray) -> tuple[np.ndarray, ...]:
    """Expected gap (days, NaN without a cycle) and churn risk per customer."""
    gap_count, own = _median_gaps(table)
    known = own[~np.isnan(own)]
    alive_prior = counts / (counts + 1.0)
    if not len(known):
        return np.full(len(counts), np.nan), 1.0 - alive_prior
    cycle = float(np.median(known))
    expected = np.where(gap_count > 0, (gap_count * np.nan_to_num(own) + cycle) / (gap_count + 1),
                        cycle)
    expected = np.maximum(expected, 1.0)
    still = alive_prior * np.exp(-np.maximum(recency, 0.0) / expected)
    return expected, 1.0 - still / (still + 1.0 - alive_prior)


# ---- metrics ------------------------------------------------------------------------------


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


def _money(table: _Table, mask: np.ndarray, customers_of: bool = True) -> dict[str, Any]:
    """Per currency: revenue, orders, AOV and (lifetime) value per customer of the masked facts."""
    result: dict[str, Any] = {}
    for code, currency in enumerate(table.currencies):
        selected = mask & (table.currency == code)
        orders = int(selected.sum())
        if not orders:
            continue
        revenue = float(table.value[selected].sum())
        entry: dict[str, Any] = {"revenue": round(revenue, 2), "orders": orders,
                                 "aov": round(revenue / orders, 2)}
        if customers_of:
            customers = len(np.unique(table.customer[selected]))
            entry.update(customers=customers, clv=round(revenue / customers, 2))
        result[currency or "unknown"] = entry
    return result


def summary(facts: Sequence[OrderFact], as_of: float) -> dict[str, Any]:
    """Lifetime-to-date numbers: customers, orders, repeat-purchase rate (share of customers
    with 2+ orders), orders per customer, and per currency revenue, AOV (revenue / orders) and
    historic CLV (revenue / customers who paid in it). Rates are None without customers."""
    table = _table(facts, as_of)
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


def retention(facts: Sequence[OrderFact], start: float, end: float,
              lookback_days: float = DEFAULT_LOOKBACK_DAYS) -> Retention:
    if end <= start:
        raise ValueError("the period's end must be after its start")
    lookback_days = max(lookback_days, (end - start) / DAY)
    table = _table(facts, end)
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


def _active(table: _Table, low: float, high: float) -> np.ndarray:
    """Per customer: an order in (low, high]."""
    inside = (table.at > low) & (table.at <= high)
    return np.bincount(table.customer[inside], minlength=len(table.customer_ids)) > 0


def period(facts: Sequence[OrderFact], start: float, end: float) -> dict[str, Any]:
    """What happened in (start, end]: orders, customers ordering, new and returning ones,
    revenue and AOV per currency."""
    table = _table(facts, end)
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


def monthly(facts: Sequence[OrderFact], as_of: float) -> list[dict[str, Any]]:
    """Per UTC calendar month from the first order's to as_of's (at most 10 years after the
    last order): orders, customers ordering, new customers (first order that month),
    returning ones, revenue and AOV per currency (AOV None in a month without orders)."""
    table = _table(facts, as_of)
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
    revenue = np.zeros((len(currencies), span))
    count = np.zeros((len(currencies), span), dtype=np.int64)
    np.add.at(revenue, (table.currency, rel), table.value)
    np.add.at(count, (table.currency, rel), 1)
    series = []
    for i in range(span):
        series.append({
            "month": month_name(lo + i), "orders": int(orders[i]), "customers": int(buyers[i]),
            "new_customers": int(new[i]), "returning_customers": int(buyers[i] - new[i]),
            "revenue": {currencies[c] or "unknown": round(float(revenue[c, i]), 2)
                        for c in range(len(currencies))},
            "aov": {currencies[c] or "unknown":
                    round(float(revenue[c, i] / count[c, i]), 2) if count[c, i] else None
                    for c in range(len(currencies))},
        })
    return series


def cohorts(facts: Sequence[OrderFact], as_of: float) -> list[dict[str, Any]]:
    """Acquisition-cohort retention: for each month in which customers placed their first
    order, its size and, for k = 0, 1, ... months since (up to as_of's month, at most 10 years
    after the last order), the share of the cohort that ordered in month cohort + k (k = 0 is
    1.0 by definition)."""
    table = _table(facts, as_of)
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
