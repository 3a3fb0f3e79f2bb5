"""The pure recommender core on a synthetic shop whose right answers are known (no Redis)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import shop_model
from recommender.matrix import Purchase, build_interactions
from recommender.models import fit_als, trending_scores
from recommender.neighbours import nearest_by_vectors
from recommender.shop_model import TRENDING, Answer, ShopModel

NOW = 1_750_000_000.0
DAY = 86_400.0
PARTNERS = ("p5", "p6")  # always bought together
GROUPS = ({f"p{i}" for i in range(20)}, {f"p{i}" for i in range(20, 40)})


def synthetic_purchases(seed: int = 7) -> list[Purchase]:
    """300 customers in two taste groups (p0-p19, p20-p39), 3 orders each, plus 60 guests.

    Whenever an order holds p5 or p6 it holds both.
    """
    rng = np.random.default_rng(seed)
    purchases: list[Purchase] = []

    def order(order_id: str, customer: str | None, group: int) -> None:
        picks = {f"p{i}" for i in rng.choice(20, size=3, replace=False) + 20 * group}
        if picks & set(PARTNERS):
            picks |= set(PARTNERS)
        when = NOW - float(rng.uniform(0, 90)) * DAY
        purchases.extend(Purchase(order_id, customer, p, 1, when) for p in sorted(picks))

    for c in range(300):
        for n in range(3):
            order(f"o{c}-{n}", f"c{c}", c % 2)
    for g in range(60):
        order(f"guest-{g}", None, g % 2)
    return purchases


@pytest.fixture(scope="module")
def purchases() -> list[Purchase]:
    return synthetic_purchases()


@pytest.fixture(scope="module")
def model(purchases: list[Purchase]) -> ShopModel:
    return ShopModel.train(purchases)


def bought_by(purchases: list[Purchase], customer: str) -> set[str]:
    return {p.product_id for p in purchases if p.customer_id == customer}


def ids(answer: Answer) -> list[str]:
    return [r.product_id for r in answer.items]


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


def test_bought_together_puts_the_partner_first_and_never_the_input(model) -> None:
    answer = model.bought_together("p5", limit=10)
    assert answer.strategy == "copurchase"
    assert ids(answer)[0] == "p6"
    assert "p5" not in ids(answer)


def test_cart_with_p5_gets_the_partner_first_and_no_cart_items(model) -> None:
    answer = model.for_cart(["p5", "p12"], customer_id=None, limit=10)
    assert ids(answer)[0] == "p6"
    assert not {"p5", "p12"} & set(ids(answer))


def test_cart_never_returns_its_items(model) -> None:
    cart = ["p1", "p2", "p3", "p25"]
    assert not set(cart) & set(ids(model.for_cart(cart, customer_id="c0", limit=36)))


def test_customer_recommendations_exclude_purchases_when_asked(model, purchases) -> None:
    for customer in ("c0", "c1", "c2"):
        answer = model.for_customer(customer, limit=10, exclude_purchased=True)
        assert answer.strategy == "als"
        assert not bought_by(purchases, customer) & set(ids(answer))


def test_customer_recommendations_may_include_purchases_when_allowed(model, purchases) -> None:
    answer = model.for_customer("c0", limit=10, exclude_purchased=False)
    assert bought_by(purchases, "c0") & set(ids(answer))


def test_customer_recommendations_follow_the_taste_group(model) -> None:
    in_group = [
        len(set(ids(model.for_customer(f"c{c}", limit=5, exclude_purchased=True)))
            & GROUPS[c % 2])
        for c in range(300)
    ]
    assert sum(in_group) / (5 * 300) >= 0.9  # ALS alone: about 0.95 here


@pytest.mark.parametrize("ask", [
    lambda m: m.bought_together("unknown-product", 12),
    lambda m: m.for_customer("unknown-customer", 12, exclude_purchased=True),
    lambda m: m.for_cart(["unknown-product"], None, 12),
], ids=["product", "customer", "cart"])
def test_unknown_ids_fall_back_to_trending_filled_to_the_limit(model, ask) -> None:
    answer = ask(model)
    assert answer.strategy == TRENDING
    assert len(answer.items) == 12
    assert "unknown-product" not in ids(answer)


@pytest.mark.parametrize("ask", [
    lambda m: m.bought_together("p5", 15),
    lambda m: m.bought_together("p30", 15),
    lambda m: m.similar("p5", 15),
    lambda m: m.for_customer("c3", 15, exclude_purchased=True),
    lambda m: m.for_customer("c3", 15, exclude_purchased=False),
    lambda m: m.for_cart(["p5", "p30"], None, 15),
    lambda m: m.trending(15),
], ids=["together", "together-2", "similar", "customer", "customer-all", "cart", "trending"])
def test_answers_have_limit_unique_items_best_first(model, ask) -> None:
    answer = ask(model)
    scores = [r.score for r in answer.items]
    assert len(answer.items) == 15
    assert len(set(ids(answer))) == 15
    assert scores == sorted(scores, reverse=True)


def test_bytes_round_trip_gives_identical_answers(model) -> None:
    raw = model.to_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        assert "item_ids" in arrays.files and arrays["item_ids"].dtype.kind == "U"
    loaded = ShopModel.from_bytes(raw)
    for ask in (
        lambda m: m.bought_together("p5", 10),
        lambda m: m.similar("p22", 10),
        lambda m: m.for_customer("c7", 10, exclude_purchased=True),
        lambda m: m.for_cart(["p5", "p30"], None, 10),
        lambda m: m.trending(10),
    ):
        assert ask(loaded) == ask(model)


def with_similar_items(model: ShopModel, top_k: int) -> ShopModel:
    """`model` keeping each item's `top_k` nearest by taste."""
    return ShopModel(model.config, model.item_ids, model.user_ids, model.user_items,
                     model.taste, model.neighbours, model.trending_scores, model.user_recent,
                     model.user_latest,
                     nearest_by_vectors(model.taste.unit_item_vectors(), top_k))


@pytest.mark.parametrize("product", ["p5", "p22", "p39"])
def test_similar_from_cut_lists_answers_as_from_complete_ones(model, product,
                                                              monkeypatch) -> None:
    """Blocked products that eat into an item's kept nearest ones: all items are scored."""
    complete = with_similar_items(model, len(model.item_ids))
    monkeypatch.setattr(shop_model, "TOP_K", 3)
    cut = with_similar_items(model, 3)
    nearest = ids(complete.similar(product, 6))
    for blocked in (frozenset(), set(nearest[:1]), set(nearest[:3]), set(nearest[1:5])):
        expected, answer = complete.similar(product, 8, blocked), cut.similar(product, 8, blocked)
        assert ids(answer) == ids(expected) and not blocked & set(ids(answer))
        np.testing.assert_allclose([r.score for r in answer.items],
                                   [r.score for r in expected.items], rtol=1e-5)


def test_recent_purchases_trend_above_equally_many_old_ones() -> None:
    purchases = [Purchase(f"old{n}", None, "old", 1, NOW - 60 * DAY) for n in range(3)]
    purchases += [Purchase(f"new{n}", None, "new", 1, NOW) for n in range(3)]
    data = build_interactions(purchases)
    scores = dict(zip(data.item_ids.tolist(), trending_scores(data).tolist(), strict=True))
    assert scores["new"] > scores["old"] > 0


def test_no_purchases_is_a_value_error_saying_what_was_expected() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        build_interactions([])


def test_als_refuses_a_float64_matrix() -> None:
    matrix = sp.csr_matrix(np.ones((3, 3), dtype=np.float64))
    with pytest.raises(ValueError, match="float32"):
        fit_als(matrix)


def test_guest_only_shop_still_answers_bought_together() -> None:
    guests = [p for p in synthetic_purchases() if p.customer_id is None]
    model = ShopModel.train(guests)
    assert len(model.user_ids) == 0
    answer = model.bought_together("p6", 5)
    assert answer.strategy == "copurchase"
    assert ids(answer)[0] == "p5"


# ---- buy again (exclude_purchased False) ----------------------------------------------------


def rebuy_purchases() -> list[Purchase]:
    """The synthetic shop plus "rebuyer", who buys p25 (the other taste group's) every 30 days
    next to one order of group 0, and "lapsed", who bought p1 three times over a year ago and
    p2 twice this month, and "switcher", who bought p21-p23 300 days ago and p5 yesterday."""
    extra = [Purchase(f"rebuy-{n}", "rebuyer", "p25", 1, NOW - 30 * n * DAY) for n in range(4)]
    extra += [Purchase("rebuy-x", "rebuyer", p, 1, NOW - 5 * DAY) for p in ("p1", "p2", "p3")]
    extra += [Purchase(f"old-{n}", "lapsed", "p1", 1, NOW - (400 + n) * DAY) for n in range(3)]
    extra += [Purchase(f"new-{n}", "lapsed", "p2", 1, NOW - (10 + n) * DAY) for n in range(2)]
    extra += [Purchase("switch-old", "switcher", p, 1, NOW - 300 * DAY)
              for p in ("p21", "p22", "p23")]
    extra += [Purchase("switch-new", "switcher", "p5", 1, NOW - DAY)]
    return synthetic_purchases() + extra


@pytest.fixture(scope="module")
def rebuy_model() -> ShopModel:
    return ShopModel.train(rebuy_purchases())


def test_a_cyclic_rebuy_comes_first_as_buy_again(rebuy_model) -> None:
    answer = rebuy_model.for_customer("rebuyer", 10, exclude_purchased=False)
    assert answer.strategy == "als"
    assert (answer.items[0].product_id, answer.items[0].reason) == ("p25", "buy_again")


def test_buy_again_is_never_offered_when_purchases_are_excluded(rebuy_model) -> None:
    answer = rebuy_model.for_customer("rebuyer", 10, exclude_purchased=True)
    assert not {"p25", "p1", "p2", "p3"} & set(ids(answer))
    assert "buy_again" not in {r.reason for r in answer.items}


def test_only_purchased_products_carry_the_buy_again_reason(rebuy_model) -> None:
    answer = rebuy_model.for_customer("rebuyer", 20, exclude_purchased=False)
    again = {r.product_id for r in answer.items if r.reason == "buy_again"}
    assert again == {"p25", "p1", "p2", "p3"}
    assert {r.reason for r in answer.items if r.product_id not in again} <= {"personal", TRENDING}


def test_recent_purchases_come_back_before_more_but_old_ones(rebuy_model) -> None:
    order = ids(rebuy_model.for_customer("lapsed", 10, exclude_purchased=False))
    assert order.index("p2") < order.index("p1")


def test_history_orders_beyond_the_model_count_as_recent_rebuys(rebuy_model) -> None:
    history = {"p1": 3, "p2": 2, "p39": 3}  # three orders of p39 since training
    answer = rebuy_model.for_customer("lapsed", 10, False, history=history)
    assert (answer.items[0].product_id, answer.items[0].reason) == ("p39", "buy_again")


def test_history_of_a_new_customer_gives_buy_again_first(rebuy_model) -> None:
    answer = rebuy_model.for_customer("newcomer", 10, False, history={"p33": 2, "p21": 1})
    assert [(r.product_id, r.reason) for r in answer.items[:2]] == [
        ("p33", "buy_again"), ("p21", "buy_again")]


def test_blocked_rebuys_are_dropped_and_the_list_filled(rebuy_model) -> None:
    answer = rebuy_model.for_customer("rebuyer", 10, False, blocked=frozenset({"p25"}))
    assert "p25" not in ids(answer)
    assert len(set(ids(answer))) == 10


def test_bytes_round_trip_keeps_the_buy_again_order(rebuy_model) -> None:
    raw = rebuy_model.to_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        assert {"user_recent_data", "user_latest_data"} <= set(arrays.files)
    loaded = ShopModel.from_bytes(raw)
    for customer, exclude in itertools.product(("rebuyer", "lapsed", "switcher"), (False, True)):
        assert (loaded.for_customer(customer, 10, exclude)
                == rebuy_model.for_customer(customer, 10, exclude))


def test_erasure_drops_the_customer_from_the_decayed_purchases(rebuy_model) -> None:
    cleaned = rebuy_model.without_customers(["rebuyer"])
    assert cleaned.user_recent.shape == (len(cleaned.user_ids), len(cleaned.item_ids))
    assert cleaned.user_latest.shape == cleaned.user_recent.shape
    assert cleaned.for_customer("rebuyer", 5, False).strategy == TRENDING
    assert cleaned.for_customer("lapsed", 10, False) == rebuy_model.for_customer("lapsed", 10,
                                                                                  False)


def test_recent_purchases_weigh_each_order_by_its_age() -> None:
    from recommender.history import BUY_AGAIN_HALF_LIFE_DAYS, recent_purchases

    rows = [Purchase("o1", "c1", "a", 1, NOW), Purchase("o1", "c1", "a", 2, NOW),
            Purchase("o2", "c1", "a", 1, NOW - BUY_AGAIN_HALF_LIFE_DAYS * DAY),
            Purchase("o3", None, "b", 1, NOW)]
    recent = recent_purchases(rows, build_interactions(rows))
    assert recent.toarray().tolist() == [[1.5, 0.0]]  # one order now, one half a weight


def test_discovery_follows_the_latest_purchase_more_than_old_ones(rebuy_model) -> None:
    answer = rebuy_model.for_customer("switcher", 10, exclude_purchased=True)
    assert (answer.items[0].product_id, answer.items[0].reason) == ("p6", "personal")
    # p5's taste group, not that of the three old purchases (undecayed: p6 alone here)
    assert len(set(ids(answer)[:5]) & GROUPS[0]) >= 2


def test_personal_items_name_the_purchases_that_led_to_them() -> None:
    purchases = [Purchase(f"o{n}", f"c{n}", product, 1, NOW - n * DAY)
                 for n in range(40) for product in ("a1", "a2")]
    purchases += [Purchase(f"x{n}", f"d{n}", f"z{n % 5}", 1, NOW) for n in range(40)]
    purchases.append(Purchase("mine", "me", "a1", 1, NOW))
    model = ShopModel.train(purchases)
    first = model.for_customer("me", 3, exclude_purchased=True).items[0]
    assert (first.product_id, first.reason, first.because) == ("a2", "personal", ("a1",))
