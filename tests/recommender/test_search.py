"""The per-shop choice's search (recommender.search): its next-basket candidates (learned
repeats, customer neighbours) on held-out next baskets, and the configuration they choose."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import search
from recommender.candidates import customer_candidates
from recommender.tuning import choose, train_tuned
from tests.recommender.repeat_shop import repeat_heavy_shop
from tests.recommender.test_tuning import staples_shop


@pytest.fixture(scope="module")
def shop() -> list:
    return repeat_heavy_shop(customers=160)


def test_every_customer_candidate_is_scored_and_the_repeats_are_learned(shop) -> None:
    report = choose(shop, budget_seconds=600).report
    tried = report["customer_neighbours"]["tried"]
    assert len(tried) == len(customer_candidates())
    for scores in tried.values():
        assert set(scores) == {"nurture", "discovery"}
    assert report["repeats_learned"] is True
    for task, chosen in report["scores"]["chosen"].items():
        assert chosen >= max(report["baselines"][task].values())


def rig(monkeypatch, part: str) -> None:
    """After the next-basket step, make customer neighbours (or the learned repeats) name
    each case's next basket exactly: the choice must then take them."""
    step = search.Search._customer_neighbours

    def rigged(found: search.Search) -> None:
        step(found)
        if part == "customers":
            found.customers = customer_candidates()[1]
            found.customer_rows = {"nurture": found.nurture.known.astype(float),
                                   "discovery": found.discovery.known.astype(float)}
        else:
            found.n_own[2] = found.nurture.known.astype(float)

    monkeypatch.setattr(search.Search, "_customer_neighbours", rigged)


def test_customer_neighbours_that_help_are_chosen_and_served(monkeypatch, shop) -> None:
    rig(monkeypatch, "customers")
    model, choice = train_tuned(shop, budget_seconds=600)
    config = choice.config
    assert config.customers == "upcf" and config.upcf_recency == 10
    assert config.nurture_customers > 0 and config.discovery_customers > 0
    assert choice.report["scores"]["chosen"]["nurture"] > 0.95
    assert "+upcf" in config.strategy
    assert model.next_basket.customers is not None
    answer = model.for_customer("c1", 5, True)
    assert len(answer.items) == 5


def test_learned_repeats_that_help_are_chosen_and_served(monkeypatch, shop) -> None:
    rig(monkeypatch, "repeats")
    model, choice = train_tuned(shop, budget_seconds=600)
    assert choice.config.repeat_model and not choice.config.rebuy_weighting
    assert ", repeats learned" in choice.config.strategy
    assert model.next_basket.repeat is not None
    assert model.for_customer("c1", 5, False).items[0].reason == "buy_again"


def test_without_customer_neighbours_no_blend_weighs_them(monkeypatch) -> None:
    def none_help(found: search.Search) -> None:
        found.customers = None

    monkeypatch.setattr(search.Search, "_customer_neighbours", none_help)
    choice = choose(staples_shop(customers=120), budget_seconds=600)
    assert choice.config.customers == "" and not choice.config.uses_customers
    assert choice.report["customer_neighbours"] == {"tried": {}, "chosen": None}


def test_customer_weights_are_a_second_step_around_the_best_blend(shop) -> None:
    """The customer neighbours' weights are tried with the half-life that scored best
    without them, the other weights of that blend or 0: far fewer than every combination."""
    scored = []
    grid = search.Search._grid

    def counting(found: search.Search, task, key, weights, *args, **kwargs) -> None:
        scored.append((task.name, len(weights), kwargs.get("half_lives", search.HALF_LIVES)))
        grid(found, task, key, weights, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search.Search, "_grid", counting)
        report = choose(shop, budget_seconds=600).report
    if report["customer_neighbours"]["chosen"] is None:
        pytest.skip("no customer neighbours lift this shop's small blend")
    second = [entry for entry in scored if len(entry[2]) == 1]
    assert second and all(task in ("nurture", "discovery") for task, _, _ in second)
    # each other weight as in the best blend or 0, 2 customer and up to 5 trending weights
    assert max(size for _, size, _ in second) <= 2 * 2 * 2 * 5
    assert np.mean([size for _, size, _ in second]) < len(search.NURTURE_GRID) / 2
