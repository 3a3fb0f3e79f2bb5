"""Lifecycle metrics and stages on real data, against independent computations in plain pandas:
CDNOW (retention, repeat rate, AOV, monthly series, cohorts) and UCI Online Retail (a stage for
every customer; a sample of its customers stored in Redis and read back through the API)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from plugin.api.lifecycle import parse_as_of, parse_instant
from plugin.store.facts import fact_record, parse_records
from plugin.store.order import Order
from plugin.store.records import store_order
from plugin.store.shops import NewShop, add_shop
from recommender.lifecycle import (
    DAY,
    OrderFact,
    cohorts,
    customer_stages,
    monthly,
    retention,
    summary,
)
from tests.conftest import Store, shopreco
from tests.helpers import SHARED_DATA

CDNOW = SHARED_DATA / "cdnow_master_lifetimes.csv.gz"
RETAIL = SHARED_DATA / "online_retail_uci_2010-12_2011-12.csv.gz"
RETAIL_AS_OF = "2011-12-09"

pytestmark = pytest.mark.skipif(not (CDNOW.exists() and RETAIL.exists()),
                                reason=f"the shared data is not in {SHARED_DATA}")


def epoch_seconds(naive_utc: pd.Series) -> pd.Series:
    """Epoch seconds of naive UTC times, whatever unit pandas stores them in."""
    return (naive_utc - pd.Timestamp("1970-01-01")).dt.total_seconds()


# ---- CDNOW: the metrics, computed by the library and by pandas --------------------------------


@pytest.fixture(scope="module")
def cdnow() -> tuple[pd.DataFrame, list[OrderFact]]:
    """Rows that are purchases (value > 0: a zero-value order is not a purchase) and their
    facts, one order per row, at midnight UTC of its date."""
    rows = pd.read_csv(CDNOW, dtype={"customer_id": str})
    rows = rows[rows["dollar_value"] > 0].reset_index(drop=True)
    rows["date"] = pd.to_datetime(rows["ordered_at"])
    at = epoch_seconds(rows["date"])
    facts = [OrderFact(str(i), c, float(t), float(v), "USD") for i, c, t, v in
             zip(rows.index, rows["customer_id"], at, rows["dollar_value"], strict=True)]
    return rows, facts


def test_cdnow_totals_match_pandas(cdnow) -> None:
    rows, facts = cdnow
    got = summary(facts, parse_as_of("1998-06-30"))
    per_customer = rows.groupby("customer_id").size()
    assert got["customers"] == rows["customer_id"].nunique()
    assert got["orders"] == len(rows)
    assert got["repeat_purchase_rate"] == pytest.approx((per_customer >= 2).mean())
    assert got["orders_per_customer"] == pytest.approx(per_customer.mean())
    money = got["money"]["USD"]
    assert money["aov"] == pytest.approx(rows["dollar_value"].mean(), abs=0.005)
    assert money["clv"] == pytest.approx(
        rows.groupby("customer_id")["dollar_value"].sum().mean(), abs=0.005)


def test_cdnow_totals_as_of_an_earlier_date_ignore_later_orders(cdnow) -> None:
    rows, facts = cdnow
    early = rows[rows["date"] <= "1997-03-31"]
    got = summary(facts, parse_as_of("1997-03-31"))
    assert got["orders"] == len(early)
    assert got["repeat_purchase_rate"] == pytest.approx(
        (early.groupby("customer_id").size() >= 2).mean())
    assert got["money"]["USD"]["aov"] == pytest.approx(early["dollar_value"].mean(), abs=0.005)


def pandas_retention(rows: pd.DataFrame, start: str, end: str, lookback: int) -> dict[str, Any]:
    """Customers at start: ordered in the `lookback` days before `start`; at end: in the
    `lookback` days up to and including `end`; new: first order from start to end."""
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    days = max(lookback, (last - first).days + 1)
    dates = rows["date"]
    before = rows[(dates >= first - pd.Timedelta(days=days)) & (dates < first)]
    upto = rows[(dates > last - pd.Timedelta(days=days)) & (dates <= last)]
    first_order = rows.groupby("customer_id")["date"].min()
    s, e = before["customer_id"].nunique(), upto["customer_id"].nunique()
    n = int(((first_order >= first) & (first_order <= last)).sum())
    return {"s": s, "e": e, "n": n, "rate": (e - n) / s}


@pytest.mark.parametrize(("start", "end", "lookback"), [
    ("1997-03-01", "1997-03-31", 90),
    ("1997-07-01", "1998-06-30", 365),
    ("1998-01-01", "1998-06-30", 182),
    ("1997-02-15", "1997-05-14", 30),  # a lookback shorter than the period becomes the period
])
def test_cdnow_retention_matches_pandas(cdnow, start: str, end: str, lookback: int) -> None:
    rows, facts = cdnow
    expected = pandas_retention(rows, start, end, lookback)
    got = retention(facts, parse_instant("start", start, end_of_day=False),
                    parse_instant("end", end, end_of_day=True), lookback)
    assert (got.customers_at_start, got.customers_at_end, got.new_customers) == (
        expected["s"], expected["e"], expected["n"])
    assert got.rate == pytest.approx(expected["rate"])


def test_cdnow_monthly_series_matches_pandas(cdnow) -> None:
    rows, facts = cdnow
    series = {m["month"]: m for m in monthly(facts, parse_as_of("1998-06-30"))}
    month = rows["date"].dt.strftime("%Y-%m")
    first_month = rows.groupby("customer_id")["date"].min().dt.strftime("%Y-%m")
    expected = pd.DataFrame({
        "orders": rows.groupby(month).size(),
        "revenue": rows.groupby(month)["dollar_value"].sum(),
        "customers": rows.groupby(month)["customer_id"].nunique(),
        "new": first_month.value_counts(),
    }).fillna(0)
    assert list(series) == list(expected.index)
    for name, row in expected.iterrows():
        got = series[str(name)]
        assert got["orders"] == row["orders"] and got["customers"] == row["customers"]
        assert got["new_customers"] == row["new"]
        assert got["returning_customers"] == row["customers"] - row["new"]
        assert got["revenue"]["USD"] == pytest.approx(row["revenue"], abs=0.01)
        assert got["aov"]["USD"] == pytest.approx(row["revenue"] / row["orders"], abs=0.01)


def test_cdnow_cohort_matrix_matches_pandas(cdnow) -> None:
    rows, facts = cdnow
    matrix = {row["cohort"]: row for row in cohorts(facts, parse_as_of("1998-06-30"))}
    month = rows["date"].dt.year * 12 + rows["date"].dt.month
    cohort = month.groupby(rows["customer_id"]).transform("min")
    active = (rows.assign(cohort=cohort, offset=month - cohort)
              .groupby(["cohort", "offset"])["customer_id"].nunique())
    sizes = rows.assign(cohort=cohort).groupby("cohort")["customer_id"].nunique()
    # the 1997 Q1 acquisition cohort, and 2 customers whose Q1 orders were worth 0
    assert list(matrix)[:3] == ["1997-01", "1997-02", "1997-03"] and len(matrix) == 4
    assert len(sizes) == 4 and sizes.iloc[-1] == 2
    for cohort_month, size in sizes.items():
        name = f"{(cohort_month - 1) // 12}-{(cohort_month - 1) % 12 + 1:02d}"
        got = matrix[name]
        assert got["customers"] == size
        assert len(got["retention"]) == 1998 * 12 + 6 - cohort_month + 1
        for offset, share in enumerate(got["retention"]):
            count = active.get((cohort_month, offset), 0)
            assert got["active"][offset] == count
            assert share == pytest.approx(count / size, abs=5e-5)
        assert got["retention"][0] == 1.0


# ---- UCI Online Retail: a stage for every customer --------------------------------------------


def retail_rows() -> pd.DataFrame:
    """Every row with its epoch time; customer ids as strings without a trailing .0."""
    rows = pd.read_csv(RETAIL, dtype={"order_id": str, "product_id": str, "customer_id": str})
    rows["customer_id"] = rows["customer_id"].str.replace(r"\.0$", "", regex=True)
    rows["at"] = epoch_seconds(pd.to_datetime(rows["ordered_at"]))
    return rows


def purchases(rows: pd.DataFrame) -> pd.DataFrame:
    """The data README's purchases: a customer, no C invoice, quantity and price above 0."""
    keep = (rows["customer_id"].notna() & ~rows["order_id"].str.startswith("C")
            & (rows["quantity"] > 0) & (rows["unit_price"] > 0))
    return rows[keep]


def retail_order_json(rows: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Invoices as stored orders (plugin.store.order.Order as JSON): a C invoice is a cancelled
    order; lines with a quantity or price of 0 or less (adjustments) are left out; guests have
    no customer."""
    kept = rows[rows["order_id"].str.startswith("C")
                | ((rows["quantity"] > 0) & (rows["unit_price"] > 0))]
    kept = kept.sort_values("order_id", kind="stable")
    ids = kept["order_id"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    product, quantity = kept["product_id"].to_numpy(), kept["quantity"].abs().to_numpy()
    price, customer, at = (kept["unit_price"].to_numpy(), kept["customer_id"].to_numpy(),
                           kept["at"].to_numpy())
    for low, high in itertools.pairwise(bounds):
        order_id = str(ids[low])
        who = customer[low]
        yield {"order_id": order_id, "customer_id": who if isinstance(who, str) else None,
               "created_at": float(at[low]), "updated_at": float(at[low]),
               "cancelled": order_id.startswith("C"), "currency": "GBP", "total_price": "0",
               "lines": [{"product_id": str(product[i]), "variant_id": None, "title": "item",
                          "quantity": int(quantity[i]), "price": repr(float(price[i])),
                          "line_id": f"{order_id}-{i - low}"} for i in range(low, high)],
               "refunds": []}


def retail_orders(rows: pd.DataFrame) -> Iterator[Order]:
    return (Order.from_json(json.dumps(order)) for order in retail_order_json(rows))


GRID = {  # docs/lifecycle.md: R (rows) by FM (columns) for repeat customers
    5: ["promising", "promising", "active", "loyal", "champions"],
    4: ["promising", "promising", "active", "loyal", "loyal"],
    3: ["needs_attention"] * 4 + ["loyal"],
    2: ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
    1: ["lost", "lost", "hibernating", "at_risk", "cant_lose"],
}
ONE_ORDER = {5: "new", 4: "promising", 3: "needs_attention", 2: "hibernating", 1: "lost"}


def quintile(values: pd.Series) -> pd.Series:
    twice_rank = (values.rank(method="average") * 2).round().astype("int64")
    return np.ceil(5 * twice_rank / (2 * len(values))).clip(1, 5).astype("int64")


def pandas_stages(buys: pd.DataFrame, as_of: float) -> pd.DataFrame:
    """Independently: RFM, scores, stages, expected gap and churn risk per customer."""
    buys = buys.assign(value=buys["quantity"] * buys["unit_price"])
    per_order = buys.groupby(["customer_id", "order_id"]).agg(at=("at", "first"),
                                                             value=("value", "sum"))
    per_order = per_order[per_order["value"] > 0].reset_index().sort_values(["customer_id", "at"])
    table = per_order.groupby("customer_id").agg(frequency=("at", "size"),
                                                 monetary=("value", "sum"), last=("at", "max"))
    table["recency_days"] = (as_of - table["last"]) / DAY
    table["r"], table["f"] = quintile(table["last"]), quintile(table["frequency"])
    table["m"] = quintile(table["monetary"].round(2))
    fm = (table["f"] + table["m"] + 1) // 2
    table["stage"] = [ONE_ORDER[r] if n == 1 else GRID[r][c - 1]
                      for r, c, n in zip(table["r"], fm, table["frequency"], strict=True)]
    gaps = per_order.groupby("customer_id")["at"].diff().dropna() / DAY
    own = gaps.groupby(per_order.loc[gaps.index, "customer_id"]).agg(["median", "size"])
    cycle = own["median"].median()
    k = own["size"].reindex(table.index).fillna(0)
    gap = ((k * own["median"].reindex(table.index).fillna(0) + cycle) / (k + 1)).clip(lower=1)
    p = table["frequency"] / (table["frequency"] + 1)
    alive = p * np.exp(-table["recency_days"] / gap)
    table["churn_risk"] = 1 - alive / (alive + 1 - p)
    table["expected_next_order"] = table["last"] + gap * DAY
    return table


@pytest.fixture(scope="module")
def retail() -> pd.DataFrame:
    return retail_rows()


def test_every_online_retail_customer_gets_the_pandas_stage(retail: pd.DataFrame) -> None:
    as_of = parse_as_of(RETAIL_AS_OF)
    facts = parse_records([r for r in map(fact_record, retail_orders(retail)) if r])
    stages = customer_stages(facts, as_of)
    expected = pandas_stages(purchases(retail), as_of)
    assert len(stages) == len(expected) == 4338  # the data README's purchase customers
    got = pd.DataFrame([s.__dict__ for s in stages.values()]).set_index("customer_id")
    got = got.loc[expected.index]
    assert (got["frequency"] == expected["frequency"]).all()
    assert np.allclose(got["monetary"], expected["monetary"], atol=0.01)
    assert np.allclose(got["recency_days"], expected["recency_days"])
    for score in ("r", "f", "m"):
        assert (got[score] == expected[score]).all(), score
    assert (got["stage"] == expected["stage"]).all()
    assert np.allclose(got["churn_risk"], expected["churn_risk"], atol=1e-9)
    assert np.allclose(got["expected_next_order"], expected["expected_next_order"])
    assert got["stage"].nunique() == 10  # every stage has customers in a real shop


# ---- UCI Online Retail through Redis and the API ----------------------------------------------


@pytest.fixture(scope="module")
def retail_shop(store: Store, retail: pd.DataFrame) -> tuple[NewShop, pd.DataFrame]:
    """A tenth of the customers (id ending in 7) with their orders, cancelled invoices
    included, and 50 guest orders, stored as the adapters store them."""
    sample = retail[retail["customer_id"].str.endswith("7", na=False)
                    | retail["order_id"].isin(
                        retail.loc[retail["customer_id"].isna(), "order_id"].unique()[:50])]
    shop_id = "life-" + uuid.uuid4().hex[:8]
    shop = store.run(lambda r: add_shop(r, shop_id, "custom", f"{shop_id}.example",
                                        "http://testserver", currency="GBP"))

    async def load(redis: Any) -> None:
        for order in retail_orders(sample):
            await store_order(redis, shop_id, order)

    store.run(load)
    return shop, purchases(sample)


def get(http: httpx.Client, shop: NewShop, path: str, **params: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/{path}", params=params,
                        headers={"Authorization": f"Bearer {shop.api_key}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_api_stage_counts_match_pandas(http, retail_shop) -> None:
    shop, buys = retail_shop
    expected = pandas_stages(buys, parse_as_of(RETAIL_AS_OF))
    body = get(http, shop, "stages", as_of=RETAIL_AS_OF)
    counts = {row["stage"]: row["customers"] for row in body["stages"]}
    assert body["customers"] == len(expected) == buys["customer_id"].nunique()
    assert counts == {s: int((expected["stage"] == s).sum()) for s in counts}
    assert sum(row["share"] for row in body["stages"]) == pytest.approx(1.0, abs=1e-3)


def test_api_customer_answers_match_pandas(http, retail_shop) -> None:
    shop, buys = retail_shop
    expected = pandas_stages(buys, parse_as_of(RETAIL_AS_OF))
    for customer_id in expected.index[::37]:
        body = get(http, shop, f"customers/{customer_id}", as_of=RETAIL_AS_OF)
        row = expected.loc[customer_id]
        assert (body["stage"], body["frequency"], body["r"], body["f"], body["m"]) == (
            row["stage"], row["frequency"], row["r"], row["f"], row["m"])
        assert float(body["monetary"]) == pytest.approx(row["monetary"], abs=0.01)
        assert body["churn_risk"] == pytest.approx(row["churn_risk"], abs=1e-9)
        assert pd.Timestamp(body["last_order"]).timestamp() == row["last"]


def test_api_metrics_match_pandas(http, retail_shop) -> None:
    shop, buys = retail_shop
    body = get(http, shop, "metrics", as_of=RETAIL_AS_OF, start="2011-06-01", end="2011-11-30")
    per_order = buys.assign(value=buys["quantity"] * buys["unit_price"]).groupby(
        "order_id").agg(customer=("customer_id", "first"), value=("value", "sum"),
                        at=("at", "first"))
    per_customer = per_order.groupby("customer").size()
    assert body["customers"] == len(per_customer) and body["orders"] == len(per_order)
    assert body["repeat_purchase_rate"] == pytest.approx((per_customer >= 2).mean())
    money = body["money"]["GBP"]  # decimal strings, to the penny
    assert float(money["aov"]) == pytest.approx(per_order["value"].mean(), abs=0.005)
    assert float(money["clv"]) == pytest.approx(
        per_order["value"].sum() / len(per_customer), abs=0.005)
    assert round(per_order["value"].sum(), 2) == pytest.approx(float(money["revenue"]))
    start = pd.Timestamp("2011-06-01", tz="UTC").timestamp()
    end = pd.Timestamp("2011-12-01", tz="UTC").timestamp()
    window = 365 * DAY  # the default lookback (the period is shorter)
    at_start = per_order[(per_order["at"] >= start - window) & (per_order["at"] < start)]
    at_end = per_order[(per_order["at"] >= end - window) & (per_order["at"] < end)]
    first = per_order.groupby("customer")["at"].min()
    new = int(((first >= start) & (first < end)).sum())
    s, e = at_start["customer"].nunique(), at_end["customer"].nunique()
    kept = body["retention"]
    assert (kept["customers_at_start"], kept["customers_at_end"], kept["new_customers"]) == (
        s, e, new)
    assert kept["rate"] == pytest.approx((e - new) / s)
    assert body["notes"] == []


def test_api_cohorts_match_pandas(http, retail_shop) -> None:
    shop, buys = retail_shop
    body = get(http, shop, "cohorts", as_of=RETAIL_AS_OF)
    stamp = pd.to_datetime(buys["at"], unit="s")
    month = stamp.dt.year * 12 + stamp.dt.month
    cohort = month.groupby(buys["customer_id"]).transform("min")
    sizes = buys.assign(cohort=cohort).groupby("cohort")["customer_id"].nunique()
    second = (buys.assign(cohort=cohort)[month == cohort + 1]
              .groupby("cohort")["customer_id"].nunique())
    rows = body["cohorts"]
    assert [row["customers"] for row in rows] == list(sizes)
    for row, (cohort_month, size) in zip(rows, sizes.items(), strict=True):
        if len(row["retention"]) > 1:
            assert row["retention"][1] == pytest.approx(
                second.get(cohort_month, 0) / size, abs=5e-5)


def test_cli_summary_of_the_stored_shop(store: Store, retail_shop) -> None:
    shop, buys = retail_shop
    result = shopreco(store, "lifecycle", shop.shop.shop_id, "--as-of", RETAIL_AS_OF)
    assert result.returncode == 0, result.stderr
    expected = pandas_stages(buys, parse_as_of(RETAIL_AS_OF))
    lines = result.stdout.splitlines()
    assert lines[0] == f"Lifecycle of shop {shop.shop.shop_id} as of 2011-12-09 23:59 UTC"
    customers = next(line for line in lines if line.startswith("Customers "))
    assert customers.split()[-1] == f"{len(expected):,}"
    for label, stage in (("Champions", "champions"), ("Can't lose", "cant_lose")):
        row = next(line for line in lines if line.startswith(label + " "))
        assert row.split()[2 if " " in label else 1] == f"{(expected['stage'] == stage).sum():,}"
