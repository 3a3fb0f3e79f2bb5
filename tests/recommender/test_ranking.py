"""The score arithmetic every query ranks with: scaling to a top of 1, the best positive scores,
trending fillers' scores below everything found."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.ranking import (
    SORT_ALL,
    TRENDING,
    Fillers,
    Recommendation,
    best,
    best_rows,
    filler_score,
    share,
    share_rows,
)


def test_share_clips_negatives_and_scales_the_top_to_one() -> None:
    assert share(np.array([2.0, -1.0, 0.5, 4.0])).tolist() == [0.5, 0.0, 0.125, 1.0]


@pytest.mark.parametrize("scores", [[0.0, -3.0], []], ids=["none-positive", "empty"])
def test_share_of_no_positive_score_is_all_zero(scores) -> None:
    shared = share(np.array(scores))
    assert shared.dtype == np.float64 and shared.tolist() == [0.0] * len(scores)


def test_share_rows_scales_each_row_as_share_does() -> None:
    scores = np.array([[2.0, -1.0, 4.0], [0.0, 0.0, -2.0], [3.0, 3.0, 1.5]])
    np.testing.assert_array_equal(share_rows(scores), np.stack([share(row) for row in scores]))
    for row in scores:  # one row alone (one customer) takes share's own path
        np.testing.assert_array_equal(share_rows(row[None]), share(row)[None])
    assert share_rows(np.zeros((2, 0))).shape == (2, 0)


def test_best_is_the_n_best_positive_scores_ties_by_index() -> None:
    scores = np.array([0.5, 2.0, 0.5, -1.0, 2.0, 0.0, 1.0])
    assert best(scores, 4) == [1, 4, 6, 0]
    assert best(scores, 100) == [1, 4, 6, 0, 2]  # 0 and below are never "best"
    assert best(scores, 0) == [] and best(np.zeros(0), 3) == []


@pytest.mark.parametrize("items", [0, 6, 40, SORT_ALL + 7])
@pytest.mark.parametrize("n", [0, 3, 10, 2000])
def test_best_rows_is_best_of_each_row(items, n) -> None:
    """Ties, negatives, all-zero rows; one sort for small catalogs, best per row for large."""
    rng = np.random.default_rng(items + n)
    scores = rng.integers(-2, 4, size=(5, items)).astype(np.float64) / 3.0
    scores[1] = 0.0
    assert best_rows(scores, n) == [best(row, n) for row in scores]


def test_without_anything_found_a_filler_scores_its_trending_share() -> None:
    assert filler_score(None, 0.75) == 0.75


@pytest.mark.parametrize("floor", [0.8, 1e-9, 0.0, -2.0])
def test_fillers_score_below_the_lowest_found_keeping_the_trending_order(floor) -> None:
    top, middle, last = (filler_score(floor, s) for s in (1.0, 0.5, 0.0))
    assert floor > top > middle > last


def test_fillers_top_up_in_trending_order_below_what_was_found() -> None:
    fillers = Fillers(np.array(["a", "b", "c", "d"]), np.array([1.0, 4.0, 4.0, 2.0]))
    assert fillers.items == [("b", 1.0), ("c", 1.0), ("d", 0.5), ("a", 0.25)]
    found = [Recommendation("a", 0.8, "personal"), Recommendation("x", 0.9, "personal")]
    filled = fillers.fill(found, 3, {"x", "b"})
    assert [r.product_id for r in filled] == ["a", "c", "d"]
    assert filled[1].reason == TRENDING and 0.8 > filled[1].score > filled[2].score
    assert fillers.fill([], 2, set()) == [Recommendation("b", 1.0, TRENDING),
                                          Recommendation("c", 1.0, TRENDING)]
