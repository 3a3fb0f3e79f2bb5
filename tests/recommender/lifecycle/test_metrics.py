"""Lifecycle numbers over time (recommender.lifecycle.metrics) on a few customers whose answers
are worked out by hand: the lifetime summary, retention over a period, what happened in a
period, the monthly series and acquisition cohorts. (The same numbers against pandas on real
order histories: tests/plugin/engine/test_lifecycle_data.py.)"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from recommender.lifecycle.facts import DAY, OrderFact
from recommender.lifecycle.metrics import (
    cohorts,
    iso,
    month_index,
    month_name,
    monthly,
    period,
    retention,
    summary,
)


def at(day: str) -> float:
    """Noon UTC of an ISO date."""
    return datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()


def fact(order_id: str, customer: str, day: str, value: str, currency: str = "EUR") -> OrderFact:
    return OrderFact(order_id, customer, at(day), Decimal(value), currency)


# amy orders in January, February and April, bob once in January, cat twice in February in
# dollars, dan once in April without a currency.
FACTS = [
    fact("a1", "amy", "2024-01-05", "10"), fact("a2", "amy", "2024-02-10", "20"),
    fact("a3", "amy", "2024-04-01", "5"), fact("b1", "bob", "2024-01-20", "30"),
    fact("c1", "cat", "2024-02-15", "7.5", "USD"), fact("c2", "cat", "2024-02-20", "2.5", "USD"),
    fact("d1", "dan", "2024-04-10", "4", ""),
]


def test_month_index_counts_utc_calendar_months_since_1970() -> None:
    moments = np.array([0.0, at("2024-02-29"), at("2024-03-01") - 12 * 3600 - 1])
    assert month_index(moments).tolist() == [0, 649, 649]
    assert month_name(649) == "2024-02" and month_name(0) == "1970-01"


def test_iso_is_utc_with_milliseconds_only_when_there_are_any() -> None:
    assert iso(at("2024-02-29")) == "2024-02-29T12:00:00Z"
    assert iso(at("2024-02-29") + 0.25) == "2024-02-29T12:00:00.250Z"
    assert iso(None) is None


def test_summary_of_the_whole_history() -> None:
    assert summary(FACTS, at("2024-12-31")) == {
        "customers": 4, "orders": 7, "repeat_customers": 2, "repeat_purchase_rate": 0.5,
        "orders_per_customer": 1.75,
        "money": {
            "EUR": {"revenue": 65.0, "orders": 4, "aov": 16.25, "customers": 2, "clv": 32.5},
            "USD": {"revenue": 10.0, "orders": 2, "aov": 5.0, "customers": 1, "clv": 10.0},
            "unknown": {"revenue": 4.0, "orders": 1, "aov": 4.0, "customers": 1, "clv": 4.0},
        }}


def test_summary_as_of_an_earlier_instant_ignores_later_orders() -> None:
    early = summary(FACTS, at("2024-02-12"))
    assert (early["customers"], early["orders"], early["repeat_customers"]) == (2, 3, 1)
    assert set(early["money"]) == {"EUR"}


def test_summary_without_customers_has_no_rates() -> None:
    assert summary(FACTS, at("2023-12-31")) == {
        "customers": 0, "orders": 0, "repeat_customers": 0, "repeat_purchase_rate": None,
        "orders_per_customer": None, "money": {}}


def test_a_period_counts_its_orders_and_new_and_returning_customers() -> None:
    assert period(FACTS, at("2024-01-31"), at("2024-02-29")) == {
        "orders": 3, "customers": 2, "new_customers": 1, "returning_customers": 1,
        "money": {"EUR": {"revenue": 20.0, "orders": 1, "aov": 20.0},
                  "USD": {"revenue": 10.0, "orders": 2, "aov": 5.0}}}


def test_retention_is_active_customers_at_the_end_but_new_over_those_at_the_start() -> None:
    # active at the start (orders in Jan 1 .. Mar 1): amy, bob, cat; at the end (Feb 15 ..
    # Apr 15): amy, cat, dan (new in the period) and eve (lapsed at the start)
    facts = [*FACTS, fact("e1", "eve", "2023-06-01", "9"), fact("e2", "eve", "2024-04-05", "9")]
    found = retention(facts, at("2024-03-01"), at("2024-04-15"), lookback_days=60)
    assert (found.customers_at_start, found.customers_at_end, found.new_customers,
            found.retained, found.reactivated) == (3, 4, 1, 2, 1)
    assert found.rate == 1.0 and found.note is None and found.lookback_days == 60


def test_the_lookback_is_at_least_the_period() -> None:
    found = retention(FACTS, at("2024-01-01"), at("2024-04-30"), lookback_days=7)
    assert found.lookback_days == pytest.approx(120.0)
    assert found.customers_at_end == 4 and found.new_customers == 4


def test_retention_without_customers_at_the_start_is_undefined() -> None:
    found = retention(FACTS, at("2023-12-01"), at("2024-01-10"))
    assert found.customers_at_start == 0 and found.rate is None
    assert found.note is not None and "undefined" in found.note


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="after its start"):
        retention(FACTS, at("2024-03-01"), at("2024-03-01"))


def test_monthly_series_runs_to_the_month_of_as_of_with_empty_months() -> None:
    series = monthly(FACTS, at("2024-05-15"))
    assert [m["month"] for m in series] == ["2024-01", "2024-02", "2024-03", "2024-04",
                                            "2024-05"]
    assert [(m["orders"], m["customers"], m["new_customers"], m["returning_customers"])
            for m in series] == [(2, 2, 2, 0), (3, 2, 1, 1), (0, 0, 0, 0), (2, 2, 1, 1),
                                 (0, 0, 0, 0)]
    assert series[1]["revenue"] == {"EUR": 20.0, "USD": 10.0, "unknown": 0.0}
    assert series[1]["aov"] == {"EUR": 20.0, "USD": 5.0, "unknown": None}
    assert series[2]["aov"] == {"EUR": None, "USD": None, "unknown": None}


def test_cohorts_share_of_each_first_month_ordering_again() -> None:
    assert cohorts(FACTS, at("2024-05-15")) == [
        {"cohort": "2024-01", "customers": 2, "active": [2, 1, 0, 1, 0],
         "retention": [1.0, 0.5, 0.0, 0.5, 0.0]},
        {"cohort": "2024-02", "customers": 1, "active": [1, 0, 0, 0],
         "retention": [1.0, 0.0, 0.0, 0.0]},
        {"cohort": "2024-04", "customers": 1, "active": [1, 0], "retention": [1.0, 0.0]},
    ]


def test_no_orders_give_no_series_and_no_cohorts() -> None:
    assert monthly(FACTS, at("2023-12-31")) == [] and cohorts([], at("2024-01-01")) == []


def test_a_series_as_of_years_later_stops_ten_years_after_the_last_order() -> None:
    series = monthly(FACTS[:1], at("2024-01-05") + 100 * 365 * DAY)
    assert series[-1]["month"] == "2034-01" and len(series) == 121
