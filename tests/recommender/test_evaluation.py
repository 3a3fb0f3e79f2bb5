"""Offline evaluation: metrics, loading and filters, the split, the tasks, the table, CLI (the
baselines themselves: tests/recommender/test_baselines.py)."""

from __future__ import annotations

import csv
import gzip
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recommender.evaluation import (
    Result,
    build_cases,
    default_window,
    evaluate,
    format_table,
    hit_at_k,
    last_basket_split,
    load_orders,
    ndcg_at_k,
    ratio_to_best,
    split,
    upsell_cases,
)
from recommender.matrix import Purchase
from tests.recommender.test_baselines import blocks

HEADER = ["order_id", "customer_id", "product_id", "product_name", "quantity", "unit_price",
          "ordered_at", "country"]
DAY = 86400.0
T0 = 1_600_000_000.0  # 2020-09-13 12:26:40 UTC


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(order: str, customer: str, product: str, quantity: str = "1", price: str = "1.5",
        when: str = "2011-01-05 10:00:00") -> list[str]:
    return [order, customer, product, "name", quantity, price, when, "UK"]


def purchase(order: str, customer: str | None, product: str, day: float) -> Purchase:
    return Purchase(order, customer, product, 1, T0 + day * DAY)


def kept(purchases: list[Purchase]) -> list[tuple[str, str, str]]:
    return [(p.order_id, p.customer_id or "", p.product_id) for p in purchases]


# ---- metrics --------------------------------------------------------------------------------


def test_ndcg_of_a_known_ranking() -> None:
    # hits at ranks 1 and 3: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert ndcg_at_k(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_ndcg_ideal_counts_at_most_k_relevant_products() -> None:
    assert ndcg_at_k(["a", "b", "c"], {"a", "b", "c", "d", "e"}, 2) == pytest.approx(1.0)


def test_ndcg_ignores_hits_beyond_k() -> None:
    assert ndcg_at_k(["x", "y", "a"], {"a"}, 2) == 0.0


def test_hit_at_k_counts_only_the_first_k() -> None:
    assert (hit_at_k(["x", "y", "a"], "a", 2), hit_at_k(["x", "y", "a"], "a", 3)) == (0.0, 1.0)


# ---- loading and filters --------------------------------------------------------------------


def test_load_keeps_purchases_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [
        row("1", "17850", "85123A"),
        row("C2", "17850", "85123A", quantity="-1"),  # cancellation
        row("3", "17850", "71053", quantity="-2"),  # return
        row("4", "17850", "71053", price="0"),  # free
        row("5", "", "71053"),  # guest
        row("6", "12345.0", "22752"),  # float-typed customer id
    ])
    assert kept(load_orders([path])) == [("1", "17850", "85123A"), ("6", "12345", "22752")]


def test_product_pattern_drops_non_codes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv.gz", [
        row("1", "1", "85123A"), row("1", "1", "POST"), row("1", "1", "22752"),
        row("1", "1", "8512"),
    ])
    loaded = load_orders([path], product_pattern=r"^\d{5}[A-Za-z]*$")
    assert [p.product_id for p in loaded] == ["85123A", "22752"]


def test_overlap_rows_of_the_first_file_are_dropped(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", [
        row("1", "1", "11111", when="2010-11-30 23:59:00"),
        row("2", "1", "22222", when="2010-12-01 08:00:00"),
    ])
    second = write_csv(tmp_path / "b.csv", [row("2", "1", "22222", when="2010-12-01 08:00:00")])
    assert kept(load_orders([first, second], overlap_from="2010-12-01")) == [
        ("1", "1", "11111"), ("2", "1", "22222")]


def test_a_single_file_keeps_rows_after_the_overlap_date(tmp_path: Path) -> None:
    only = write_csv(tmp_path / "a.csv", [row("2", "1", "22222", when="2010-12-05 08:00:00")])
    assert len(load_orders([only], overlap_from="2010-12-01")) == 1


def test_files_without_price_and_quantity_count_one_each(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "groceries.csv", [["7-20150105", "7", "whole milk", "2015-01-05"]],
                     header=["order_id", "customer_id", "product_id", "ordered_at"])
    assert [(p.product_id, p.quantity) for p in load_orders([path])] == [("whole milk", 1)]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [["1", "x"]], header=["order_id", "product_id"])
    with pytest.raises(ValueError, match="customer_id, ordered_at"):
        load_orders([path])


def test_a_column_mapping_reads_a_file_that_names_columns_its_own_way(tmp_path: Path) -> None:
    """The Complete Journey's names: household_id, basket_id, transaction_timestamp; its
    sales_value is a line total, not a unit price, so unit_price is left out."""
    header = ["household_id", "basket_id", "product_id", "quantity", "sales_value",
              "transaction_timestamp", "unit_price"]
    path = write_csv(tmp_path / "journey.csv.gz", [
        ["900", "31198570044", "1095275", "2", "1.5", "2017-01-01 11:53:26", "0"],
        ["900", "31198570044", "9999999", "0", "0.0", "2017-01-01 11:53:26", "0"],  # none
        ["901", "31198570045", "1095275", "1", "3.0", "2017-01-02 09:00:00", "0"]],
        header=header)
    mapping = {"customer_id": "household_id", "order_id": "basket_id",
               "ordered_at": "transaction_timestamp", "unit_price": ""}
    loaded = load_orders([path], columns=mapping)
    assert [(p.order_id, p.customer_id, p.product_id, p.quantity) for p in loaded] == [
        ("31198570044", "900", "1095275", 2), ("31198570045", "901", "1095275", 1)]
    assert loaded[0].timestamp == datetime(2017, 1, 1, 11, 53, 26, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match=r"missing column.*household_id"):  # the file's name
        load_orders([write_csv(tmp_path / "plain.csv", [row("1", "1", "11111")])],
                    columns=mapping)
    assert load_orders([path], columns={**mapping, "unit_price": "unit_price"}) == []  # price 0
    with pytest.raises(ValueError, match=r"unknown column.*basket"):
        load_orders([path], columns={"basket": "basket_id"})
    with pytest.raises(ValueError, match="order_id cannot be left out"):
        load_orders([path], columns={"order_id": ""})


def test_bad_date_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row("1", "1", "11111", when="yesterday")])
    with pytest.raises(ValueError, match=r"bad\.csv:2 ordered_at"):
        load_orders([path])


# ---- split and cases ------------------------------------------------------------------------


def test_split_puts_the_cutoff_day_in_test_and_end_day_inclusive(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [
        row("1", "1", "11111", when="2011-08-31 23:59:59"),
        row("2", "1", "11111", when="2011-09-01 00:00:00"),
        row("3", "1", "11111", when="2011-12-09 23:00:00"),
        row("4", "1", "11111", when="2011-12-10 00:00:00"),
    ])
    train, test = split(load_orders([path]), "2011-09-01", "2011-12-09")
    assert ([p.order_id for p in train], [p.order_id for p in test]) == (["1"], ["2", "3"])


def test_last_basket_split_holds_out_each_repeat_customers_latest_order() -> None:
    purchases = [purchase("1", "a", "x", 0), purchase("1", "a", "y", 0),
                 purchase("3", "a", "z", 5), purchase("3", "a", "x", 5),  # a's last order
                 purchase("2", "b", "x", 9),  # b's only order: trains
                 purchase("4", "c", "x", 7), purchase("5", "c", "y", 7),  # tie: "5" is last
                 purchase("6", None, "x", 20)]  # a guest's line: trains
    train, test = last_basket_split(purchases)
    assert kept(test) == [("3", "a", "z"), ("3", "a", "x"), ("5", "c", "y")]
    assert kept(train) == [("1", "a", "x"), ("1", "a", "y"), ("2", "b", "x"), ("4", "c", "x"),
                           ("6", "", "x")]
    cases = build_cases(train, test)
    assert cases.nurture == [("a", frozenset({"x", "z"})), ("c", frozenset({"y"}))]


def test_default_window_is_the_last_fifth_of_the_time_span() -> None:
    purchases = [purchase("1", "1", "a", 0), purchase("2", "1", "a", 100)]
    assert default_window(purchases, None, None, fallback_cutoff="1999-01-01") == (
        "2020-12-02", "2020-12-22")


def test_default_window_uses_the_fallback_cutoff_when_the_data_spans_it() -> None:
    purchases = [purchase("1", "1", "a", 0), purchase("2", "1", "a", 100)]
    assert default_window(purchases, None, None, fallback_cutoff="2020-11-01")[0] == "2020-11-01"


def test_cases_of_nurture_and_discovery() -> None:
    train = [purchase("1", "old", "a", 0), purchase("2", "gone", "a", 0)]
    test = [purchase("3", "old", "a", 10), purchase("3", "old", "b", 10),
            purchase("4", "new", "c", 10)]
    cases = build_cases(train, test)
    assert (cases.nurture, cases.discovery) == (
        [("old", frozenset({"a", "b"}))], [("old", frozenset({"b"}))])


def test_upsell_hides_one_product_of_each_order_with_two_or_more() -> None:
    test = [purchase("1", "c", "a", 0), purchase("1", "c", "b", 0), purchase("1", "c", "b", 0),
            purchase("2", "c", "a", 0)]
    [(cart, hidden)] = upsell_cases(test, seed=3)
    assert (set(cart) | {hidden}, len(cart)) == ({"a", "b"}, 1)


class Fixed:
    """A recommender under test with known answers."""

    name = "fixed"

    def fit(self, train: object) -> None:
        pass

    def for_customer(self, customer_id: str, k: int, exclude_purchased: bool) -> list[str]:
        return ["a", "b"] if exclude_purchased else ["x", "a"]

    def for_cart(self, product_ids: object, k: int) -> list[str]:
        return ["a", "b"]


def test_evaluate_scores_each_task() -> None:
    train = [purchase("1", "c", "a", 0)]
    test = [purchase("2", "c", "a", 10), purchase("2", "c", "b", 10)]
    [result] = evaluate([Fixed()], train, test, k=10)
    # nurture: hit at rank 2 of 2 relevant; discovery: b at rank 2 of 1; upsell: always hit
    ideal = 1 + 1 / math.log2(3)
    assert (result.nurture, result.discovery, result.upsell) == pytest.approx(
        ((1 / math.log2(3)) / ideal, 1 / math.log2(3), 1.0))


def test_evaluate_refuses_k_below_one() -> None:
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        evaluate([Fixed()], [purchase("1", "c", "a", 0)], [], k=0)


def test_a_task_without_cases_scores_nan() -> None:
    [result] = evaluate([Fixed()], [purchase("1", "c", "a", 0)], [purchase("2", "d", "a", 9)])
    assert math.isnan(result.nurture) and math.isnan(result.discovery)
    assert math.isnan(result.upsell)


def test_split_refuses_an_end_before_the_cutoff() -> None:
    with pytest.raises(ValueError, match="end 2011-08-30 must not be before cutoff"):
        split([], "2011-09-01", "2011-08-30")


def test_ndcg_needs_a_relevant_product() -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        ndcg_at_k(["a"], set(), 10)


def test_ndcg_counts_a_product_listed_twice_once() -> None:
    assert ndcg_at_k(["a", "a"], {"a", "b"}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


# ---- the table ------------------------------------------------------------------------------


def test_table_has_a_column_per_task_and_a_row_per_recommender() -> None:
    results = [Result("shopreco", 0.5, 0.25, 0.125, 1.3),
               Result("a much longer name", 0.0, math.nan, 1.0, 0.04)]
    assert format_table(results, 5).splitlines() == [
        "recommender         nurture NDCG@5  discovery NDCG@5  upsell HR@5  train s",
        "shopreco                     0.500             0.250        0.125      1.3",
        "a much longer name           0.000               nan        1.000      0.0"]


def test_ratio_to_the_best_baseline_of_each_task() -> None:
    mine = Result("shopreco", 0.5, 0.3, 0.2, 1.0)
    baselines = [Result("popularity", 0.25, 0.6, 0.0, 0.1),
                 Result("own-history", 0.4, math.nan, 0.0, 0.1)]
    assert ratio_to_best(mine, baselines) == (
        "shopreco / best baseline: nurture 1.25 (best: own-history 0.400), "
        "discovery 0.50 (best: popularity 0.600), upsell n/a (best: popularity 0.000)")
    assert ratio_to_best(mine, []) == (
        "shopreco / best baseline: nurture n/a, discovery n/a, upsell n/a")


# ---- the command line -----------------------------------------------------------------------


def test_cli_prints_every_recommender_and_column(tmp_path: Path) -> None:
    rows = [[p.order_id, p.customer_id or "", p.product_id, p.product_id, "1", "1.0",
             f"2021-01-{1 + int((p.timestamp - T0) // DAY) % 28:02d} 10:00:00", "UK"]
            for p in blocks()]
    rows += [[f"late-{n}", c, item, item, "2", "1.0", "2021-02-10 10:00:00", "UK"]
             for n, c in enumerate(["a0", "a1", "b0"]) for item in ("a3", "b3", "a0")]
    path = write_csv(tmp_path / "orders.csv", rows)
    env = {**os.environ, "SHOPRECO_DATA_DIR": str(tmp_path / "data")}
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-m", "plugin.cli", "evaluate", "--orders", str(path),
                           "--cutoff", "2021-02-01", "--k", "3"],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    table = lines[lines.index(next(x for x in lines if x.startswith("recommender"))):]
    assert [x.split("  ")[0].strip() for x in table[:7]] == [
        "recommender", "shopreco", "popularity", "own-history", "co-occurrence",
        "implicit ALS (defaults)", "implicit BM25 item-kNN K=100"]
    assert ("nurture NDCG@3" in table[0] and "discovery NDCG@3" in table[0]
            and "upsell HR@3" in table[0] and "train s" in table[0]
            and table[7].startswith("shopreco / best baseline:"))
