"""`shopreco import-csv SHOP_ID FILE` (plugin/commands/import_csv.py): past orders from
Shopify's order export into the store, a JSON summary on stdout and a progress line on
stderr; importing again changes nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from plugin.store import keys
from plugin.store.records import get_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli

COLUMNS = ["Name", "Email", "Financial Status", "Currency", "Total", "Created at",
           "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku", "Cancelled at"]


def write_export(path: Path, *rows: dict[str, str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def export_file(tmp_path: Path) -> Path:
    """#1001: two lines for ann; #1002: one line for bob, cancelled."""
    return write_export(
        tmp_path / "orders_export.csv",
        {"Name": "#1001", "Email": "ann@example.com", "Financial Status": "paid",
         "Currency": "EUR", "Total": "25.00", "Created at": "2024-01-15 10:30:00 +0100",
         "Lineitem quantity": "2", "Lineitem name": "Sencha", "Lineitem price": "10.00",
         "Lineitem sku": "TEA-1"},
        {"Name": "#1001", "Lineitem quantity": "1", "Lineitem name": "Teapot",
         "Lineitem price": "5.00", "Lineitem sku": "POT-1"},
        {"Name": "#1002", "Email": "bob@example.com", "Financial Status": "voided",
         "Currency": "EUR", "Total": "10.00", "Created at": "2024-01-16 09:00:00 +0100",
         "Lineitem quantity": "1", "Lineitem name": "Sencha", "Lineitem price": "10.00",
         "Lineitem sku": "TEA-1", "Cancelled at": "2024-01-16 10:00:00 +0100"},
    )


def stored(store: Store, shop: NewShop) -> list[str]:
    return sorted(k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop.shop.shop_id))))


def test_imports_the_orders_and_prints_a_summary(cli: Cli, store: Store, shop: NewShop,
                                                 export_file: Path) -> None:
    result = cli("import-csv", shop.shop.shop_id, str(export_file))
    assert result.returncode == 0, result.stderr
    summary = result.json()
    assert (summary["shop_id"], summary["file"]) == (shop.shop.shop_id, str(export_file))
    assert (summary["rows"], summary["orders"], summary["orders_changed"],
            summary["cancelled"], summary["line_items"]) == (3, 2, 2, 1, 3)
    assert "importing orders" in result.stderr and result.stderr.endswith("\n")  # progress
    assert len(stored(store, shop)) == 2
    orders = [store.run(lambda r, o=o: get_order(r, shop.shop.shop_id, o))
              for o in stored(store, shop)]
    ann = next(o for o in orders if o is not None and not o.cancelled)
    assert [(line.title, line.quantity) for line in ann.lines] == [("Sencha", 2), ("Teapot", 1)]
    assert ann.customer_id is not None and ann.customer_id.startswith("email:")


def test_importing_again_changes_nothing(cli: Cli, store: Store, shop: NewShop,
                                         export_file: Path) -> None:
    assert cli("import-csv", shop.shop.shop_id, str(export_file)).returncode == 0
    again = cli("import-csv", shop.shop.shop_id, str(export_file)).json()
    assert (again["orders"], again["orders_changed"]) == (2, 0)


def test_a_bad_line_is_named_and_nothing_is_stored(cli: Cli, store: Store, shop: NewShop,
                                                   tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "bad.csv",
        {"Name": "#1", "Currency": "EUR", "Created at": "2024-01-15 10:30:00 +0100",
         "Lineitem quantity": "1", "Lineitem name": "Tea", "Lineitem price": "1.00"},
        {"Name": "#2", "Currency": "EUR", "Created at": "2024-01-15 10:30:00 +0100",
         "Lineitem quantity": "1", "Lineitem name": "Tea", "Lineitem price": "one euro"})
    result = cli("import-csv", shop.shop.shop_id, str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert "line 3: Lineitem price" in result.stderr and "Traceback" not in result.stderr
    assert stored(store, shop) == []


def test_a_missing_file_and_an_unknown_shop_are_refused(cli: Cli, shop: NewShop,
                                                        tmp_path: Path, export_file) -> None:
    missing = cli("import-csv", shop.shop.shop_id, str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1 and "nowhere.csv: cannot be read" in missing.stderr
    unknown = cli("import-csv", "no-such-shop", str(export_file))
    assert unknown.returncode == 1 and "no shop 'no-such-shop'" in unknown.stderr
