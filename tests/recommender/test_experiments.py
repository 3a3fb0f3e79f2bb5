"""recommender.experiments: tests that can fail. Simulated shops with a fixed seed: A/A
experiments flag a difference about 5% of the time, a true 20% lift in conversion is found
about 80% of the time at the documented sample size, a skewed split is a sample-ratio
mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import experiments

RUNS = 200


def _visitors(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Revenue per visitor: most buy nothing, buyers spend a log-normal amount (heavy-tailed:
    a few large orders)."""
    bought = rng.random(n) < rate
    return np.where(bought, rng.lognormal(mean=3.5, sigma=1.0, size=n), 0.0)


def test_a_a_experiments_flag_a_difference_about_five_percent_of_the_time() -> None:
    rng = np.random.default_rng(2026)
    rates, revenue = 0, 0
    for _ in range(RUNS):
        a, b = _visitors(rng, 3000, 0.03), _visitors(rng, 3000, 0.03)
        rates += experiments.proportions(int((a > 0).sum()), a.size,
                                         int((b > 0).sum()), b.size).significant
        revenue += experiments.means(a, b).significant
    assert 0.02 <= rates / RUNS <= 0.08, rates
    assert 0.02 <= revenue / RUNS <= 0.08, revenue  # Welch holds on heavy-tailed revenue


def test_a_true_twenty_percent_lift_is_found_at_the_documented_sample_size() -> None:
    needed = experiments.proportions_sample_size(0.05, 0.06)
    assert needed is not None and 8_000 <= needed <= 8_300  # textbook: about 8,160 per arm
    rng = np.random.default_rng(7)
    found = sum(experiments.proportions(int(rng.binomial(needed, 0.05)), needed,
                                        int(rng.binomial(needed, 0.06)), needed).significant
                for _ in range(RUNS))
    assert 0.72 <= found / RUNS <= 0.88, found  # 80% power, as promised
    half = needed // 2  # with half the visitors the test finds it far less often
    weaker = sum(experiments.proportions(int(rng.binomial(half, 0.05)), half,
                                         int(rng.binomial(half, 0.06)), half).significant
                 for _ in range(RUNS))
    assert weaker / RUNS < 0.6


def test_a_revenue_lift_is_found_and_its_interval_holds_the_truth() -> None:
    rng = np.random.default_rng(11)
    a, b = _visitors(rng, 20_000, 0.05), _visitors(rng, 20_000, 0.06)
    result = experiments.means(a, b)
    true_difference = (0.06 - 0.05) * np.exp(3.5 + 0.5)
    assert result.significant and result.p_value < 0.05
    assert result.low <= true_difference <= result.high
    assert result.relative is not None and 0.05 < result.relative < 0.4
    assert result.needed_per_arm is not None and result.needed_per_arm < 20_000


def test_the_rate_interval_and_p_value_agree_with_a_hand_computation() -> None:
    result = experiments.proportions(100, 1000, 130, 1000)
    assert result.difference == pytest.approx(0.03)
    assert result.relative == pytest.approx(0.3)
    pooled = 230 / 2000
    z = 0.03 / np.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert z == pytest.approx(2.1027, abs=1e-4)  # statsmodels proportions_ztest: 2.1027
    assert result.p_value == pytest.approx(0.03549, abs=1e-5)
    se = np.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert (result.low, result.high) == pytest.approx((0.03 - 1.959964 * se,
                                                       0.03 + 1.959964 * se))
    assert result.significant


def test_edge_cases_say_no_difference_or_refuse() -> None:
    assert experiments.proportions(0, 50, 0, 60).p_value == 1.0
    assert experiments.proportions(0, 50, 0, 60).needed_per_arm is None
    assert experiments.means([0, 0, 0], [0, 0]).p_value == 1.0
    with pytest.raises(ValueError):
        experiments.proportions(1, 0, 1, 10)
    with pytest.raises(ValueError):
        experiments.proportions(11, 10, 1, 10)
    with pytest.raises(ValueError):
        experiments.means([1.0], [1.0, 2.0])


def test_a_skewed_split_is_a_sample_ratio_mismatch() -> None:
    assert experiments.sample_ratio([5000, 5400], [0.5, 0.5]).mismatch
    assert not experiments.sample_ratio([5000, 5100], [0.5, 0.5]).mismatch
    assert not experiments.sample_ratio([2000, 8010], [20, 80]).mismatch  # shares, any scale
    assert experiments.sample_ratio([2500, 7500], [0.5, 0.5]).mismatch
    assert experiments.sample_ratio([0, 0], [1, 1]).p_value == 1.0
    rng = np.random.default_rng(3)  # a fair 50/50 split is rarely flagged
    flagged = sum(experiments.sample_ratio(list(rng.multinomial(10_000, [0.5, 0.5])),
                                           [1, 1]).mismatch for _ in range(RUNS))
    assert flagged <= 2
    with pytest.raises(ValueError):
        experiments.sample_ratio([1, 2], [1])
