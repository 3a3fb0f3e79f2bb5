"""Plain rankings: the baselines of recommender.baselines as strategies a shop can be served by.

The per-shop choice scores each baseline on the same held-out cases as its blends
(recommender.tuning), from the matrices `Plain` gives; a task where no blend beats the best
baseline falls back to it (Config's nurture_fallback, discovery_fallback, cart_fallback), and
ShopModel then serves that task from the same `Plain`, fitted on the whole history and stored
with the model. Each ranks exactly as the baseline does: its own best first, ties by product,
then popular products (orders holding them, ties by product id), which every baseline tops
its answer up with. Scores are float32 (customers or carts, items), higher first.

- popularity: nothing personal;
- own history: the customer's orders holding each product, ties by their latest purchase of
  it (popularity for carts: it knows nothing of them);
- co-occurrence: orders holding both products, summed over the customer's products or the
  cart's;
- ALS (defaults): implicit's ALS with the library's defaults (seeded);
- BM25 item-kNN: implicit's BM25 item-kNN, K = 100, over the customer's purchase counts or
  the cart.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender
from implicit.utils import ParameterWarning

from recommender.matrix import Interactions
from recommender.models import als_from_factors
from recommender.npz import csr_arrays, csr_from
from recommender.rows import Row, dense_row

POPULARITY = "popularity"
OWN_HISTORY = "own history"
CO_OCCURRENCE = "co-occurrence"
ALS_DEFAULTS = "ALS (defaults)"
BM25 = "BM25 item-kNN"
BASELINES = (POPULARITY, OWN_HISTORY, CO_OCCURRENCE, ALS_DEFAULTS, BM25)
NEWEST = np.float32(1.0)  # `last` of a purchase newer than training: after every trained one
MANY_ROWS, DENSE_ITEMS = 64, 8192  # co-occurrence of many rows: a dense product up to here
IMPLICIT_ALS_REGULARIZATION = 0.01  # implicit's defaults (a test checks the installed one's)
IMPLICIT_ALS_ALPHA = 1.0


class Plain:
    """The parts of the baselines named when fitted: `popular` float32 (items,), 1 for the
    most popular, falling, ties by product id; `last` CSR float32 (users, items), each
    customer's latest purchase of each product scaled into (0, 1) over the training span;
    `together` CSR float32 (items, items), orders holding both (diagonal left out); `als`
    user and item factors; `bm25` CSR float32 (items, items) BM25 similarity, K = 100."""

    def __init__(self, popular: np.ndarray, last: sp.csr_matrix | None = None,
                 together: sp.csr_matrix | None = None,
                 als: tuple[np.ndarray, np.ndarray] | None = None,
                 bm25: sp.csr_matrix | None = None) -> None:
        self.popular = popular
        self.last, self.together, self.als, self.bm25 = last, together, als, bm25

    @classmethod
    def fit(cls, data: Interactions, names: Collection[str] = BASELINES) -> Plain:
        unknown = set(names) - set(BASELINES)
        if unknown:
            raise ValueError(f"no baseline {sorted(unknown)}; known: {', '.join(BASELINES)}")
        counts = np.asarray(data.basket_items.sum(axis=0)).ravel()
        popular = np.empty(data.n_items, np.float32)
        popular[np.lexsort((data.item_ids, -counts))] = (
            np.arange(data.n_items, 0, -1) / max(data.n_items, 1))
        together = als = bm25 = None
        if CO_OCCURRENCE in names:
            baskets = data.basket_items
            together = (baskets.T @ baskets).tocsr().astype(np.float32)
            together.setdiag(0)
            together.eliminate_zeros()
        if ALS_DEFAULTS in names:
            model = AlternatingLeastSquares(random_state=0)
            model.fit(data.user_items, show_progress=False)
            als = (np.asarray(model.user_factors), np.asarray(model.item_factors))
        if BM25 in names:
            knn = BM25Recommender(K=100)
            with warnings.catch_warnings():  # implicit hands its own kNN a COO matrix
                warnings.filterwarnings("ignore", "Method expects CSR input", ParameterWarning)
                knn.fit(data.user_items, show_progress=False)
            bm25 = sp.csr_matrix(knn.similarity, dtype=np.float32)
        last = _latest(data) if OWN_HISTORY in names else None
        return cls(popular, last, together, als, bm25)

    def customers(self, name: str, users: np.ndarray, counts: sp.csr_matrix,
                  last: sp.csr_matrix | None = None) -> np.ndarray:
        """(customers, items) scores of baseline `name` for customers with these purchase
        `counts` (CSR (customers, items), orders holding each product) and `last` purchase
        times (as `self.last`; default: their rows of it); `users`: each one's row of the
        training data, -1 for a customer whose counts differ from it (their ALS vector is then
        folded in)."""
        if name == POPULARITY:
            return self._filled(np.zeros(counts.shape, np.float32))
        if name == OWN_HISTORY:
            if last is None:
                last = self._part(self.last, name)[users]
            return self._filled(_dense(counts) + np.float32(0.5) * _dense(last))
        if name == CO_OCCURRENCE:
            bought = (counts > 0).astype(np.float32)
            together = self._part(self.together, name)
            if bought.shape[0] >= MANY_ROWS and together.shape[0] <= DENSE_ITEMS:
                return self._filled(np.asarray(bought @ together.toarray()))  # 10x faster
            return self._filled(_dense(bought @ together))
        if name == ALS_DEFAULTS:
            user_factors, item_factors = self._part(self.als, name)
            factors = np.zeros((len(users), item_factors.shape[1]), np.float32)
            known = np.flatnonzero(users >= 0)
            factors[known] = user_factors[users[known]]
            fresh = np.flatnonzero(users < 0)
            if len(fresh):
                factors[fresh] = self._fold_in(counts[fresh])
            return _positive(np.asarray(factors @ item_factors.T, np.float32))
        if name == BM25:
            return self._filled(_dense(sp.csr_matrix(counts, dtype=np.float32)
                                       @ self._part(self.bm25, name)))
        raise KeyError(name)

    def for_rows(self, name: str, live: Sequence[tuple[int | None, Row, bool]],
                 user_items: sp.csr_matrix) -> np.ndarray:
        """`customers` of ShopModel's rows: (row of user_items or None, purchase counts as of
        now, whether they differ from training). A product bought more often than training
        saw was bought last after everything trained."""
        users = np.array([-1 if fresh or user is None else user for user, _, fresh in live])
        counts = sp.vstack([row.csr() for _, row, _ in live], format="csr")
        last = None
        if name == OWN_HISTORY and (users < 0).any():
            stored = self._part(self.last, name)
            last = np.zeros(counts.shape, np.float32)
            for k, (user, row, fresh) in enumerate(live):
                if user is None:
                    last[k, row.indices] = NEWEST
                    continue
                last[k] = dense_row(stored, user)
                if fresh:
                    newer = row.dense() > dense_row(user_items, user)
                    last[k, newer] = NEWEST
        return self.customers(name, users, counts, None if last is None else sp.csr_matrix(last))

    def cart(self, name: str, items: Sequence[int]) -> np.ndarray:
        """float64 (items,): `carts` of one cart holding `items` (item indices)."""
        columns = np.array(sorted(set(items)), np.int32)
        row = sp.csr_matrix((np.ones(len(columns), np.float32), columns, [0, len(columns)]),
                            shape=(1, len(self.popular)))
        return np.asarray(self.carts(name, row)[0], np.float64)

    def carts(self, name: str, carts: sp.csr_matrix) -> np.ndarray:
        """(carts, items) scores of baseline `name` for carts (CSR rows of 1 per product)."""
        if name in (POPULARITY, OWN_HISTORY):
            return self._filled(np.zeros(carts.shape, np.float32))
        if name == ALS_DEFAULTS:
            _, item_factors = self._part(self.als, name)
            return _positive(np.asarray(self._fold_in(carts) @ item_factors.T, np.float32))
        return self.customers(name, np.full(carts.shape[0], -1), carts)

    def _fold_in(self, counts: sp.csr_matrix) -> np.ndarray:
        """ALS vectors of customers with these counts, as implicit's recalculate_user."""
        user_factors, item_factors = self._part(self.als, ALS_DEFAULTS)
        model = als_from_factors(user_factors, item_factors, IMPLICIT_ALS_REGULARIZATION,
                                 IMPLICIT_ALS_ALPHA)
        return np.asarray(model.recalculate_user(np.arange(counts.shape[0]),
                                                 sp.csr_matrix(counts, dtype=np.float32)))

    def _filled(self, scores: np.ndarray) -> np.ndarray:
        """Products of positive score first (by score), then the rest by popularity (in
        place: `scores` is the caller's new matrix)."""
        nothing = scores <= 0
        scores += np.float32(1.0)
        np.copyto(scores, np.broadcast_to(self.popular, scores.shape), where=nothing)
        return scores

    @staticmethod
    def _part(part: Any, name: str) -> Any:
        if part is None:
            raise ValueError(f"baseline {name!r} was not fitted")
        return part

    def without_users(self, keep: np.ndarray) -> Plain:
        """The same parts holding only the customers where `keep` (bool (users,)) is True."""
        return Plain(self.popular, None if self.last is None else sp.csr_matrix(self.last[keep]),
                     self.together, None if self.als is None else (self.als[0][keep], self.als[1]),
                     self.bm25)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays of the parts fitted, for recommender.npz (`from_arrays` reads them)."""
        arrays = {"plain_popular": self.popular}
        for name, part in (("plain_last", self.last), ("plain_together", self.together),
                           ("plain_bm25", self.bm25)):
            if part is not None:
                arrays.update(csr_arrays(name, part))
        if self.als is not None:
            arrays["plain_als_users"], arrays["plain_als_items"] = self.als
        return arrays

    @classmethod
    def from_arrays(cls, arrays: np.lib.npyio.NpzFile) -> Plain | None:
        """The parts `to_arrays` stored; None in a model stored without any."""
        files = set(arrays.files)
        if "plain_popular" not in files:
            return None

        def stored(name: str) -> sp.csr_matrix | None:
            return csr_from(arrays, name) if f"{name}_shape" in files else None

        als = ((arrays["plain_als_users"], arrays["plain_als_items"])
               if "plain_als_users" in files else None)
        return cls(arrays["plain_popular"], stored("plain_last"), stored("plain_together"), als,
                   stored("plain_bm25"))


def _latest(data: Interactions) -> sp.csr_matrix:
    """CSR float32 (users, items): each customer's latest purchase of each product, scaled into
    (0, 1) over the training span (later: larger)."""
    known = data.line_users >= 0
    users, items = data.line_users[known], data.line_items[known]
    times = data.line_times[known]
    if not len(times):
        return sp.csr_matrix(data.user_items.shape, dtype=np.float32)
    first, span = float(times.min()), float(times.max() - times.min())
    scaled = 1e-6 + 0.99 * ((times - first) / span if span > 0 else 0.0 * times)
    keys, inverse = np.unique(users.astype(np.int64) * data.n_items + items,
                              return_inverse=True)
    latest = np.zeros(len(keys))
    np.maximum.at(latest, inverse, scaled)
    return sp.csr_matrix((latest.astype(np.float32), (keys // data.n_items, keys % data.n_items)),
                         shape=data.user_items.shape)


def _positive(scores: np.ndarray) -> np.ndarray:
    """The same order, every score above 0 (ALS's can be negative; serving keeps positives)."""
    shifted: np.ndarray = scores - scores.min(axis=1, keepdims=True) + np.float32(1e-6)
    return shifted


def _dense(matrix: sp.spmatrix) -> np.ndarray:
    """float32: (cases, items) of a catalog of 68k products is 0.4 GB even so."""
    return np.asarray(matrix.todense(), dtype=np.float32)
