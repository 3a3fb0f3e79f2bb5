"""The baselines shopreco is measured against (recommender.baselines): each answers carts and
customers as its own idea says, and always names k products."""

from __future__ import annotations

import pytest
from implicit.cpu.als import AlternatingLeastSquares

from recommender.baselines import (
    BM25ItemKNN,
    CoOccurrence,
    ImplicitALS,
    OwnHistory,
    Popularity,
    ShopReco,
)
from recommender.evaluation import Recommender
from recommender.matrix import Purchase

DAY = 86400.0
T0 = 1_600_000_000.0  # 2020-09-13 12:26:40 UTC


def purchase(order: str, customer: str, product: str, day: float) -> Purchase:
    return Purchase(order, customer, product, 1, T0 + day * DAY)


def blocks() -> list[Purchase]:
    """Two groups of customers; each buys products of its own group only. Customer g0 of each
    group bought products 0, 1 and 2 of the group; the others every pair of their group."""
    purchases = []
    for group in ("a", "b"):
        items = [f"{group}{i}" for i in range(4)]
        pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
        for n, (i, j) in enumerate(pairs * 3):
            order = f"{group}-{n}"
            purchases += [purchase(order, f"{group}{n + 1}", items[i], n),
                          purchase(order, f"{group}{n + 1}", items[j], n)]
        purchases += [purchase(f"{group}-g0-{i}", f"{group}0", items[i], 40 + i) for i in range(3)]
    return purchases


MODELS = [CoOccurrence, ImplicitALS, BM25ItemKNN, ShopReco]


class SmallALS(ImplicitALS):
    """ALS with 4 factors: the default 100 factors on 8 products fit noise (a cart of a0, a1
    then gets b3 before a3), which says nothing about how the cart is scored."""

    name = "implicit ALS, 4 factors"

    def _new_model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(factors=4, random_state=0)


@pytest.mark.parametrize("model_class", [CoOccurrence, SmallALS, BM25ItemKNN, ShopReco],
                         ids=lambda c: c.name)
def test_cart_recommends_the_rest_of_its_group(model_class: type[Recommender]) -> None:
    model = model_class()
    model.fit(blocks())
    assert set(model.for_cart(["a0", "a1"], 2)) == {"a2", "a3"}


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.name)
def test_discovery_names_the_one_group_product_not_bought(model_class: type[Recommender]) -> None:
    model = model_class()
    model.fit(blocks())
    assert model.for_customer("a0", 4, True)[0] == "a3"


@pytest.mark.parametrize("model_class", [*MODELS, Popularity, OwnHistory],
                         ids=lambda c: c.name)
def test_every_answer_names_k_distinct_products(model_class: type[Recommender]) -> None:
    model = model_class()
    model.fit(blocks())
    answers = [model.for_customer("a0", 5, False), model.for_customer("a0", 5, True),
               model.for_customer("nobody", 5, False), model.for_cart(["a0", "zz"], 5),
               model.for_cart(["unknown"], 5)]
    assert [len(set(a)) for a in answers] == [5] * 5


def test_popularity_ranks_by_orders_holding_the_product() -> None:
    model = Popularity()
    model.fit([purchase("1", "c", "x", 0), purchase("1", "c", "x", 0), purchase("2", "d", "y", 1),
               purchase("3", "d", "y", 2), purchase("3", "d", "z", 2)])
    assert model.for_cart(["z"], 3) == ["y", "x"]


def test_popularity_discovery_skips_the_customers_purchases() -> None:
    model = Popularity()
    model.fit([purchase("1", "c", "x", 0), purchase("2", "d", "x", 1), purchase("2", "d", "y", 1)])
    assert model.for_customer("c", 3, True) == ["y"]


def test_own_history_ranks_by_purchase_count_then_recency() -> None:
    model = OwnHistory()
    model.fit([purchase("1", "c", "old", 0), purchase("2", "c", "new", 5),
               purchase("3", "c", "often", 1), purchase("4", "c", "often", 2),
               purchase("5", "d", "top", 3), purchase("6", "e", "top", 3),
               purchase("7", "f", "top", 3)])
    assert model.for_customer("c", 4, False) == ["often", "new", "old", "top"]


def test_own_history_discovery_falls_back_to_popularity() -> None:
    model = OwnHistory()
    model.fit([purchase("1", "c", "mine", 0), purchase("2", "d", "hit", 1),
               purchase("3", "e", "hit", 1), purchase("4", "e", "mine", 1)])
    assert model.for_customer("c", 2, True) == ["hit"]


def test_co_occurrence_sums_counts_over_the_cart() -> None:
    model = CoOccurrence()
    model.fit([purchase("1", "c", "a", 0), purchase("1", "c", "x", 0),
               purchase("2", "c", "b", 0), purchase("2", "c", "y", 0),
               purchase("3", "d", "b", 0), purchase("3", "d", "y", 0),
               purchase("4", "d", "a", 0), purchase("4", "d", "y", 0)])
    # y: 2 with b + 1 with a = 3; x: 1 with a
    assert model.for_cart(["a", "b"], 2) == ["y", "x"]
