"""The statistics of an A/B experiment: each arm against the control, honestly.

- **Rates** (click-through, add-to-cart, conversion): the two-proportion z-test. The p-value
  uses the pooled proportion (the null hypothesis says both arms share one rate); the 95%
  interval of the difference uses each arm's own variance (Wald, unpooled). With the tens of
  visitors per arm an experiment needs before it can say anything, the normal approximation is
  the textbook test (and what the commercial tools report).
- **Revenue per visitor**: Welch's t-test on the per-visitor revenue, zeros included. The
  owner's question is about the mean (total revenue = visitors x mean), so a rank test
  (Mann-Whitney) would answer another question (which arm tends to have larger values; with
  most visitors at zero it mostly tests conversion again). Revenue is heavy-tailed, but the
  mean over thousands of visitors is close to normal (central limit theorem) and Welch's test
  does not assume equal variances; the A/A simulation in the tests (log-normal order values,
  97% of visitors buying nothing) checks its false-positive rate stays near 5%. Welch's
  interval is reported with it, so the interval and the p-value always agree.
- **Sample-ratio mismatch**: a chi-square goodness-of-fit test of visitors exposed per arm
  against the configured traffic shares, flagged below p = 0.001 (a broken assignment or
  tracking, not chance: the results of such an experiment are not to be trusted).
- **Sample size**: visitors per arm needed to detect the observed difference with a two-sided
  5% test and 80% power (the usual normal-approximation formulas).

Pure numpy and scipy; money figures come in as floats of one currency (the caller never
mixes currencies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.80
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Difference:
    """An arm's metric minus the control's, with its 95% interval and two-sided p-value."""

    control: float
    treatment: float
    difference: float  # treatment - control
    relative: float | None  # difference / control (None when the control is 0)
    low: float
    high: float
    p_value: float
    significant: bool  # p < ALPHA
    needed_per_arm: int | None  # visitors per arm to detect this difference (None: no effect)


def _relative(difference: float, control: float) -> float | None:
    return difference / control if control else None


def proportions(control_hits: int, control_n: int, treatment_hits: int,
                treatment_n: int, alpha: float = ALPHA) -> Difference:
    """Two-proportion z-test of treatment's rate against control's."""
    if min(control_n, treatment_n) <= 0:
        raise ValueError("both arms need at least one visitor")
    if not (0 <= control_hits <= control_n and 0 <= treatment_hits <= treatment_n):
        raise ValueError("hits must be between 0 and the number of visitors")
    p1, p2 = control_hits / control_n, treatment_hits / treatment_n
    difference = p2 - p1
    pooled = (control_hits + treatment_hits) / (control_n + treatment_n)
    null_se = math.sqrt(pooled * (1 - pooled) * (1 / control_n + 1 / treatment_n))
    # both arms all 0 or all 1: no evidence of any difference
    p_value = 1.0 if null_se == 0 else float(2 * stats.norm.sf(abs(difference) / null_se))
    se = math.sqrt(p1 * (1 - p1) / control_n + p2 * (1 - p2) / treatment_n)
    z = float(stats.norm.ppf(1 - alpha / 2))
    return Difference(p1, p2, difference, _relative(difference, p1), difference - z * se,
                      difference + z * se, p_value, p_value < alpha,
                      proportions_sample_size(p1, p2, alpha))


def proportions_sample_size(p1: float, p2: float, alpha: float = ALPHA,
                            power: float = POWER) -> int | None:
    """Visitors per arm for a two-sided test to detect rates p1 vs p2 (None if equal)."""
    if p1 == p2:
        return None
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    mean = (p1 + p2) / 2
    top = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(float(top) ** 2 / (p2 - p1) ** 2)


def means(control: Sequence[float] | np.ndarray, treatment: Sequence[float] | np.ndarray,
          alpha: float = ALPHA) -> Difference:
    """Welch's t-test of treatment's mean against control's (per-visitor values)."""
    a = np.asarray(control, dtype=np.float64)
    b = np.asarray(treatment, dtype=np.float64)
    if min(a.size, b.size) < 2:
        raise ValueError("each arm needs at least two visitors")
    m1, m2 = float(a.mean()), float(b.mean())
    v1, v2 = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    difference = m2 - m1
    se = math.sqrt(v1 + v2)
    if se == 0:
        p_value, half = (1.0 if difference == 0 else 0.0), 0.0
    else:
        freedom = (v1 + v2) ** 2 / ((v1 ** 2 / (a.size - 1) if v1 else 0.0)
                                    + (v2 ** 2 / (b.size - 1) if v2 else 0.0))
        t = float(stats.t.ppf(1 - alpha / 2, freedom))
        p_value = float(2 * stats.t.sf(abs(difference) / se, freedom))
        half = t * se
    pooled_sd = math.sqrt((float(a.var(ddof=1)) + float(b.var(ddof=1))) / 2)
    return Difference(m1, m2, difference, _relative(difference, m1), difference - half,
                      difference + half, p_value, p_value < alpha,
                      means_sample_size(difference, pooled_sd, alpha))


def means_sample_size(difference: float, sd: float, alpha: float = ALPHA,
                      power: float = POWER) -> int | None:
    """Visitors per arm to detect a difference of means with standard deviation `sd`."""
    if difference == 0 or sd == 0:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return math.ceil(2 * (float(z) * sd / difference) ** 2)


@dataclass(frozen=True)
class SampleRatio:
    """Visitors per arm against the configured shares."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    p_value: float
    mismatch: bool  # p < SRM_ALPHA: the split is broken, do not trust the results


def sample_ratio(observed: Sequence[int], shares: Sequence[float]) -> SampleRatio:
    """Chi-square goodness of fit of the visitors per arm to the traffic shares."""
    if len(observed) != len(shares) or len(observed) < 2:
        raise ValueError("one count per arm, at least two arms")
    if any(share <= 0 for share in shares) or any(count < 0 for count in observed):
        raise ValueError("shares must be positive and counts not negative")
    total = sum(observed)
    expected = tuple(total * share / sum(shares) for share in shares)
    if total == 0:
        return SampleRatio(tuple(observed), expected, 1.0, False)
    p_value = float(stats.chisquare(np.asarray(observed, dtype=np.float64),
                                    np.asarray(expected)).pvalue)
    return SampleRatio(tuple(observed), expected, p_value, p_value < SRM_ALPHA)
