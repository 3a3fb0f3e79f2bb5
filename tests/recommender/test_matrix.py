"""Purchase rows to matrices: the id maps and the per-customer sums of orders, the sparse
product against the line-by-line definition."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.matrix import Purchase, build_interactions, factorize, summed_orders

NOW = 1_750_000_000.0
DAY = 86_400.0


def test_factorize_answers_as_np_unique_with_none_as_minus_one() -> None:
    values = ["b", "a", None, "c", "a", "", "b", None]
    ids, codes = factorize(values)
    expected_ids, expected_codes = np.unique(np.array([v for v in values if v is not None]),
                                             return_inverse=True)
    np.testing.assert_array_equal(ids, expected_ids)
    assert ids.dtype == expected_ids.dtype
    np.testing.assert_array_equal(codes[[v is not None for v in values]], expected_codes)
    assert codes[[v is None for v in values]].tolist() == [-1, -1]


def awkward_purchases() -> list[Purchase]:
    """Orders a sparse product alone would get wrong: lines of one order at different times,
    an order holding lines of two customers, an item twice in an order, guests."""
    rng = np.random.default_rng(3)
    purchases = []
    for n in range(200):
        customer = f"c{rng.integers(30)}" if n % 7 else None
        when = NOW - float(rng.integers(400)) * DAY
        for product in rng.choice(25, size=int(rng.integers(1, 6)), replace=False):
            purchases.append(Purchase(f"o{n}", customer, f"p{product}", 1, when))
    purchases.append(Purchase("o1", "c1", "p3", 2, NOW - 1000.0))  # again, later
    purchases.append(Purchase("o2", "c29", "p24", 1, NOW - 5 * DAY))  # another customer
    purchases.append(Purchase("o3", "c2", "p7", 1, NOW - 9 * DAY))  # p7 at another time
    return purchases


@pytest.mark.parametrize("same_weight", [True, False])
def test_summed_orders_by_sparse_product_equal_line_by_line(same_weight: bool) -> None:
    data = build_interactions(awkward_purchases())
    weights = (np.ones(len(data.line_items), np.float32) if same_weight else
               np.exp2(-(NOW - data.line_times) / (30 * DAY)).astype(np.float32))
    lines = (data.line_users, data.line_baskets, data.line_items, [weights],
             data.user_items.shape)
    fast, = summed_orders(*lines, data.basket_items)
    plain, = summed_orders(*lines)
    assert fast.has_sorted_indices and fast.dtype == np.float32
    np.testing.assert_array_equal(fast.indptr, plain.indptr)
    np.testing.assert_array_equal(fast.indices, plain.indices)
    np.testing.assert_allclose(fast.data, plain.data, rtol=1e-6)


def test_an_order_of_two_customers_counts_for_each_their_own_lines() -> None:
    data = build_interactions([
        Purchase("o1", "c1", "a", 1, NOW), Purchase("o1", "c2", "b", 1, NOW),
        Purchase("o2", "c1", "a", 1, NOW),
    ])
    assert data.user_items.toarray().tolist() == [[2.0, 0.0], [0.0, 1.0]]
