"""Per-shop choice of strategy (recommender.tuning) and the strategies it chooses among."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from recommender import search, tuning
from recommender.matrix import Purchase
from recommender.plain import BASELINES, POPULARITY
from recommender.shop_model import Config, ShopModel
from recommender.tuning import choose, describe_choice, train_tuned
from tests.helpers import auth, bundle_orders, order_payload, send_orders, train

DAY = 86400.0
START = 1_700_000_000.0


def bundle_shop(customers: int = 300, seed: int = 1) -> list[Purchase]:
    """30 products in 10 bundles of 3 (p0-p2, p3-p5, ...); each customer keeps to one bundle
    and buys 2 or 3 of its products per order, 4 orders over 120 days. Bundles' popularity is
    skewed, so popularity alone gets some carts right, neighbours get nearly all."""
    rng = np.random.default_rng(seed)
    weights = np.arange(10, 0, -1) / np.arange(10, 0, -1).sum()
    rows = []
    for c in range(customers):
        bundle = int(rng.choice(10, p=weights))
        for n in range(4):
            at = START + float(rng.uniform(0, 120)) * DAY
            size = int(rng.integers(2, 4))
            for item in rng.choice(3, size=size, replace=False):
                rows.append(Purchase(f"o{c}-{n}", f"c{c}", f"p{bundle * 3 + int(item)}", 1, at))
    return rows


def staples_shop(customers: int = 300, seed: int = 2) -> list[Purchase]:
    """40 products with Zipf-like popularity; every order draws 3 products from it,
    independent of the customer and of each other: nothing to learn beyond popularity."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 41)
    weights /= weights.sum()
    rows = []
    for c in range(customers):
        for n in range(4):
            at = START + float(rng.uniform(0, 120)) * DAY
            for item in rng.choice(40, size=3, replace=False, p=weights):
                rows.append(Purchase(f"o{c}-{n}", f"c{c}", f"p{int(item)}", 1, at))
    return rows


def test_a_bundle_shop_gets_neighbours_for_its_carts() -> None:
    choice = choose(bundle_shop(), budget_seconds=60)
    scores = choice.report["scores"]
    assert choice.report["chosen_by"] == "time-split validation"
    assert choice.config.cart_neighbours > 0
    assert scores["chosen"]["upsell"] > 1.5 * scores["popularity"]["upsell"]
    assert scores["chosen"]["upsell"] >= scores["default"]["upsell"] - 1e-9


def test_a_shop_of_staples_gets_popularity_for_its_carts() -> None:
    choice = choose(staples_shop(), budget_seconds=60)
    scores = choice.report["scores"]
    # co-purchase of independent draws is noise (biased towards rare products): the choice
    # leans on what sells, and beats the default blend that trusts co-purchase
    assert choice.config.cart_trending > 0
    assert scores["chosen"]["upsell"] > scores["default"]["upsell"]
    assert scores["chosen"]["upsell"] >= 0.95 * scores["popularity"]["upsell"]


@pytest.mark.parametrize("carts_better", [True, False])
def test_carts_take_the_neighbours_that_complete_them_best(monkeypatch, carts_better) -> None:
    """Carts are chosen on their own: where BM25 completes the held-out carts better than the
    neighbours the other tasks share, carts get BM25 (and its weights and score); where it
    does not, carts keep the shared ones (no second set of neighbours to fit and store)."""
    run = search.Search.run

    def rigged(search: search.Search) -> None:
        run(search)
        for (task, _, kind, half_life), (score, weights) in list(search.results.items()):
            if task == "upsell" and kind == "bm25":  # BM25 wins or loses every cart grid
                search.results[task, "*", kind, half_life] = (
                    (score + 0.5, weights) if carts_better else (-1.0, weights))

    monkeypatch.setattr(search.Search, "run", rigged)
    choice = choose(bundle_shop(customers=150), budget_seconds=600)
    config = choice.config
    wanted = "bm25" if carts_better else "copurchase"
    assert config.cart_kind == wanted
    assert config.cart_neighbours_kind == ("" if config.neighbours == wanted else wanted)
    if carts_better:
        assert choice.report["scores"]["chosen"]["upsell"] > 0.5  # BM25's rigged score
        blends = choice.report["strategy"].split(";")[0]  # then any task's fallback
        assert config.neighbours == "bm25" or blends.endswith(", carts bm25")


@pytest.mark.parametrize("make_shop", [bundle_shop, staples_shop])
def test_the_choice_never_scores_below_a_baseline_on_validation(make_shop) -> None:
    report = choose(make_shop(), budget_seconds=60).report
    for task, chosen in report["scores"]["chosen"].items():
        assert chosen >= max(report["baselines"][task].values())


@pytest.mark.parametrize("baseline_wins", [True, False])
def test_a_task_no_blend_beats_falls_back_to_the_best_baseline(monkeypatch,
                                                                baseline_wins) -> None:
    """Popularity rigged to score 1.0 (beats anything) on the carts, or every baseline 0.0:
    the carts, and only they, fall back to popularity, and the model the choice trains
    serves them by it; or no task falls back to it."""
    run = search.Search.run

    def rigged(search: search.Search) -> None:
        run(search)
        for name in search.baselines["upsell"]:  # popularity beats all, or none does
            search.baselines["upsell"][name] = float(baseline_wins and name == POPULARITY)

    monkeypatch.setattr(search.Search, "run", rigged)
    purchases = bundle_shop(customers=150)
    model, choice = train_tuned(purchases, budget_seconds=600)
    verdict = choice.report["tasks"]["upsell"]
    if baseline_wins:
        assert choice.config.cart_fallback == POPULARITY
        assert choice.report["scores"]["chosen"]["upsell"] == 1.0
        assert verdict["served_by"] == POPULARITY and verdict["why"].startswith("no blend beat")
        assert model.for_cart(["p0"], None, 3).strategy == POPULARITY
    else:
        assert choice.config.cart_fallback == ""
        assert verdict["served_by"].startswith("blend of ")
        assert verdict["why"].startswith("the best blend scores 1.0000, every baseline scores")
    assert "popularity" not in (choice.config.nurture_fallback,
                                choice.config.discovery_fallback)


def test_a_large_catalog_is_validated_on_fewer_cases(monkeypatch) -> None:
    """Cases x products of a task stay within MAX_CELLS (here 30 products x 40 cases), so a
    catalog of 68k products does not spend the budget on 1,500-row matrices."""
    monkeypatch.setattr(tuning, "MAX_CELLS", 30 * 40)
    report = choose(bundle_shop(), budget_seconds=60).report
    assert max(report["validation"]["cases"].values()) == 40
    monkeypatch.setattr(tuning, "MAX_CELLS", 30)  # never below MIN_CASES
    report = choose(bundle_shop(), budget_seconds=60).report
    assert max(report["validation"]["cases"].values()) == tuning.MIN_CASES


def test_the_report_names_every_candidate_and_fits_the_budget() -> None:
    # a budget no machine runs out of here: the report must list every candidate
    choice = choose(bundle_shop(customers=150), budget_seconds=600)
    report = choice.report
    assert report["personal_models_tried"] == ["als", "als factors=16", "als regularization=1.0",
                                               "bpr"]
    assert set(report["scores"]) == {"chosen", "default", "popularity"}
    assert set(report["validation"]["cases"]) == {"nurture", "discovery", "upsell"}
    assert report["budget_exhausted"] is False
    assert 0 < report["seconds"] <= report["budget_seconds"]
    assert "validated on" in describe_choice(choice)


def test_a_personal_model_that_would_end_past_the_budget_is_not_started(monkeypatch) -> None:
    """A fake clock on which each grid of scores takes 10 s: the first personal model ends at
    60 s of a 70 s budget after 40 s of its own, so the next one (at least as costly) would
    end past it and is not fitted; the whole choice stays within its budget."""
    clock = [0.0]
    monkeypatch.setattr(tuning, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    grid = search.Search._grid

    def slow(search: search.Search, *args: object, **kwargs: object) -> None:
        grid(search, *args, **kwargs)  # type: ignore[arg-type]
        clock[0] += 10.0

    monkeypatch.setattr(search.Search, "_grid", slow)
    choice = choose(bundle_shop(customers=150), budget_seconds=70)
    assert choice.report["personal_models_tried"] == ["als"]
    assert choice.report["budget_exhausted"] and choice.report["seconds"] <= 70


def test_a_spent_budget_stops_after_the_first_personal_model() -> None:
    choice = choose(bundle_shop(customers=150), budget_seconds=1e-9)
    assert choice.report["personal_models_tried"] == ["als"]
    assert choice.report["budget_exhausted"] is True


@pytest.mark.parametrize(("purchases", "why"), [
    ([], "no purchases"),
    ([Purchase("o1", "c1", "p1", 1, START), Purchase("o2", "c1", "p2", 1, START + DAY)],
     "history spans 1 days"),
])
def test_too_little_history_keeps_the_defaults(purchases, why) -> None:
    choice = choose(purchases)
    assert choice.config == Config() and why in choice.report["why"]


def test_too_few_held_out_cases_keep_the_defaults() -> None:
    rows = [Purchase(f"o{n}", f"c{n % 3}", f"p{n % 4}", 1, START + 10 * n * DAY)
            for n in range(8)]
    choice = choose(rows)
    assert choice.config == Config() and "too few held-out cases" in choice.report["why"]


def test_a_choice_of_the_defaults_says_why() -> None:
    assert describe_choice(choose([])) == "als+copurchase (defaults: no purchases)"


def test_no_budget_keeps_the_defaults() -> None:
    choice = choose(bundle_shop(customers=100), budget_seconds=0)
    assert choice.config == Config() and choice.report["chosen_by"] == "defaults"


def test_the_chosen_config_is_stored_with_the_model() -> None:
    model, choice = train_tuned(staples_shop(customers=120), budget_seconds=30)
    again = ShopModel.from_bytes(model.to_bytes())
    assert again.config == choice.config == model.config


def test_the_model_endpoint_shows_the_choice_and_its_scores(http, shop) -> None:
    send_orders(http, shop, bundle_orders())
    assert train(http, shop).status_code == 200
    body = http.get(f"/api/v1/shops/{shop.shop.shop_id}/model", headers=auth(shop)).json()
    model = body["model"]
    choice = model["choice"]
    assert choice["chosen_by"] == "time-split validation"
    assert set(choice["scores"]["chosen"]) <= {"nurture", "discovery", "upsell"}
    assert choice["scores"]["chosen"]["upsell"] >= choice["scores"]["popularity"]["upsell"]
    assert model["strategy"] == choice["strategy"] == Config(**model["config"]).strategy
    assert choice["strategy"].startswith(f"{model['config']['cf']}+")
    # every task: each baseline's and each blend's validation score, and what serves it, why
    for task in choice["scores"]["chosen"]:
        assert set(choice["baselines"][task]) == set(BASELINES)
        assert len(choice["candidates"][task]) >= 3
        verdict = choice["tasks"][task]
        served = verdict["served_by"]
        assert served in BASELINES or served.startswith("blend of ")
        assert verdict["best_baseline"] in verdict["why"]
        assert choice["scores"]["chosen"][task] >= max(choice["baselines"][task].values())
    together = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/products/101",
                        params={"kind": "bought_together", "limit": 2}, headers=auth(shop))
    assert {i["product_id"] for i in together.json()["items"]} == {"102", "103"}


def test_retraining_reuses_a_recent_choice_until_asked_to_choose_again(http, shop) -> None:
    orders = [order_payload(20_000 + n, n % 40, [101 + n % 5, 102 + n % 5],
                            created_at=f"2025-{1 + n // 28 % 3:02d}-{1 + n % 28:02d}T09:00:00Z")
              for n in range(240)]
    send_orders(http, shop, orders)
    path = f"/api/v1/shops/{shop.shop.shop_id}/model/train"
    first = http.post(path, params={"wait": "true"}, headers=auth(shop)).json()["model"]
    assert first["choice"]["chosen_by"] == "time-split validation"
    again = http.post(path, params={"wait": "true"}, headers=auth(shop)).json()["model"]
    assert again["choice"]["chosen_at"] == first["choice"]["chosen_at"]
    assert again["config"] == first["config"]
    fresh = http.post(path, params={"wait": "true", "retune": "true"},
                      headers=auth(shop)).json()["model"]
    assert fresh["choice"]["chosen_at"] > first["choice"]["chosen_at"]
    bad = http.post(path, params={"wait": "true", "retune": "maybe"}, headers=auth(shop))
    assert bad.status_code == 400 and "retune" in bad.json()["detail"]
