"""The admin's Customers page (plugin/admin/customers.py): stage counts, a stage's customers
and their CSV, cohorts."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import httpx

from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.plugin.admin.conftest import sign_in

DAY = 86400.0


def test_stages_customers_csv_and_cohorts(store: Store, http: httpx.Client,
                                          shop: NewShop) -> None:
    now = time.time()
    people = ["ann", "bob", "=HYPERLINK(1)", "dee"]

    async def fill(redis: Any) -> None:
        for n, who in enumerate(people):
            for k in range(n + 1):  # ann 1 order ... dee 4 orders, spread over months
                at = now - (k * 40 + n) * DAY
                lines = (LineItem("p1", None, "One", 1, "10.00", f"{n}-{k}"),)
                await store_order(redis, shop.shop.shop_id, Order(
                    f"{n}-{k}", who, at, at, False, "EUR", "0", lines, ()))

    store.run(fill)
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        page = client.get("/admin/customers").text
        counts = [int(n) for n in re.findall(r'data-stage="[a-z_]+">(\d+)<', page)]
        assert sum(counts) == 4 and "Customers per stage (4)" in page
        assert page.count("<svg") == 1 and 'id="cohorts"' in page
        stage = next(s for s, n in re.findall(r'data-stage="([a-z_]+)">(\d+)<', page)
                     if int(n))
        shown = client.get("/admin/customers", params={"stage": stage}).text
        rows = shown.split('id="stage-customers"')[1].split("</table>")[0].count("<tr>") - 1
        download = client.get("/admin/customers.csv", params={"stage": stage})
        assert download.status_code == 200 and download.headers["content-type"].startswith(
            "text/csv")
        table = list(csv.DictReader(io.StringIO(download.text)))
        per_stage = dict(re.findall(r'data-stage="([a-z_]+)">(\d+)<', page))
        assert len(table) == rows == int(per_stage[stage])
        every = [r for s in ("new", "promising", "active", "loyal", "champions",
                             "needs_attention", "at_risk", "cant_lose", "hibernating", "lost")
                 for r in csv.DictReader(io.StringIO(client.get(
                     "/admin/customers.csv", params={"stage": s}).text))]
        assert sorted(r["customer_id"] for r in every) == sorted(
            ["ann", "bob", "'=HYPERLINK(1)", "dee"])  # a formula never reaches a spreadsheet
        assert client.get("/admin/customers.csv", params={"stage": "nope"}).status_code == 404


def test_a_shop_without_customers_and_an_unknown_stage(store: Store, http: httpx.Client,
                                                       shop: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        page = client.get("/admin/customers", params={"stage": "vip"}).text  # not a stage
        assert "Customers per stage (0)" in page
        assert "Stage at_risk: 0 shown" in page and '<option value="at_risk" selected>' in page
        assert "No customer in this stage." in page
        download = client.get("/admin/customers.csv", params={"stage": "lost"})
        assert download.status_code == 200
        assert download.text.splitlines() == [
            "customer_id,recency_days,orders,monetary,next_order,churn_risk"]
        assert download.headers["content-disposition"] == (
            f'attachment; filename="{shop.shop.shop_id}-lost.csv"')
        assert download.headers["cache-control"] == "no-store"
        assert client.get("/admin/customers.csv").status_code == 404  # no stage named


def test_a_stages_customers_come_most_at_risk_first(store: Store, http: httpx.Client,
                                                    shop: NewShop) -> None:
    now = time.time()

    async def fill(redis: Any) -> None:
        for n in range(12):  # two orders each, the last one 5 to 115 days ago
            for k, days in enumerate((n * 10 + 5, n * 10 + 65)):
                at = now - days * DAY
                lines = (LineItem("p1", None, "One", 1, "10.00", f"r{n}-{k}"),)
                await store_order(redis, shop.shop.shop_id, Order(
                    f"r{n}-{k}", f"cust{n}", at, at, False, "EUR", "0", lines, ()))

    store.run(fill)
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        page = client.get("/admin/customers").text
        per_stage = {s: int(n) for s, n in re.findall(r'data-stage="([a-z_]+)">(\d+)<', page)}
        assert sum(per_stage.values()) == 12
        for stage, count in per_stage.items():
            rows = list(csv.DictReader(io.StringIO(client.get(
                "/admin/customers.csv", params={"stage": stage}).text)))
            assert len(rows) == count
            risks = [float(row["churn_risk"]) for row in rows]
            assert risks == sorted(risks, reverse=True), stage
            shown = client.get("/admin/customers", params={"stage": stage}).text
            table = shown.split('id="stage-customers"')[1].split("</table>")[0]
            assert re.findall(r"<tr><td>(cust\d+)</td>", table) == [r["customer_id"] for r in rows]
