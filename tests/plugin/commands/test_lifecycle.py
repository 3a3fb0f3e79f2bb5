"""`shopreco lifecycle SHOP_ID [--as-of DATE] [--months N]` (plugin/commands/lifecycle.py): a
shop's lifecycle summary as a text a store owner reads in a terminal."""

from __future__ import annotations

import pytest

from plugin.store.shops import NewShop
from recommender.lifecycle import STAGES
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli, order, store_orders

AS_OF = "2023-12-31"  # the orders are from 2023-11-14 on


@pytest.fixture
def small_shop(store: Store, shop: NewShop) -> NewShop:
    """ann: 3 orders (20, 30 and 10 EUR); bob: 1 order (15 EUR) and a cancelled one; a guest."""
    store_orders(store, shop.shop.shop_id, [
        order("a1", "ann", 0, price="20.00"), order("a2", "ann", 10, price="30.00"),
        order("a3", "ann", 20, price="10.00"), order("b1", "bob", 5, price="15.00"),
        order("b2", "bob", 6, price="99.00", cancelled=True),
        order("g1", None, 8, price="50.00"),
    ])
    return shop


def line(output: str, label: str) -> str:
    return next(x for x in output.splitlines() if x.startswith(label))


def test_the_summary_of_a_small_shop(cli: Cli, small_shop: NewShop) -> None:
    result = cli("lifecycle", small_shop.shop.shop_id, "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert lines[0] == f"Lifecycle of shop {small_shop.shop.shop_id} as of 2023-12-31 23:59 UTC"
    assert line(out, "Customers ").split()[-1] == "2"
    assert line(out, "Orders ").split()[-1] == "4"  # the cancelled and the guest's do not count
    assert line(out, "Repeat-purchase rate").endswith("  50.0 %")
    assert line(out, "AOV (EUR)").endswith("  18.75")
    assert line(out, "Revenue (EUR)").endswith("  75.00")
    assert line(out, "Repurchase cycle").endswith("10 days (median gap between orders of "
                                                  "repeat customers)")
    header = lines.index(line(out, "Stage "))
    table = lines[header:header + len(STAGES) + 2]
    share_end = table[0].index("Share") + len("Share")
    assert all(row[share_end - 1] == "%" for row in table[1:])  # shares right-aligned
    assert table[-1].split()[:3] == ["Total", "2", "100.0"]
    months = lines.index(line(out, "Month "))
    assert [row.split()[0] for row in lines[months + 1:]] == ["2023-11", "2023-12"]
    assert "Revenue EUR" in lines[months] and "Note:" not in out


def test_months_limits_the_monthly_table(cli: Cli, small_shop: NewShop) -> None:
    shown = cli("lifecycle", small_shop.shop.shop_id, "--as-of", AS_OF, "--months", "1").stdout
    lines = shown.splitlines()
    months = lines.index(line(shown, "Month "))
    assert [row.split()[0] for row in lines[months + 1:]] == ["2023-12"]
    none = cli("lifecycle", small_shop.shop.shop_id, "--as-of", AS_OF, "--months", "0").stdout
    assert "Month " not in none


def test_as_of_moves_the_summary_in_time(cli: Cli, small_shop: NewShop) -> None:
    early = cli("lifecycle", small_shop.shop.shop_id, "--as-of", "2023-11-20").stdout
    assert early.splitlines()[0].endswith("as of 2023-11-20 23:59 UTC")
    assert line(early, "Orders ").split()[-1] == "2"  # a1 and b1: a2 is on 2023-11-24
    assert line(early, "Repeat-purchase rate").endswith("  0.0 %")


def test_a_shop_without_orders_says_so(cli: Cli, shop: NewShop) -> None:
    result = cli("lifecycle", shop.shop.shop_id)
    assert result.returncode == 0, result.stderr
    assert "no order that counts" in result.stdout and "n/a" in result.stdout
    assert line(result.stdout, "Repurchase cycle").endswith("n/a (no repeat customers)")


def test_an_unknown_shop_and_a_bad_date_are_refused(cli: Cli, shop: NewShop) -> None:
    unknown = cli("lifecycle", "no-such-shop")
    assert unknown.returncode == 1 and "no shop 'no-such-shop'" in unknown.stderr
    bad = cli("lifecycle", shop.shop.shop_id, "--as-of", "soon")
    assert bad.returncode == 1 and "as_of must be a date" in bad.stderr
    assert bad.stdout == ""
