"""An experiment's results: per arm what it counted, each arm against the control with the
statistics of recommender.experiments, the sample-ratio check and a verdict in plain words.

Rates are per visitor (the unit the split randomises): conversion = visitors with an order /
visitors exposed, add-to-cart rate and click rate alike (visitors with one), so each is a
proportion of independent units and the two-proportion z-test applies. CTR (clicks /
impressions) is shown as it is, not tested: one visitor's impressions are not independent.
Revenue per visitor is tested with Welch's t-test on each visitor's revenue, zeros included,
per currency (money is never converted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from plugin.store.experiment_data import ExperimentData
from plugin.store.experiments import HOLDOUT, Experiment
from recommender.experiments import Difference, SampleRatio, means, proportions, sample_ratio

CENT = Decimal("0.01")
RATES = (("conversion_rate", "converted", "conversion"),
         ("add_to_cart_rate", "added", "add-to-cart rate"),
         ("click_rate", "clicked", "click rate"))


def _rate(hits: int, visitors: int) -> float | None:
    return hits / visitors if visitors else None


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_EVEN))


def arm_figures(experiment: Experiment, found: ExperimentData, index: int,
                currencies: Sequence[str]) -> dict[str, Any]:
    """One arm's counts and rates; money per currency as decimal strings."""
    arm = experiment.arms[index]
    visitors = found.count(index, "visitors")
    orders = [o for o in found.orders if o.arm == index]
    impressions, clicks = found.count(index, "impression"), found.count(index, "click")
    revenue = {c: sum((o.value for o in orders if o.currency == c), Decimal(0))
               for c in currencies}
    in_currency = {c: sum(1 for o in orders if o.currency == c) for c in currencies}
    converted = len({o.unit for o in orders})
    return {
        **arm.to_dict(),  # name, strategy, share (and a config arm's blend)
        "visitors": visitors, "impressions": impressions, "clicks": clicks,
        "add_to_carts": found.count(index, "add_to_cart"),
        "clicked": found.count(index, "clicked"), "added": found.count(index, "added"),
        "converted": converted, "orders": len(orders),
        "ctr": _rate(clicks, impressions),
        "click_rate": _rate(found.count(index, "clicked"), visitors),
        "add_to_cart_rate": _rate(found.count(index, "added"), visitors),
        "conversion_rate": _rate(converted, visitors),
        "revenue": {c: str(v) for c, v in revenue.items()},
        "revenue_per_visitor": {c: _money(v / visitors) if visitors else None
                                for c, v in revenue.items()},
        "aov": {c: _money(v / in_currency[c]) if in_currency[c] else None
                for c, v in revenue.items()},
    }


def revenue_per_visitor(found: ExperimentData, index: int, visitors: int,
                        currency: str) -> list[float]:
    """Each exposed visitor's revenue in `currency` (zeros for those without an order)."""
    per_unit: dict[str, Decimal] = {}
    for order in found.orders:
        if order.arm == index and order.currency == currency:
            per_unit[order.unit] = per_unit.get(order.unit, Decimal(0)) + order.value
    values = [float(v) for v in per_unit.values()]
    return values + [0.0] * max(0, visitors - len(values))


def _difference(metric: str, arm: str, found: Difference,
                currency: str | None = None) -> dict[str, Any]:
    return {"arm": arm, "metric": metric, "currency": currency, **asdict(found)}


def comparisons(experiment: Experiment, found: ExperimentData, arms: Sequence[dict[str, Any]],
                currencies: Sequence[str]) -> list[dict[str, Any]]:
    """Each arm against the control (the first): the per-visitor rates (click rate only
    between arms that both show a widget), and revenue per visitor per currency."""
    control = arms[0]
    found_all = []
    for index, arm in enumerate(arms[1:], start=1):
        n0, n1 = control["visitors"], arm["visitors"]
        if not n0 or not n1:
            continue
        for metric, hits, _words in RATES:
            if metric == "click_rate" and HOLDOUT in (control["strategy"], arm["strategy"]):
                continue
            found_all.append(_difference(metric, arm["name"], proportions(
                control[hits], n0, arm[hits], n1)))
        if n0 < 2 or n1 < 2:
            continue
        for currency in currencies:
            found_all.append(_difference("revenue_per_visitor", arm["name"], means(
                revenue_per_visitor(found, 0, n0, currency),
                revenue_per_visitor(found, index, n1, currency)), currency))
    return found_all


def experiment_results(experiment: Experiment, found: ExperimentData,
                       now: float) -> dict[str, Any]:
    """The results as JSON-ready values (what the API answers and a stop keeps)."""
    currencies = sorted({order.currency for order in found.orders})
    arms = [arm_figures(experiment, found, i, currencies) for i in range(len(experiment.arms))]
    compared = comparisons(experiment, found, arms, currencies)
    ratio = sample_ratio([a["visitors"] for a in arms], [a.share for a in experiment.arms])
    return {
        "computed_at": now, "currencies": currencies, "arms": arms, "comparisons": compared,
        "sample_ratio": {"observed": list(ratio.observed), "expected": list(ratio.expected),
                         "p_value": ratio.p_value, "mismatch": ratio.mismatch},
        "verdicts": verdicts(arms, compared, ratio),
    }


# ---- in plain words -----------------------------------------------------------------------


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _change(difference: dict[str, Any]) -> str:
    """"by 18% (95% CI +6% to +30%)" relative to the control; in points when it had none."""
    control = difference["control"]
    if control:
        return (f"by {abs(difference['difference']) / control:.0%} (95% CI "
                f"{difference['low'] / control:+.0%} to {difference['high'] / control:+.0%})")
    return (f"by {abs(difference['difference']):.2%} points (95% CI "
            f"{difference['low']:+.2%} to {difference['high']:+.2%})")


def verdict(arm: dict[str, Any], control: dict[str, Any],
            difference: dict[str, Any] | None) -> str:
    """What the conversion comparison of one arm says."""
    name = arm["name"]
    if difference is None:
        return f"{name}: no visitors in both arms yet"
    if not arm["converted"] and not control["converted"]:
        return f"{name}: no orders from either arm's visitors yet"
    if difference["significant"]:
        way = "lifts" if difference["difference"] > 0 else "lowers"
        return (f"{name} {way} conversion {_change(difference)} against {control['name']}, "
                f"{_p(difference['p_value'])}")
    needed, least = difference["needed_per_arm"], min(arm["visitors"], control["visitors"])
    if needed is not None and needed > least:
        return (f"{name}: not enough visitors yet to tell — about {needed:,} per arm are needed "
                f"to detect a difference of this size ({least:,} so far)")
    return (f"{name}: no clear difference in conversion against {control['name']} "
            f"({_p(difference['p_value'])})")


def verdicts(arms: Sequence[dict[str, Any]], compared: Sequence[dict[str, Any]],
             ratio: SampleRatio) -> list[str]:
    found = []
    if ratio.mismatch:
        found.append(
            f"Sample-ratio mismatch ({_p(ratio.p_value)}): the visitors per arm "
            f"{list(ratio.observed)} are far from the shares asked for. Do not trust these "
            "results: some arm's answers or events do not reach shopreco (a cache, an "
            "ad blocker, a theme that hides the widget).")
    for arm in arms[1:]:
        conversion = next((c for c in compared if c["arm"] == arm["name"]
                           and c["metric"] == "conversion_rate"), None)
        found.append(verdict(arm, arms[0], conversion))
    return found
