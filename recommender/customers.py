"""Customer neighbours: what the customers nearest to each customer buy, by the next-basket
methods of issue 16, behind the CustomerNeighbours interface; CUSTOMERS, the registry of the
names Config.customers may hold.

- TIFU-KNN (Hu, He, Gao and Zhang, SIGIR 2020, "Modeling Personalized Item Frequency
  Information for Next-basket Recommendation"): each customer's baskets, oldest first, are
  split into `tifu_groups` groups of consecutive baskets (sizes n // m or n // m + 1, the
  larger ones last); a basket weighs tifu_within ** (baskets after it in its group), a group
  tifu_across ** (groups after it); the customer's vector is the mean over groups of each
  group's mean of weighted basket vectors (binary: which products the basket holds). Its
  neighbours are the `customers_k` customers whose vectors have the largest cosine with it,
  and their part is the mean of their vectors (the paper's (1 - alpha) part; the customer's
  own part is the blend's buy-again signal, weighted against it by the per-shop choice).
- UP-CF@r (Faggioli, Polato and Aiolli, UMAP 2020, "Recency Aware Collaborative Filtering for
  Next Basket Recommendation"): each customer's recency-aware user popularity UP@r, the share
  of their last min(r, n) baskets holding each product (r = `upcf_recency`); similarity of
  customers u and v is the asymmetric cosine of the products they ever bought,
  |I_u & I_v| / (|I_u| ** a * |I_v| ** (1 - a)) (a = `upcf_asymmetry`), the `customers_k`
  largest kept and raised to the locality `upcf_locality` (q); their part is the sum of the
  neighbours' UP@r weighted by similarity ** q (the paper's own UP@r term is again the blend's
  buy-again signal).

As "A Next Basket Recommendation Reality Check" (Li, Jullien, Ariannezhad and de Rijke, TOIS
2023) shows, products the customer bought before (repeat) and products new to them (explore)
behave apart: each customer keeps the TOP_ITEMS best of each in `matrix`, so the discovery
list (explore only) has as many candidates as the personal list.

All of it is sparse matrix products and per-row top-k (recommender.neighbours.keep_top_k),
in blocks of customers that bound memory (BLOCK_CELLS); nothing loops per customer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, Self

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions
from recommender.neighbours import keep_top_k

TOP_ITEMS = 100  # per customer, of the products they bought and of those they did not
# customers x customers similarities, or customers x products scores, computed at once (at
# most 32 MB of float64 values, and as many of their indices)
BLOCK_CELLS = 1 << 22
DENSE_SHARE = 25  # neighbours' sums dense when customers_k * DENSE_SHARE >= customers


class CustomerSettings(Protocol):
    """The hyperparameters customer neighbours read (recommender.config.Config holds them)."""

    @property
    def customers_k(self) -> int: ...
    @property
    def tifu_within(self) -> float: ...
    @property
    def tifu_across(self) -> float: ...
    @property
    def tifu_groups(self) -> int: ...
    @property
    def upcf_recency(self) -> int: ...
    @property
    def upcf_asymmetry(self) -> float: ...
    @property
    def upcf_locality(self) -> float: ...


class CustomerNeighbours(ABC):
    """What each customer's nearest customers buy: `matrix` CSR float32 (users, items), per
    customer the TOP_ITEMS best-scored products among those they bought and among those they
    did not (0 stored nowhere). Filled by `fit`, or from a stored matrix by `load`."""

    def __init__(self, settings: CustomerSettings) -> None:
        self.settings = settings
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, data: Interactions) -> Self:
        self.matrix = self.rows(data, np.arange(data.n_users))
        return self

    def load(self, matrix: sp.csr_matrix) -> Self:
        """This model holding a `matrix` it fitted before."""
        self.matrix = matrix
        return self

    def without_users(self, keep: np.ndarray) -> Self:
        """The same model holding only the users where `keep` (bool (users,)) is True."""
        return type(self)(self.settings).load(sp.csr_matrix(self.matrix[keep]))

    def rows(self, data: Interactions, users: np.ndarray) -> sp.csr_matrix:
        """CSR float32 (len(users), items): `matrix`'s rows of `users` (indices of data's
        users), computed for them alone, a block of them at a time (at most BLOCK_CELLS
        customers x customers or customers x products). The neighbours' sum is a
        sparse-times-dense product when each customer has many neighbours (DENSE_SHARE of
        all: an order faster there), else a sparse one."""
        queries, targets, values = self._parts(data)
        targets = targets.T.tocsc()
        k = self.settings.customers_k
        by_item = (sp.csr_matrix(values.T, dtype=np.float32)
                   if k * DENSE_SHARE >= data.n_users else None)
        values = sp.csr_matrix(values, dtype=np.float32)
        step = max(1, BLOCK_CELLS // max(data.n_users, data.n_items, 1))
        bought = sp.csr_matrix(data.user_items, dtype=np.float32)
        blocks = [sp.csr_matrix((0, data.n_items), dtype=np.float32)]
        for start in range(0, len(users), step):
            block = np.asarray(users[start:start + step], np.int64)
            weights = sp.csr_matrix(self._weights(nearest_customers(queries, targets, block, k)),
                                    dtype=np.float32)
            scores = (np.ascontiguousarray((by_item @ weights.T.toarray()).T)
                      if by_item is not None else (weights @ values).toarray())
            blocks.append(split_top(scores, bought[block], TOP_ITEMS))
        return sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)

    @abstractmethod
    def _parts(self, data: Interactions
               ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """(queries, targets, values), CSR (users, items) each: customer u's neighbours are the
        v of largest positive queries[u] . targets[v]; values[v] is what v adds."""

    @abstractmethod
    def _weights(self, similar: sp.csr_matrix) -> sp.csr_matrix:
        """The weight of each neighbour (CSR (block, users), their similarities) in the sum of
        their values."""


class TifuKnn(CustomerNeighbours):
    """TIFU-KNN's neighbours part (module doc): the mean of the vectors of the customers_k
    customers nearest by cosine of their group-decayed purchase vectors."""

    def _parts(self, data: Interactions
               ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        s = self.settings
        vectors = tifu_vectors(data, s.tifu_within, s.tifu_across, s.tifu_groups)
        unit = scaled_rows(vectors, row_norms(vectors))
        return unit, unit, vectors

    def _weights(self, similar: sp.csr_matrix) -> sp.csr_matrix:
        weights = similar.copy()
        weights.data[:] = 1.0 / max(self.settings.customers_k, 1)
        return weights


class UpCf(CustomerNeighbours):
    """UP-CF@r's collaborative part (module doc): the neighbours' UP@r, each weighted by its
    asymmetric cosine with the customer raised to the locality."""

    def _parts(self, data: Interactions
               ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        s = self.settings
        bought = sp.csr_matrix(data.user_items, dtype=np.float64)
        bought.data[:] = 1.0
        sizes = np.diff(bought.indptr).astype(np.float64)
        return (scaled_rows(bought, sizes ** s.upcf_asymmetry),
                scaled_rows(bought, sizes ** (1.0 - s.upcf_asymmetry)),
                recent_popularity(data, s.upcf_recency))

    def _weights(self, similar: sp.csr_matrix) -> sp.csr_matrix:
        weights = similar.copy()
        weights.data **= self.settings.upcf_locality
        return weights


CUSTOMERS: dict[str, type[CustomerNeighbours]] = {"tifu": TifuKnn, "upcf": UpCf}


def customer_baskets(data: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Every customer's baskets, customer by customer, oldest first (ties by basket index):
    (user, basket, position 0.. among the user's baskets, the user's number of baskets), each
    int64 per basket. A basket's time is its latest line's; guests' baskets are left out."""
    n_baskets = data.basket_items.shape[0]
    owner = np.full(n_baskets, -1, np.int64)
    owner[data.line_baskets] = data.line_users
    when = np.full(n_baskets, -np.inf)
    np.maximum.at(when, data.line_baskets, data.line_times)
    kept = np.flatnonzero(owner >= 0)
    order = kept[np.lexsort((kept, when[kept], owner[kept]))]
    users = owner[order]
    counts = np.bincount(users, minlength=data.n_users)
    position = np.arange(len(order)) - (np.cumsum(counts) - counts)[users]
    return users, order, position, counts[users]


def tifu_vectors(data: Interactions, within: float, across: float,
                 groups: int) -> sp.csr_matrix:
    """CSR float64 (users, items): TIFU-KNN's customer vectors (module doc)."""
    users, baskets, position, n = customer_baskets(data)
    m = max(groups, 1)
    size = np.maximum(n // m, 1)  # the smaller groups' size (n >= m), else 1 basket a group
    larger = np.where(n >= m, n % m, 0)  # groups of size + 1, the last ones
    in_smaller = np.where(n >= m, (m - larger) * size, n)  # baskets in the smaller groups
    late = position >= in_smaller
    group = np.where(late, m - larger + (position - in_smaller) // (size + 1),
                     position // size)
    group_size = np.where(late, size + 1, size)
    group_end = np.where(late, in_smaller + (group - (m - larger) + 1) * (size + 1),
                         (group + 1) * size) - 1  # the group's last basket
    n_groups = np.minimum(n, m)
    weight = (within ** (group_end - position) * across ** (n_groups - 1 - group)
              / group_size / n_groups)
    return _by_user(data, users, baskets, weight)


def recent_popularity(data: Interactions, recency: int) -> sp.csr_matrix:
    """CSR float64 (users, items): UP@r, the share of each customer's last min(r, n) baskets
    that hold each product (r = `recency`)."""
    users, baskets, position, n = customer_baskets(data)
    last = position >= n - recency
    share = 1.0 / np.minimum(n, recency).astype(np.float64)
    return _by_user(data, users[last], baskets[last], share[last])


def _by_user(data: Interactions, users: np.ndarray, baskets: np.ndarray,
             weights: np.ndarray) -> sp.csr_matrix:
    """CSR float64 (users, items): per customer, the weighted sum of their baskets' rows."""
    by_basket = sp.csr_matrix((weights, (users, baskets)),
                              shape=(data.n_users, data.basket_items.shape[0]))
    return sp.csr_matrix(by_basket @ sp.csr_matrix(data.basket_items, dtype=np.float64))


def nearest_customers(queries: sp.csr_matrix, targets: sp.csc_matrix, users: np.ndarray,
                      k: int) -> sp.csr_matrix:
    """CSR float64 (len(users), customers): per customer of `users` (rows of `queries`), the
    `k` customers (columns of `targets`, CSC (items, customers)) of largest positive dot
    product with its query, itself left out, ties by index
    (recommender.neighbours.keep_top_k)."""
    similar = sp.csr_matrix(queries[users] @ targets, dtype=np.float64)
    rows = np.repeat(np.arange(len(users)), np.diff(similar.indptr))
    similar.data[(users[rows] == similar.indices) | (similar.data < 0)] = 0.0
    similar.eliminate_zeros()  # itself, and no negative similarity
    similar.sort_indices()
    return sp.csr_matrix(keep_top_k(similar, max(k, 1)), dtype=np.float64)


def split_top(scores: np.ndarray, bought: sp.csr_matrix, top: int) -> sp.csr_matrix:
    """CSR float32 (rows, items) of dense `scores` (changed in place): each row's `top` best
    positive entries among the products `bought` (CSR, canonical) holds, ties by column, and
    its `top` best among the others (ties at the cut as np.argpartition leaves them: the same
    for the same scores)."""
    n_rows, n_items = scores.shape
    rows = np.repeat(np.arange(n_rows), np.diff(bought.indptr))
    repeat = sp.csr_matrix((scores[rows, bought.indices], bought.indices, bought.indptr),
                           shape=scores.shape, dtype=np.float32)
    repeat.eliminate_zeros()
    scores[rows, bought.indices] = 0.0
    top = min(top, n_items)
    columns = np.argpartition(-scores, top - 1, axis=1)[:, :top] if top else np.zeros(
        (n_rows, 0), np.int64)
    values = np.take_along_axis(scores, columns, axis=1)
    keep = values > 0
    at = np.broadcast_to(np.arange(n_rows)[:, None], columns.shape)
    explore = sp.csr_matrix((values[keep], (at[keep], columns[keep])), shape=scores.shape,
                            dtype=np.float32)
    return sp.csr_matrix(keep_top_k(repeat, top) + explore, dtype=np.float32)


def row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """float64 (rows,): each row's Euclidean length."""
    squares = np.bincount(np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)),
                          weights=np.asarray(matrix.data, np.float64) ** 2,
                          minlength=matrix.shape[0])
    return np.asarray(np.sqrt(squares))


def scaled_rows(matrix: sp.csr_matrix, divisors: np.ndarray) -> sp.csr_matrix:
    """CSR float64: each row of `matrix` divided by its divisor (a row whose divisor is 0
    stays 0)."""
    inverse = np.divide(1.0, divisors, out=np.zeros_like(divisors, np.float64),
                        where=divisors > 0)
    scaled = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    scaled.data *= np.repeat(inverse, np.diff(scaled.indptr))
    return scaled
