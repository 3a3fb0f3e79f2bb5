"""Order facts and the per-customer table every lifecycle number is computed from: the facts
at or before an instant, sorted by (customer, time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DAY = 86400.0


@dataclass(frozen=True)
class OrderFact:
    """One order that counts (cancelled orders are not facts)."""

    order_id: str
    customer_id: str  # guests are not facts
    at: float  # epoch seconds, the order's own created_at
    value: float  # net revenue: sum(price * net quantity) of its lines
    currency: str



@dataclass(frozen=True)
class Table:
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


def facts_table(facts: Sequence[OrderFact], until: float) -> Table:
    kept = [fact for fact in facts if fact.at <= until]
    at = np.fromiter((fact.at for fact in kept), dtype=np.float64, count=len(kept))
    value = np.fromiter((fact.value for fact in kept), dtype=np.float64, count=len(kept))
    customer_ids, customer = encode([fact.customer_id for fact in kept])
    currencies, currency = encode([fact.currency for fact in kept])
    order = np.lexsort((at, customer))
    return Table(customer_ids, customer[order], at[order], value[order], currency[order],
                  tuple(str(c) for c in currencies))


def encode(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
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

