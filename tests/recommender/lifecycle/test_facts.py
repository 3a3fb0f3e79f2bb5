"""Order facts as columns (recommender.lifecycle.facts): sorted by customer and time, exact
money of any scale, the part at or before an instant, rounding to cents once."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from recommender.lifecycle.facts import (
    DAY,
    MAX_SCALE,
    Facts,
    OrderFact,
    encode,
    exact_units,
    facts_table,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def three_orders() -> Facts:
    return Facts.of([OrderFact("1", "bob", T0 + 5 * DAY, 10.1, "EUR"),
                     OrderFact("2", "amy", T0 + 9 * DAY, Decimal("2.005"), "USD"),
                     OrderFact("3", "bob", T0 + DAY, 3, "EUR")])


def test_facts_are_sorted_by_customer_then_time_with_exact_values() -> None:
    assert three_orders().rows() == [
        ("amy", T0 + 9 * DAY, Decimal("2.005"), "USD"),
        ("bob", T0 + DAY, Decimal("3"), "EUR"),
        ("bob", T0 + 5 * DAY, Decimal("10.1"), "EUR")]  # the float 10.1 read as written


def test_per_customer_columns() -> None:
    facts = three_orders()
    assert facts.customer_ids.tolist() == ["amy", "bob"] and len(facts) == 3
    assert facts.counts.tolist() == [1, 2] and facts.starts.tolist() == [0, 1]
    assert facts.first_at.tolist() == [T0 + 9 * DAY, T0 + DAY]
    assert facts.last_at.tolist() == [T0 + 9 * DAY, T0 + 5 * DAY]
    assert facts.scale == 3 and facts.units_per_customer().tolist() == [2005, 13100]
    assert facts.currencies == ("EUR", "USD")


def test_until_keeps_the_orders_at_or_before_and_their_customers_only() -> None:
    facts = three_orders()
    early = facts.until(T0 + 5 * DAY)
    assert early.customer_ids.tolist() == ["bob"] and early.customer.tolist() == [0, 0]
    assert early.units.tolist() == [3000, 10100] and early.currencies == facts.currencies
    assert facts.until(T0 + 9 * DAY) is facts
    assert len(facts_table(facts, T0)) == 0 and facts_table(facts, T0).counts.tolist() == []


def test_an_order_list_and_facts_give_the_same_table() -> None:
    listed = [OrderFact("1", "bob", T0, 1.5, "EUR"), OrderFact("2", "amy", T0, 2, "EUR")]
    assert facts_table(listed, T0).rows() == facts_table(Facts.of(listed), T0).rows()


def test_every_column_needs_one_value_per_order() -> None:
    with pytest.raises(ValueError, match="one value per order"):
        Facts.from_columns(["a", "b"], np.array([T0]), [1, 2], [0, 0], ["EUR", "EUR"])


def test_values_are_integers_of_the_finest_scale() -> None:
    units, scale = exact_units([15, 2, 7], [-1, 0, -3])  # 1.5, 2, 0.007
    assert (units.dtype, units.tolist(), scale) == (np.int64, [1500, 2000, 7], 3)
    assert exact_units([], [])[1] == 0


def test_values_too_large_for_int64_stay_exact_python_ints() -> None:
    units, scale = exact_units([10**18, 5], [3, 0])
    assert units.dtype == object and scale == 0
    assert units.sum() == 10**21 + 5


def test_more_decimals_than_the_finest_scale_are_refused() -> None:
    with pytest.raises(ValueError, match=f"10\\*\\*-{MAX_SCALE}"):
        exact_units([1], [-(MAX_SCALE + 1)])


def test_amounts_become_the_nearest_float() -> None:
    facts = Facts.of([OrderFact("1", "a", T0, Decimal("0.1"), "EUR"),
                      OrderFact("2", "b", T0, Decimal("0.7"), "EUR"),
                      OrderFact("3", "b", T0 + 1, Decimal("0.2"), "EUR")])
    assert facts.units.dtype == np.int64
    assert facts.as_float(facts.units_per_customer()).tolist() == [0.1, 0.9]  # not 0.7 + 0.2
    big = Facts.of([OrderFact("1", "a", T0, Decimal("9876543210987654321.9"), "EUR"),
                    OrderFact("2", "a", T0 + 1, Decimal("0.1"), "EUR"),
                    OrderFact("3", "b", T0, Decimal("1e20"), "EUR")])
    assert big.units.dtype == object
    assert big.as_float(big.units_per_customer()).tolist() == [9876543210987654322.0, 1e20]


@pytest.mark.parametrize(("units", "divisor", "cents"), [
    (2345, 1, 2.35), (2344, 1, 2.34), (2355, 1, 2.36), (10_000, 3, 3.33), (5, 1, 0.01),
    (4, 1, 0.0)])
def test_cents_round_the_exact_value_once_half_up(units, divisor, cents) -> None:
    facts = Facts.from_columns(["a"], np.array([T0]), [1], [-3], ["EUR"])  # scale 3
    assert facts.cents(units, divisor) == cents


def test_encode_gives_sorted_distinct_values_and_each_ones_index() -> None:
    distinct, codes = encode(["b", "a", "b", ""])
    assert distinct.tolist() == ["", "a", "b"] and codes.tolist() == [2, 1, 2, 0]
