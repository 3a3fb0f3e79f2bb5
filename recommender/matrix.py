"""Purchase rows to the sparse matrices every model reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
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
    item_times / item_weights: per purchase line, for time-decayed popularity.
    """

    user_ids: np.ndarray  # str (users,)
    item_ids: np.ndarray  # str (items,)
    user_items: sp.csr_matrix
    basket_items: sp.csr_matrix
    line_items: np.ndarray  # int32 item index per purchase line
    line_times: np.ndarray  # float64 epoch seconds per purchase line

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
    product_col = np.array([p.product_id for p in rows], dtype=str)
    item_ids, items = np.unique(product_col, return_inverse=True)
    _, baskets = np.unique(np.array([p.order_id for p in rows], dtype=str), return_inverse=True)
    basket_items = _binary_csr(baskets, items, (int(baskets.max()) + 1, len(item_ids)))

    known = np.array([p.customer_id is not None for p in rows])
    customer_col = np.array([p.customer_id or "" for p in rows], dtype=str)[known]
    user_ids, users = np.unique(customer_col, return_inverse=True)
    # count each (customer, order, item) once: an order holding an item twice is one purchase
    user_baskets = np.unique(np.stack([users, baskets[known], items[known]]), axis=1)
    user_items = sp.csr_matrix(
        (np.ones(user_baskets.shape[1], dtype=np.float32), (user_baskets[0], user_baskets[2])),
        shape=(len(user_ids), len(item_ids)),
    )
    user_items.sum_duplicates()
    return Interactions(
        user_ids=user_ids,
        item_ids=item_ids,
        user_items=user_items,
        basket_items=basket_items,
        line_items=items.astype(np.int32),
        line_times=np.array([p.timestamp for p in rows], dtype=np.float64),
    )


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
