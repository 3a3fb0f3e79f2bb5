"""ShopModel, every recommendation query of a shop, on synthetic shops whose right answers are
known (no Redis); its bytes, and models saved by earlier versions."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import shop_model
from recommender.matrix import Purchase
from recommender.neighbours import nearest_by_vectors
from recommender.shop_model import TRENDING, Answer, Config, ShopModel
from tests.recommender.repeat_shop import repeat_heavy_shop
from tests.recommender.test_tuning import START, bundle_shop
from tests.recommender.two_groups import two_groups

DATA = Path(__file__).parent / "data"
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


def test_decayed_purchases_stored_apart_from_the_counts_give_the_same_answers(
        rebuy_model) -> None:
    """The decayed matrices normally store the counts' entries, and the buy-again and latest
    signals are computed on a row's few columns; decayed matrices that store other entries
    (an explicit zero here) are read as dense rows, to the same answers."""
    def apart(matrix: sp.csr_matrix) -> sp.csr_matrix:
        coo = matrix.tocoo()
        empty = next(c for c in range(matrix.shape[1]) if not matrix[0, c])
        return sp.csr_matrix((np.append(coo.data, 0.0), (np.append(coo.row, 0),
                                                         np.append(coo.col, empty))),
                             shape=matrix.shape)

    m = rebuy_model
    other = ShopModel(m.config, m.item_ids, m.user_ids, m.user_items, m.taste, m.neighbours,
                      m.trending_scores, apart(m.user_recent), apart(m.user_latest),
                      m.similar_items)
    assert other.user_recent.nnz == m.user_recent.nnz + 1  # the zero is stored
    items = list(m.item_ids)
    for user, customer in enumerate(m.user_ids[:40]):
        bought = {items[j]: int(n) for j, n in zip(*m.user_items[user].nonzero()[1:],
                                                   m.user_items[user].data, strict=True)}
        histories = [None, {**bought, items[user % len(items)]: 3},
                     {p: max(0, n - 1) for p, n in bought.items()}]
        for history, exclude in itertools.product(histories, (False, True)):
            assert (other.for_customer(customer, 8, exclude, history=history)
                    == m.for_customer(customer, 8, exclude, history=history))
            assert (other.buy_again(customer, 8, history=history)
                    == m.buy_again(customer, 8, history=history))


@pytest.mark.parametrize("exclude", [False, True])
@pytest.mark.parametrize("limit", [3, 12])
def test_customers_asked_together_get_the_answers_they_get_alone(rebuy_model, exclude, limit,
                                                                 monkeypatch) -> None:
    """A burst of personal calls is scored together, with one fold-in solve for every
    customer whose history changed: each answer identical to asking alone. Known customers
    with and without a (changed) history, a newcomer with one, unknown ones (trending), one
    asked twice, with a blocked product."""
    m, items = rebuy_model, list(rebuy_model.item_ids)
    asked: list[tuple[str, dict[str, int] | None]] = [
        ("rebuyer", None), ("lapsed", {"p1": 3, "p2": 2, "p39": 3}), ("switcher", None),
        ("newcomer", {"p33": 2, "p21": 1}), ("nobody", None), ("ghost", {"zz": 4}),
        ("c3", {"p9": 5}), ("lapsed", {"p1": 3, "p2": 2, "p39": 3}), ("c8", {"p30": 1})]
    asked += [(f"c{n}", {items[n % 40]: 1 + n % 3, items[(n * 7) % 40]: 1})
              for n in range(20, 60)]
    blocked = frozenset({"p25", "p6"})
    alone = [m.for_customer(c, limit, exclude, blocked, h) for c, h in asked]
    solves: list[int] = []
    fold_in_many = m.taste.fold_in_many
    monkeypatch.setattr(m.taste, "fold_in_many",
                        lambda counts: solves.append(len(counts)) or fold_in_many(counts))
    assert m.for_customers(asked, limit, exclude, blocked) == alone
    assert solves == [sum(1 for c, h in asked if h and h != {"zz": 4})]  # one solve for all
    assert m.for_customers([], limit, exclude) == []


def test_carts_may_take_other_neighbours_than_bought_together(purchases) -> None:
    """cart_neighbours_kind: carts are completed by BM25 as a BM25 model completes them, while
    bought-together and discovery keep co-purchase; saved, loaded and kept through erasure."""
    both = ShopModel.train(purchases, Config(cart_neighbours_kind="bm25"))
    bm25 = ShopModel.train(purchases, Config(neighbours="bm25"))
    plain = ShopModel.train(purchases)
    assert type(both.cart_neighbours) is type(bm25.neighbours) is not type(both.neighbours)
    for cart in (["p1"], ["p5", "p22"], ["p30", "p31", "p32"]):
        assert both.for_cart(cart, None, 6) == bm25.for_cart(cart, None, 6)
        assert both.for_cart(cart, None, 6).strategy == "bm25"
    assert both.bought_together("p5", 6) == plain.bought_together("p5", 6)
    assert both.for_customer("c2", 6, True) == plain.for_customer("c2", 6, True)
    loaded = ShopModel.from_bytes(both.to_bytes())
    assert loaded.config == both.config
    assert loaded.for_cart(["p5", "p22"], None, 6) == both.for_cart(["p5", "p22"], None, 6)
    erased = both.without_customers(["c1"])
    assert erased.for_cart(["p1"], None, 6) == both.for_cart(["p1"], None, 6)
    with np.load(io.BytesIO(plain.to_bytes()), allow_pickle=False) as arrays:
        assert "cart_neighbours_data" not in arrays.files  # one set of neighbours: stored once
    reloaded = ShopModel.from_bytes(plain.to_bytes())
    assert reloaded.cart_neighbours is reloaded.neighbours


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


# ---- every strategy on the bundle shop; buy again; blocked products ---------------------------


@pytest.mark.parametrize("config", [
    Config(cf="bpr", iterations=60, learning_rate=0.05),
    Config(neighbours="bm25"),
    Config(trending_half_life_days=0.0, factors=6, regularization=1.0),
])
def test_every_strategy_answers_every_call(config) -> None:
    model = ShopModel.from_bytes(ShopModel.train(bundle_shop(customers=120), config).to_bytes())
    assert model.config == config
    together = model.bought_together("p0", 2)
    assert {r.product_id for r in together.items} == {"p1", "p2"}
    similar = model.similar("p3", 5)
    assert "p3" not in [r.product_id for r in similar.items] and len(similar.items) == 5
    cart = model.for_cart(["p6", "p7"], None, 3)
    assert cart.items[0].product_id == "p8" and cart.items[0].reason == "cart"
    bought = model.purchased_by("c0")
    new = model.for_customer("c0", 5, exclude_purchased=True)
    assert len(new.items) == 5 and not bought & {r.product_id for r in new.items}


def test_buy_again_lists_own_purchases_first_then_fills() -> None:
    model = ShopModel.train(bundle_shop(customers=120))
    bought = model.purchased_by("c5")
    answer = model.buy_again("c5", 8)
    ids = [r.product_id for r in answer.items]
    assert answer.strategy == "buy_again" and len(ids) == 8 == len(set(ids))
    assert set(ids[: len(bought)]) == bought
    assert all(r.reason == "buy_again" for r in answer.items[: len(bought)])
    assert [r.score for r in answer.items] == sorted((r.score for r in answer.items),
                                                     reverse=True)
    blocked = {ids[0]}
    assert ids[0] not in [r.product_id for r in model.buy_again("c5", 8, blocked).items]
    assert model.buy_again("stranger", 4).strategy == "trending"


def test_rebuy_weighting_brings_back_staples_not_one_offs() -> None:
    rows = []
    for c in range(30):  # everybody rebuys coffee; a kettle is bought once
        for n in range(3):
            rows.append(Purchase(f"o{c}-{n}", f"c{c}", "coffee", 1, START + (10 * n + c) * DAY))
        rows.append(Purchase(f"k{c}", f"c{c}", "kettle", 1, START + (40 + c) * DAY))
    # c0 bought coffee once long ago and the kettle just now
    rows = [r for r in rows if r.customer_id != "c0"] + [
        Purchase("x1", "c0", "coffee", 1, START),
        Purchase("x2", "c0", "kettle", 1, START + 80 * DAY)]
    plain = ShopModel.train(rows)
    weighted = ShopModel.train(rows, Config(rebuy_weighting=True))
    assert weighted.rebuy_rates[list(weighted.item_ids).index("coffee")] > 0.9
    assert [r.product_id for r in plain.buy_again("c0", 2).items] == ["kettle", "coffee"]
    assert [r.product_id for r in weighted.buy_again("c0", 2).items] == ["coffee", "kettle"]


@pytest.mark.parametrize("ask", [
    lambda m, blocked: m.bought_together("p5", 10, blocked),
    lambda m, blocked: m.similar("p5", 10, blocked),
    lambda m, blocked: m.for_customer("c3", 10, True, blocked),
    lambda m, blocked: m.for_cart(["p5"], None, 10, blocked),
    lambda m, blocked: m.trending(10, blocked),
], ids=["together", "similar", "customer", "cart", "trending"])
def test_blocked_products_are_never_shown_and_the_list_is_filled(model, ask) -> None:
    shown = ids(ask(model, frozenset()))
    blocked = frozenset(shown[:4])
    answer = ask(model, blocked)
    assert len(answer.items) == 10 and not blocked & set(ids(answer))
    assert ids(answer)[:6] == [p for p in ids(ask(model, frozenset())) if p not in blocked][:6]


def test_saved_bytes_share_the_structure_of_the_decayed_purchases(model) -> None:
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as arrays:
        names = set(arrays.files)
        assert {"user_items_indices", "user_recent_data", "user_latest_data"} <= names
        assert not {"user_recent_indices", "user_latest_indices"} & names
        assert Config.from_json(str(arrays["config"])) == model.config


def test_erasing_customers_keeps_every_other_answer(model) -> None:
    cleaned = model.without_customers(["c0", "c1", "nobody"])
    assert not cleaned.knows_customer("c0") and cleaned.knows_customer("c2")
    assert len(cleaned.user_ids) == len(model.user_ids) - 2
    assert cleaned.for_customer("c0", 5, True).strategy == TRENDING
    for ask in (lambda m: m.for_customer("c2", 10, True), lambda m: m.bought_together("p5", 10),
                lambda m: m.similar("p7", 10), lambda m: m.trending(5)):
        assert ask(cleaned) == ask(model)


# ---- models saved by earlier versions ---------------------------------------------------------


@pytest.mark.parametrize(("blob", "config"), [
    ("als_copurchase", Config()),
    ("bpr_bm25", Config(cf="bpr", iterations=100, learning_rate=0.05, regularization=0.01,
                        neighbours="bm25")),
])
def test_a_model_saved_before_the_strategy_registries_answers_as_a_fresh_one(blob,
                                                                             config) -> None:
    old = ShopModel.from_bytes((DATA / f"saved_before_registries_{blob}.npz").read_bytes())
    fresh = ShopModel.train(two_groups(), config)
    assert old.config == config
    for ask in (lambda m: m.for_customer("a-c1", 8, True),
                lambda m: m.for_customer("b-c2", 8, False),
                lambda m: m.for_customer("x", 8, True, history={"a1": 1}),
                lambda m: m.for_cart(["b0"], None, 6),
                lambda m: m.similar("b5", 6)):
        assert_alike(ask(old), ask(fresh))


def assert_alike(answer: Answer, other: Answer) -> None:
    """Same strategy, products and reasons, scores within 3% of the best one: a fit by other
    versions of implicit, numpy or BLAS moves the factors a little, never a strategy or a
    product."""
    assert answer.strategy == other.strategy
    mine = {r.product_id: (r.reason, r.score) for r in answer.items}
    theirs = {r.product_id: (r.reason, r.score) for r in other.items}
    assert mine.keys() == theirs.keys()
    top = max((abs(score) for _reason, score in theirs.values()), default=0.0)
    for product, (reason, score) in mine.items():
        assert reason == theirs[product][0]
        assert score == pytest.approx(theirs[product][1], abs=0.03 * top), product


def test_an_unchanged_history_serves_the_trained_taste_and_a_new_order_folds_in(
        model, purchases) -> None:
    """A customer with no order since training is answered from the trained factors (no
    fold-in: the same answer as without a history); one more order recomputes their taste."""
    customer = "c3"
    orders: dict[str, set[str]] = {}
    for purchase in purchases:  # orders holding each product, as the order store counts them
        if purchase.customer_id == customer:
            orders.setdefault(purchase.product_id, set()).add(purchase.order_id)
    counts = {product: len(held) for product, held in orders.items()}
    for exclude in (False, True):
        trained = model.for_customer(customer, 8, exclude)
        assert model.for_customer(customer, 8, exclude, history=counts) == trained
    more = {**counts, "p9": counts.get("p9", 0) + 3}
    assert model.for_customer(customer, 8, True, history=more) != \
        model.for_customer(customer, 8, True)


# ---- next-basket parts: learned repeats, customer neighbours ---------------------------------

NEXT_BASKET = Config(repeat_model=True, customers="tifu", customers_k=20, nurture_customers=0.5,
                     discovery_customers=1.0, discovery_neighbours=0.0, discovery_taste=0.0,
                     discovery_trending=0.0)


@pytest.fixture(scope="module")
def next_basket_model() -> ShopModel:
    return ShopModel.train(repeat_heavy_shop(customers=160), NEXT_BASKET)


def test_next_basket_parts_are_trained_saved_without_pickle_and_read_back(
        next_basket_model) -> None:
    m = next_basket_model
    assert m.next_basket.repeat is not None and m.next_basket.customers is not None
    assert m.config.strategy == "als+copurchase+tifu, repeats learned"
    raw = m.to_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        names = set(arrays.files)
    assert {"user_repeat_data", "customers_data", "customers_indices"} <= names
    assert "user_repeat_indices" not in names  # user_items' structure, stored once
    loaded = ShopModel.from_bytes(raw)
    for ask in (lambda x: x.for_customer("c5", 10, False), lambda x: x.for_customer("c5", 10, True),
                lambda x: x.buy_again("c9", 6),
                lambda x: x.for_customer("c5", 10, False, history={"p0": 9, "p3": 1})):
        assert ask(loaded) == ask(m)


def test_discovery_by_customer_neighbours_names_what_the_group_buys(next_basket_model) -> None:
    """Discovery weighs customer neighbours alone: never a purchase, and first the products
    of the customer's group (p0-p14 for c0, c4, ...) they did not buy yet."""
    m = next_basket_model
    group = {f"p{n}" for n in range(15)}
    for customer in ("c0", "c4", "c8", "c12"):
        found = [r.product_id for r in m.for_customer(customer, 5, True).items]
        assert len(found) == 5 and not set(found) & m.purchased_by(customer)
        left = len(group - m.purchased_by(customer))
        assert set(found[:min(left, 5)]) <= group


def test_learned_repeats_serve_buy_again_and_count_new_orders(next_basket_model) -> None:
    m = next_basket_model
    bought = m.purchased_by("c3")
    again = m.buy_again("c3", 4)
    assert [r.reason for r in again.items] == ["buy_again"] * 4
    assert {r.product_id for r in again.items} <= bought
    row = list(m.user_ids).index("c3")
    counts = {m.item_ids[j]: int(n) for j, n in zip(m.user_items[row].indices,
                                                      m.user_items[row].data, strict=True)}
    assert m.buy_again("c3", 4, history=counts) == again  # nothing new: as trained
    counts["p0"] = 1  # bought since training: an order counts 1, above any learned chance
    assert m.buy_again("c3", 1, history=counts).items[0].product_id == "p0"
    stranger = m.for_customer("nobody", 5, False, history={"p1": 2, "p2": 1})
    assert [r.product_id for r in stranger.items[:2]] == ["p1", "p2"]


def test_erasure_drops_the_customer_from_the_next_basket_parts(next_basket_model) -> None:
    m = next_basket_model
    cleaned = m.without_customers(["c1"])
    assert cleaned.next_basket.repeat is not None and cleaned.next_basket.customers is not None
    assert cleaned.next_basket.repeat.shape[0] == len(m.user_ids) - 1
    assert cleaned.next_basket.customers.matrix.shape[0] == len(m.user_ids) - 1
    assert cleaned.for_customer("c2", 8, True) == m.for_customer("c2", 8, True)


def test_a_burst_with_next_basket_parts_gets_the_answers_asked_alone(next_basket_model) -> None:
    m = next_basket_model
    asked: list[tuple[str, dict[str, int] | None]] = [
        ("c1", None), ("c2", {"p16": 3}), ("nobody", None), ("new", {"p40": 1})]
    for exclude in (False, True):
        assert m.for_customers(asked, 6, exclude) == [
            m.for_customer(c, 6, exclude, history=h) for c, h in asked]
