"""The validation the per-shop choice scores on (recommender.validation): next-basket cases,
exact and gathered scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.evaluation import Cases
from recommender.matrix import Purchase
from recommender.validation import (
    Gathered,
    Task,
    next_basket_cases,
    relevance,
    sample,
    score_exactly,
    sparse_rows,
    top_k,
)

DAY = 86400.0


def bought(order: str, customer: str | None, product: str, day: float) -> Purchase:
    return Purchase(order, customer, product, 1, day * DAY)


def test_nurture_and_discovery_ask_for_each_returning_customers_next_basket() -> None:
    train = [bought("1", "a", "x", 0), bought("2", "b", "x", 1)]
    held_out = [bought("5", "a", "y", 12), bought("5", "a", "x", 12),  # a's next basket
                bought("4", "a", "z", 15),  # a's later basket: not asked
                bought("6", "b", "x", 11), bought("7", "b", "w", 11),  # same time: "6" first
                bought("8", "new", "x", 10), bought("8", "new", "y", 10)]  # no history
    cases = next_basket_cases(train, held_out)
    assert cases.nurture == [("a", frozenset({"x", "y"})), ("b", frozenset({"x"}))]
    assert cases.discovery == [("a", frozenset({"y"}))]
    # every held-out basket of two or more products is a cart, the newcomer's too
    assert [{*cart, hidden} for cart, hidden in cases.upsell] == [{"x", "y"}, {"x", "y"}]
    assert all(len(cart) == 1 for cart, _ in cases.upsell)


def test_sample_keeps_at_most_the_limit_in_order() -> None:
    cases = Cases([(f"c{n}", frozenset({"x"})) for n in range(10)], [], [])
    picked = sample(cases, 4, seed=0)
    assert len(picked.nurture) == 4 and picked.nurture == sorted(picked.nurture)
    assert sample(cases, 10, seed=0) == cases


def test_top_k_breaks_ties_by_column() -> None:
    scores = np.array([[0.5, 1.0, 0.5, 0.5, 1.0]])
    assert top_k(scores, 4).tolist() == [[1, 4, 0, 2]]


def nurture_task() -> Task:
    index = {p: i for i, p in enumerate("abcd")}
    known, ideal = relevance([("c1", frozenset({"a"})), ("c2", frozenset({"b", "c"}))], index, 4)
    return Task("nurture", known, ideal, None)


def test_score_exactly_is_ndcg_over_the_full_ranking() -> None:
    task = nurture_task()
    scores = np.array([[1.0, 0.0, 0.0, 2.0],   # a at rank 2
                       [0.0, 3.0, 2.0, 1.0]])  # b, c at ranks 1, 2: ideal
    assert score_exactly(task, scores) == pytest.approx((1 / math.log2(3) + 1.0) / 2)


def test_a_mask_keeps_items_out_and_a_hit_rate_counts_any_hit() -> None:
    known = np.array([[False, True, False], [False, False, True]])
    mask = sparse_rows([[1], []], 3).toarray() > 0  # case 1's hidden item is in its cart
    task = Task("upsell", known, None, mask)
    assert score_exactly(task, np.array([[0.0, 9.0, 1.0], [0.0, 0.0, 1.0]])) == 0.5


def test_gathered_blends_score_like_the_full_matrix() -> None:
    rng = np.random.default_rng(0)
    known = rng.random((50, 200)) < 0.05
    known[:, 0] = True
    ideal = np.array([1.0 / np.log2(np.arange(min(n, 10)) + 2).sum() ** -1
                      for n in known.sum(axis=1)])
    task = Task("nurture", known, ideal, None)
    parts = [rng.random((50, 200)), rng.random((50, 200))]
    trend = np.zeros(200)
    gathered = Gathered(task, parts, np.arange(5))
    for weights in [(1.0, 0.0, 0.0), (0.3, 1.0, 0.0), (1.0, 1.0, 0.0)]:
        full = weights[0] * parts[0] + weights[1] * parts[1]
        assert gathered.score(weights, gathered.trending(trend)) == pytest.approx(
            score_exactly(task, full))
