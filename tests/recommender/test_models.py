"""implicit's ALS and BPR as the taste strategies fit them, their threads, and trending."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.matrix import Purchase, build_interactions
from recommender.models import (
    SINGLE_THREAD_BELOW,
    als_from_factors,
    confidence,
    fit_als,
    fit_bpr,
    threads_for,
    trending_scores,
)
from tests.recommender.test_matrix import DAY, NOW


def test_recent_purchases_trend_above_equally_many_old_ones() -> None:
    purchases = [Purchase(f"old{n}", None, "old", 1, NOW - 60 * DAY) for n in range(3)]
    purchases += [Purchase(f"new{n}", None, "new", 1, NOW) for n in range(3)]
    data = build_interactions(purchases)
    scores = dict(zip(data.item_ids.tolist(), trending_scores(data).tolist(), strict=True))
    assert scores["new"] > scores["old"] > 0


def test_trending_halves_each_purchase_per_half_life_of_age() -> None:
    purchases = [Purchase("o1", None, "a", 1, NOW - 14 * DAY), Purchase("o2", None, "a", 1, NOW),
                 Purchase("o3", None, "b", 1, NOW - 28 * DAY)]
    data = build_interactions(purchases)
    assert trending_scores(data, 14.0).tolist() == pytest.approx([1.5, 0.25])
    # at a later instant every purchase is older; a future one counts as new
    assert trending_scores(data, 14.0, now=NOW + 14 * DAY).tolist() == pytest.approx(
        [0.75, 0.125])
    assert trending_scores(data, 14.0, now=NOW - 14 * DAY).tolist() == pytest.approx([2.0, 0.5])


def test_trending_is_the_same_whatever_order_the_lines_come_in() -> None:
    rng = np.random.default_rng(3)
    purchases = [Purchase(f"o{n % 700}", None, f"p{rng.integers(20)}", 1,
                          NOW - (n % 700) * 0.37 * DAY) for n in range(3000)]
    shuffled = [purchases[i] for i in rng.permutation(len(purchases))]
    expected = trending_scores(build_interactions(purchases))
    assert trending_scores(build_interactions(shuffled)).tobytes() == expected.tobytes()


def test_a_half_life_of_zero_is_plain_popularity() -> None:
    purchases = [Purchase(f"o{n}", None, "a", 1, NOW - n * 100 * DAY) for n in range(3)]
    purchases.append(Purchase("x", "c1", "b", 5, NOW))
    scores = trending_scores(build_interactions(purchases), 0.0)
    assert scores.dtype == np.float64 and scores.tolist() == [3.0, 1.0]  # lines, not units


def test_confidence_is_one_plus_log_of_one_plus_the_count() -> None:
    counts = sp.csr_matrix(np.array([[1, 0], [0, 3]], np.float32))
    weighted = confidence(counts)
    assert weighted.dtype == np.float32 and sp.isspmatrix_csr(weighted)
    np.testing.assert_allclose(weighted.toarray(), [[1 + np.log(2), 0], [0, 1 + np.log(4)]],
                               rtol=1e-6)
    assert counts.toarray().tolist() == [[1, 0], [0, 3]]  # the counts themselves unchanged


def test_small_matrices_fit_on_one_thread_large_ones_on_every_core() -> None:
    small = sp.csr_matrix((np.ones(3, np.float32), ([0, 1, 2], [0, 1, 2])), shape=(3, 3))
    assert threads_for(small) == 1
    n = SINGLE_THREAD_BELOW
    large = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), np.zeros(n, int))),
                          shape=(n, 1))
    assert threads_for(large) == 0


def test_als_refuses_a_float64_matrix() -> None:
    matrix = sp.csr_matrix(np.ones((3, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="float32"):
        fit_als(matrix)


@pytest.mark.parametrize("matrix", [sp.csr_matrix(np.ones((3, 3), dtype=np.float64)),
                                    sp.csc_matrix(np.ones((3, 3), dtype=np.float32))],
                         ids=["float64", "csc"])
def test_bpr_refuses_anything_but_a_float32_csr_matrix(matrix) -> None:
    with pytest.raises(ValueError, match="CSR matrix of dtype float32"):
        fit_bpr(matrix)


def counts() -> sp.csr_matrix:
    """12 customers of two groups buying products 0-2 or 3-5."""
    rows = [(u, i) for u in range(12) for i in range(3 * (u % 2), 3 * (u % 2) + 3)]
    users, items = zip(*rows, strict=True)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (users, items)), shape=(12, 6))


def test_als_fits_one_vector_per_customer_and_product() -> None:
    model = fit_als(counts(), factors=3, iterations=5)
    assert np.asarray(model.user_factors).shape == (12, 3)
    assert np.asarray(model.item_factors).shape == (6, 3)


def test_bpr_adds_an_item_bias_column() -> None:
    model = fit_bpr(counts(), factors=3, iterations=5)
    assert np.asarray(model.item_factors).shape == (6, 4)
    assert np.all(np.asarray(model.user_factors)[:, -1] == 1.0)


def test_als_rebuilt_from_its_factors_solves_a_customer_as_the_fitted_one() -> None:
    fitted = fit_als(counts(), factors=3, iterations=5, regularization=0.1, alpha=2.0)
    rebuilt = als_from_factors(np.asarray(fitted.user_factors), np.asarray(fitted.item_factors),
                               regularization=0.1, alpha=2.0)
    row = confidence(counts()[4:5])
    np.testing.assert_allclose(rebuilt.recalculate_user(0, row),
                               fitted.recalculate_user(0, row), rtol=1e-5, atol=1e-6)
    assert rebuilt.user_factors.dtype == rebuilt.item_factors.dtype == np.float32
