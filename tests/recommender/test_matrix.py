"""Purchase rows to matrices: the id maps and the per-customer sums of orders, the sparse
product against the line-by-line definition."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.matrix import (
    Purchase,
    PurchaseLines,
    build_interactions,
    factorize,
    first_of_each,
    summed_orders,
)
from tests.recommender.test_shop_model import synthetic_purchases

NOW = 1_750_000_000.0
DAY = 86_400.0


@pytest.fixture(scope="module")
def purchases() -> list[Purchase]:
    """300 customers in two taste groups, 3 orders each, and 60 guest orders."""
    return synthetic_purchases()


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


def test_interactions_are_csr_float32_with_users_and_baskets(purchases) -> None:
    data = build_interactions(purchases)
    assert sp.isspmatrix_csr(data.user_items) and data.user_items.dtype == np.float32
    assert sp.isspmatrix_csr(data.basket_items) and data.basket_items.dtype == np.float32
    assert data.user_items.shape == (300, 40)
    assert data.basket_items.shape == (300 * 3 + 60, 40)
    assert "" not in data.user_ids.tolist()
    assert len(data.line_items) == len(data.line_times) == len(purchases)


def test_guests_are_baskets_but_not_users() -> None:
    data = build_interactions([
        Purchase("o1", "c1", "a", 1, NOW), Purchase("o1", "c1", "b", 1, NOW),
        Purchase("o2", None, "a", 1, NOW), Purchase("o2", None, "c", 1, NOW),
    ])
    assert data.user_ids.tolist() == ["c1"]
    assert data.basket_items.shape == (2, 3)
    assert data.user_items.toarray().tolist() == [[1.0, 1.0, 0.0]]


def test_item_listed_twice_in_one_order_counts_once() -> None:
    data = build_interactions([
        Purchase("o1", "c1", "a", 2, NOW), Purchase("o1", "c1", "a", 1, NOW),
        Purchase("o2", "c1", "a", 1, NOW),
    ])
    assert data.user_items.toarray().tolist() == [[2.0]]  # two orders, not three lines
    assert data.basket_items.toarray().tolist() == [[1.0], [1.0]]


def test_no_purchases_is_a_value_error_saying_what_was_expected() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        build_interactions([])


def test_purchase_lines_give_back_the_purchases_and_the_same_matrices() -> None:
    rows = awkward_purchases()
    lines = PurchaseLines.of(rows)
    assert len(lines) == len(rows) and lines.purchases() == rows
    assert lines.customers.min() == -1  # guests
    from_lines, from_rows = build_interactions(lines), build_interactions(rows)
    np.testing.assert_array_equal(from_lines.item_ids, from_rows.item_ids)
    np.testing.assert_array_equal(from_lines.user_ids, from_rows.user_ids)
    assert (from_lines.user_items != from_rows.user_items).nnz == 0
    assert (from_lines.basket_items != from_rows.basket_items).nnz == 0


def test_lines_without_a_positive_quantity_are_left_out() -> None:
    data = build_interactions([
        Purchase("o1", "c1", "a", 1, NOW), Purchase("o1", "c1", "b", 0, NOW),
        Purchase("o2", "c2", "c", -1, NOW), Purchase("o3", "c1", "a", 2, NOW + DAY),
    ])
    assert data.item_ids.tolist() == ["a"] and data.user_ids.tolist() == ["c1"]
    assert data.basket_items.shape == (2, 1)
    assert data.line_times.tolist() == [NOW, NOW + DAY]


def test_ids_are_sorted_and_lines_point_into_them() -> None:
    rows = [Purchase("o9", "zed", "p2", 1, NOW), Purchase("o1", None, "p1", 1, NOW - DAY),
            Purchase("o1", None, "p3", 1, NOW - DAY), Purchase("o5", "amy", "p1", 1, NOW)]
    data = build_interactions(rows)
    assert data.item_ids.tolist() == ["p1", "p2", "p3"]
    assert data.user_ids.tolist() == ["amy", "zed"]
    assert data.line_items.tolist() == [1, 0, 2, 0]
    assert data.line_users.tolist() == [1, -1, -1, 0]
    assert data.line_baskets.tolist() == [2, 0, 0, 1]  # o1, o5, o9


def test_first_of_each_answers_as_np_unique() -> None:
    rng = np.random.default_rng(5)
    columns = [rng.integers(0, 4, 300), rng.integers(0, 3, 300), rng.integers(0, 5, 300)]
    _, expected = np.unique(np.stack(columns), axis=1, return_index=True)
    np.testing.assert_array_equal(first_of_each(*columns), expected)
    assert first_of_each(np.zeros(0, np.int64)).tolist() == []


def test_an_order_weight_decayed_to_zero_is_no_entry() -> None:
    data = build_interactions([Purchase("o1", "c1", "a", 1, NOW),
                               Purchase("o2", "c1", "b", 1, NOW)])
    weight = np.array([1.0, 0.0], np.float32)
    lines = (data.line_users, data.line_baskets, data.line_items, [weight],
             data.user_items.shape)
    for summed in (summed_orders(*lines)[0], summed_orders(*lines, data.basket_items)[0]):
        assert sp.isspmatrix_csr(summed) and summed.nnz == 1
        assert summed.toarray().tolist() == [[1.0, 0.0]]
