"""Customers' own purchases over time: each order decayed by its age (buy-again, the latest
purchases), and each product's rebuy rate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.matrix import Interactions, Purchase, factorize, summed_orders
from recommender.rows import Row

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
    by exp-decay of its age at the newest purchase. `purchases`: those `data` was built from,
    or some of them (decayed_purchases does the same from `data` alone)."""
    rows = [p for p in purchases if p.quantity > 0 and p.customer_id is not None]
    user_index = {user: u for u, user in enumerate(data.user_ids.tolist())}
    item_index = {item: i for i, item in enumerate(data.item_ids.tolist())}
    times = np.fromiter((p.timestamp for p in rows), np.float64, len(rows))
    return summed_orders(
        np.array([user_index[p.customer_id] for p in rows], np.int64),
        factorize([p.order_id for p in rows])[1],
        np.array([item_index[p.product_id] for p in rows], np.int64),
        _decay(times, data, (half_life_days,)), data.user_items.shape)[0]


def decayed_purchases(data: Interactions,
                      half_lives_days: Sequence[float]) -> list[sp.csr_matrix]:
    """recent_purchases of the purchases `data` was built from, once per half-life."""
    return summed_orders(data.line_users, data.line_baskets, data.line_items,
                         _decay(data.line_times, data, half_lives_days),
                         data.user_items.shape, data.basket_items)


def _decay(times: np.ndarray, data: Interactions,
           half_lives_days: Sequence[float]) -> list[np.ndarray]:
    """Per half-life, float32 per time: exp-decay of its age at data's newest purchase."""
    age_days = np.maximum(float(data.line_times.max()) - times, 0.0) / 86400.0
    return [np.exp2(-age_days / half_life).astype(np.float32) for half_life in half_lives_days]


def decayed_counts(wanted: np.ndarray, trained: Row, recent: Row, aligned: bool) -> np.ndarray:
    """A customer's time-decayed orders (items,) holding each product, for purchase counts
    `wanted` float64 (items,) as of now, from their row of the trained counts and of a decayed
    matrix (recent_purchases): an order the trained model has not seen (counts beyond the
    trained ones) counts as new; fewer orders than trained on (refunds, deletions) scale the
    trained decayed count down. `aligned`: both rows store the same columns in the same order
    (same_structure), so the arithmetic runs on the row's few columns (elsewhere the count as
    it is); else on the dense rows. `wanted` may be changed in place."""
    if not aligned:
        trained_counts, recent_counts = trained.dense(), recent.dense()
        kept = np.divide(np.minimum(wanted, trained_counts), trained_counts,
                         out=np.zeros_like(trained_counts), where=trained_counts > 0)
        return np.asarray(recent_counts * kept + np.maximum(wanted - trained_counts, 0.0))
    columns, counted = trained.indices, trained.data.astype(np.float64)
    asked = wanted[columns]
    kept = np.divide(np.minimum(asked, counted), counted, out=np.zeros_like(counted),
                     where=counted > 0)
    wanted[columns] = recent.data * kept + np.maximum(asked - counted, 0.0)
    return wanted


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
