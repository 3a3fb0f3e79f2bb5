"""Lifecycle stages: RFM scores against the shop's own customers, the stage table, the shop's
repurchase cycle, each customer's expected next order and churn risk (the package doc says
how)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from recommender.lifecycle.facts import DAY, Facts, FactsLike, facts_table


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


def _scores(values: np.ndarray) -> np.ndarray:
    """1..5 by average-rank quintile: ceil(5 * rank / n), exact in integers."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    twice_rank: np.ndarray = np.rint(rankdata(values, method="average") * 2).astype(np.int64)
    scores: np.ndarray = np.clip(-(-(5 * twice_rank) // (2 * n)), 1, 5)
    return scores


def _median_gaps(table: Facts) -> tuple[np.ndarray, np.ndarray]:
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


def repurchase_cycle_days(facts: FactsLike, as_of: float) -> float | None:
    """The shop's repurchase cycle: median over repeat customers of their median gap (days)."""
    _count, median = _median_gaps(facts_table(facts, as_of))
    known = median[~np.isnan(median)]
    return float(np.median(known)) if len(known) else None


@dataclass(frozen=True)
class StageTable:
    """Every customer's stage as of an instant, as arrays of shape (customers,) in customer id
    order (CustomerStage has the meaning of each); `row` and `get` give one customer's."""

    as_of: float
    customer_ids: np.ndarray  # object (str), sorted
    stage: np.ndarray  # int64 index into STAGES
    recency_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    expected_next_order: np.ndarray  # NaN where there is none
    churn_risk: np.ndarray
    first_at: np.ndarray  # the first and last order's time
    last_at: np.ndarray
    cycle_days: float | None  # the shop's repurchase cycle

    def __len__(self) -> int:
        return len(self.customer_ids)

    def find(self, customer_id: str) -> int | None:
        """The customer's row, None if they have no order that counts at as_of."""
        i = int(np.searchsorted(self.customer_ids, customer_id))
        return i if i < len(self) and self.customer_ids[i] == customer_id else None

    def get(self, customer_id: str) -> CustomerStage | None:
        i = self.find(customer_id)
        return None if i is None else self.row(i)

    def row(self, i: int) -> CustomerStage:
        next_order = float(self.expected_next_order[i])
        return CustomerStage(
            customer_id=str(self.customer_ids[i]), stage=STAGES[int(self.stage[i])],
            recency_days=float(self.recency_days[i]), frequency=int(self.frequency[i]),
            monetary=float(self.monetary[i]), r=int(self.r[i]), f=int(self.f[i]),
            m=int(self.m[i]), expected_next_order=None if np.isnan(next_order) else next_order,
            churn_risk=float(self.churn_risk[i]),
        )

    def of_stage(self, stage: str | None, after: str | None = None) -> np.ndarray:
        """Rows of the customers in `stage` (None: every customer) whose id sorts after
        `after` (None: all), in customer id order."""
        rows = np.arange(len(self)) if stage is None else \
            np.flatnonzero(self.stage == _STAGE_INDEX[stage])
        if after is None:
            return rows
        return rows[rows >= np.searchsorted(self.customer_ids, after, side="right")]


def stage_table(facts: FactsLike, as_of: float) -> StageTable:
    """Stage, scores, expected next order and churn risk of every customer with an order at
    or before as_of (the others are absent)."""
    table = facts_table(facts, as_of)
    counts, first_at, last_at = table.counts, table.first_at, table.last_at
    monetary = table.as_float(table.units_per_customer())
    r, f, m = _scores(last_at), _scores(counts), _scores(np.round(monetary, 2))
    if len(counts):
        grid = _GRID_CODES[r - 1, (f + m + 1) // 2 - 1]
        stage = np.where(counts <= 1, _ONE_ORDER_CODES[r - 1], grid)
    else:
        stage = np.zeros(0, dtype=np.int64)
    recency = (as_of - last_at) / DAY
    expected, churn, cycle = _churn(table, counts, recency)
    return StageTable(as_of, table.customer_ids, stage, recency, counts, monetary, r, f, m,
                      last_at + expected * DAY, churn, first_at, last_at, cycle)


def customer_stages(facts: FactsLike, as_of: float) -> dict[str, CustomerStage]:
    """Every customer's stage as of `as_of` by customer id (see stage_table)."""
    stages = stage_table(facts, as_of)
    return {str(customer_id): stages.row(i) for i, customer_id in enumerate(stages.customer_ids)}


def _churn(table: Facts, counts: np.ndarray, recency: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Expected gap (days, NaN without a cycle) and churn risk per customer; the cycle."""
    gap_count, own = _median_gaps(table)
    known = own[~np.isnan(own)]
    alive_prior = counts / (counts + 1.0)
    if not len(known):
        return np.full(len(counts), np.nan), 1.0 - alive_prior, None
    cycle = float(np.median(known))
    expected = np.where(gap_count > 0, (gap_count * np.nan_to_num(own) + cycle) / (gap_count + 1),
                        cycle)
    expected = np.maximum(expected, 1.0)
    still = alive_prior * np.exp(-np.maximum(recency, 0.0) / expected)
    return expected, 1.0 - still / (still + 1.0 - alive_prior), cycle
