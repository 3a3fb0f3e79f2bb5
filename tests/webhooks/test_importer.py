"""`shopreco import-csv` on a file in the layout of Shopify's order export, into the embedded
Redis: grouping, ids, cancellations, idempotence and refusals that name the line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from plugin.engine.training import purchases_of
from plugin.store import keys, records
from plugin.store.order import Order
from plugin.store.shops import NewShop
from tests.conftest import Store, shopreco
from webhooks.importer import CsvImportError, import_csv

# The first line of Shopify's order export (Orders > Export > CSV), as exported.
HEADER_LINE = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,"
    "Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,"
    "Tax 5 Value"
)
HEADER = HEADER_LINE.split(",")


def first_row(name: str, created: str, email: str = "", financial: str = "paid",
              total: str = "0.00", order_id: str = "", cancelled: str = "",
              notes: str = "") -> dict[str, str]:
    """The first row of an order: the order's columns and its first line item."""
    return {"Name": name, "Email": email, "Financial Status": financial, "Currency": "EUR",
            "Total": total, "Created at": created, "Cancelled at": cancelled, "Id": order_id,
            "Notes": notes, "Fulfillment Status": "fulfilled", "Accepts Marketing": "no",
            "Billing Name": "Bob Norman", "Source": "web"}


def item(quantity: str, name: str, price: str, sku: str = "") -> dict[str, str]:
    return {"Lineitem quantity": quantity, "Lineitem name": name, "Lineitem price": price,
            "Lineitem sku": sku, "Lineitem requires shipping": "true",
            "Lineitem taxable": "true", "Lineitem fulfillment status": "fulfilled"}


def export(*rows: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


SHOP_EXPORT = export(
    {**first_row("#1001", "2024-01-15 10:30:00 +0100", "Bob.Norman@Hostmail.com",
                 total="54.80", order_id="5012345678901", notes="ring twice,\nthen wait"),
     **item("2", "Sencha 100 g", "12.90", "TEA-SEN-100")},
    {"Name": "#1001", **item("1", "Kyusu teapot - Black", "29.00")},
    {**first_row("#1002", "2024-01-16 09:00:00 +0100", "ann@example.com", "refunded", "8.00"),
     **item("1", "Matcha 30 g", "8.00", "TEA-MAT-30")},
    {**first_row("#1003", "2024-01-17 09:00:00 +0100", "ann@example.com", "paid", "8.00",
                 cancelled="2024-01-17 12:00:00 +0100"),
     **item("1", "Matcha 30 g", "8.00", "TEA-MAT-30")},
    {**first_row("#1004", "2024-01-18 09:00:00 +0100", "ann@example.com",
                 "partially_refunded", "16.00"),
     **item("2", "Matcha 30 g", "8.00", "TEA-MAT-30")},
    {**first_row("#1005", "2024-01-19 18:45:10 -0500", "", "paid", "3.50"),
     **item("1", "Gift wrap", "3.50")},
)


@pytest.fixture
def export_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "orders_export_1.csv"
    path.write_text(SHOP_EXPORT, encoding="utf-8")
    yield path


def seed_catalog(store: Store, shop: NewShop) -> None:
    async def work(redis: Any) -> None:
        for entry in ({"product_id": "tea-sencha", "title": "Sencha 100 g", "sku": "TEA-SEN-100",
                       "available": True},
                      {"product_id": "632910392", "title": "Kyusu Teapot", "available": True}):
            await records.store_product(redis, shop.shop.shop_id, entry)

    store.run(work)


def run_import(store: Store, shop: NewShop, path: Path) -> dict[str, Any]:
    return store.run(lambda r: import_csv(r, shop.shop.shop_id, path))


def stored(store: Store, shop: NewShop) -> dict[str, Order]:
    async def work(redis: Any) -> dict[str, Order]:
        return {o.order_id: o async for o in records.iter_orders(redis, shop.shop.shop_id)}

    return store.run(work)


def email_id(address: str) -> str:
    return "email:" + hashlib.sha256(address.encode()).hexdigest()[:24]


def test_rows_are_grouped_into_orders_with_their_line_items(store, shop, export_file) -> None:
    summary = run_import(store, shop, export_file)
    orders = stored(store, shop)
    assert (summary["rows"], summary["orders"], len(orders)) == (6, 5, 5)
    assert [line.title for line in orders["5012345678901"].lines] == \
        ["Sencha 100 g", "Kyusu teapot - Black"]


def test_order_id_is_the_exported_id_else_the_order_name(store, shop, export_file) -> None:
    run_import(store, shop, export_file)
    assert {"5012345678901", "#1002", "#1005"} <= set(stored(store, shop))


def test_customer_id_is_a_hash_of_the_lower_case_email(store, shop, export_file) -> None:
    run_import(store, shop, export_file)
    orders = stored(store, shop)
    assert orders["5012345678901"].customer_id == email_id("bob.norman@hostmail.com")
    assert orders["#1005"].customer_id is None


def test_created_at_keeps_its_offset(store, shop, export_file) -> None:
    run_import(store, shop, export_file)
    order = stored(store, shop)["#1005"]
    assert order.created_at == datetime(2024, 1, 19, 23, 45, 10, tzinfo=UTC).timestamp()


def test_products_are_matched_to_the_catalog_by_sku_and_title(store, shop,
                                                               export_file) -> None:
    seed_catalog(store, shop)
    run_import(store, shop, export_file)
    lines = stored(store, shop)["5012345678901"].lines
    assert [line.product_id for line in lines] == ["tea-sencha", "632910392"]


def test_unknown_products_get_ids_from_sku_else_title(store, shop, export_file) -> None:
    run_import(store, shop, export_file)
    orders = stored(store, shop)
    assert orders["#1002"].lines[0].product_id == "sku:TEA-MAT-30"
    assert orders["#1005"].lines[0].product_id == "title:Gift wrap"


def test_refunded_voided_or_cancelled_orders_count_for_nothing(store, shop,
                                                               export_file) -> None:
    run_import(store, shop, export_file)
    orders = stored(store, shop)
    assert purchases_of(orders["#1002"]) == [] and purchases_of(orders["#1003"]) == []


def test_partially_refunded_order_counts(store, shop, export_file) -> None:
    run_import(store, shop, export_file)
    (purchase,) = purchases_of(stored(store, shop)["#1004"])
    assert (purchase.product_id, purchase.quantity) == ("sku:TEA-MAT-30", 2)


def test_importing_the_same_file_again_changes_nothing(store, shop, export_file) -> None:
    run_import(store, shop, export_file)

    async def snapshot(redis: Any) -> list[Any]:
        shop_id = shop.shop.shop_id
        return [await redis.hgetall(key) for key in (
            keys.orders(shop_id), keys.order_versions(shop_id), keys.products(shop_id))] + \
            [await redis.hget(keys.stats(shop_id), "order_changes")]

    before = store.run(snapshot)
    again = run_import(store, shop, export_file)
    assert again["orders_changed"] == 0
    assert store.run(snapshot) == before


def test_malformed_row_is_refused_with_its_line_and_nothing_is_stored(store, shop,
                                                                      tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(SHOP_EXPORT + export(
        {**first_row("#1006", "2024-01-20 09:00:00 +0100"), **item("two", "Matcha", "8.00")}
    ).split("\n", 1)[1])
    with pytest.raises(CsvImportError, match=r"bad\.csv line 9: Lineitem quantity .*'two'"):
        run_import(store, shop, path)  # line 9: the header, 6 rows, a two-line Notes cell
    assert stored(store, shop) == {}


def test_bad_date_names_its_column(store, shop, tmp_path) -> None:
    path = tmp_path / "dates.csv"
    path.write_text(export({**first_row("#1", "15/01/2024"), **item("1", "Tea", "1.00")}))
    with pytest.raises(CsvImportError, match="line 2: Created at must be a time"):
        run_import(store, shop, path)


def test_row_wider_than_the_header_is_refused(store, shop, tmp_path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(export({**first_row("#1", "2024-01-15 10:30:00 +0100"),
                            **item("1", "Tea", "1.00")}).rstrip("\n") + ",extra\n")
    with pytest.raises(CsvImportError, match="line 2: the row has"):
        run_import(store, shop, path)


def test_file_that_is_not_an_order_export_names_the_missing_columns(store, shop,
                                                                    tmp_path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("Handle,Title,Variant SKU\nsencha,Sencha,TEA-1\n")
    with pytest.raises(CsvImportError, match=r"line 1: .*Name, Created at"):
        run_import(store, shop, path)


def test_command_imports_and_prints_a_summary(store, shop, export_file) -> None:
    result = shopreco(store, "import-csv", shop.shop.shop_id, str(export_file))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["orders"], summary["orders_changed"]) == (5, 5)
    assert "importing orders" in result.stderr  # the progress line


def test_command_exits_1_naming_the_bad_line(store, shop, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(export({**first_row("#1", "2024-01-15 10:30:00 +0100"),
                            **item("1", "Tea", "1.00")},
                           {"Name": "#1", **item("1", "Tea", "one euro")}))
    result = shopreco(store, "import-csv", shop.shop.shop_id, str(path))
    assert result.returncode == 1
    assert "line 3: Lineitem price" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored(store, shop) == {}


def test_command_refuses_an_unknown_shop(store, export_file) -> None:
    result = shopreco(store, "import-csv", "no-such-shop", str(export_file))
    assert result.returncode == 1 and "no-such-shop" in result.stderr
