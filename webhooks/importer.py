"""`shopreco import-csv`: orders from Shopify's order export (Admin > Orders > Export, CSV).

The export has one row per line item; the order's own columns (Email, Financial Status,
Created at, ...) are filled only on its first row. It carries no product or customer ids, so:
a product is the catalog product whose SKU or title matches, else "sku:<sku>" (or
"title:<name>"); a customer is "email:" + the first 24 hex digits of sha256(lower-case email),
so a redaction request by e-mail address still finds them. The whole file is checked before
anything is stored; importing it again changes nothing.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from plugin.progress import Progress
from plugin.store import keys, records
from plugin.store.fields import PayloadError, currency_code, display_text, money
from plugin.store.order import LineItem, Order, email_customer_id
from plugin.store.shops import ShopError, get_shop

REQUIRED_COLUMNS = ("Name", "Created at", "Lineitem quantity", "Lineitem name",
                    "Lineitem price")
VOID_FINANCIAL_STATUSES = frozenset({"refunded", "voided"})  # partially_refunded still counts
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z")  # 2024-01-15 10:30:00 +0100


class CsvImportError(ValueError):
    """The file cannot be imported; the message names the file, the line and the column."""


@dataclass
class Catalog:
    """What the shop's catalog knows: SKU and lower-case title -> product id."""

    by_sku: dict[str, str] = field(default_factory=dict)
    by_title: dict[str, str] = field(default_factory=dict)

    def match(self, sku: str, name: str) -> tuple[str, str]:
        """The product id for an export line and how it was found (catalog, sku, title)."""
        if sku and sku in self.by_sku:
            return self.by_sku[sku], "catalog"
        for title in _title_candidates(name):
            if title in self.by_title:
                return self.by_title[title], "catalog"
        return (f"sku:{sku}", "sku") if sku else (f"title:{name}", "title")


def _title_candidates(name: str) -> Iterator[str]:
    """"Tee - Blue / L" is product "Tee", variant "Blue / L": try the full name, then shorter."""
    title = name.strip().casefold()
    while title:
        yield title
        title = title.rpartition(" - ")[0]


def catalog_from(entries: Iterable[Mapping[str, Any]]) -> Catalog:
    """Index catalog entries; entries made up from order lines and ambiguous titles are left
    out, so that the same file always maps to the same products."""
    catalog = Catalog()
    titles: dict[str, set[str]] = {}
    for entry in entries:
        if entry.get("source") == "order" or entry.get("deleted"):
            continue
        product_id = str(entry["product_id"])
        for sku in [entry.get("sku"), *(entry.get("skus") or [])]:
            if sku:
                catalog.by_sku[str(sku)] = product_id
        title = str(entry.get("title") or "").strip().casefold()
        if title:
            titles.setdefault(title, set()).add(product_id)
    catalog.by_title = {t: ids.pop() for t, ids in titles.items() if len(ids) == 1}
    return catalog


@dataclass
class ImportStats:
    rows: int = 0
    orders: int = 0
    cancelled: int = 0
    line_items: int = 0
    matched: dict[str, int] = field(default_factory=lambda: {"catalog": 0, "sku": 0, "title": 0})


@dataclass
class _Draft:
    """An order being collected from its rows."""

    order: Order
    lines: list[LineItem]


def read_export(
    rows: Iterable[str], catalog: Catalog, currency: str, stats: ImportStats
) -> list[Order]:
    """Every order of an export, or CsvImportError naming the first bad line."""
    reader = csv.reader(rows)
    header = [column.strip() for column in next(reader, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CsvImportError(f"line 1: the header lacks the column(s) {', '.join(missing)}; "
                             "is this Shopify's order export (Orders > Export > CSV)?")
    drafts: dict[str, _Draft] = {}
    starts_at = reader.line_num + 1  # a quoted cell (Notes) may span lines
    for record in reader:
        try:
            if record:
                _add_row(drafts, _row(header, record), catalog, currency, stats)
                stats.rows += 1
        except PayloadError as error:
            raise CsvImportError(f"line {starts_at}: {error}") from None
        starts_at = reader.line_num + 1
    orders = [replace(d.order, lines=tuple(d.lines)) for d in drafts.values()]
    stats.orders, stats.cancelled = len(orders), sum(o.cancelled for o in orders)
    return orders


def _row(header: list[str], record: list[str]) -> dict[str, str]:
    if len(record) > len(header):
        raise PayloadError(f"the row has {len(record)} fields, the header only {len(header)}")
    return dict(zip(header, record, strict=False))


def _add_row(drafts: dict[str, _Draft], row: dict[str, str], catalog: Catalog, currency: str,
             stats: ImportStats) -> None:
    name = _cell(row, "Name")
    if not name:
        raise PayloadError("Name (the order number, e.g. #1001) is empty")
    if name not in drafts:
        drafts[name] = _Draft(_order_columns(row, name, currency), [])
    drafts[name].lines.append(_line(row, catalog, stats))


def _order_columns(row: dict[str, str], name: str, currency: str) -> Order:
    created_at = _time(row, "Created at")
    if created_at is None:
        raise PayloadError(f"Created at is empty on the first row of order {name}")
    cancelled_at = _time(row, "Cancelled at")
    financial = _cell(row, "Financial Status").lower()
    return Order(
        order_id=_cell(row, "Id") or name,
        customer_id=email_customer_id(_cell(row, "Email")),
        created_at=created_at,
        updated_at=max(created_at, cancelled_at or created_at),
        cancelled=financial in VOID_FINANCIAL_STATUSES or cancelled_at is not None,
        currency=currency_code(_cell(row, "Currency") or currency, "Currency"),
        total_price=money(_cell(row, "Total") or "0", "Total"),
        lines=(),
    )


def _line(row: dict[str, str], catalog: Catalog, stats: ImportStats) -> LineItem:
    sku, title = _cell(row, "Lineitem sku"), _cell(row, "Lineitem name")
    if not sku and not title:
        raise PayloadError("Lineitem sku and Lineitem name are both empty")
    raw_quantity = _cell(row, "Lineitem quantity")
    if not raw_quantity.isdigit():
        raise PayloadError(f"Lineitem quantity must be a whole number, got {raw_quantity!r}")
    product_id, how = catalog.match(sku, title)
    stats.matched[how] += 1
    stats.line_items += 1
    return LineItem(product_id=product_id, variant_id=None,
                    title=display_text(title, "Lineitem name"),
                    quantity=int(raw_quantity),
                    price=money(_cell(row, "Lineitem price") or "0", "Lineitem price"))


def _cell(row: dict[str, str], column: str) -> str:
    return str(row.get(column) or "").strip()


def _time(row: dict[str, str], column: str) -> float | None:
    value = _cell(row, column)
    if not value:
        return None
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(value, pattern).timestamp()
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{column} must be a time with its offset, like "
                           f"2024-01-15 10:30:00 +0100, got {value!r}")
    return parsed.timestamp()


async def load_catalog(redis: aioredis.Redis, shop_id: str) -> Catalog:
    entries = [json.loads(raw) async for _, raw in redis.hscan_iter(keys.products(shop_id))]
    return catalog_from(entries)


async def import_csv(
    redis: aioredis.Redis, shop_id: str, path: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Check the whole export, then store its orders; a summary of what was imported."""
    shop = await get_shop(redis, shop_id)
    if shop is None:
        raise ShopError(f"no shop {shop_id!r}; see `shopreco shops list`")
    started = time.perf_counter()
    stats = ImportStats()
    catalog = await load_catalog(redis, shop_id)
    try:
        with path.open(newline="", encoding="utf-8-sig") as rows:
            orders = read_export(rows, catalog, shop.currency, stats)
    except (OSError, UnicodeDecodeError) as error:
        raise CsvImportError(f"{path}: cannot be read ({error})") from None
    except CsvImportError as error:
        raise CsvImportError(f"{path} {error}") from None
    if progress is not None:
        progress.total = len(orders)
    changed = 0
    for order in orders:
        changed += await records.store_order(redis, shop_id, order)
        if progress is not None:
            progress.step()
    return {"shop_id": shop_id, "file": str(path), "rows": stats.rows, "orders": stats.orders,
            "orders_changed": changed, "cancelled": stats.cancelled,
            "line_items": stats.line_items, "products_matched_by": stats.matched,
            "seconds": round(time.perf_counter() - started, 3)}


