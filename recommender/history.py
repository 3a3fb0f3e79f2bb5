"""Customers' own purchases over time: each order decayed by its age (buy-again, the latest
purchases), and each product's rebuy rate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions, Purchase

# Each order in a customer's own history is decayed with a half-life of
# BUY_AGAIN_HALF_LIFE_DAYS for buy-again and LATEST_HALF_LIFE_DAYS for discovery (what they buy
# now says more about what they want next).
BUY_AGAIN_HALF_LIFE_DAYS = 180.0
LATEST_HALF_LIFE_DAYS = 30.0


def recent_purchases(
    purchases: Sequence[Purchase], data: Interactions,
    half_life_days: float = BUY_AGAIN_HALF_LIFE_DAYS,
) -> sp.csr_matrix:
    """CSR float32 (users, items) like data.user_items, each order holding the item weighted
    by exp-decay of its age at the newest purchase."""
    rows = [p for p in purchases if p.quantity > 0 and p.customer_id is not None]
    if not rows:
        return sp.csr_matrix(data.user_items.shape, dtype=np.float32)
    users = np.searchsorted(data.user_ids, np.array([p.customer_id for p in rows], dtype=str))
    items = np.searchsorted(data.item_ids, np.array([p.product_id for p in rows], dtype=str))
    _, orders = np.unique(np.array([p.order_id for p in rows], dtype=str), return_inverse=True)
    _, first = np.unique(np.stack([users, orders, items]), axis=1, return_index=True)
    times = np.array([p.timestamp for p in rows], dtype=np.float64)[first]
    age_days = np.maximum(float(data.line_times.max()) - times, 0.0) / 86400.0
    recent = sp.csr_matrix(
        (np.exp2(-age_days / half_life_days).astype(np.float32), (users[first], items[first])),
        shape=data.user_items.shape,
    )
    recent.sum_duplicates()
    return recent


def rebuy_rates(user_items: sp.csr_matrix) -> np.ndarray:
    """float64 (items,): per product, (customers who bought it in 2+ orders + 1) / (customers
    who bought it + 2): how likely a buyer is to buy it again (Laplace-smoothed)."""
    counts = user_items.tocsc()
    buyers: np.ndarray = np.diff(counts.indptr).astype(np.float64)
    return (_columns_at_least(counts, 2.0) + 1.0) / (buyers + 2.0)


def _columns_at_least(matrix: sp.csc_matrix, value: float) -> np.ndarray:
    """Per column, how many stored entries are at least `value`."""
    rows_at_least = (matrix.data >= value).astype(np.float64)
    column_of_entry = np.repeat(np.arange(matrix.shape[1]), np.diff(matrix.indptr))
    return np.bincount(column_of_entry, weights=rows_at_least, minlength=matrix.shape[1])
