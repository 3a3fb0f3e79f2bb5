"""Customers' decayed purchases: from the purchases, or from the matrices built of them."""

from __future__ import annotations

import numpy as np

from recommender.history import decayed_purchases, recent_purchases
from recommender.matrix import build_interactions
from tests.recommender.test_matrix import awkward_purchases


def test_decayed_purchases_equal_recent_purchases_for_each_half_life() -> None:
    purchases = awkward_purchases()
    data = build_interactions(purchases)
    half_lives = (180.0, 30.0, 2.0)
    for decayed, half_life in zip(decayed_purchases(data, half_lives), half_lives, strict=True):
        recent = recent_purchases(purchases, data, half_life)
        assert decayed.shape == recent.shape == data.user_items.shape
        np.testing.assert_array_equal(decayed.indices, recent.indices)
        np.testing.assert_allclose(decayed.data, recent.data, rtol=1e-6)
