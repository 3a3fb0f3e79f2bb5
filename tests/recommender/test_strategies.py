"""Every personal taste and item neighbours strategy, and every Config the per-shop choice can
produce, on the two-group shop whose right answers are known (tests/recommender/two_groups.py).

Like implicit's RecommenderBase test mixin: one suite every strategy must pass; a new entry in
a registry or a new tuning candidate is covered without touching this file.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.config import Config
from recommender.matrix import Interactions, build_interactions
from recommender.neighbours import NEIGHBOURS, ItemNeighbours
from recommender.shop_model import Answer, ShopModel
from recommender.taste import TASTES, PersonalTaste
from recommender.tuning import personal_candidates, shared_candidates
from tests.recommender.two_groups import GROUPS, group_of, two_groups


@pytest.fixture(scope="module")
def data() -> Interactions:
    return build_interactions(two_groups())


def items_of(data: Interactions, group: str) -> np.ndarray:
    return np.flatnonzero(np.char.startswith(data.item_ids.astype(str), group))


def users_of(data: Interactions, group: str) -> np.ndarray:
    return np.flatnonzero(np.char.startswith(data.user_ids.astype(str), f"{group}-"))


def row(data: Interactions, products: list[str]) -> sp.csr_matrix:
    """A 1 x items CSR float32 row: one order of each product."""
    columns = np.searchsorted(data.item_ids, products)
    return sp.csr_matrix((np.ones(len(columns), np.float32), (np.zeros(len(columns)), columns)),
                         shape=(1, data.n_items))


def ids(answer: Answer) -> list[str]:
    return [r.product_id for r in answer.items]


# ---- personal taste ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(TASTES))
def taste(request: pytest.FixtureRequest, data: Interactions) -> PersonalTaste:
    """The model tuning tries first for this name, with two factors: the shop has two tastes
    (more factors fit each customer's own few purchases and blur the groups)."""
    config = next((c for c in personal_candidates(data) if c.cf == request.param),
                  Config(cf=request.param))
    return replace(config, factors=2).taste().fit(data.user_items)


def assert_prefers(scores: np.ndarray, data: Interactions, group: str) -> None:
    other = "b" if group == "a" else "a"
    assert scores[items_of(data, group)].min() > scores[items_of(data, other)].max()


def test_taste_has_one_vector_per_user_and_item(taste, data) -> None:
    assert taste.user_factors.dtype == taste.item_factors.dtype == np.float32
    assert taste.user_factors.shape[0] == data.n_users
    assert taste.item_factors.shape[0] == data.n_items
    assert taste.user_factors.shape[1] == taste.item_factors.shape[1]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_taste_ranks_every_own_group_item_above_the_other_group(taste, data, group) -> None:
    for user in users_of(data, group):
        assert_prefers(taste.score(taste.user_factors[user]), data, group)


@pytest.mark.parametrize(("bought", "group"), [(["a0", "a1"], "a"), (["b3", "b4", "b5"], "b")])
def test_a_new_customer_folded_in_prefers_the_group_they_bought_from(taste, data, bought,
                                                                     group) -> None:
    vector = taste.fold_in(row(data, bought))
    assert vector.shape == (taste.item_factors.shape[1],)
    assert_prefers(taste.score(vector), data, group)


def test_batch_scores_equal_one_by_one(taste, data) -> None:
    users = np.arange(data.n_users)
    batch = taste.score(taste.user_factors[users])
    one_by_one = np.stack([taste.score(taste.user_factors[u]) for u in users])
    assert batch.shape == (data.n_users, data.n_items)
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5, atol=1e-6)


def test_taste_saved_and_loaded_answers_identically(taste, data) -> None:
    arrays = {name: array.copy() for name, array in taste.to_arrays().items()}
    loaded = type(taste)(taste.settings).load(arrays)
    fresh = row(data, ["a2", "a5"])
    np.testing.assert_array_equal(loaded.score(loaded.user_factors[3]),
                                  taste.score(taste.user_factors[3]))
    np.testing.assert_array_equal(loaded.fold_in(fresh), taste.fold_in(fresh))
    np.testing.assert_array_equal(loaded.unit_item_vectors(), taste.unit_item_vectors())


def test_item_vectors_are_closest_within_their_group(taste, data) -> None:
    vectors = taste.unit_item_vectors()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    for item in range(data.n_items):
        assert group_of(data.item_ids[int(np.argmax(similarity[item]))]) == group_of(
            data.item_ids[item])


def test_erased_users_leave_the_others_unchanged(taste, data) -> None:
    keep = np.arange(data.n_users) != 0
    smaller = taste.without_users(keep)
    assert smaller.user_factors.shape[0] == data.n_users - 1
    np.testing.assert_array_equal(smaller.score(smaller.user_factors[0]),
                                  taste.score(taste.user_factors[1]))


def test_a_shop_of_guests_only_gets_zero_taste(data) -> None:
    no_users = sp.csr_matrix((0, data.n_items), dtype=np.float32)
    for name in TASTES:
        model = Config(cf=name).taste().fit(no_users)
        assert model.user_factors.shape[0] == 0
        assert not model.item_factors.any()


# ---- item neighbours --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(NEIGHBOURS))
def neighbours(request: pytest.FixtureRequest, data: Interactions) -> ItemNeighbours:
    return Config(neighbours=request.param).item_neighbours().fit(data)


def test_neighbours_are_the_rest_of_the_group_best_first(neighbours, data) -> None:
    for item in range(data.n_items):
        found, scores = neighbours.of(item)
        assert item not in found.tolist()
        assert {group_of(data.item_ids[j]) for j in found} == {group_of(data.item_ids[item])}
        assert len(found) == len(GROUPS["a"]) - 1  # every pair was bought together
        assert (scores > 0).all() and (np.diff(scores) <= 0).all()


def test_neighbour_scores_of_a_purchase_stay_in_its_group(neighbours, data) -> None:
    weights = np.zeros(data.n_items)
    weights[items_of(data, "b")[:2]] = [1.0, 0.5]
    scores = neighbours.scores(weights)
    assert scores[items_of(data, "a")].max() == 0 and scores[items_of(data, "b")].max() > 0


def test_summed_and_links_agree_with_the_neighbour_lists(neighbours, data) -> None:
    cart = [0, 1]
    links = neighbours.links(cart, list(range(data.n_items)))
    np.testing.assert_allclose(neighbours.summed(cart), links.sum(axis=0), rtol=1e-6)
    found, scores = neighbours.of(0)
    np.testing.assert_array_equal(links[0, found], scores)


def test_neighbour_batch_scores_equal_one_by_one(neighbours, data) -> None:
    weights = sp.csr_matrix(np.random.default_rng(0).random((5, data.n_items)))
    batch = neighbours.scores_batch(weights)
    one_by_one = np.stack([neighbours.scores(weights[r].toarray().ravel()) for r in range(5)])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-6)


def test_neighbours_saved_and_loaded_answer_identically(neighbours, data) -> None:
    loaded = type(neighbours)().load(neighbours.matrix.copy())
    for item in range(data.n_items):
        for mine, theirs in zip(loaded.of(item), neighbours.of(item), strict=True):
            np.testing.assert_array_equal(mine, theirs)


# ---- every configuration the per-shop choice can produce ---------------------------------------

CANDIDATES = shared_candidates(build_interactions(two_groups()))


def test_the_candidates_cover_every_registered_strategy() -> None:
    assert {c.cf for c in CANDIDATES} == set(TASTES)
    assert {c.neighbours for c in CANDIDATES} == set(NEIGHBOURS)


@pytest.fixture(scope="module", params=CANDIDATES, ids=lambda c: c.to_json())
def shop(request: pytest.FixtureRequest) -> ShopModel:
    return ShopModel.train(two_groups(), request.param)


@pytest.mark.parametrize("customer", ["a-c0", "a-c7", "b-c3"])
def test_discovery_lists_the_customers_group_first(shop, customer) -> None:
    group = customer[0]
    bought = shop.purchased_by(customer)
    unbought = set(GROUPS[group]) - bought
    answer = shop.for_customer(customer, len(unbought), exclude_purchased=True)
    assert set(ids(answer)) == unbought


def test_a_new_customer_is_folded_in_from_their_history(shop) -> None:
    answer = shop.for_customer("newcomer", 4, exclude_purchased=True,
                               history={"b0": 1, "b1": 2})
    assert set(ids(answer)) == {"b2", "b3", "b4", "b5"}


@pytest.mark.parametrize("cart", [["a0"], ["b1", "b2"]])
def test_a_cart_gets_the_rest_of_its_group(shop, cart) -> None:
    rest = set(GROUPS[cart[0][0]]) - set(cart)
    assert set(ids(shop.for_cart(cart, None, len(rest)))) == rest


def test_bought_together_names_the_products_group(shop) -> None:
    assert set(ids(shop.bought_together("a3", 5))) == set(GROUPS["a"]) - {"a3"}


def test_saved_and_loaded_shop_gives_identical_answers(shop) -> None:
    loaded = ShopModel.from_bytes(shop.to_bytes())
    assert loaded.config == shop.config
    for ask in (lambda m: m.for_customer("a-c1", 8, True),
                lambda m: m.for_customer("b-c2", 8, False),
                lambda m: m.for_customer("x", 8, True, history={"a1": 1}),
                lambda m: m.buy_again("a-c4", 6),
                lambda m: m.for_cart(["b0"], None, 6),
                lambda m: m.bought_together("a2", 6),
                lambda m: m.similar("b5", 6)):
        assert ask(loaded) == ask(shop)
