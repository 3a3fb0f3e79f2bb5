"""Lifecycle stages and metrics: the pure core on known answers, facts from the real Redis, and
plugin.engine.lifecycle's answers (metrics, notes, stage counts) and its per-process facts."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from plugin.api.lifecycle import parse_as_of, parse_instant
from plugin.engine import lifecycle
from plugin.engine.lifecycle import (
    DEFINITIONS,
    forget_facts,
    load_order_facts,
    metrics,
    shop_stage_table,
    shop_stages,
    stage_counts,
)
from plugin.store.erasure import erase_customer, erase_shop
from plugin.store.order import LineItem, Order, Refund
from plugin.store.records import merge_refunds, store_order
from plugin.store.shops import NewShop
from plugin.web.params import BadRequest
from recommender.lifecycle import (
    DAY,
    STAGE_RULES,
    STAGES,
    OrderFact,
    cohorts,
    customer_stages,
    monthly,
    repurchase_cycle_days,
    stage_of,
    summary,
)
from tests.conftest import Store, shopreco

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def fact(order_id: str, customer: str, day: float, value: Decimal | float = 10.0,
         currency: str = "EUR") -> OrderFact:
    return OrderFact(order_id, customer, T0 + day * DAY, value, currency)


def order(order_id: str, customer: str | None, day: float, prices: tuple[str, ...] = ("10.00",),
          quantity: int = 1, cancelled: bool = False, refunds: tuple[Refund, ...] = (),
          currency: str = "EUR") -> Order:
    lines = tuple(LineItem(f"p{i}", None, f"Product {i}", quantity, price, f"{order_id}-{i}")
                  for i, price in enumerate(prices))
    at = T0 + day * DAY
    return Order(order_id, customer, at, at, cancelled, currency, "0", lines, refunds)


def facts_of(store: Store, shop_id: str) -> list[tuple[str, float, Decimal, str]]:
    """(customer, at, value, currency) of the shop's facts as load_order_facts reads them."""
    return store.run(lambda r: load_order_facts(r, shop_id)).rows()


def store_orders(store: Store, shop_id: str, orders: list[Order]) -> None:
    async def work(redis) -> None:
        for one in orders:
            await store_order(redis, shop_id, one)

    store.run(work)


# ---- stages: the pure core ------------------------------------------------------------------


def test_every_stage_has_a_rule_and_every_score_a_stage() -> None:
    assert set(STAGE_RULES) == set(STAGES)
    reached = {stage_of(r, f, m, n) for r in range(1, 6) for f in range(1, 6)
               for m in range(1, 6) for n in (1, 2)}
    assert reached == set(STAGES)


def test_only_orders_at_or_before_as_of_count() -> None:
    facts = [fact("1", "a", 0), fact("2", "a", 5), fact("3", "b", 9)]
    stages = customer_stages(facts, T0 + 5 * DAY)
    assert set(stages) == {"a"}
    assert stages["a"].frequency == 2 and stages["a"].recency_days == 0.0


def test_no_facts_give_no_stages() -> None:
    assert customer_stages([], T0) == {}


def test_scores_follow_the_shops_own_distribution() -> None:
    # five customers, one to five orders of 10 each, the last order a day apart
    facts = [fact(f"{c}-{i}", f"c{c}", day=c - i * 0.01, value=10.0)
             for c in range(1, 6) for i in range(c)]
    stages = customer_stages(facts, T0 + 10 * DAY)
    assert [stages[f"c{c}"].f for c in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [stages[f"c{c}"].m for c in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [stages[f"c{c}"].r for c in range(1, 6)] == [1, 2, 3, 4, 5]
    assert stages["c5"].stage == "champions" and stages["c1"].stage == "lost"


def test_ties_share_a_score() -> None:
    facts = [fact(str(i), f"c{i}", day=1) for i in range(4)]
    stages = customer_stages(facts, T0 + 2 * DAY)
    assert {s.r for s in stages.values()} == {4}  # average rank 2.5 of 4 -> ceil(3.125)
    assert {s.stage for s in stages.values()} == {"promising"}  # one order, R 4


def test_one_order_customers_are_placed_by_recency_alone() -> None:
    big_once = [fact("big", "big", day=0, value=10_000)]
    others = [fact(f"o{i}", f"c{i}", day=i + 1, value=5) for i in range(9)]
    stages = customer_stages(big_once + others, T0 + 20 * DAY)
    assert stages["big"].m == 5 and stages["big"].r == 1
    assert stages["big"].stage == "lost"
    assert stages["c8"].stage == "new"


def test_expected_next_order_follows_own_gaps_and_the_shop_cycle() -> None:
    weekly = [fact(f"w{i}", "weekly", day=7 * i) for i in range(5)]  # 4 gaps of 7 days
    monthly = [fact(f"m{i}", "monthly", day=30 * i) for i in range(3)]  # 2 gaps of 30
    once = [fact("o", "once", day=50)]
    facts = weekly + monthly + once
    as_of = T0 + 60 * DAY
    assert repurchase_cycle_days(facts, as_of) == pytest.approx(18.5)  # median of 7 and 30
    stages = customer_stages(facts, as_of)
    expected_weekly = (4 * 7 + 18.5) / 5
    assert stages["weekly"].expected_next_order == pytest.approx(T0 + (28 + expected_weekly) * DAY)
    assert stages["once"].expected_next_order == pytest.approx(T0 + (50 + 18.5) * DAY)


def test_churn_risk_is_the_closed_form_and_grows_with_time_overdue() -> None:
    facts = [fact(f"a{i}", "a", day=10 * i) for i in range(3)]  # gaps 10, 10; cycle 10
    risks = []
    for days_after in (0, 10, 30, 100):
        stage = customer_stages(facts, T0 + (20 + days_after) * DAY)["a"]
        p = 3 / 4
        alive = p * math.exp(-days_after / 10)
        assert stage.churn_risk == pytest.approx(1 - alive / (alive + 1 - p))
        risks.append(stage.churn_risk)
    assert risks == sorted(risks) and 0 < risks[0] < risks[-1] < 1


def test_without_repeat_customers_there_is_no_cycle() -> None:
    stages = customer_stages([fact("1", "a", 0), fact("2", "b", 1)], T0 + 400 * DAY)
    assert {s.expected_next_order for s in stages.values()} == {None}
    assert {s.churn_risk for s in stages.values()} == {0.5}


def test_future_as_of_keeps_stages_and_raises_churn_risk() -> None:
    facts = [fact(f"{c}{i}", c, day=i * 10) for c in "abc" for i in range(2)]
    now = customer_stages(facts, T0 + 11 * DAY)
    later = customer_stages(facts, T0 + 5000 * DAY)
    assert set(later) == set(now)
    assert all(later[c].churn_risk > now[c].churn_risk for c in now)
    assert all(later[c].churn_risk == pytest.approx(1.0) for c in later)


# ---- facts from the stored orders -----------------------------------------------------------


def test_facts_skip_cancelled_guest_and_fully_refunded_orders(store: Store, shop: NewShop) -> None:
    refunded = order("r1", "carol", 2, prices=("8.00", "2.00"), quantity=2,
                     refunds=(Refund("x", "r1-0", 2), Refund("x", "r1-1", 2)))
    store_orders(store, shop.shop.shop_id, [
        order("a1", "alice", 0, prices=("10.00", "5.50"), quantity=2),
        order("a2", "alice", 1, prices=("10.00", "5.50"), quantity=2,
              refunds=(Refund("y", "a2-0", 1),)),
        order("g1", None, 1),
        order("c1", "bob", 1, cancelled=True),
        refunded,
    ])
    assert facts_of(store, shop.shop.shop_id) == [
        ("alice", T0, Decimal("31.00"), "EUR"),
        ("alice", T0 + DAY, Decimal("21.00"), "EUR"),  # one of the two 10.00 given back
    ]


def test_facts_follow_a_refund_stored_after_they_were_read(store: Store, shop: NewShop) -> None:
    first = order("o1", "dave", 0, prices=("4.00",))
    store_orders(store, shop.shop.shop_id, [first])
    assert len(facts_of(store, shop.shop.shop_id)) == 1
    store_orders(store, shop.shop.shop_id, [
        Order(**{**first.__dict__, "updated_at": first.updated_at + 1,
                 "refunds": (Refund("z", "o1-0", 1),)})])
    assert facts_of(store, shop.shop.shop_id) == []


def test_facts_follow_refunds_merged_later_and_erasures(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_orders(store, shop_id, [order("e1", "eve", 0, prices=("4.00", "6.00")),
                                  order("f1", "fay", 1)])
    assert [row[0] for row in facts_of(store, shop_id)] == ["eve", "fay"]
    store.run(lambda r: merge_refunds(r, shop_id, "e1", [Refund("q", "e1-1", 1)]))
    assert facts_of(store, shop_id)[0] == ("eve", T0, Decimal("4.00"), "EUR")
    store.run(lambda r: erase_customer(r, shop_id, "fay"))
    assert [row[0] for row in facts_of(store, shop_id)] == ["eve"]


def test_facts_are_reused_while_nothing_changed(store: Store, shop: NewShop) -> None:
    store_orders(store, shop.shop.shop_id, [order("1", "ann", 0)])
    first = store.run(lambda r: load_order_facts(r, shop.shop.shop_id))
    assert store.run(lambda r: load_order_facts(r, shop.shop.shop_id)) is first
    store_orders(store, shop.shop.shop_id, [order("1", "ann", 0, cancelled=True)])
    assert facts_of(store, shop.shop.shop_id) == []


def test_facts_of_a_shop_deleted_and_filled_again_are_read_again(
        store: Store, make_shop) -> None:
    """The same number of changes after the shop was erased is another version (its epoch)."""
    shop_id = make_shop().shop.shop_id
    store_orders(store, shop_id, [order("1", "ann", 0)])
    assert [row[0] for row in facts_of(store, shop_id)] == ["ann"]
    store.run(lambda r: erase_shop(r, shop_id))
    store_orders(store, shop_id, [order("1", "bob", 0)])
    assert [row[0] for row in facts_of(store, shop_id)] == ["bob"]


def test_facts_follow_a_customer_erased_by_another_process(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store_orders(store, shop_id, [order("1", "ann", 0), order("2", "bob", 1)])
    assert [row[0] for row in facts_of(store, shop_id)] == ["ann", "bob"]  # kept here
    result = shopreco(store, "erase", shop_id, "--customer", "ann")
    assert result.returncode == 0, result.stderr
    assert [row[0] for row in facts_of(store, shop_id)] == ["bob"]


def test_money_is_summed_exactly_and_rounded_once_half_up() -> None:
    """1.015 is 1.01499999999999990230 as a float: float arithmetic would report 1.01."""
    facts = [fact("1", "a", 0, Decimal("1.015")), fact("2", "b", 1, 1.015)]
    money = summary(facts, T0 + 2 * DAY)["money"]["EUR"]
    assert (money["revenue"], money["aov"], money["clv"]) == (2.03, 1.02, 1.02)
    assert customer_stages(facts, T0 + 2 * DAY)["a"].monetary == 1.015
    cents = [fact(str(i), "c", 2, Decimal("0.001")) for i in range(2345)]  # 2.345 exactly
    assert summary(cents, T0 + 3 * DAY)["money"]["EUR"]["revenue"] == 2.35


def test_shop_stages_reads_the_shops_orders_only(store: Store, make_shop) -> None:
    one, other = make_shop(), make_shop()
    store_orders(store, one.shop.shop_id, [order("1", "ann", 0), order("2", "ann", 3)])
    store_orders(store, other.shop.shop_id, [order("1", "zed", 0)])
    stages = store.run(lambda r: shop_stages(r, one.shop.shop_id, T0 + 5 * DAY))
    assert set(stages) == {"ann"} and stages["ann"].frequency == 2
    assert store.run(lambda r: shop_stages(r, "t-no-such-shop", T0)) == {}


def test_a_stage_table_at_an_instant_is_kept_until_the_facts_change(
        store: Store, shop: NewShop) -> None:
    """A feed's later pages share the first page's table; an order or an erasure in between
    (here by another process) gives a new one."""
    shop_id = shop.shop.shop_id
    at = T0 + 5 * DAY
    store_orders(store, shop_id, [order("1", "ann", 0), order("2", "bob", 1)])
    first = store.run(lambda r: shop_stage_table(r, shop_id, at))
    assert store.run(lambda r: shop_stage_table(r, shop_id, at)) is first
    assert store.run(lambda r: shop_stage_table(r, shop_id, at + 1)) is not first
    store_orders(store, shop_id, [order("3", "ann", 2)])
    again = store.run(lambda r: shop_stage_table(r, shop_id, at))
    now_ann, then_ann = again.get("ann"), first.get("ann")
    assert now_ann is not None and then_ann is not None
    assert (now_ann.frequency, then_ann.frequency) == (2, 1)
    assert shopreco(store, "erase", shop_id, "--customer", "bob").returncode == 0
    erased = store.run(lambda r: shop_stage_table(r, shop_id, at))
    assert list(erased.customer_ids) == ["ann"]


def test_shop_stages_defaults_to_now(store: Store, shop: NewShop) -> None:
    store_orders(store, shop.shop.shop_id, [order("1", "ann", 0)])
    stage = store.run(lambda r: shop_stages(r, shop.shop.shop_id))["ann"]
    now = datetime.now(UTC).timestamp()
    assert stage.recency_days == pytest.approx((now - T0) / DAY, abs=0.01)


# ---- as_of ------------------------------------------------------------------------------------


def test_as_of_date_is_the_end_of_that_day() -> None:
    assert parse_as_of("2024-05-01") == pytest.approx(
        datetime(2024, 5, 2, tzinfo=UTC).timestamp() - 0.001)
    assert parse_instant("start", "2024-05-01", end_of_day=False) == pytest.approx(
        datetime(2024, 5, 1, tzinfo=UTC).timestamp() - 0.001)


def test_as_of_times_keep_their_offset_and_naive_is_utc() -> None:
    assert parse_as_of("2024-05-01T12:00:00+02:00") == datetime(
        2024, 5, 1, 10, tzinfo=UTC).timestamp()
    assert parse_as_of("2024-05-01T12:00:00 02:00") == parse_as_of("2024-05-01T10:00:00Z")
    assert parse_as_of("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()


def test_as_of_none_is_now() -> None:
    assert parse_as_of(None) == pytest.approx(datetime.now(UTC).timestamp(), abs=5)


@pytest.mark.parametrize("raw", ["", "yesterday", "2024-13-01", "2024-05-01T25:00", "1700000000"])
def test_bad_as_of_is_a_bad_request_naming_the_value(raw: str) -> None:
    with pytest.raises(BadRequest, match="as_of must be a date"):
        parse_as_of(raw)


# ---- metrics: the pure core ------------------------------------------------------------------


def test_a_far_future_as_of_ends_the_series_ten_years_after_the_last_order() -> None:
    facts = [fact("1", "a", 0), fact("2", "b", 40)]
    as_of = parse_as_of("9999-12-31")
    series = monthly(facts, as_of)
    assert series[0]["month"] == "2023-11" and series[-1]["month"] == "2033-12"
    rows = cohorts(facts, as_of)
    assert [len(row["retention"]) for row in rows] == [122, 121]
    assert rows[1]["retention"][:2] == [1.0, 0.0]


# ---- plugin.engine.lifecycle's answers --------------------------------------------------------


def test_metrics_answer_the_summary_retention_period_and_months_with_their_definitions() -> None:
    facts = [fact("1", "a", 0), fact("2", "a", 20), fact("3", "b", 25, 30.0)]
    answer = metrics("s1", facts, T0 + 30 * DAY, T0 + 10 * DAY, T0 + 30 * DAY, 30)
    assert (answer["shop_id"], answer["as_of"]) == ("s1", "2023-12-14T22:13:20Z")
    assert (answer["customers"], answer["orders"], answer["repeat_customers"]) == (2, 3, 1)
    assert answer["money"]["EUR"]["revenue"] == 50.0
    assert answer["retention"]["start"] == "2023-11-24T22:13:20Z"
    assert answer["period"]["start"] == "2023-11-24T22:13:20Z"
    assert [row["month"] for row in answer["monthly"]] == ["2023-11", "2023-12"]
    assert answer["notes"] == [] and answer["definitions"] == DEFINITIONS


def test_metrics_say_when_nothing_counts_and_when_money_is_in_several_currencies() -> None:
    empty = metrics("s1", [], T0, T0 - DAY, T0, 30)
    assert empty["customers"] == 0 and empty["repeat_purchase_rate"] is None
    assert len(empty["notes"]) == 1
    assert "shop 's1' has no order that counts as of 2023-11-14T22:13:20Z" in empty["notes"][0]
    mixed = metrics("s1", [fact("1", "a", 0), fact("2", "b", 0, currency="USD")], T0 + DAY,
                    T0, T0 + DAY, 30)
    assert mixed["notes"] == ["orders are in several currencies (EUR, USD): money is reported "
                              "per currency, never converted or added up"]


def test_stage_counts_list_every_stage_with_its_rule_share_and_churn_risk() -> None:
    facts = [fact(f"{c}{i}", c, day=i * 7 + n) for n, c in enumerate("abcdefgh")
             for i in range(n % 3 + 1)]
    answer = stage_counts("s1", facts, T0 + 40 * DAY)
    assert answer["customers"] == 8 and answer["note"] is None
    assert [row["stage"] for row in answer["stages"]] == list(STAGES)
    assert sum(row["customers"] for row in answer["stages"]) == 8
    assert sum(row["share"] for row in answer["stages"]) == pytest.approx(1, abs=0.001)
    expected = customer_stages(facts, T0 + 40 * DAY)
    for row in answer["stages"]:
        members = [s for s in expected.values() if s.stage == row["stage"]]
        assert row["customers"] == len(members), row["stage"]
        assert (row["rule"], row["action"]) == (STAGE_RULES[row["stage"]].rule,
                                                STAGE_RULES[row["stage"]].action)
        if members:
            assert row["mean_churn_risk"] == pytest.approx(
                sum(s.churn_risk for s in members) / len(members), abs=1e-4)
        else:
            assert row["mean_churn_risk"] is None
    assert answer["repurchase_cycle_days"] == pytest.approx(7.0)


def test_stage_counts_of_a_shop_without_customers_say_so() -> None:
    answer = stage_counts("s1", [], T0)
    assert answer["customers"] == 0 and answer["repurchase_cycle_days"] is None
    assert {row["share"] for row in answer["stages"]} == {None}
    assert "shop 's1' has no order that counts" in answer["note"]


def test_facts_are_read_again_once_forgotten_and_only_a_few_shops_are_kept(
        store: Store, make_shop) -> None:
    shops = [make_shop().shop.shop_id for _ in range(lifecycle._SHOPS_KEPT + 1)]
    for shop_id in shops:
        store_orders(store, shop_id, [order("1", "ann", 0)])
    first = store.run(lambda r: load_order_facts(r, shops[0]))
    forget_facts()
    again = store.run(lambda r: load_order_facts(r, shops[0]))
    assert again is not first and again.rows() == first.rows()
    for shop_id in shops[1:]:  # the first is now the least recently used
        store.run(lambda r, shop_id=shop_id: load_order_facts(r, shop_id))
    assert shops[0] not in lifecycle._KNOWN and len(lifecycle._KNOWN) == lifecycle._SHOPS_KEPT
    assert store.run(lambda r: load_order_facts(r, shops[0])) is not again
