"""An experiment's results (plugin.engine.experiment_results) on a small scripted experiment
whose every figure is worked out by hand here; the tests against the control checked with
scipy's own tests; the sample-ratio check and the verdicts in words."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from scipy import stats

from plugin.engine.experiment_results import experiment_results
from plugin.store.experiment_data import CountedOrder, ExperimentData
from plugin.store.experiments import Experiment, new_experiment

NOW = 1_800_000_000.0


def experiment(second: str = "popularity", shares: tuple[int, int] = (50, 50)) -> Experiment:
    return new_experiment("test", "bundle", [
        {"name": "A", "strategy": "chosen", "share": shares[0]},
        {"name": "B", "strategy": second, "share": shares[1]}], NOW)


def counted(arm: int, **counts: int) -> dict[str, int]:
    return {f"{arm}:{name}": n for name, n in counts.items()}


def order(order_id: str, unit: str, arm: int, value: str, currency: str = "EUR"
          ) -> CountedOrder:
    return CountedOrder(order_id, unit, arm, currency, Decimal(value))


SCRIPTED = ExperimentData(
    {**counted(0, visitors=10, impression=40, click=4, clicked=3, add_to_cart=2, added=2),
     **counted(1, visitors=10, impression=50, click=10, clicked=6, add_to_cart=5, added=4)},
    (order("1", "v:a1", 0, "20.00"), order("2", "v:a1", 0, "10.00"),
     order("3", "v:a2", 0, "5.00", "USD"), order("4", "v:b1", 1, "30.00"),
     order("5", "v:b2", 1, "15.00"), order("6", "v:b3", 1, "45.00")))


def comparison(results: dict[str, Any], metric: str, currency: str | None = None
               ) -> dict[str, Any]:
    return next(c for c in results["comparisons"]
                if c["metric"] == metric and c["currency"] == currency)


def test_each_arms_figures_by_hand() -> None:
    a, b = experiment_results(experiment(), SCRIPTED, NOW)["arms"]
    assert (a["visitors"], a["impressions"], a["clicks"], a["add_to_carts"]) == (10, 40, 4, 2)
    assert (a["orders"], a["converted"]) == (3, 2)  # a1 ordered twice
    assert (a["ctr"], a["click_rate"], a["add_to_cart_rate"], a["conversion_rate"]) == \
        (0.1, 0.3, 0.2, 0.2)
    assert a["revenue"] == {"EUR": "30.00", "USD": "5.00"}  # never converted
    assert a["revenue_per_visitor"] == {"EUR": "3.00", "USD": "0.50"}
    assert a["aov"] == {"EUR": "15.00", "USD": "5.00"}
    assert (b["orders"], b["converted"], b["conversion_rate"], b["ctr"]) == (3, 3, 0.3, 0.2)
    assert b["revenue"] == {"EUR": "90.00", "USD": "0"}
    assert b["revenue_per_visitor"] == {"EUR": "9.00", "USD": "0.00"}
    assert b["aov"] == {"EUR": "30.00", "USD": None}


def test_rates_are_compared_per_visitor_with_the_z_test() -> None:
    results = experiment_results(experiment(), SCRIPTED, NOW)
    conversion = comparison(results, "conversion_rate")
    assert (conversion["arm"], conversion["control"], conversion["treatment"]) == ("B", 0.2, 0.3)
    pooled = 5 / 20
    z = 0.1 / (pooled * (1 - pooled) * (2 / 10)) ** 0.5
    assert conversion["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert comparison(results, "click_rate")["treatment"] == 0.6
    assert comparison(results, "add_to_cart_rate")["difference"] == pytest.approx(0.2)


def test_revenue_per_visitor_is_welchs_test_with_the_zeros_per_currency() -> None:
    results = experiment_results(experiment(), SCRIPTED, NOW)
    eur = comparison(results, "revenue_per_visitor", "EUR")
    control, treatment = [30.0] + [0.0] * 9, [30.0, 15.0, 45.0] + [0.0] * 7
    assert (eur["control"], eur["treatment"], eur["difference"]) == (3.0, 9.0, 6.0)
    assert eur["p_value"] == pytest.approx(stats.ttest_ind(treatment, control,
                                                           equal_var=False).pvalue)
    usd = comparison(results, "revenue_per_visitor", "USD")
    assert (usd["control"], usd["treatment"]) == (0.5, 0.0)


def test_a_holdout_arm_has_no_click_rate_to_compare() -> None:
    results = experiment_results(experiment("holdout"), SCRIPTED, NOW)
    assert {c["metric"] for c in results["comparisons"]} == {
        "conversion_rate", "add_to_cart_rate", "revenue_per_visitor"}


def test_too_few_visitors_says_how_many_are_needed() -> None:
    results = experiment_results(experiment(), SCRIPTED, NOW)
    needed = comparison(results, "conversion_rate")["needed_per_arm"]
    assert needed > 10
    assert results["verdicts"] == [
        f"B: not enough visitors yet to tell — about {needed:,} per arm are needed to detect "
        "a difference of this size (10 so far)"]
    assert results["sample_ratio"]["mismatch"] is False


def test_a_clear_lift_is_said_with_its_interval_and_p_value() -> None:
    found = ExperimentData({**counted(0, visitors=2000), **counted(1, visitors=2000)},
                           tuple(order(f"a{n}", f"v:a{n}", 0, "10") for n in range(100))
                           + tuple(order(f"b{n}", f"v:b{n}", 1, "10") for n in range(160)))
    (verdict,) = experiment_results(experiment(), found, NOW)["verdicts"]
    assert verdict.startswith("B lifts conversion by 60% (95% CI +")
    assert verdict.endswith("against A, p < 0.001")


def test_a_skewed_split_is_flagged_first() -> None:
    found = ExperimentData({**counted(0, visitors=1000), **counted(1, visitors=850)}, ())
    results = experiment_results(experiment(), found, NOW)
    assert results["sample_ratio"]["mismatch"] is True
    assert results["sample_ratio"]["observed"] == [1000, 850]
    assert results["verdicts"][0].startswith("Sample-ratio mismatch (p < 0.001)")


def test_no_orders_yet_is_said_so() -> None:
    found = ExperimentData({**counted(0, visitors=50), **counted(1, visitors=50)}, ())
    assert experiment_results(experiment(), found, NOW)["verdicts"] == [
        "B: no orders from either arm's visitors yet"]


def test_an_arm_without_visitors_has_no_comparison_yet() -> None:
    results = experiment_results(experiment(), ExperimentData({}, ()), NOW)
    assert results["comparisons"] == [] and results["arms"][0]["conversion_rate"] is None
    assert results["verdicts"] == ["B: no visitors in both arms yet"]
