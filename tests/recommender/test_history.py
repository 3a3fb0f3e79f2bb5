"""Customers' decayed purchases: from the purchases, or from the matrices built of them; each
product's rebuy rate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.history import (
    BUY_AGAIN_HALF_LIFE_DAYS,
    decayed_counts,
    decayed_purchases,
    rebuy_rates,
    recent_purchases,
)
from recommender.matrix import Purchase, build_interactions
from recommender.rows import Row
from tests.recommender.test_matrix import DAY, NOW, awkward_purchases


def test_decayed_purchases_equal_recent_purchases_for_each_half_life() -> None:
    purchases = awkward_purchases()
    data = build_interactions(purchases)
    half_lives = (180.0, 30.0, 2.0)
    for decayed, half_life in zip(decayed_purchases(data, half_lives), half_lives, strict=True):
        recent = recent_purchases(purchases, data, half_life)
        assert decayed.shape == recent.shape == data.user_items.shape
        np.testing.assert_array_equal(decayed.indices, recent.indices)
        np.testing.assert_allclose(decayed.data, recent.data, rtol=1e-6)


def test_recent_purchases_weigh_each_order_by_its_age() -> None:
    rows = [Purchase("o1", "c1", "a", 1, NOW), Purchase("o1", "c1", "a", 2, NOW),
            Purchase("o2", "c1", "a", 1, NOW - BUY_AGAIN_HALF_LIFE_DAYS * DAY),
            Purchase("o3", None, "b", 1, NOW)]
    recent = recent_purchases(rows, build_interactions(rows))
    assert recent.toarray().tolist() == [[1.5, 0.0]]  # one order now, one half a weight


def test_decay_is_measured_from_the_newest_purchase_of_the_shop() -> None:
    rows = [Purchase("o1", "c1", "a", 1, NOW - 20 * DAY), Purchase("o2", "c2", "a", 1, NOW)]
    (recent,) = decayed_purchases(build_interactions(rows), (10.0,))
    assert recent.toarray().tolist() == [[0.25], [1.0]]  # c1's order is two half-lives old


def test_rebuy_rate_is_the_smoothed_share_of_buyers_who_bought_again() -> None:
    # customers x products: orders holding the product
    counts = sp.csr_matrix(np.array([[3, 1, 0], [2, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32))
    # coffee: 2 of 3 buyers again -> (2 + 1) / (3 + 2); kettle: 0 of 2; nothing: 0 of 0
    assert rebuy_rates(counts).tolist() == pytest.approx([3 / 5, 1 / 4, 1 / 2])


@pytest.mark.parametrize("aligned", [True, False])
def test_decayed_counts_keep_trained_orders_decayed_and_count_new_ones_as_new(aligned) -> None:
    """Trained: product 1 in 2 orders (decayed to 1.5), product 3 in 4 (decayed to 1.0). Now:
    product 1 in 3 orders (one new: 1.5 + 1), product 3 in 2 (two refunded: half of 1.0),
    product 4 in one order the model never saw (1). The same on the row's few columns
    (aligned rows) as on dense rows."""
    trained = Row(np.array([1, 3], np.int32), np.array([2.0, 4.0], np.float32), 6)
    recent = Row(np.array([1, 3], np.int32), np.array([1.5, 1.0], np.float32), 6)
    wanted = np.array([0.0, 3.0, 0.0, 2.0, 1.0, 0.0])
    assert decayed_counts(wanted, trained, recent, aligned).tolist() == \
        [0.0, 2.5, 0.0, 0.5, 1.0, 0.0]
