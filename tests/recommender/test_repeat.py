"""The learned chance of a repeat (recommender.repeat): its features, its fit on the shop's
own history split in time, and its scores aligned with the purchase counts."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.matrix import Purchase, build_interactions
from recommender.repeat import FEATURES, FLOOR, RepeatModel, logistic_weights, pair_features
from tests.recommender.repeat_shop import repeat_heavy_shop

DAY = 86400.0


def test_pair_features_of_one_customer() -> None:
    """a bought on days 0 and 10 (twice in one order on day 10: counted once), b on day 10;
    taken on day 20."""
    rows = [Purchase("o1", "c", "a", 1, 0.0), Purchase("o2", "c", "a", 1, 10 * DAY),
            Purchase("o2", "c", "a", 2, 10 * DAY), Purchase("o2", "c", "b", 1, 10 * DAY),
            Purchase("g", None, "a", 1, 5 * DAY)]
    data = build_interactions(rows)
    pairs, features = pair_features(data, data.line_users >= 0, 20 * DAY)
    assert pairs.tolist() == [0, 1]
    assert features.shape == (2, len(FEATURES))
    named = {name: features[:, k] for k, name in enumerate(FEATURES)}
    np.testing.assert_allclose(named["log orders"], np.log1p([2.0, 1.0]))
    np.testing.assert_allclose(named["share of the customer's baskets"], [1.0, 0.5])
    np.testing.assert_allclose(named["log days since"], np.log1p([10.0, 10.0]))
    np.testing.assert_allclose(named["log usual gap"], np.log1p([10.0, 20.0]))
    np.testing.assert_allclose(named["bought once"], [0.0, 1.0])
    np.testing.assert_allclose(named["log customer's baskets"], np.log1p([2.0, 2.0]))


def test_logistic_weights_find_the_direction_of_the_labels() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    labels = (rng.random(4000) < 1.0 / (1.0 + np.exp(-(2.0 * x[:, 0] - 1.0)))).astype(float)
    weights = logistic_weights(x, labels)
    assert weights[0] == pytest.approx(2.0, abs=0.3)
    assert abs(weights[1]) < 0.2
    assert weights[2] == pytest.approx(-1.0, abs=0.3)


@pytest.fixture(scope="module")
def shop() -> list[Purchase]:
    return repeat_heavy_shop()


def test_scores_are_aligned_with_the_purchase_counts(shop) -> None:
    data = build_interactions(shop)
    model = RepeatModel.fit(data)
    assert model is not None
    scores = model.scores(data)
    np.testing.assert_array_equal(scores.indptr, data.user_items.indptr)
    np.testing.assert_array_equal(scores.indices, data.user_items.indices)
    assert scores.dtype == np.float32
    assert ((scores.data >= FLOOR) & (scores.data <= 1.0)).all()
    again = RepeatModel.fit(data)  # deterministic
    assert again is not None
    np.testing.assert_array_equal(again.scores(data).data, scores.data)


def test_the_new_staples_come_before_the_old_ones(shop) -> None:
    """The old staples were bought in more orders than the new ones, but long ago: the
    model learns from the shop's own repeats that the new ones come back."""
    data = build_interactions(shop)
    model = RepeatModel.fit(data)
    assert model is not None
    chance = model.scores(data).toarray()
    last_day = np.zeros(data.user_items.shape)
    known = data.line_users >= 0
    np.maximum.at(last_day, (data.line_users[known], data.line_items[known]),
                  data.line_times[known])
    recent = last_day >= data.line_times.max() - 30 * DAY  # bought in the last 4 orders
    counts = data.user_items.toarray()
    wins = []
    for user in range(data.n_users):
        new = recent[user] & (counts[user] >= 2)
        old = ~recent[user] & (counts[user] > 0)
        if new.any() and old.any():
            wins.append(chance[user, new].mean() > chance[user, old].mean())
    assert np.mean(wins) > 0.95


@pytest.mark.parametrize("why", ["short", "no repeats", "guests"])
def test_no_model_without_history_to_learn_from(why) -> None:
    if why == "short":
        rows = [Purchase(f"o{n}", "c", "a", 1, n * DAY) for n in range(10)]
    elif why == "no repeats":
        rows = [Purchase(f"o{n}", f"c{n}", f"p{n}", 1, n * DAY) for n in range(100)]
    else:
        rows = [Purchase(f"o{n}", None, "a", 1, n * DAY) for n in range(100)]
    assert RepeatModel.fit(build_interactions(rows)) is None
