"""The lifecycle endpoints (plugin/api/lifecycle.py) and `shopreco lifecycle` on small shops with
known answers: edge cases answer clearly (zeros, nulls and a note), bad input is a 400, shops
stay apart; the dates and times the endpoints take; every answer, nulls and errors included, is
what the API reference (GET /api/v1/openapi.json) declares."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from plugin.api.lifecycle import parse_as_of, parse_instant
from plugin.store.order import Refund
from plugin.store.shops import NewShop
from plugin.web.params import BadRequest
from recommender.lifecycle import STAGES
from tests.conftest import Store, shopreco
from tests.helpers import auth
from tests.openapi_check import reference, schema_errors, undocumented
from tests.plugin.engine.test_lifecycle import order, store_orders

AS_OF = "2023-12-31"  # T0 is 2023-11-14


def call(http: httpx.Client, shop: NewShop, path: str, **params: str) -> httpx.Response:
    return http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/{path}", params=params,
                    headers={"Authorization": f"Bearer {shop.api_key}"})


def ok(http: httpx.Client, shop: NewShop, path: str, **params: str) -> dict[str, Any]:
    response = call(http, shop, path, **params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def small_shop(store: Store, shop: NewShop) -> NewShop:
    """ann: 3 orders (day 0, 10, 20); bob: 1 order; cy: only a fully refunded order;
    a guest order and a cancelled order of bob's."""
    store_orders(store, shop.shop.shop_id, [
        order("a1", "ann", 0, prices=("20.00",)),
        order("a2", "ann", 10, prices=("30.00",)),
        order("a3", "ann", 20, prices=("10.00",)),
        order("b1", "bob", 5, prices=("15.00",)),
        order("b2", "bob", 6, prices=("99.00",), cancelled=True),
        order("c1", "cy", 7, prices=("40.00",), refunds=(Refund("r", "c1-0", 1),)),
        order("g1", None, 8, prices=("50.00",)),
    ])
    return shop


def test_metrics_of_a_small_shop(http, small_shop) -> None:
    body = ok(http, small_shop, "metrics", as_of=AS_OF)
    assert (body["customers"], body["orders"], body["repeat_customers"]) == (2, 4, 1)
    assert body["repeat_purchase_rate"] == 0.5 and body["orders_per_customer"] == 2.0
    assert body["money"] == {"EUR": {"revenue": "75.00", "orders": 4, "aov": "18.75",
                                     "customers": 2, "clv": "37.50"}}  # money: decimal strings
    assert body["as_of"] == "2023-12-31T23:59:59.999Z"
    assert [m["month"] for m in body["monthly"]] == ["2023-11", "2023-12"]
    assert body["monthly"][0]["new_customers"] == 2 and body["monthly"][1]["orders"] == 1
    assert body["notes"] == [] and "retention_rate" in body["definitions"]


def test_retention_over_a_period(http, small_shop) -> None:
    # before 2023-11-20 (day 5.07): ann and bob; from then to 2023-12-31: ann orders again
    body = ok(http, small_shop, "metrics", as_of=AS_OF, start="2023-11-20", end="2023-12-31",
              lookback_days="30")
    kept = body["retention"]
    assert (kept["customers_at_start"], kept["customers_at_end"], kept["new_customers"]) == (
        2, 1, 0)
    assert kept["rate"] == 0.5 and kept["retained"] == 1 and kept["lookback_days"] == 42
    assert body["period"]["orders"] == 2 and body["period"]["returning_customers"] == 1


def test_an_empty_period_has_no_retention_rate_and_says_why(http, small_shop) -> None:
    body = ok(http, small_shop, "metrics", as_of=AS_OF, start="2020-01-01", end="2020-01-31")
    kept = body["retention"]
    assert kept["rate"] is None and "nobody to retain" in kept["note"]
    assert body["period"]["orders"] == 0 and body["period"]["money"] == {}


def test_a_shop_without_orders_answers_zeros_and_nulls(http, shop) -> None:
    metrics = ok(http, shop, "metrics")
    assert (metrics["customers"], metrics["orders"], metrics["money"]) == (0, 0, {})
    assert metrics["repeat_purchase_rate"] is None and metrics["orders_per_customer"] is None
    assert metrics["retention"]["rate"] is None and metrics["monthly"] == []
    assert "no order that counts" in metrics["notes"][0]
    stages = ok(http, shop, "stages")
    assert stages["customers"] == 0 and stages["repurchase_cycle_days"] is None
    assert [(s["stage"], s["customers"], s["share"]) for s in stages["stages"]] == [
        (stage, 0, None) for stage in STAGES]
    assert "no order that counts" in stages["note"]
    cohorts = ok(http, shop, "cohorts")
    assert cohorts["cohorts"] == [] and "no order that counts" in cohorts["note"]


def test_stages_count_every_customer_once(http, small_shop) -> None:
    body = ok(http, small_shop, "stages", as_of=AS_OF)
    counts = {s["stage"]: s["customers"] for s in body["stages"]}
    assert body["customers"] == sum(counts.values()) == 2
    assert body["repurchase_cycle_days"] == 10.0
    assert all(s["rule"] and s["action"] for s in body["stages"])
    assert "P(alive)" in body["churn_risk"]


def test_one_customer_with_stage_scores_and_dates(http, small_shop) -> None:
    body = ok(http, small_shop, "customers/ann", as_of=AS_OF)
    assert (body["frequency"], body["monetary"], body["r"], body["f"], body["m"]) == (
        3, "60.00", 5, 5, 5)  # money: a decimal string, as in the metrics
    assert body["currency"] == small_shop.shop.currency  # the precision's currency
    assert body["stage"] == "champions" and body["label"] == "Champions"
    assert body["first_order"] == "2023-11-14T22:13:20Z"
    assert body["expected_next_order"] == "2023-12-14T22:13:20Z"  # last + the 10-day cycle
    assert 0 < body["churn_risk"] < 1


def test_a_customers_spend_has_their_shops_currency_digits(http, store, make_shop) -> None:
    yen, euro = make_shop(currency="JPY"), make_shop(currency="EUR")
    for shop in (yen, euro):
        store_orders(store, shop.shop.shop_id, [order("x1", "kim", 0, prices=("1234.5",)),
                                                order("x2", "kim", 3, prices=("0.004",))])
    assert (ok(http, yen, "customers/kim", as_of=AS_OF)["monetary"],
            ok(http, euro, "customers/kim", as_of=AS_OF)["monetary"]) == ("1235", "1234.50")


def test_a_refunds_only_customer_has_no_stage_and_a_reason(http, small_shop) -> None:
    body = ok(http, small_shop, "customers/cy", as_of=AS_OF)
    assert body["stage"] is None and "fully refunded" in body["note"]


def test_a_one_order_customer_is_placed_by_recency(http, small_shop) -> None:
    body = ok(http, small_shop, "customers/bob", as_of=AS_OF)
    assert body["frequency"] == 1 and body["stage"] in {"new", "promising", "needs_attention",
                                                        "hibernating", "lost"}
    assert body["expected_next_order"] is not None  # from the shop's cycle


def test_unknown_customer_is_404(http, small_shop) -> None:
    response = call(http, small_shop, "customers/nobody")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nobody" in response.json()["detail"]


def test_a_customer_before_their_first_order_has_no_stage(http, small_shop) -> None:
    body = ok(http, small_shop, "customers/ann", as_of="2023-11-01")
    assert body["stage"] is None and "2023-11-01" in body["note"]


def test_future_as_of_raises_churn_risk(http, small_shop) -> None:
    now = ok(http, small_shop, "customers/ann", as_of="2023-12-05")
    later = ok(http, small_shop, "customers/ann", as_of="2031-01-01")
    assert later["churn_risk"] > 0.999 > now["churn_risk"]
    # 2023-12-05 -> 2031-01-01 is 2584 days
    assert later["recency_days"] == pytest.approx(now["recency_days"] + 2584)


def test_mixed_currencies_are_reported_apart(http, store, shop) -> None:
    store_orders(store, shop.shop.shop_id, [
        order("e1", "eva", 0, prices=("10.00",)),
        order("u1", "uma", 1, prices=("30.00",), currency="USD"),
    ])
    body = ok(http, shop, "metrics", as_of=AS_OF)
    assert body["money"]["EUR"]["revenue"] == "10.00" and body["money"]["USD"]["revenue"] == "30.00"
    assert "EUR, USD" in body["notes"][0] and "never converted" in body["notes"][0]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("metrics", {"as_of": "tomorrow"}, "as_of"),
    ("stages", {"as_of": "2024-02-30"}, "as_of"),
    ("cohorts", {"as_of": ""}, "as_of"),
    ("customers/ann", {"as_of": "12/31/2023"}, "as_of"),
    ("metrics", {"start": "last year"}, "start"),
    ("metrics", {"end": "2024-1-1"}, "end"),
    ("metrics", {"lookback_days": "0"}, "lookback_days"),
    ("metrics", {"lookback_days": "1.5"}, "lookback_days"),
    ("metrics", {"as_of": "2023-12-01", "end": "2023-12-02"}, "end"),
    ("metrics", {"as_of": AS_OF, "start": "2023-12-01", "end": "2023-11-01"}, "start"),
    ("metrics", {"as_of": "0001-01-01"}, "as_of"),  # a year before 1970: was a 500
    ("metrics", {"start": "0001-01-01T00:00:00Z"}, "start"),
])
def test_bad_parameters_are_a_400_naming_them(http, small_shop, path, params, field) -> None:
    response = call(http, small_shop, path, **params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(field)


def test_shops_see_only_their_own_customers(http, store, small_shop, make_shop) -> None:
    other = make_shop()
    store_orders(store, other.shop.shop_id, [order("z1", "zed", 0)])
    assert call(http, other, "customers/ann").status_code == 404
    assert ok(http, other, "stages", as_of=AS_OF)["customers"] == 1
    foreign = http.get(f"/api/v1/shops/{small_shop.shop.shop_id}/lifecycle/stages",
                       headers={"Authorization": f"Bearer {other.api_key}"})
    assert foreign.status_code == 403
    anonymous = http.get(f"/api/v1/shops/{small_shop.shop.shop_id}/lifecycle/metrics")
    assert anonymous.status_code == 401


# ---- the instants the endpoints take ----------------------------------------------------------


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "end_of_day", "instant"), [
    ("2023-12-31", True, utc(2024, 1, 1) - 0.001),  # the end of the day: its orders count
    ("2023-12-31", False, utc(2023, 12, 31) - 0.001),  # where the day starts
    (" 2023-12-31 ", True, utc(2024, 1, 1) - 0.001),
    ("2024-05-01T12:00:00Z", True, utc(2024, 5, 1, 12)),
    ("2024-05-01T12:00:00+01:00", True, utc(2024, 5, 1, 11)),
    ("2024-05-01T12:00:00 01:00", True, utc(2024, 5, 1, 11)),  # "+" unencoded in a URL
    ("2024-05-01T12:00:00 0100", True, utc(2024, 5, 1, 11)),
    ("2024-05-01T12:00:00", True, utc(2024, 5, 1, 12)),  # naive: UTC
    ("2024-05-01T12:00:00.5-02:00", False, utc(2024, 5, 1, 14) + 0.5),
])
def test_instants_are_dates_or_iso_times(raw: str, end_of_day: bool, instant: float) -> None:
    assert parse_instant("start", raw, end_of_day) == pytest.approx(instant, abs=1e-6)


@pytest.mark.parametrize("raw", ["2024-02-30", "12/31/2023", "tomorrow", "", "2024-1-1",
                                 "9999-12-31T23:59:59-99:00"])
def test_a_bad_instant_names_the_parameter(raw: str) -> None:
    with pytest.raises(BadRequest, match=r"^end must be a date \(YYYY-MM-DD\) or an ISO 8601"):
        parse_instant("end", raw, True)


@pytest.mark.parametrize("raw", ["1969-12-30", "0001-01-01", "1969-12-30T23:00:00+00:00"])
def test_instants_before_1970_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest, match=r"^end must be 1970-01-01 or later"):
        parse_instant("end", raw, False)
    assert parse_instant("end", "1970-01-01", False) == pytest.approx(-0.001)
    assert parse_instant("end", "9999-12-31", True) > parse_instant("end", "9000-01-01", True)


def test_as_of_is_now_unless_given() -> None:
    before = time.time()
    assert before <= parse_as_of(None) <= time.time()
    assert parse_as_of("2023-12-31") == pytest.approx(utc(2024, 1, 1) - 0.001)


# ---- the command -------------------------------------------------------------------------------


def test_cli_summary_is_an_aligned_table(store: Store, small_shop) -> None:
    result = shopreco(store, "lifecycle", small_shop.shop.shop_id, "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Lifecycle of shop {small_shop.shop.shop_id} as of 2023-12-31 23:59 UTC"
    assert "Repeat-purchase rate" in result.stdout and "50.0 %" in result.stdout
    assert "AOV (EUR)" in result.stdout and "18.75" in result.stdout
    header = next(i for i, line in enumerate(lines) if line.startswith("Stage "))
    table = lines[header:header + len(STAGES) + 2]
    share_end = table[0].index("Share") + len("Share")
    assert all(line[share_end - 1] == "%" for line in table[1:])  # shares right-aligned
    assert table[-1].split()[:2] == ["Total", "2"]


def test_cli_summary_of_a_shop_without_orders_says_so(store: Store, shop) -> None:
    result = shopreco(store, "lifecycle", shop.shop.shop_id)
    assert result.returncode == 0, result.stderr
    assert "no order that counts" in result.stdout and "n/a" in result.stdout


def test_cli_refuses_an_unknown_shop_and_a_bad_date(store: Store, shop) -> None:
    unknown = shopreco(store, "lifecycle", "no-such-shop")
    assert unknown.returncode == 1 and "no shop 'no-such-shop'" in unknown.stderr
    bad = shopreco(store, "lifecycle", shop.shop.shop_id, "--as-of", "soon")
    assert bad.returncode == 1 and "as_of must be a date" in bad.stderr


# ---- the API reference --------------------------------------------------------------------------

ROUTE = "/api/v1/shops/{shop_id}/lifecycle/"
ROUTES = {"metrics": "metrics", "cohorts": "cohorts", "stages": "stages",
          "customers": "customers/{customer_id}"}


def declared(http: httpx.Client, shop: NewShop, path: str, **params: str) -> httpx.Response:
    """The answer to GET lifecycle/`path`, checked against the reference."""
    response = call(http, shop, path, **params)
    route = ROUTE + ROUTES[path.split("/")[0]]
    assert schema_errors(reference(http), "GET", route, response) == [], response.text
    return response


@pytest.mark.parametrize("route", ROUTES.values())
def test_the_reference_documents_every_field_with_a_valid_example(http, route) -> None:
    doc = reference(http)
    assert undocumented(doc, ROUTE + route) == []
    operation = doc["paths"][ROUTE + route]["get"]
    assert operation["security"] == [{"apiKey": ["lifecycle:read"]}]
    assert operation["tags"] == ["Lifecycle"]


def test_metrics_parameters_are_declared(http) -> None:
    operation = reference(http)["paths"][ROUTE + "metrics"]["get"]
    assert [p["name"] for p in operation["parameters"]] == [
        "shop_id", "as_of", "start", "end", "lookback_days"]
    assert operation["parameters"][4]["schema"]["maximum"] == 3650


@pytest.mark.parametrize(("path", "params"), [
    ("metrics", {"as_of": AS_OF}),
    ("metrics", {"as_of": AS_OF, "start": "2023-11-20", "end": "2023-12-31",
                 "lookback_days": "30"}),
    ("metrics", {"as_of": AS_OF, "start": "2020-01-01", "end": "2020-01-31"}),  # rate null
    ("cohorts", {"as_of": AS_OF}),
    ("stages", {"as_of": AS_OF}),  # empty stages: share and mean churn risk null
    ("customers/ann", {"as_of": AS_OF}),
    ("customers/bob", {"as_of": "2023-11-20T12:00:00+01:00"}),
    ("customers/cy", {"as_of": AS_OF}),  # only a refunded order: stage null
    ("customers/ann", {"as_of": "2023-11-01"}),  # before the first order: stage null
])
def test_answers_are_what_the_reference_declares(http, small_shop, path, params) -> None:
    assert declared(http, small_shop, path, **params).status_code == 200


def test_a_shop_without_orders_answers_as_declared(http, shop) -> None:
    assert declared(http, shop, "metrics").json()["repeat_purchase_rate"] is None
    assert declared(http, shop, "cohorts").json()["note"] is not None
    assert declared(http, shop, "stages").json()["repurchase_cycle_days"] is None


def test_one_order_customers_answer_as_declared(http, store, shop) -> None:
    """Without a repeat customer there is no cycle: expected_next_order is null."""
    store_orders(store, shop.shop.shop_id, [order("o1", "olga", 0), order("p1", "pia", 3)])
    body = declared(http, shop, "customers/olga", as_of=AS_OF).json()
    assert body["stage"] is not None and body["expected_next_order"] is None
    assert declared(http, shop, "stages", as_of=AS_OF).json()["repurchase_cycle_days"] is None


def test_money_per_currency_answers_as_declared(http, store, shop) -> None:
    """Months without an order in a currency have a null AOV; no currency is `unknown`."""
    store_orders(store, shop.shop.shop_id, [
        order("e1", "eva", 0, prices=("10.00",)),
        order("u1", "uma", 30, prices=("30.00",), currency="USD"),
        order("n1", "nia", 31, prices=("5.50",), currency=""),
    ])
    body = declared(http, shop, "metrics", as_of=AS_OF).json()
    assert set(body["money"]) == {"EUR", "USD", "unknown"}
    assert body["monthly"][0]["aov"]["USD"] is None and len(body["notes"]) == 1


@pytest.mark.parametrize(("path", "params", "status"), [
    ("metrics", {"as_of": "tomorrow"}, 400),
    ("metrics", {"lookback_days": "3651"}, 400),
    ("metrics", {"as_of": AS_OF, "start": "2023-12-01", "end": "2023-11-01"}, 400),
    ("cohorts", {"as_of": ""}, 400),
    ("stages", {"as_of": "2024-02-30"}, 400),
    ("customers/ann", {"as_of": "12/31/2023"}, 400),
    ("customers/nobody", {}, 404),
])
def test_refusals_are_what_the_reference_declares(http, small_shop, path, params,
                                                  status) -> None:
    assert declared(http, small_shop, path, **params).status_code == status


def test_key_and_shop_refusals_are_declared(http, small_shop, make_shop) -> None:
    doc, route = reference(http), ROUTE + "stages"
    url = f"/api/v1/shops/{small_shop.shop.shop_id}/lifecycle/stages"
    for response, status in [
        (http.get(url), 401),
        (http.get(url, headers=auth(make_shop())), 403),
        (http.get("/api/v1/shops/no-such-shop/lifecycle/stages", headers=auth(small_shop)),
         404),
    ]:
        assert response.status_code == status
        assert schema_errors(doc, "GET", route, response) == []
