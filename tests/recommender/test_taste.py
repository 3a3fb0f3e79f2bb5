"""Personal taste (recommender.taste): how many factors a shop gets, ALS and BPR behind one
interface, folding a new customer in, item vectors for "similar", storage. (What every taste
strategy must do on a shop of known answers: tests/recommender/test_strategies.py.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import taste as taste_module
from recommender.config import Config
from recommender.matrix import Interactions, build_interactions
from recommender.models import als_from_factors, confidence
from recommender.rows import row_of
from recommender.shop_model import ShopModel
from recommender.taste import TASTES, BprTaste, default_factors
from tests.recommender.test_tuning import bundle_shop
from tests.recommender.two_groups import two_groups


@pytest.fixture(scope="module")
def data() -> Interactions:
    return build_interactions(two_groups())


@pytest.mark.parametrize(("users", "items", "factors"), [
    (1000, 100, 10), (50, 5000, 8), (0, 400, 8), (10**6, 10**5, 64), (3, 3, 8)])
def test_default_factors_grow_with_the_square_root_of_the_shop(users, items, factors) -> None:
    assert default_factors(users, items) == factors


@pytest.mark.parametrize("name", sorted(TASTES))
def test_factors_never_exceed_what_the_shop_can_fit(name) -> None:
    counts = sp.csr_matrix(np.eye(5, 7, dtype=np.float32))  # 5 customers, 7 products
    taste = Config(cf=name, factors=50, iterations=3).taste().fit(counts)
    assert taste.user_factors.shape == (5, 4 + taste.bias_columns)  # customers - 1
    assert taste.item_factors.shape == (7, 4 + taste.bias_columns)


def test_a_factor_count_of_zero_is_the_default_for_the_shop(data) -> None:
    taste = Config(factors=0, iterations=2).taste().fit(data.user_items)
    assert taste.item_factors.shape[1] == min(default_factors(data.n_users, data.n_items),
                                              data.n_items - 1)


def test_als_folds_a_known_customer_in_close_to_their_trained_vector(data) -> None:
    taste = Config(factors=2).taste().fit(data.user_items)
    for user in (0, 14, 21):
        folded = taste.fold_in(data.user_items[user])
        trained = taste.user_factors[user]
        assert np.linalg.norm(folded - trained) < 0.05 * np.linalg.norm(trained)


@pytest.mark.parametrize("solve", ["implicit's solve", "recalculate_user"])
@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_als_fold_in_is_implicits_recalculate_user_bit_for_bit(data, alpha, solve,
                                                               monkeypatch) -> None:
    """The row carries alpha itself (no scipy copy in implicit): the same float32 solve,
    whether fold_in calls implicit's solve or (without it) recalculate_user."""
    assert taste_module._least_squares is not None  # the installed implicit has it
    if solve == "recalculate_user":
        monkeypatch.setattr(taste_module, "_least_squares", None)
    taste = Config(factors=3, alpha=alpha).taste().fit(data.user_items)
    reference = als_from_factors(taste.user_factors, taste.item_factors,
                                 taste.settings.regularization, alpha)
    for user in (0, 14, 21):
        csr = data.user_items[user]
        expected = np.ravel(reference.recalculate_user(0, confidence(csr)))
        assert np.array_equal(taste.fold_in(csr), expected)
        assert np.array_equal(taste.fold_in(row_of(data.user_items, user)), expected)


@pytest.mark.parametrize("solve", ["implicit's solve", "recalculate_user"])
@pytest.mark.parametrize("name", sorted(TASTES))
def test_folding_many_in_at_once_gives_each_ones_own_vector(data, name, solve,
                                                            monkeypatch) -> None:
    """One solve for a burst of customers (ALS hands them all to implicit's solve at once):
    every vector the same bits as folding that customer in alone, rows of every length."""
    if solve == "recalculate_user":
        monkeypatch.setattr(taste_module, "_least_squares", None)
    taste = Config(cf=name, factors=3, alpha=2.5).taste().fit(data.user_items)
    rows = [row_of(data.user_items, user) for user in (0, 14, 21, 5, 14)]
    rows.append(sp.csr_matrix((np.array([7.0], np.float32), [2], [0, 1]),
                              shape=(1, data.n_items)))  # one product, bought 7 times
    together = taste.fold_in_many(rows)
    assert together.dtype == np.float32 and together.shape == (6, taste.item_factors.shape[1])
    for row, vector in zip(rows, together, strict=True):
        assert np.array_equal(vector, taste.fold_in(row))
    assert taste.fold_in_many([]).shape == (0, taste.item_factors.shape[1])


def test_bpr_fold_in_scores_the_bought_items_one_without_regularization() -> None:
    rng = np.random.default_rng(0)
    taste = BprTaste(replace(Config(cf="bpr"), regularization=1e-9)).load({
        "user_factors": np.zeros((0, 5), np.float32),
        "item_factors": rng.normal(size=(9, 5)).astype(np.float32)})
    bought = sp.csr_matrix((np.ones(3, np.float32), [1, 4, 6], [0, 3]), shape=(1, 9))
    vector = taste.fold_in(bought)
    assert vector.shape == (5,) and vector.dtype == np.float32 and vector[-1] == 1.0
    np.testing.assert_allclose(taste.score(vector)[[1, 4, 6]], 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(TASTES))
def test_loading_other_arrays_forgets_what_was_derived_from_the_old_ones(name, data) -> None:
    first = Config(cf=name, factors=2, iterations=3).taste().fit(data.user_items)
    second = Config(cf=name, factors=2, iterations=7).taste().fit(data.user_items)
    row = data.user_items[3]
    first.fold_in(row)  # derived from the first arrays, kept
    first.unit_item_vectors()
    first.load({k: v.copy() for k, v in second.to_arrays().items()})
    np.testing.assert_array_equal(first.fold_in(row), second.fold_in(row))
    np.testing.assert_array_equal(first.unit_item_vectors(), second.unit_item_vectors())


def test_unit_item_vectors_leave_out_the_bias_and_keep_a_zero_item_zero() -> None:
    items = np.array([[3, 4, 9], [0, 0, 5], [1, 0, -2]], np.float32)
    taste = BprTaste(Config(cf="bpr")).load({"user_factors": np.zeros((0, 3), np.float32),
                                            "item_factors": items})
    np.testing.assert_allclose(taste.unit_item_vectors(), [[0.6, 0.8], [0, 0], [1, 0]])


def test_one_vector_scores_in_float32_a_batch_in_float64(data) -> None:
    taste = Config(factors=2).taste().fit(data.user_items)
    one = taste.score(taste.user_factors[0])
    batch = taste.score(taste.user_factors[:2])
    assert one.dtype == batch.dtype == np.float64 and batch.shape == (2, data.n_items)
    np.testing.assert_array_equal(one, (taste.item_factors @ taste.user_factors[0]).astype(
        np.float64))


def test_bpr_folds_in_a_new_customer_without_retraining() -> None:
    # taste alone (no neighbours, no trending): what the folded-in factors say
    config = Config(cf="bpr", iterations=80, learning_rate=0.05, discovery_neighbours=0.0,
                    discovery_trending=0.0)
    model = ShopModel.train(bundle_shop(customers=120), config)
    for bought, mate in (({"p27": 1, "p28": 2}, "p29"), ({"p3": 1, "p5": 1}, "p4")):
        fresh = model.for_customer("newcomer", 3, exclude_purchased=True, history=bought)
        assert fresh.items[0].product_id == mate
