"""Offline evaluation of recommenders on an order history split in time.

Two splits: a time window (every recommender trained on the orders before `cutoff`, tested on
the window's orders: `split`), or each customer's last basket (`last_basket_split`: the
protocol of next-basket studies, test = each repeat customer's last order). Three tasks,
K = 10 by default, on the test orders:

- nurture: each customer with a training order who buys in the test window; relevant = the
  set of products they buy there (repurchases count); NDCG@K with binary relevance, ideal DCG
  over min(|relevant|, K); mean over those customers.
- discovery: the same, relevant = test-window products the customer never bought in
  training, customers with at least one; recommendations must exclude training purchases.
- upsell: each test order with 2+ distinct products hides ONE of them, picked by a seeded
  rng (numpy default_rng(seed), orders in id order); the rest is the cart. HR@K = share of
  orders whose hidden product is in the top K cart recommendations. Products unknown to the
  training data stay in the cart (a recommender may ignore them) and, when hidden, count as
  a miss: no recommender can name them.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from recommender.matrix import Purchase

DAY = 86400.0
REQUIRED_COLUMNS = ("order_id", "customer_id", "product_id", "ordered_at")
OPTIONAL_COLUMNS = ("quantity", "unit_price")


class Recommender(Protocol):
    """A recommender under test. Answers are product ids, best first, at most `k`."""

    name: str

    def fit(self, train: Sequence[Purchase]) -> None: ...

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]: ...

    def for_cart(self, product_ids: Sequence[str], k: int) -> list[str]: ...


@dataclass(frozen=True)
class Result:
    """One recommender's scores (nan when a task had no cases) and training seconds."""

    name: str
    nurture: float
    discovery: float
    upsell: float
    train_seconds: float


@dataclass(frozen=True)
class Cases:
    """What each task asks: (customer, relevant products) pairs and (cart, hidden) pairs."""

    nurture: list[tuple[str, frozenset[str]]]
    discovery: list[tuple[str, frozenset[str]]]
    upsell: list[tuple[tuple[str, ...], str]]


# ---- loading --------------------------------------------------------------------------------


def load_orders(
    paths: Sequence[Path],
    product_pattern: str | None = None,
    overlap_from: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> list[Purchase]:
    """Purchase lines of order CSVs (.csv or .csv.gz) with the shared data's columns.

    Keeps purchases only: customer_id present, order_id not starting with "C", quantity > 0
    and unit_price > 0 (a file without those columns counts quantity 1 and keeps the row).
    `product_pattern`: keep only product ids matching this regex (whole id).
    `overlap_from` (a date): with several files, rows of the first file dated on or after it
    are dropped (they repeat in the second file).
    `columns`: the file's name of any of our columns (REQUIRED_COLUMNS, OPTIONAL_COLUMNS) that
    it names otherwise, e.g. {"customer_id": "household_id"}; "" leaves an optional one out.
    """
    mapping = column_mapping(columns or {})
    if not paths:
        raise ValueError("load_orders needs at least one file")
    pattern = re.compile(product_pattern) if product_pattern else None
    overlap = _epoch(overlap_from) if overlap_from and len(paths) > 1 else None
    purchases: list[Purchase] = []
    for index, path in enumerate(paths):
        until = overlap if index == 0 else None
        purchases.extend(
            p for p in _read_purchases(path, pattern, mapping)
            if until is None or p.timestamp < until
        )
    return purchases


def column_mapping(columns: Mapping[str, str]) -> dict[str, str]:
    """Our column -> the file's, for every column we read: `columns` over the same names.
    ValueError for a name that is not one of ours, or a required column mapped to ""."""
    ours = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    unknown = sorted(set(columns) - set(ours))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}: the columns are "
                         f"{', '.join(ours)}")
    left_out = [name for name in REQUIRED_COLUMNS if columns.get(name) == ""]
    if left_out:
        raise ValueError(f"column(s) {', '.join(left_out)} cannot be left out")
    return {name: columns.get(name, name) for name in ours}


def _read_purchases(path: Path, pattern: re.Pattern[str] | None, mapping: Mapping[str, str]
                    ) -> Iterator[Purchase]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        found = reader.fieldnames or ()
        missing = [mapping[c] for c in REQUIRED_COLUMNS if mapping[c] not in found]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        read = {ours: theirs for ours, theirs in mapping.items() if theirs and theirs in found}
        times: dict[str, float] = {}
        for line, raw in enumerate(reader, start=2):
            row = {ours: raw[theirs] for ours, theirs in read.items()}
            purchase = _purchase(row, times, f"{path}:{line}")
            if purchase is not None and (pattern is None or pattern.fullmatch(purchase.product_id)):
                yield purchase


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _purchase(row: dict[str, str], times: dict[str, float], where: str) -> Purchase | None:
    order_id = row["order_id"].strip()
    customer_id = _customer_id(row["customer_id"])
    quantity = _number(row.get("quantity"), f"{where} quantity")
    price = _number(row.get("unit_price"), f"{where} unit_price")
    if not customer_id or order_id.startswith("C"):
        return None
    if (quantity is not None and quantity <= 0) or (price is not None and price <= 0):
        return None
    stamp = row["ordered_at"].strip()
    if stamp not in times:
        times[stamp] = _epoch(stamp, f"{where} ordered_at")
    count = 1 if quantity is None else max(int(quantity), 1)
    return Purchase(order_id, customer_id, row["product_id"].strip(), count, times[stamp])


def _customer_id(raw: str) -> str:
    """'12345.0' (a float-typed export) -> '12345'; empty stays empty."""
    value = raw.strip()
    return value[:-2] if value.endswith(".0") and value[:-2].isdigit() else value


def _number(raw: str | None, field: str) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{field}: expected a number, got {raw!r}") from None


def _epoch(value: str, field: str = "date") -> float:
    """Epoch seconds of an ISO date or date-time; naive times are read as UTC (the data's
    local time: only their order matters here)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{field}: expected YYYY-MM-DD[ HH:MM:SS], got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# ---- the split ------------------------------------------------------------------------------


def split(
    purchases: Iterable[Purchase], cutoff: str, end: str
) -> tuple[list[Purchase], list[Purchase]]:
    """(train, test): train before `cutoff`, test from `cutoff` to `end`, both dates, `end`
    inclusive (the whole day)."""
    start, stop = _epoch(cutoff, "cutoff"), _epoch(end, "end") + DAY
    if stop <= start:
        raise ValueError(f"end {end} must not be before cutoff {cutoff}")
    train: list[Purchase] = []
    test: list[Purchase] = []
    for p in purchases:
        if p.timestamp < start:
            train.append(p)
        elif p.timestamp < stop:
            test.append(p)
    return train, test


def last_basket_split(purchases: Iterable[Purchase]) -> tuple[list[Purchase], list[Purchase]]:
    """(train, test) as next-basket studies split: each customer with two or more orders has
    their last order (the latest; ties by order id) in test, everything else trains (other
    customers' later orders included). Lines without a customer stay in train."""
    rows = list(purchases)
    last: dict[str, tuple[float, str]] = {}
    orders: dict[str, set[str]] = defaultdict(set)
    for p in rows:
        if p.customer_id:
            orders[p.customer_id].add(p.order_id)
            last[p.customer_id] = max(last.get(p.customer_id, (p.timestamp, p.order_id)),
                                      (p.timestamp, p.order_id))
    held = {(c, order) for c, (_, order) in last.items() if len(orders[c]) >= 2}
    train: list[Purchase] = []
    test: list[Purchase] = []
    for p in rows:
        (test if (p.customer_id, p.order_id) in held else train).append(p)
    return train, test


def default_window(purchases: Sequence[Purchase], cutoff: str | None,
                   end: str | None, fallback_cutoff: str = "2011-09-01") -> tuple[str, str]:
    """(cutoff, end) dates to use: `end` defaults to the last order's date; `cutoff` to
    `fallback_cutoff` (the issue's Online Retail split) when the data spans it, else the start
    of the last 20% of the time span."""
    if not purchases:
        raise ValueError("no purchases left after filtering: nothing to evaluate")
    first = min(p.timestamp for p in purchases)
    last = max(p.timestamp for p in purchases)
    end = end or _date(last).isoformat()
    if cutoff is None:
        if first < _epoch(fallback_cutoff) <= last:
            cutoff = fallback_cutoff
        else:
            cutoff = _date(first + 0.8 * (last - first)).isoformat()
    return cutoff, end


def _date(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, tz=UTC).date()


# ---- metrics --------------------------------------------------------------------------------


def ndcg_at_k(ranked: Sequence[str], relevant: frozenset[str] | set[str], k: int) -> float:
    """Binary-relevance NDCG@k; the ideal DCG ranks min(|relevant|, k) hits first.
    A product listed twice counts once."""
    if not relevant:
        raise ValueError("ndcg_at_k needs at least one relevant product")
    seen: set[str] = set()
    dcg = 0.0
    for rank, product in enumerate(ranked[:k]):
        if product in relevant and product not in seen:
            dcg += 1.0 / math.log2(rank + 2)
        seen.add(product)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal


def hit_at_k(ranked: Sequence[str], hidden: str, k: int) -> float:
    """1.0 when `hidden` is among the first k products, else 0.0."""
    return 1.0 if hidden in ranked[:k] else 0.0


# ---- the tasks ------------------------------------------------------------------------------


def build_cases(train: Sequence[Purchase], test: Sequence[Purchase], seed: int = 0) -> Cases:
    """The cases of the three tasks (see the module docstring)."""
    history = _products_by_customer(train)
    bought = _products_by_customer(test)
    nurture = [(c, frozenset(bought[c])) for c in sorted(bought) if c in history]
    discovery = [
        (c, frozenset(products - history[c])) for c, products in nurture
        if products - history[c]
    ]
    return Cases(nurture, discovery, upsell_cases(test, seed))


def upsell_cases(test: Sequence[Purchase], seed: int = 0) -> list[tuple[tuple[str, ...], str]]:
    """(cart, hidden) per test order with 2+ distinct products, one product hidden per order."""
    orders: dict[str, dict[str, None]] = defaultdict(dict)
    for p in test:
        orders[p.order_id][p.product_id] = None
    rng = np.random.default_rng(seed)
    cases = []
    for order_id in sorted(orders):
        products = list(orders[order_id])
        if len(products) >= 2:
            hidden = products[int(rng.integers(len(products)))]
            cases.append((tuple(p for p in products if p != hidden), hidden))
    return cases


def _products_by_customer(purchases: Iterable[Purchase]) -> dict[str, set[str]]:
    products: dict[str, set[str]] = defaultdict(set)
    for p in purchases:
        if p.customer_id:
            products[p.customer_id].add(p.product_id)
    return products


def nurture_score(model: Recommender, cases: Cases, k: int) -> float:
    return _mean(ndcg_at_k(model.for_customer(c, k, False), rel, k) for c, rel in cases.nurture)


def discovery_score(model: Recommender, cases: Cases, k: int) -> float:
    return _mean(ndcg_at_k(model.for_customer(c, k, True), rel, k) for c, rel in cases.discovery)


def upsell_score(model: Recommender, cases: Cases, k: int) -> float:
    return _mean(hit_at_k(model.for_cart(cart, k), hidden, k) for cart, hidden in cases.upsell)


def _mean(values: Iterable[float]) -> float:
    collected = list(values)
    return float(np.mean(collected)) if collected else math.nan


def evaluate(
    recommenders: Sequence[Recommender],
    train: Sequence[Purchase],
    test: Sequence[Purchase],
    k: int = 10,
    seed: int = 0,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Fit each recommender on `train` (timed) and score it on the three tasks of `test`."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    cases = build_cases(train, test, seed)
    results = []
    for model in recommenders:
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        result = Result(model.name, nurture_score(model, cases, k),
                        discovery_score(model, cases, k), upsell_score(model, cases, k), seconds)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


# ---- the table ------------------------------------------------------------------------------

COLUMNS = ("nurture NDCG@{k}", "discovery NDCG@{k}", "upsell HR@{k}", "train s")


def format_table(results: Sequence[Result], k: int) -> str:
    """A plain-text table, one row per recommender in the given order."""
    headers = [h.format(k=k) for h in COLUMNS]
    width = max([len("recommender"), *(len(r.name) for r in results)])
    lines = ["  ".join(["recommender".ljust(width), *headers])]
    for r in results:
        cells = [f"{r.nurture:.3f}", f"{r.discovery:.3f}", f"{r.upsell:.3f}",
                 f"{r.train_seconds:.1f}"]
        lines.append("  ".join([r.name.ljust(width),
                                *(c.rjust(len(h)) for c, h in zip(cells, headers, strict=True))]))
    return "\n".join(lines)


def ratio_to_best(subject: Result, baselines: Sequence[Result]) -> str:
    """'<subject> / best baseline: nurture 0.95 (own-history), ...' per task."""
    parts = []
    for task in ("nurture", "discovery", "upsell"):
        scored = [b for b in baselines if not math.isnan(getattr(b, task))]
        if not scored:
            parts.append(f"{task} n/a")
            continue
        best = max(scored, key=lambda b: getattr(b, task))
        top, own = getattr(best, task), getattr(subject, task)
        ratio = f"{own / top:.2f}" if top > 0 else "n/a"
        parts.append(f"{task} {ratio} (best: {best.name} {top:.3f})")
    return f"{subject.name} / best baseline: " + ", ".join(parts)
