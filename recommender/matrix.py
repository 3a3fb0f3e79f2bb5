"""Purchase rows to the sparse matrices every model reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, slots=True)
class Purchase:
    """One product line of one order. `customer_id` None marks a guest basket."""

    order_id: str
    customer_id: str | None
    product_id: str
    quantity: int
    timestamp: float


@dataclass(frozen=True)
class Interactions:
    """Id maps and matrices built from purchases.

    user_items: CSR float32 (users, items), the number of orders in which the customer
        bought the item (guests excluded).
    basket_items: CSR float32 (baskets, items), 1 where the order holds the item (guests
        included: they still say what goes together).
    line_items / line_times / line_users / line_baskets: per purchase line (positive
        quantity, in the order given): its item, epoch seconds, user (-1: a guest) and basket.
    """

    user_ids: np.ndarray  # str (users,)
    item_ids: np.ndarray  # str (items,)
    user_items: sp.csr_matrix
    basket_items: sp.csr_matrix
    line_items: np.ndarray  # int32 item index per purchase line
    line_times: np.ndarray  # float64 epoch seconds per purchase line
    line_users: np.ndarray  # int32 user index per purchase line, -1 for a guest
    line_baskets: np.ndarray  # int32 basket index per purchase line

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def build_interactions(purchases: Iterable[Purchase]) -> Interactions:
    rows = [p for p in purchases if p.quantity > 0]
    if not rows:
        raise ValueError("purchases must hold at least one line with a positive quantity")
    item_ids, items = factorize(map(attrgetter("product_id"), rows))
    basket_ids, baskets = factorize(map(attrgetter("order_id"), rows))
    user_ids, users = factorize(map(attrgetter("customer_id"), rows))
    basket_items = _binary_csr(baskets, items, (len(basket_ids), len(item_ids)))
    ones = np.ones(len(rows), np.float32)
    return Interactions(
        user_ids=user_ids,
        item_ids=item_ids,
        user_items=summed_orders(users, baskets, items, [ones], (len(user_ids), len(item_ids)),
                                 basket_items)[0],
        basket_items=basket_items,
        line_items=items.astype(np.int32),
        line_times=np.fromiter((p.timestamp for p in rows), np.float64, len(rows)),
        line_users=users.astype(np.int32),
        line_baskets=baskets.astype(np.int32),
    )


def factorize(values: Iterable[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct `values` but None, sorted, a str array; int64 index of each value in it,
    -1 for None): what np.unique(values, return_inverse=True) answers, without sorting every
    value."""
    index: dict[str | None, int] = {}
    codes = np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int64)
    index.pop(None, None)
    distinct = np.array(list(index), dtype=str)
    order = np.argsort(distinct, kind="stable")
    rank = np.full(len(index) + 1, -1, np.int64)  # None's code (if any) stays -1
    rank[np.fromiter(index.values(), np.int64, len(index))[order]] = np.arange(len(order))
    return distinct[order], rank[codes]


def summed_orders(users: np.ndarray, orders: np.ndarray, items: np.ndarray,
                  weights: Sequence[np.ndarray], shape: tuple[int, int],
                  basket_items: sp.csr_matrix | None = None) -> list[sp.csr_matrix]:
    """Per array of `weights` (float32 per line), CSR float32 `shape` (users, items): per user
    and item, the weights of the user's orders holding the item added up, each order's taken
    from its first line holding the item (an order holding an item twice counts once); a sum
    of 0 (weights decayed below float32) is no entry.

    The lines are given as their user (-1: a guest's, left out), order and item indices.
    With `basket_items` (CSR (orders, items), 1 where the order holds the item), the orders
    whose lines share one user and one weight are added up as one sparse product, the others
    line by line.
    """
    if basket_items is None:
        return [_first_lines_summed(users, orders, items, weight, shape) for weight in weights]
    owners, mixed_users = _per_order(users, orders, basket_items.shape[0])
    found = []
    for weight in weights:
        per_order, mixed_weights = _per_order(weight, orders, len(owners))
        mixed = mixed_users | mixed_weights
        alike = np.flatnonzero((owners >= 0) & ~mixed)
        by_user = sp.csr_matrix((per_order[alike], (owners[alike], alike)),
                                shape=(shape[0], len(owners)))
        summed = by_user @ basket_items
        lines = np.flatnonzero(mixed[orders])
        if len(lines):
            summed = summed + _first_lines_summed(users[lines], orders[lines], items[lines],
                                                  weight[lines], shape)
        summed = sp.csr_matrix(summed, dtype=np.float32)
        summed.sort_indices()
        found.append(summed)
    return found


def _per_order(values: np.ndarray, orders: np.ndarray,
               n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """(orders,): the value of each order's lines (its last line's), and bool (orders,):
    whether its lines' values differ."""
    shared = np.zeros(n_orders, values.dtype)
    shared[orders] = values
    mixed = np.zeros(n_orders, bool)
    mixed[orders[shared[orders] != values]] = True
    return shared, mixed


def _first_lines_summed(users: np.ndarray, orders: np.ndarray, items: np.ndarray,
                        weight: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """summed_orders of one array of weights, line by line."""
    first = first_of_each(users, orders, items)
    first = first[users[first] >= 0]
    summed = sp.csr_matrix((weight[first], (users[first], items[first])), shape=shape)
    summed.sum_duplicates()
    summed.eliminate_zeros()  # as a sparse product leaves them
    return summed


def first_of_each(*columns: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct tuple of `columns` (int arrays of one
    length), in the order of the tuples sorted: np.unique(np.stack(columns), axis=1,
    return_index=True)'s, as one lexsort."""
    order = np.lexsort(columns[::-1])
    if not len(order):
        return order
    changed = np.zeros(len(order), bool)
    changed[0] = True
    for column in columns:
        ranked = column[order]
        changed[1:] |= ranked[1:] != ranked[:-1]
    return order[changed]


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
