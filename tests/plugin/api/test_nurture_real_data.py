"""The nurture feed on real data through the API: every tenth customer of UCI Online Retail
(2010-12 to 2011-12, ~430 customers with all their orders), checked against an independent
pandas computation of each customer's recency, frequency and monetary value, and against the
personal recommendation call. (All 4,338 customers: bench/nurture_feed.py.)"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from plugin.store.order import LineItem, Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store
from tests.helpers import SHARED_DATA, auth, train
from tests.plugin.api.test_email import api_items

DATA = SHARED_DATA / "online_retail_uci_2010-12_2011-12.csv.gz"
AS_OF = "2011-12-31"
AS_OF_EPOCH = pd.Timestamp("2012-01-01", tz="UTC").timestamp() - 0.001  # end of that day
DAY = 86400.0
SAMPLE_EVERY = 10  # customers whose id is a multiple of this, with every order they placed

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} is not there")


def purchases(sample_every: int = SAMPLE_EVERY) -> pd.DataFrame:
    """Rows that are purchases (the data's README): a customer, no C invoice, positive
    quantity and price; of the customers whose id is a multiple of `sample_every`."""
    rows = pd.read_csv(DATA, dtype={"order_id": str, "product_id": str, "customer_id": str,
                                    "unit_price": str})
    rows = rows[rows["customer_id"].notna() & ~rows["order_id"].str.startswith("C")]
    rows = rows[(rows["quantity"] > 0) & (rows["unit_price"].astype(float) > 0)].copy()
    rows["customer_id"] = rows["customer_id"].str.replace(r"\.0$", "", regex=True)
    rows = rows[rows["customer_id"].astype(int) % sample_every == 0]
    rows["at"] = pd.to_datetime(rows["ordered_at"]).dt.tz_localize("UTC").astype("int64") / 1e9
    return rows


def orders_of(rows: pd.DataFrame) -> Iterator[Order]:
    for order_id, lines in rows.groupby("order_id", sort=False):
        at = float(lines["at"].iloc[0])
        yield Order(
            order_id=str(order_id), customer_id=str(lines["customer_id"].iloc[0]),
            created_at=at, updated_at=at, cancelled=False, currency="GBP", total_price="0",
            lines=tuple(LineItem(product_id=p, variant_id=None, title=str(t), quantity=int(q),
                                 price=str(u), line_id=f"{order_id}-{n}")
                        for n, (p, t, q, u) in enumerate(zip(
                            lines["product_id"], lines["product_name"], lines["quantity"],
                            lines["unit_price"], strict=True))),
        )


def expected_rfm(rows: pd.DataFrame) -> pd.DataFrame:
    """Independently: orders, net value and days since the last order, per customer."""
    rows = rows.assign(value=rows["quantity"] * rows["unit_price"].astype(float))
    per_order = rows.groupby(["customer_id", "order_id"]).agg(at=("at", "first"),
                                                             value=("value", "sum"))
    per_customer = per_order.groupby("customer_id").agg(
        frequency=("at", "size"), monetary=("value", "sum"), last=("at", "max"))
    per_customer["recency_days"] = (AS_OF_EPOCH - per_customer["last"]) / DAY
    return per_customer


@pytest.fixture(scope="module")
def retail(store: Store, base_url: str) -> tuple[NewShop, pd.DataFrame]:
    rows = purchases()
    shop_id = "retail-" + uuid.uuid4().hex[:8]
    shop = store.run(lambda r: add_shop(r, shop_id, "custom", f"{shop_id}.example",
                                        "http://testserver", currency="GBP", locale="en-GB"))

    async def load(redis: Any) -> None:
        for order in orders_of(rows):
            await store_order(redis, shop_id, order)

    store.run(load)
    with httpx.Client(base_url=base_url, timeout=600) as http:
        assert train(http, shop).status_code == 200
    return shop, expected_rfm(rows)


def walk(http: httpx.Client, shop: NewShop, **params: Any) -> list[dict[str, Any]]:
    url = f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed"
    params = {"as_of": AS_OF, "limit": 500, **params}
    items: list[dict[str, Any]] = []
    while True:
        response = http.get(url, params=params, headers=auth(shop))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params = {k: v for k, v in params.items() if k != "as_of"} | {
            "cursor": body["next_cursor"]}


def test_feed_lists_every_customer_once_with_their_rfm(http, retail) -> None:
    shop, expected = retail
    items = walk(http, shop, products=2)
    ids = [item["customer_id"] for item in items]
    assert len(ids) == len(set(ids)) == len(expected) > 400
    got = pd.DataFrame(items).set_index("customer_id").loc[expected.index]
    assert (got["frequency"] == expected["frequency"]).all()
    assert ((got["monetary"].astype(float) - expected["monetary"]).abs() <= 0.011).all()
    assert ((got["recency_days"] - expected["recency_days"]).abs() <= 0.006).all()
    assert all(len(item["products"]) == 2 for item in items)


def test_stage_feed_and_csv_agree_with_the_api(http, retail) -> None:
    shop, _expected = retail
    at_risk = walk(http, shop, stage="at_risk", products=3, exclude_purchased="true")
    assert at_risk and {item["stage"] for item in at_risk} == {"at_risk"}
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed", headers=auth(shop),
                        params={"as_of": AS_OF, "stage": "at_risk", "products": 3,
                                "exclude_purchased": "true", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["customer_id"] for row in rows] == [item["customer_id"] for item in at_risk]
    for row, item in list(zip(rows, at_risk, strict=True))[::5]:
        answer = api_items(http, shop, item["customer_id"], 3, exclude=True)
        assert [p["product_id"] for p in item["products"]] == [a["product_id"] for a in answer]
        assert [row[f"product_{n}_id"] for n in (1, 2, 3)] == [a["product_id"] for a in answer]
        assert row["product_1_price"].startswith("£")
