"""The validation the per-shop choice scores its candidates on (recommender.tuning).

Held-out cases ask what the real calls ask (`next_basket_cases`): for each customer with
orders before the cutoff who orders again after it, their NEXT basket (the first order after
the cutoff) is what a personal list (nurture) should name, and its products they never bought
what discovery should name; every held-out basket of two or more products is a cart with one
product hidden (upsell), as `shopreco evaluate` asks. Scores are NDCG@K (nurture, discovery)
and hit rate @K (upsell), computed for all cases at once from matrices of scores (`Task`,
`Gathered`, `score_exactly`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.evaluation import Cases, upsell_cases
from recommender.matrix import Purchase

K = 10
CANDIDATES = 30  # per component and case, see Gathered
DISCOUNT = 1.0 / np.log2(np.arange(K) + 2.0)
DAY = 86400.0
VALIDATION_SHARE = 0.2
MAX_VALIDATION_DAYS = 120.0
MIN_SPAN_DAYS = 28.0


def held_out_cutoff(first: float, last: float) -> float | None:
    """Where a history from `first` to `last` (epoch seconds) is split in time: the start of
    its last VALIDATION_SHARE, at most MAX_VALIDATION_DAYS; None when it spans fewer than
    MIN_SPAN_DAYS."""
    span_days = (last - first) / DAY
    if span_days < MIN_SPAN_DAYS:
        return None
    return last - min(VALIDATION_SHARE * span_days, MAX_VALIDATION_DAYS) * DAY


def next_basket_cases(train: Sequence[Purchase], held_out: Sequence[Purchase],
                      seed: int = 0) -> Cases:
    """The cases of the three tasks (module doc): nurture and discovery on each returning
    customer's next basket (their earliest held-out order; ties by order id), upsell on every
    held-out basket of two or more products."""
    known: dict[str, set[str]] = defaultdict(set)
    for p in train:
        if p.customer_id:
            known[p.customer_id].add(p.product_id)
    first: dict[str, tuple[float, str]] = {}
    for p in held_out:
        if p.customer_id in known:
            first[p.customer_id] = min(first.get(p.customer_id, (p.timestamp, p.order_id)),
                                       (p.timestamp, p.order_id))
    basket: dict[str, set[str]] = defaultdict(set)
    for p in held_out:
        if p.customer_id in first and first[p.customer_id][1] == p.order_id:
            basket[p.customer_id].add(p.product_id)
    nurture = [(c, frozenset(basket[c])) for c in sorted(basket)]
    discovery = [(c, frozenset(products - known[c])) for c, products in nurture
                 if products - known[c]]
    return Cases(nurture, discovery, upsell_cases(held_out, seed))


def sample(cases: Cases, limit: int, seed: int) -> Cases:
    """At most `limit` cases of each task, picked with a fixed seed, in their order."""
    rng = np.random.default_rng(seed)

    def pick(items: list[Any]) -> list[Any]:
        if len(items) <= limit:
            return items
        keep = np.sort(rng.choice(len(items), size=limit, replace=False))
        return [items[i] for i in keep]

    return Cases(pick(cases.nurture), pick(cases.discovery), pick(cases.upsell))


@dataclass
class Task:
    """One task's held-out cases: relevant known items (bool (cases, items)), the ideal DCG
    per case (NDCG) or None (hit rate: one hidden item, a miss when unknown), and the items
    never to recommend (bool (cases, items): bought for discovery, the cart for upsell)."""

    name: str
    known: np.ndarray
    ideal: np.ndarray | None
    mask: np.ndarray | None

    def __len__(self) -> int:
        return len(self.known)



def score_exactly(task: Task, scores: np.ndarray) -> float:
    """The task's score of a full (cases, items) score matrix: each case's K best items that
    are not masked, ties by item index (what a baseline's own ranking gives). `scores` is
    changed in place (masked items set to -inf)."""
    if task.mask is not None:
        scores[task.mask] = -np.inf
    top = top_k(scores)
    named = np.isfinite(np.take_along_axis(scores, top, axis=1))
    return _metric(np.take_along_axis(task.known, top, axis=1) & named, task.ideal)


class Gathered:
    """A task's component scores on a few candidate items per case: the union of each
    component's CANDIDATES best and the trending best, so that scoring a blend costs
    (cases x ~100), not (cases x items). An item outside every component's top can still
    rank in a blend's top 10 in principle; for choosing weights that is negligible. A part
    given as None is a component the task leaves out (its weights must be 0)."""

    def __init__(self, task: Task, parts: Sequence[np.ndarray | None],
                 trending_top: np.ndarray) -> None:
        n_cases, n_items = task.known.shape
        tops = [np.argpartition(-part, min(CANDIDATES, n_items) - 1, axis=1)[:, :CANDIDATES]
                for part in parts if part is not None]
        rows = [np.unique(np.concatenate([*(t[r] for t in tops), trending_top]))
                for r in range(n_cases)]
        width = max((len(r) for r in rows), default=0)
        self.columns = np.full((n_cases, width), -1, dtype=np.int64)
        for r, cols in enumerate(rows):
            self.columns[r, : len(cols)] = cols
        padding = self.columns < 0
        columns = np.where(padding, 0, self.columns)
        at = np.arange(n_cases)[:, None]
        self.parts = [None if part is None else part[at, columns] for part in parts]
        self.blocked = padding if task.mask is None else padding | task.mask[at, columns]
        self.hits = task.known[at, columns] & ~padding
        self.ideal = task.ideal
        self._columns = columns

    def trending(self, trend: np.ndarray) -> np.ndarray:
        return trend[self._columns]

    def score(self, weights: Sequence[float], trend: np.ndarray) -> float:
        scores = (weights[-1] + 1e-6) * trend  # trending also fills what nothing else names
        for weight, part in zip(weights[:-1], self.parts, strict=True):
            if weight and part is not None:
                scores = scores + weight * part
        scores = np.where(self.blocked, -np.inf, scores)
        top = top_k(scores)
        named = np.isfinite(np.take_along_axis(scores, top, axis=1))
        return _metric(np.take_along_axis(self.hits, top, axis=1) & named, self.ideal)


def _metric(hits: np.ndarray, ideal: np.ndarray | None) -> float:
    if ideal is None:
        return float(np.mean(hits.any(axis=1)))
    return float(np.mean((hits @ DISCOUNT[: hits.shape[1]]) / ideal))


def relevance(cases: Sequence[tuple[str, frozenset[str]]], index: dict[str, int],
              n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(relevant known items bool (cases, items), ideal DCG@K per case)."""
    known = np.zeros((len(cases), n_items), dtype=bool)
    for row, (_, relevant) in enumerate(cases):
        known[row, [index[p] for p in relevant if p in index]] = True
    ideal = np.array([DISCOUNT[: min(len(relevant), K)].sum() for _, relevant in cases])
    return known, ideal


def dense(matrix: sp.spmatrix) -> np.ndarray:
    """A sparse matrix as a float64 array."""
    return np.asarray(matrix.todense(), dtype=np.float64)


def sparse_rows(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """CSR float64 (rows, n_items) holding 1 at each row's item indices."""
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.array([i for r in rows for i in r], dtype=np.int32)
    return sp.csr_matrix((np.ones(len(indices), np.float64), indices, indptr),
                         shape=(len(rows), n_items))


def top_k(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Column indices of each row's k best scores, best first, ties by column (among the
    tied at the k-th place too: the lowest columns are taken)."""
    n_rows, n_columns = scores.shape
    k = min(k, n_columns)
    if k == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    kth = np.partition(scores, n_columns - k, axis=1)[:, n_columns - k][:, None]
    above = scores > kth
    tied = scores == kth
    need = k - above.sum(axis=1, keepdims=True)
    chosen = above | tied
    excess = np.flatnonzero(tied.sum(axis=1) > need[:, 0])  # more tied than places: the first
    if len(excess):
        chosen[excess] = above[excess] | (tied[excess]
                                          & (np.cumsum(tied[excess], axis=1) <= need[excess]))
    columns = np.nonzero(chosen)[1].reshape(n_rows, k)  # each row's k, by column
    order = np.argsort(-np.take_along_axis(scores, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)
