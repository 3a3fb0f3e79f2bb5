"""The admin's Customers page: stage counts, a stage's customers and their CSV, cohorts."""

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
from tests.plugin.admin.test_recommendations_page import sign_in

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
