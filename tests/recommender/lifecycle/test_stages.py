"""Lifecycle stages (recommender.lifecycle.stages): the RFM grid, scores against the shop's own
customers, the repurchase cycle, expected next order and churn risk, and the stage table's
lookups. (Stages of every Online Retail customer against pandas:
tests/plugin/engine/test_lifecycle_data.py.)"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from recommender.lifecycle.facts import DAY, Facts, OrderFact
from recommender.lifecycle.stages import (
    STAGE_RULES,
    STAGES,
    customer_stages,
    repurchase_cycle_days,
    stage_of,
    stage_table,
)

T0 = 1_700_000_000.0


def fact(order_id: str, customer: str, day: float, value: str = "10") -> OrderFact:
    return OrderFact(order_id, customer, T0 + day * DAY, Decimal(value), "EUR")


@pytest.mark.parametrize(("r", "f", "m", "orders", "stage"), [
    (5, 5, 5, 9, "champions"), (5, 5, 4, 9, "champions"), (5, 4, 4, 9, "loyal"),
    (4, 5, 5, 9, "loyal"), (3, 5, 5, 9, "loyal"), (3, 4, 4, 9, "needs_attention"),
    (4, 3, 3, 9, "active"), (5, 1, 2, 2, "promising"), (2, 3, 3, 2, "at_risk"),
    (1, 4, 4, 2, "at_risk"), (1, 5, 5, 2, "cant_lose"), (2, 5, 4, 2, "cant_lose"),
    (1, 3, 3, 2, "hibernating"), (2, 1, 1, 2, "hibernating"), (1, 1, 2, 2, "lost"),
])
def test_repeat_customers_take_their_cell_of_the_r_by_fm_grid(r, f, m, orders, stage) -> None:
    assert stage_of(r, f, m, orders) == stage


@pytest.mark.parametrize(("r", "stage"), [(5, "new"), (4, "promising"),
                                          (3, "needs_attention"), (2, "hibernating"),
                                          (1, "lost")])
def test_one_order_customers_are_placed_by_recency_alone(r, stage) -> None:
    assert {stage_of(r, f, m, 1) for f in range(1, 6) for m in range(1, 6)} == {stage}


def test_every_stage_has_a_label_a_rule_and_an_action() -> None:
    assert list(STAGE_RULES) == list(STAGES)
    assert all(rule.stage == name and rule.label and rule.rule and rule.action
               for name, rule in STAGE_RULES.items())


def test_monetary_is_scored_in_cents() -> None:
    # b and c differ below a cent: one M score; a spends more, d less
    facts = [fact("a", "a", 0, "20"), fact("b", "b", 0, "10.001"), fact("c", "c", 0, "10.004"),
             fact("d", "d", 0, "5")]
    stages = customer_stages(facts, T0 + DAY)
    assert [stages[c].m for c in "abcd"] == [5, 4, 4, 2]  # unrounded, b would be a 3
    assert stages["c"].monetary == 10.004  # the value itself stays exact


def test_the_median_gap_of_an_even_number_of_gaps_is_the_middle_two_averaged() -> None:
    # gaps of 2, 4, 10 and 20 days: median 7; the shop's cycle is that one customer's
    facts = [fact(str(i), "a", day) for i, day in enumerate((0, 2, 6, 16, 36))]
    assert repurchase_cycle_days(facts, T0 + 40 * DAY) == pytest.approx(7.0)
    assert repurchase_cycle_days(facts, T0 + 3 * DAY) == pytest.approx(2.0)  # orders so far
    assert repurchase_cycle_days(facts[:1], T0 + 40 * DAY) is None


def test_the_expected_gap_is_at_least_a_day() -> None:
    facts = [fact(str(i), "a", i * 0.01) for i in range(4)]  # three orders in minutes
    stage = customer_stages(facts, T0 + DAY)["a"]
    assert stage.expected_next_order == pytest.approx(T0 + (0.03 + 1.0) * DAY)
    alive = 0.8 * math.exp(-(1 - 0.03) / 1.0)
    assert stage.churn_risk == pytest.approx(1 - alive / (alive + 0.2))


def test_the_stage_table_holds_every_customers_stage_in_id_order() -> None:
    facts = [fact("1", "zoe", 0), fact("2", "amy", 1), fact("3", "amy", 8), fact("4", "kim", 9)]
    table = stage_table(Facts.of(facts), T0 + 10 * DAY)
    assert len(table) == 3 and table.customer_ids.tolist() == ["amy", "kim", "zoe"]
    assert table.frequency.tolist() == [2, 1, 1] and table.cycle_days == pytest.approx(7.0)
    assert table.first_at.tolist() == [T0 + DAY, T0 + 9 * DAY, T0]
    assert table.last_at.tolist() == [T0 + 8 * DAY, T0 + 9 * DAY, T0]
    assert table.recency_days.tolist() == pytest.approx([2.0, 1.0, 10.0])
    stages = customer_stages(facts, T0 + 10 * DAY)
    assert [table.row(i) for i in range(3)] == [stages[c] for c in ("amy", "kim", "zoe")]


def test_the_stage_table_finds_a_customer_by_id() -> None:
    table = stage_table([fact("1", "amy", 0), fact("2", "kim", 1)], T0 + 2 * DAY)
    assert table.find("kim") == 1 and table.get("kim") == table.row(1)
    assert table.find("bob") is None and table.get("zed") is None


def test_of_stage_lists_a_stages_customers_after_a_cursor() -> None:
    # ten one-order customers a day apart: R 1..5 in pairs, so two customers a stage
    facts = [fact(str(n), f"c{n}", n) for n in range(10)]
    table = stage_table(facts, T0 + 10 * DAY)
    lost = table.of_stage("lost")
    assert [table.customer_ids[i] for i in lost] == ["c0", "c1"]
    assert [table.customer_ids[i] for i in table.of_stage("lost", after="c0")] == ["c1"]
    assert [table.customer_ids[i] for i in table.of_stage("new", after="c")] == ["c8", "c9"]
    assert table.of_stage(None, after="c7").tolist() == [8, 9]
    assert table.of_stage("champions").tolist() == []


def test_an_empty_history_gives_an_empty_table() -> None:
    table = stage_table([], T0)
    assert len(table) == 0 and table.cycle_days is None and table.find("a") is None
