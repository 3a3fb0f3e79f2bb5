"""Order facts as columns, and the part of them at or before an instant that every lifecycle
number is computed from.

Money is exact: an order's value is an integer number of units of 10**-scale of its currency
(int64, or Python ints where int64 could overflow), so sums never lose a cent; a value becomes
a float only in an answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import SupportsInt

import numpy as np

DAY = 86400.0
MAX_SCALE = 18  # values are whole multiples of 10**-MAX_SCALE of their currency
_INT64_SAFE = 2.0**62  # a total of units below this cannot overflow int64 in any partial sum
_FLOAT_EXACT = 2**53
Ints = np.ndarray | Sequence[int]


@dataclass(frozen=True)
class OrderFact:
    """One order that counts (cancelled orders, guest orders and orders worth 0 are not facts):
    the input form of Facts.of."""

    order_id: str
    customer_id: str  # guests are not facts
    at: float  # epoch seconds, the order's own created_at
    value: Decimal | float  # net revenue: sum(price * net quantity) of its lines, exact; a
    # float is read as its shortest repr (10.1 is 10.1)
    currency: str


@dataclass(frozen=True)
class Facts:
    """A shop's order facts, arrays of shape (orders,) sorted by (customer, time).

    Every customer in `customer_ids` has at least one order. An order's value is
    `units / 10**scale` exactly."""

    customer_ids: np.ndarray  # (customers,) object (str), sorted
    customer: np.ndarray  # int64 index into customer_ids
    at: np.ndarray  # float64 epoch seconds
    units: np.ndarray  # int64, or object (Python int) when int64 could overflow
    scale: int
    currency: np.ndarray  # int64 index into currencies
    currencies: tuple[str, ...]  # sorted; "" for orders without one

    @classmethod
    def from_columns(cls, customer_ids: Sequence[str], at: np.ndarray, mantissa: Ints,
                     exponent: Ints, currencies: Sequence[str]) -> Facts:
        """Facts of orders given in any order: order i is customer_ids[i]'s at at[i] (epoch
        seconds), worth mantissa[i] * 10**exponent[i] exactly, in currencies[i]."""
        at = np.asarray(at, dtype=np.float64)
        if not len(at) == len(customer_ids) == len(mantissa) == len(exponent) == len(currencies):
            raise ValueError("every column needs one value per order")
        units, scale = exact_units(mantissa, exponent)
        ids, customer = encode(list(customer_ids))
        codes, currency = encode(list(currencies))
        order = np.lexsort((at, customer))
        return cls(ids, customer[order], at[order], units[order], scale, currency[order],
                   tuple(str(code) for code in codes))

    @classmethod
    def of(cls, facts: Iterable[OrderFact]) -> Facts:
        facts = list(facts)
        values = [_decimal(fact.value).as_tuple() for fact in facts]
        return cls.from_columns(
            [fact.customer_id for fact in facts], np.array([fact.at for fact in facts]),
            [(-1 if sign else 1) * int("".join(map(str, digits)) or "0")
             for sign, digits, _ in values],
            [int(exponent) for _, _, exponent in values], [fact.currency for fact in facts])

    def __len__(self) -> int:
        return len(self.at)

    def rows(self) -> list[tuple[str, float, Decimal, str]]:
        """(customer id, at, value, currency) per order, in (customer, time) order."""
        return [(str(self.customer_ids[c]), float(t), Decimal(int(u)).scaleb(-self.scale),
                 self.currencies[k])
                for c, t, u, k in zip(self.customer, self.at, self.units, self.currency,
                                      strict=True)]

    def until(self, as_of: float) -> Facts:
        """The orders at or before `as_of`, and only the customers who have one."""
        kept = self.at <= as_of
        if kept.all():
            return self
        present = np.zeros(len(self.customer_ids), dtype=bool)
        present[self.customer[kept]] = True
        renumber = np.cumsum(present) - 1
        return Facts(self.customer_ids[present], renumber[self.customer[kept]], self.at[kept],
                     self.units[kept], self.scale, self.currency[kept], self.currencies)

    @property
    def counts(self) -> np.ndarray:
        """Orders per customer."""
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

    def units_per_customer(self) -> np.ndarray:
        """Exact total value per customer, in units (the dtype of `units`)."""
        if not len(self.customer_ids):
            return self.units[:0]
        return np.add.reduceat(self.units, self.starts)

    def as_float(self, units: np.ndarray) -> np.ndarray:
        """Amounts in units as float64, each the float nearest its exact value."""
        if units.dtype == np.int64 and self.scale <= 22 and (
                not len(units) or int(np.abs(units).max()) < _FLOAT_EXACT):
            return units.astype(np.float64) / 10.0**self.scale  # exact / exact: rounded once
        return np.array([int(u) / 10**self.scale for u in units], dtype=np.float64)

    def cents(self, units: SupportsInt, divisor: int = 1) -> float:
        """`units` (an exact amount) / `divisor`, rounded to cents from its exact value, half
        up (as spreadsheets round): 2.345 is 2.35."""
        whole: int = 10**self.scale * divisor
        cents, rest = divmod(int(units) * 100, whole)
        return (cents + (2 * rest >= whole)) / 100


FactsLike = Facts | Sequence[OrderFact]


def as_facts(facts: FactsLike) -> Facts:
    return facts if isinstance(facts, Facts) else Facts.of(facts)


def facts_table(facts: FactsLike, until: float) -> Facts:
    """The facts at or before `until` (see Facts.until)."""
    return as_facts(facts).until(until)


def exact_units(mantissa: Ints, exponent: Ints) -> tuple[np.ndarray, int]:
    """Values mantissa * 10**exponent as integers of one scale: (units, scale) with
    units[i] / 10**scale the exact value; int64 when no sum of them can overflow it."""
    exponents = np.asarray(exponent, dtype=np.int64)
    scale = max(0, -int(exponents.min())) if len(exponents) else 0
    if scale > MAX_SCALE:
        raise ValueError(f"values must be whole multiples of 10**-{MAX_SCALE}, one has "
                         f"{scale} decimals")
    shift = scale + exponents
    if not len(shift) or int(shift.max()) <= MAX_SCALE:
        magnitude = np.abs(np.asarray(mantissa, dtype=np.float64)) * 10.0**shift
        if float(magnitude.sum()) < _INT64_SAFE:
            return np.asarray(mantissa, dtype=np.int64) * 10**shift, scale
    units = np.empty(len(exponents), dtype=object)
    units[:] = [int(m) * 10 ** int(s) for m, s in zip(mantissa, shift, strict=True)]
    return units, scale


def _decimal(value: Decimal | float | int | str) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


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
    sorted_values = np.empty(len(distinct), dtype=object)
    sorted_values[:] = [distinct[i] for i in order]
    return sorted_values, rank[codes]
