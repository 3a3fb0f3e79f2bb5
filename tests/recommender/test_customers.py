"""Customer neighbours (recommender.customers): TIFU-KNN's decayed vectors, UP-CF@r's recency
popularity, the nearest customers, and what they add on a repeat-heavy shop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.baselines import OwnHistory, Popularity
from recommender.customers import (
    CUSTOMERS,
    TOP_ITEMS,
    TifuKnn,
    UpCf,
    customer_baskets,
    nearest_customers,
    recent_popularity,
    split_top,
    tifu_vectors,
)
from recommender.evaluation import last_basket_split, ndcg_at_k
from recommender.matrix import Purchase, build_interactions
from tests.recommender.repeat_shop import repeat_heavy_shop

DAY = 86400.0


def settings(**changed: float) -> SimpleNamespace:
    values = dict(customers_k=20, tifu_within=0.9, tifu_across=0.7, tifu_groups=7,
                  upcf_recency=10, upcf_asymmetry=0.75, upcf_locality=10.0)
    return SimpleNamespace(**{**values, **changed})


def history(baskets: list[list[str]], customer: str = "c") -> list[Purchase]:
    """One customer's baskets, a day apart, oldest first."""
    return [Purchase(f"{customer}{n}", customer, item, 1, n * DAY)
            for n, basket in enumerate(baskets) for item in basket]


def test_baskets_come_oldest_first_per_customer_without_guests() -> None:
    rows = [*history([["a"], ["b"], ["a"]], "c2"), *history([["b"]], "c1"),
            Purchase("g", None, "a", 1, 0.0)]
    data = build_interactions(rows)
    users, baskets, position, n = customer_baskets(data)
    assert users.tolist() == [0, 1, 1, 1]  # c1, then c2's three
    assert position.tolist() == [0, 0, 1, 2]
    assert n.tolist() == [1, 3, 3, 3]
    orders = data.basket_items.toarray()[baskets]
    assert orders.tolist() == [[0, 1], [1, 0], [0, 1], [1, 0]]


def test_tifu_vectors_decay_within_and_across_groups() -> None:
    """7 baskets in 3 groups: sizes 2, 2, 3 (the larger last). A basket weighs r_b ** (baskets
    after it in its group) * r_g ** (groups after it) / its group's size / 3 groups."""
    items = ["a", "b", "c", "d", "e", "f", "g"]
    data = build_interactions(history([[item] for item in items]))
    vectors = tifu_vectors(data, 0.5, 0.1, 3).toarray()[0]
    group_of = [0, 0, 1, 1, 2, 2, 2]
    after_in_group = [1, 0, 1, 0, 2, 1, 0]
    size = [2, 2, 2, 2, 3, 3, 3]
    expected = [0.5 ** after_in_group[b] * 0.1 ** (2 - group_of[b]) / size[b] / 3
                for b in range(7)]
    np.testing.assert_allclose(vectors, expected)


def test_with_fewer_baskets_than_groups_each_basket_is_a_group() -> None:
    data = build_interactions(history([["a"], ["b"], ["a", "b"]]))
    vectors = tifu_vectors(data, 0.5, 0.1, 7).toarray()[0]
    np.testing.assert_allclose(vectors, [(0.01 + 1) / 3, (0.1 + 1) / 3])


def test_recent_popularity_is_the_share_of_the_last_r_baskets() -> None:
    data = build_interactions(history([["a"], ["a", "b"], ["b"], ["b", "c"]]))
    np.testing.assert_allclose(recent_popularity(data, 3).toarray()[0], [1 / 3, 1.0, 1 / 3])
    np.testing.assert_allclose(recent_popularity(data, 10).toarray()[0], [0.5, 0.75, 0.25])


def test_nearest_customers_leave_themselves_out_and_break_ties_by_index() -> None:
    vectors = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0],
                                      [1.0, 1.0]]))
    found = nearest_customers(vectors, vectors.T.tocsc(), np.array([0, 3]), 2).toarray()
    assert found[0].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]  # 4 ties too: 1 and 2 come first
    assert found[1].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]  # only 4 shares anything with 3


def test_split_top_keeps_the_best_bought_and_the_best_not_bought() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    bought = sp.csr_matrix(np.array([[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]], np.float32))
    kept = split_top(scores.copy(), bought, 2).toarray()[0]
    assert kept.tolist() == [5.0, 4.0, 3.0, 2.0, 0.0, 0.0]


@pytest.mark.parametrize("kind", sorted(CUSTOMERS))
def test_rows_of_some_customers_are_their_rows_of_the_fitted_matrix(kind) -> None:
    data = build_interactions(repeat_heavy_shop(customers=80))
    model = CUSTOMERS[kind](settings()).fit(data)
    assert model.matrix.shape == data.user_items.shape
    some = np.array([3, 40, 7])
    np.testing.assert_array_equal(model.rows(data, some).toarray(),
                                  model.matrix[some].toarray())
    again = CUSTOMERS[kind](settings()).fit(data)  # deterministic
    np.testing.assert_array_equal(again.matrix.toarray(), model.matrix.toarray())


def test_each_customer_keeps_at_most_top_items_bought_and_not_bought() -> None:
    rows = [Purchase(f"o{c}-{n}", f"c{c}", f"p{(c + n * 7) % 400}", 1, n * DAY)
            for c in range(30) for n in range(300)]
    data = build_interactions(rows)
    matrix = UpCf(settings(upcf_recency=300, upcf_locality=1.0)).fit(data).matrix
    bought = data.user_items.toarray() > 0
    dense = matrix.toarray()
    assert ((dense > 0) & bought).sum(axis=1).max() <= TOP_ITEMS
    assert ((dense > 0) & ~bought).sum(axis=1).max() <= TOP_ITEMS
    assert ((dense > 0) & ~bought).sum(axis=1).min() > 0


def test_upcf_weighs_neighbours_by_similarity_to_the_locality() -> None:
    """c0 (a, x, y) shares a with c1 (who bought a, b) and a, x, y with c2 (who bought a, x,
    y, z): with asymmetry 0.5 their similarities are 1/sqrt(3 * 2) and 3/sqrt(3 * 4); the
    recency window of 1 leaves each one's last basket."""
    rows = [*history([["a"], ["x", "y"], ["a"]], "c0"), *history([["a"], ["b"]], "c1"),
            *history([["a", "x", "y"], ["z"]], "c2")]
    data = build_interactions(rows)
    model = UpCf(settings(upcf_recency=1, upcf_asymmetry=0.5, upcf_locality=2.0))
    row = model.rows(data, np.array([0])).toarray()[0]
    items = data.item_ids.tolist()
    assert row[items.index("b")] == pytest.approx(1 / 6)  # (1/sqrt(6)) ** 2 * c1's b
    assert row[items.index("z")] == pytest.approx(0.75)  # (3/sqrt(12)) ** 2 * c2's z
    assert row[items.index("a")] == 0.0  # in neither's last basket


def test_tifu_knn_beats_own_history_and_popularity_on_a_repeat_heavy_shop() -> None:
    """TIFU-KNN as its paper scores (alpha * own vector + (1 - alpha) * the neighbours' mean,
    TaFeng's settings but k 20) on each customer's next basket: their decay follows the new
    staples that own history (most often bought first) misses, and the neighbours name the
    group's other products."""
    train, test = last_basket_split(repeat_heavy_shop())
    data = build_interactions(train)
    users = {u: i for i, u in enumerate(data.user_ids.tolist())}
    items = data.item_ids.tolist()
    own = tifu_vectors(data, 0.9, 0.7, 7).toarray()
    neighbours = TifuKnn(settings()).fit(data).matrix.toarray()
    baskets: dict[str, set[str]] = {}
    for p in test:
        baskets.setdefault(p.customer_id or "", set()).add(p.product_id)
    plain = {"own history": OwnHistory(), "popularity": Popularity()}
    for recommender in plain.values():
        recommender.fit(train)
    found: dict[str, list[float]] = {"tifu-knn": [], **{name: [] for name in plain}}
    for customer, basket in baskets.items():
        scores = 0.7 * own[users[customer]] + 0.3 * neighbours[users[customer]]
        ranked = [items[j] for j in np.argsort(-scores, kind="stable")[:10]]
        found["tifu-knn"].append(ndcg_at_k(ranked, frozenset(basket), 10))
        for name, recommender in plain.items():
            found[name].append(ndcg_at_k(recommender.for_customer(customer, 10, False),
                                         frozenset(basket), 10))
    mean = {name: float(np.mean(values)) for name, values in found.items()}
    assert mean["tifu-knn"] > 1.1 * mean["own history"] > 2 * mean["popularity"]
