"""Plain rankings (recommender.plain): on the same cases, each baseline's score matrix scores
what `shopreco evaluate` scores for the baseline; stored and read back, and asked for
customers whose purchases changed since training, they rank the same way."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from recommender.baselines import BM25ItemKNN, CoOccurrence, ImplicitALS, OwnHistory, Popularity
from recommender.config import Config
from recommender.evaluation import (
    build_cases,
    discovery_score,
    nurture_score,
    upsell_score,
)
from recommender.matrix import Purchase, build_interactions
from recommender.npz import npz_bytes
from recommender.plain import (
    ALS_DEFAULTS,
    BASELINES,
    BM25,
    CO_OCCURRENCE,
    IMPLICIT_ALS_ALPHA,
    IMPLICIT_ALS_REGULARIZATION,
    MANY_ROWS,
    NEWEST,
    OWN_HISTORY,
    POPULARITY,
    Plain,
)
from recommender.shop_model import Answer, ShopModel
from recommender.validation import Task, relevance, score_exactly, sparse_rows

DAY = 86400.0
CLASSES = {POPULARITY: Popularity, OWN_HISTORY: OwnHistory, CO_OCCURRENCE: CoOccurrence,
           ALS_DEFAULTS: ImplicitALS, BM25: BM25ItemKNN}


def shop(seed: int) -> list[Purchase]:
    """60 customers, 40 products in 8 groups of 5 with skewed popularity; each customer keeps
    mostly to one group and orders 2-4 products, 5 orders over 100 days, some products again."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 9)
    rows = []
    for c in range(60):
        group = int(rng.choice(8, p=weights / weights.sum()))
        for n in range(5):
            at = float(rng.uniform(0, 100)) * DAY
            for item in rng.choice(5, size=int(rng.integers(2, 5)), replace=False):
                product = group * 5 + int(item) if rng.random() < 0.8 else int(rng.integers(40))
                rows.append(Purchase(f"o{c}-{n}", f"c{c}", f"p{product}", 1, at))
    return rows


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_scores_what_evaluate_scores(name: str, seed: int) -> None:
    purchases = shop(seed)
    train = [p for p in purchases if p.timestamp < 75 * DAY]
    test = [p for p in purchases if p.timestamp >= 75 * DAY]
    cases = build_cases(train, test, seed)
    assert len(cases.nurture) > 20 and len(cases.discovery) > 10 and len(cases.upsell) > 20
    baseline = CLASSES[name]()
    baseline.fit(train)
    wanted = (nurture_score(baseline, cases, 10), discovery_score(baseline, cases, 10),
              upsell_score(baseline, cases, 10))

    data = build_interactions(train)
    scores = Plain.fit(data)
    index = {item: i for i, item in enumerate(data.item_ids.tolist())}
    users = {user: u for u, user in enumerate(data.user_ids.tolist())}
    n_users = np.array([users[c] for c, _ in cases.nurture])
    d_users = np.array([users[c] for c, _ in cases.discovery])
    nurture = Task("nurture", *relevance(cases.nurture, index, data.n_items), None)
    discovery = Task("discovery", *relevance(cases.discovery, index, data.n_items),
                     data.user_items[d_users].toarray() > 0)
    carts = sparse_rows([[index[p] for p in cart if p in index] for cart, _ in cases.upsell],
                        data.n_items)
    hidden = np.zeros(carts.shape, dtype=bool)
    for row, (_, product) in enumerate(cases.upsell):
        hidden[row, index[product]] = product in index
    upsell = Task("upsell", hidden, None, carts.toarray() > 0)
    got = (score_exactly(nurture, scores.customers(name, n_users, data.user_items[n_users])),
           score_exactly(discovery, scores.customers(name, d_users, data.user_items[d_users])),
           score_exactly(upsell, scores.carts(name, carts)))
    if name in (ALS_DEFAULTS, BM25):  # implicit breaks ties of equal scores its own way
        sizes = (len(cases.nurture), len(cases.discovery), len(cases.upsell))
        for mine, theirs, size in zip(got, wanted, sizes, strict=True):
            assert abs(mine - theirs) <= 2.0 / size
    else:  # ours: the same lists
        assert got == pytest.approx(wanted, abs=1e-9)
    assert min(wanted) > 0  # every task scores something: a wrong ranking would show


def test_an_unknown_baseline_is_refused() -> None:
    data = build_interactions(shop(1))
    with pytest.raises(ValueError, match="no baseline"):
        Plain.fit(data, ["magic"])
    with pytest.raises(ValueError, match="'co-occurrence' was not fitted"):
        Plain.fit(data, [POPULARITY]).carts(CO_OCCURRENCE, data.user_items[:1])


def test_the_fold_in_uses_implicits_own_defaults() -> None:
    defaults = AlternatingLeastSquares()
    assert (defaults.regularization, defaults.alpha) == (IMPLICIT_ALS_REGULARIZATION,
                                                         IMPLICIT_ALS_ALPHA)


def test_stored_and_read_back_every_baseline_ranks_the_same() -> None:
    data = build_interactions(shop(1))
    plain = Plain.fit(data)
    with np.load(io.BytesIO(npz_bytes(plain.to_arrays())), allow_pickle=False) as arrays:
        again = Plain.from_arrays(arrays)
    assert again is not None
    users = np.arange(10)
    for name in BASELINES:
        assert np.array_equal(again.customers(name, users, data.user_items[users]),
                              plain.customers(name, users, data.user_items[users]))
        assert np.array_equal(again.carts(name, data.user_items[users]),
                              plain.carts(name, data.user_items[users]))
    with np.load(io.BytesIO(npz_bytes({"other": np.zeros(1)})), allow_pickle=False) as arrays:
        assert Plain.from_arrays(arrays) is None  # a model stored without plain rankings


def test_only_the_parts_named_are_fitted_and_stored() -> None:
    plain = Plain.fit(build_interactions(shop(1)), [POPULARITY])
    assert set(plain.to_arrays()) == {"plain_popular"}


def test_own_history_ranks_by_orders_then_by_the_latest_purchase() -> None:
    rows = [Purchase("o1", "c", "old", 1, 0.0), Purchase("o2", "c", "new", 1, 5 * DAY),
            Purchase("o3", "c", "twice", 1, 1 * DAY), Purchase("o4", "c", "twice", 1, 2 * DAY),
            Purchase("o5", "d", "popular", 1, 3 * DAY), Purchase("o6", "e", "popular", 1, DAY)]
    data = build_interactions(rows)
    plain = Plain.fit(data, [OWN_HISTORY])
    user = np.array([list(data.user_ids).index("c")])
    names = data.item_ids[np.argsort(-plain.customers(OWN_HISTORY, user,
                                                      data.user_items[user])[0], kind="stable")]
    assert names.tolist() == ["twice", "new", "old", "popular"]
    # the customer has bought "old" again since: as often as "twice", and newer than anything
    counts = data.user_items[user].toarray()
    counts[0, list(data.item_ids).index("old")] += 1
    assert plain.last is not None
    last = plain.last[user].toarray()
    last[0, list(data.item_ids).index("old")] = NEWEST
    fresh = plain.customers(OWN_HISTORY, np.array([-1]), sp.csr_matrix(counts),
                            sp.csr_matrix(last))
    assert data.item_ids[np.argsort(-fresh[0], kind="stable")].tolist()[:2] == ["old", "twice"]


def test_without_users_drops_their_rows() -> None:
    data = build_interactions(shop(1))
    plain = Plain.fit(data)
    keep = np.arange(data.n_users) % 2 == 0
    fewer = plain.without_users(keep)
    assert plain.last is not None and fewer.last is not None and fewer.als is not None
    assert fewer.last.shape[0] == fewer.als[0].shape[0] == keep.sum()
    kept = np.flatnonzero(keep)[:5]
    assert np.array_equal(fewer.customers(ALS_DEFAULTS, np.arange(5), data.user_items[kept]),
                          plain.customers(ALS_DEFAULTS, kept, data.user_items[kept]))


@pytest.mark.parametrize("name", BASELINES)
def test_a_model_that_falls_back_serves_the_baselines_own_lists(name: str) -> None:
    """Every task falling back to `name`: the model's lists are the baseline's, after a trip
    through storage too."""
    train = shop(3)
    config = Config(nurture_fallback=name, discovery_fallback=name, cart_fallback=name)
    model = ShopModel.from_bytes(ShopModel.train(train, config).to_bytes())
    assert model.config.strategy.endswith(
        f"; nurture: {name}; discovery: {name}; cart: {name}")
    baseline = CLASSES[name]()
    baseline.fit(train)
    carts = [("p0", "p1"), ("p7",), ("p12", "p30", "p31")]
    asked = [(c, exclude) for c in ("c0", "c5", "c17", "c33") for exclude in (False, True)]
    ours = [ids(model.for_customer(c, 10, exclude)) for c, exclude in asked]
    ours += [ids(model.for_cart(cart, None, 10)) for cart in carts]
    theirs = [baseline.for_customer(c, 10, exclude) for c, exclude in asked]
    theirs += [baseline.for_cart(cart, 10) for cart in carts]
    assert ours == theirs
    assert model.for_customer("c5", 10, False).strategy == name


def ids(answer: Answer) -> list[str]:
    return [r.product_id for r in answer.items]


def test_a_fallback_answers_a_customer_with_new_purchases_and_forgets_an_erased_one() -> None:
    train = shop(3)
    model = ShopModel.train(train, Config(nurture_fallback=OWN_HISTORY,
                                          discovery_fallback=ALS_DEFAULTS))
    before = ids(model.for_customer("c5", 10, False))
    bought = dict(Counter(p.product_id for p in train if p.customer_id == "c5"))
    newest = max(model.item_ids.tolist(), key=lambda p: p not in bought)
    bought[newest] = max(bought.values())  # as often as their favourite, and just now
    fresh = ids(model.for_customer("c5", 10, False, history=bought))
    assert fresh[0] == newest and fresh != before
    assert newest not in ids(model.for_customer("c5", 10, True, history=bought))
    erased = model.without_customers(["c5"])
    assert not erased.knows_customer("c5") and erased.plain is not None
    assert ids(erased.for_customer("c6", 10, True)) == ids(model.for_customer("c6", 10, True))


def test_a_config_that_falls_back_needs_the_baselines() -> None:
    data = build_interactions(shop(1))
    model = ShopModel.from_interactions(data, Config(cart_fallback=POPULARITY))
    with pytest.raises(ValueError, match="fall back to baselines not given"):
        ShopModel(model.config, model.item_ids, model.user_ids, model.user_items, model.taste,
                  model.neighbours, model.trending_scores)


def test_co_occurrence_of_many_rows_scores_as_of_few() -> None:
    """At least MANY_ROWS rows of a small catalog take a dense product: the same scores."""
    data = build_interactions(shop(2))
    plain = Plain.fit(data, [CO_OCCURRENCE])
    users = np.arange(MANY_ROWS + 6) % data.n_users
    many = plain.customers(CO_OCCURRENCE, users, data.user_items[users])
    few = np.vstack([plain.customers(CO_OCCURRENCE, users[n:n + 8],
                                     data.user_items[users[n:n + 8]])
                     for n in range(0, len(users), 8)])
    assert np.allclose(many, few, rtol=0, atol=1e-4) and many.shape == (len(users), 40)
