"""`shopreco evaluate --orders FILE ...` (plugin/commands/evaluate.py): shopreco and the
baselines scored offline on an order history split in time, as a table."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from tests.plugin.commands.conftest import Cli

HEADER = ["order_id", "customer_id", "product_id", "product_name", "quantity", "unit_price",
          "ordered_at", "country"]


def write_orders(path: Path, rows: list[list[str]]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    """January: 2 groups of 6 customers, each buying pairs of their group's 4 products (and a
    gift card "GIFT"); February: 3 of them again."""
    rows = []
    for group in ("a", "b"):
        for n in range(6):
            first, second = f"{group}{n % 4}", f"{group}{(n + 1) % 4}"
            when = f"2021-01-{1 + n * 4:02d} 10:00:00"
            rows += [[f"{group}-{n}", f"{group}c{n}", item, item, "1", "2.5", when, "UK"]
                     for item in (first, second, "GIFT")]
    rows += [[f"late-{n}", customer, item, item, "1", "2.5", "2021-02-10 10:00:00", "UK"]
             for n, customer in enumerate(["ac0", "ac1", "bc0"]) for item in ("a3", "b3")]
    return write_orders(tmp_path / "orders.csv.gz", rows)


def test_last_basket_split_tests_on_each_repeat_customers_last_order(cli: Cli,
                                                                    orders: Path) -> None:
    result = cli("evaluate", "--orders", str(orders), "--split", "last-basket", "--k", "3",
                 "--tuning-seconds", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # ac0, ac1, bc0 have two orders each: their February orders (2 lines each) are the test
    assert lines[0] == ("train: 36 lines; test: 6 lines, the last order of each of 3 customers "
                        "with two or more")
    assert lines[1].startswith("cases: nurture 3 customers, discovery 3 customers, upsell 3 ")
    mixed = cli("evaluate", "--orders", str(orders), "--split", "last-basket",
                "--cutoff", "2021-02-01")
    assert mixed.returncode != 0 and "not with --split last-basket" in mixed.stderr


def test_scores_every_recommender_on_the_split(cli: Cli, orders: Path) -> None:
    result = cli("evaluate", "--orders", str(orders), "--cutoff", "2021-02-01", "--k", "3",
                 "--tuning-seconds", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("train: 36 lines before 2021-02-01; test: 6 lines 2021-02-01 .. "
                        "2021-02-10")
    assert lines[1].startswith("cases: nurture 3 customers, ") and lines[1].endswith("k = 3")
    start = lines.index(next(x for x in lines if x.startswith("recommender")))
    assert "nurture NDCG@3" in lines[start] and "upsell HR@3" in lines[start]
    names = [x.split("  ")[0].strip() for x in lines[start + 1:start + 7]]
    assert names[:2] == ["shopreco", "popularity"] and len(set(names)) == 6
    assert any(x.startswith("shopreco / best baseline:") for x in lines)
    assert lines[-1].startswith("shopreco's choice on the training orders: ")
    done = [x.removeprefix("  done: ") for x in result.stderr.splitlines()
            if x.startswith("  done: ")]
    assert done == names  # each recommender reported on stderr as it finishes


def test_the_tuning_budget_is_the_setting_unless_given(cli: Cli, orders: Path) -> None:
    args = ("evaluate", "--orders", str(orders), "--cutoff", "2021-02-01")
    setting = cli(*args, SHOPRECO_TUNING_SECONDS="0").stdout.splitlines()[-1]
    assert setting.endswith("(defaults: no time budget for the choice "
                            "(SHOPRECO_TUNING_SECONDS=0))")
    given = cli(*args, "--tuning-seconds", "5", SHOPRECO_TUNING_SECONDS="0")
    assert given.stdout.splitlines()[-1].endswith(
        "(defaults: history spans 20 days, fewer than 28)")  # a budget: tried, too short


def test_a_product_pattern_and_the_window_narrow_what_is_scored(cli: Cli, orders: Path) -> None:
    result = cli("evaluate", "--orders", str(orders), "--product-pattern", "[ab][0-9]",
                 "--cutoff", "2021-01-15", "--end", "2021-01-31", "--tuning-seconds", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (  # no GIFT lines, no February orders
        "train: 16 lines before 2021-01-15; test: 8 lines 2021-01-15 .. 2021-01-31")


def test_a_missing_file_is_named(cli: Cli, tmp_path: Path) -> None:
    result = cli("evaluate", "--orders", str(tmp_path / "nowhere.csv"))
    assert (result.returncode, result.stdout) == (1, "")
    assert f"--orders {tmp_path / 'nowhere.csv'}: no such file" in result.stderr


def test_a_cutoff_that_leaves_no_training_orders_is_refused(cli: Cli, orders: Path) -> None:
    result = cli("evaluate", "--orders", str(orders), "--cutoff", "2021-01-01",
                 "--tuning-seconds", "0")
    assert (result.returncode, result.stdout) == (1, "")
    assert "cutoff 2021-01-01 leaves 0 training and 42 test lines" in result.stderr


def test_a_file_with_its_own_column_names_is_read_through_columns(cli: Cli, orders: Path,
                                                                  tmp_path: Path) -> None:
    """The same orders with the Complete Journey's column names score the same table."""
    with gzip.open(orders, "rt", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    renamed = tmp_path / "renamed.csv"
    with renamed.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["basket_id", "household_id", "product_id", "product_name", "quantity",
                         "unit_price", "transaction_timestamp", "country"])
        writer.writerows(rows)
    args = ("--cutoff", "2021-02-01", "--tuning-seconds", "0")
    plain = cli("evaluate", "--orders", str(orders), *args)
    mapped = cli("evaluate", "--orders", str(renamed), *args, "--columns",
                 "order_id=basket_id, customer_id=household_id,ordered_at=transaction_timestamp")
    assert mapped.returncode == 0, mapped.stderr
    table = [line for line in mapped.stdout.splitlines() if "train s" not in line]
    assert [line[:60] for line in table] == [
        line[:60] for line in plain.stdout.splitlines() if "train s" not in line]
    wrong = cli("evaluate", "--orders", str(renamed), *args, "--columns", "basket=basket_id")
    assert wrong.returncode != 0 and "unknown column(s) basket" in wrong.stderr
    with pytest.raises(SystemExit):  # argparse's usage error
        cli("evaluate", "--orders", str(renamed), "--columns", "customer_id")
